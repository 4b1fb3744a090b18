"""Execution KPIs against hand calculations: OTIF edge cases, balances, working-capital days, margins, history."""
import json
import math
import types

import numpy as np
import pandas as pd
import pytest

from conftest import notebook_run
from hypothesis import given, settings
from hypothesis import strategies as st

from soe_helpers.core.calendar import FiscalCalendar
from soe_helpers.analysis.kpis import (ap_balance, ar_balance, execution_kpis, fulfilment_summary, gross_margin_by_line,
                              history_rows, inventory_value, kpi_exceptions, kpi_periods, kpi_status, line_fulfilment,
                              period_balance, scorecard, working_capital)
from soe_helpers.core.params import KpiParams
from soe_helpers.store.engine import Store
from soe_helpers.store.history import read_kpis, write_kpis

D = pd.Timestamp
W47_MON, W47_SUN = D("2026-11-16"), D("2026-11-22")


def _orders(rows):
    """rows: (order_id, qty, price, promised, requested=None, status='closed')."""
    recs = []
    for r in rows:
        oid, qty, price, promised = r[:4]
        requested = r[4] if len(r) > 4 and r[4] is not None else promised
        status = r[5] if len(r) > 5 else "closed"
        recs.append({"order_id": oid, "line": 1, "customer_id": "C1", "sku": "A", "quantity": float(qty),
                     "unit_price": float(price), "order_date": D("2026-11-01"), "promised_date": D(promised),
                     "requested_date": D(requested), "status": status})
    return pd.DataFrame(recs)


def _ships(rows):
    return pd.DataFrame([{"order_id": o, "line": 1, "ship_date": D(d), "quantity": float(q)} for o, d, q in rows],
                        columns=["order_id", "line", "ship_date", "quantity"])


# ---------------------------------------------------------------- OTIF edge cases


def test_otif_rules_for_split_partial_late_early_and_unshipped_lines():
    orders = _orders([
        ("FULL", 100, 1, "2026-11-18"),        # shipped in full on the due date
        ("EARLY", 10, 1, "2026-11-18"),        # shipped two days early
        ("SPLIT", 100, 1, "2026-11-18"),       # 60 on time + 40 late (same week): in full, late
        ("SHORT", 100, 1, "2026-11-18"),       # 50 on time, rest never: on time, short
        ("LATE", 20, 1, "2026-11-17"),         # all shipped late inside the week
        ("NEXTWK", 20, 1, "2026-11-19"),       # ships the following week: nothing by the measurement date
        ("NONE", 5, 1, "2026-11-20"),          # never shipped
        ("OVER", 10, 1, "2026-11-20"),         # over-shipped on time
        ("CANC", 50, 1, "2026-11-18", None, "cancelled"),
        ("ZERO", 0, 1, "2026-11-18"),
        ("OUTSIDE", 10, 1, "2026-11-23"),      # due next week: not in the population
    ])
    ships = _ships([("FULL", "2026-11-18", 100), ("EARLY", "2026-11-16", 10), ("SPLIT", "2026-11-17", 60),
                    ("SPLIT", "2026-11-21", 40), ("SHORT", "2026-11-18", 50), ("LATE", "2026-11-19", 20),
                    ("NEXTWK", "2026-11-24", 20), ("OVER", "2026-11-20", 11), ("CANC", "2026-11-18", 1)])
    lines = line_fulfilment(orders, ships, W47_MON, W47_SUN).set_index("order_id")
    assert sorted(lines.index) == ["EARLY", "FULL", "LATE", "NEXTWK", "NONE", "OVER", "SHORT", "SPLIT"]
    expect = {  # on_time, in_full, otif, outcome
        "FULL": (True, True, True, "OTIF"), "EARLY": (True, True, True, "OTIF"),
        "SPLIT": (False, True, False, "late"), "SHORT": (True, False, False, "short"),
        "LATE": (False, True, False, "late"), "NEXTWK": (False, False, False, "not shipped"),
        "NONE": (False, False, False, "not shipped"), "OVER": (True, True, True, "OTIF"),
    }
    for oid, (ot, inf, otif, outcome) in expect.items():
        r = lines.loc[oid]
        assert (bool(r.on_time), bool(r.in_full), bool(r.otif), r.outcome) == (ot, inf, otif, outcome), oid
    assert lines.loc["SPLIT", "shipments"] == 2 and lines.loc["SPLIT", "on_time_qty"] == 60
    assert (lines["measured_at"] == W47_SUN).all()
    s = fulfilment_summary(lines.reset_index()).iloc[0]
    # 8 lines: on time 4 (FULL, EARLY, SHORT, OVER); in full 5 (FULL, EARLY, SPLIT, LATE, OVER); OTIF 3
    assert (s.lines, s.on_time_lines, s.in_full_lines, s.otif_lines) == (8, 4, 5, 3)
    assert s.otif == pytest.approx(3 / 8)
    value = 100 + 10 + 100 + 100 + 20 + 20 + 5 + 10
    assert s.value == value and s.otif_value == pytest.approx(120 / value)
    assert s.value_not_otif == pytest.approx(value - 120)


