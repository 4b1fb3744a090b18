"""The executive summary's sentences, lights, headline and week-over-week changes, on hand-made figures."""
import json
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from soe_helpers.report import records
from soe_helpers.report import summary as sm
from soe_helpers.core.params import ExecutiveSummaryParams, Materiality

WEEK = "2026-W47"
M = Materiality()  # $5K or 5%
RULES = ExecutiveSummaryParams()  # top 3 variances, cash watch 25%, accuracy watch 2 points
ALL_OK = {r.notebook: {"status": "ok"} for r in sm.PACK}

DEMAND = {"week": WEEK, "quarter": "2026-Q4", "plan_quarter": 10_000_000.0, "actual_qtd": 5_500_000.0,
          "landing": 9_520_000.0, "landing_gap": -480_000.0, "week_shipped_revenue": 700_000.0,
          "week_plan_revenue": 800_000.0, "material_variances": 12,
          "top_variances": [
              {"period": "qtd", "level": "product_line", "key": "Controllers", "variance": -248_000.0,
               "sentence": "Controllers is $248K (14.0%) behind plan quarter-to-date."},
              {"period": "qtd", "level": "sku", "key": "PWR-5004", "variance": 502_000.0,
               "sentence": "PWR-5004 is $502K ahead of the forecast made a week before."},
          ]}
CASH = {"lowest_cash": 1_234_567.0, "lowest_week": "2027-W05", "min_cash": 1_000_000.0,
        "baseline_week13_closing": 2_100_000.0,
        "scenario_week13_closing": {"vendor switch": 2_070_000.0, "2-week slip": 1_950_000.0,
                                    "all scenarios": 1_900_000.0},
        "events": 3, "pnl_impact_quarter": -52_000.0, "cash_impact_13w": -510_000.0, "runway_weeks": None,
        "top_events": [{"event_id": "supplier_delay:S-017", "sentence": "Supplier S-017 is 21 days late.",
                        "dollars_at_stake": 100_000.0}]}


def items_for(results, statuses=ALL_OK, **kw):
    return sm.build_items(results, statuses, week=WEEK, materiality=M, rules=RULES, **{"symbol": "$", **kw})


def row(items, topic):
    r = items[items["topic"] == topic]
    assert len(r) == 1, (topic, items[["topic", "sentence"]])
    return r.iloc[0]


# ---------------------------------------------------------------- money in headlines


@pytest.mark.parametrize("x, want", [(475_697, "$0.48M"), (1_234_567, "$1.2M"), (48_200, "$48K"),
                                     (-820_000, "-$0.82M"), (950, "$950"), (2.5e9, "$2.5B"), (None, "–")])
def test_headline_money(x, want):
    assert sm.headline_money(x, symbol="$") == want


def test_headline_and_subject_use_the_gap_and_the_cash_low_point():
    results = {"demand_reconciliation": DEMAND, "cash_impact": CASH}
    head = sm.headline(results, ALL_OK, week=WEEK, symbol="$")
    assert head == "Q4 lands $9.5M vs $10.0M plan; cash low $1.23M in 2027-W05"   # the week with its year
    assert sm.subject(WEEK, head, decisions=3) == "S&OE 2026-W47: 3 decisions; " + head
    assert sm.subject(WEEK, head, decisions=1) == "S&OE 2026-W47: 1 decision; " + head
    assert sm.subject(WEEK, head, decisions=0) == "S&OE 2026-W47: no decisions; " + head
    below = {**CASH, "lowest_cash_any_line": 947_000.0, "lowest_cash_any_line_week": "2027-W01",
             "lowest_cash_any_line_name": "all scenarios"}
    # the low of ANY line, not the baseline's; a thin margin over plan is not rounded away
    thin = {**DEMAND, "landing": 10_030_000.0, "landing_gap": 30_000.0}
    assert sm.headline({"demand_reconciliation": thin, "cash_impact": below},
                       ALL_OK, week=WEEK, symbol="$") == "Q4 lands $10.03M vs $10.00M plan; cash low $947K in 2027-W01"


