"""Forecast history that builds itself: a company exporting only its current forecast.

Most companies export the forecast as it stands today (target week, SKU, quantity; no snapshot
week). Forecast error by lag needs every version, so the weekly run keeps each week's snapshot in
the store (:mod:`soe_helpers.store.history`) and the reports read the union of the exported
snapshots and the archived ones. The rules, each one function:

- :func:`stamp_current` — an export without ``snapshot_week`` is the forecast as of the data's
  latest complete week (the run's week in the weekly run); its rows for that week or earlier are
  not forecasts ahead and are left out (counted).
- :func:`archive_rows` — the rows the store keeps for a run: those of the run week's snapshot.
- :func:`with_archive` — the union; a snapshot week the export holds is taken from the export
  whole (the export wins), archived snapshots after the run week are ignored.
- :func:`forecast_history` — how much evidence there is, lag by lag, and what it allows: error by
  lag needs ``min_accuracy_weeks`` (4) target weeks of a lag, bias and its corrections need
  ``min_evidence_weeks`` (8). :func:`history_sentence` says so in words.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import week_ordinal

__all__ = ["COLUMNS", "ARCHIVE_COLUMNS", "stamp_current", "archive_rows", "with_archive", "ForecastHistory",
           "forecast_history", "history_sentence", "history_display"]

COLUMNS = ["snapshot_week", "target_week", "sku", "quantity"]
#: one row of the store's ``soe_forecast_snapshots``: ``week`` is the snapshot week
ARCHIVE_COLUMNS = ["week", "target_week", "sku", "quantity", "run_id"]


def _ordinals(labels: pd.Series) -> np.ndarray:
    uniq = pd.unique(labels)
    m = {u: week_ordinal(u) for u in uniq}
    return np.asarray(labels.map(m), dtype=np.int64)


def stamp_current(forecasts: pd.DataFrame, snapshot_week: str) -> tuple[pd.DataFrame, int]:
    """``forecasts`` with every missing ``snapshot_week`` set to ``snapshot_week``: (frame, rows left out).

    An export that carries its snapshot weeks is returned as it is (the same object, 0). One that does
    not is the current forecast, made at the end of ``snapshot_week``; its rows for target weeks on or
    before it are left out (they forecast no week ahead) and counted.
    """
    if forecasts["snapshot_week"].notna().all():
        return forecasts, 0
    out = forecasts.assign(snapshot_week=forecasts["snapshot_week"].astype(object).where(
        forecasts["snapshot_week"].notna(), snapshot_week))
    ahead = _ordinals(out["target_week"]) > _ordinals(out["snapshot_week"]) if len(out) else np.zeros(0, bool)
    return out.loc[ahead].reset_index(drop=True), int((~ahead).sum())


def archive_rows(forecasts: pd.DataFrame, week: str, run_id: str | None) -> list[dict]:
    """The rows the store keeps for the run of ``week``: the forecast snapshot made that week."""
    snap = forecasts[forecasts["snapshot_week"] == week]
    return [{"week": week, "target_week": str(t), "sku": str(s), "quantity": float(q), "run_id": run_id}
            for t, s, q in zip(snap["target_week"], snap["sku"], snap["quantity"])]


def with_archive(exported: pd.DataFrame, archived: pd.DataFrame, week: str) -> pd.DataFrame:
    """The exported snapshots plus the archived ones the export does not hold, made on or before ``week``.

    Args:
        exported: the validated ``forecasts`` (snapshot weeks stamped: :func:`stamp_current`).
        archived: rows of the store's forecast archive (:data:`ARCHIVE_COLUMNS`, ``week`` = snapshot week).
        week: the run week; archived snapshots made after it are not known at its end.
    Returns:
        ``exported`` itself when the archive adds nothing (the demo: its export holds every snapshot);
        otherwise a new frame, the export's rows first, then the archive's, sorted by snapshot week.
        A snapshot week present in the export is taken from the export whole: the export wins.
    """
    if archived is None or archived.empty:
        return exported
    a = archived.rename(columns={"week": "snapshot_week"})
    known = set(pd.unique(exported["snapshot_week"]))
    keep = ~a["snapshot_week"].isin(known) & (_ordinals(a["snapshot_week"]) <= week_ordinal(week))
    add = a.loc[keep, COLUMNS]
    if add.empty:
        return exported
    add = add.astype({"quantity": "float64"})
    out = pd.concat([exported, add], ignore_index=True)
    out = out.iloc[np.argsort(_ordinals(out["snapshot_week"]), kind="stable")].reset_index(drop=True)
    for c in ("snapshot_week", "target_week", "sku"):
        out[c] = out[c].astype(exported[c].dtype) if len(exported) else out[c].astype(object)
    return out


@dataclass
class ForecastHistory:
    """How much forecast evidence a week has (see :func:`forecast_history`)."""

    week: str
    snapshots: list[str]                  # snapshot weeks made on or before the week, oldest first
    weeks_by_lag: dict[int, int]          # lag -> target weeks with a forecast and known demand
    min_accuracy_weeks: int               # error by lag is shown from this many weeks of a lag
    min_bias_weeks: int                   # bias (and its correction) from this many
    focus_lag: int

    @property
    def ready(self) -> bool:
        """True when the focus lag has the weeks a bias needs: the full report is meaningful."""
        return self.weeks_by_lag.get(self.focus_lag, 0) >= self.min_bias_weeks

    def accuracy_lags(self) -> list[int]:
        """Lags with enough weeks for their error to be shown."""
        return [lag for lag, n in sorted(self.weeks_by_lag.items()) if n >= self.min_accuracy_weeks]

    def bias_lags(self) -> list[int]:
        """Lags with enough weeks for their bias to be shown."""
        return [lag for lag, n in sorted(self.weeks_by_lag.items()) if n >= self.min_bias_weeks]


def forecast_history(forecasts: pd.DataFrame, errors: pd.DataFrame, week: str, max_lag: int, focus_lag: int,
                     min_accuracy_weeks: int = 4, min_bias_weeks: int = 8) -> ForecastHistory:
    """The evidence the forecast report has at the end of ``week``.

    Args:
        forecasts: the forecasts the report reads (export and archive: :func:`with_archive`).
        errors: :func:`soe_helpers.analysis.forecast_error.forecast_errors` of them (target weeks with demand).
        week: the run week.
        max_lag, focus_lag: ``forecast_feedback.max_lag`` and ``.focus_lag``.
        min_accuracy_weeks: target weeks of a lag before its error is shown.
        min_bias_weeks: target weeks of a lag before its bias is shown (``min_evidence_weeks``).
    Returns:
        :class:`ForecastHistory`; ``weeks_by_lag`` has every lag 1..max_lag (0 without evidence).
    """
    s = forecasts["snapshot_week"]
    snaps = sorted((w for w in pd.unique(s) if week_ordinal(w) <= week_ordinal(week)), key=week_ordinal) \
        if len(s) else []
    counts = errors.groupby("lag")["target_week"].nunique() if len(errors) else pd.Series(dtype="int64")
    by_lag = {lag: int(counts.get(lag, 0)) for lag in range(1, max_lag + 1)}
    return ForecastHistory(week, snaps, by_lag, min_accuracy_weeks, min_bias_weeks, focus_lag)


def _weeks(n: int) -> str:
    return f"{n} week{'s' if n != 1 else ''}"


def history_sentence(h: ForecastHistory) -> str:
    """What the forecast evidence is and what it allows, e.g. ``"3 weeks of forecast history (snapshots
    2026-W45 to 2026-W47); known error: lag 1 2 weeks, lag 2 1 week. Error by lag
    needs 4 weeks of a lag (lag 1 in 2 more weeks); bias needs 8 (lag 4, the lag corrections are for, in 8)."``
    """
    n = len(h.snapshots)
    if not n:
        return (f"No forecast snapshot made on or before {h.week}: forecast error and bias will be measured from "
                "the weeks after the first snapshot the runs keep.")
    span = h.snapshots[0] if n == 1 else f"{h.snapshots[0]} to {h.snapshots[-1]}"
    s = f"{_weeks(n)} of forecast history (snapshot{'s' if n > 1 else ''} {span})"
    known = [(lag, k) for lag, k in h.weeks_by_lag.items() if k]
    if known:
        s += "; known error: " + ", ".join(f"lag {lag} {_weeks(k)}" for lag, k in known[:4]) + \
            (f" and {len(known) - 4} more lags" if len(known) > 4 else "")
    else:
        s += "; no forecast has reached its target week yet"
    if h.ready:
        return s + "."
    l1, lf = h.weeks_by_lag.get(1, 0), h.weeks_by_lag.get(h.focus_lag, 0)
    acc = "" if h.accuracy_lags() else f" (lag 1 in {max(h.min_accuracy_weeks - l1, 1)} more)"
    return (s + f". Error by lag needs {_weeks(h.min_accuracy_weeks)} of a lag{acc}; bias and its corrections "
            f"need {h.min_bias_weeks} (lag {h.focus_lag}, the lag the report's corrections are for, in "
            f"{h.min_bias_weeks - lf} more): until then they are not shown.")


def history_display(h: ForecastHistory, errors: pd.DataFrame) -> pd.DataFrame:
    """Per lag with evidence: weeks of known error, WAPE once the lag has ``min_accuracy_weeks`` and bias
    once it has ``min_bias_weeks`` (else empty: too few weeks to mean anything). WAPE = Σ|F − A| ÷ Σ A,
    bias = Σ(F − A) ÷ Σ A, positive = over-forecast."""
    rows = []
    for lag, n in h.weeks_by_lag.items():
        if not n:
            continue
        e = errors[errors["lag"] == lag]
        a = float(e["actual"].sum())
        wape = float((e["forecast"] - e["actual"]).abs().sum() / a) if a > 0 and n >= h.min_accuracy_weeks else None
        bias = float((e["forecast"] - e["actual"]).sum() / a) if a > 0 and n >= h.min_bias_weeks else None
        rows.append({"lag": lag, "weeks": n, "wape": wape, "bias_pct": bias})
    return pd.DataFrame(rows, columns=["lag", "weeks", "wape", "bias_pct"])
