"""The decisions the week asks, the first screen, the subject and the link to the week before.

Small records built in code (answers checkable on paper), then the demo's W47 figures
(``tests/data/demo_w47_summary/``: the result sections and the action tracker's ``actions_all.csv`` of
``soe run --week 2026-W47`` on the full-scale demo, commit 622ba9c) through the email of
``test_email_pack.make_run`` and the summary's functions.
"""
from __future__ import annotations

import email
import html as htmllib
import json
import re
import shutil
import sys
from email import policy
from pathlib import Path

import pandas as pd
import pytest

from soe_helpers.core.formats import fmt_money_pair
from soe_helpers.core.params import Materiality, load_params
from soe_helpers.deliver import mail as ep
from soe_helpers.report import records, summary as sm
from soe_helpers.run.html import previous_week_header, render_page

sys.path.insert(0, str(Path(__file__).parent))  # make_run lives beside the tests
from test_email_pack import PACK_NOTEBOOKS, make_run  # noqa: E402  (after the path line above)

WEEK = "2026-W47"
M = Materiality()  # $5K or 5%
DEMO = Path(__file__).parent / "data" / "demo_w47_summary"
LABEL = "S-017 is late: accept the slip or switch vendor?"
PY_VALUES = re.compile(r"\b(True|False|None|nan|NaN)\b")
DUP_LABEL = re.compile(r"\b([A-Za-z][\w' ]{3,40}?)\s*:\s*\1\b", re.I)  # a topic repeated as its sentence's start
EXACT = re.compile(r"\d{1,3}(,\d{3})+\.\d\d\b|\d{5,}\.\d+")  # 4,512,340.17 or 4512340.17: exact figures


def cash(**kw) -> records.CashImpactRecord:
    base = dict(
        week=WEEK, quarter="2026-Q4", min_cash=1_000_000.0, lowest_cash=1_022_000.0, lowest_week="2027-W05",
        margin_over_min=22_000.0, first_breach_week=None, lowest_cash_any_line=939_000.0,
        lowest_cash_any_line_week="2027-W05", lowest_cash_any_line_name="Switch S-017",
        first_breach_any_line_week="2027-W01",
        scenarios=[
            {"name": "Accept a 2-week slip", "kind": "supplier_delay", "decision": LABEL, "target": "supplier:S-017",
             "pnl_impact_quarter": -14_000.0, "cash_impact_13w": -8_000.0, "one_off_costs": 0.0,
             "lowest_cash": 1_001_000.0, "lowest_week": "2027-W05"},
            {"name": "Switch S-017", "kind": "vendor_switch", "decision": LABEL, "target": "supplier:S-017",
             "pnl_impact_quarter": -31_000.0, "cash_impact_13w": -75_000.0, "one_off_costs": 30_000.0,
             "lowest_cash": 939_000.0, "lowest_week": "2027-W05", "first_breach_week": "2027-W03"},
            {"name": "SO-1 slips one more week", "kind": "production_delay", "target": "order:SO-1",
             "pnl_impact_quarter": -7_500.0, "cash_impact_13w": -7_500.0, "lowest_cash": 954_000.0,
             "lowest_week": "2027-W01", "first_breach_week": "2027-W01"},
        ])
    return records.CashImpactRecord(**{**base, **kw})


def exposure(eid, root, measure, title, dollars, owner=None):
    return {"exposure_id": eid, "root": root, "measure": measure, "title": title, "dollars_at_stake": dollars,
            "owner": owner}