def test_tolerances_and_requested_date_basis():
    orders = _orders([("A", 100, 1, "2026-11-18", "2026-11-16"), ("B", 100, 1, "2026-11-18")])
    ships = _ships([("A", "2026-11-18", 100), ("B", "2026-11-20", 96)])
    strict = line_fulfilment(orders, ships, W47_MON, W47_SUN).set_index("order_id")
    assert not strict.loc["B", "on_time"] and not strict.loc["B", "in_full"]
    loose = line_fulfilment(orders, ships, W47_MON, W47_SUN, on_time_tolerance_days=2,
                            in_full_tolerance=0.05).set_index("order_id")
    assert loose.loc["B", "on_time"] and loose.loc["B", "in_full"] and loose.loc["B", "otif"]
    req = line_fulfilment(orders, ships, W47_MON, W47_SUN, due="requested").set_index("order_id")
    assert req.loc["A", "due_date"] == D("2026-11-16") and not req.loc["A", "on_time"]  # 2 days after the request
    with pytest.raises(ValueError, match="'promised' or 'requested'"):
        line_fulfilment(orders, ships, W47_MON, W47_SUN, due="scheduled")


def test_value_weighting_differs_from_line_count():
    orders = _orders([("SMALL", 1, 100, "2026-11-18"), ("BIG", 1, 900, "2026-11-18")])
    ships = _ships([("SMALL", "2026-11-18", 1)])
    s = fulfilment_summary(line_fulfilment(orders, ships, W47_MON, W47_SUN)).iloc[0]
    assert s.otif == 0.5 and s.otif_value == pytest.approx(0.1) and s.value_not_otif == 900


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="orders is missing column\\(s\\) promised_date"):
        line_fulfilment(pd.DataFrame({"order_id": [], "line": [], "customer_id": [], "sku": [], "quantity": [],
                                      "unit_price": []}), _ships([]), W47_MON, W47_SUN)


def test_empty_population_gives_nan_rates_not_zero():
    s = fulfilment_summary(line_fulfilment(_orders([("A", 1, 1, "2026-12-01")]), _ships([]), W47_MON, W47_SUN))
    assert s.iloc[0]["lines"] == 0 and math.isnan(s.iloc[0]["otif"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 27), st.integers(1, 50), st.lists(st.tuples(st.integers(-3, 12),
                                                                                       st.integers(0, 60)),
                                                                             max_size=3)), min_size=1, max_size=25))
def test_longer_periods_are_the_pooled_weeks(spec):
    """13-week (or quarter) counts are exactly the sum of the weekly ones: each line is measured in its own week."""
    start = D("2026-11-02")  # Monday of W45: four weeks W45..W48
    orders, ships = [], []
    for i, (due_off, qty, parts) in enumerate(spec):
        orders.append((f"O{i}", qty, 1.0, str((start + pd.Timedelta(days=due_off)).date())))
        ships += [(f"O{i}", str((start + pd.Timedelta(days=due_off + d)).date()), q) for d, q in parts]
    o, s = _orders(orders), _ships(ships)
    whole = fulfilment_summary(line_fulfilment(o, s, start, start + pd.Timedelta(days=27))).iloc[0]
    weekly = [fulfilment_summary(line_fulfilment(o, s, start + pd.Timedelta(days=7 * k),
                                                 start + pd.Timedelta(days=7 * k + 6))).iloc[0] for k in range(4)]
    for col in ("lines", "on_time_lines", "in_full_lines", "otif_lines", "value", "value_not_otif"):
        assert whole[col] == pytest.approx(sum(w[col] for w in weekly))
    assert whole.otif_lines <= min(whole.on_time_lines, whole.in_full_lines)