def test_headline_never_shows_figures_of_a_failed_report():
    results = {"demand_reconciliation": DEMAND, "cash_impact": CASH}
    st_ = {**ALL_OK, "cash_impact": {"status": "failed", "error": "boom"}}
    assert sm.headline(results, st_, week=WEEK, symbol="$") == "Q4 lands $9.5M vs $10.0M plan; cash figures missing"
    assert sm.subject(WEEK, "a\n  b\tc", prefix="S&OE") == "S&OE 2026-W47: a b c"  # one header line


# ---------------------------------------------------------------- items and lights


def test_demand_items_sentences_and_lights():
    items = items_for({"demand_reconciliation": DEMAND})
    land = row(items, "Quarter landing")
    assert land["light"] == "amber"  # $480K behind but 4.8% of plan: under 5%, not material (watch)
    assert land["sentence"] == ("2026-Q4 is projected to land at $9.52M, $480K (4.8%) behind the $10.00M plan.")
    at5 = {**DEMAND, "landing_gap": -500_000.0, "landing": 9_500_000.0}  # exactly 5% and over $5K: material
    assert row(items_for({"demand_reconciliation": at5}), "Quarter landing")["light"] == "red"
    assert land["link"] == "demand_reconciliation.html"
    wk = row(items, "This week's shipments")
    assert wk["light"] == "red" and wk["sentence"] == "$700K in 2026-W47 vs $800K planned (-$100K, -12.5%)."
    assert row(items, "Material variances")["sentence"] == "12 this week and quarter-to-date."
    near = items_for({"demand_reconciliation": {**DEMAND, "week_shipped_revenue": 790_000.0}})
    assert "This week's shipments" not in set(near["topic"])  # a week near plan: the landing carries it
    var = items[items["topic"] == "Variance"]
    assert var["light"].tolist() == ["red", "amber"]  # behind plan = act; ahead = watch
    # small shortfall, not material: watch, not act
    small = {**DEMAND, "landing_gap": -1_000.0, "landing": 9_999_000.0}
    assert row(items_for({"demand_reconciliation": small}), "Quarter landing")["light"] == "amber"
    ahead = {**DEMAND, "landing_gap": 50_000.0, "landing": 10_050_000.0}
    land = row(items_for({"demand_reconciliation": ahead}), "Quarter landing")
    assert land["light"] == "green" and "ahead of the $10.00M plan" in land["sentence"]


def test_owners_are_named_beside_variances_and_events():
    owners = {"variance:product_line:Controllers": "Raj Patel", "event:supplier_delay:S-017": "Ops: Lee"}
    items = items_for({"demand_reconciliation": DEMAND, "cash_impact": CASH}, owners=owners)
    var = items[items["topic"] == "Variance"]["sentence"].tolist()
    assert var[0].endswith("Owner: Raj Patel.") and "Owner" not in var[1]
    assert "(owner: Ops: Lee)" in row(items, "Disruptions")["sentence"]


def test_top_variances_follow_the_param():
    items = sm.build_items({"demand_reconciliation": DEMAND}, ALL_OK, week=WEEK, materiality=M,
                           rules=ExecutiveSummaryParams(top_variances=1), symbol="$")
    assert (items["topic"] == "Variance").sum() == 1
    assert row(items, "Material variances")["sentence"] == "12 this week and quarter-to-date."


@pytest.mark.parametrize("low, light, words", [
    (900_000.0, "red", "$100K below the $1.00M minimum"),
    (1_200_000.0, "amber", "$200K above the $1.00M minimum"),  # within 25% of the minimum
    (1_300_000.0, "green", "$300K above the $1.00M minimum"),
])
def test_cash_low_point_lights(low, light, words):
    it = row(items_for({"cash_impact": {**CASH, "lowest_cash": low}}), "Cash low point")
    assert it["light"] == light and words in it["sentence"] and "in 2027-W05" in it["sentence"]


