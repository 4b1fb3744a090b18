"""Forecast accuracy: how far each kept S&OP forecast snapshot was from the demand that came.

Every weekly forecast version is kept (``forecasts``: snapshot week x target week x SKU),
so each forecast can be scored against actual demand at its *lag* (target week minus
snapshot week: a lag-4 forecast was made four weeks before the week it forecast).

Definitions. ``A`` = actual demand of the target week: units ordered in that ISO week,
cancelled lines excluded (the ``booked_weekly`` aggregate, :mod:`soe_helpers.data.aggregates`); ``F`` = forecast
units for that week in the snapshot made ``lag`` weeks earlier. Sums run over the rows
of a group (SKU x target week at the SKU grain; product line x target week once
:func:`aggregate_errors` has summed SKUs to their line).

- ``error = F - A`` (units): positive = over-forecast (the forecast was too high).
- WAPE = sum|A - F| / sum|A| (share of actual demand; 0 = perfect).
- MAPE = mean(|A - F| / |A|) over rows with A != 0; rows with A = 0 are excluded from it and
  counted (``mape_excluded``), because a percentage of zero is undefined.
- bias = sum(F - A) (units; positive = over-forecast); bias % = sum(F - A) / sum(A).
- tracking signal (textbook sign, Heizer & Render): TS = running sum of (A - F) / running mean
  absolute error, over a window in time order. Negative = persistent over-forecast, positive =
  persistent under-forecast; |TS| above the threshold (4 by default) flags a biased forecast.
- MASE = mean(|A - F| / scale) where scale = the in-sample mean absolute error of the seasonal
  naive forecast of the series (mean |y_t - y_(t-m)| over its history up to the run week, from
  its first week with demand; m = seasonal period, 1 when the series is shorter than m + 1 weeks).
  Below 1 = better than the seasonal naive's typical one-season-back error. Rows of a series
  whose scale is 0 are excluded.

Example:
    >>> wape([10, 0, 30], [12, 1, 24])   # (2 + 1 + 6) / 40
    0.225
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import from_ordinal, week_ordinal

__all__ = [
    "ERROR_COLUMNS",
    "week_ordinals",
    "history_start",
    "actual_demand",
    "forecast_errors",
    "aggregate_errors",
    "wape",
    "mape",
    "mae",
    "bias",
    "bias_pct",
    "tracking_signal",
    "mase_scale",
    "mase_scales",
    "accuracy",
    "accuracy_trend",
    "tracking_signals",
]

#: Columns of the error table :func:`forecast_errors` returns.
ERROR_COLUMNS = ["snapshot_week", "target_week", "lag", "sku", "product_line", "forecast", "actual", "error"]


# ---------------------------------------------------------------- weeks


def week_ordinals(labels: pd.Series) -> np.ndarray:
    """Integer week numbers (weeks since 1970-01-05) of a Series of ISO week labels, mapped once per label."""
    uniq = pd.unique(labels)
    m = {u: week_ordinal(u) for u in uniq}
    return np.asarray(labels.map(m), dtype=np.int64)


def history_start(order_dates: pd.Series) -> str:
    """The first ISO week fully covered by an order history starting at ``min(order_dates)``.

    A history that starts mid-week (an export cut on a Wednesday) would make that first week's
    demand look low, so it starts at the next Monday's week instead.
    """
    first = pd.Timestamp(order_dates.min()).normalize()
    if pd.isna(first):
        raise ValueError("orders: no order dates; cannot measure forecast error")
    monday = first if first.weekday() == 0 else first + pd.Timedelta(days=7 - first.weekday())
    iso = monday.isocalendar()
    return f"{iso[0]:04d}-W{iso[1]:02d}"


# ---------------------------------------------------------------- facts


def actual_demand(booked_weekly: pd.DataFrame, order_history: pd.DataFrame, products: pd.DataFrame,
                  through_week: str) -> pd.DataFrame:
    """Weekly ordered units per SKU: every SKU of ``products`` x every week of the order history.

    Actual demand is booked order units by order week, cancelled lines excluded (the same
    definition the demand reconciliation uses). Weeks run from the first complete week of
    the order history (:func:`history_start` of ``order_history.first_order_date``, the first
    order line of any status) to ``through_week``; a SKU without orders in a week has demand 0 there.

    Args:
        booked_weekly: the ``booked_weekly`` aggregate (week, sku, units; :mod:`soe_helpers.data.aggregates`).
        order_history: the ``order_history`` aggregate (first_order_date).
        products: the validated ``products`` table.
        through_week: the last week with known demand (the run week); later orders are ignored.
    Returns:
        A new frame with columns week, sku, product_line, actual (units, >= 0), sorted by week and SKU.
    Raises:
        ValueError: when no complete week of orders falls on or before ``through_week``.
    """
    book, last = booked_weekly, week_ordinal(through_week)
    if book.empty:
        raise ValueError("orders: no booked (non-cancelled) order lines; cannot measure forecast error")
    book = book[week_ordinals(book["week"]) <= last]
    first = week_ordinal(history_start(order_history["first_order_date"]))
    if book.empty or first > last:
        raise ValueError(f"orders: no complete week of orders on or before {through_week}; "
                         "cannot measure forecast error")
    weekly = book.groupby(["week", "sku"], as_index=False)["units"].sum()
    weeks = [from_ordinal(o) for o in range(first, last + 1)]
    prod = products[["sku", "product_line"]].drop_duplicates("sku")
    grid = pd.DataFrame({"week": np.repeat(weeks, len(prod)), "sku": np.tile(prod["sku"].to_numpy(), len(weeks)),
                         "product_line": np.tile(prod["product_line"].to_numpy(), len(weeks))})
    out = grid.merge(weekly, on=["week", "sku"], how="left")
    out["actual"] = out["units"].fillna(0.0).astype(float)
    return out[["week", "sku", "product_line", "actual"]].sort_values(["week", "sku"], kind="stable").reset_index(
        drop=True)


def forecast_errors(forecasts: pd.DataFrame, actuals: pd.DataFrame, through_week: str,
                    max_lag: int = 13) -> pd.DataFrame:
    """Every kept forecast whose target week has known demand, beside that demand.

    Args:
        forecasts: canonical ``forecasts`` (snapshot_week, target_week, sku, quantity).
        actuals: :func:`actual_demand` (week, sku, product_line, actual).
        through_week: only snapshots and target weeks on or before it are used.
        max_lag: longest lag kept (lag = target week - snapshot week, in weeks; 1..max_lag).
    Returns:
        A new frame with :data:`ERROR_COLUMNS`; ``error = forecast - actual`` (units, positive =
        over-forecast). Target weeks outside the actual history are left out.
    """
    f = forecasts[["snapshot_week", "target_week", "sku", "quantity"]]
    if f.empty:
        return pd.DataFrame(columns=ERROR_COLUMNS)
    s, t = week_ordinals(f["snapshot_week"]), week_ordinals(f["target_week"])
    lag = t - s
    last = week_ordinal(through_week)
    keep = (lag >= 1) & (lag <= max_lag) & (t <= last)
    f = f.loc[keep].assign(lag=lag[keep]).rename(columns={"quantity": "forecast"})
    a = actuals[["week", "sku", "product_line", "actual"]].rename(columns={"week": "target_week"})
    out = f.merge(a, on=["target_week", "sku"], how="inner")
    out["forecast"] = out["forecast"].astype(float)
    out["lag"] = out["lag"].astype(np.int64)
    out["error"] = out["forecast"] - out["actual"]
    return out[ERROR_COLUMNS].sort_values(["target_week", "lag", "sku"], kind="stable").reset_index(drop=True)


def aggregate_errors(errors: pd.DataFrame, by: Sequence[str] = ("product_line",)) -> pd.DataFrame:
    """Errors at a coarser grain: forecast and actual summed over SKUs per snapshot, target week, lag and ``by``.

    ``by=()`` gives the company total. Returns a new frame with snapshot_week, target_week, lag,
    *by, forecast, actual, error (= forecast - actual, units, positive = over-forecast).
    """
    keys = ["snapshot_week", "target_week", "lag", *by]
    out = errors.groupby(keys, as_index=False, sort=True)[["forecast", "actual"]].sum()
    out["error"] = out["forecast"] - out["actual"]
    return out


# ---------------------------------------------------------------- metrics on arrays


def _arrays(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    if a.shape != f.shape:
        raise ValueError(f"actual and forecast differ in length ({a.size} vs {f.size})")
    return a, f


def wape(actual, forecast) -> float:
    """Weighted absolute percentage error: sum|A - F| / sum|A| (a share; NaN when sum|A| = 0)."""
    a, f = _arrays(actual, forecast)
    den = np.abs(a).sum()
    return float(np.abs(a - f).sum() / den) if den > 0 else float("nan")


def mape(actual, forecast) -> float:
    """Mean absolute percentage error: mean(|A - F| / |A|) over A != 0 (a share; NaN when every A is 0).

    Rows with A = 0 are excluded (count them with ``(actual == 0).sum()``).
    """
    a, f = _arrays(actual, forecast)
    nz = a != 0
    return float(np.mean(np.abs(a[nz] - f[nz]) / np.abs(a[nz]))) if nz.any() else float("nan")


def mae(actual, forecast) -> float:
    """Mean absolute error: mean|A - F| (units; NaN when empty)."""
    a, f = _arrays(actual, forecast)
    return float(np.mean(np.abs(a - f))) if a.size else float("nan")


def bias(actual, forecast) -> float:
    """Forecast bias: sum(F - A) (units; positive = over-forecast)."""
    a, f = _arrays(actual, forecast)
    return float((f - a).sum())


def bias_pct(actual, forecast) -> float:
    """Bias as a share of actual: sum(F - A) / sum(A) (positive = over-forecast; NaN when sum(A) = 0)."""
    a, f = _arrays(actual, forecast)
    den = a.sum()
    return float((f - a).sum() / den) if den != 0 else float("nan")


def tracking_signal(actual, forecast) -> np.ndarray:
    """Running tracking signal over the rows in time order (textbook definition and sign).

    TS_k = RSFE_k / MAD_k with RSFE_k = sum_{i<=k} (A_i - F_i) and MAD_k = mean_{i<=k} |A_i - F_i|.
    Negative = the forecast has run above demand (over-forecast), positive = below. TS_k = 0
    while every error so far is 0.

    Example (Heizer & Render's bakery): forecasts 90, 95, 115, 100, 125, 140 against demand
    90, 100, 110, 110, 125, 110 give TS 0, 2.0, 0.0, 2.0, 2.5, -2.4.
    """
    a, f = _arrays(actual, forecast)
    e = a - f
    k = np.arange(1, e.size + 1)
    rsfe = np.cumsum(e)
    mad = np.cumsum(np.abs(e)) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mad > 0, rsfe / np.where(mad > 0, mad, 1.0), 0.0)


def mase_scale(values, season: int = 52) -> tuple[float, int]:
    """The MASE scale of one series: in-sample mean |y_t - y_(t-m)| and the m used.

    Leading zeros (weeks before the item's first demand) are dropped first. ``m = season`` when
    the series has more than ``season`` weeks left, else ``m = 1`` (the naive forecast's error).
    Returns (NaN, 0) for a series with fewer than 2 weeks.
    """
    y = np.asarray(values, dtype=float)
    nz = np.flatnonzero(y != 0)
    y = y[nz[0]:] if nz.size else y[:0]
    m = season if y.size > season else 1
    if y.size <= m:
        return float("nan"), 0
    return float(np.mean(np.abs(y[m:] - y[:-m]))), m


def mase_scales(panel: pd.DataFrame, id_col: str = "sku", week_col: str = "week", value_col: str = "actual",
                season: int = 52) -> pd.DataFrame:
    """:func:`mase_scale` of every series in a long panel. Returns a new frame: id_col, scale, scale_season."""
    rows = []
    p = panel.assign(_o=week_ordinals(panel[week_col])).sort_values([id_col, "_o"], kind="stable")
    for key, g in p.groupby(id_col, sort=True):
        scale, m = mase_scale(g[value_col].to_numpy(), season)
        rows.append({id_col: key, "scale": scale, "scale_season": m})
    return pd.DataFrame(rows, columns=[id_col, "scale", "scale_season"])


# ---------------------------------------------------------------- metrics on frames


def accuracy(errors: pd.DataFrame, by: Sequence[str] = (), forecast_col: str = "forecast",
             actual_col: str = "actual", scale_col: str | None = None) -> pd.DataFrame:
    """Accuracy metrics per group of an error table (see the module docstring for each formula).

    Args:
        errors: rows with ``actual_col`` and ``forecast_col`` (and ``scale_col`` for MASE).
        by: grouping columns; empty = one row for the whole table.
        scale_col: column with each row's series MASE scale; omit to skip MASE.
    Returns:
        A new frame: *by, n (rows), actual, forecast (unit sums), abs_error (sum|A-F|),
        wape, mape, mape_excluded (rows with A = 0), bias (sum(F-A), units, positive =
        over-forecast), bias_pct (bias / actual) and, with ``scale_col``, mase.
    """
    by = list(by)
    d = pd.DataFrame({"_a": errors[actual_col].astype(float).to_numpy(),
                      "_f": errors[forecast_col].astype(float).to_numpy()}, index=errors.index)
    d["_ae"] = (d["_a"] - d["_f"]).abs()
    nz = d["_a"] != 0
    d["_ape"] = (d["_ae"] / d["_a"].abs()).where(nz)
    d["_zero"] = (~nz).astype(int)
    if scale_col is not None:
        s = errors[scale_col].astype(float)
        d["_sae"] = (d["_ae"] / s).where(s > 0)
    for c in by:
        d[c] = errors[c]
    keys = by or ["_all"]
    if not by:
        d["_all"] = 0
    g = d.groupby(keys, sort=True, dropna=False)
    out = pd.DataFrame({
        "n": g.size(),
        "actual": g["_a"].sum(),
        "forecast": g["_f"].sum(),
        "abs_error": g["_ae"].sum(),
        "mape": g["_ape"].mean(),
        "mape_excluded": g["_zero"].sum(),
    })
    if scale_col is not None:
        out["mase"] = g["_sae"].mean()
    out["wape"] = (out["abs_error"] / out["actual"].abs()).where(out["actual"].abs() > 0)
    out["bias"] = out["forecast"] - out["actual"]
    out["bias_pct"] = (out["bias"] / out["actual"]).where(out["actual"] != 0)
    cols = ["n", "actual", "forecast", "abs_error", "wape", "mape", "mape_excluded", "bias", "bias_pct"]
    cols += ["mase"] if scale_col is not None else []
    out = out[cols].reset_index()
    return out.drop(columns=["_all"]) if not by else out


def accuracy_trend(errors: pd.DataFrame, lags: Iterable[int], rolling_weeks: int = 13,
                   by: Sequence[str] = ()) -> pd.DataFrame:
    """Weekly and rolling WAPE and bias per lag (and ``by`` group), by target week, for the trend chart.

    Returns a new frame: lag, *by, target_week, actual, abs_error, bias (units, positive =
    over-forecast), wape (that week), rolling_wape and rolling_bias_pct (over the
    ``rolling_weeks`` target weeks ending at that week: sum|A-F| / sum A and sum(F-A) / sum A;
    missing until a group has ``rolling_weeks`` weeks).
    """
    keys = ["lag", *by]
    e = errors[errors["lag"].isin(list(lags))]
    g = e.assign(_ae=(e["forecast"] - e["actual"]).abs()).groupby([*keys, "target_week"], as_index=False).agg(
        actual=("actual", "sum"), abs_error=("_ae", "sum"), bias=("error", "sum"))
    # ISO labels are zero-padded, so text order is time order
    g = g.sort_values([*keys, "target_week"], kind="stable").reset_index(drop=True)
    g["wape"] = (g["abs_error"] / g["actual"]).where(g["actual"] > 0)
    roll = g.groupby(keys)[["actual", "abs_error", "bias"]].rolling(rolling_weeks, min_periods=rolling_weeks).sum()
    roll = roll.reset_index(level=list(range(len(keys))), drop=True).sort_index()
    g["rolling_wape"] = (roll["abs_error"] / roll["actual"]).where(roll["actual"] > 0)
    g["rolling_bias_pct"] = (roll["bias"] / roll["actual"]).where(roll["actual"] > 0)
    return g


def tracking_signals(errors: pd.DataFrame, through_week: str, lags: Iterable[int], window_weeks: int = 13,
                     threshold: float = 4.0, key: str = "product_line") -> pd.DataFrame:
    """Tracking signal per ``key`` and lag over the last ``window_weeks`` target weeks up to ``through_week``.

    ``errors`` should be at the ``key`` grain (:func:`aggregate_errors`): one row per key,
    target week and lag. The TS is :func:`tracking_signal` at the window's last week.

    Returns a new frame: key, lag, weeks, rsfe (sum(A-F), units), mad (mean|A-F|, units), ts,
    bias_pct (sum(F-A)/sum(A), positive = over-forecast), largest_week and largest_week_share
    (the week with the largest |A-F| and its share of sum|A-F|: an alert driven by one week is
    one surprise, not a habit), alert (|ts| > threshold) and direction ("over-forecast" when
    ts < 0, "under-forecast" when ts > 0).
    """
    last = week_ordinal(through_week)
    t = week_ordinals(errors["target_week"])
    e = errors[(t > last - window_weeks) & (t <= last) & errors["lag"].isin(list(lags))]
    rows = []
    for (k, lag), g in e.sort_values("target_week", kind="stable").groupby([key, "lag"], sort=True):
        ts = tracking_signal(g["actual"], g["forecast"])
        err = g["actual"].to_numpy() - g["forecast"].to_numpy()
        top = int(np.argmax(np.abs(err)))
        tot = float(np.abs(err).sum())
        rows.append({key: k, "lag": int(lag), "weeks": int(len(g)), "rsfe": float(err.sum()),
                     "mad": float(np.mean(np.abs(err))), "ts": float(ts[-1]),
                     "bias_pct": bias_pct(g["actual"], g["forecast"]),
                     "largest_week": g["target_week"].iloc[top],
                     "largest_week_share": float(abs(err[top]) / tot) if tot > 0 else 0.0})
    out = pd.DataFrame(rows, columns=[key, "lag", "weeks", "rsfe", "mad", "ts", "bias_pct", "largest_week",
                                      "largest_week_share"])
    out["alert"] = out["ts"].abs() > threshold
    out["direction"] = np.where(out["ts"] < 0, "over-forecast", np.where(out["ts"] > 0, "under-forecast", "none"))
    return out