# ---------------------------------------------------------------- balances and days


def test_ar_and_ap_balances_by_hand():
    inv = pd.DataFrame({"invoice_date": [D("2026-11-02"), D("2026-11-03"), D("2026-11-04")],
                        "amount": [100.0, 50.0, -20.0],  # the last is a credit note
                        "paid_date": [D("2026-11-05"), pd.NaT, D("2026-11-04")],
                        "paid_amount": [60.0, np.nan, np.nan]})  # partial payment; credit applied in full
    ar = ar_balance(inv, [D("2026-11-01"), D("2026-11-02"), D("2026-11-03"), D("2026-11-04"), D("2026-11-05")])
    assert ar.tolist() == [0.0, 100.0, 150.0, 150.0, 90.0]
    bills = pd.DataFrame({"bill_date": [D("2026-11-02"), D("2026-11-03")], "amount": [70.0, 30.0],
                          "paid_date": [D("2026-11-04"), pd.NaT]})
    assert ap_balance(bills, [D("2026-11-02"), D("2026-11-03"), D("2026-11-04")]).tolist() == [70.0, 100.0, 30.0]


def test_inventory_value_falls_back_to_standard_cost_and_marks_missing_weeks():
    inv = pd.DataFrame({"week": ["2026-W46", "2026-W46", "2026-W47"], "sku": ["A", "B", "A"],
                        "location": ["X", "X", "X"], "on_hand_qty": [10.0, 4.0, 3.0],
                        "on_hand_value": [100.0, np.nan, 30.0]})
    products = pd.DataFrame({"sku": ["A", "B"], "unit_cost": [10.0, 2.5]})
    v = inventory_value(inv, products, ["2026-W45", "2026-W46", "2026-W47"])
    assert math.isnan(v["2026-W45"]) and v["2026-W46"] == 110.0 and v["2026-W47"] == 30.0


def test_period_balance_average_and_ending():
    assert period_balance(100, [200], "average") == 150.0
    assert period_balance(100, [200, 300], "average") == 200.0
    assert period_balance(100, [200, 300], "ending") == 300.0
    assert math.isnan(period_balance(100, [200, np.nan]))
    with pytest.raises(ValueError, match="'average' or 'ending'"):
        period_balance(1, [1], "median")


def test_published_example_apple_fiscal_2023():
    """Apple Inc. Form 10-K for the fiscal year ended 30 September 2023 (US$ millions): net sales 383,285;
    cost of sales 214,137; accounts receivable, net 29,508 (2023) and 28,184 (24 September 2022); inventories
    6,331 and 4,946; accounts payable 62,611 and 64,115. Textbook days on average balances over 365 days:
    DSO 27.5, DIO 9.6, DPO 108.0, CCC -70.9 (Apple's well-known negative cash conversion cycle)."""
    ar = period_balance(28_184, [29_508])
    inv = period_balance(4_946, [6_331])
    ap = period_balance(64_115, [62_611])
    assert (ar, inv, ap) == (28_846.0, 5_638.5, 63_363.0)
    k = working_capital(ar, ap, inv, revenue=383_285, cogs=214_137, days=365)
    assert k["dso"] == pytest.approx(28_846 / 383_285 * 365) and round(k["dso"], 1) == 27.5
    assert k["dio"] == pytest.approx(5_638.5 / 214_137 * 365) and round(k["dio"], 1) == 9.6
    assert k["dpo"] == pytest.approx(63_363 / 214_137 * 365) and round(k["dpo"], 1) == 108.0
    assert k["ccc"] == pytest.approx(k["dio"] + k["dso"] - k["dpo"]) and round(k["ccc"], 1) == -70.9
    assert k["inventory_turns"] == pytest.approx(214_137 / 5_638.5) and k["inventory_turns"] == pytest.approx(
        365 / k["dio"])
    ending = working_capital(29_508, 62_611, 6_331, 383_285, 214_137, 365)
    assert round(ending["dso"], 1) == 28.1 and round(ending["dpo"], 1) == 106.7