def test_cash_risk_reads_every_line_never_says_above_minimum_while_a_line_goes_below():
    items = items_for({"cash_impact": CASH})     # no any-line figures (an older record): the baseline's
    low = row(items, "Cash low point")
    assert low["light"] == "amber" and "$1.23M in 2027-W05 (baseline), $235K above the $1.00M minimum" in low["sentence"]
    risky = {**CASH, "lowest_cash_any_line": 939_000.0, "lowest_cash_any_line_week": "2027-W01",
             "lowest_cash_any_line_name": "vendor switch", "first_breach_any_line_week": "2026-W53",
             "first_breach_any_line_name": "vendor switch", "runway_weeks_any_line": 5,
             "lines_below_min": ["vendor switch", "all scenarios"]}
    low = row(items_for({"cash_impact": risky}), "Cash low point")
    assert low["light"] == "red" and "above" not in low["sentence"]
    assert low["sentence"] == ("$939K in 2027-W01 (vendor switch), $61K below the $1.00M minimum; 2 lines go below it, "
                               "the first in 2026-W53 (vendor switch, 5 weeks out); baseline low $1.23M in 2027-W05.")
    ev = row(items, "Disruptions")
    assert ev["light"] == "red"
    assert ev["sentence"] == ("3 detected: P&L -$52K this quarter, cash -$510K over 13 weeks. Largest: Supplier S-017 "
                              "is 21 days late.")
    # a disruption one of the week's decisions asks about is left to the decision
    dec = records.Decision(key="decision:x", question="S-017 is late: accept the slip or switch vendor?", dollars=1.0)
    ev = row(items_for({"cash_impact": CASH}, decisions=[dec]), "Disruptions")
    assert ev["sentence"] == "3 detected: P&L -$52K this quarter, cash -$510K over 13 weeks."


def test_forecast_item_in_plain_words_with_its_horizon_and_window():
    ff = {"bias_lag1": 0.03, "bias_lag4": 0.062, "ts_alert_lines": ["Controllers"], "wape_lag1": 0.182,
          "wape_by_lag": {"1": 0.182, "4": 0.205}, "focus_lag": 4, "accuracy_window": ["2026-W22", "2026-W47"],
          "backtest_wape_raw": 0.241, "backtest_wape_corrected": 0.198, "fva_vs_naive": 0.032,
          "most_biased_line": {"product_line": "Controllers", "bias_pct_lag4": 0.15, "correction": -0.13}}
    items = items_for({"forecast_feedback": ff})
    f = row(items, "Forecast")
    assert f["light"] == "amber"  # a lasting bias
    assert f["sentence"] == ("4 weeks out: 6.2% over demand; Controllers 15.0% over (-13.0% correction proposed); a "
                             "lasting bias on Controllers; error 20.5%, 3.2 points below the simple baseline's "
                             "(2026-W22 to 2026-W47).")
    for jargon in ("lag", "WAPE", "tracking", "FVA", "naive"):  # the forecast report's words, defined there
        assert jargon not in " ".join(items["sentence"]), jargon
    quiet = row(items_for({"forecast_feedback": {"bias_lag4": -0.01, "ts_alert_lines": [], "wape_lag1": 0.3,
                                                 "fva_vs_naive": -0.02}}), "Forecast")
    assert quiet["light"] == "amber" and quiet["sentence"] == (  # figures at two horizons: each says its own
        "1.0% under demand 4 weeks out; error 30.0% one week out, 2.0 points above the simple baseline's 4 weeks out.")
    assert row(items_for({"forecast_feedback": {"bias_lag4": 0.01}}), "Forecast")["light"] == "green"


