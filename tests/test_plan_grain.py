"""The plan at the grain the company keeps it: periods filled to weeks by working days, variances at the plan's
own grain, run-rate where it has none, money-only bridges, the landing without a forecast; on paper-checkable
frames."""
import numpy as np
import pandas as pd
import pytest

from soe_helpers.analysis import plan_grain as PG
from soe_helpers.analysis.reconcile import bridge_steps, reconcile_week
from soe_helpers.core.calendar import FiscalCalendar
from soe_helpers.core.params import Materiality, Source
from soe_helpers.data.aggregates import from_frames
from soe_helpers.data.completion import complete_orders
from soe_helpers.data.loaders import LoadedTable, coerce_table
from soe_helpers.data.schemas import SCHEMAS

JULY = FiscalCalendar("iso", 7)


def test_a_month_is_spread_over_its_weeks_by_working_days():
    # July 2026 starts on a Wednesday: W27 (29 Jun - 5 Jul, Thursday 2 Jul) holds 3 of July's 23 working days
    w = PG.period_weeks("2026-07", "month", JULY)
    assert list(w.index) == ["2026-W27", "2026-W28", "2026-W29", "2026-W30", "2026-W31"]
    assert w["2026-W27"] == pytest.approx(3 / 23) and w["2026-W28"] == pytest.approx(5 / 23)
    assert w.sum() == pytest.approx(1.0)
    # August's Monday 31st belongs to W36, a September week by its Thursday: August is 4 whole weeks
    assert PG.period_weeks("2026-08", "month", JULY).tolist() == [0.25] * 4
    # a fiscal quarter: its 13 weeks, equal shares; under 4-4-5 a month is the period of its number
    assert len(PG.period_weeks("2027-Q1", "quarter", JULY)) == 13
    p445 = PG.period_weeks("2026-09", "month", FiscalCalendar("4-4-5", 7, "last"))
    assert list(p445.index) == [f"2026-W{n}" for n in range(35, 40)] and p445.tolist() == [0.2] * 5


def test_weekly_plan_ties_out_to_each_plan_period_and_keeps_its_grain():
    plan = pd.DataFrame({"month": ["2026-07", "2026-07", "2026-08"], "product_line": ["L1", "L2", "L1"],
                         "revenue": [2300.0, 4600.0, 1000.0]})
    w = PG.weekly_plan(plan, JULY)
    g = w.attrs["grain"]
    assert g.period == "month" and g.dims == ("product_line",) and not g.units and not g.cogs
    assert g.describe() == "month x product line, revenue only"
    assert w.groupby(["plan_period", "product_line"])["revenue"].sum().to_dict() == {
        ("2026-07", "L1"): 2300.0, ("2026-07", "L2"): 4600.0, ("2026-08", "L1"): 1000.0}
    assert w.set_index(["week", "product_line"]).loc[("2026-W27", "L1"), "revenue"] == pytest.approx(300.0)
    assert "sku" not in w and "region" not in w
    # a SKU names its product line; a customer its region
    sku_plan = pd.DataFrame({"week": ["2026-W27"], "sku": ["A"], "units": [2.0], "revenue": [20.0], "cogs": [8.0]})
    g2 = PG.plan_grain(sku_plan)
    assert g2.dims == ("sku", "product_line") and g2.describe() == "week x SKU, units, revenue and COGS"
    assert PG.plan_grain(pd.DataFrame({"quarter": ["2027-Q1"], "customer_id": ["C1"], "revenue": [1.0]})).dims == \
        ("region", "customer_id")