def test_working_capital_guards_zero_flows():
    k = working_capital(100, 50, 80, revenue=0, cogs=0, days=7)
    assert all(math.isnan(k[x]) for x in ("dso", "dio", "dpo", "ccc"))
    assert k["inventory_turns"] == 0.0  # nothing sold: the stock did not turn


# ---------------------------------------------------------------- margin, targets, exceptions


def test_gross_margin_by_line_totals_tie_out():
    shipped = pd.DataFrame({"week": ["2026-W47", "2026-W47", "2026-W46"], "product_line": ["A", "B", "A"],
                            "revenue": [100.0, 300.0, 50.0], "cogs": [60.0, 150.0, 45.0]})
    gm = gross_margin_by_line(shipped, {"week": ["2026-W47"], "13w": ["2026-W46", "2026-W47"]})
    w = gm[gm.period == "week"].set_index("product_line")
    assert w.loc["A", "gross_margin_pct"] == pytest.approx(0.4) and w.loc["B", "gross_margin_pct"] == 0.5
    assert w.loc["Total", "gross_margin"] == w.loc[["A", "B"], "gross_margin"].sum() == 190.0
    t = gm[gm.period == "13w"].set_index("product_line")
    assert t.loc["A", "revenue"] == 150.0 and t.loc["Total", "gross_margin_pct"] == pytest.approx(195 / 450)


def test_status_direction_and_scorecard():
    assert kpi_status(50, 45, "lower") == "missed" and kpi_status(44, 45, "lower") == "met"
    assert kpi_status(46, 45, "higher") == "met" and kpi_status(float("nan"), 45, "higher") == "n/a"
    targets = KpiParams().targets
    card = scorecard({"week": {"dso": 50.0, "dpo": 50.0}, "13w": {"dso": 40.0}}, targets).set_index("kpi")
    assert card.loc["dso", "status_week"] == "missed" and card.loc["dso", "status_13w"] == "met"
    assert card.loc["dpo", "status_week"] == "met" and card.loc["dso", "gap_13w"] == -5.0
    assert card.loc["otif", "status_quarter"] == "n/a"


def test_kpi_exceptions_translate_gaps_into_dollars():
    targets = KpiParams().targets  # dso 45, dio 60, dpo 45, otif 0.95, gm 0.40
    card = scorecard({"13w": {"dso": 50.0, "dio": 55.0, "dpo": 40.0, "otif_value": 0.90}}, targets)
    ctx = {"13w": {"days": 91.0, "revenue": 910.0, "cogs": 455.0, "value_due": 1000.0}}
    gm = pd.DataFrame({"period": ["13w", "13w", "13w"], "product_line": ["A", "B", "Total"],
                       "revenue": [1000.0, 500.0, 1500.0], "gross_margin_pct": [0.30, 0.45, 0.35]})
    exc = kpi_exceptions(card, ctx, gm, {"B": 0.50}, 0.40, symbol="$").set_index("exception_id")
    assert exc.loc["kpi:dso", "dollars_at_stake"] == pytest.approx(5 * 10)        # 5 days x $10 a day
    assert exc.loc["kpi:dpo", "dollars_at_stake"] == pytest.approx(5 * 5)         # 5 days early x $5 COGS a day
    assert exc.loc["kpi:otif_value", "dollars_at_stake"] == pytest.approx(50.0)   # 5 points x $1,000 due
    assert exc.loc["kpi:gross_margin_pct:A", "dollars_at_stake"] == pytest.approx(100.0)
    assert exc.loc["kpi:gross_margin_pct:B", "dollars_at_stake"] == pytest.approx(25.0)  # 0.50 target for B
    assert "kpi:dio" not in exc.index  # 55 days beats the 60-day target
    assert "$50" in exc.loc["kpi:dso", "sentence"]


