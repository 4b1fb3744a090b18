"""The weekly email: MIME structure, inlined CSS, CIDs, size, attachments or links, failure notices, secrets."""
from __future__ import annotations

import email
import json
import re
from email import policy
from pathlib import Path

import pandas as pd
import pytest

from soe_helpers.deliver import mail as ep
from soe_helpers.report import summary as sm
from soe_helpers.core.formats import fmt_money_pair
from soe_helpers.core.params import load_params

WEEK = "2026-W47"
RUN_ID = "20261125T120000Z"
EVIL = "<script>alert(1)</script>"
PACK_NOTEBOOKS = [r.notebook for r in sm.PACK] + ["executive_summary"]

RESULTS = {
    "demand_reconciliation": {
        "week": WEEK, "quarter": "2026-Q4", "plan_quarter": 10_000_000.0, "actual_qtd": 5_500_000.0,
        "landing": 9_520_000.0, "landing_gap": -480_000.0, "week_shipped_revenue": 700_000.0,
        "week_plan_revenue": 800_000.0, "material_variances": 12,
        "top_variances": [{"period": "qtd", "level": "customer", "key": EVIL, "variance": -90_000.0,
                           "sentence": f"{EVIL} is $90K (12.0%) behind its run-rate quarter-to-date."}]},
    "cash_impact": {"lowest_cash": 1_234_567.0, "lowest_week": "2027-W05", "min_cash": 1_000_000.0,
                    "baseline_week13_closing": 2_100_000.0, "scenario_week13_closing": {"all scenarios": 1_900_000.0},
                    "events": 2, "pnl_impact_quarter": -52_000.0, "cash_impact_13w": -510_000.0},
    "forecast_feedback": {"bias_lag4": 0.062, "ts_alert_lines": ["Controllers"], "wape_lag1": 0.18},
    "execution_kpis": {"otif": {"13w": 0.872}, "dso": {"13w": 41.0}, "targets": {"otif": 0.95, "dso": 45}},
    "actions": {"open": 12, "overdue": 2, "escalated": 1, "dollars_at_stake_open": 812_000.0},
    "data_accuracy": {"score": 0.93, "target": 0.95, "failed_checks": 3},
}


def make_run(root: Path, *, failed: dict[str, str] | None = None, missing: tuple[str, ...] = (),
             results: dict | None = None, report_bytes: int = 2000, week: str = WEEK,
             run_id: str = RUN_ID) -> tuple[Path, dict]:
    """A finished run folder as the runner leaves it: results, published reports, cash CSV and manifest."""
    failed = failed or {}
    run_dir = root / week / run_id
    (run_dir / "results").mkdir(parents=True)
    for section, figures in (results if results is not None else RESULTS).items():
        (run_dir / "results" / f"{section}.json").write_text(json.dumps(figures))
    notebooks = []
    for name in PACK_NOTEBOOKS:
        if name in missing:
            continue
        ok = name not in failed
        notebooks.append({"name": name, "status": "ok" if ok else "failed", "error": None if ok else failed[name],
                          "ipynb": f"{name}.ipynb", "html": f"{name}.html" if ok else None, "seconds": 1.0})
        if ok:
            pad = "x" * max(0, report_bytes - 60)
            (run_dir / f"{name}.html").write_text(f"<!DOCTYPE html><html><body><p>{name}</p><!--{pad}--></body></html>")
    weeks = [f"2026-W{w}" for w in range(48, 53)] + [f"2027-W0{w}" for w in range(1, 9)]
    pd.DataFrame({"scenario": ["baseline"] * 13, "week": weeks, "opening_cash": 0.0, "receipts": 0.0,
                  "payments": 0.0, "closing_cash": [2e6 - 6e4 * i for i in range(13)]}).to_csv(
        run_dir / "cash_forecast_13w.csv", index=False)
    manifest = {"run_id": run_id, "week": week, "quarter": "2026-Q4", "status": "failed" if failed else "ok",
                "company": "Kestrel Components Inc.", "data_as_of": "2026-11-22", "started_at": "2026-11-25T12:00:00Z",
                "finished_at": "2026-11-25T12:04:00Z", "notebooks": notebooks}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir, manifest


