"""Forecast history that builds itself: a company exporting only its current forecast (issue 13, item 5)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from soe_helpers.analysis import feedback as fb
from soe_helpers.analysis import forecast_error as fe
from soe_helpers.analysis import forecast_history as fh
from soe_helpers.core.params import ForecastFeedbackParams, load_params
from soe_helpers.data import aggregates as agg
from soe_helpers.store import history as sh
from soe_helpers.store.engine import Store
from soe_helpers.store.tables import forecast_snapshots

WEEKS = ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]


def _current(week: str, base: float) -> pd.DataFrame:
    """The current forecast as exported at the end of ``week``: no snapshot week; the export also still
    holds its own week (already past), which is no forecast ahead."""
    i = int(week[-2:])
    targets = [f"2026-W{i + k:02d}" for k in (0, 1, 2, 3)]
    return pd.DataFrame({"snapshot_week": None, "target_week": targets * 2, "sku": ["A"] * 4 + ["B"] * 4,
                         "quantity": [base + k for k in range(4)] + [2 * base + k for k in range(4)]})


def _orders() -> pd.DataFrame:
    # A: 10 units ordered every week; B: 20 (one order line each, on the Tuesday)
    rows = [{"order_id": f"O{w}{s}", "line": 1, "order_date": pd.Timestamp.fromisocalendar(2026, int(w[-2:]), 2),
             "customer_id": "C1", "sku": s, "quantity": q, "unit_price": 5.0, "status": "closed"}
            for w in WEEKS for s, q in (("A", 10.0), ("B", 20.0))]
    return pd.DataFrame(rows)


PRODUCTS = pd.DataFrame({"sku": ["A", "B"], "product_line": ["L1", "L1"], "unit_cost": 1.0, "list_price": 5.0})


def test_stamp_current_sets_the_week_and_leaves_out_what_is_not_ahead():
    f, left_out = fh.stamp_current(_current("2026-W45", 10), "2026-W45")
    assert left_out == 2                                   # W45 itself, for A and B
    assert set(f["snapshot_week"]) == {"2026-W45"} and sorted(set(f["target_week"])) == ["2026-W46", "2026-W47",
                                                                                         "2026-W48"]
    kept = pd.DataFrame({"snapshot_week": ["2026-W40"], "target_week": ["2026-W41"], "sku": ["A"], "quantity": [1.0]})
    assert fh.stamp_current(kept, "2026-W45") == (kept, 0)  # an export with its snapshot weeks is left alone


def test_the_export_wins_and_later_snapshots_are_not_known():
    export = pd.DataFrame({"snapshot_week": ["2026-W46"], "target_week": ["2026-W47"], "sku": ["A"], "quantity": [9.0]})
    archive = pd.DataFrame({"week": ["2026-W45", "2026-W46", "2026-W48"], "target_week": ["2026-W46", "2026-W47",
                                                                                          "2026-W49"],
                            "sku": ["A", "A", "A"], "quantity": [5.0, 7.0, 8.0], "run_id": "r"})
    u = fh.with_archive(export, archive, "2026-W47")
    assert u.to_dict("list") == {"snapshot_week": ["2026-W45", "2026-W46"], "target_week": ["2026-W46", "2026-W47"],
                                 "sku": ["A", "A"], "quantity": [5.0, 9.0]}  # W46 from the export, W48 not yet made
    assert fh.with_archive(export, archive.iloc[1:2], "2026-W47") is export  # nothing to add: the export itself


def _run(store: Store, week: str, export: pd.DataFrame, status: str = "ok") -> pd.DataFrame:
    """What the weekly run does with the forecasts of ``week`` (runner._forecasts_with_history), start to finish."""
    run_id = f"run-{week}-{status}"
    store.start_run(run_id, week, Path("/tmp") / run_id)
    frame, _, held = sh.forecasts_for_run(store, export, week, week, run_id)
    assert held == 6                                       # 3 weeks ahead x 2 SKUs, held until the run ends
    store.finish_run(run_id, status, {})
    return frame


def test_three_weekly_runs_of_a_current_only_export_build_the_history(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    for week, base in (("2026-W45", 10), ("2026-W46", 12), ("2026-W47", 14)):
        forecasts = _run(store, week, _current(week, base))
    with store.engine.connect() as c:
        snaps = sorted(r[0] for r in c.execute(sa.select(forecast_snapshots.c.week).distinct()))
    assert snaps == ["2026-W45", "2026-W46", "2026-W47"]

    # the third run reads all three snapshots; error of the target weeks with demand, checkable by hand
    booked = agg.from_frames(orders=_orders())
    actuals = fe.actual_demand(booked["booked_weekly"], booked["order_history"], PRODUCTS, "2026-W47")
    e = fe.forecast_errors(forecasts, actuals, "2026-W47")
    got = {(r.snapshot_week, r.target_week, r.sku): (r.lag, r.forecast, r.actual) for r in e.itertuples()}
    assert got == {
        ("2026-W45", "2026-W46", "A"): (1, 11.0, 10.0), ("2026-W45", "2026-W46", "B"): (1, 21.0, 20.0),
        ("2026-W45", "2026-W47", "A"): (2, 12.0, 10.0), ("2026-W45", "2026-W47", "B"): (2, 22.0, 20.0),
        ("2026-W46", "2026-W47", "A"): (1, 13.0, 10.0), ("2026-W46", "2026-W47", "B"): (1, 25.0, 20.0),
    }
    h = fh.forecast_history(forecasts, e, "2026-W47", max_lag=13, focus_lag=4)
    assert h.snapshots == ["2026-W45", "2026-W46", "2026-W47"] and not h.ready
    assert {k: v for k, v in h.weeks_by_lag.items() if v} == {1: 2, 2: 1}
    assert fh.history_sentence(h) == (
        "3 weeks of forecast history (snapshots 2026-W45 to 2026-W47); known error: lag 1 2 weeks, lag 2 1 week. "
        "Error by lag needs 4 weeks of a lag (lag 1 in 2 more); bias and its corrections need 8 (lag 4, the lag "
        "the report's corrections are for, in 8 more): until then they are not shown.")
    # too few weeks: the lags are listed, no WAPE or bias is printed
    shown = fh.history_display(h, e)
    assert shown["lag"].tolist() == [1, 2] and shown["weeks"].tolist() == [2, 1]
    assert shown["wape"].isna().all() and shown["bias_pct"].isna().all()


def test_a_failed_run_and_an_analysts_session_archive_nothing(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    _run(store, "2026-W45", _current("2026-W45", 10))
    _run(store, "2026-W46", _current("2026-W46", 99), status="failed")   # its held rows are dropped
    frame, _, written = sh.forecasts_for_run(store, _current("2026-W46", 99), "2026-W46", "2026-W46", None)
    assert written == 0                                                  # a session without a run id
    rows = store.read_weeks(forecast_snapshots)
    assert {r["week"] for r in rows} == {"2026-W45"} and len(rows) == 6
    assert sorted(set(frame["snapshot_week"])) == ["2026-W45", "2026-W46"]  # but it reads what the runs kept


def test_a_rerun_of_an_earlier_week_with_todays_export_keeps_that_weeks_snapshot(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    _run(store, "2026-W45", _current("2026-W45", 10))
    store.start_run("again", "2026-W45", tmp_path)
    # today's export is the forecast made in W47: not the one of W45, so W45's archived snapshot stays
    frame, _, held = sh.forecasts_for_run(store, _current("2026-W47", 50), "2026-W45", "2026-W47", "again")
    store.finish_run("again", "ok", {})
    assert held == 0 and {r["quantity"] for r in store.read_weeks(forecast_snapshots)} == {11.0, 12.0, 13.0, 21.0,
                                                                                            22.0, 23.0}
    assert sorted(set(frame["snapshot_week"])) == ["2026-W45", "2026-W47"]  # W47 is after W45: no lag counts it
    assert fe.forecast_errors(frame, pd.DataFrame(columns=["week", "sku", "product_line", "actual"]),
                              "2026-W45").empty


def test_the_report_waits_for_evidence_and_says_what_it_will_show():
    forecasts = pd.concat([fh.stamp_current(_current(w, 10), w)[0] for w in ("2026-W45", "2026-W46", "2026-W47")])
    booked = agg.from_frames(orders=_orders())
    plan = pd.DataFrame({"week": "2026-W48", "sku": ["A", "B"], "region": "US", "units": 1.0, "revenue": 5.0,
                         "cogs": 1.0})
    r = fb.forecast_feedback(forecasts, booked["booked_weekly"], booked["order_history"], PRODUCTS, plan,
                             "2026-W47", ForecastFeedbackParams())
    assert not r.ready and r.latest_snapshot == "2026-W47"
    assert fb.headline(r).startswith("Forecast accuracy is being built up: 3 weeks of forecast snapshots")
    assert fb.backtest_sentence(r) == "" and fb.history_text(r).startswith("3 weeks of forecast history")
    assert r.figures["forecast_history"]["weeks_by_lag"] == {"1": 2, "2": 1}
    assert r.figures["most_biased_line"] is None and r.feedback.empty and r.corrections.empty
    from soe_helpers.report import records

    rec = records.forecast_feedback_record(r, 4).figures()
    assert rec["wape_lag1"] is None and rec["bias_lag4"] is None and rec["forecast_history"]["snapshots"] == 3
    # nothing at all yet (the first run's snapshot has no target week behind it): still a report, not a failure
    r0 = fb.forecast_feedback(forecasts.iloc[:0], booked["booked_weekly"], booked["order_history"], PRODUCTS, plan,
                              "2026-W47", ForecastFeedbackParams())
    assert not r0.ready and fb.history_text(r0).startswith("No forecast snapshot made on or before 2026-W47")


def test_an_analysts_session_reads_the_history_and_writes_nothing(tmp_path, monkeypatch):
    from soe_helpers.report.context import Week

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("SOE_STORE_URL", url)
    store = Store(url)
    _run(store, "2026-W45", _current("2026-W45", 10))
    _run(store, "2026-W46", _current("2026-W46", 12))
    wk = Week("2026-W47", load_params(), Path(), True, as_of=pd.Timestamp("2026-11-22"))
    wk._tables["forecasts"] = _current("2026-W47", 14)
    f = wk.table("forecasts")
    assert sorted(set(f["snapshot_week"])) == ["2026-W45", "2026-W46", "2026-W47"]
    assert {r["week"] for r in store.read_weeks(forecast_snapshots)} == {"2026-W45", "2026-W46"}  # W47 not written
    assert wk.table("forecasts") is f                     # read once per session


def test_min_accuracy_weeks_is_a_setting():
    assert ForecastFeedbackParams().min_accuracy_weeks == 4
    with pytest.raises(ValueError):
        ForecastFeedbackParams(min_accuracy_weeks=0)


@pytest.mark.e2e
def test_three_weekly_runs_on_a_current_only_forecast_export(demo_dir, tmp_path):
    """The small demo with its forecast exported as most companies do, the current one only (no snapshot
    week), run for three consecutive weeks, each with the data as of its week's end; the store persists."""
    import json

    from conftest import copy_demo, soe

    from soe_helpers.core.calendar import week_end

    data = copy_demo(demo_dir, tmp_path / "data")
    kept = pd.read_csv(data / "sop_forecast_snapshots.csv", dtype=str)
    env = {"SOE_OUTPUTS": str(tmp_path / "out"), "SOE_DATA_DIR": str(data), "SOE_STORE_URL": ""}
    for week in ("2026-W45", "2026-W46", "2026-W47"):
        current = kept[kept["Snapshot Week"] == week].drop(columns=["Snapshot Week"])
        current.to_csv(data / "sop_forecast_snapshots.csv", index=False)
        if week == "2026-W45":
            res = soe("validate", "--set", f"data.as_of={week_end(week).date()}", env=env)
            assert "no snapshot week: the current forecast, made in 2026-W45" in res.stdout, res.stdout + res.stderr
        res = soe("run", "--week", week, "--only", "forecast_feedback", "--set",
                  f"data.as_of={week_end(week).date()}", env=env)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert f"the export has no snapshot week, so it is the forecast made in {week}" in res.stdout
    store = Store(f"sqlite:///{tmp_path / 'out' / 'soe_store.sqlite'}")
    assert sorted({r["week"] for r in store.read_weeks(forecast_snapshots)}) == ["2026-W45", "2026-W46", "2026-W47"]
    run_dir = sorted(p for p in (tmp_path / "out" / "2026-W47").iterdir() if (p / "manifest.json").exists())[-1]
    f = json.loads((run_dir / "results.json").read_text())["forecast_feedback"]
    assert f["forecast_history"]["snapshots"] == 3 and f["forecast_history"]["weeks_by_lag"] == {"1": 2, "2": 1}
    assert f["wape_lag1"] is None and f["bias_lag4"] is None and f["most_biased_line"] is None
    from soe_helpers.core import run_folder

    read = pd.read_parquet(run_folder.table_path(run_dir, "forecasts"))
    assert sorted(set(read["snapshot_week"])) == ["2026-W45", "2026-W46", "2026-W47"]
    page = (run_dir / "forecast_feedback.html").read_text()
    assert "3 weeks of forecast history (snapshots 2026-W45 to 2026-W47)" in page
    assert "Weeks of known error" in page and "Traceback" not in page
    # the report ends after the evidence (one check, no empty sections) and says what it will show later
    assert "Once the lag-4 forecasts have 8 weeks of known error" in page and "the backtest that proves them" in page
    assert "Accuracy by lag" not in page and "SystemExit" not in page