def test_kpi_table_reads_periods_targets_and_status_words():
    sec = {"otif": {"week": 0.8, "13w": 0.872, "quarter": 0.86}, "dso": {"13w": 41.0, "week": 44.6},
           "dpo": {"13w": 30.0}, "gross_margin_pct": {"13w": 0.36},
           "targets": {"otif": 0.95, "dso": 45, "dpo": 45, "gross_margin_pct": 0.4},
           "status": {"dpo": {"13w": "met"}}}
    t = sm.kpi_table(sec).set_index("kpi")
    assert t.loc["otif", "value"] == 0.872 and t.loc["otif", "period"] == "13w" and t.loc["otif", "week"] == 0.8
    assert t.loc["otif", "light"] == "red" and t.loc["otif", "text"] == "OTIF by lines 87.2% vs 95.0% target"
    assert t.loc["dso", "light"] == "green"  # lower is better: 41 <= 45
    assert t.loc["dpo", "light"] == "green"  # the KPI report's own status wins over the direction rule
    assert t.loc["gross_margin_pct", "light"] == "red"
    assert t.loc["gross_margin_pct", "text"] == "Gross margin 36.0% vs 40.0% target"
    assert t.loc["dso", "basis"] == "on invoiced sales" and t.loc["dpo", "basis"] == "on COGS at standard cost"
    assert sm.kpi_table(sec, dso_revenue="shipped").set_index("kpi").loc["dso", "basis"] == "on shipped sales"
    # the KPI report's light (this week and the 13 weeks) wins over the 13-week status
    lit = sm.kpi_table({**sec, "lights": {"otif": "amber"}}).set_index("kpi")
    assert lit.loc["otif", "light"] == "amber" and lit.loc["dso", "light"] == "green"
    it = row(items_for({"execution_kpis": sec}), "KPIs")
    assert it["light"] == "red" and it["sentence"] == "2 of 4 off target."
    ar = {**sec, "ar_ageing": {"as_of": "2026-11-22", "open": 5_073_420.39, "overdue": 984_213.5}}
    rec = row(items_for({"execution_kpis": ar}), "Receivables")  # the lights: the scoreboard
    assert rec["sentence"] == "$984K (19.4%) past due of $5.07M at 2026-11-22." and rec["light"] == "green"  # DSO's
    d = sm.kpi_display(sm.kpi_table(sec)).set_index("KPI")
    assert d.loc["DSO (days), on invoiced sales"].tolist() == ["45", "41", "45", "On track"]
    assert d.loc["OTIF by lines"].tolist() == ["80.0%", "87.2%", "95.0%", "Act"]
    assert d.loc["DPO (days)", "This week"] == "–"  # not recorded: never a bare blank
    assert sm.kpi_table(None).empty
    assert sm.kpi_table({"dpo": 30.0}).empty  # not of the record's shape (a KPI is by period): no lights
    out = sm.kpi_html(sm.kpi_table({**sec, "status": {**sec["status"], "dso": {"13w": "<b>met</b>"}}}))
    assert "OTIF by lines</td><td class=\"num\">80.0%</td><td class=\"num\">87.2%</td>" in out and "<b>" not in out
    assert sm.scoreboard_note(WEEK) == ("This week = week 2026-W47 average; 13 weeks = 13-week average to 2026-W47; "
                                        "DIO, DPO on COGS at standard cost.")
    assert sm.scoreboard_note(WEEK, "ending").startswith("This week = week 2026-W47, ending balances; "
                                                         "13 weeks = 13 weeks to 2026-W47, ending balances;")


@pytest.mark.parametrize("overdue, escalated, light", [(0, 0, "green"), (2, 0, "amber"), (2, 1, "red")])
def test_action_item_lights(overdue, escalated, light):
    sec = {"open": 12, "overdue": overdue, "escalated": escalated, "new_this_week": 5, "closed_this_week": 1,
           "dollars_at_stake_open": 812_000.0,
           "by_owner": {"Maria": 300_000.0, "Raj": 400_000.0},
           "escalated_to": {"CFO": escalated} if escalated else {},
           "top_open": [{"id": "A-0007", "title": "Controllers: shipments behind plan", "owner": "Raj",
                         "dollars_at_stake": 248_000.0, "escalation": "CFO"}]}
    it = row(items_for({"actions": sec}, statuses={"action_tracker": {"status": "ok"}}), "Actions")
    assert it["light"] == light
    gap = row(items_for({"actions": {**sec, "overdue": 0, "escalated": 0, "inputs_missing": ["cash_events.csv"]}}),
              "Actions")
    assert gap["light"] == "amber" and "could not read cash_events.csv this week" in gap["sentence"]
    real = {"open": 2, "overdue": 0, "escalated": 0, "by_owner": {"Lee": 5_000.0, "Raj": 9_000.0}}
    assert "Most at stake: Raj $9.0K, Lee $5.0K." in row(items_for({"actions": real}), "Actions")["sentence"]
    esc = " (1 to CFO)" if escalated else ""
    assert it["sentence"] == (f"12 open with $812K at stake: {overdue} overdue, {escalated} escalated{esc}; "
                              "5 new, 1 closed this week. Most at stake: Raj $400K, Maria $300K. "
                              "Largest open action: A-0007 Controllers: shipments behind plan (Raj, $248K).")
    assert it["link"] == "action_tracker.html"
    # the decision asked of the meeting: an escalated root cause before a KPI, then the largest dollars
    agenda = [{"id": "A-0010", "group": "escalated", "kind": "kpi", "title": "OTIF off target", "owner": "Raj",
               "due": "2026-11-26", "dollars_at_stake": 613_000.0, "decision_asked": "Accept the miss"},
              {"id": "A-0006", "group": "escalated", "kind": "production_delay", "title": "Production delay: SO-5",
               "owner": "Raj", "due": "2026-11-26", "dollars_at_stake": 515_000.0,
               "decision_asked": "Approve overtime or expedite, or accept the slip ($515K at stake)"},
              {"id": "A-0001", "group": "opportunity", "kind": "opportunity", "title": "PS: orders ahead",
               "owner": "Hannah", "due": "2026-12-07", "dollars_at_stake": 900_000.0, "decision_asked": "Raise it"}]
    asked = row(items_for({"actions": {**sec, "agenda": agenda}}), "Actions")["sentence"]
    assert asked.endswith("Next ask: Raj by 2026-11-26, approve overtime or expedite, or accept the slip "
                          "($515K at stake) (Production delay: SO-5).")
    # an ask one of the week's decisions makes already is not repeated: the next one is named, with what it is about
    dec = records.Decision(key="E-01", question="Production delay: SO-5. Hold its ship date?", dollars=515_000.0)
    nxt = row(items_for({"actions": {**sec, "agenda": agenda}}, decisions=[dec]), "Actions")["sentence"]
    assert nxt.endswith("Next ask: Raj by 2026-11-26, accept the miss (OTIF off target).")