def test_a_plan_mixing_months_and_quarters_is_refused():
    with pytest.raises(ValueError, match="mixes kinds"):
        PG.plan_grain(pd.DataFrame({"period": ["2026-07", "2027-Q1"], "revenue": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="no period"):
        PG.plan_grain(pd.DataFrame({"revenue": [1.0]}))


def _load_plan(header: str, rows: list[list], columns: dict | None = None):
    raw = pd.DataFrame(rows, columns=header.split(","), dtype=object)
    lt = LoadedTable("plan", raw, "budget.xlsx", rows=len(raw))
    return coerce_table(lt, SCHEMAS["plan"], Source(file="budget.xlsx", columns=columns or {}))


def test_the_loader_reads_a_month_by_product_line_budget_in_dollars():
    frame, problems = _load_plan("Month,Product Line,Budget $", [["Jul 2026", "Sensors", "$1,200.00"],
                                                                  [pd.Timestamp("2026-08-01"), "Sensors", 900]],
                                 {"month": "Month", "product_line": "Product Line", "revenue": "Budget $"})
    assert problems == []
    assert frame["month"].tolist() == ["2026-07", "2026-08"] and frame["revenue"].tolist() == [1200.0, 900.0]
    # no period column: the message names the choices and the headers found
    _, problems = _load_plan("Product Line,Revenue", [["Sensors", 900]])
    assert any("no period column: map exactly one of week, month, quarter or period" in str(p) and
               "Product Line" in str(p) for p in problems), problems
    # a month not understood: file, column, row and what was expected
    _, problems = _load_plan("Month,Revenue", [["Julember", 900]], {"month": "Month"})
    assert [str(p) for p in problems] == ["budget.xlsx [plan]: column 'Month' (month): 1 value not understood; "
                                          "expected a month like 2026-07, Jul 2026 or a date in the month; "
                                          "line 2: 'Julember'"]
    _, problems = _load_plan("Month,Quarter,Revenue", [["2026-07", "2027-Q1", 900]])
    assert any("2 period columns (Month, Quarter)" in str(p) for p in problems), problems


def _thin(regions=("EMEA", "APAC")):
    """A company with a July year, a month x product line plan in dollars and no forecasts (see the test)."""
    d = pd.Timestamp
    products = pd.DataFrame({"sku": ["A", "B"], "product_line": ["L1", "L2"], "unit_cost": [5.0, 10.0],
                             "list_price": [10.0, 20.0]})
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["One", "Two"], "region": list(regions)})
    orders = pd.DataFrame({
        "order_id": ["O1", "O2", "O3"], "line": [1, 1, 1],
        "order_date": [d("2026-07-14"), d("2026-07-07"), d("2026-07-16")],
        "customer_id": ["C1", "C2", "C1"], "sku": ["A", "B", "A"], "quantity": [100.0, 50.0, 10.0],
        "unit_price": [11.0, 20.0, 10.0], "status": ["closed", "closed", "open"]})
    orders, notes = complete_orders(orders, 14)
    shipments = pd.DataFrame({"shipment_id": ["S1", "S2"], "order_id": ["O1", "O2"], "line": [1, 1],
                              "ship_date": [d("2026-07-15"), d("2026-07-08")], "quantity": [100.0, 50.0]})
    plan = pd.DataFrame({"month": ["2026-07", "2026-07", "2026-08"], "product_line": ["L1", "L2", "L1"],
                         "revenue": [2300.0, 4600.0, 1000.0]})
    return orders, shipments, products, customers, plan, notes


def _reconcile(orders, shipments, products, customers, plan, forecasts=None, week="2026-W29"):
    aggs = from_frames(orders=orders, shipments=shipments)
    return reconcile_week(aggs["booked_weekly"], aggs["shipped_weekly"], products, customers, plan, forecasts, week,
                          JULY, Materiality(abs=100.0, pct=0.05), "$", orders=orders, shipments=shipments)


def test_variances_at_the_plans_grain_and_run_rate_where_it_has_none():
    orders, shipments, products, customers, plan, _ = _thin()
    rec = _reconcile(orders, shipments, products, customers, plan)
    assert rec.quarter == "2027-Q1" and rec.grain.describe() == "month x product line, revenue only"
    # W29: L1 shipped 100 x 11 = 1,100 vs plan 500 (5/23 of 2,300); L2 nothing vs 1,000 (5/23 of 4,600)
    wk = rec.week_vs_plan["product_line"].set_index("product_line")
    assert wk.loc["L1", "plan_revenue"] == pytest.approx(500.0) and wk.loc["L1", "variance"] == pytest.approx(600.0)
    assert wk.loc["L2", "variance"] == pytest.approx(-1000.0)
    # quarter-to-date W27-W29: L1 1,100 vs 300 + 500 + 500; L2 1,000 (W28) vs 600 + 1,000 + 1,000
    q = rec.qtd_vs_plan["product_line"].set_index("product_line")
    assert q.loc["L1", "variance"] == pytest.approx(-200.0) and q.loc["L2", "variance"] == pytest.approx(-1600.0)
    # no region and no SKU in the plan: those are compared with run-rate, never with a plan, and said so
    assert "plan_revenue" not in rec.qtd_vs_plan["region"] and "run_rate_revenue" in rec.qtd_vs_plan["sku"]
    assert "(all)" not in rec.register["name"].tolist()
    # the register holds the plan's own level (and customers vs their run-rate): nothing to act on without a plan
    assert set(rec.register["level"]) <= {"product_line", "customer"} and len(rec.register)
    assert not rec.register["variance_pct"].isin([np.inf, -np.inf]).any()
    assert any("The plan has no SKU or region" in n for n in rec.notes)
    assert any("spread over its weeks by working days" in n for n in rec.notes)
    # money only: no price / volume / mix, the bridge still closes
    steps = bridge_steps(rec.bridge)
    assert steps["step"].tolist() == ["Plan revenue", "Difference (money only: the plan has no units)",
                                      "Actual revenue"]
    assert steps.attrs["closes"] and steps["amount"].tolist() == pytest.approx([3900.0, -1800.0, 2100.0])