def params(*sets: str):
    return load_params(sets=list(sets))


def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def tree(part) -> list:
    """The MIME tree as nested [content type, children...] (attachments as 'type:filename')."""
    if part.is_multipart():
        return [part.get_content_type(), *[tree(p) for p in part.iter_parts()]]
    name = part.get_filename()
    attached = part.get_content_disposition() == "attachment"
    return f"{part.get_content_type()}:{name}" if attached else part.get_content_type()


def check_leadership_eml(path: Path, max_kb: float = 100) -> tuple[email.message.EmailMessage, str]:
    """Parse with the standard library and check what every mail client needs; return (message, html)."""
    msg = parse(path)
    assert msg.get_content_type() in ("multipart/mixed", "multipart/alternative")
    alt = msg if msg.get_content_type() == "multipart/alternative" else next(msg.iter_parts())
    assert alt.get_content_type() == "multipart/alternative"
    plain, related = list(alt.iter_parts())
    assert plain.get_content_type() == "text/plain" and related.get_content_type() == "multipart/related"
    html_node, *images = list(related.iter_parts())
    assert html_node.get_content_type() == "text/html"
    doc = html_node.get_content()
    assert ep.check_html(doc, max_kb) == []
    assert "<style" not in doc.lower() and "<script" not in doc.lower() and "data:" not in doc
    assert len(doc.encode()) < max_kb * 1024
    cids = set(re.findall(r'src="cid:([^"]+)"', doc))
    parts = {p["Content-ID"].strip("<>"): p for p in images}
    assert cids == set(parts) and cids, (cids, set(parts))  # every chart referenced, every reference resolves
    for p in parts.values():
        assert p.get_content_type() == "image/png" and p.get_content()[:4] == b"\x89PNG"
        assert p.get_content_disposition() == "inline"
    assert 'style="' in doc  # CSS was inlined onto the elements
    assert msg["Subject"].startswith(f"S&OE {msg['X-SOE-Week']}: ")
    return msg, doc


# ---------------------------------------------------------------- the leadership email


def test_leadership_email_structure_size_cids_and_attachments(tmp_path):
    run_dir, manifest = make_run(tmp_path)
    rec = ep.build_run_email(run_dir, manifest, params(), expected=PACK_NOTEBOOKS, previous={})
    assert rec["kind"] == "leadership" and rec["file"] == "email/leadership.eml" and "error" not in rec
    msg, doc = check_leadership_eml(run_dir / rec["file"])
    assert tree(msg)[:2] == ["multipart/mixed", ["multipart/alternative", "text/plain",
                                                 ["multipart/related", "text/html", "image/png", "image/png"]]]
    assert msg["Subject"] == "S&OE 2026-W47: no decisions; Q4 lands $9.5M vs $10.0M plan; cash low $1.23M in 2027-W05"
    assert rec["to"] == ["cfo@kestrel.example", "coo@kestrel.example", "vp.sales@kestrel.example"]
    assert rec["cc"] == ["fpa@kestrel.example"] and msg["Auto-Submitted"] == "auto-generated"
    atts = [p for p in msg.iter_attachments() if p.get_content_disposition() == "attachment"]
    assert [a.get_filename() for a in atts] == ["weekly_pack_2026-W47.html"] == rec["attachments"]  # ONE attachment
    assert atts[0]["Content-Transfer-Encoding"] == "quoted-printable"  # ~1.03x, not base64's 1.33x
    page = atts[0].get_content()
    assert re.findall(r'<section class="soe-part" id="([^"]+)">', page) == ["executive_summary"] + [
        r.notebook for r in sm.PACK]
    assert (run_dir / "weekly_pack_2026-W47.html").read_text() == page.replace("\r\n", "\n")  # the same page, beside the reports
    assert rec["reports"]["attached"] is True and rec["reports"]["mode"] == "bundle"
    assert rec["bytes"] < 500 * 1024
    # the content: sentences with numbers, lights in words, no stale or unescaped values
    assert "2026-Q4 is projected to land at $9.52M, $480K (4.8%) behind the $10.00M plan." in doc
    assert "Full report" not in doc and "Scoreboard" in doc  # the attached pack is said once, below
    assert "attached as one page, weekly_pack_2026-W47.html" in doc
    assert "Previous week: first week on record." in doc and "No figures were recorded" not in doc
    text = msg.get_body(("plain",)).get_content()
    assert "[WATCH] Quarter landing: 2026-Q4 is projected to land at $9.52M" in text  # 4.8% < 5%: not material
    assert all(len(line) <= 100 for line in text.splitlines())


