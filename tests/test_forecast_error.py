"""Forecast accuracy metrics against hand calculations and textbook tracking-signal examples."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soe_helpers.data import aggregates as agg
from soe_helpers.analysis import forecast_error as fe


# ---------------------------------------------------------------- metrics on arrays


def test_metrics_by_hand():
    a, f = [10, 0, 30, 20], [12, 1, 24, 20]
    assert fe.wape(a, f) == pytest.approx((2 + 1 + 6 + 0) / 60)
    # MAPE leaves the zero-demand week out: (2/10 + 6/30 + 0/20) / 3
    assert fe.mape(a, f) == pytest.approx((0.2 + 0.2 + 0.0) / 3)
    assert fe.mae(a, f) == pytest.approx(9 / 4)
    assert fe.bias(a, f) == pytest.approx(57 - 60)          # under-forecast by 3 units
    assert fe.bias_pct(a, f) == pytest.approx(-3 / 60)
    assert fe.bias_pct([100], [115]) == pytest.approx(0.15)  # positive = over-forecast


def test_metrics_undefined_cases_and_bad_input():
    assert np.isnan(fe.wape([0, 0], [1, 2]))
    assert np.isnan(fe.mape([0, 0], [1, 2]))
    assert np.isnan(fe.bias_pct([0], [3]))
    assert np.isnan(fe.mae([], []))
    with pytest.raises(ValueError, match="differ in length"):
        fe.wape([1, 2], [1])


def test_tracking_signal_heizer_render_bakery():
    # Heizer & Render, Operations Management: Carlson's Bakery croissants, limits +-4 MADs
    forecast = [90, 95, 115, 100, 125, 140]
    demand = [90, 100, 110, 110, 125, 110]
    ts = fe.tracking_signal(demand, forecast)
    assert np.round(ts, 1).tolist() == [0.0, 2.0, 0.0, 2.0, 2.5, -2.4]


def test_tracking_signal_chase_jacobs_monthly():
    # Chase & Jacobs, Operations and Supply Chain Management: forecast 1,000 a month
    demand = [950, 1070, 1100, 960, 1090, 1050]
    ts = fe.tracking_signal(demand, [1000] * 6)
    assert np.round(ts, 2).tolist() == [-1.0, 0.33, 1.64, 1.23, 2.43, 3.3]


def test_tracking_signal_sign_for_a_persistent_over_forecast():
    ts = fe.tracking_signal([100] * 10, [115] * 10)
    assert ts[-1] == pytest.approx(-10.0)  # every error -15: RSFE = -150, MAD = 15


def test_mase_scale_drops_leading_zeros_and_falls_back_to_naive():
    # leading zeros dropped -> [1, 2, 3, 5]; season 2: |3-1|, |5-2| -> 2.5
    assert fe.mase_scale([0, 0, 1, 2, 3, 5], season=2) == (2.5, 2)
    # too short for the season: naive differences |2-1|, |4-2| -> 1.5 with m = 1
    assert fe.mase_scale([1, 2, 4], season=52) == (1.5, 1)
    scale, m = fe.mase_scale([0, 0, 7], season=52)
    assert np.isnan(scale) and m == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=30),
       st.floats(0.01, 1000))
def test_wape_and_bias_pct_are_scale_free(rows, k):
    a = np.array([r[0] for r in rows], float)
    f = np.array([r[1] for r in rows], float)
    if a.sum() == 0:
        return
    assert fe.wape(a * k, f * k) == pytest.approx(fe.wape(a, f), rel=1e-9)
    assert fe.bias_pct(a * k, f * k) == pytest.approx(fe.bias_pct(a, f), rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- frames


def _orders():
    d = pd.Timestamp
    return pd.DataFrame({
        "order_id": ["O1", "O2", "O3", "O4", "O5", "O6"], "line": [1, 1, 1, 1, 1, 1],
        # history starts on a Wednesday (2026-W01 is partial): it must start at 2026-W02
        "order_date": [d("2025-12-31"), d("2026-01-05"), d("2026-01-07"), d("2026-01-13"), d("2026-01-20"),
                       d("2026-01-27")],
        "customer_id": ["C1"] * 6, "sku": ["A", "A", "B", "A", "A", "B"],
        "quantity": [5.0, 10.0, 4.0, 7.0, 3.0, 9.0], "unit_price": [1.0] * 6,
        "status": ["closed", "closed", "closed", "cancelled", "open", "open"],
    })


def _demand(orders):
    """The aggregates actual_demand reads instead of order lines: (booked_weekly, order_history)."""
    a = agg.from_frames(orders=orders)
    return a["booked_weekly"], a["order_history"]


def _masters():
    products = pd.DataFrame({"sku": ["A", "B", "C"], "product_line": ["L1", "L1", "L2"], "unit_cost": [1.0] * 3,
                             "list_price": [2.0] * 3})
    customers = pd.DataFrame({"customer_id": ["C1"], "name": ["One"], "region": ["EMEA"]})
    return products, customers


def test_actual_demand_grid_cancellations_and_cutoff():
    products, customers = _masters()
    act = fe.actual_demand(*_demand(_orders()), products, "2026-W04")
    assert act["week"].unique().tolist() == ["2026-W02", "2026-W03", "2026-W04"]  # partial W01 dropped, W05 after
    assert len(act) == 3 * 3                                                   # every SKU every week
    a = act.set_index(["week", "sku"])["actual"]
    assert a["2026-W02", "A"] == 10.0 and a["2026-W02", "B"] == 4.0
    assert a["2026-W03", "A"] == 0.0          # the only W03 line is cancelled
    assert a["2026-W04", "A"] == 3.0 and a["2026-W04", "C"] == 0.0
    assert set(act.loc[act["sku"] == "C", "product_line"]) == {"L2"}


def test_actual_demand_errors_name_the_problem():
    products, customers = _masters()
    with pytest.raises(ValueError, match="no complete week of orders on or before 2026-W01"):
        fe.actual_demand(*_demand(_orders()), products, "2026-W01")
    cancelled = _orders().assign(status="cancelled")
    with pytest.raises(ValueError, match="no booked"):
        fe.actual_demand(*_demand(cancelled), products, "2026-W04")


def test_forecast_errors_lags_window_and_sign():
    products, customers = _masters()
    act = fe.actual_demand(*_demand(_orders()), products, "2026-W04")
    f = pd.DataFrame({
        "snapshot_week": ["2026-W01", "2026-W02", "2026-W03", "2026-W03", "2026-W01", "2026-W03"],
        "target_week": ["2026-W02", "2026-W04", "2026-W04", "2026-W05", "2026-W04", "2026-W04"],
        "sku": ["A", "A", "A", "A", "B", "C"], "quantity": [12.0, 5.0, 2.0, 8.0, 1.0, 0.0],
    })
    e = fe.forecast_errors(f, act, "2026-W04", max_lag=2)
    assert list(e.columns) == fe.ERROR_COLUMNS
    # W05 is after the run week; B's lag 3 is beyond max_lag
    assert len(e) == 4
    row = e[(e["sku"] == "A") & (e["target_week"] == "2026-W02")].iloc[0]
    assert row["lag"] == 1 and row["actual"] == 10.0 and row["error"] == 2.0   # over-forecast: positive
    row = e[(e["sku"] == "A") & (e["lag"] == 1) & (e["target_week"] == "2026-W04")].iloc[0]
    assert row["forecast"] == 2.0 and row["error"] == -1.0
    assert fe.forecast_errors(f.iloc[:0], act, "2026-W04").empty


def _errors():
    return pd.DataFrame({
        "snapshot_week": ["2026-W01", "2026-W01", "2026-W02", "2026-W02", "2026-W01", "2026-W01"],
        "target_week": ["2026-W02", "2026-W02", "2026-W03", "2026-W03", "2026-W03", "2026-W03"],
        "lag": [1, 1, 1, 1, 2, 2],
        "sku": ["A", "B", "A", "B", "A", "B"], "product_line": ["L1", "L1", "L1", "L1", "L1", "L1"],
        "forecast": [12.0, 5.0, 10.0, 6.0, 8.0, 0.0], "actual": [10.0, 0.0, 10.0, 4.0, 10.0, 4.0],
        "scale": [2.0, 0.0, 2.0, 0.0, 2.0, 0.0],
    }).assign(error=lambda d: d["forecast"] - d["actual"])


def test_accuracy_table_by_hand():
    acc = fe.accuracy(_errors(), ["lag"], scale_col="scale").set_index("lag")
    # lag 1: A/W02 |2|, B/W02 |5| (A=0), A/W03 0, B/W03 |2| -> sum 9 over actual 24
    assert acc.loc[1, "n"] == 4 and acc.loc[1, "abs_error"] == 9.0
    assert acc.loc[1, "wape"] == pytest.approx(9 / 24)
    assert acc.loc[1, "mape"] == pytest.approx((0.2 + 0.0 + 0.5) / 3) and acc.loc[1, "mape_excluded"] == 1
    assert acc.loc[1, "bias"] == 9.0 and acc.loc[1, "bias_pct"] == pytest.approx(9 / 24)
    # MASE over rows whose series has a scale (A only): (2/2 + 0/2) / 2
    assert acc.loc[1, "mase"] == pytest.approx(0.5)
    assert acc.loc[2, "wape"] == pytest.approx(6 / 14) and acc.loc[2, "bias_pct"] == pytest.approx(-6 / 14)
    total = fe.accuracy(_errors())
    assert len(total) == 1 and "mase" not in total and total["n"].iloc[0] == 6


def test_aggregate_errors_sum_to_the_line():
    line = fe.aggregate_errors(_errors())
    assert len(line) == 3
    r = line[(line["target_week"] == "2026-W02")].iloc[0]
    assert r["forecast"] == 17.0 and r["actual"] == 10.0 and r["error"] == 7.0
    assert line["error"].sum() == pytest.approx(_errors()["error"].sum())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["L1", "L2"]), st.integers(0, 50), st.integers(0, 50)), min_size=1,
                max_size=25))
def test_line_bias_parts_sum_to_the_total(rows):
    e = pd.DataFrame({"snapshot_week": "2026-W01", "target_week": "2026-W02", "lag": 1,
                      "sku": [f"S{i}" for i in range(len(rows))], "product_line": [r[0] for r in rows],
                      "forecast": [float(r[1]) for r in rows], "actual": [float(r[2]) for r in rows]})
    e["error"] = e["forecast"] - e["actual"]
    by_line = fe.accuracy(e, ["product_line"])
    assert by_line["bias"].sum() == pytest.approx(fe.accuracy(e)["bias"].iloc[0])
    assert by_line["abs_error"].sum() >= fe.accuracy(fe.aggregate_errors(e, ()))["abs_error"].iloc[0] - 1e-9


def test_tracking_signals_window_alert_and_largest_week():
    weeks = [f"2026-W{i:02d}" for i in range(1, 11)]
    f = [115.0] * 10
    a = [100.0] * 10
    a[9] = 60.0                                     # the last week: a big miss
    e = pd.DataFrame({"snapshot_week": "2025-W50", "target_week": weeks, "lag": 4, "product_line": "L1",
                      "forecast": f, "actual": a})
    e = pd.concat([e, e.assign(product_line="L2", forecast=a, actual=a)], ignore_index=True)
    ts = fe.tracking_signals(e, "2026-W10", [4], window_weeks=4, threshold=4.0).set_index("product_line")
    # last 4 weeks of L1: errors -15, -15, -15, -55 -> RSFE -100, MAD 25, TS -4
    assert ts.loc["L1", "weeks"] == 4 and ts.loc["L1", "ts"] == pytest.approx(-4.0)
    assert not ts.loc["L1", "alert"]                # not beyond 4
    assert ts.loc["L1", "direction"] == "over-forecast" and ts.loc["L1", "largest_week"] == "2026-W10"
    assert ts.loc["L1", "largest_week_share"] == pytest.approx(55 / 100)
    assert ts.loc["L1", "bias_pct"] == pytest.approx(100 / 360)
    assert ts.loc["L2", "ts"] == 0.0 and ts.loc["L2", "direction"] == "none"
    wide = fe.tracking_signals(e, "2026-W10", [4], window_weeks=10, threshold=4.0).set_index("product_line")
    assert wide.loc["L1", "alert"] and wide.loc["L1", "ts"] == pytest.approx(-190 / 19)


def test_accuracy_trend_rolling_by_hand():
    weeks = ["2026-W01", "2026-W02", "2026-W03"]
    e = pd.DataFrame({"snapshot_week": "2025-W50", "target_week": weeks * 2, "lag": 1,
                      "product_line": ["L1"] * 3 + ["L2"] * 3,
                      "forecast": [10.0, 20.0, 30.0, 5.0, 5.0, 5.0], "actual": [10.0, 10.0, 10.0, 5.0, 10.0, 0.0]})
    e["error"] = e["forecast"] - e["actual"]
    t = fe.accuracy_trend(e, [1], rolling_weeks=2)
    # W02: |20-10| + |5-10| = 15 over 20; W03: |30-10| + |5-0| = 25 over 10
    assert t["wape"].tolist() == [0.0, 0.75, 2.5]
    # rolling over W02-W03: 40 over actual 30
    assert np.isnan(t["rolling_wape"].iloc[0]) and t["rolling_wape"].iloc[2] == pytest.approx(40 / 30)
    by = fe.accuracy_trend(e, [1], rolling_weeks=2, by=["product_line"])
    l1 = by[by["product_line"] == "L1"]
    assert l1["rolling_bias_pct"].iloc[2] == pytest.approx(30 / 20)
    assert len(by) == 6


def test_charts_return_figures():
    from matplotlib.figure import Figure

    from soe_helpers.report import charts

    by_lag = pd.DataFrame({"lag": [1, 2], "sop": [0.3, 0.35], "naive": [0.5, 0.5], "ets": [0.32, 0.36]})
    assert isinstance(charts.plot_wape_by_lag(by_lag, "t"), Figure)
    e = _errors()
    trend = fe.accuracy_trend(e, [1], rolling_weeks=1)
    assert isinstance(charts.plot_accuracy_trend(trend, fe.accuracy_trend(e, [1], 1, by=["product_line"]), "t"), Figure)