# ---------------------------------------------------------------- the week, and its history in the store


def _tiny_company():
    products = pd.DataFrame({"sku": ["A"], "product_line": ["Line"], "unit_cost": [6.0], "list_price": [10.0]})
    customers = pd.DataFrame({"customer_id": ["C1"], "name": ["Cust"], "region": ["R"]})
    orders = _orders([("O1", 10, 10, "2026-11-18"), ("O2", 10, 10, "2026-11-10")])
    ships = _ships([("O1", "2026-11-18", 10), ("O2", "2026-11-12", 5)])
    invoices = pd.DataFrame({"invoice_id": ["I1", "I2"], "invoice_date": [D("2026-11-12"), D("2026-11-18")],
                             "amount": [50.0, 100.0], "paid_date": [pd.NaT, pd.NaT],
                             "paid_amount": [np.nan, np.nan]})
    bills = pd.DataFrame({"bill_date": [D("2026-11-01")], "amount": [30.0], "paid_date": [pd.NaT]})
    inventory = pd.DataFrame({"week": ["2026-W46", "2026-W47"], "sku": ["A", "A"], "location": ["X", "X"],
                              "on_hand_qty": [10.0, 5.0], "on_hand_value": [60.0, 30.0]})
    return orders, ships, products, customers, invoices, bills, inventory


def test_execution_kpis_for_a_tiny_company_by_hand():
    settings_ = KpiParams(balance_basis="ending")
    k = execution_kpis(*_tiny_company(), "2026-W47", FiscalCalendar("iso"), settings_, "$")
    assert k.periods["13w"][0] == "2026-W35" and k.periods["quarter"][0] == "2026-W40"
    wk = k.values["week"]
    assert wk["otif"] == 1.0 and k.values["13w"]["otif"] == 0.5       # O2 (due W46) was short
    assert k.values["13w"]["otif_value"] == 0.5
    # week: invoiced 100, COGS 10 x 6 = 60, ending AR 150, AP 30, inventory 30, 7 days
    assert wk["dso"] == pytest.approx(150 / 100 * 7) and wk["dio"] == pytest.approx(30 / 60 * 7)
    assert wk["dpo"] == pytest.approx(30 / 60 * 7) and wk["ccc"] == pytest.approx(wk["dio"] + wk["dso"] - wk["dpo"])
    assert wk["gross_margin_pct"] == pytest.approx(0.4)
    assert len(k.trend) == settings_.trend_weeks and k.trend["week"].iloc[-1] == "2026-W47"
    assert set(k.card["kpi"]) >= {"otif", "dso", "dio", "dpo", "ccc", "inventory_turns", "gross_margin_pct"}