ACTIONS = records.ActionsRecord(week=WEEK, exposures=[
    exposure("E-01", "order:SO-1/1", "cash and P&L", "Production delay: SO-1", 515_000.0, "Raj Patel (COO)"),
    exposure("E-02", "shipments_vs_plan:line:Controllers", "revenue: shipments vs plan",
             "Controllers: shipments behind plan", 341_000.0, "Marcus Lee (Controllers PM)"),
    exposure("E-03", "orders_vs_forecast:line:Controllers", "revenue: orders vs forecast",
             "Controllers: orders behind forecast", 273_000.0, "Marcus Lee (Controllers PM)"),
    exposure("E-04", "shipments_vs_plan:line:Power Supplies", "revenue: shipments vs plan",
             "Power Supplies: shipments behind plan", 78_000.0, "Hannah Berg (PM)"),
    exposure("E-05", "supplier:S-017", "cash and P&L", "Supplier delay: S-017", 26_000.0, "Ken Ito (Procurement)"),
], opportunities=[exposure("O-01", "orders_vs_forecast:line:Power Supplies", "revenue: orders vs forecast",
                           "PWR-5004: orders ahead of forecast", 528_000.0, "Hannah Berg (PM)")])


def actions_frame(rows=None) -> pd.DataFrame:
    """Open actions as :func:`summary.open_actions` returns them: (root, owner, due date, escalation)."""
    rows = rows or [
        ("order:SO-1/1", "Raj Patel (COO)", "2026-11-29", "CFO"),
        ("shipments_vs_plan:line:Controllers", "Marcus Lee (Controllers PM)", "2026-11-30", "CFO"),
        ("orders_vs_forecast:line:Controllers", "Marcus Lee (Controllers PM)", "2026-11-28", "CFO"),
        ("shipments_vs_plan:line:Power Supplies", "Hannah Berg (PM)", "2026-11-29", ""),
        ("supplier:S-017", "Ken Ito (Procurement)", "2026-12-02", ""),
        ("orders_vs_forecast:line:Power Supplies", "Hannah Berg (PM)", "2026-11-29", "CFO"),  # an opportunity
    ]
    return pd.DataFrame([{"issue_key": f"k{i}", "root": r, "title": "", "owner": o, "due_date": d, "escalation": e}
                         for i, (r, o, d, e) in enumerate(rows)], columns=sm.ACTION_COLUMNS)


def decide(**kw):
    recs = records.Records(**{"cash_impact": cash(), "actions": ACTIONS, **kw})
    return sm.decisions(recs, actions_frame(), symbol="$", materiality=M, default_owner="FP&A lead")


# ---------------------------------------------------------------- choosing the decisions


def test_the_decisions_of_a_week_built_on_paper():
    d = decide()
    # E-01 $515K, Controllers $341K (its orders shortfall is the same line's), the S-017 comparison
    # ($67K between the options' 13-week cash); Power Supplies ($78K, not escalated) and the
    # PWR-5004 opportunity (escalated, but good news) ask nothing.
    assert [x.key for x in d] == ["E-01", "E-02", f"decision:{LABEL}"]
    so = d[0]
    assert so.question == "Production delay: SO-1. Hold its ship date?"
    assert (so.dollars, so.dollars_meaning, so.owner, so.due) == (515_000.0, "at stake", "Raj Patel (COO)", "2026-11-29")
    assert so.recommendation == "prevent 'SO-1 slips one more week'"
    assert so.why == "cash would fall to $954K in 2027-W01, below minimum"
    ctl = d[1]
    assert ctl.question == "Controllers: shipments behind plan. Recover it or accept the lower landing?"
    assert ctl.dollars == 341_000.0 and ctl.due == "2026-11-28"  # the earlier due date of the line's two actions
    assert ctl.recommendation is None and ctl.report == "demand_reconciliation"  # no option computed: none invented
    s017 = d[2]
    assert s017.question == LABEL and s017.recommendation == "Accept a 2-week slip"
    assert s017.dollars == pytest.approx(17_000.0) and s017.dollars_meaning == "better for 2026-Q4 P&L than the other option"
    assert s017.why == "$17K better for Q4 P&L and keeps cash above minimum"
    assert (s017.owner, s017.due) == ("Ken Ito (Procurement)", "2026-12-02")  # the supplier's action


