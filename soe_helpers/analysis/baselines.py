"""Baseline forecasts the S&OP forecast must beat: naive, seasonal naive and exponential smoothing.

Each baseline is produced the way the S&OP forecast was: from an *origin* week (the
forecast is made at the end of that week, knowing demand up to and including it) for
target weeks ``origin + lag``. So a baseline's lag-4 forecast can be compared row for
row with the S&OP snapshot made at the same origin (forecast value added, FVA).

- ``naive``: the last known week's demand, y(origin), for every lag.
- ``seasonal_naive``: the same week one season earlier, y(target - m), m = seasonal period
  (52 weeks); for lags above m, whole seasons further back. Missing when that week is
  before the history.
- ``ets``: exponential smoothing fitted with statsmodels (``ExponentialSmoothing``, additive
  errors) on each series' history from its first week with demand. Each series gets the form
  its own history supports, chosen by information criterion:

  1. with at least ``min_weeks`` weeks (16) the candidates are simple smoothing (level only,
     ``ets_simple``), Holt's linear trend (``ets_trend``) and Holt's damped trend
     (``ets_damped``); with at least two full seasons (2 x m weeks) also Holt-Winters, damped
     trend and additive seasonality (``ets_seasonal``);
  2. each candidate is fitted by least squares and the one with the lowest corrected Akaike
     information criterion (AICc, which charges every smoothing parameter and initial state,
     so a short trendless series gets simple smoothing) is kept; a tie goes to the simpler form.
     The form is chosen at a series' first calibration and kept at the later ones (only its
     parameters are re-estimated), so no choice uses demand after the origins it serves;
  3. with fewer weeks, or when every fit raises or gives non-finite parameters or forecasts:
     the naive forecast (``naive_fallback``); before the first demand: 0 (``no_demand_yet``).

  Parameters are estimated on the
  data up to a *calibration* origin and re-estimated every ``refit_every`` weeks; between
  calibrations the fitted model is run forward over the newly known weeks with its
  parameters held (states updated, parameters not), so no forecast uses demand after its
  origin. Across weekly runs the same holds: given the fits an earlier run kept (``kept``: form,
  parameters and initial states per series and calibration, in the store), a series keeps them
  and its schedule, and only a calibration ``refit_every`` weeks after its last one is estimated
  (a mature forecasting tool's "fit on a schedule, update the states every week"); a new series, or
  one whose first week with demand moved, is estimated from the first origin as without ``kept``.
  Forecasts below 0 are set to 0 (demand cannot be negative). Optimiser
  non-convergence is recorded per fit (``converged``) instead of being printed.

All functions take a long panel (one row per series and week, weeks consecutive, as
:func:`soe_helpers.analysis.forecast_error.actual_demand` returns) and return new frames with
id_col, snapshot_week, target_week, lag, forecast.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import from_ordinal
from soe_helpers.analysis.forecast_error import week_ordinals

__all__ = ["FORECAST_COLUMNS", "FORMS", "FIT_COLUMNS", "EtsResult", "naive", "seasonal_naive", "ets", "fit_series",
           "forecast_series"]

FORECAST_COLUMNS = ["snapshot_week", "target_week", "lag", "forecast"]


def _matrix(panel: pd.DataFrame, id_col: str, week_col: str, value_col: str) -> tuple[np.ndarray, list, np.ndarray]:
    """(week ordinals [T], ids [N], values [T, N]) of a complete long panel; raises on gaps or duplicates."""
    if panel.empty:
        raise ValueError("baselines: the demand history is empty")
    o = week_ordinals(panel[week_col])
    wide = pd.DataFrame({"o": o, "id": panel[id_col].to_numpy(), "v": panel[value_col].astype(float).to_numpy()})
    if wide.duplicated(["o", "id"]).any():
        raise ValueError(f"baselines: the demand history has duplicate ({week_col}, {id_col}) rows")
    m = wide.pivot(index="o", columns="id", values="v").sort_index()
    weeks = m.index.to_numpy(dtype=np.int64)
    if (np.diff(weeks) != 1).any() or m.isna().to_numpy().any():
        raise ValueError("baselines: the demand history must have every week for every series (0 when no demand)")
    return weeks, list(m.columns), m.to_numpy(dtype=float)


def _origin_index(weeks: np.ndarray, origins: Iterable[str]) -> np.ndarray:
    """Row numbers of the origins inside the history (origins outside it are dropped)."""
    o = np.array(sorted({int(x) for x in week_ordinals(pd.Series(list(origins), dtype=object))}), dtype=np.int64) \
        if origins is not None else weeks
    o = o[(o >= weeks[0]) & (o <= weeks[-1])]
    return (o - weeks[0]).astype(np.int64)


def _long(weeks: np.ndarray, ids: list, idx: np.ndarray, lags: np.ndarray, values: np.ndarray,
          id_col: str, extra: dict | None = None) -> pd.DataFrame:
    """Long frame from values[origin, lag, series]; NaN values are dropped."""
    n_o, n_l, n_s = len(idx), len(lags), len(ids)
    origin = np.repeat(weeks[idx], n_l * n_s)
    lag = np.tile(np.repeat(lags, n_s), n_o)
    sid = np.tile(np.arange(n_s), n_o * n_l)
    v = values.reshape(-1)
    keep = np.isfinite(v)
    labels = {int(w): from_ordinal(int(w)) for w in np.unique(np.r_[origin[keep], origin[keep] + lag[keep]])}
    out = pd.DataFrame({
        id_col: np.asarray(ids, dtype=object)[sid[keep]],
        "snapshot_week": [labels[int(w)] for w in origin[keep]],
        "target_week": [labels[int(w)] for w in origin[keep] + lag[keep]],
        "lag": lag[keep].astype(np.int64),
        "forecast": v[keep],
    })
    for k, arr in (extra or {}).items():
        out[k] = arr.reshape(-1)[keep]
    return out


def naive(panel: pd.DataFrame, origins: Iterable[str] | None, lags: Iterable[int], id_col: str = "sku",
          week_col: str = "week", value_col: str = "actual") -> pd.DataFrame:
    """Naive forecast: the origin week's demand, for every lag.

    Args:
        panel: long demand history (id_col, week_col, value_col), every week for every series.
        origins: weeks the forecasts are made at (end of week); None = every week of the history.
        lags: target week - origin, in weeks (>= 1).
    Returns:
        A new frame: id_col, snapshot_week (the origin), target_week, lag, forecast (units).
    """
    weeks, ids, y = _matrix(panel, id_col, week_col, value_col)
    idx, lags = _origin_index(weeks, origins), np.asarray(sorted(set(lags)), dtype=np.int64)
    vals = np.broadcast_to(y[idx][:, None, :], (len(idx), len(lags), len(ids)))
    return _long(weeks, ids, idx, lags, np.ascontiguousarray(vals), id_col)


def seasonal_naive(panel: pd.DataFrame, origins: Iterable[str] | None, lags: Iterable[int], season: int = 52,
                   id_col: str = "sku", week_col: str = "week", value_col: str = "actual") -> pd.DataFrame:
    """Seasonal naive forecast: demand of the target week ``k`` seasons back, ``k = ceil(lag / season)``.

    With weekly data and season 52 a lag-4 forecast for 2026-W47 is 2025-W47's demand. Rows
    whose source week is before the history are left out. Same arguments and result as :func:`naive`.
    """
    if season < 1:
        raise ValueError(f"season must be >= 1 weeks (got {season})")
    weeks, ids, y = _matrix(panel, id_col, week_col, value_col)
    idx, lags = _origin_index(weeks, origins), np.asarray(sorted(set(lags)), dtype=np.int64)
    back = season * np.ceil(lags / season).astype(np.int64)
    src = idx[:, None] + lags[None, :] - back[None, :]                # (origins, lags) row in the history
    ok = src >= 0
    vals = np.where(ok[:, :, None], y[np.clip(src, 0, None)], np.nan)
    return _long(weeks, ids, idx, lags, vals, id_col)


# ---------------------------------------------------------------- exponential smoothing


@dataclass
class EtsResult:
    """What :func:`ets` returns: the forecasts, one row per fit, and the time it took."""

    forecasts: pd.DataFrame  # id_col, snapshot_week, target_week, lag, forecast, method
    fits: pd.DataFrame       # id_col and FIT_COLUMNS: one row per series and calibration (kept = from an earlier run)
    seconds: float

    def method_counts(self) -> dict[str, int]:
        """How many series used each method at their latest calibration."""
        last = self.fits.sort_values("calibration_week").groupby(self.fits.columns[0]).tail(1)
        return {str(k): int(v) for k, v in last["method"].value_counts().items()}


#: The exponential-smoothing forms a series may get, simplest first: name -> (trend, damped, seasonal).
FORMS: dict[str, tuple[bool, bool, bool]] = {
    "ets_simple": (False, False, False),
    "ets_trend": (True, False, False),
    "ets_damped": (True, True, False),
    "ets_seasonal": (True, True, True),
}


def _es_model(y: np.ndarray, form: str, season: int, **init):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # statsmodels: loaded only when ETS runs

    trend, damped, seasonal = FORMS[form]
    return ExponentialSmoothing(y, trend="add" if trend else None, damped_trend=damped,
                                seasonal="add" if seasonal else None,
                                seasonal_periods=season if seasonal else None, **init)


def _fit_form(y: np.ndarray, form: str, season: int) -> tuple[dict, float]:
    """Fit one form by least squares; returns (spec, AICc). Raises when the fit is unusable."""
    trend, damped, seasonal = FORMS[form]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and overflow chatter; recorded below instead
        init = "heuristic" if seasonal else "estimated"
        # least squares from the default start: the same SSE as the brute-force grid + L-BFGS-B
        # in our trials, several times faster (every demo series is fitted in the weekly run)
        # level only: L-BFGS-B reaches the same SSE in about half least squares' time (measured on the demo)
        res = _es_model(y, form, season, initialization_method=init).fit(
            method="L-BFGS-B" if form == "ets_simple" else "least_squares", use_brute=False)
    p = res.params
    spec = {
        "method": form, "weeks": int(y.size),
        "alpha": float(p["smoothing_level"]),
        "beta": float(p["smoothing_trend"]) if trend else float("nan"),
        "gamma": float(p["smoothing_seasonal"]) if seasonal else float("nan"),
        "phi": float(p["damping_trend"]) if damped else (1.0 if trend else float("nan")),
        "initial_level": float(p["initial_level"]),
        "initial_trend": float(p["initial_trend"]) if trend else 0.0,
        "initial_seasons": np.asarray(p["initial_seasons"], dtype=float) if seasonal else None,
        "converged": bool(getattr(res, "mle_retvals", None) is None or res.mle_retvals.success),
    }
    numbers = [spec["alpha"], spec["initial_level"], spec["initial_trend"]]
    numbers += [spec["beta"], spec["phi"]] if trend else []
    numbers += [spec["gamma"], *spec["initial_seasons"]] if seasonal else []
    if not np.all(np.isfinite(numbers)) or not np.all(np.isfinite(res.fittedvalues)):
        raise ValueError("non-finite parameters or fitted values")
    aicc = float(res.aicc)
    if not np.isfinite(aicc):  # too few weeks for this form's parameters: AICc undefined
        raise ValueError("AICc undefined (too few weeks for the form's parameters)")
    return spec, aicc


def fit_series(y: np.ndarray, season: int = 52, min_weeks: int = 16, forms: Iterable[str] | None = None) -> dict:
    """Fit one series by the rule of the module docstring (the form with the lowest AICc).

    Args:
        y: weekly demand from the series' first week with demand up to the calibration origin.
        forms: the candidate forms (default: every form of :data:`FORMS` the history allows); :func:`ets`
            passes the form chosen at the series' first calibration.
    Returns:
        A spec dict: method (the form kept), weeks, converged, aicc, note (the candidates' AICc
        and any failed fit) and, for ETS methods, the fitted smoothing parameters (alpha,
        beta, gamma, phi; NaN where the form has none) and initial states.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n == 0:
        return {"method": "no_demand_yet", "weeks": 0, "converged": True, "note": "no demand yet"}
    if n < min_weeks:
        return {"method": "naive_fallback", "weeks": n, "converged": True,
                "note": f"{n} weeks of history (< {min_weeks})"}
    allowed = [f for f in FORMS if not FORMS[f][2] or n >= 2 * season]
    forms = [f for f in (forms or allowed) if f in allowed] or allowed
    fitted, notes = [], []
    for form in forms:
        try:
            fitted.append(_fit_form(y, form, season))
        except Exception as exc:  # a failed fit leaves the other candidates; all failed -> naive
            notes.append(f"{form.removeprefix('ets_')} fit failed: {type(exc).__name__}")
    if not fitted:
        return {"method": "naive_fallback", "weeks": n, "converged": True, "note": "; ".join(notes)}
    best, best_aicc = min(fitted, key=lambda t: t[1])     # min keeps the first (simplest) of equal AICc
    aiccs = ", ".join(f"{s['method'].removeprefix('ets_')} {a:.1f}" for s, a in fitted)
    return {**best, "aicc": best_aicc, "note": "; ".join([f"AICc {aiccs}", *notes])}