def test_the_landing_without_a_forecast_uses_the_run_rate_of_bookings_and_the_filled_plan():
    orders, shipments, products, customers, plan, notes = _thin()
    assert notes == ["The orders have no requested date: the order date + 14 days (data.order_lead_time_days) is used.",
                     "The orders have no promised date: the requested date is used as the promise."]
    rec = _reconcile(orders, shipments, products, customers, plan)
    land = rec.landing
    # the quarter plan is the plan's July + August (September has none): 2,300 + 4,600 + 1,000
    assert land["plan_quarter"] == pytest.approx(7900.0) and land["plan_qtd"] == pytest.approx(3900.0)
    # shipped 2,100; O3 (10 x 10, requested 30 Jul) open; bookings' run-rate: (1,100 + 100 + 1,000) / 13 a week
    # for W30..W39, all shipping in the quarter (1-day lead times) but 1 day in 7 of W39's bookings
    unbooked = 2200.0 / 13 * (9 + 6 / 7)
    assert land["actual_qtd"] == 2100.0 and land["backlog_in_quarter"] == 100.0
    assert land["unbooked_in_quarter"] == pytest.approx(unbooked)
    assert land["landing"] == pytest.approx(2100.0 + 100.0 + unbooked)
    assert any("No demand forecast was given" in n and "13 weeks" in n for n in rec.notes)
    assert rec.week_vs_forecast == {} and rec.register["basis"].ne("the forecast made a week before").all()
    by_line = rec.landing_by_line.set_index("product_line")
    assert by_line.loc["L2", "plan_quarter"] == pytest.approx(4600.0)


def test_one_region_is_the_company_and_gets_no_region_view():
    orders, shipments, products, customers, plan, _ = _thin(regions=("Store 1", "Store 1"))
    rec = _reconcile(orders, shipments, products, customers, plan)
    assert "region" not in rec.qtd_vs_plan and "Store 1" not in rec.register["key"].tolist()
    assert any("one region" in n for n in rec.notes)


def test_without_a_plan_everything_is_against_run_rate():
    orders, shipments, products, customers, _, _ = _thin()
    rec = _reconcile(orders, shipments, products, customers, None)
    assert all("plan_revenue" not in t for t in rec.qtd_vs_plan.values())
    assert rec.landing["plan_quarter"] == 0.0 and np.isnan(rec.landing["gap_pct"])
    assert any("No plan was given" in n for n in rec.notes)


def test_a_quarterly_plan_by_customer_is_compared_by_customer_and_region():
    orders, shipments, products, customers, _, _ = _thin()
    plan = pd.DataFrame({"quarter": ["2027-Q1", "2027-Q1"], "customer_id": ["C1", "C2"],
                         "revenue": [1300.0, 2600.0]})
    rec = _reconcile(orders, shipments, products, customers, plan)
    assert rec.grain.describe() == "quarter x customer, revenue only" and rec.grain.dims == ("region", "customer_id")
    # a quarter spread evenly over its 13 weeks: 3 weeks to date = 300 and 600
    c = rec.qtd_vs_plan["customer"].set_index("customer_id")
    assert c.loc["C1", "plan_revenue"] == pytest.approx(300.0) and c.loc["C1", "variance"] == pytest.approx(800.0)
    assert c.loc["C2", "plan_revenue"] == pytest.approx(600.0) and c.loc["C2", "variance"] == pytest.approx(400.0)
    r = rec.qtd_vs_plan["region"].set_index("region")
    assert r.loc["EMEA", "plan_revenue"] == pytest.approx(300.0) and "plan_revenue" not in rec.qtd_vs_plan["product_line"]
    assert set(rec.register.loc[rec.register["level"] == "customer", "basis"]) == {"plan"}