def test_decision_sentences_name_dollars_recommendation_owner_and_due():
    d = decide()
    assert sm.decision_sentence(d[0], "$") == (
        "Production delay: SO-1 ($515K at stake). Hold its ship date?",
        "Recommended: Prevent 'SO-1 slips one more week': cash would fall to $954K in 2027-W01, below minimum. "
        "Raj Patel, due 2026-11-29.")
    assert sm.decision_sentence(d[1], "$")[1] == "Options in the demand reconciliation report. Marcus Lee, due 2026-11-28."
    page = sm.decisions_html(d, "$")
    assert page.count("<li>") == 3 and "<b>S-017 is late: accept the slip or switch vendor?</b>" in page
    assert sm.decisions_html([], "$") == '<p class="soe-decisions">No decision is asked this week.</p>'


def test_the_option_that_keeps_cash_above_minimum_wins_over_a_better_pnl():
    opts = [{"name": "Cheap but short", "decision": "D?", "target": "supplier:S-9", "pnl_impact_quarter": -1_000.0,
             "lowest_cash": 900_000.0, "lowest_week": "2027-W02"},
            {"name": "Dear but safe", "decision": "D?", "target": "supplier:S-9", "pnl_impact_quarter": -21_000.0,
             "lowest_cash": 1_050_000.0, "lowest_week": "2027-W03"}]
    (d,) = sm.decisions(records.Records(cash_impact=cash(scenarios=opts)), None, symbol="$", materiality=M,
                        default_owner="FP&A lead")
    assert d.recommendation == "Dear but safe" and d.owner == "FP&A lead" and d.due is None
    assert d.why == "keeps cash above minimum for $20K less Q4 P&L" and d.dollars == 20_000.0
    short = [{**o, "lowest_cash": v} for o, v in zip(opts, (900_000.0, 950_000.0))]
    (d,) = sm.decisions(records.Records(cash_impact=cash(scenarios=short)), None, symbol="$", materiality=M)
    assert d.recommendation == "Dear but safe"
    assert d.why == "the highest low point, $950K in 2027-W03; every option goes below minimum"


def test_baseline_below_minimum_and_a_landing_behind_plan_ask_a_decision_with_the_reports_options():
    land = records.ReconciliationRecord(week=WEEK, quarter="2026-Q4", plan_quarter=10_000_000.0, landing=9_400_000.0,
                                        landing_gap=-600_000.0, backlog_after_quarter=250_000.0)
    c = cash(scenarios=[], first_breach_week="2027-W02", margin_over_min=-80_000.0)
    d = sm.decisions(records.Records(cash_impact=c, demand_reconciliation=land), None, symbol="$", materiality=M,
                     default_owner="FP&A lead")
    assert [x.key for x in d] == ["landing", "cash:baseline_below_minimum"]
    assert d[0].question == "Q4 lands $600K behind plan: pull forward backlog or accept the landing?"
    assert d[0].recommendation is None and d[0].why == "$250K of open orders are due after quarter end"
    assert d[1].question == "Baseline cash goes below the $1.00M minimum in 2027-W02: how is the gap covered?"
    assert d[1].dollars == 80_000.0 and d[1].owner == "FP&A lead" and d[1].recommendation is None
    # 4.0% behind: not material (5%), so no decision; at most `limit` decisions
    small = land.model_copy(update={"landing": 9_600_000.0, "landing_gap": -400_000.0})
    assert sm.decisions(records.Records(demand_reconciliation=small), None, symbol="$", materiality=M) == []
    assert len(sm.decisions(records.Records(cash_impact=cash(), actions=ACTIONS), actions_frame(), symbol="$",
                            materiality=M, limit=2)) == 2