def _filter(y: np.ndarray, spec: dict, season: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level [n], trend [n], seasonal states [season + n]) of additive ETS run over ``y`` with a spec's
    parameters and initial states held: the recursions of statsmodels' ``ExponentialSmoothing`` (additive
    trend and seasonality) term for term, so the states are the ones its ``fit(optimized=False)`` gives, without
    building a model per series and week (the weekly run filters every series at every calibration).

    level_t = alpha (y_t - s_{t-m}) + (1 - alpha)(l_{t-1} + phi b_{t-1});
    b_t = beta (l_t - l_{t-1}) + (1 - beta) phi b_{t-1};
    s_t = gamma (y_t - l_{t-1} - phi b_{t-1}) + (1 - gamma) s_{t-m}.
    The trend returned is b_t (undamped state), as statsmodels' ``trend``; states[season + t] = s_t.
    """
    has_trend, damped, seasonal = FORMS[spec["method"]]
    a = float(spec["alpha"])
    ac = 1 - a
    beta = float(spec["beta"]) if has_trend else 0.0
    bc = 1 - beta
    phi = float(spec["phi"]) if damped else 1.0
    g = float(spec["gamma"]) if seasonal else 0.0
    gc = 1 - g
    n = int(y.size)
    ya = (a * np.asarray(y, dtype=float)).tolist()
    yg = (g * np.asarray(y, dtype=float)).tolist() if seasonal else None
    lv = [0.0] * (n + 1)
    b = [0.0] * (n + 1)
    lv[0] = float(spec["initial_level"])
    b[0] = float(spec["initial_trend"]) if has_trend else 0.0
    m = season if seasonal else 0
    st = list(np.asarray(spec["initial_seasons"], dtype=float).tolist()) + [0.0] * n if seasonal else []
    # the same operations in the same order as statsmodels' _predict (bit-identical states)
    if seasonal:
        for i in range(1, n + 1):
            prev = lv[i - 1] + b[i - 1] * phi if has_trend else lv[i - 1]
            lv[i] = ya[i - 1] - (a * st[i - 1]) + (ac * prev)
            if has_trend:
                b[i] = (beta * (lv[i] - lv[i - 1])) + (bc * (b[i - 1] * phi))
            st[i + m - 1] = yg[i - 1] - (g * prev) + (gc * st[i - 1])
    else:
        for i in range(1, n + 1):
            prev = lv[i - 1] + b[i - 1] * phi if has_trend else lv[i - 1]
            lv[i] = ya[i - 1] + (ac * prev)
            if has_trend:
                b[i] = (beta * (lv[i] - lv[i - 1])) + (bc * (b[i - 1] * phi))
    states = np.asarray(st[: m + n], dtype=float) if seasonal else np.zeros(0)
    return np.asarray(lv[1:], dtype=float), np.asarray(b[1:], dtype=float), states


def forecast_series(y: np.ndarray, spec: dict, origins: np.ndarray, lags: np.ndarray, season: int = 52) -> np.ndarray:
    """Forecasts [origin, lag] of one series with a fitted spec held fixed.

    Args:
        y: the series from its first week with demand through the last origin.
        spec: :func:`fit_series` result (fitted on a prefix of ``y``).
        origins: row numbers in ``y`` the forecasts are made at (demand known through them).
        lags: horizons in weeks (>= 1).
    Returns:
        An array (len(origins), len(lags)) of forecasts, clipped at 0.
    """
    y = np.asarray(y, dtype=float)
    origins, lags = np.asarray(origins, dtype=np.int64), np.asarray(lags, dtype=np.int64)
    method = spec["method"]
    if method == "no_demand_yet":
        return np.zeros((origins.size, lags.size))
    if method == "naive_fallback":
        return np.repeat(y[origins][:, None], lags.size, axis=1)
    has_trend, damped, seasonal = FORMS[method]
    level, trend, season_states = _filter(y[: origins.max() + 1], spec, season)
    out = np.repeat(level[origins][:, None], lags.size, axis=1)
    if has_trend:
        damp = np.cumsum(spec["phi"] ** np.arange(1, lags.max() + 1))[lags - 1]  # phi + ... + phi^h (h if phi=1)
        out = out + trend[origins][:, None] * damp[None, :]
    if seasonal:
        # seasonal state for week (origin + h) is the one last updated a whole number of seasons earlier
        states = season_states                                                    # states[season + t] = s_t
        k = np.ceil(lags / season).astype(np.int64)
        out = out + states[season + origins[:, None] + lags[None, :] - k[None, :] * season]
    return np.clip(out, 0.0, None)


#: the columns of :attr:`EtsResult.fits` after the series' id: one row per series and calibration, with the
#: fitted parameters and initial states, so a later run can keep them (:func:`ets` ``kept``)
FIT_COLUMNS = ["calibration_week", "start_week", "form", "method", "weeks", "alpha", "beta", "gamma", "phi",
               "initial_level", "initial_trend", "initial_seasons", "aicc", "converged", "note", "kept",
               "estimated_week"]


def _kept_by_series(kept: pd.DataFrame | None, id_col: str, weeks: np.ndarray) -> dict:
    """Kept fits by series: {id: [(calibration row in the history, spec, start_week label, form)]}, by calibration."""
    out: dict = {}
    if kept is None or kept.empty:
        return out
    cal = week_ordinals(kept["calibration_week"]) - weeks[0]
    for r, c in zip(kept.to_dict("records"), cal):
        if c < 0:  # before this history's first week: not a calibration of this history
            continue
        spec = {k: r.get(k) for k in ("method", "weeks", "alpha", "beta", "gamma", "phi", "initial_level",
                                      "initial_trend", "aicc", "converged", "note", "estimated_week")}
        seasons = r.get("initial_seasons")
        spec["initial_seasons"] = None if seasons is None or (np.ndim(seasons) == 0 and pd.isna(seasons)) \
            else np.asarray(seasons, dtype=float)
        form = r.get("form")
        out.setdefault(r[id_col], []).append((int(c), spec, r.get("start_week") or "",
                                              form if isinstance(form, str) and form in FORMS else None))
    for v in out.values():
        v.sort(key=lambda t: t[0])
    return out


def _calibrations(first_origin: int, last_origin: int, refit_every: int, kept: list) -> list:
    """The calibrations serving origins first..last (rows of the history): [(row, kept spec or None)].

    With a kept calibration on or before the first origin, the series keeps its schedule: the latest such
    calibration, the kept ones after it, then a new one every ``refit_every`` weeks after the last kept.
    Without (a new series, an empty store): a new calibration at the first origin and every ``refit_every``
    weeks after it.
    """
    base = [k for k in kept if k[0] <= first_origin]
    plan = [(k[0], k) for k in kept if base and base[-1][0] <= k[0] <= last_origin]
    nxt = plan[-1][0] + refit_every if plan else first_origin
    while nxt <= last_origin:
        plan.append((nxt, None))
        nxt += refit_every
    return plan


def ets(panel: pd.DataFrame, origins: Iterable[str], lags: Iterable[int], season: int = 52, min_weeks: int = 16,
        refit_every: int = 13, id_col: str = "sku", week_col: str = "week", value_col: str = "actual",
        kept: pd.DataFrame | None = None) -> EtsResult:
    """Exponential smoothing forecasts of every series from every origin (rule in the module docstring).

    Args:
        panel: long demand history, every week for every series (weeks after the last origin are ignored).
        origins: weeks the forecasts are made at; parameters are estimated at the first origin and
            every ``refit_every`` weeks after it, on data up to that calibration week only.
        lags: horizons in weeks.
        season: seasonal period in weeks; min_weeks: shortest history for a damped-trend fit.
        kept: the fits of an earlier run (:attr:`EtsResult.fits` rows: id_col and :data:`FIT_COLUMNS`). A series
            with a kept calibration on or before the first origin, and the same first week with demand, keeps
            its form, its parameters and its schedule: only the calibrations ``refit_every`` weeks and more
            after its last kept one are estimated (:func:`_calibrations`); the others are filtered with the
            kept parameters (states updated on the current history). A new series (or one whose first demand
            week moved) is estimated as without ``kept``. None = estimate every calibration.
    Returns:
        :class:`EtsResult` (forecasts with a ``method`` column, the fits table, seconds taken).
    """
    if refit_every < 1:
        raise ValueError(f"refit_every must be >= 1 week (got {refit_every})")
    t0 = time.perf_counter()
    weeks, ids, y = _matrix(panel, id_col, week_col, value_col)
    idx, lags = _origin_index(weeks, origins), np.asarray(sorted(set(lags)), dtype=np.int64)
    vals = np.full((len(idx), len(lags), len(ids)), np.nan)
    meth = np.full(vals.shape, "", dtype=object)
    fits = []
    kept_by = _kept_by_series(kept, id_col, weeks)
    if len(idx):
        for j, sid in enumerate(ids):
            series = y[:, j]
            nz = np.flatnonzero(series != 0)
            start = int(nz[0]) if nz.size else len(series)
            start_week = from_ordinal(int(weeks[start])) if nz.size else ""
            mine = [k for k in kept_by.get(sid, []) if k[2] == start_week]
            plan = _calibrations(int(idx[0]), int(idx[-1]), refit_every, mine)
            block = np.searchsorted(np.array([c for c, _ in plan]), idx, side="right") - 1
            # the form chosen at the first calibration with enough history, kept after it (and across runs)
            chosen = next((k[3] for k in mine if k[3]), None)
            for b, (c, k) in enumerate(plan):
                rows = np.flatnonzero(block == b)
                if rows.size == 0:
                    continue
                if k is not None:
                    spec = k[1]
                elif c >= start:
                    spec = fit_series(series[start: c + 1], season, min_weeks, [chosen] if chosen else None)
                else:  # demand starts after this calibration week: nothing to fit yet
                    spec = {"method": "naive_fallback", "weeks": 0, "converged": True,
                            "note": "first demand after the calibration week"}
                chosen = chosen or (spec["method"] if spec["method"] in FORMS else None)
                seasons = spec.get("initial_seasons")
                fits.append({id_col: sid, "calibration_week": from_ordinal(int(weeks[c])), "start_week": start_week,
                             "form": chosen,
                             **{f: spec.get(f, np.nan) for f in ("method", "weeks", "alpha", "beta", "gamma", "phi",
                                                                 "initial_level", "initial_trend", "aicc",
                                                                 "converged", "note")},
                             "initial_seasons": None if seasons is None else [float(x) for x in seasons],
                             "kept": k is not None, "estimated_week": spec.get("estimated_week")})
                o = idx[rows]
                live = o >= start
                vals[rows[~live], :, j] = 0.0
                meth[rows[~live], :, j] = "no_demand_yet"
                if not live.any():
                    continue
                vals[rows[live], :, j] = forecast_series(series[start:], spec, o[live] - start, lags, season)
                meth[rows[live], :, j] = spec["method"]
    out = _long(weeks, ids, idx, lags, vals, id_col, extra={"method": meth})
    return EtsResult(out, pd.DataFrame(fits, columns=[id_col, *FIT_COLUMNS]), time.perf_counter() - t0)