def test_report_views_say_what_the_plan_allows():
    from soe_helpers.analysis.reconcile import landing_headline, vs_plan_views

    orders, shipments, products, customers, plan, _ = _thin()
    rec = _reconcile(orders, shipments, products, customers, plan)
    views = {v["heading"].split(":")[0]: v for v in vs_plan_views(rec, Materiality(abs=100.0, pct=0.05), 10)}
    assert set(views) == {"By product line", "By region vs run-rate (no plan at this level)",
                          "By sku vs run-rate (no plan at this level)"}
    assert "plan_units" not in views["By product line"]["table"]          # a money-only plan has no units
    # the landing: 2,100 + 100 + 2,200 / 13 x (9 + 6/7) = 3,868.13 vs 7,900 plan, 51.0% behind; no bias correction
    assert landing_headline(rec, "$") == "2027-Q1 is projected to land at $3.9K: $4.0K behind the $7.9K plan (-51.0%)."
    none = _reconcile(orders, shipments, products, customers, None)
    assert landing_headline(none, "$") == "2027-Q1 is projected to land at $3.9K (no plan for the quarter to compare it with)."


# ---------------------------------------------------------------- the last_year fill: last year's weekly shape

ISO = FiscalCalendar("iso")
PRODUCTS = pd.DataFrame({"sku": ["A1", "A2", "B1"], "product_line": ["A", "A", "B"]})
CUSTOMERS = pd.DataFrame({"customer_id": ["C1", "C2"], "region": ["East", "West"]})


def _booked(rows):
    """booked_weekly-shaped history: (week, sku, customer_id, value)."""
    return pd.DataFrame(rows, columns=["week", "sku", "customer_id", "value"])


def test_last_year_shape_spreads_a_month_by_the_same_weeks_bookings_a_year_earlier():
    # June 2026 = W23..W26, four whole weeks; 52 weeks earlier: 2025-W23..W26. Line A booked 10, 30, 30, 30
    # (A1 and A2 together; a return week is clipped to 0); line B booked nothing: working days, 25 each.
    hist = _booked([("2025-W23", "A1", "C1", 10.0), ("2025-W24", "A1", "C1", 20.0), ("2025-W24", "A2", "C2", 10.0),
                    ("2025-W25", "A2", "C1", 30.0), ("2025-W26", "A1", "C1", 30.0), ("2025-W27", "A1", "C1", 999.0),
                    ("2026-W23", "A1", "C1", 500.0)])  # W27 is July's; this year's W23 is not last year
    plan = pd.DataFrame({"month": ["2026-06", "2026-06"], "product_line": ["A", "B"], "revenue": [100.0, 100.0]})
    w = PG.weekly_plan(plan, ISO, PRODUCTS, CUSTOMERS, fill="last_year", history=hist)
    got = w.set_index(["product_line", "week"])["revenue"]
    assert got["A"].round(6).to_dict() == {"2026-W23": 10.0, "2026-W24": 30.0, "2026-W25": 30.0, "2026-W26": 30.0}
    assert got["B"].round(6).tolist() == [25.0] * 4
    assert w.attrs["fill"] == {"rule": "last_year", "periods": 2, "periods_fell_back": 1, "keys": 2,
                               "keys_fell_back": 1, "basis": "value"}
    assert PG.fill_note(w) == ("each month's plan is spread over its weeks by last year's bookings in the same weeks "
                               "(52 weeks earlier) for its product line; 1 of 2 product lines (1 of 2 months x "
                               "product line) had no bookings a year earlier and were spread by working days")


def test_a_week_partly_in_the_month_counts_its_share_of_working_days_and_each_period_ties_out():
    # July 2026 (July year): W27 holds 3 of its 5 working days in July. The same bookings every week a year
    # earlier give exactly the working-days shares (3/23, 5/23 ...); W28 booked double: 3*10, 5*20, 5*10 ...
    flat = _booked([(f"2025-W{n}", "A1", "C1", 10.0) for n in range(27, 32)])
    plan = pd.DataFrame({"month": ["2026-07"], "product_line": ["A"], "revenue": [2300.0]})
    w = PG.weekly_plan(plan, JULY, PRODUCTS, fill="last_year", history=flat)
    assert w["revenue"].round(6).tolist() == [300.0, 500.0, 500.0, 500.0, 500.0]
    double = flat.assign(value=np.where(flat["week"] == "2025-W28", 20.0, 10.0))
    w = PG.weekly_plan(plan, JULY, PRODUCTS, fill="last_year", history=double)
    # weights 30, 100, 50, 50, 50 of 280
    assert w["revenue"].round(6).tolist() == pytest.approx([2300 * 30 / 280, 2300 * 100 / 280] + [2300 * 50 / 280] * 3)
    assert w["revenue"].sum() == pytest.approx(2300.0, abs=1e-9)
    assert PG.fill_note(w).endswith("for its product line; every one had bookings a year earlier")