def test_data_values_are_escaped_in_the_html_part(tmp_path):
    run_dir, manifest = make_run(tmp_path)
    rec = ep.build_run_email(run_dir, manifest, params(), expected=PACK_NOTEBOOKS, previous={})
    _, doc = check_leadership_eml(run_dir / rec["file"])
    assert EVIL not in doc and "&lt;script&gt;alert(1)&lt;/script&gt; is $90K" in doc


def test_what_changed_since_last_week_comes_from_the_previous_figures(tmp_path):
    run_dir, manifest = make_run(tmp_path)
    prev = {"demand_reconciliation": {"landing_gap": -400_000.0}, "actions": {"open": 10}}
    ep.build_run_email(run_dir, manifest, params(), expected=PACK_NOTEBOOKS, previous=prev)
    msg = parse(run_dir / "email" / "leadership.eml")
    doc = ep.html_part(msg)
    assert "Landing vs plan: down from -$400K to -$480K (-$80K) since 2026-W46." in doc
    assert "Open actions: up from 10 to 12 (+2) since 2026-W46." in msg.get_body(("plain",)).get_content()


def attachments(msg) -> list[str]:
    return [a.get_filename() for a in msg.iter_attachments() if a.get_content_disposition() == "attachment"]


def test_reports_linked_instead_of_attached(tmp_path):
    run_dir, manifest = make_run(tmp_path)
    p = params("email.report_url=https://reports.example.com/{week}/{run_id}/{report}.html")
    assert p.email.reports == "link"  # report_url set: linked, nothing attached
    rec = ep.build_run_email(run_dir, manifest, p, expected=PACK_NOTEBOOKS, previous={})
    msg = parse(run_dir / "email" / "leadership.eml")
    doc = ep.html_part(msg)
    assert f'href="https://reports.example.com/{WEEK}/{RUN_ID}/cash_impact.html"' in doc
    # each detail item's topic links the report that proves it
    assert re.search(rf'<a href="https://reports.example.com/{WEEK}/{RUN_ID}/cash_impact.html"[^>]*>Cash low point</a>',
                     doc)
    plain = " ".join(msg.get_body(("plain",)).get_content().split())
    assert f"Full report: https://reports.example.com/{WEEK}/{RUN_ID}/cash_impact.html" in plain
    assert attachments(msg) == [] and rec["reports"] == {"mode": "link", "bundle": "weekly_pack_2026-W47.html",
                                                         "attached": False, "bundle_bytes": rec["reports"]["bundle_bytes"]}
    assert (run_dir / "weekly_pack_2026-W47.html").is_file()  # still written beside the reports
    # the older setting: attach_reports false with a URL = linked
    p = params("email.report_url=https://reports.example.com/{report}.html", "email.attach_reports=false")
    ep.build_run_email(run_dir, manifest, p, expected=PACK_NOTEBOOKS, previous={})
    msg = parse(run_dir / "email" / "leadership.eml")
    assert attachments(msg) == []
    assert 'href="https://reports.example.com/executive_summary.html"' in ep.html_part(msg)
    # asked for both: the links and the bundle, whose links to failed or absent reports go to the URL
    p = params("email.report_url=https://reports.example.com/{report}.html", "email.reports=bundle")
    msg = parse(run_dir / ep.build_run_email(run_dir, manifest, p, expected=PACK_NOTEBOOKS, previous={})["file"])
    assert attachments(msg) == ["weekly_pack_2026-W47.html"]
    assert 'href="https://reports.example.com/cash_impact.html"' in ep.html_part(msg)