@pytest.mark.parametrize("score, light", [(0.96, "green"), (0.94, "amber"), (0.90, "red")])
def test_data_accuracy_lights(score, light):
    sec = {"score": score, "target": 0.95, "failed_checks": [{"check_id": "x", "sentence": "CRM bookings differ."}]}
    it = row(items_for({"data_accuracy": sec}), "Data accuracy")
    assert it["light"] == light
    assert it["sentence"].endswith("vs a 95.0% target; 1 check failed; largest: CRM bookings differ.")
    real = {"score": score, "target": 0.95, "failed_checks": [{"check_id": "tie:crm_erp"}, {"check_id": "fresh:mrp"}],
            "material_failed_checks": ["tie:crm_erp"]}
    assert row(items_for({"data_accuracy": real}), "Data accuracy")["sentence"].endswith(
        "2 checks failed (1 material).")
    # the example is the largest dollar difference; the tie-outs' sum is on one stated basis (gross)
    three = {"score": score, "target": 0.95, "tie_out_gross": 48_900.0, "failed_checks": [
        {"check_id": "tie_out:crm", "sentence": "CRM differs by $21K gross.", "dollars_at_stake": 21_000.0},
        {"check_id": "tie_out:gl_ar", "sentence": "GL receivables differ by -$27,350.00.", "dollars_at_stake": 27_350.0,
         "name": "GL receivables tie to the invoices", "source": "GL vs ERP"},
        {"check_id": "fresh:mrp", "sentence": "MRP is 9 days old."}]}
    assert row(items_for({"data_accuracy": three}), "Data accuracy")["sentence"].endswith(
        "3 checks failed; tie-outs off by $49K gross; largest: GL receivables tie to the invoices, $27K off.")


# ---------------------------------------------------------------- never stale, never partial


def test_failed_or_missing_reports_say_so_and_show_no_figures():
    results = {"demand_reconciliation": DEMAND, "cash_impact": CASH, "data_accuracy": {"score": 0.5, "target": 0.95}}
    statuses = {"demand_reconciliation": {"status": "ok"}, "cash_impact": {"status": "failed", "error": "x"},
                "data_accuracy": {"status": "ok"}, "execution_kpis": {"status": "ok"}}
    items = items_for(results, statuses)
    cash = items[items["report"] == "cash_impact"]
    assert len(cash) == 1 and cash.iloc[0]["light"] == "grey" and cash.iloc[0]["link"] == ""
    assert cash.iloc[0]["sentence"] == "The cash impact report failed this week: its figures are not shown."
    text = " ".join(items["sentence"])
    assert "1.23M" not in text and "2027-W05" not in text  # the failed report's figures never show
    assert row(items, "Forecast feedback")["sentence"].endswith("was not part of this run: its figures are not shown.")
    assert row(items, "Execution KPIs")["sentence"] == ("The execution KPI report recorded no figures this week: "
                                                        "nothing to show.")
    stale = items_for({"demand_reconciliation": {**DEMAND, "week": "2026-W46"}})
    s = stale[stale["report"] == "demand_reconciliation"]
    assert len(s) == 1 and s.iloc[0]["light"] == "grey" and "not for 2026-W47" in s.iloc[0]["sentence"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([r.notebook for r in sm.PACK]), st.sampled_from(["ok", "failed"])),
       st.floats(-1e7, 1e7, allow_nan=False), st.floats(1, 1e7))
