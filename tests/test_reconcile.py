"""Reconciliation sums, materiality, the price/volume/mix bridge and the landing, on paper-checkable frames."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soe_helpers.data.aggregates import from_frames
from soe_helpers.core.calendar import FiscalCalendar
from soe_helpers.core.params import Materiality
from soe_helpers.analysis.reconcile import (bridge_steps, compare, forecast_for_weeks, flag_material, latest_forecast,
                                   pvm_bridge, reconcile_week, variance_sentence)


def test_flag_material_uses_the_one_rule():
    # $5K and 5%: both must hold; a zero plan leaves the absolute test alone
    df = pd.DataFrame({"variance": [6000.0, 6000.0, -5000.0, 4999.0, 7000.0],
                       "plan_revenue": [1_000_000.0, 100_000.0, 100_000.0, 0.0, 0.0]})
    out = flag_material(df, Materiality(), "plan_revenue")
    assert out["material"].tolist() == [False, True, True, False, True], out
    assert "material" not in df.columns  # a copy, the input untouched


def test_compare_outer_join_and_signs():
    actual = pd.DataFrame({"line": ["A", "A", "B"], "units": [1, 2, 5], "revenue": [10.0, 20.0, 50.0]})
    plan = pd.DataFrame({"line": ["A", "C"], "units": [4, 1], "revenue": [40.0, 7.0]})
    out = compare(actual, plan, ["line"]).set_index("line")
    assert out.loc["A", "variance"] == -10.0 and out.loc["A", "variance_pct"] == pytest.approx(-0.25)
    assert out.loc["B", "variance"] == 50.0 and out.loc["B", "variance_pct"] == np.inf
    assert out.loc["C", "variance"] == -7.0 and out.loc["C", "variance_pct"] == -1.0
    assert out["variance"].sum() == actual["revenue"].sum() - plan["revenue"].sum()
    assert list(out.index) == ["B", "A", "C"]  # ranked by |variance|


def test_pvm_bridge_worked_example():
    plan = pd.DataFrame({"sku": ["A", "B"], "units": [100, 100], "revenue": [1000.0, 2000.0]})
    actual = pd.DataFrame({"sku": ["A", "B", "C"], "units": [150, 60, 10], "revenue": [1650.0, 1200.0, 50.0]})
    b = pvm_bridge(actual, plan).set_index("sku")
    assert b["volume"].tolist() == [50.0, 100.0, 0.0]
    assert b["mix"].tolist() == [450.0, -900.0, 0.0]
    assert b["price"].tolist() == [150.0, 0.0, 0.0]
    assert b["unplanned"].tolist() == [0.0, 0.0, 50.0]
    steps = bridge_steps(b.reset_index())
    assert steps["amount"].tolist() == [3000.0, 150.0, -450.0, 150.0, 50.0, 2900.0]
    assert steps.attrs["closes"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.floats(0.5, 900), st.integers(0, 500), st.floats(0.5, 900)),
                min_size=1, max_size=12))
def test_pvm_bridge_always_closes(items):
    plan = pd.DataFrame({"sku": [f"S{i}" for i in range(len(items))], "units": [float(i[0]) for i in items],
                         "revenue": [i[0] * i[1] for i in items]})
    actual = pd.DataFrame({"sku": [f"S{i}" for i in range(len(items))], "units": [float(i[2]) for i in items],
                           "revenue": [i[2] * i[3] for i in items]})
    b = pvm_bridge(actual, plan)
    effects = b[["volume", "mix", "price", "unplanned"]].sum().sum()
    assert b["plan_revenue"].sum() + effects == pytest.approx(b["actual_revenue"].sum(), abs=1e-6)
    # per item too
    per_item = b["plan_revenue"] + b[["volume", "mix", "price", "unplanned"]].sum(axis=1)
    assert np.allclose(per_item, b["actual_revenue"], atol=1e-6)


def test_forecast_lag_selection_falls_back_to_earlier_snapshot():
    f = pd.DataFrame({"snapshot_week": ["2026-W45", "2026-W46", "2026-W45", "2026-W47"],
                      "target_week": ["2026-W47", "2026-W47", "2026-W48", "2026-W48"],
                      "sku": ["A", "A", "A", "A"], "quantity": [10.0, 12.0, 20.0, 99.0]})
    out = forecast_for_weeks(f, ["2026-W47", "2026-W48"], lag=1).set_index("week")
    assert out.loc["2026-W47", "units"] == 12.0  # lag-1 snapshot W46
    assert out.loc["2026-W48", "units"] == 99.0  # lag-1 snapshot W47
    out2 = forecast_for_weeks(f, ["2026-W48"], lag=2).set_index("week")
    assert out2.loc["2026-W48", "units"] == 20.0  # no W46 snapshot for W48 -> W45 (lag 3)
    latest = latest_forecast(f, "2026-W46", ["2026-W47", "2026-W48"])
    assert latest["units"].tolist() == [12.0]


def test_sentence_words_and_sign():
    s = variance_sentence("Controllers", -412_000, -0.142, 2_490_000, 2_902_000, "plan", "quarter-to-date", symbol="$")
    assert s == "Controllers is $412K (14.2%) behind plan quarter-to-date: shipped $2.49M vs $2.90M."
    assert "ahead of" in variance_sentence("X", 10, np.inf, 10, 0, "plan", "in 2026-W47", symbol="$")
    assert "(" not in variance_sentence("X", 10, np.inf, 10, 0, "plan", "in 2026-W47", symbol="$")


def _tiny_company():
    products = pd.DataFrame({"sku": ["A", "B"], "product_line": ["L1", "L2"], "unit_cost": [5.0, 10.0],
                             "list_price": [10.0, 20.0]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["One", "<b>Two</b>"],
                              "region": ["EMEA", "APAC"]})
    d = pd.Timestamp
    orders = pd.DataFrame({
        "order_id": ["O1", "O2", "O3", "O4"], "line": [1, 1, 1, 1],
        "order_date": [d("2026-11-16"), d("2026-11-17"), d("2026-11-10"), d("2026-11-18")],
        "customer_id": ["C1", "C2", "C1", "C2"], "sku": ["A", "B", "A", "B"],
        "quantity": [100.0, 50.0, 10.0, 5.0], "unit_price": [11.0, 20.0, 10.0, 20.0],
        "status": ["closed", "closed", "closed", "cancelled"],
    })
    shipments = pd.DataFrame({"shipment_id": ["S1", "S2", "S3"], "order_id": ["O1", "O2", "O3"], "line": [1, 1, 1],
                              "ship_date": [d("2026-11-18"), d("2026-11-19"), d("2026-11-12")],
                              "quantity": [100.0, 40.0, 10.0]})
    plan = pd.DataFrame({"week": ["2026-W47", "2026-W47", "2026-W46", "2026-W48"], "sku": ["A", "B", "A", "A"],
                         "region": ["EMEA", "APAC", "EMEA", "EMEA"], "units": [80.0, 60.0, 10.0, 50.0],
                         "revenue": [800.0, 1200.0, 100.0, 500.0], "cogs": [400.0, 600.0, 50.0, 250.0]})
    forecasts = pd.DataFrame({"snapshot_week": ["2026-W46", "2026-W46", "2026-W47"],
                              "target_week": ["2026-W47", "2026-W47", "2026-W48"], "sku": ["A", "B", "A"],
                              "quantity": [90.0, 50.0, 40.0]})
    return orders, shipments, products, customers, plan, forecasts


def test_reconcile_week_ties_out():
    orders, shipments, products, customers, plan, forecasts = _tiny_company()
    weekly = from_frames(orders=orders, shipments=shipments)
    rec = reconcile_week(weekly["booked_weekly"], weekly["shipped_weekly"], products, customers, plan, forecasts,
                         "2026-W47", FiscalCalendar("iso"), Materiality(), symbol="$")
    # week: shipped A 100 x 11 = 1100, B 40 x 20 = 800 -> 1900 vs plan 2000
    assert rec.totals["week_shipped_revenue"] == 1900.0 and rec.totals["week_plan_revenue"] == 2000.0
    for per in (rec.week_vs_plan, rec.qtd_vs_plan):
        total = per["product_line"]["variance"].sum()
        assert per["sku"]["variance"].sum() == pytest.approx(total)
        assert per["region"]["variance"].sum() == pytest.approx(total)
    # QTD also includes W46: shipped 100 vs plan 100
    assert rec.totals["qtd_shipped_revenue"] == 2000.0 and rec.totals["qtd_plan_revenue"] == 2100.0
    # cancelled O4 excluded from bookings; A orders 100 vs forecast 90 (lag 1)
    fa = rec.week_vs_forecast["sku"].set_index("sku")
    assert fa.loc["A", "orders_units"] == 100.0 and fa.loc["A", "forecast_units"] == 90.0
    assert fa.loc["B", "orders_units"] == 50.0
    # bridge closes to actual
    steps = bridge_steps(rec.bridge)
    assert steps.attrs["closes"] and steps["amount"].iloc[-1] == 2000.0 and steps["amount"].iloc[0] == 2100.0
    # landing: QTD 2000 + forecast W48 40 units x plan price 10 = 400; W49..W53 have no plan -> 0
    assert rec.landing["landing"] == pytest.approx(2400.0) and rec.landing["plan_quarter"] == 2600.0
    # the register holds only material rows and the sentence names the customer as given
    assert (rec.register["variance"].abs() > 0).all()
    assert rec.register["sentence"].str.contains("behind|ahead").all()


def test_pvm_within_each_line_blames_the_line_that_sold_fewer_units():
    # Controllers plan 100 units at $100, sold 80 at $100; Sensors plan 100 at $20, sold 100 at $20
    plan = pd.DataFrame({"sku": ["C1", "S1"], "product_line": ["Controllers", "Sensors"], "units": [100.0, 100.0],
                         "revenue": [10_000.0, 2_000.0]})
    actual = pd.DataFrame({"sku": ["C1", "S1"], "product_line": ["Controllers", "Sensors"], "units": [80.0, 100.0],
                           "revenue": [8_000.0, 2_000.0]})
    b = pvm_bridge(actual, plan, group="product_line").set_index("sku")
    # within its line, Controllers' shortfall is volume (-20 units x $100), not mix
    assert b.loc["C1", "volume"] == -2_000.0 and b.loc["C1", "mix"] == 0.0 and b.loc["S1", "volume"] == 0.0
    # company-wide: units fell 10% (180 vs 200): -10 x $100 - 10 x $20 = -$1,200; the rest is mix between lines
    steps = bridge_steps(b.reset_index()).set_index("step")["amount"]
    assert steps["Volume"] == -1_200.0 and steps["Line mix"] == -800.0 and steps["Mix"] == 0.0
    assert bridge_steps(b.reset_index()).attrs["closes"]