def test_open_actions_give_each_action_its_exposure_root(tmp_path):
    pd.DataFrame({
        "issue_key": ["event:production_delay:SO-1/1", "variance:shipments_vs_plan:sku:CTL-1", "event:supplier_delay:S-9"],
        "title": ["Production delay: SO-1", "CTL-1 (Controllers): shipments behind plan", "Supplier delay: S-9"],
        "owner": ["Raj", "Marcus", "Ken"], "due_date": ["2026-11-29", "2026-11-30", "2026-12-01"],
        "status": ["open", "open", "done"], "source_type": ["event", "variance", "event"],
        "product_line": ["", "Controllers", ""], "type": ["production_delay", "variance", "supplier_delay"],
        "escalation_level": ["CFO", "", "Director"]}).to_csv(tmp_path / "actions_all.csv", index=False)
    a = sm.open_actions(tmp_path)
    assert a[["root", "owner", "due_date", "escalation"]].values.tolist() == [
        ["order:SO-1/1", "Raj", "2026-11-29", "CFO"], ["shipments_vs_plan:line:Controllers", "Marcus", "2026-11-30", ""]]
    assert sm.open_actions(tmp_path / "nowhere").empty


# ---------------------------------------------------------------- the first screen and the subject


def test_first_screen_lines_for_landing_cash_and_delivery():
    land = records.ReconciliationRecord(week=WEEK, quarter="2026-Q4", plan_quarter=10_017_136.0, landing=10_526_180.0,
                                        landing_gap=509_044.0, landing_corrected=10_393_330.0, slip_risk=671_832.0)
    kpis = records.ExecutionKpisRecord(week=WEEK, otif_value={"week": 0.543, "13w": 0.837},
                                       on_time_value={"week": 0.576}, in_full_value={"week": 0.553},
                                       targets={"otif_value": 0.95})
    lines = sm.first_screen(records.Records(demand_reconciliation=land, cash_impact=cash(), execution_kpis=kpis),
                            symbol="$", materiality=M)
    assert lines == [
        ("Q4 landing", "$509K ahead of the $10.0M plan at $10.5M; $10.4M bias-corrected; $672K of orders could slip."),
        ("Cash", "low $939K in 2027-W05; first below the $1.00M minimum in 2027-W01."),
        ("Delivery", "OTIF by value 54.3% this week vs 95.0% target."),  # on time / in full: the KPI report
    ]
    assert sm.first_screen(records.Records(), symbol="$", materiality=M) == []  # no report ok: no line


@pytest.mark.parametrize("a, b, want", [
    (10_526_180, 10_017_136, ("$10.5M", "$10.0M")),
    (10_030_000, 10_000_000, ("$10.03M", "$10.00M")),   # a thin margin is never rounded away
    (9_520_000, 10_000_000, ("$9.5M", "$10.0M")),
    (480_000, 482_000, ("$0.480M", "$0.482M")),
    (48_000, 50_000, ("$48K", "$50K")),
    (10_000_000, 10_000_000, ("$10.0M", "$10.0M")),
])
def test_money_pair_keeps_the_gap_visible(a, b, want):
    assert fmt_money_pair(a, b, "$") == want


def test_the_demo_weeks_subject_and_decisions():
    results = {p.stem: json.loads(p.read_text()) for p in DEMO.glob("*.json")}
    ok = {r.notebook: {"status": "ok"} for r in sm.PACK}
    recs = records.load(results, ok=sm.ok_sections(results, ok, WEEK), week=WEEK)
    p = load_params()
    d = sm.decisions(recs, sm.open_actions(DEMO), symbol="$", materiality=p.materiality,
                     default_owner=p.actions.default_owner)
    head = sm.headline(results, ok, week=WEEK, symbol="$")
    assert sm.subject(WEEK, head, decisions=len(d)) == (
        "S&OE 2026-W47: 3 decisions; Q4 lands $10.5M vs $10.0M plan; cash low $939K in 2027-W05")
    assert 3 <= len(d) <= 5
    for x in d:
        assert x.question and _num(x.dollars) > 0 and x.dollars_meaning and x.owner and x.due == "2026-11-29"
        assert x.recommendation or x.report  # the option the analysis supports, or the report that holds them
    assert [x.owner for x in d] == ["Raj Patel (COO)", "Marcus Lee (Controllers product manager)",
                                    "Ken Ito (Procurement manager)"]
    assert d[2].recommendation == "Accept a 2-week S-017 slip"  # the cash report's comparison
    assert not any("ahead of" in (x.question or "") for x in d)  # no opportunity asked as a decision


