"""A company in euros gets euros everywhere: every report's tables and sentences and the leadership email.

One pack run of the small demo with ``--set company.currency_symbol=€`` (about as long as the session run).
"""
from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import pytest

from conftest import DEMO_WEEK, soe_once

pytestmark = pytest.mark.e2e
DOLLAR_AMOUNT = re.compile(r".{0,60}\$-?\d.{0,60}")
EURO_AMOUNT = re.compile(r"€\d")


def _visible(html: str) -> str:
    html = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return re.sub(r'src="data:image/[^"]*"', "", html)  # chart images are base64, not text


@pytest.fixture(scope="module")
def euro_run(pack_env, tmp_path_factory) -> Path:
    """The demo week run as a € company, once per session (read it only)."""
    out, (res,) = soe_once(tmp_path_factory, "euro_outputs", pack_env,
                           ["run", "--week", DEMO_WEEK, "--set", "company.currency_symbol=€"])
    assert res.returncode == 0, res.stdout + res.stderr
    week_dir = out / DEMO_WEEK
    latest = json.loads((week_dir / "latest.json").read_text())
    return week_dir / latest["run_dir"]  # relative to the week folder


def test_every_report_shows_euros_and_no_dollar_amount(euro_run):
    reports = sorted(euro_run.glob("*.html"))
    assert len(reports) >= 7, [p.name for p in reports]
    for path in reports:
        text = _visible(path.read_text(encoding="utf-8"))
        dollars = DOLLAR_AMOUNT.findall(text)
        assert not dollars, f"{path.name}: {len(dollars)} dollar amount(s) in a € company's report, e.g. {dollars[:3]}"
        assert EURO_AMOUNT.search(text), f"{path.name}: no € amount at all"
    tables = _visible((euro_run / "cash_impact.html").read_text(encoding="utf-8"))
    assert re.search(r'<td class="num( neg)?">-?€[\d.,]+[KMB]?</td>', tables), "cash_impact.html: no € amount in a table"


def test_the_leadership_email_is_in_euros(euro_run):
    msg = email.message_from_bytes((euro_run / "email" / "leadership.eml").read_bytes(), policy=email.policy.default)
    parts = {"subject": str(msg["Subject"])}
    # the bytes as written, read as UTF-8 (the attached weekly pack: every report in one page)
    parts.update({f"{p.get_content_type()} {p.get_filename() or 'body'}": p.get_payload(decode=True).decode("utf-8")
                  for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html")})
    assert {"text/plain body", "text/html body", f"text/html weekly_pack_{DEMO_WEEK}.html"} <= set(parts), sorted(parts)
    for name, part in parts.items():
        dollars = DOLLAR_AMOUNT.findall(_visible(part))
        assert not dollars, f"email/leadership.eml ({name}): dollar amount(s) in a € company's email, e.g. {dollars[:3]}"
    for name in [n for n in parts if n != "subject"]:
        assert EURO_AMOUNT.search(_visible(parts[name])), f"email/leadership.eml ({name}): no € amount"