def test_no_reports_by_email(tmp_path):
    run_dir, manifest = make_run(tmp_path)
    rec = ep.build_run_email(run_dir, manifest, params("email.reports=none"), expected=PACK_NOTEBOOKS, previous={})
    msg = parse(run_dir / rec["file"])
    assert attachments(msg) == [] and "href=" not in ep.html_part(msg).split("<h2")[-1].split("</ul>")[0]
    assert "The full reports are not sent by email: ask the FP&amp;A team" in ep.html_part(msg)


def test_reports_too_large_to_attach_are_left_out_with_a_note(tmp_path):
    run_dir, manifest = make_run(tmp_path, report_bytes=300_000)  # seven 300 KB pages: 2 MB as one page
    rec = ep.build_run_email(run_dir, manifest, params(), expected=PACK_NOTEBOOKS, previous={})
    assert rec["kind"] == "leadership" and rec["attachments"] == [] and rec["bytes"] < 500 * 1024
    note = rec["reports"]["note"]
    assert note.startswith("The reports are not attached: as one page (2,05") and "above its 500 KB limit" in note
    assert note.endswith("ask the FP&A team for them (reply to this email).")
    raw = (run_dir / rec["file"]).read_bytes().decode()
    assert str(run_dir) not in raw and str(tmp_path) not in raw  # an internal path is never printed
    assert "above its 500 KB limit" in ep.html_part(parse(run_dir / rec["file"]))
    assert (run_dir / "weekly_pack_2026-W47.html").stat().st_size > 2_000_000  # the run folder still has it
    # the older limit's name still reads (1 MB), and a limit that leaves room attaches the bundle
    rec = ep.build_run_email(run_dir, manifest, params("email.max_email_kb=4000"), expected=PACK_NOTEBOOKS,
                             previous={})
    assert rec["attachments"] == ["weekly_pack_2026-W47.html"] and rec["reports"]["level"] == {"scale": 1.0,
                                                                                                 "colors": 64}


def test_the_reports_setting_reads_the_older_names_and_refuses_nonsense(tmp_path):
    from soe_helpers.core.params import ParamsError, load_params as lp

    url = "email.report_url=https://reports.example.com/{report}.html"
    assert params().email.reports == "bundle" and params().email.max_email_kb == 500
    assert params(url).email.reports == "link"
    assert params("email.attach_reports=true").email.reports == "bundle"
    assert params("email.attach_reports=true", url).email.reports == "bundle"
    assert params("email.attach_reports=false").email.reports == "none"
    assert params("email.attach_reports=false", url).email.reports == "link"
    cfg = tmp_path / "old.yaml"
    company = Path(__file__).resolve().parent.parent / "params" / "company.yaml"
    cfg.write_text(f"extends: {company}\nemail: {{attach_reports: true, max_attachments_mb: 2}}\n")
    assert (lp(files=[cfg]).email.reports, lp(files=[cfg]).email.max_email_kb) == ("bundle", 2048)
    for sets, said in ((["email.reports=attach"], "email.reports': Input should be 'link', 'bundle' or 'none'"),
                       (["email.reports=link"], "reports: link needs report_url"),
                       (["email.attach_reports=maybe"], "attach_reports: 'maybe' is not true or false"),
                       (["email.attach_reports=true", "email.reports=none"], "contradicts reports: none"),
                       (["email.max_email_kb=20"], "email.max_email_kb")):
        with pytest.raises(ParamsError) as err:
            params(*sets)
        assert said in str(err.value), (sets, str(err.value))


