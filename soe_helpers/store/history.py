"""Week-keyed history in the store: KPI values, data-accuracy scores, cash events and forecast lines, and
the forecast snapshots a company exporting only its current forecast accumulates.

Every writer takes the run id and goes through :meth:`Store.write_week`, the one rule of who writes:
nothing for an analyst's session (``run_id`` None, what :attr:`Week.run_id` gives an interactive
notebook), held until the run finishes ok for a running run, at once for a run id the store never
recorded. Every reader takes the same run id and sees the weeks a running run wrote as it wrote them.
A re-run of a week replaces that week's rows only, never another week's.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from soe_helpers.analysis import cash as _cash
from soe_helpers.analysis.cash_forecast import actual_closing_cash
from soe_helpers.analysis import data_accuracy as _da
from soe_helpers.analysis import feedback as _feedback
from soe_helpers.analysis import forecast_history as _fh
from soe_helpers.analysis import kpis as _kpis
from soe_helpers.core.calendar import week_add, week_ordinal, week_range
from soe_helpers.store.tables import (accuracy_history, cash_events_t, cash_forecast_t, ets_fits_t, forecast_snapshots,
                                     kpi_history)

__all__ = ["write_kpis", "read_kpis", "kpi_weeks_held", "write_accuracy", "read_accuracy", "save_cash_week",
           "cash_history", "cash_forecast_vs_actual", "archive_forecasts", "read_forecast_archive",
           "forecasts_with_archive", "forecasts_for_run", "keep_ets_fits", "kept_ets_fits"]


def write_kpis(store, k: "_kpis.ExecutionKPIs", run_id: str | None) -> int:
    """Replace the run week's KPI history (other weeks untouched). Returns rows written (0: not a run)."""
    return store.write_week(kpi_history, k.week, _kpis.history_rows(k, run_id), run_id)


def read_kpis(store, weeks: list[str], run_id: str | None = None) -> pd.DataFrame:
    """Recorded KPI history for ``weeks``: week, kpi, period, value, target, status, run_id."""
    return pd.DataFrame(store.read_weeks(kpi_history, weeks, run_id), columns=_kpis.HISTORY_COLUMNS)


def kpi_weeks_held(store, week: str, settings, run_id: str | None = None) -> list[str]:
    """The weeks up to ``week``, at most ``settings.history_weeks`` back (``params.kpis``), whose KPIs the store
    holds, oldest first: what :func:`soe_helpers.analysis.kpis.trend_length` sizes the trend chart by."""
    n = max(settings.trend_weeks, settings.history_weeks)
    held = read_kpis(store, week_range(week_add(week, -(n - 1)), week), run_id)["week"]
    return sorted(set(held), key=week_ordinal)


def write_accuracy(store, res: "_da.AccuracyResult", run_id: str | None) -> int:
    """Replace the run week's scores (overall and per source). Returns rows written (0: not a run)."""
    return store.write_week(accuracy_history, res.week, _da.history_rows(res, run_id), run_id)


def read_accuracy(store, weeks: list[str], run_id: str | None = None) -> pd.DataFrame:
    """Recorded scores for ``weeks``: week, source, score, checks, failed, run_id."""
    return pd.DataFrame(store.read_weeks(accuracy_history, weeks, run_id), columns=_da.HISTORY_COLUMNS)


def save_cash_week(store, ci: "_cash.CashImpact", run_id: str | None) -> tuple[int, int]:
    """Replace this week's cash events and forecast lines. Returns (event rows, forecast rows), (0, 0) if not a run."""
    ev, fc = _cash.store_rows(ci)
    return (store.write_week(cash_events_t, ci.week, ev, run_id),
            store.write_week(cash_forecast_t, ci.week, fc, run_id))