def test_every_report_appears_and_non_ok_ones_carry_no_numbers(states, gap, cash):
    results = {"demand_reconciliation": {**DEMAND, "landing_gap": gap, "landing": 1e7 + gap},
               "cash_impact": {**CASH, "lowest_cash": cash}, "actions": {"open": 3, "overdue": 1, "escalated": 0},
               "data_accuracy": {"score": 0.97, "target": 0.95},
               "execution_kpis": {"dso": {"13w": 50.0}, "targets": {"dso": 45}},
               "forecast_feedback": {"bias_lag4": 0.1, "ts_alert_lines": []}}
    statuses = {k: {"status": v} for k, v in states.items()}
    items = items_for(results, statuses)
    assert set(items["report"]) == {r.notebook for r in sm.PACK}
    assert set(items["light"]) <= set(sm.LIGHTS)
    for ref in sm.PACK:
        mine = items[items["report"] == ref.notebook]
        if states.get(ref.notebook) != "ok":
            assert len(mine) == 1 and mine.iloc[0]["light"] == "grey"
            assert not re.search(r"\d", mine.iloc[0]["sentence"].replace("2026-W47", ""))
        else:
            assert (mine["link"] == f"{ref.notebook}.html").all()


# ---------------------------------------------------------------- what changed


def test_changes_since_last_week():
    now = {"demand_reconciliation": {"landing_gap": -480_000.0, "landing": 9.52e6, "material_variances": 12},
           "actions": {"open": 12, "overdue": 2}, "data_accuracy": {"score": 0.93},
           "execution_kpis": {"dso": {"13w": 47.0}}}
    before = {"demand_reconciliation": {"landing_gap": -400_000.0, "landing": 9.5216e6, "material_variances": 12},
              "actions": {"open": 10}, "data_accuracy": {"score": 0.931}, "execution_kpis": {"dso": {"13w": 44.0}},
              "cash_impact": {"lowest_cash": 1.0}}
    ch = sm.changes_since(now, before, previous_week="2026-W46", materiality=M, symbol="$").set_index("key")
    assert ch.loc["landing_gap", "change"] == -80_000.0 and ch.loc["landing_gap", "changed"]
    assert ch.loc["landing_gap", "sentence"] == "Landing vs plan: down from -$400K to -$480K (-$80K) since 2026-W46."
    assert not ch.loc["landing", "changed"]  # $1.6K < $5K materiality
    assert ch.loc["open", "sentence"] == "Open actions: up from 10 to 12 (+2) since 2026-W46."
    assert not ch.loc["score", "changed"]  # 0.1 point
    assert ch.loc["dso", "sentence"] == "DSO, 13-week average: up from 44.0 days to 47.0 days (+3.0 days) since 2026-W46."
    assert "overdue" not in ch.index and "lowest_cash" not in ch.index  # only figures recorded both weeks
    shown = sm.changes_since(now, before, previous_week="2026-W46", materiality=M, shown_sections=["actions"], symbol="$")
    assert set(shown["section"]) == {"actions"}  # a report not ok this week is never compared
    lines = sm.change_sentences(sm.changes_since(now, before, previous_week="2026-W46", materiality=M, symbol="$"), "2026-W46")
    assert len(lines) == 3 and lines[0].startswith("Landing vs plan")
    assert sm.change_sentences(None, "2026-W46") == ["No figures were recorded for 2026-W46: nothing to compare with."]
    disp = sm.changes_display(ch.reset_index(), symbol="$")
    assert disp.set_index("Metric").loc["Open actions", "Change"] == "+2"