def test_an_email_that_cannot_be_built_becomes_a_failure_notice(tmp_path):
    run_dir, manifest = make_run(tmp_path)
    rec = ep.build_run_email(run_dir, manifest, params("email.max_html_kb=10"), expected=PACK_NOTEBOOKS, previous={})
    assert rec["kind"] == "failure_notice" and "above email.max_html_kb = 10 KB" in rec["error"]
    assert not (run_dir / "email" / "leadership.eml").exists()
    body = parse(run_dir / rec["file"]).get_content()
    assert "the leadership email could not be built" in body


# ---------------------------------------------------------------- failed and partial runs


def test_failed_run_sends_a_notice_to_analysts_only_without_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("SOE_SMTP_PASSWORD", "hunter2-smtp-secret")
    run_dir, manifest = make_run(tmp_path, failed={
        "cash_impact": "ValueError: cannot reach postgresql://soe:hunter2-smtp-secret@db/erp"})
    rec = ep.build_run_email(run_dir, manifest, params(), expected=PACK_NOTEBOOKS, previous={})
    assert rec["kind"] == "failure_notice" and rec["file"] == "email/failure_notice.eml"
    assert rec["to"] == ["fpa@kestrel.example"] and rec["cc"] == []
    assert not (run_dir / "email" / "leadership.eml").exists()
    raw = (run_dir / rec["file"]).read_bytes().decode()
    msg = parse(run_dir / rec["file"])
    assert msg.get_content_type() == "text/plain"
    for leader in ("cfo@", "coo@", "vp.sales@"):
        assert leader not in raw
    assert msg["Subject"] == "S&OE 2026-W47: weekly run FAILED, not sent to leadership"
    body = msg.get_content()
    assert "cash_impact: ValueError: cannot reach postgresql://soe:***@db/erp" in body
    assert "hunter2" not in raw
    assert "$" not in body and "9.52M" not in body and "1,234" not in body  # no figures at all
    assert "soe run --week 2026-W47" in body


def test_partial_run_is_not_sent_to_leadership(tmp_path):
    run_dir, manifest = make_run(tmp_path, missing=("forecast_feedback",))
    rec = ep.build_run_email(run_dir, manifest, params(), expected=PACK_NOTEBOOKS, previous={})
    assert rec["kind"] == "failure_notice"
    msg = parse(run_dir / rec["file"])
    assert msg["Subject"] == "S&OE 2026-W47: partial run, not sent to leadership"
    assert "Not part of this run: forecast_feedback." in msg.get_content()


# ---------------------------------------------------------------- secrets and safety helpers


def test_redact_and_secret_values():
    p = params()
    env = {"SOE_SMTP_PASSWORD": "s3cr3t-pw", "SOE_STORE_URL": "postgresql://soe:db-pass-123@db.example/soe"}
    secrets = ep.secret_values(p, env)
    assert "s3cr3t-pw" in secrets and "db-pass-123" in secrets and env["SOE_STORE_URL"] in secrets
    text = f"login s3cr3t-pw failed for {env['SOE_STORE_URL']} and mysql://u:other@h/x"
    out = ep.redact(text, secrets)
    assert "s3cr3t" not in out and "db-pass" not in out and "other" not in out and "***" in out
    assert ep.secret_values(p, {}) == []


@pytest.mark.parametrize("doc, problem", [
    ("<html><style>p{}</style></html>", "a <style> block"),
    ('<p><script src="x"></script></p>', "a <script>"),
    ('<img src="data:image/png;base64,AAAA">', "a data: URL"),
    ('<a href="javascript:alert(1)">x</a>', "a javascript: URL"),
    ('<p onclick="x()">x</p>', "an inline event handler"),
])
def test_check_html_flags_what_mail_clients_strip(doc, problem):
    assert any(problem in p for p in ep.check_html(doc))
    assert ep.check_html("<p>" + "x" * 2048 + "</p>", max_kb=1)[0].startswith("the HTML part is 2 KB")
    assert ep.check_html('<p style="color:red">ok</p>') == []