def test_history_replaces_only_the_run_week(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    k = execution_kpis(*_tiny_company(), "2026-W47", FiscalCalendar("iso"), KpiParams(), "$")
    n = write_kpis(store, k, "run1")
    assert n == len(history_rows(k)) and n > 30
    k46 = types.SimpleNamespace(**{**k.__dict__, "week": "2026-W46"})
    write_kpis(store, k46, "run0")
    write_kpis(store, k, "run2")  # a re-run of W47
    h = read_kpis(store, ["2026-W46", "2026-W47"])
    assert set(h.groupby("week")["run_id"].unique().map(tuple)) == {("run0",), ("run2",)}
    assert len(h) == 2 * n
    otif = h[(h.week == "2026-W47") & (h.kpi == "otif") & (h.period == "week")].iloc[0]
    assert otif.value == 1.0 and otif.status == "met"


def test_kpi_periods_use_the_fiscal_calendar():
    p = kpi_periods("2026-W47", FiscalCalendar("4-4-5"))
    assert p["week"] == ["2026-W47"] and len(p["13w"]) == 13 and p["quarter"][0] == "2026-W40"
    assert kpi_periods("2026-W02", FiscalCalendar("iso"))["13w"][0] == "2025-W42"




@pytest.mark.e2e
def test_weekly_run_records_kpis_and_their_history(pack_run, pack_env):
    import re

    run_dir, results = notebook_run(pack_run, "execution_kpis")
    rec = results["execution_kpis"]
    for kpi in ("otif", "otif_value", "on_time", "in_full", "in_full_value", "dso", "dio", "dpo", "ccc",
                "inventory_turns", "gross_margin_pct"):
        assert set(rec[kpi]) == {"week", "13w", "quarter"}, kpi
        assert rec["status"][kpi]["13w"] in ("met", "missed", "n/a")
    assert rec["ccc"]["13w"] == pytest.approx(rec["dio"]["13w"] + rec["dso"]["13w"] - rec["dpo"]["13w"])
    assert 0 < rec["otif"]["13w"] <= 1 and rec["gross_margin_by_line"]
    assert (run_dir / "kpi_exceptions.csv").exists() and (run_dir / "otif_lines.csv").exists()
    html = re.sub(r"<(style|script).*?</\1>", "", (run_dir / "execution_kpis.html").read_text(), flags=re.S)
    assert "Traceback" not in html and "from soe_helpers" not in html and html.count("<img") >= 2
    store = Store(f"sqlite:///{pack_env['SOE_OUTPUTS']}/soe_store.sqlite")
    h = read_kpis(store, ["2026-W47"])
    assert len(h) > 30 and h[(h.kpi == "otif") & (h.period == "13w")]["value"].iloc[0] == pytest.approx(
        rec["otif"]["13w"])


def test_a_week_that_breaks_from_its_trend_is_flagged_even_when_13_weeks_look_fine():
    from soe_helpers.analysis.kpis import kpi_light, week_break

    hist = [0.90, 0.91, 0.89, 0.90, 0.92, 0.90, 0.91, 0.89, 0.90, 0.91, 0.90, 0.89, 0.90]
    assert week_break(0.543, hist, 0.95) and not week_break(0.88, hist, 0.95)
    assert not week_break(0.5, hist[:3], 0.95)                  # too little history to call a break
    assert kpi_light("met", "met", False) == "green"
    assert kpi_light("met", "missed", False) == "amber"         # improving: this week meets the target
    assert kpi_light("missed", "met", True) == "red"            # the week broke down though 13 weeks look fine
    assert kpi_light("missed", "met", False) == "amber" and kpi_light("n/a", "n/a", False) == "grey"


def test_contradicting_margin_targets_are_flagged():
    from soe_helpers.analysis.kpis import target_conflicts

    gm = pd.DataFrame({"period": ["13w", "13w", "13w"], "product_line": ["A", "B", "Total"],
                       "revenue": [300.0, 100.0, 400.0], "target": [0.35, 0.45, 0.40]})
    # weighted: (0.35 x 300 + 0.45 x 100) / 400 = 37.5% against a 40% company target
    [msg] = target_conflicts(gm, 0.40)
    assert "37.5%" in msg and "40.0%" in msg
    assert target_conflicts(gm, 0.375) == []


# ---------------------------------------------------------------- the trend as each week recorded it


def test_trend_length_reaches_back_to_the_stores_earliest_week_within_the_cap():
    from soe_helpers.analysis.kpis import trend_length
    s = KpiParams(trend_weeks=13, history_weeks=52)
    assert trend_length("2026-W47", [], s) == 13
    assert trend_length("2026-W47", ["2026-W45", "2026-W46"], s) == 13          # inside the 13 weeks
    assert trend_length("2026-W47", ["2026-W20", "2026-W46"], s) == 28          # W20..W47
    assert trend_length("2026-W47", ["2025-W01", "2026-W10"], s) == 38          # W01 2025 is past 52 weeks
    assert trend_length("2026-W47", ["2025-W48"], s) == 52 and trend_length("2026-W47", ["2027-W01"], s) == 13
    assert trend_length("2026-W47", ["2025-W40"], KpiParams(trend_weeks=13, history_weeks=60)) == 60


def test_trend_as_recorded_draws_the_stores_values_and_computes_the_weeks_it_lacks():
    from soe_helpers.analysis.kpis import TREND_SERIES, trend_as_recorded, trend_caption
    trend = pd.DataFrame({"week": ["2026-W45", "2026-W46", "2026-W47"], "otif": [0.90, 0.80, 0.70],
                          "otif_value": [0.91, 0.81, 0.71], "dso": [40.0, 41.0, 42.0], "dio": [60.0] * 3,
                          "dpo": [30.0] * 3, "ccc": [70.0, 71.0, 72.0], "gross_margin_pct": [0.4] * 3})
    rows = [("2026-W46", "otif", "week", 0.85), ("2026-W46", "otif", "13w", 0.5), ("2026-W46", "dso", "13w", 41.0),
            ("2026-W46", "ccc", "13w", None), ("2026-W47", "otif", "week", 0.70), ("2026-W47", "dso", "13w", 42.0)]
    hist = pd.DataFrame([{"week": w, "kpi": k, "period": p, "value": v, "target": 0.0, "status": "", "run_id": "r"}
                         for w, k, p, v in rows])
    t = trend_as_recorded(trend, hist)
    assert t["recorded"].tolist() == [False, True, True]
    assert t["otif"].tolist() == [0.90, 0.85, 0.70]          # W46 as recorded (the week period, not 13w)
    assert t["otif_now"].tolist() == [0.90, 0.80, 0.70]
    assert t["dso"].tolist() == [40.0, 41.0, 42.0]
    assert t.loc[0, "ccc"] == 70.0 and math.isnan(t.loc[1, "ccc"])  # recorded "not measured" stays a gap
    assert math.isnan(t.loc[2, "otif_value"])                      # the store holds W47 without it
    assert {k for k, _ in TREND_SERIES} <= set(t.columns)
    from soe_helpers.core.params import KpiTargets
    cap = trend_caption(t, KpiTargets())
    assert cap[0] == ("Filled markers on solid lines: the value each week's run recorded in the store (2 of 3 weeks). "
                      "Hollow markers on dashed lines: computed from today's data for the weeks the store does not "
                      "hold (2026-W45).")
    assert "target 95%" in cap[1] and "target 60 days" in cap[1] and "target 40%" in cap[1]
    assert cap[2] == ("Today's data restates 1 recorded value: OTIF (share of lines) in 2026-W46 "
                      "(recorded 85.0%, now 80.0%).")
    none = trend_caption(trend_as_recorded(trend, hist.iloc[:0]), KpiTargets())
    assert none[0].startswith("The store holds none of these 3 weeks yet") and len(none) == 2


def test_a_longer_trend_changes_no_other_figure():
    base = execution_kpis(*_tiny_company(), "2026-W47", FiscalCalendar("iso"), KpiParams(), "$")
    long = execution_kpis(*_tiny_company(), "2026-W47", FiscalCalendar("iso"), KpiParams(), "$", trend_weeks=30)
    assert len(long.trend) == 30 and long.trend["week"].iloc[0] == "2026-W18"
    pd.testing.assert_frame_equal(long.trend.tail(13).reset_index(drop=True), base.trend)
    pd.testing.assert_frame_equal(long.card, base.card)
    pd.testing.assert_frame_equal(long.lines, base.lines)
    assert long.values == base.values
    short = execution_kpis(*_tiny_company(), "2026-W47", FiscalCalendar("iso"), KpiParams(), "$", trend_weeks=5)
    assert len(short.trend) == 13  # never shorter than params.kpis.trend_weeks


def test_kpi_weeks_held_reads_the_weeks_the_store_holds(tmp_path):
    from soe_helpers.store.history import kpi_weeks_held
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    k = execution_kpis(*_tiny_company(), "2026-W47", FiscalCalendar("iso"), KpiParams(), "$")
    for w in ("2025-W30", "2026-W20", "2026-W46"):
        write_kpis(store, types.SimpleNamespace(**{**k.__dict__, "week": w}), f"run-{w}")
    assert kpi_weeks_held(store, "2026-W47", KpiParams()) == ["2026-W20", "2026-W46"]  # W30 2025: over 52 weeks
    assert kpi_weeks_held(store, "2026-W47", KpiParams(history_weeks=13)) == ["2026-W46"]