# ---------------------------------------------------------------- HTML, files, charts


def test_items_html_escapes_everything_and_links_each_topic_to_its_report():
    evil = {**DEMAND, "quarter": "<script>alert(1)</script>",
            "top_variances": [{"period": "qtd", "level": "customer", "key": "<b>x</b>", "variance": -9e4,
                               "sentence": "<img src=x onerror=alert(1)> is $90K behind."}]}
    items = items_for({"demand_reconciliation": evil}, {"demand_reconciliation": {"status": "ok"}})
    out = sm.items_html(items)
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    mine = (items["report"] == "demand_reconciliation").sum()
    assert out.count('href="demand_reconciliation.html"') == mine == 4  # every item links the report proving it
    assert '<b><a href="demand_reconciliation.html">Quarter landing</a></b>:' in out
    assert out.count("cash_impact.html") == 0  # not run: no link
    linked = sm.items_html(items, links={"demand_reconciliation": 'https://x/?a=1&b="2"'})
    assert linked.count("&amp;b=&quot;2&quot;") == 4


def test_read_run_statuses_and_results(tmp_path):
    work = tmp_path / ".work"
    work.mkdir()
    for n in ("demand_reconciliation", "cash_impact", "executive_summary"):
        (work / f"{n}.spec.json").write_text("{}")
    (work / "demand_reconciliation.status.json").write_text(json.dumps({"status": "ok", "execute_seconds": 3.5}))
    st_ = sm.read_run_statuses(tmp_path)
    assert st_["demand_reconciliation"]["status"] == "ok"
    assert st_["cash_impact"]["status"] == "failed" and "did not report" in st_["cash_impact"]["error"]
    assert "executive_summary" not in st_
    assert sm.read_run_statuses(tmp_path / "nowhere") == {}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "cash_impact.json").write_text('{"lowest_cash": 1}')
    (tmp_path / "results" / "broken.json").write_text("{not json")
    assert sm.read_run_results(tmp_path) == {"cash_impact": {"lowest_cash": 1}}
    t = sm.status_table(st_)
    assert t.set_index("report").loc["Cash impact", "status"] == "FAILED"
    assert t.set_index("report").loc["Forecast feedback", "status"] == "not run"
    assert sm.reports_line(st_) == ("Cash impact: FAILED; Forecast feedback: not run; Execution KPIs: not run; "
                                    "Action tracker: not run; Data accuracy: not run; the other 1 ran ok.")
    assert sm.reports_line(ALL_OK) == "All 6 reports ran ok."


def test_issue_owners_from_the_tracker_export(tmp_path):
    assert sm.issue_owners(tmp_path) == {}
    pd.DataFrame({"issue_key": ["variance:shipments_vs_plan:product_line:Controllers", "event:supplier_delay:S-017",
                                "data:crm_vs_erp", "variance:orders_vs_forecast:sku:PWR-5004"],
                  "owner": ["Raj Patel", "Lee Chen", None, "Maria"],
                  "status": ["open", "in progress", "open", "done"]}).to_csv(tmp_path / "actions_all.csv", index=False)
    owners = sm.issue_owners(tmp_path)
    assert owners == {"variance:shipments_vs_plan:product_line:Controllers": "Raj Patel",
                      "variance:product_line:Controllers": "Raj Patel", "event:supplier_delay:S-017": "Lee Chen"}
    items = items_for({"demand_reconciliation": DEMAND, "cash_impact": CASH}, owners=owners)
    assert items[items["topic"] == "Variance"]["sentence"].iloc[0].endswith("Owner: Raj Patel.")
    assert "(owner: Lee Chen)" in row(items, "Disruptions")["sentence"]


def test_charts():
    fig = sm.landing_chart(DEMAND, symbol="$")
    assert isinstance(fig, Figure) and sm.figure_png(fig)[:4] == b"\x89PNG"
    assert sm.landing_chart({"plan_quarter": 1.0}, symbol="$") is None
    weeks = [f"2026-W{w}" for w in range(48, 53)]
    df = pd.DataFrame({"scenario": ["baseline"] * 5 + ["slip"] * 5, "week": weeks * 2,
                       "closing_cash": [5, 4, 3, 4, 5, 5, 3, 2, 3, 4]})
    fig = sm.cash_chart(df, 2.5, "$")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["slip", "baseline (forecast)", "minimum $2"]
    assert sm.cash_chart(df.drop(columns=["closing_cash"]), None, "$") is None and sm.cash_chart(None, None, "$") is None