def cash_history(store, ci: "_cash.CashImpact", run_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What earlier weeks recorded, next to this week: see :func:`soe_helpers.analysis.cash.compare_history`."""
    past = pd.DataFrame([{"week": r["week"], "event_id": r["event_id"]}
                         for r in store.read_weeks(cash_events_t, None, run_id)], columns=["week", "event_id"])
    fc = pd.DataFrame([r for r in store.read_weeks(cash_forecast_t, None, run_id) if r["scenario"] == _cash.BASELINE],
                      columns=[col.name for col in cash_forecast_t.columns])
    return _cash.compare_history(ci, past, fc)


def cash_forecast_vs_actual(store, tables: dict, week: str, run_id: str | None = None,
                            max_weeks: int = 52) -> tuple[pd.DataFrame, list[str]]:
    """Past weeks' actual closing cash beside the baseline the store's earlier runs forecast for them:
    (:func:`soe_helpers.analysis.cash.forecast_vs_actual`, at most the last ``max_weeks`` target weeks; the run
    weeks before ``week`` whose forecast the store holds, oldest first). ``tables``: the cash, invoices and bills
    the actual is rolled from (:func:`~soe_helpers.analysis.cash_forecast.actual_closing_cash`)."""
    me = week_ordinal(week)
    fc = pd.DataFrame([r for r in store.read_weeks(cash_forecast_t, None, run_id) if r["scenario"] == _cash.BASELINE],
                      columns=[col.name for col in cash_forecast_t.columns])
    earlier = sorted({w for w in fc["week"] if week_ordinal(w) < me}, key=week_ordinal)
    targets = sorted({w for w in fc["forecast_week"] if me - max_weeks < week_ordinal(w) <= me}, key=week_ordinal)
    actual = actual_closing_cash(tables["cash"], tables["invoices"], tables["bills"], targets)
    table = _cash.forecast_vs_actual(fc[fc["forecast_week"].isin(targets)], actual, week)
    return table, earlier


def archive_forecasts(store, forecasts: pd.DataFrame, week: str, run_id: str | None) -> int:
    """Keep the forecast snapshot made in ``week`` (the rows of ``forecasts`` whose snapshot week it is).

    Held until the run finishes ok, nothing for an analyst's session (:meth:`Store.write_week`); a re-run of
    the week replaces its snapshot. Returns the rows written or held (0: not a run, or no snapshot that week).
    """
    rows = _fh.archive_rows(forecasts, week, run_id)
    if not rows:
        return 0  # a week without its own snapshot keeps what an earlier run of it archived
    return store.write_week(forecast_snapshots, week, rows, run_id)


def read_forecast_archive(store, run_id: str | None = None) -> pd.DataFrame:
    """Every archived snapshot (:data:`~soe_helpers.analysis.forecast_history.ARCHIVE_COLUMNS`), with what the
    running run ``run_id`` holds in place of its week's rows."""
    return pd.DataFrame(store.read_weeks(forecast_snapshots, None, run_id), columns=_fh.ARCHIVE_COLUMNS)


def forecasts_with_archive(store, forecasts: pd.DataFrame, week: str, run_id: str | None = None) -> pd.DataFrame:
    """``forecasts`` (snapshot weeks stamped) with the archived snapshots it lacks, made on or before ``week``
    (:func:`soe_helpers.analysis.forecast_history.with_archive`: the export wins on conflict)."""
    return _fh.with_archive(forecasts, read_forecast_archive(store, run_id), week)


def forecasts_for_run(store, forecasts: pd.DataFrame, week: str, current_week: str,
                      run_id: str | None) -> tuple[pd.DataFrame, int, int]:
    """The forecasts a run (or an analyst's session) of ``week`` reads: (frame, export rows left out, rows archived).

    An export without snapshot weeks is stamped as made in ``current_week`` (the data's latest complete week:
    :func:`~soe_helpers.analysis.forecast_history.stamp_current`); the snapshot made in ``week`` is archived
    (:func:`archive_forecasts`: held until the run finishes ok, nothing without a run id); the frame is the
    export with the archived snapshots it lacks (:func:`forecasts_with_archive`). Re-running an earlier week
    with today's export archives nothing for it: today's forecast was not made in that week.
    """
    stamped, left_out = _fh.stamp_current(forecasts, current_week)
    archived = archive_forecasts(store, stamped, week, run_id)
    return forecasts_with_archive(store, stamped, week, run_id), left_out, archived


def keep_ets_fits(store, fb: "_feedback.ForecastFeedback", run_id: str | None) -> int:
    """Keep the statistical baseline's fits the forecast feedback of ``fb.week`` used (form, parameters, initial
    states per series and calibration), for the next week's run (:func:`kept_ets_fits`).

    Held until the run finishes ok, nothing for an analyst's session (:meth:`Store.write_week`); a re-run of the
    week replaces its rows. Returns the rows written or held (0: not a run, or the report had no fit).
    """
    rows = _feedback.ets_fit_rows(fb, run_id)
    if not rows:
        return 0
    return store.write_week(ets_fits_t, fb.week, rows, run_id)


def kept_ets_fits(store, week: str, run_id: str | None = None) -> pd.DataFrame:
    """The fits kept by the latest week before ``week`` that kept any (finished runs only: a week's own rows never
    feed it, so a re-run of ``week`` gives the same figures). Empty when none: every fit is then estimated."""
    store.ensure(ets_fits_t)
    with store.engine.connect() as c:
        last = c.execute(sa.select(sa.func.max(ets_fits_t.c.week)).where(ets_fits_t.c.week < week)).scalar()
    if last is None:
        return _feedback.ets_fits_from_rows([])
    return _feedback.ets_fits_from_rows(store.read_weeks(ets_fits_t, [last], run_id))
