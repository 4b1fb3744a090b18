"""Every week of the demo's history runs: each analysis of the pack, called as its notebook calls it.

The pack is tested end to end on the demo's latest week elsewhere; this module runs the analyses
(the helpers, not the notebooks) for every week from the first with 13 weeks of history to the last,
so that quarter ends, quarter starts, the year end, weeks without a rescheduled order line, without
an open purchase order or without a shipment are all exercised. Each week also checks what must hold
in any week: the landing is a number, the bridges close, cash event ids are unique and name real lines.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from soe_helpers.data import aggregates
from soe_helpers.analysis import cash
from soe_helpers.analysis import data_accuracy as da
from soe_helpers.analysis import feedback
from soe_helpers.analysis import kpis
from soe_helpers.analysis import reconcile
from soe_helpers.core.calendar import FiscalCalendar, latest_complete_week, week_add, week_end, week_range
from soe_helpers.data.loaders import data_as_of, load_tables
from soe_helpers.core.params import load_params

FIRST_WEEK = "2025-W02"   # the demo's history starts 2024-W40: 13 weeks of it before this one
LAST_WEEK = "2026-W47"    # the demo's latest complete week
WEEKS = week_range(FIRST_WEEK, LAST_WEEK)


@pytest.fixture(scope="module")
def demo(demo_dir, tmp_path_factory):
    params = load_params(data_dir=demo_dir)
    snap = tmp_path_factory.mktemp("snapshot")
    tables = {}
    for n, lt in load_tables(params).items():  # through Parquet, as the runner hands tables to the notebooks
        lt.frame.to_parquet(snap / f"{n}.parquet", index=False)
        tables[n] = pd.read_parquet(snap / f"{n}.parquet")
    as_of = pd.Timestamp(data_as_of(tables))
    assert latest_complete_week(as_of) == LAST_WEEK
    return params, tables, as_of, FiscalCalendar.from_params(params.calendar)


def test_the_weeks_cover_every_edge():
    cal = FiscalCalendar("iso")
    quarter_ends = [w for w in WEEKS if cal.quarter_weeks(cal.quarter_of(w))[-1] == w]
    quarter_starts = [w for w in WEEKS if cal.quarter_weeks(cal.quarter_of(w))[0] == w]
    assert {"2025-W13", "2025-W26", "2025-W39", "2025-W52", "2026-W13", "2026-W26", "2026-W39"} <= set(quarter_ends)
    assert {"2025-W14", "2026-W01", "2026-W40"} <= set(quarter_starts)
    assert "2025-W52" in WEEKS and "2026-W01" in WEEKS  # a year end (2026 has a week 53, after the data)


@pytest.mark.parametrize("week", WEEKS)
def test_every_analysis_runs(demo, week):
    params, tables, as_of, cal = demo
    agg = aggregates.compute(tables, week_end(week), None)
    t = {**tables, **agg}

    corr = feedback.current_corrections(t["forecasts"], t["booked_weekly"], t["order_history"], t["products"], week,
                                        params.forecast_feedback)
    rec = reconcile.reconcile_week(t["booked_weekly"], t["shipped_weekly"], t["products"], t["customers"], t["plan"],
                                   t["forecasts"], week, cal, params.materiality, params.company.currency_symbol,
                                   orders=t["orders"], shipments=t["shipments"], corrections=corr)
    land = rec.landing
    assert math.isfinite(land["landing"]) and math.isfinite(land["gap"]) and math.isfinite(land["landing_corrected"])
    assert land["landing"] == pytest.approx(land["actual_qtd"] + land["backlog_in_quarter"] + land["unbooked_in_quarter"])
    assert rec.landing_by_line["landing"].sum() == pytest.approx(land["landing"])
    assert land["weeks_elapsed"] <= land["quarter_weeks"]
    steps = reconcile.bridge_steps(rec.bridge)
    assert steps.attrs["closes"]

    ci = cash.cash_week({n: t[n] for n in cash.TABLES}, week, params, cal, as_of=as_of)
    ids = ci.events["event_id"]
    assert ids.is_unique, ids[ids.duplicated()].tolist()
    assert not ids.str.contains("nan").any(), ids[ids.str.contains("nan")].tolist()
    assert cash.forecast_closes(ci.weekly)
    assert cash.close_check(ci.detected_bridge)
    assert np.isfinite(ci.events["dollars_at_stake"].astype(float)).all()

    k = kpis.execution_kpis(t["orders"], t["shipments"], t["products"], t["customers"], t["invoices"], t["bills"],
                            t["inventory"], week, cal, params.kpis, params.company.currency_symbol,
                            shipped_weekly=t["shipped_weekly"])
    assert set(k.card["kpi"]) >= {"otif", "dso"}

    res = da.run_checks({n: t.get(n) for n in (*da.OPTIONAL_TABLES, *tables)}, week, cal, params.data_accuracy,
                        params.materiality, params.company.currency_symbol)
    assert 0.0 <= res.score <= 1.0

    fb = feedback.forecast_feedback(t["forecasts"], t["booked_weekly"], t["order_history"], t["products"], t["plan"],
                                    week, params.forecast_feedback, params.materiality, week_end(week))
    assert fb.window[0] <= fb.window[1] <= week  # the accuracy window never reaches past the run week


@pytest.mark.parametrize("calendar", [("iso", 7, "iso"), ("4-4-5", 2, "nearest"), ("5-4-4", 7, "last")])
@pytest.mark.parametrize("week", ["2025-W26", "2025-W27", "2026-W05", "2026-W06", "2026-W47"])
def test_reconciliation_follows_other_fiscal_calendars(demo, calendar, week):
    params, tables, as_of, _ = demo
    cal = FiscalCalendar(*calendar)
    agg = aggregates.compute(tables, week_end(week), ["booked_weekly", "shipped_weekly"])
    rec = reconcile.reconcile_week(agg["booked_weekly"], agg["shipped_weekly"], tables["products"], tables["customers"],
                                   tables["plan"], tables["forecasts"], week, cal, params.materiality,
                                   params.company.currency_symbol, orders=tables["orders"],
                                   shipments=tables["shipments"])
    q = cal.quarter_weeks(cal.quarter_of(week))
    assert rec.quarter == cal.quarter_of(week) and rec.landing["quarter_weeks"] == len(q)
    assert rec.landing["weeks_elapsed"] == q.index(week) + 1
    assert math.isfinite(rec.landing["landing"])


@pytest.mark.parametrize("week", ["2025-W14", "2026-W01", "2026-W20", "2026-W40"])
def test_a_past_week_sees_nothing_booked_after_it(demo, week):
    """Run on today's export (as a backfill does), a past week's landing counts the open backlog of that week and
    lets no later order consume its forecast: its demand not yet booked is the same as on the export cut at its end."""
    params, tables, as_of, cal = demo
    cutoff = week_end(week)

    def landing(t):
        agg = aggregates.compute(t, cutoff, ["booked_weekly", "shipped_weekly"])
        return reconcile.reconcile_week(agg["booked_weekly"], agg["shipped_weekly"], t["products"], t["customers"],
                                        t["plan"], t["forecasts"], week, cal, params.materiality, "$",
                                        orders=t["orders"], shipments=t["shipments"]).landing

    cut = {**tables, "orders": tables["orders"][tables["orders"]["order_date"] <= cutoff],
           "shipments": tables["shipments"][tables["shipments"]["ship_date"] <= cutoff]}
    full = landing(tables)
    assert full["unbooked_in_quarter"] == pytest.approx(landing(cut)["unbooked_in_quarter"])
    assert full["backlog_in_quarter"] > 0  # the demo has open order lines at every week's end
    assert 0.7 * full["plan_quarter"] < full["landing"] < 1.3 * full["plan_quarter"]