def test_last_year_shape_of_a_quarter_by_region_from_shipments_and_of_a_company_total_plan():
    # 2026-Q3 (calendar year) = W27..W39; a year earlier W27..W39 of 2025. East shipped only in 2025-W30
    # and W31 (1:3): its quarter lands in 2026-W30 and W31. West shipped nothing: 13 equal weeks.
    ship = pd.DataFrame({"week": ["2025-W30", "2025-W31", "2025-W31"], "sku": ["A1", "A1", "B1"],
                         "customer_id": ["C1", "C1", "C1"], "revenue": [10.0, 20.0, 10.0]})
    plan = pd.DataFrame({"quarter": ["2026-Q3", "2026-Q3"], "region": ["East", "West"], "revenue": [400.0, 130.0]})
    w = PG.weekly_plan(plan, ISO, PRODUCTS, CUSTOMERS, fill="last_year", history=ship)
    east = w[w["region"] == "East"].set_index("week")["revenue"]
    assert east[east > 0].round(6).to_dict() == {"2026-W30": 100.0, "2026-W31": 300.0} and east.sum() == 400.0
    assert w[w["region"] == "West"]["revenue"].round(6).tolist() == [10.0] * 13
    assert PG.fill_note(w).startswith("each quarter's plan is spread over its weeks by last year's shipments")
    total = PG.weekly_plan(pd.DataFrame({"quarter": ["2026-Q3"], "revenue": [400.0]}), ISO, fill="last_year",
                           history=ship)
    assert total.set_index("week")["revenue"].loc[["2026-W30", "2026-W31"]].round(6).tolist() == [100.0, 300.0]
    assert "for the company; every one had shipments" in PG.fill_note(total)


def test_the_fill_rule_is_checked_and_the_default_note_is_unchanged():
    plan = pd.DataFrame({"month": ["2026-06"], "revenue": [100.0]})
    with pytest.raises(ValueError, match="plan fill 'seasonal' is not one of working_days, last_year"):
        PG.weekly_plan(plan, ISO, fill="seasonal")
    with pytest.raises(ValueError, match="last_year needs last year's weekly bookings"):
        PG.weekly_plan(plan, ISO, fill="last_year")
    w = PG.weekly_plan(plan, ISO)
    assert PG.fill_note(w) == PG.FILL_RULE.format(period="month")
    # a first year of data: nothing a year earlier, every period by working days, and the note says so
    w = PG.weekly_plan(plan, ISO, fill="last_year", history=_booked([("2026-W23", "A1", "C1", 5.0)]))
    assert w["revenue"].tolist() == [25.0] * 4
    assert PG.fill_note(w).endswith("; 1 of 1 months had no bookings a year earlier and were spread by working days")


def test_the_reconciliation_fills_the_plan_by_last_years_bookings_when_params_say_so():
    from soe_helpers.core.params import PlanParams

    orders, shipments, products, customers, plan, _ = _thin()
    d = pd.Timestamp
    last_year = pd.DataFrame({"order_id": ["P1"], "line": [1], "order_date": [d("2025-07-16")],  # 2025-W29
                              "customer_id": ["C1"], "sku": ["A"], "quantity": [5.0], "unit_price": [10.0],
                              "status": ["closed"]})
    orders = pd.concat([complete_orders(last_year, 14)[0], orders], ignore_index=True)
    aggs = from_frames(orders=orders, shipments=shipments)
    rec = reconcile_week(aggs["booked_weekly"], aggs["shipped_weekly"], products, customers, plan, None, "2026-W29",
                         JULY, Materiality(abs=100.0, pct=0.05), "$", orders=orders, shipments=shipments,
                         plan_fill=PlanParams(fill="last_year"))
    # L1 booked only in 2025-W29 a year earlier: July's 2,300 all lands in 2026-W29 (1,100 shipped: -1,200);
    # L2 booked nothing a year earlier: working days, 5/23 of 4,600 = 1,000 in W29, as before
    wk = rec.week_vs_plan["product_line"].set_index("product_line")
    assert wk.loc["L1", "plan_revenue"] == pytest.approx(2300.0) and wk.loc["L1", "variance"] == pytest.approx(-1200.0)
    assert wk.loc["L2", "plan_revenue"] == pytest.approx(1000.0)
    assert ("The plan is by month x product line, revenue only: each month's plan is spread over its weeks by last "
            "year's bookings in the same weeks (52 weeks earlier) for its product line; 2 of 2 product lines (2 of 3 "
            "months x product line) had no bookings a year earlier and were spread by working days.") in rec.notes
    default = _reconcile(*_thin()[:5])
    assert any(n.endswith(PG.FILL_RULE.format(period="month") + ".") for n in default.notes)
