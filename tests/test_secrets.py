"""Secrets never shown: URLs masked, secret values redacted, and none reaching any file of a run."""
from __future__ import annotations

import pytest

from soe_helpers.core.secrets import mask_url, redact, secret_values, url_secrets


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://soe_app@127.0.0.1:55432/soe_store?password=Qs-9x!k",
     "postgresql+psycopg://soe_app@127.0.0.1:55432/soe_store?password=***"),
    ("postgresql+psycopg://soe_app:pw-1234@db:5432/soe?sslmode=require&PassWord=pw-5678",
     "postgresql+psycopg://soe_app:***@db:5432/soe?sslmode=require&PassWord=***"),
    # every secret-like parameter, any case, '&' or ';' separated; harmless ones (sslmode, keyring) kept
    ("mssql+pyodbc://u@dsn?PWD=a1;pass=a2&Secret=a3&token=a4&KEY=a5&api_key=a6&Access_Token=a7&sig=a8"
     "&Signature=a9&keyring=k&db_password=b1&X-Amz-Signature=b2",
     "mssql+pyodbc://u@dsn?PWD=***;pass=***&Secret=***&token=***&KEY=***&api_key=***&Access_Token=***&sig=***"
     "&Signature=***&keyring=k&db_password=***&X-Amz-Signature=***"),
    ("postgresql://u:p@ss/w0rd@h/db", "postgresql://u:***@h/db"),  # a raw '@' or '/' typed in the password
    ("sqlite:////srv/soe/store.sqlite", "sqlite:////srv/soe/store.sqlite"),
    ("sqlite:////srv/a@b/store.sqlite?password=x", "sqlite:////srv/a@b/store.sqlite?password=***"),
    ("https://reports.example.com/@team/x.html?week=2026-W47#top", "https://reports.example.com/@team/x.html?week=2026-W47#top"),
    ("mysql://reader@h/erp?password=", "mysql://reader@h/erp?password="),  # nothing to hide
    ("not a url: password=x", "not a url: password=x"),
    ("", ""),
])
def test_mask_url_hides_userinfo_password_and_secret_query_values(url, shown):
    assert mask_url(url) == shown


def test_url_secrets_are_the_raw_and_decoded_values():
    assert url_secrets("postgresql://u:p%40ss@h/db?token=t%2Fk&sslmode=require") == ["p%40ss", "t%2Fk", "p@ss", "t/k"]
    assert url_secrets("sqlite:///x.sqlite") == []


def test_redact_masks_urls_in_text_and_each_secret_value():
    text = ('could not connect to "postgresql://soe:pw-1234@db/erp?sslmode=require&password=pw-5678": '
            "FATAL: pw-5678 rejected; smtp-secret-1 too; ab stays")
    assert redact(text, ["smtp-secret-1", "pw-5678", "ab"]) == (
        'could not connect to "postgresql://soe:***@db/erp?sslmode=require&password=***": '
        "FATAL: *** rejected; *** too; ab stays")


def test_secret_values_cover_query_string_passwords_and_mail_reexports_them(monkeypatch):
    from soe_helpers.core.params import load_params
    from soe_helpers.deliver import mail

    url = "postgresql+psycopg://soe_app@127.0.0.1:55432/soe_store?password=Qs-9x-secret"
    values = secret_values(load_params(), {"SOE_STORE_URL": url, "SOE_SMTP_PASSWORD": "smtp-pw-1"})
    assert values == [url, "Qs-9x-secret", "smtp-pw-1"]
    assert mail.redact is redact and mail.secret_values is secret_values and mail.SMTP_PASSWORD_ENV == "SOE_SMTP_PASSWORD"


def test_the_store_shows_and_errors_with_its_url_masked(tmp_path):
    from soe_helpers.store.engine import Store, StoreError

    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}?password=Qs-9x-secret")
    assert store.display_url == f"sqlite:///{tmp_path / 's.sqlite'}?password=***"
    with pytest.raises(StoreError) as e:  # a folder that does not exist: sqlite cannot open the file
        Store(f"sqlite:///{tmp_path / 'nope' / 's.sqlite'}?password=Qs-9x-secret")
    assert "Qs-9x-secret" not in str(e.value) and "password=***" in str(e.value)