def test_assumptions_state_the_rules():
    from soe_helpers.core.params import load_params

    text = " ".join(sm.assumptions(load_params()))
    assert "(material: $5.0K and 5.0% or more; cash below the minimum)" in text and "cash within 25% of the minimum" in text
    assert "never an earlier week's" in text
    assert len(text.split()) <= 40  # the rules in a few lines; each report prints its own in full


def test_glossary_lists_the_terms_the_page_uses_and_defines_the_reports_jargon_once():
    every = dict(sm.glossary())
    assert "WAPE" in every["Forecast error"] and "lag N" in every["Forecast error"] and "FVA" in every["Simple baseline"]
    assert "tracking signal" in every["Lasting bias"]
    used = [t for t, _ in sm.glossary("Q4 landing: $509K ahead of the plan. OTIF by value 54.3%; a lasting bias.")]
    assert used == ["OTIF", "Lasting bias"]
    assert sm.glossary("") == []


def test_landing_item_names_its_parts():
    d = {**DEMAND, "actual_qtd": 5_710_000.0, "backlog_in_quarter": 1_200_000.0, "unbooked_in_quarter": 2_600_000.0,
         "landing_corrected": 9_300_000.0, "slip_risk": 550_000.0}
    s = row(items_for({"demand_reconciliation": d}), "Quarter landing")["sentence"]
    assert s == "Shipped $5.71M + open orders $1.20M + not yet booked $2.60M = $9.52M (-4.8% vs the $10.00M plan)."
    assert "bias" not in s and "slip" not in s  # both on the first screen (:func:`first_screen`), not repeated


def test_the_detail_leaves_a_decided_variance_to_its_decision():
    dec = records.Decision(key="E-02", question="Controllers: shipments behind plan. Recover it or accept the lower "
                                                "landing?", dollars=248_000.0, owner="Raj Patel")
    items = items_for({"demand_reconciliation": DEMAND}, decisions=[dec])
    assert items[items["topic"] == "Variance"]["sentence"].tolist() == [
        "PWR-5004 is $502K ahead of the forecast made a week before."]
    assert row(items, "Material variances")["sentence"] == "12 this week and quarter-to-date."
    other = records.Decision(key="E-09", question="Controllers: orders behind forecast.", dollars=99_000.0)
    assert (items_for({"demand_reconciliation": DEMAND}, decisions=[other])["topic"] == "Variance").sum() == 2


def test_a_variance_inside_one_shown_already_is_one_root_cause():
    d = {**DEMAND, "top_variances": [
        {"level": "sku", "key": "PWR-5004", "variance": 528_000.0,
         "sentence": "PWR-5004 (Power Supplies) is $528K ahead of the forecast made a week before."},
        {"level": "product_line", "key": "Power Supplies", "variance": 461_000.0,
         "sentence": "Power Supplies is $461K ahead of the forecast made a week before."},
        {"level": "product_line", "key": "Power Supplies", "variance": -78_000.0,
         "sentence": "Power Supplies is $78K behind plan."}]}
    var = items_for({"demand_reconciliation": d})
    assert var[var["topic"] == "Variance"]["sentence"].tolist() == [
        "PWR-5004 (Power Supplies) is $528K ahead of the forecast made a week before.",
        "Power Supplies is $78K behind plan."]  # the other direction is another cause


def test_assumptions_print_only_the_rules_of_the_lights_shown():
    """Like the glossary, the rules of lights the page does not show are left out (no 'Missing' rule when every
    report ran and every KPI was measured)."""
    from soe_helpers.core.params import load_params

    p = load_params()
    assert len(sm.assumptions(p)) == 3
    shown = sm.assumptions(p, {"red", "green"})
    assert len(shown) == 1 and shown[0].startswith("Act = ")
    assert [r.split(" = ")[0] for r in sm.assumptions(p, {"amber", "grey"})] == ["Watch", "Missing"]