def _num(x):
    return float(x) if x is not None else 0.0


# ---------------------------------------------------------------- rendered: word counts and clean text


def visible_text(doc: str, stop: str | None = None) -> str:
    """The text a reader sees, up to the heading starting with ``stop``: no head, styles, hidden preheader or
    the notebook title the report's CSS hides (its header shows it)."""
    doc = re.sub(r"<(head|style|script|title)\b.*?</\1>", " ", doc, flags=re.S | re.I)
    doc = re.sub(r'<div class="preheader".*?</div>', " ", doc, flags=re.S)
    doc = re.sub(r'(<main class="soe-report">.*?)<h1\b.*?</h1>', r"\1", doc, count=1, flags=re.S)
    if stop:
        m = re.search(rf"<h[1-3][^>]*>\s*{re.escape(stop)}", doc)
        assert m, f"no heading {stop!r}"
        doc = doc[:m.start()]
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", doc))).strip()


def words(text: str) -> int:
    """Words as a reader counts them: tokens with a letter or digit (a '·' separator is none)."""
    return sum(1 for t in text.split() if re.search(r"\w", t))


def demo_run(tmp_path, week=WEEK, run_id="20261125T120000Z"):
    results = {p.stem: json.loads(p.read_text()) for p in DEMO.glob("*.json")}
    run_dir, manifest = make_run(tmp_path, results=results, week=week, run_id=run_id)
    shutil.copy(DEMO / "actions_all.csv", run_dir / "actions_all.csv")
    return run_dir, manifest


def test_the_demo_weeks_email_leads_with_its_decisions_within_150_words(tmp_path):
    run_dir, manifest = demo_run(tmp_path)
    rec = ep.build_run_email(run_dir, manifest, load_params(), expected=PACK_NOTEBOOKS, previous={})
    msg = email.message_from_bytes((run_dir / rec["file"]).read_bytes(), policy=policy.default)
    assert msg["Subject"] == "S&OE 2026-W47: 3 decisions; Q4 lands $10.5M vs $10.0M plan; cash low $939K in 2027-W05"
    doc = msg.get_body(("html",)).get_content()
    first = visible_text(doc, "Scoreboard")
    assert words(first) <= 150, (words(first), first)
    assert "Decisions " in first and "Recommended: Accept a 2-week S-017 slip" in first
    assert "Q4 landing: $509K ahead of the $10.0M plan at $10.5M" in first and "Cash: low $939K in 2027-W05" in first
    assert "Delivery: OTIF by value 54.3% this week" in first
    assert first.index("Production delay: SO-500000") < first.index("Q4 landing:")  # decisions first
    text = msg.get_body(("plain",)).get_content()
    assert text.index("DECISIONS") < text.index("SCOREBOARD") < text.index("DETAIL") < text.index("GLOSSARY")
    assert "  1. Production delay: SO-500000 ($515K at stake). Hold its ship date?" in text
    for part in (visible_text(doc), text, str(msg["Subject"])):
        assert not PY_VALUES.search(part), PY_VALUES.search(part)
        assert not EXACT.search(part), EXACT.search(part)
        assert not DUP_LABEL.search(part), DUP_LABEL.search(part)  # "Data accuracy: Data accuracy score ..."
    assert "Previous week: first week on record." in text and "Glossary" in doc and "OTIF:" in text