# ---------------------------------------------------------------- the real pack


@pytest.mark.e2e
def test_pack_run_writes_the_leadership_email(pack_run):
    m = pack_run["manifest"]
    assert m["email"]["kind"] == "leadership", m.get("email")
    path = pack_run["run_dir"] / m["email"]["file"]
    msg, doc = check_leadership_eml(path)
    r = pack_run["results"]["demand_reconciliation"]
    landing, plan = fmt_money_pair(r["landing"], r["plan_quarter"], "$")
    assert re.match(rf"S&OE {m['week']}: [3-5] decisions; Q4 lands {re.escape(landing)} vs {re.escape(plan)} plan; "
                    r"cash low \S+ in 20\d\d-W\d\d$", msg["Subject"]), msg["Subject"]
    assert len(doc.encode()) < 100 * 1024  # as received: CRLF line ends; the manifest counts LF
    assert 0 <= len(doc.encode()) - m["email"]["html_bytes"] <= doc.count("\n")
    assert attachments(msg) == [f"weekly_pack_{m['week']}.html"]
    assert (pack_run["run_dir"] / "executive_summary.html").exists()


CODE_IN_TEXT = ("In [", "Out[", "import pandas", "from soe_helpers", "wk.record", "open_week(", "Traceback",
                "%matplotlib")


@pytest.mark.e2e
def test_demo_week_email_is_under_500_kb_with_the_pack_as_one_page(pack_run):
    """The demo W47 email: under 500 KB whole, ONE attachment (the bundle); the bundle holds every report's
    section, links inside itself, no code; with a report URL nothing is attached."""
    import html as _html

    from soe_helpers.report.chart_text import PHONE_SHOWN_PX, png_min_text_px, png_size

    run_dir, m = pack_run["run_dir"], pack_run["manifest"]
    path = run_dir / m["email"]["file"]
    size = path.stat().st_size
    assert size == m["email"]["bytes"] and size < 500 * 1024, size
    msg = parse(path)
    (att,) = [a for a in msg.iter_attachments() if a.get_content_disposition() == "attachment"]
    assert att.get_filename() == f"weekly_pack_{m['week']}.html" and m["email"]["reports"]["attached"] is True
    page = att.get_content()
    names = ["executive_summary"] + [r.notebook for r in sm.PACK]
    assert re.findall(r'<section class="soe-part" id="([^"]+)">', page) == names
    for name in names:  # each report whole: every heading of its own page is in its section
        headings = re.findall(r'<h2 id="([^"]+)"', (run_dir / f"{name}.html").read_text())
        assert headings and all(f'id="{name}--{h}"' in page for h in headings), name
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    assert set(re.findall(r'href="#([^"]+)"', page)) <= ids and not re.search(r'href="[\w-]+\.html', page)
    assert f'<a href="#cash_impact">' in page  # the summary's links go to the sections
    text = _html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S)))
    for marker in CODE_IN_TEXT:
        assert marker not in text, marker
    assert not re.search(r"(?m)^\s*(import [\w.]+|from [\w.]+ import )", text)
    assert "input_area" not in page and "jp-InputArea" not in page and "<script" not in page
    # the email's charts: drawn for the email, every text >= 11 px at a phone's width
    charts = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(charts) == 2
    for c in charts:
        png = c.get_content()
        assert png_size(png)[0] == 720 and png_min_text_px(png) * PHONE_SHOWN_PX / 720 >= 11
    # linked instead: nothing attached (composed, not written: the session's run keeps its email)
    p = params("email.report_url=https://reports.example.com/{week}/{run_id}/{report}.html")
    built = ep.compose_leadership_email(run_dir, m, p, previous={})
    assert attachments(built.message) == [] and len(built.message.as_bytes()) < 100 * 1024
    assert f'href="https://reports.example.com/{m["week"]}/{m["run_id"]}/cash_impact.html"' in ep.html_part(
        built.message)
