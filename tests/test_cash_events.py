"""Every impact rule, the article's worked cases, detection, scenarios and the bridges, on the hand-made company
of test_cash_forecast (run week 2026-W47, forecast 2026-W48 .. 2027-W07, P&L quarter 2026-Q4 = W40..W53)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soe_helpers.analysis import cash
from soe_helpers.report import records
from soe_helpers.core.calendar import FiscalCalendar
from soe_helpers.analysis.cash_events import (ScenarioError, apply_scenario, apply_spikes, detect_demand_spikes,
                                     detect_orders_at_risk, detect_production_delays, detect_supplier_delays,
                                     event_sentence, group_small_lines,
                                     measure, measure_events, pnl_window, without_events)
from soe_helpers.analysis.cash_forecast import Assumptions, build_inputs, project
from soe_helpers.core.params import (CashParams, DemandSpikeScenario, ProductionDelayScenario, SupplierDelayScenario,
                                VendorSwitchScenario, load_params)
from test_cash_forecast import NO_CARRY, WEEK, WEEKS, T, order, world

CAL = FiscalCalendar("iso")
Q_WEEKS = pnl_window(CAL, WEEKS[0])[3]


def _scenario(kind, **kw):
    cls = {"supplier_delay": SupplierDelayScenario, "demand_spike": DemandSpikeScenario,
           "production_delay": ProductionDelayScenario, "vendor_switch": VendorSwitchScenario}[kind]
    return cls(kind=kind, name=kw.pop("name", kind), **kw)


def _params(**cash_kw):
    base = {"carrying_cost_rate": 0.0, "target_cover_weeks": 0.0, "min_cash": 0.0}
    return load_params().model_copy(update={"cash": CashParams.model_validate({**base, **cash_kw})})


def _flow(proj, ref, flow="Open orders"):
    f = proj.flows
    return f[(f["ref"] == ref) & (f["flow"] == flow)]


# ---------------------------------------------------------------- the article's worked cases


def test_article_two_week_production_delay_on_500k_order_costs_15k_and_delays_receipts_14_days():
    # "a 2-week production delay on a $500K order triggers $15K in expedited shipping costs and delays
    #  $500K in cash receipts by 14 days": 2,000 x $250, promised 20 Nov, rescheduled by the ERP to 4 Dec
    w = world(orders=[order("SO-1", "A", 2000, 250, "2026-11-20", scheduled="2026-12-04")])
    inp = build_inputs(w, WEEK, NO_CARRY)
    events = detect_production_delays(inp)
    assert [e.event_id for e in events] == ["production_delay:SO-1/1"] and events[0].facts["days"] == 14
    full = project(inp)
    imp = measure_events(inp, full, events, Q_WEEKS)["production_delay:SO-1/1"]
    assert imp.pnl["expedite"] == -15_000.0 and imp.pnl_impact_quarter == -15_000.0   # same quarter: no revenue lost
    assert imp.cash_impact_13w == pytest.approx(-15_000.0)
    assert imp.receipts_delayed == 500_000.0 and imp.moved["days"].tolist() == [14]
    with_ = _flow(full, "SO-1/1")
    without = _flow(project(without_events(inp, events)), "SO-1/1")
    assert with_["amount"].tolist() == without["amount"].tolist() == [500_000.0]
    assert (with_["date"].iloc[0] - without["date"].iloc[0]).days == 14
    exp = _flow(full, "SO-1/1", "Expedite freight")
    assert exp["date"].tolist() == [T("2026-12-04")] and exp["amount"].tolist() == [-15_000.0]  # paid when incurred
    # the customer by name beside its id, never a bare id
    c1 = w["customers"].set_index("customer_id").loc[events[0].customer_id, "name"]
    assert event_sentence(events[0], imp, sym="$").startswith(
        f"Order SO-1/1 for {c1} ({events[0].customer_id}) ($500K of A) is scheduled to ship")


def test_article_production_delay_as_a_scenario_with_given_expedite_cost():
    w = world(orders=[order("SO-1", "A", 2000, 250, "2026-12-01")])
    inp = build_inputs(w, WEEK, NO_CARRY)
    sc = _scenario("production_delay", order_id="SO-1", days=14, expedite_cost=15_000)
    inp2, ev, warns = apply_scenario(inp, sc)
    assert not warns and ev.skus == ("A",)
    imp = measure(inp2, inp, ev.skus, Q_WEEKS)
    assert imp.pnl_impact_quarter == -15_000.0 and imp.cash_impact_13w == pytest.approx(-15_000.0)
    assert imp.receipts_delayed == 500_000.0 and imp.moved["days"].tolist() == [14]
    rec = imp.weekly.set_index("week")["receipts"]
    assert rec["2026-W53"] == -500_000.0 and rec["2027-W02"] == 500_000.0   # 31 Dec -> 14 Jan (+30 days to pay)


def test_article_ten_percent_spike_worth_200k_of_revenue_costs_150k_of_cogs():
    # P sells at $100 and costs $75; 10,000 units a week are forecast in W48 and W49 ($2M)
    w = world(forecast={"P": {WEEKS[0]: 10_000.0, WEEKS[1]: 10_000.0}})
    inp = build_inputs(w, WEEK, Assumptions(carrying_cost_rate=0.0, target_cover_weeks=0.0, order_to_ship_days=0))
    inp2, ev, _ = apply_scenario(inp, _scenario("demand_spike", sku="P", pct=0.10, weeks=2))
    assert ev.facts["extra_value"] == pytest.approx(200_000.0)
    imp = measure(inp2, inp, ev.skus, Q_WEEKS)
    assert imp.pnl["revenue"] == pytest.approx(200_000.0)
    assert imp.pnl["cogs"] == pytest.approx(-150_000.0)
    assert imp.pnl_impact_quarter == pytest.approx(50_000.0)


def test_article_vendor_switch_at_30k_against_a_two_week_revenue_slip_side_by_side():
    # B: $1,000 a unit, $500 cost, no stock. 100 on order from S2 (promised 14 Dec, now expected 28 Dec),
    # for customer order SO-2 (100 x $1,000, promised 16 Dec). Q4 ends Sunday 3 Jan 2027.
    w = world(orders=[order("SO-2", "B", 100, 1000, "2026-12-16")],
              pos=[("P1", 1, "S2", "B", T("2026-11-01"), T("2026-12-14"), T("2026-12-28"), 100.0, 500.0, pd.NaT, np.nan)],
              stock={"A": 0.0, "B": 0.0, "P": 0.0})
    label = "S2 is late: accept or switch?"
    p = _params(expedite_freight_pct=0.0, scenarios=[
        {"kind": "supplier_delay", "name": "Accept a 2-week slip", "supplier_id": "S2", "days": 14, "decision": label},
        {"kind": "vendor_switch", "name": "Switch vendor", "supplier_id": "S2", "one_off_cost": 30_000,
         "combine": False, "decision": label}])
    ci = cash.cash_week(w, WEEK, p, CAL)
    t = cash.decision_table(ci)[label].set_index("option")
    assert list(t.index) == ["Baseline (no action)", "Accept a 2-week slip", "Switch vendor"]
    # accept: SO-2 ships 11 Jan (Q1) instead of 28 Dec: $100K of revenue and $50K of COGS leave the quarter;
    # its receipt moves from 27 Jan to 10 Feb, still inside the 13 weeks; the PO is paid after the horizon either way
    assert t.loc["Accept a 2-week slip", "pnl_impact_quarter"] == pytest.approx(-50_000.0)
    assert t.loc["Accept a 2-week slip", "revenue_in_quarter"] == pytest.approx(-100_000.0)
    assert t.loc["Accept a 2-week slip", "cash_impact_13w"] == pytest.approx(0.0)
    # switch: $30K, the goods arrive as promised (14 Dec) and SO-2 ships on its promise (16 Dec), in the
    # quarter either way; the PO is now paid 12 Feb, inside the horizon: cash -$30K - $50K
    assert t.loc["Switch vendor", "pnl_impact_quarter"] == pytest.approx(-30_000.0)
    assert t.loc["Switch vendor", "one_off_costs"] == 30_000.0
    assert t.loc["Switch vendor", "cash_impact_13w"] == pytest.approx(-80_000.0)
    assert t.loc["Switch vendor", "week13_closing"] == pytest.approx(t.loc["Baseline (no action)", "week13_closing"] - 80_000)
    s = cash.decision_sentence(label, t.reset_index(), sym="$")
    assert "'Switch vendor' is best for this quarter's P&L by $20K" in s and "'Accept a 2-week slip' leaves more cash" in s
    # the switch is an alternative, not an extra disruption: "all scenarios" is the slip alone
    assert ci.summary[cash.ALL_SCENARIOS]["week13_closing"] == ci.summary["Accept a 2-week slip"]["week13_closing"]


# ---------------------------------------------------------------- impact rules


def test_penalty_per_week_begun_capped_and_deducted_from_the_receipt():
    w = world(orders=[order("O1", "A", 2000, 250, "2026-11-20", scheduled="2026-12-04", customer="C2"),
                      order("O2", "A", 100, 250, "2026-11-20", scheduled="2027-02-01", customer="C2"),
                      order("O3", "A", 100, 250, "2026-11-20", scheduled="2026-11-30", customer="C2")])
    sh = project(build_inputs(w, WEEK, NO_CARRY)).shipments.set_index("ref")
    assert sh.loc["O1/1", "penalty"] == pytest.approx(500_000 * 0.03)     # 14 days: 2 weeks x 1.5% = $15K
    assert sh.loc["O2/1", "penalty"] == pytest.approx(25_000 * 0.075)     # 73 days: 11 weeks, capped at 7.5%
    assert sh.loc["O3/1", "penalty"] == pytest.approx(25_000 * 0.03)      # 10 days: 2 weeks begun ...
    exact = project(build_inputs(w, WEEK, Assumptions(carrying_cost_rate=0, penalty_rounding="exact",
                                                      penalty_grace_days=3))).shipments.set_index("ref")
    assert exact.loc["O3/1", "penalty"] == pytest.approx(25_000 * 0.015 * 7 / 7)   # ... or (10 - 3) / 7 weeks exact
    assert exact.loc["O1/1", "penalty"] == pytest.approx(500_000 * 0.015 * 11 / 7)


def test_expedite_only_from_the_threshold_and_overtime_only_on_production_delays():
    a = Assumptions(carrying_cost_rate=0.0, target_cover_weeks=0.0, overtime_pct=0.01, expedite_min_days_late=7)
    w = world(orders=[order("O1", "A", 100, 250, "2026-11-25", scheduled="2026-12-01"),     # 6 days: no expedite
                      order("O2", "A", 100, 250, "2026-11-25", scheduled="2026-12-02")])    # 7 days: expedite
    sh = project(build_inputs(w, WEEK, a)).shipments.set_index("ref")
    assert sh.loc["O1/1", "expedite"] == 0 and sh.loc["O2/1", "expedite"] == pytest.approx(0.03 * 25_000)
    assert sh.loc["O1/1", "overtime"] == pytest.approx(0.01 * 25_000) and sh.loc["O2/1", "overtime"] == pytest.approx(250)


def test_carrying_cost_on_the_stock_held_longer():
    w = world(orders=[order("SO-1", "A", 2000, 250, "2026-11-20", scheduled="2026-12-04")])
    inp = build_inputs(w, WEEK, Assumptions(carrying_cost_rate=0.25, target_cover_weeks=0.0))
    ev = detect_production_delays(inp)
    imp = measure_events(inp, project(inp), ev, Q_WEEKS)[ev[0].event_id]
    # as promised the 2,000 units ($300K at cost) would have left before the first week's end; delayed, they
    # are still in stock at the end of W48 (one week-end): 25% a year for 7 days of $300K
    assert imp.pnl["carrying"] == pytest.approx(-0.25 * 7 / 365 * 2000 * 150)
    assert imp.pnl_impact_quarter == pytest.approx(-15_000 - 0.25 * 7 / 365 * 300_000)
    assert imp.cash_impact_13w == pytest.approx(-15_000.0)                     # carrying is not a cash flow


def test_late_supplier_starves_the_orders_behind_it_and_moves_its_payments():
    w = world(orders=[order("O1", "B", 10, 1000, "2026-11-30")],
              pos=[("P1", 1, "S2", "B", T("2026-10-01"), T("2026-11-27"), T("2026-12-11"), 10.0, 500.0, pd.NaT, np.nan),
                   ("P2", 1, "S1", "A", T("2026-10-01"), T("2026-11-27"), T("2026-11-29"), 10.0, 150.0, pd.NaT, np.nan)],
              stock={"A": 0.0, "B": 0.0, "P": 0.0})
    inp = build_inputs(w, WEEK, NO_CARRY)
    sups = detect_supplier_delays(inp, min_days=3, suppliers=w["suppliers"])
    assert [e.event_id for e in sups] == ["supplier_delay:S2"]                    # S1's 2 days: under the threshold
    f = sups[0].facts
    assert f["lines"] == 1 and f["po_value"] == 5000.0 and f["max_days"] == 14 and f["name"] == "Sup Two"
    full = project(inp)
    imp = measure_events(inp, full, sups, Q_WEEKS)["supplier_delay:S2"]
    assert imp.receipts_delayed == 10_000.0                                        # O1 waits 30 Nov -> 11 Dec
    assert imp.exposure == 10_000.0 and sups[0].facts["exposed_lines"] == 1
    assert imp.pnl["expedite"] == pytest.approx(-300.0)                            # 11 days late: 3% of $10K
    pay = imp.weekly.set_index("week")["payments"]
    assert pay["2027-W04"] == -5000.0 and pay["2027-W06"] == 5000.0                # paid 25 Jan -> 8 Feb (60 days)
    assert event_sentence(sups[0], imp, sym="$").startswith("Supplier Sup Two (S2) is late on 1 open PO line(s)")
    # the starved order is the supplier's, not a separate "at risk" event
    assert detect_orders_at_risk(inp, project(without_events(inp, sups))) == []


def test_orders_at_risk_when_stock_is_short_and_their_counterfactual():
    w = world(orders=[order("O1", "B", 10, 1000, "2026-11-30"), order("O2", "B", 5, 1000, "2026-12-21")],
              stock={"A": 0.0, "B": 4.0, "P": 0.0})
    inp = build_inputs(w, WEEK, NO_CARRY)
    full = project(inp)
    risks = detect_orders_at_risk(inp, full)
    # 4 in stock; S2's 28-day lead time: new goods from Monday 21 Dec, when O1 (due 30 Nov) ships 21 days late
    assert [e.event_id for e in risks] == ["order_at_risk:O1/1"]
    assert risks[0].facts["days"] == 21 and risks[0].facts["projected_ship"] == T("2026-12-21")
    imp = measure_events(inp, full, risks, Q_WEEKS)["order_at_risk:O1/1"]
    assert imp.receipts_delayed == 10_000.0 and imp.moved["ref"].tolist() == ["O1/1"]   # nothing else moves
    assert imp.pnl["expedite"] == pytest.approx(-300.0)


def test_demand_spike_detection_and_continuation():
    rows, fc = [], []
    for i, wk in enumerate(["2026-W44", "2026-W45", "2026-W46", "2026-W47"]):
        d = pd.Timestamp.fromisocalendar(2026, 44 + i, 2)
        rows += [(f"S{i}", 1, d, "C1", "P", 130.0, 100.0, d, d, pd.NaT, "closed"),
                 (f"Q{i}", 1, d, "C1", "A", 110.0 if i != 2 else 130.0, 250.0, d, d, pd.NaT, "closed")]
        fc += [(f"2026-W{43 + i}", wk, "P", 100.0), (f"2026-W{43 + i}", wk, "A", 100.0)]
    orders = pd.DataFrame(rows, columns=["order_id", "line", "order_date", "customer_id", "sku", "quantity", "unit_price",
                                         "requested_date", "promised_date", "scheduled_date", "status"])
    forecasts = pd.DataFrame(fc, columns=["snapshot_week", "target_week", "sku", "quantity"])
    products = world()["products"]
    ev = detect_demand_spikes(orders, forecasts, products, WEEK, WEEKS, lookback_weeks=4, min_weeks=4, min_pct=0.2,
                              min_value=1000.0, persist_weeks=3)
    assert [e.event_id for e in ev] == ["demand_spike:P"]                         # A was above in one week only
    f = ev[0].facts
    assert f["ratio"] == pytest.approx(1.3) and f["excess_units"] == 120 and f["excess_value"] == pytest.approx(12_000)
    assert f["continue_weeks"] == WEEKS[:3]
    assert detect_demand_spikes(orders, forecasts, products, WEEK, WEEKS, min_value=20_000.0) == []   # not material
    inp = build_inputs(world(forecast={"P": {w: 100.0 for w in WEEKS}}), WEEK, NO_CARRY)
    d = apply_spikes(inp, ev).demand
    by_week = d[d["sku"] == "P"].groupby("week")["qty"].sum()
    assert by_week[WEEKS[0]] == pytest.approx(130.0) and by_week[WEEKS[3]] == pytest.approx(100.0)
    back = without_events(inp.with_(demand=d), ev).demand
    assert back[back["sku"] == "P"]["qty"].sum() == pytest.approx(1300.0)


# ---------------------------------------------------------------- scenarios


def _busy_world():
    return world(orders=[order("O1", "B", 10, 1000, "2026-12-02"), order("O2", "A", 50, 250, "2026-12-09", customer="C2")],
                 pos=[("P1", 1, "S2", "B", T("2026-10-01"), T("2026-11-30"), T("2026-11-30"), 10.0, 500.0, pd.NaT, np.nan)],
                 forecast={"A": {w: 20.0 for w in WEEKS}, "P": {w: 300.0 for w in WEEKS}},
                 stock={"A": 100.0, "B": 0.0, "P": 1000.0})


@pytest.mark.parametrize("sc", [
    _scenario("supplier_delay", supplier_id="S2", days=0),
    _scenario("demand_spike", sku="P", pct=0.0, weeks=6),
    _scenario("demand_spike", product_line="L1", pct=0.5, weeks=0),
    _scenario("production_delay", order_id="O1", days=0),
    _scenario("vendor_switch", supplier_id="S2", one_off_cost=0.0, days_to_switch=0),
], ids=lambda s: s.kind)
def test_zero_size_scenarios_equal_the_baseline(sc):
    p = _params(carrying_cost_rate=0.25, target_cover_weeks=None, scenarios=[sc.model_dump()])
    ci = cash.cash_week(_busy_world(), WEEK, p, CAL)
    base = ci.line(cash.BASELINE)
    line = ci.line(sc.name)
    assert line[["opening_cash", "receipts", "payments", "closing_cash"]].equals(
        base[["opening_cash", "receipts", "payments", "closing_cash"]])
    imp = ci.scenario_impacts[sc.name]
    assert imp.pnl_impact_quarter == pytest.approx(0.0, abs=1e-6) and imp.cash_impact_13w == pytest.approx(0.0, abs=1e-6)


def test_scenarios_name_what_the_data_has():
    inp = build_inputs(_busy_world(), WEEK, NO_CARRY)
    known = {"supplier_id": {"S1", "S2"}, "sku": {"A", "B", "P"}, "order_id": {"O1", "O2"}, "po_id": {"P1"},
             "product_line": {"L1", "L2"}}
    with pytest.raises(ScenarioError, match="supplier_id 'S-999' is not in the data"):
        apply_scenario(inp, _scenario("supplier_delay", supplier_id="S-999", days=3), known)
    _, _, warns = apply_scenario(inp, _scenario("supplier_delay", supplier_id="S1", days=3), known)
    assert warns and "no open purchase order lines for supplier_id S1" in warns[0]
    _, ev, warns = apply_scenario(inp, _scenario("demand_spike", product_line="L1", pct=0.1, weeks=2), known)
    assert not warns and ev.skus == ("A", "P")


def test_scenario_params_are_validated():
    with pytest.raises(ValueError, match="exactly one of supplier_id or po_id"):
        CashParams.model_validate({"scenarios": [{"kind": "supplier_delay", "name": "x", "days": 3}]})
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        CashParams.model_validate({"scenarios": [{"kind": "flood", "name": "x"}]})
    with pytest.raises(ValueError, match="unique"):
        CashParams.model_validate({"scenarios": [{"kind": "production_delay", "name": "x", "order_id": "O", "days": 1}] * 2})
    with pytest.raises(ValueError, match="reserved"):
        CashParams.model_validate({"scenarios": [{"kind": "production_delay", "name": "Baseline", "order_id": "O", "days": 1}]})
    with pytest.raises(ValueError, match="not an ISO week"):
        CashParams.model_validate({"scenarios": [{"kind": "demand_spike", "name": "x", "sku": "A", "pct": 0.1, "weeks": 2,
                                                  "start_week": "2026-47"}]})


# ---------------------------------------------------------------- bridges


@settings(max_examples=100, deadline=None)
@given(st.floats(-1e9, 1e9, allow_nan=False),
       st.lists(st.tuples(st.text(min_size=1, max_size=5), st.floats(-1e8, 1e8, allow_nan=False)), max_size=12),
       st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False)))
def test_bridge_steps_always_close_to_the_cent(start, steps, end):
    b = cash.bridge_steps(start, steps, end, "From", "To")
    assert cash.close_check(b)
    assert b["kind"].tolist()[0] == "total" and b["kind"].tolist()[-1] == "total"
    if end is not None:
        assert b["amount"].iloc[-1] == round(end, 2)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.builds(lambda d: {"kind": "supplier_delay", "supplier_id": "S2", "days": d}, st.integers(0, 40)),
    st.builds(lambda p, n: {"kind": "demand_spike", "sku": "P", "pct": p, "weeks": n}, st.floats(-0.9, 2.0), st.integers(0, 13)),
    st.builds(lambda d: {"kind": "production_delay", "order_id": "O2", "days": d}, st.integers(0, 60)),
    st.builds(lambda c, d: {"kind": "vendor_switch", "supplier_id": "S2", "one_off_cost": c, "days_to_switch": d},
              st.floats(0, 1e5), st.integers(0, 30))), min_size=1, max_size=3))
def test_scenario_bridge_closes_and_lines_close_for_any_scenarios(specs):
    scen = [{**s, "name": f"s{i}"} for i, s in enumerate(specs)]
    ci = cash.cash_week(_busy_world(), WEEK, _params(carrying_cost_rate=0.25, target_cover_weeks=None, scenarios=scen), CAL)
    assert cash.close_check(ci.scenario_bridge) and cash.close_check(ci.detected_bridge)
    assert cash.forecast_closes(ci.weekly)
    b = ci.scenario_bridge
    assert b["amount"].iloc[-1] == ci.summary[cash.ALL_SCENARIOS]["week13_closing"]
    assert b["amount"].iloc[0] == ci.summary[cash.BASELINE]["week13_closing"]
    assert "Other" not in set(b["step"])                                    # sequential steps close on their own


def test_detected_bridge_goes_from_without_events_to_baseline():
    w = world(orders=[order("SO-1", "A", 2000, 250, "2026-11-20", scheduled="2026-12-04"),
                      order("O1", "B", 10, 1000, "2026-11-30")],
              pos=[("P1", 1, "S2", "B", T("2026-10-01"), T("2026-11-27"), T("2026-12-11"), 10.0, 500.0, pd.NaT, np.nan)],
              stock={"A": 5000.0, "B": 0.0, "P": 0.0})
    ci = cash.cash_week(w, WEEK, _params(), CAL)
    assert set(ci.events["event_id"]) == {"production_delay:SO-1/1", "supplier_delay:S2"}
    b = ci.detected_bridge
    assert cash.close_check(b)
    assert b["amount"].iloc[0] == ci.summary[cash.UNDISRUPTED]["week13_closing"]
    assert b["amount"].iloc[-1] == ci.summary[cash.BASELINE]["week13_closing"]
    assert ci.events["event_id"].iloc[0] == "production_delay:SO-1/1"          # ranked by dollars at stake
    assert ci.events.loc[0, "dollars_at_stake"] == 515_000.0                  # $500K receipts + $15K expedite, at the low point
    rec = records.cash_record(ci, "$")
    assert rec.cash_impact_13w == pytest.approx(b["amount"].iloc[-1] - b["amount"].iloc[0], abs=0.005)
    assert rec.events == 2 and rec.top_events[0].event_id == "production_delay:SO-1/1"


def test_event_ids_are_stable_from_week_to_week():
    w = world(orders=[order("SO-1", "A", 2000, 250, "2026-11-20", scheduled="2026-12-04")],
              pos=[("P1", 1, "S2", "B", T("2026-10-01"), T("2026-11-27"), T("2026-12-11"), 10.0, 500.0, pd.NaT, np.nan)])
    ids = []
    for wk in ("2026-W46", "2026-W47"):
        inp = build_inputs(w, wk, NO_CARRY)
        ids.append({e.event_id for e in detect_production_delays(inp) + detect_supplier_delays(inp)})
    assert ids[0] == ids[1] == {"production_delay:SO-1/1", "supplier_delay:S2"}


def test_a_quiet_week_without_events_or_scenarios():
    ci = cash.cash_week(world(forecast={"A": {w: 5.0 for w in WEEKS}}), WEEK, _params(), CAL)
    assert ci.events.empty and ci.scenarios.empty and cash.decision_table(ci) == {}
    assert ci.line(cash.UNDISRUPTED)["closing_cash"].equals(ci.line(cash.BASELINE)["closing_cash"])
    assert cash.close_check(ci.detected_bridge) and cash.close_check(ci.scenario_bridge)
    rec = records.cash_record(ci, "$")
    assert rec.events == 0 and rec.scenario_week13_closing == {}
    assert "0 disruptions detected" in cash.headline(ci, symbol="$")[1]
    from soe_helpers.report import charts

    assert charts.event_weeks_chart(ci, [], "$") is not None and charts.cash_chart(ci, "$") is not None


def test_store_keeps_events_and_forecasts_week_over_week(tmp_path):
    from soe_helpers.store.engine import Store
    from soe_helpers.store.history import cash_history, save_cash_week

    st = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    w = world(orders=[order("SO-1", "A", 2000, 250, "2026-11-20", scheduled="2026-12-04")])
    p = _params(min_cash=0.0)
    w46, w47 = (cash.cash_week(w, wk, p, CAL) for wk in ("2026-W46", "2026-W47"))
    assert save_cash_week(st, w46, "r46")[0] == 1 and save_cash_week(st, w47, "r47")[0] == 1
    assert save_cash_week(st, w47, "r47b")[0] == 1                  # a re-run replaces its own week only
    seen, moved = cash_history(st, w47)
    row = seen.set_index("event_id").loc["production_delay:SO-1/1"]
    assert row["first_week"] == "2026-W46" and row["weeks_seen"] == 2
    assert set(moved["then_run_week"]) == {"2026-W46"}
    assert moved["forecast_week"].tolist() == WEEKS[:12]             # the weeks both forecasts cover
    assert np.allclose(moved["change"], moved["now"] - moved["then"])


def test_small_late_lines_of_one_sku_are_one_event_measured_together():
    # A: $500 + $1,000 rescheduled (small: under $2,500), $6,000 rescheduled (its own event); P: one small line
    # (stays its own event); stock covers everything, so no line's date moves another's
    w = world(orders=[order("S1", "A", 2, 250, "2026-11-25", scheduled="2026-12-02"),
                      order("S2", "A", 4, 250, "2026-11-25", scheduled="2026-12-09", customer="C2"),
                      order("S3", "A", 24, 250, "2026-11-25", scheduled="2026-12-02"),
                      order("S4", "P", 10, 100, "2026-11-25", scheduled="2026-12-02")],
              stock={"A": 1000.0, "B": 0.0, "P": 1000.0})
    inp = build_inputs(w, WEEK, NO_CARRY)
    lines = detect_production_delays(inp)
    events = group_small_lines(lines, 2500.0)
    ids = [e.event_id for e in events]
    assert ids == ["production_delay:S3/1", "production_delay:S4/1", "production_delay:sku=A"]
    g = events[-1]
    assert g.refs == ("S1/1", "S2/1") and g.sku == "A" and g.product_line == "L1" and g.region == ""   # C1 in R1, C2 in R2
    assert g.facts["lines"] == 2 and g.facts["value"] == 1500.0 and g.facts["customers"] == 2
    assert (g.facts["min_days"], g.facts["max_days"]) == (7, 14)
    full = project(inp)
    together = measure_events(inp, full, events, Q_WEEKS)["production_delay:sku=A"]
    alone = measure_events(inp, full, lines, Q_WEEKS)
    # independent lines: the group's impact is the sum of its lines' impacts
    for field in ("pnl_impact_quarter", "cash_impact_13w", "receipts_delayed"):
        parts = getattr(alone["production_delay:S1/1"], field) + getattr(alone["production_delay:S2/1"], field)
        assert getattr(together, field) == pytest.approx(parts)
    assert together.receipts_delayed == 1500.0
    # 7 and 14 days late: expedite 3% on both (from 7 days); C2's penalty 1.5%/week begun x 2 weeks on $1,000
    assert together.pnl["expedite"] == pytest.approx(-0.03 * 1500) and together.pnl["penalty"] == pytest.approx(-30.0)
    sentence = event_sentence(g, together, sym="$")
    assert sentence.startswith("2 smaller order lines of A (L1; each under $2.5K, $1.5K in all, 2 customer(s)) "
                               "are scheduled to ship 7 to 14 days after their promise")


def test_cash_week_groups_small_lines_from_the_params_threshold():
    w = world(orders=[order("S1", "A", 2, 250, "2026-11-25", scheduled="2026-12-02"),
                      order("S2", "A", 4, 250, "2026-11-25", scheduled="2026-12-09")],
              stock={"A": 1000.0, "B": 0.0, "P": 0.0})
    assert set(cash.cash_week(w, WEEK, _params(), CAL).events["event_id"]) == {"production_delay:sku=A"}  # under $2.5K
    ids = set(cash.cash_week(w, WEEK, _params(line_event_min_value=600.0), CAL).events["event_id"])
    assert ids == {"production_delay:S2/1", "production_delay:S1/1"}      # $500 alone in its SKU stays a line event


def test_no_rescheduled_line_gives_no_production_delay_event():
    # every open line on time: no event, and no phantom "production_delay:nan" rows from an empty frame
    w = world(orders=[order("SO-1", "A", 20, 250, "2026-12-20")])
    inp = build_inputs(w, WEEK, NO_CARRY)
    assert detect_production_delays(inp) == []
    import dataclasses
    assert detect_production_delays(dataclasses.replace(inp, orders=inp.orders.iloc[:0])) == []