def test_the_email_and_the_reports_link_the_week_before_when_it_has_a_full_run(tmp_path):
    demo_run(tmp_path, week="2026-W46", run_id="20261118T120000Z")
    run_dir, manifest = demo_run(tmp_path)
    params = load_params(sets=["email.report_url=https://reports.example/{week}/{run_id}/{report}.html"])
    rec = ep.build_run_email(run_dir, manifest, params, expected=PACK_NOTEBOOKS, previous={})
    msg = email.message_from_bytes((run_dir / rec["file"]).read_bytes(), policy=policy.default)
    assert 'href="https://reports.example/2026-W46/20261118T120000Z/executive_summary.html"' in msg.get_body(
        ("html",)).get_content()
    assert sm.previous_week_link(WEEK, tmp_path) == (
        "../../2026-W46/20261118T120000Z/executive_summary.html", "2026-W46 (run 20261118T120000Z)")
    assert 'href="../../2026-W46/20261118T120000Z/executive_summary.html"' in sm.previous_week_html(WEEK, tmp_path)
    head = previous_week_header(run_dir / "cash_impact.ipynb", {"week": WEEK})
    assert head == {"previous_week": "2026-W46", "previous_href": "../../2026-W46/20261118T120000Z/cash_impact.html"}
    page = render_page("<p>x</p>", {"week": WEEK, **head})
    assert '<a href="../../2026-W46/20261118T120000Z/cash_impact.html">2026-W46</a>' in page
    # a week whose only run failed is not on record
    make_run(tmp_path, failed={"cash_impact": "boom"}, week="2026-W45", run_id="20261111T120000Z")
    assert sm.previous_week_link("2026-W46", tmp_path) is None
    assert "first week on record" in sm.previous_week_html("2026-W46", tmp_path)
    assert previous_week_header(tmp_path / "2026-W46" / "20261118T120000Z" / "cash_impact.ipynb",
                                {"week": "2026-W46"}) == {"previous_week": ""}
    assert "Previous week: first week on record" in render_page("", {"week": "2026-W46", "previous_week": ""})


# ---------------------------------------------------------------- the real pack


@pytest.mark.e2e
def test_the_pack_summary_leads_with_decisions_in_plain_text(pack_run):
    run_dir = pack_run["run_dir"]
    assert run_dir is not None, pack_run["proc"].stdout[-2000:] + pack_run["proc"].stderr[-2000:]
    summ = pack_run["results"]["executive_summary"]
    assert 0 < len(summ["decisions"]) <= 5
    for d in summ["decisions"]:
        assert d["question"] and d["dollars"] and d["owner"] and (d["recommendation"] or d["report"])
    assert re.match(rf"S&OE {WEEK}: \d decisions?; Q4 lands \S+ vs \S+ plan; cash low \S+ in 20\d\d-W\d\d$",
                    summ["subject"]), summ["subject"]
    doc = (run_dir / "executive_summary.html").read_text()
    first = visible_text(doc, "Scoreboard")
    assert words(first) <= 150, (words(first), first)
    assert "Decisions" in first and "Previous week: first week on record." in visible_text(doc)
    msg = email.message_from_bytes((run_dir / pack_run["manifest"]["email"]["file"]).read_bytes(),
                                   policy=policy.default)
    for part in (visible_text(doc), msg.get_body(("plain",)).get_content(),
                 visible_text(msg.get_body(("html",)).get_content())):
        assert not PY_VALUES.search(part), part[max(0, PY_VALUES.search(part).start() - 80):][:160]
        assert not EXACT.search(part), part[max(0, EXACT.search(part).start() - 80):][:160]


def test_each_scenario_names_what_it_is_about_as_the_tracker_roots_do():
    from soe_helpers.analysis.cash import scenario_target

    assert [scenario_target(sc) for sc in load_params().cash.scenarios] == [
        "supplier:S-017", "supplier:S-017", "sku:SEN-1007", "order:SO-500000"]
    assert sm._root_matches("order:SO-500000/1", "order:SO-500000")
    assert sm._root_matches("production_delay:sku=ENC-3022", "sku:ENC-3022")
    assert not sm._root_matches("order:SO-5000001/1", "order:SO-500000")
