"""Feedback to S&OP: bias corrections learned from known errors, proved by a rolling-origin backtest.

The correction
--------------
For a forecast made at the end of week ``s`` (the *origin*), the correction uses only
forecast errors already known then: target weeks ``t <= s`` within the last
``window_weeks`` weeks (so a correction never depends on demand after its origin).
Per product line and lag, with ``F`` and ``A`` the line's forecast and actual units per
target week (``n`` weeks):

- one-off weeks capped first: a week whose ratio A / F is more than ``outlier_z`` robust standard
  deviations (1.4826 x median absolute deviation) from the line's median ratio is capped there, so a
  single exceptional order does not become a "bias";
- observed ratio ``r = sum(A) / sum(F)``; observed bias % = ``sum(F) / sum(A) - 1``
  (positive = over-forecast);
- its standard error, the ratio estimator's ``se = sqrt(s2 / (n * mean(F)^2) * (1 + rho) /
  (1 - rho))`` with ``s2 = sum(e^2) / (n - 1)``, ``e = A - r * F`` and ``rho`` the lag-1
  autocorrelation of ``e`` (clipped to 0..0.9: errors of consecutive weeks are not independent);
- shrinkage toward no correction (:func:`shrink`): a prior that says the true bias is 0 with
  probability ``1 - prior_share`` and otherwise normal, half the time with standard deviation
  ``prior_sd`` (a typical bias) and half the time ``prior_sd_large`` (a large one). The correction
  is the posterior mean, ``c = w * (r - 1)``, ``w = sum_k p_k * sd_k^2 / (sd_k^2 + se^2)`` with
  ``p_k`` the posterior probability of each kind of real bias; capped at +-``max_correction``; 0
  with fewer than ``min_weeks`` weeks of evidence. Weak evidence (an observed bias within noise
  of 0) gives a small ``w``, so an unbiased forecast is left nearly alone; a bias far beyond the
  noise is corrected almost fully.

Per SKU the same estimate (without capping: intermittent demand has no typical ratio) is made on
the SKU's forecast *after* its line's correction, so it measures the SKU's own bias beyond its
line's, shrunk with ``prior_sd_sku``. The corrected forecast is ``F * (1 + c_line) * (1 + c_sku)``,
the SKU factors of a line rescaled so that they move demand between its SKUs and leave its total
at ``F_line * (1 + c_line)`` (:func:`apply_corrections`).

Sign conventions: bias % positive = over-forecast; correction % = corrected / current - 1
(negative = lower the forecast); correction units = corrected - current.

The backtest
------------
Every S&OP forecast for the last ``backtest_weeks`` target weeks, at every lag, is corrected
as it would have been at its own snapshot week (rolling origin), and both are scored with
WAPE against actual demand. ``improvement = (WAPE raw - WAPE corrected) / WAPE raw``
(positive = the correction helped).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from soe_helpers.analysis import baselines, measures
from soe_helpers.analysis import forecast_error as fe
from soe_helpers.analysis import forecast_history as fh
from soe_helpers.core.calendar import from_ordinal, week_end, week_ordinal, week_range
from soe_helpers.analysis.reconcile import plan_prices
from soe_helpers.analysis.materiality import is_material
from soe_helpers.core.formats import fmt_pct

__all__ = [
    "CORRECTION_COLUMNS",
    "FEEDBACK_COLUMNS",
    "shrink",
    "corrections",
    "corrections_by_origin",
    "correction_settings",
    "current_corrections",
    "apply_corrections",
    "backtest",
    "backtest_line_grain",
    "backtest_summary",
    "feedback_table",
    "fva_table",
    "ForecastFeedback",
    "forecast_feedback",
    "ETS_FIT_STORE_COLUMNS",
    "ets_fit_rows",
    "ets_fits_from_rows",
    "headline",
    "backtest_sentence",
    "fmt_points",
    "lag_display",
    "fva_line_display",
    "ts_display",
    "line_display",
    "fva_sentences",
    "ts_sentences",
    "correction_display",
    "sku_correction_display",
    "assumptions",
    "fva_sku_display",
    "line_corrections",
    "history_text",
    "coming_text",
    "history_display",
]

CORRECTION_COLUMNS = ["level", "key", "product_line", "lag", "weeks", "capped_weeks", "forecast", "actual",
                      "observed_bias_pct", "std_error", "p_real", "weight", "correction_pct"]
FEEDBACK_COLUMNS = ["level", "key", "product_line", "snapshot_week", "target_week", "lag", "current_forecast",
                    "correction", "corrected_forecast", "correction_pct", "correction_value", "line_correction_pct",
                    "sku_correction_pct", "evidence_weeks", "capped_weeks", "observed_bias_pct", "std_error", "p_real",
                    "weight", "evidence"]


# ---------------------------------------------------------------- the correction


def shrink(observed: np.ndarray, se: np.ndarray, prior_sd: float | Sequence[float],
           prior_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean of a bias under a spike-and-slab prior: (weight applied, probability the bias is real).

    Prior: with probability ``1 - prior_share`` the true bias is exactly 0; otherwise it is
    normal with mean 0 and standard deviation ``prior_sd`` (several values = an equal mix of
    such normals, e.g. ``(0.10, 0.50)``: a real bias is usually moderate but may be large).
    The observed bias is normal around the true one with standard error ``se``. The posterior
    mean is ``weight * observed`` with ``weight = sum_k p_k * sd_k^2 / (sd_k^2 + se^2)`` and
    ``p_k`` the posterior probability of slab component k; ``p_real = sum_k p_k``. So an
    estimate within noise of 0 is applied at a small fraction and a clear one almost fully.
    ``prior_share = 1`` with one ``prior_sd`` is plain normal (James-Stein style) shrinkage.
    """
    d = np.asarray(observed, dtype=float)
    se = np.maximum(np.asarray(se, dtype=float), 1e-9)
    sds = np.atleast_1d(np.asarray(prior_sd, dtype=float))
    logs, shrinks = [], []
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for sd in sds:
            v = sd**2 + se**2
            logs.append(-0.5 * np.log(v) - 0.5 * d**2 / v + np.log(prior_share / sds.size))
            shrinks.append(sd**2 / v)
        v0 = se**2
        logs.append(-0.5 * np.log(v0) - 0.5 * d**2 / v0 + (np.log(1 - prior_share) if prior_share < 1 else -np.inf))
        ls = np.stack(np.broadcast_arrays(*logs))
        ls = np.where(np.isfinite(ls) | (ls == -np.inf), ls, -np.inf)
        top = ls.max(axis=0)
        post = np.exp(ls - top)
        post = post / post.sum(axis=0)
    ok = np.isfinite(d) & np.isfinite(se)
    slab = post[:-1]
    weight = np.where(ok, (slab * np.stack(np.broadcast_arrays(*shrinks))).sum(axis=0), 0.0)
    p_real = np.where(ok, slab.sum(axis=0), 0.0)
    return weight, p_real


def _cap_outliers(df: pd.DataFrame, keys: list[str], z: float | None, min_weeks: int) -> pd.DataFrame:
    """Weekly rows (keys, _t, F, A) with one-off weeks capped: A limited to F x (median ratio +- z robust sd).

    The robust sd is 1.4826 x the median absolute deviation of the weekly ratios A / F of the group.
    Groups with fewer than ``min_weeks`` weeks or no spread are left as they are. Adds ``capped``
    (1 where a week was capped). Used for product lines, whose weekly totals are smooth enough;
    intermittent SKU demand has no meaningful typical ratio.
    """
    d = df.copy()
    d["capped"] = 0
    if z is None or d.empty:
        return d
    q = (d["A"] / d["F"]).where(d["F"] > 0)
    g = q.groupby([d[k] for k in keys], observed=True)
    med = g.transform("median")
    mad = (q - med).abs().groupby([d[k] for k in keys], observed=True).transform("median") * 1.4826
    n = g.transform("count")
    ok = (n >= min_weeks) & (mad > 0) & q.notna()
    hi = d["F"] * (med + z * mad)
    lo = d["F"] * (med - z * mad).clip(lower=0)
    capped = d["A"].clip(lower=lo, upper=hi)
    d["capped"] = (ok & (capped != d["A"])).astype(int)
    d["A"] = np.where(ok, capped, d["A"])
    return d


def _shrunk(df: pd.DataFrame, keys: list[str], prior_sd: Sequence[float], min_weeks: int, max_correction: float,
            prior_share: float = 0.5) -> pd.DataFrame:
    """Shrunk ratio corrections per ``keys`` from weekly rows (keys, _t, F, A); see the module docstring."""
    d = df.sort_values([*keys, "_t"], kind="stable").reset_index(drop=True)
    g = d.groupby(keys, sort=True, observed=True)
    sf, sa = g["F"].transform("sum"), g["A"].transform("sum")
    r = (sa / sf).where(sf > 0)
    d["_e"] = d["A"] - r * d["F"]
    d["_e2"] = d["_e"] ** 2
    d["_ee"] = d["_e"] * d.groupby(keys, sort=True, observed=True)["_e"].shift(1)
    if "capped" not in d:
        d["capped"] = 0
    s = d.groupby(keys, sort=True, observed=True).agg(weeks=("_t", "size"), forecast=("F", "sum"), actual=("A", "sum"),
                                                      e2=("_e2", "sum"), ee=("_ee", "sum"),
                                                      capped_weeks=("capped", "sum")).reset_index()
    return _shrunk_from_sums(s, prior_sd, min_weeks, max_correction, prior_share)


def _shrunk_from_sums(s: pd.DataFrame, prior_sd: Sequence[float], min_weeks: int, max_correction: float,
                      prior_share: float) -> pd.DataFrame:
    """:func:`_shrunk`'s estimate from each group's sums: weeks, forecast (sum F), actual (sum A), e2 (sum of e^2),
    ee (sum of e_t e_{t-1} over consecutive rows), capped_weeks; e = A - r F, r = sum A / sum F."""
    s = s.copy()
    n = s["weeks"].astype(float)
    ratio = (s["actual"] / s["forecast"]).where(s["forecast"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(s["e2"] > 0, s["ee"] / s["e2"], 0.0), 0.0, 0.9)
        s2 = np.where(n > 1, s["e2"] / (n - 1), np.inf)
        fbar = s["forecast"] / n
        var = s2 / (n * fbar**2) * (1 + rho) / (1 - rho)
    se = np.sqrt(np.where(np.isfinite(var), var, np.inf))
    w, p_real = shrink((ratio - 1.0).to_numpy(dtype=float), se, prior_sd, prior_share)
    ok = (n >= min_weeks) & ratio.notna() & np.isfinite(se)
    s["observed_bias_pct"] = (s["forecast"] / s["actual"] - 1).where(s["actual"] > 0)
    s["std_error"] = np.where(np.isfinite(se), se, np.nan)
    s["weight"] = np.where(ok, w, 0.0)
    s["p_real"] = np.where(ok, p_real, np.nan)
    s["correction_pct"] = np.where(ok, np.clip(w * (ratio.fillna(1.0) - 1.0), -max_correction, max_correction), 0.0)
    return s.drop(columns=["e2", "ee"])


def corrections(errors: pd.DataFrame, origin: str, window_weeks: int = 26, min_weeks: int = 8,
                prior_sd: float = 0.10, prior_sd_sku: float = 0.10, prior_sd_large: float | None = 0.50,
                prior_share: float = 0.5, max_correction: float = 0.5, outlier_z: float | None = 3.0) -> pd.DataFrame:
    """Bias corrections per product line and lag, and per SKU and lag, as known at the end of ``origin``.

    Only errors of target weeks in (origin - window_weeks, origin] are used: nothing after the
    origin can change the result.

    Args:
        errors: :func:`soe_helpers.analysis.forecast_error.forecast_errors` (SKU grain).
        origin: the week the corrected forecast is made at (its snapshot week).
        window_weeks: target weeks of evidence; min_weeks: fewer weeks of evidence = no correction.
        prior_sd, prior_sd_sku: typical size of a real bias (share) of a line and of a SKU beyond its line.
        prior_sd_large: size of a large real bias (half of the real ones, for lines and SKUs); None =
            only the typical size.
        prior_share: prior probability that a line's (a SKU's) bias is real; with prior_sd, the
            shrinkage strength (:func:`shrink`).
        max_correction: cap on |correction %|.
        outlier_z: a product line week whose actual / forecast ratio is further than this many robust
            standard deviations from the line's typical ratio is capped there (a one-off order is not a
            bias); None = no capping. SKU weeks are never capped.
    Returns:
        A new frame with :data:`CORRECTION_COLUMNS` (level "product_line" or "sku"; for SKUs,
        forecast, bias and correction are measured after the line's correction).
    """
    o = week_ordinal(origin)
    # "_t" (the target week's ordinal) may be precomputed by the caller: the backtest calls this once per origin
    t = errors["_t"].to_numpy() if "_t" in errors else fe.week_ordinals(errors["target_week"])
    keep = (t <= o) & (t > o - window_weeks)
    e = errors.loc[keep, ["sku", "product_line", "lag", "forecast", "actual"]].assign(_t=t[keep])
    if e.empty:
        return pd.DataFrame(columns=CORRECTION_COLUMNS)
    line = e.groupby(["product_line", "lag", "_t"], as_index=False, observed=True).agg(F=("forecast", "sum"),
                                                                                      A=("actual", "sum"))
    line = _cap_outliers(line, ["product_line", "lag"], outlier_z, min_weeks)
    big = () if prior_sd_large is None else (prior_sd_large,)
    lc = _shrunk(line, ["product_line", "lag"], (prior_sd, *big), min_weeks, max_correction, prior_share)
    lc = lc.assign(level="product_line", key=lc["product_line"])
    sku = e.rename(columns={"forecast": "F", "actual": "A"})[["sku", "product_line", "lag", "_t", "F", "A"]]
    sku = sku.merge(lc[["product_line", "lag", "correction_pct"]], on=["product_line", "lag"], how="left")
    sku["F"] = sku["F"] * (1 + sku["correction_pct"].fillna(0.0))
    sc = _shrunk(sku.drop(columns="correction_pct"), ["sku", "product_line", "lag"], (prior_sd_sku, *big), min_weeks,
                 max_correction, prior_share)
    sc = sc.assign(level="sku", key=sc["sku"])
    out = pd.concat([lc[CORRECTION_COLUMNS], sc[CORRECTION_COLUMNS]], ignore_index=True)
    out["lag"] = out["lag"].astype(np.int64)
    for c in ("key", "product_line"):  # plain labels again when the caller passed categoricals
        out[c] = out[c].astype(object)
    return out


def corrections_by_origin(errors: pd.DataFrame, origins: Sequence[str], window_weeks: int = 26, min_weeks: int = 8,
                          prior_sd: float = 0.10, prior_sd_sku: float = 0.10, prior_sd_large: float | None = 0.50,
                          prior_share: float = 0.5, max_correction: float = 0.5,
                          outlier_z: float | None = 3.0) -> pd.DataFrame:
    """:func:`corrections` at every origin at once, the same numbers (a test holds them equal to 1e-9) without
    one full recompute per origin: what the rolling-origin backtest needs.

    Product lines (few rows): each line week is repeated for every origin whose window holds it and the line
    rule runs once, grouped by origin too. SKUs (many rows): each SKU and lag's rows are summed over each
    origin's window from running sums, ``e = A - r F`` expanded (``sum e^2 = sum A^2 - 2 r sum AF + r^2 sum F^2``
    and likewise for consecutive weeks), the line's correction of that origin scaling F.

    Returns:
        :data:`CORRECTION_COLUMNS` plus ``origin`` (the snapshot week each row is as of), as
        ``pd.concat([corrections(errors, s, ...).assign(origin=s) for s in origins])``.
    """
    cols = [*CORRECTION_COLUMNS, "origin"]
    o_ord = np.array(sorted({week_ordinal(x) for x in origins}), dtype=np.int64)
    t_all = errors["_t"].to_numpy() if "_t" in errors else fe.week_ordinals(errors["target_week"])
    if not o_ord.size:
        return pd.DataFrame(columns=cols)
    keep = (t_all <= o_ord[-1]) & (t_all > o_ord[0] - window_weeks)
    e = errors.loc[keep, ["sku", "product_line", "lag", "forecast", "actual"]].assign(_t=t_all[keep])
    if e.empty:
        return pd.DataFrame(columns=cols)
    big = () if prior_sd_large is None else (prior_sd_large,)
    lc = _line_corrections_by_origin(e, o_ord, window_weeks, (prior_sd, *big), min_weeks, max_correction,
                                     prior_share, outlier_z)
    sc = _sku_corrections_by_origin(e, lc, o_ord, window_weeks, (prior_sd_sku, *big), min_weeks, max_correction,
                                    prior_share)
    out = pd.concat([lc.assign(level="product_line", key=lc["product_line"])[cols],
                     sc.assign(level="sku", key=sc["sku"])[cols]], ignore_index=True)
    out["lag"] = out["lag"].astype(np.int64)
    for c in ("key", "product_line"):
        out[c] = out[c].astype(object)
    labels = {int(x): from_ordinal(int(x)) for x in o_ord}
    out["origin"] = out["origin"].map(labels)
    return out


def _line_corrections_by_origin(e: pd.DataFrame, o_ord: np.ndarray, window_weeks: int, prior_sd, min_weeks: int,
                                max_correction: float, prior_share: float, outlier_z) -> pd.DataFrame:
    """The line rule of :func:`corrections` for every origin (``origin`` = its ordinal), grouped by origin."""
    line = e.groupby(["product_line", "lag", "_t"], as_index=False, observed=True).agg(F=("forecast", "sum"),
                                                                                      A=("actual", "sum"))
    t = line["_t"].to_numpy()
    # each line week, once for every origin whose window (origin - window, origin] holds it
    hold = (t[None, :] <= o_ord[:, None]) & (t[None, :] > o_ord[:, None] - window_weeks)
    oi, ri = np.nonzero(hold)
    rep = line.iloc[ri].reset_index(drop=True).assign(origin=o_ord[oi])
    keys = ["origin", "product_line", "lag"]
    rep = _cap_outliers(rep, keys, outlier_z, min_weeks)
    return _shrunk(rep, keys, prior_sd, min_weeks, max_correction, prior_share)


def _window_sum(cs: np.ndarray, start: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of rows lo..hi-1 of one group from its running sum ``cs`` (inclusive; ``start`` = the group's first row)."""
    upper = np.where(hi > lo, cs[np.maximum(hi - 1, 0)], 0.0)
    lower = np.where((lo > start) & (hi > lo), cs[np.maximum(lo - 1, 0)], 0.0)
    return upper - lower


def _sku_corrections_by_origin(e: pd.DataFrame, lc: pd.DataFrame, o_ord: np.ndarray, window_weeks: int, prior_sd,
                               min_weeks: int, max_correction: float, prior_share: float) -> pd.DataFrame:
    """The SKU rule of :func:`corrections` for every origin, from running sums per SKU and lag (see
    :func:`corrections_by_origin`); ``lc`` = the lines' corrections by origin."""
    d = e.sort_values(["sku", "product_line", "lag", "_t"], kind="stable").reset_index(drop=True)
    g = d.groupby(["sku", "product_line", "lag"], sort=True, observed=True)
    gid = g.ngroup().to_numpy()
    first = d.drop_duplicates(["sku", "product_line", "lag"])  # a group's first row: rows are sorted by group
    start = first.index.to_numpy()
    F, A, t = d["forecast"].to_numpy(float), d["actual"].to_numpy(float), d["_t"].to_numpy(np.int64)
    same = np.r_[False, gid[1:] == gid[:-1]]                     # row i and row i-1 are consecutive in a group
    Fp, Ap = np.r_[0.0, F[:-1]], np.r_[0.0, A[:-1]]
    sums = {"F": F, "A": A, "AA": A * A, "AF": A * F, "FF": F * F,
            "pAA": np.where(same, A * Ap, 0.0), "pAF": np.where(same, A * Fp, 0.0),
            "pFA": np.where(same, F * Ap, 0.0), "pFF": np.where(same, F * Fp, 0.0)}
    cs = pd.DataFrame(sums).groupby(gid, sort=False).cumsum()   # running sums restart per group (no cancellation)
    # one sorted code per row, group by group: a window's rows are a searchsorted range of it
    base = min(int(t.min()), int(o_ord[0]) - window_weeks)
    span = max(int(t.max()), int(o_ord[-1])) - base + 2
    code = gid.astype(np.int64) * span + (t - base)
    ng, no = len(start), len(o_ord)
    G = np.repeat(np.arange(ng), no)
    O = np.tile(o_ord, ng)
    lo = np.searchsorted(code, G * span + (O - window_weeks - base), side="right")
    hi = np.searchsorted(code, G * span + (O - base), side="right")
    live = hi > lo
    G, O, lo, hi = G[live], O[live], lo[live], hi[live]
    st = start[G]
    w = {k: _window_sum(cs[k].to_numpy(), st, lo, hi) for k in ("F", "A", "AA", "AF", "FF")}
    # consecutive pairs inside the window: rows lo+1 .. hi-1 paired with the row before
    w.update({k: _window_sum(cs[k].to_numpy(), st, lo + 1, hi) for k in ("pAA", "pAF", "pFA", "pFF")})
    s = pd.DataFrame({"origin": O, "sku": first["sku"].to_numpy()[G],
                      "product_line": first["product_line"].to_numpy()[G], "lag": first["lag"].to_numpy()[G],
                      "weeks": (hi - lo).astype(np.int64)})
    c = s.merge(lc[["origin", "product_line", "lag", "correction_pct"]], on=["origin", "product_line", "lag"],
                how="left")["correction_pct"].fillna(0.0).to_numpy()
    k = 1 + c                                                   # the SKU's forecast after its line's correction: F k
    sf = w["F"] * k
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sf > 0, w["A"] / sf, np.nan)
    rk = r * k
    ok = np.isfinite(r)
    s["forecast"] = sf
    s["actual"] = w["A"]
    e2 = w["AA"] - 2 * rk * w["AF"] + rk**2 * w["FF"]
    # A proportional to F in every week (e = 0, e.g. one week with demand): the expansion leaves rounding
    # noise where the direct sum is exactly 0; below 1e-10 of its terms it is that 0 (and so is sum e_t e_t-1)
    exact = ok & (e2 > 1e-10 * (w["AA"] + rk**2 * w["FF"]))
    s["e2"] = np.where(exact, e2, 0.0)
    s["ee"] = np.where(exact, w["pAA"] - rk * (w["pAF"] + w["pFA"]) + rk**2 * w["pFF"], 0.0)
    s["capped_weeks"] = 0
    return _shrunk_from_sums(s, prior_sd, min_weeks, max_correction, prior_share)


def apply_corrections(forecast_rows: pd.DataFrame, corr: pd.DataFrame) -> pd.DataFrame:
    """Corrected forecasts: ``forecast * (1 + line correction) * (1 + SKU correction)``.

    The SKU corrections of one line forecast (one snapshot and target week) are then rescaled
    together so that they only shift demand between the line's SKUs: the line's corrected total is
    its forecast total x (1 + line correction). Without this, shrinking the skewed SKU estimates of
    intermittent demand pulls every line total down (on the demo by about 1%, turning unbiased
    lines into under-forecast ones); a lower SKU forecast can look better by WAPE for skewed demand
    while biasing the total, and the total is what a finance plan uses.

    Args:
        forecast_rows: rows with sku, product_line, lag, forecast (units).
        corr: :func:`corrections` (one origin), or several origins stacked with an ``origin``
            column that the rows' ``snapshot_week`` is matched on.
    Returns:
        A new frame: the rows plus line_correction_pct, sku_correction_pct (after the rescaling)
        and corrected (units).
    """
    on = ["lag"] + (["origin"] if "origin" in corr else [])
    left = forecast_rows.assign(origin=forecast_rows["snapshot_week"]) if "origin" in corr else forecast_rows
    lc = corr[corr["level"] == "product_line"][["key", *on, "correction_pct"]].rename(
        columns={"key": "product_line", "correction_pct": "line_correction_pct"})
    sc = corr[corr["level"] == "sku"][["key", *on, "correction_pct"]].rename(
        columns={"key": "sku", "correction_pct": "sku_correction_pct"})
    out = left.merge(lc, on=["product_line", *on], how="left").merge(sc, on=["sku", *on], how="left")
    out["line_correction_pct"] = out["line_correction_pct"].astype(float).fillna(0.0)
    sku = 1 + out["sku_correction_pct"].astype(float).fillna(0.0)
    line_level = out["forecast"] * (1 + out["line_correction_pct"])
    # SKU corrections move demand between a line's SKUs, not the line's total: shrinking skewed SKU
    # estimates (intermittent demand) would otherwise drag every line total down a little
    groups = [out[c] for c in ("snapshot_week", "target_week") if c in out] + [out["product_line"]]
    tot_line = line_level.groupby(groups, dropna=False).transform("sum")
    tot_sku = (line_level * sku).groupby(groups, dropna=False).transform("sum")
    k = (tot_line / tot_sku).where(tot_sku > 0, 1.0)
    out["sku_correction_pct"] = sku * k - 1
    out["corrected"] = line_level * sku * k
    return out.drop(columns=["origin"]) if "origin" in corr else out


def backtest(errors: pd.DataFrame, target_weeks: Sequence[str], **kw) -> pd.DataFrame:
    """Rolling-origin backtest: each forecast for ``target_weeks`` corrected as at its own snapshot week.

    Args:
        errors: :func:`soe_helpers.analysis.forecast_error.forecast_errors` over the whole history (the
            corrections need the weeks before the backtest as evidence).
        target_weeks: the weeks scored.
        **kw: passed to :func:`corrections` (window_weeks, min_weeks, prior_sd, ...).
    Returns:
        A new frame: the error rows of those weeks plus line_correction_pct, sku_correction_pct
        and corrected (units).
    """
    rows = errors[errors["target_week"].isin(set(target_weeks))]
    if rows.empty:
        return rows.assign(line_correction_pct=[], sku_correction_pct=[], corrected=[])
    origins = sorted(rows["snapshot_week"].unique(), key=week_ordinal)
    first = week_ordinal(origins[0]) - kw.get("window_weeks", 26)
    t = fe.week_ordinals(errors["target_week"])
    evidence = errors.loc[t > first, ["sku", "product_line", "lag", "forecast", "actual"]].assign(_t=t[t > first])
    # categorical keys: grouping ~40 origins' evidence is several times faster than on text
    evidence = evidence.astype({"sku": "category", "product_line": "category"})
    return apply_corrections(rows, corrections_by_origin(evidence, origins, **kw))


def backtest_line_grain(bt: pd.DataFrame) -> pd.DataFrame:
    """A :func:`backtest` summed to product line totals per snapshot, target week and lag (forecast,
    corrected, actual in units): the grain a finance plan by line uses."""
    keys = ["snapshot_week", "target_week", "lag", "product_line"]
    return bt.groupby(keys, as_index=False, sort=True)[["forecast", "corrected", "actual"]].sum()


def backtest_summary(bt: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """WAPE and bias of the raw and corrected forecasts per group of a :func:`backtest`.

    Returns a new frame: *by, n, actual, wape_raw, wape_corrected, improvement ((raw - corrected)
    / raw, positive = the correction helped), bias_raw_pct, bias_corrected_pct (positive = over-forecast).
    """
    raw = fe.accuracy(bt, by)
    cor = fe.accuracy(bt, by, forecast_col="corrected")
    out = raw[[*by, "n", "actual", "wape", "bias_pct"]].rename(columns={"wape": "wape_raw", "bias_pct": "bias_raw_pct"})
    out["wape_corrected"] = cor["wape"].to_numpy()
    out["bias_corrected_pct"] = cor["bias_pct"].to_numpy()
    out["improvement"] = ((out["wape_raw"] - out["wape_corrected"]) / out["wape_raw"]).where(out["wape_raw"] > 0)
    return out[[*by, "n", "actual", "wape_raw", "wape_corrected", "improvement", "bias_raw_pct", "bias_corrected_pct"]]


# ---------------------------------------------------------------- the file for S&OP


def _evidence(r, need: int) -> str:
    weeks = int(r.evidence_weeks)
    sku = r.level == "sku"
    if weeks < need:
        return f"{weeks} weeks of known lag-{r.lag} errors ({need} needed): no {'SKU ' if sku else ''}correction"
    if not np.isfinite(r.observed_bias_pct):
        return f"no demand in the last {weeks} weeks: no {'SKU ' if sku else ''}correction"
    if r.observed_bias_pct <= -1:
        return f"no forecast in the last {weeks} weeks against orders placed: no {'SKU ' if sku else ''}correction"
    side = "above" if r.observed_bias_pct >= 0 else "below"
    full = 1 / (1 + r.observed_bias_pct) - 1
    applied = r.sku_correction_pct if sku else r.line_correction_pct
    what = "after its line's correction, the " if sku else ""
    capped = (f" ({r.capped_weeks} one-off week{'s' if r.capped_weeks > 1 else ''} capped)"
              if r.capped_weeks else "")
    return (f"{what}lag-{r.lag} forecast was {fmt_pct(abs(r.observed_bias_pct))} {side} orders over {weeks} weeks"
            f"{capped}: full correction {fmt_pct(full, signed=True)} (standard error {fmt_pct(r.std_error)}), "
            f"{r.p_real:.0%} likely a real bias, {fmt_pct(applied, signed=True)} applied")


def feedback_table(latest: pd.DataFrame, corr: pd.DataFrame, prices: pd.Series | None = None,
                   min_weeks: int = 8) -> pd.DataFrame:
    """The correction file for S&OP: the latest snapshot, corrected, by product line and by SKU.

    Args:
        latest: the latest snapshot's rows (snapshot_week, target_week, lag, sku, product_line, forecast).
        corr: :func:`corrections` at the run week.
        prices: plan price per SKU (currency per unit) to value the corrections; None = not valued.
        min_weeks: the evidence minimum used (for the evidence sentence).
    Returns:
        A new frame with :data:`FEEDBACK_COLUMNS`: product line rows first (each the sum of its SKU
        rows, so they tie out), then SKU rows. Units rounded to 0.01, shares to 0.0001.
        correction = corrected - current (units; negative = lower the forecast); correction_pct =
        corrected / current - 1; correction_value = correction x plan price (currency).
    """
    a = apply_corrections(latest, corr)
    a["current_forecast"] = a["forecast"].astype(float).round(2)
    a["corrected_forecast"] = a["corrected"].round(2)
    a["correction"] = (a["corrected_forecast"] - a["current_forecast"]).round(2)
    price = a["sku"].map(prices) if prices is not None else pd.Series(np.nan, index=a.index)
    a["correction_value"] = (a["correction"] * price.astype(float)).round(2)
    ev = corr.rename(columns={"weeks": "evidence_weeks"})[["level", "key", "lag", "evidence_weeks", "capped_weeks",
                                                            "observed_bias_pct", "std_error", "p_real", "weight"]]
    skus = a.assign(level="sku", key=a["sku"]).merge(ev, on=["level", "key", "lag"], how="left")
    sums = ["current_forecast", "corrected_forecast", "correction", "correction_value"]
    lines = a.groupby(["product_line", "snapshot_week", "target_week", "lag"], as_index=False)[sums].sum(min_count=1)
    lines[sums] = lines[sums].round(2)
    lc = a.drop_duplicates(["product_line", "lag"])[["product_line", "lag", "line_correction_pct"]]
    lines = lines.merge(lc, on=["product_line", "lag"], how="left").assign(level="product_line",
                                                                           sku_correction_pct=np.nan)
    lines["key"] = lines["product_line"]
    lines = lines.merge(ev, on=["level", "key", "lag"], how="left")
    out = pd.concat([lines, skus], ignore_index=True)
    out["evidence_weeks"] = out["evidence_weeks"].fillna(0).astype(int)
    out["capped_weeks"] = out["capped_weeks"].fillna(0).astype(int)
    out["correction_pct"] = (out["corrected_forecast"] / out["current_forecast"] - 1).where(
        out["current_forecast"] > 0, 0.0)
    for c in ("observed_bias_pct", "std_error", "p_real", "weight"):
        out[c] = out[c].astype(float)
    out["weight"] = out["weight"].fillna(0.0)
    out["evidence"] = [_evidence(r, min_weeks) for r in out.itertuples(index=False)]
    for c in ("correction_pct", "line_correction_pct", "sku_correction_pct", "observed_bias_pct", "std_error",
              "p_real", "weight"):
        out[c] = out[c].round(4)
    out["_lvl"] = (out["level"] == "sku").astype(int)
    out = out.sort_values(["_lvl", "product_line", "key", "lag"], kind="stable")
    return out[FEEDBACK_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------- value added


def fva_table(compare: pd.DataFrame, by: Sequence[str] = (), methods: Sequence[str] = ("naive", "seasonal_naive",
                                                                                     "ets")) -> pd.DataFrame:
    """Forecast value added of the S&OP forecast over each baseline, per group.

    ``compare`` has actual, sop (the S&OP forecast) and one column per baseline method. Each
    comparison uses the rows where that baseline exists. FVA = WAPE(baseline) - WAPE(S&OP), in
    share points: positive = the S&OP forecast is more accurate than the baseline.

    Returns a new frame: *by, n, wape_sop, and per method wape_<method> and fva_<method>.
    """
    by = list(by)
    keys = by or ["_all"]
    c = compare.assign(_all=0) if not by else compare
    c = c.assign(_ae_sop=(c["actual"] - c["sop"]).abs())
    out = c.groupby(keys, sort=True).agg(n=("actual", "size"), _a=("actual", "sum"), _e=("_ae_sop", "sum"))
    out["wape_sop"] = (out["_e"] / out["_a"]).where(out["_a"] > 0)
    for m in methods:
        has = c[m].notna()
        cm = c[has].assign(_ae_m=(c.loc[has, "actual"] - c.loc[has, m]).abs())
        gm = cm.groupby(keys, sort=True).agg(_a=("actual", "sum"), _es=("_ae_sop", "sum"), _em=("_ae_m", "sum"))
        out[f"wape_{m}"] = (gm["_em"] / gm["_a"]).where(gm["_a"] > 0)
        out[f"fva_{m}"] = ((gm["_em"] - gm["_es"]) / gm["_a"]).where(gm["_a"] > 0)
    out = out.drop(columns=["_a", "_e"]).reset_index()
    return out.drop(columns=["_all"]) if not by else out


# ---------------------------------------------------------------- the week's analysis


@dataclass
class ForecastFeedback:
    """Everything the forecast feedback report shows for one week (see :func:`forecast_feedback`)."""

    week: str
    history: tuple[str, str]              # first and last week of demand history used
    window: tuple[str, str]               # the trailing accuracy window (target weeks)
    backtest_window: tuple[str, str]
    latest_snapshot: str | None
    errors: pd.DataFrame                  # SKU grain, whole history
    by_lag: pd.DataFrame                  # SKU grain, trailing window: accuracy + baselines' WAPE per lag
    by_lag_line_grain: pd.DataFrame       # line totals, trailing window
    by_line: pd.DataFrame                 # SKU grain, per line and lag
    by_sku: pd.DataFrame                  # SKU grain, focus lag
    trend: pd.DataFrame                   # company total per lag (1 and focus), by target week
    line_trend: pd.DataFrame              # per product line at the focus lag, by target week
    ts: pd.DataFrame
    fva_lines: pd.DataFrame               # per line at the focus lag: SKU grain and line grain
    fva_skus: pd.DataFrame                # per SKU at the focus lag
    corrections: pd.DataFrame             # at the run week
    feedback: pd.DataFrame                # the file for S&OP
    backtest: pd.DataFrame
    backtest_overall: pd.DataFrame
    backtest_by_line: pd.DataFrame
    backtest_by_lag: pd.DataFrame
    ets_fits: pd.DataFrame
    baseline_seconds: float
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    forecast_history: "fh.ForecastHistory | None" = None

    @property
    def ready(self) -> bool:
        """True when the forecast history holds the weeks the full report needs (see
        :attr:`soe_helpers.analysis.forecast_history.ForecastHistory.ready`); else only the evidence so far
        is shown, never metrics from too few weeks."""
        return self.forecast_history is None or self.forecast_history.ready


def _history_figures(h: "fh.ForecastHistory") -> dict:
    return {"snapshots": len(h.snapshots), "first_snapshot": h.snapshots[0] if h.snapshots else None,
            "last_snapshot": h.snapshots[-1] if h.snapshots else None,
            "weeks_by_lag": {str(k): v for k, v in h.weeks_by_lag.items() if v}, "ready": h.ready,
            "sentence": fh.history_sentence(h)}


def _building(week: str, history: tuple[str, str], forecasts: pd.DataFrame, errors: pd.DataFrame,
              h: "fh.ForecastHistory", p) -> ForecastFeedback:
    """The report while the forecast history is too short: the evidence so far, no metric, no correction."""
    empty = pd.DataFrame()
    latest = h.snapshots[-1] if h.snapshots else None
    fig = {"week": week, "focus_lag": p.focus_lag, "most_biased_line": None, "ts_alert_lines": [],
           "forecast_history": _history_figures(h)}
    return ForecastFeedback(
        week=week, history=history, window=(history[0], week), backtest_window=(history[0], week),
        latest_snapshot=latest, errors=errors, by_lag=pd.DataFrame(columns=["lag", "wape", "bias_pct"]),
        by_lag_line_grain=empty, by_line=empty, by_sku=empty, trend=empty, line_trend=empty, ts=empty,
        fva_lines=pd.DataFrame(columns=["product_line", "fva_naive", "fva_seasonal_naive", "fva_ets"]),
        fva_skus=empty, corrections=pd.DataFrame(columns=CORRECTION_COLUMNS),
        feedback=pd.DataFrame(columns=FEEDBACK_COLUMNS), backtest=empty, backtest_overall=empty,
        backtest_by_line=empty, backtest_by_lag=empty,
        ets_fits=pd.DataFrame(columns=["level", "key", "calibration_week", "method"]), baseline_seconds=0.0,
        figures=fig, notes=[], forecast_history=h)


def _baseline_compare(err_rows: pd.DataFrame, panel: pd.DataFrame, id_col: str, origins: list[str], lags,
                      p, fits_out: list, kept: pd.DataFrame | None = None) -> pd.DataFrame:
    """S&OP rows beside the naive, seasonal naive and ETS forecasts made at the same origin (``kept``: the
    ETS fits an earlier run kept for these series, :func:`baselines.ets`)."""
    keys = [id_col, "snapshot_week", "target_week", "lag"]
    nv = baselines.naive(panel, origins, lags, id_col=id_col).rename(columns={"forecast": "naive"})
    sn = baselines.seasonal_naive(panel, origins, lags, season=p.seasonal_period, id_col=id_col).rename(
        columns={"forecast": "seasonal_naive"})
    et = baselines.ets(panel, origins, lags, season=p.seasonal_period, min_weeks=p.ets_min_weeks,
                       refit_every=p.ets_refit_weeks, id_col=id_col, kept=kept)
    fits_out.append(et)
    out = err_rows.rename(columns={"forecast": "sop"})
    for b in (nv, sn, et.forecasts.rename(columns={"forecast": "ets", "method": "ets_method"})):
        out = out.merge(b, on=keys, how="left")
    return out


def _kept(kept_fits: pd.DataFrame | None, level: str) -> pd.DataFrame | None:
    """The kept fits of one level (``sku`` or ``product_line``), keyed by that column as :func:`baselines.ets` reads."""
    if kept_fits is None or kept_fits.empty:
        return None
    return kept_fits[kept_fits["level"] == level].rename(columns={"key": level})


#: the stored fits' columns (soe_helpers.store.tables.ets_fits_t, with week and run_id)
ETS_FIT_STORE_COLUMNS = ["level", "key", *[c for c in baselines.FIT_COLUMNS if c != "kept"]]


def ets_fit_rows(fb: "ForecastFeedback", run_id: str | None) -> list[dict]:
    """The statistical baseline's fits of a week as store rows (``week`` = the run week): what the next week's
    run keeps (:func:`ets_fits_from_rows`). NaN becomes None; Holt-Winters initial states a JSON list."""
    if fb.ets_fits.empty or "start_week" not in fb.ets_fits:
        return []
    out = []
    for r in fb.ets_fits[ETS_FIT_STORE_COLUMNS].to_dict("records"):
        row = {"week": fb.week, "run_id": run_id}
        for k, v in r.items():
            if k == "initial_seasons":
                v = json.dumps([float(x) for x in v]) if isinstance(v, (list, np.ndarray)) else None
            elif isinstance(v, (float, np.floating)):
                v = None if not np.isfinite(v) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, np.bool_):
                v = bool(v)
            row[k] = v
        out.append(row)
    return out


def ets_fits_from_rows(rows: list[dict]) -> pd.DataFrame:
    """Stored fit rows (:func:`ets_fit_rows`) as the ``kept_fits`` :func:`forecast_feedback` takes."""
    if not rows:
        return pd.DataFrame(columns=ETS_FIT_STORE_COLUMNS)
    d = pd.DataFrame(rows)
    for c in ("alpha", "beta", "gamma", "phi", "initial_level", "initial_trend", "aicc"):
        d[c] = d[c].astype(float)
    d["initial_seasons"] = [json.loads(x) if isinstance(x, str) and x else None for x in d["initial_seasons"]]
    return d[ETS_FIT_STORE_COLUMNS].reset_index(drop=True)


def correction_settings(p) -> dict:
    """The keyword arguments of :func:`corrections` from ``params.forecast_feedback``."""
    return dict(window_weeks=p.correction_window_weeks, min_weeks=p.min_evidence_weeks, prior_sd=p.prior_bias_sd,
                prior_sd_sku=p.prior_bias_sd_sku, prior_sd_large=p.prior_large_bias_sd, prior_share=p.prior_biased_share,
                max_correction=p.max_correction, outlier_z=p.outlier_z)


def current_corrections(forecasts: pd.DataFrame, booked_weekly: pd.DataFrame, order_history: pd.DataFrame,
                        products: pd.DataFrame, week: str, p) -> pd.DataFrame:
    """The bias corrections known at the end of ``week`` (:func:`corrections`, the forecast report's rule),
    without the baselines and backtest of :func:`forecast_feedback`: what the landing applies."""
    actuals = fe.actual_demand(booked_weekly, order_history, products, week)
    errors = fe.forecast_errors(forecasts, actuals, week, p.max_lag)
    if errors.empty:
        return pd.DataFrame(columns=CORRECTION_COLUMNS)
    return corrections(errors, week, **correction_settings(p))


def forecast_feedback(forecasts: pd.DataFrame, booked_weekly: pd.DataFrame, order_history: pd.DataFrame,
                      products: pd.DataFrame, plan: pd.DataFrame, week: str, p, materiality=None,
                      as_of=None, kept_fits: pd.DataFrame | None = None) -> ForecastFeedback:
    """The forecast feedback analysis of one week: accuracy, value added, corrections and backtest.

    Args:
        forecasts, products, plan: the validated canonical tables.
        booked_weekly, order_history: the aggregates of :mod:`soe_helpers.data.aggregates` (actual demand).
        week: the run week; only demand and snapshots up to its end are used.
        p: ``params.forecast_feedback`` (:class:`soe_helpers.core.params.ForecastFeedbackParams`).
        materiality: ``params.materiality``; a line's bias is material when its bias at list price passes
            the one rule of :mod:`soe_helpers.analysis.materiality` against its demand at list price.
        as_of: the data's as-of date; a week not complete by then is refused.
        kept_fits: the statistical baseline's fits an earlier run kept (a :attr:`ForecastFeedback.ets_fits`,
            read from the store by :func:`soe_helpers.store.history.kept_ets_fits`): each series keeps its form
            and parameters until they are ``p.ets_refit_weeks`` old (:func:`baselines.ets`). None = every
            parameter estimated in this call.
    Returns:
        :class:`ForecastFeedback`. While the forecast history is too short for the focus lag's bias
        (:func:`soe_helpers.analysis.forecast_history.forecast_history`: a company exporting only its
        current forecast, whose snapshots the runs keep from the first one), only the evidence so far:
        ``ready`` is False, no metric and no correction.
    Raises:
        ValueError: naming what is missing (an incomplete week, no orders).
    """
    if as_of is not None and pd.Timestamp(as_of).normalize() < week_end(week):
        raise ValueError(f"week {week} is not complete in the data (as of {pd.Timestamp(as_of).date()}): "
                         "its demand is not all known yet")
    notes: list[str] = []
    last = week_ordinal(week)
    actuals = fe.actual_demand(booked_weekly, order_history, products, week)
    first = actuals["week"].iloc[0]
    errors = fe.forecast_errors(forecasts, actuals, week, p.max_lag)
    hist = fh.forecast_history(forecasts, errors, week, p.max_lag, p.focus_lag, p.min_accuracy_weeks,
                               p.min_evidence_weeks)
    if not hist.ready:
        return _building(week, (first, week), forecasts, errors, hist, p)
    lags = list(range(1, p.max_lag + 1))
    win_first = from_ordinal(max(last - p.trailing_weeks + 1, week_ordinal(first)))
    window = week_range(win_first, week)
    if len(window) < p.trailing_weeks:
        notes.append(f"The demand history starts {first}: the accuracy window has {len(window)} weeks, "
                     f"not the {p.trailing_weeks} set.")
    ew = errors[errors["target_week"].isin(set(window))]

    # --- accuracy (SKU grain) with MASE scales
    scales = fe.mase_scales(actuals, "sku", season=p.seasonal_period)
    ew = ew.merge(scales[["sku", "scale"]], on="sku", how="left")
    lines_panel = actuals.groupby(["week", "product_line"], as_index=False)["actual"].sum()
    le = fe.aggregate_errors(errors)
    lew = le[le["target_week"].isin(set(window))]
    lscales = fe.mase_scales(lines_panel, "product_line", season=p.seasonal_period)
    lew = lew.merge(lscales[["product_line", "scale"]], on="product_line", how="left")

    # --- baselines at the same origins as the S&OP snapshots scored
    origins = [w for w in week_range(from_ordinal(week_ordinal(win_first) - p.max_lag), from_ordinal(last - 1))
               if week_ordinal(w) >= week_ordinal(first)]
    t0 = time.perf_counter()
    fits: list = []
    cmp_sku = _baseline_compare(ew, actuals, "sku", origins, lags, p, fits, _kept(kept_fits, "sku"))
    cmp_line = _baseline_compare(lew, lines_panel, "product_line", origins, lags, p, fits,
                                 _kept(kept_fits, "product_line"))
    base_seconds = time.perf_counter() - t0
    ets_fits = pd.concat([fits[0].fits.assign(level="sku").rename(columns={"sku": "key"}),
                          fits[1].fits.assign(level="product_line").rename(columns={"product_line": "key"})],
                         ignore_index=True)
    ets_fits["estimated_week"] = ets_fits["estimated_week"].where(ets_fits["kept"], week)  # new fits: this week

    by_lag = fe.accuracy(ew, ["lag"], scale_col="scale")
    fva_lag = fva_table(cmp_sku, ["lag"])
    by_lag = by_lag.merge(fva_lag.drop(columns=["n"]), on="lag", how="left")
    by_lag_line = fe.accuracy(lew, ["lag"], scale_col="scale").merge(
        fva_table(cmp_line, ["lag"]).drop(columns=["n"]), on="lag", how="left")
    by_line = fe.accuracy(ew, ["product_line", "lag"], scale_col="scale")
    focus = p.focus_lag
    by_sku = fe.accuracy(ew[ew["lag"] == focus], ["sku", "product_line"], scale_col="scale")
    trend = fe.accuracy_trend(errors, sorted({1, focus}), rolling_weeks=min(13, p.trailing_weeks))
    line_trend = fe.accuracy_trend(errors, [focus], rolling_weeks=min(13, p.trailing_weeks), by=["product_line"])
    ts = fe.tracking_signals(le, week, sorted({1, focus}), p.ts_window_weeks, p.ts_threshold)

    fl_sku = fva_table(cmp_sku[cmp_sku["lag"] == focus], ["product_line"])
    fl_line = fva_table(cmp_line[cmp_line["lag"] == focus], ["product_line"])
    fva_lines = fl_sku.merge(fl_line.drop(columns=["n"]), on="product_line", suffixes=("", "_line_grain"))
    fva_skus = fva_table(cmp_sku[cmp_sku["lag"] == focus], ["sku", "product_line"])

    # --- corrections now, applied to the latest snapshot
    ckw = correction_settings(p)
    corr = corrections(errors, week, **ckw)
    s_ord = fe.week_ordinals(forecasts["snapshot_week"])
    known = s_ord <= last
    latest = from_ordinal(int(s_ord[known].max())) if known.any() else None
    fb = pd.DataFrame(columns=FEEDBACK_COLUMNS)
    if latest is None:
        notes.append(f"No forecast snapshot was made on or before {week}: there is nothing to correct.")
    else:
        snap = forecasts[forecasts["snapshot_week"] == latest]
        t_ord = fe.week_ordinals(snap["target_week"])
        snap = snap.assign(lag=t_ord - week_ordinal(latest))
        snap = snap[(t_ord > last) & (snap["lag"] <= p.max_lag)].rename(columns={"quantity": "forecast"})
        snap = snap.merge(products[["sku", "product_line"]], on="sku", how="left")
        if latest != week:
            notes.append(f"The latest forecast snapshot is {latest}, not {week}: its remaining weeks are corrected.")
        targets = set(snap["target_week"])
        prices = plan_prices(plan[plan["week"].isin(targets)], products)
        fb = feedback_table(snap[["snapshot_week", "target_week", "lag", "sku", "product_line", "forecast"]], corr,
                            prices, p.min_evidence_weeks)

    # --- rolling-origin backtest
    bt_first = from_ordinal(max(last - p.backtest_weeks + 1, week_ordinal(first)))
    bt_weeks = week_range(bt_first, week)
    bt = backtest(errors, bt_weeks, **ckw)
    bt_lg = backtest_line_grain(bt)
    bt_all = pd.concat([backtest_summary(bt).assign(grain="sku"), backtest_summary(bt_lg).assign(grain="line")],
                       ignore_index=True)
    bt_line = backtest_summary(bt, ["product_line"]).merge(
        backtest_summary(bt_lg, ["product_line"])[["product_line", "wape_raw", "wape_corrected", "improvement"]],
        on="product_line", suffixes=("", "_line_grain"))
    bt_lag = backtest_summary(bt, ["lag"])

    fig = _figures(week, by_lag, by_line, ts, fva_lag, corr, bt_all, bt_line, focus, base_seconds, materiality,
                   bias_value(ew[ew["lag"] == focus], products))
    fig["forecast_history"] = _history_figures(hist)
    return ForecastFeedback(
        week=week, history=(first, week), window=(win_first, week), backtest_window=(bt_first, week),
        latest_snapshot=latest, errors=errors, by_lag=by_lag, by_lag_line_grain=by_lag_line, by_line=by_line,
        by_sku=by_sku, trend=trend, line_trend=line_trend, ts=ts, fva_lines=fva_lines, fva_skus=fva_skus, corrections=corr, feedback=fb,
        backtest=bt, backtest_overall=bt_all, backtest_by_line=bt_line, backtest_by_lag=bt_lag, ets_fits=ets_fits,
        baseline_seconds=base_seconds, figures=fig, notes=notes, forecast_history=hist)


def _at(df: pd.DataFrame, col: str, **where):
    m = np.ones(len(df), bool)
    for k, v in where.items():
        m &= (df[k] == v).to_numpy()
    return float(df.loc[m, col].iloc[0]) if m.any() else float("nan")


def bias_value(errors: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Forecast bias in money per product line: (forecast - actual) units x list price, with demand at list price.

    Args:
        errors: forecast errors (sku, product_line, forecast, actual in units), one lag.
        products: the validated ``products`` table (sku, list_price).
    Returns:
        A new frame indexed by product_line with ``bias_value`` (currency; + = over-forecast) and
        ``demand_value`` (actual demand at list price, the reference of the materiality test).
    """
    e = errors[["sku", "product_line", "forecast", "actual"]].merge(products[["sku", "list_price"]], on="sku", how="left")
    price = e["list_price"].fillna(0.0)
    return pd.DataFrame({"product_line": e["product_line"], "bias_value": (e["forecast"] - e["actual"]) * price,
                         "demand_value": e["actual"] * price}).groupby("product_line").sum()


def _figures(week, by_lag, by_line, ts, fva_lag, corr, bt_all, bt_line, focus, base_seconds, materiality,
             line_values: pd.DataFrame) -> dict:
    """The headline figures recorded in results.json (section forecast_feedback)."""
    raw, cor = _at(bt_all, "wape_raw", grain="sku"), _at(bt_all, "wape_corrected", grain="sku")
    lraw, lcor = _at(bt_all, "wape_raw", grain="line"), _at(bt_all, "wape_corrected", grain="line")
    f = {
        "week": week, "focus_lag": focus,
        "wape_lag1": _at(by_lag, "wape", lag=1), "wape_lag4": _at(by_lag, "wape", lag=4),
        "bias_lag1": _at(by_lag, "bias_pct", lag=1), "bias_lag4": _at(by_lag, "bias_pct", lag=4),
        "mase_lag1": _at(by_lag, "mase", lag=1), "mase_lag4": _at(by_lag, "mase", lag=4),
        "fva_vs_naive": _at(fva_lag, "fva_naive", lag=focus),
        "fva_vs_seasonal_naive": _at(fva_lag, "fva_seasonal_naive", lag=focus),
        "fva_vs_ets": _at(fva_lag, "fva_ets", lag=focus),
        "backtest_wape_raw": raw, "backtest_wape_corrected": cor,
        "backtest_improvement_pct": (raw - cor) / raw if raw and np.isfinite(raw) and raw > 0 else float("nan"),
        "backtest_wape_raw_line_grain": lraw, "backtest_wape_corrected_line_grain": lcor,
        "backtest_improvement_line_grain": (lraw - lcor) / lraw if lraw and np.isfinite(lraw) and lraw > 0 else None,
        "backtest_by_line": {r.product_line: {
            "wape_raw": r.wape_raw, "wape_corrected": r.wape_corrected, "improvement": r.improvement,
            "wape_raw_line_grain": r.wape_raw_line_grain, "wape_corrected_line_grain": r.wape_corrected_line_grain,
            "improvement_line_grain": r.improvement_line_grain} for r in bt_line.itertuples()},
        "ts_alert_lines": sorted(ts.loc[ts["alert"], "product_line"].unique().tolist()),
        "baseline_seconds": base_seconds,
    }
    # the most biased line: the largest bias the evidence supports (the largest |correction| learned, so a
    # one-off order or noise does not qualify); the largest raw bias when no line earns a correction
    fl = by_line[by_line["lag"] == focus].dropna(subset=["bias_pct"])
    lc = corr[(corr["level"] == "product_line") & (corr["lag"] == focus)]
    lc = lc[lc["key"].isin(set(fl["product_line"])) & (lc["correction_pct"].abs() > 0)]
    if len(fl):
        name = (lc.loc[lc["correction_pct"].abs().idxmax(), "key"] if len(lc)
                else fl.loc[fl["bias_pct"].abs().idxmax(), "product_line"])
        top = fl[fl["product_line"] == name].iloc[0]
        c = _at(corr[corr["level"] == "product_line"], "correction_pct", key=top["product_line"], lag=focus)
        f["most_biased_line"] = {"product_line": top["product_line"], "bias_pct_lag4": _at(
            by_line, "bias_pct", product_line=top["product_line"], lag=4), "bias_pct_focus_lag": float(top["bias_pct"]),
            "correction": c, "material": _bias_material(line_values, top["product_line"], materiality),
            "backtest_improvement": _at(bt_line, "improvement", product_line=top["product_line"]),
            "backtest_improvement_line_grain": _at(bt_line, "improvement_line_grain",
                                                   product_line=top["product_line"])}
    else:
        f["most_biased_line"] = None
    return f


def _bias_material(line_values: pd.DataFrame, line: str, materiality) -> bool:
    """The line's focus-lag bias is material under the one rule (its bias in money against its demand in money)."""
    if materiality is None:
        return True
    if line not in line_values.index:
        return False
    v = line_values.loc[line]
    return is_material(float(v["bias_value"]), float(v["demand_value"]), materiality)


# ---------------------------------------------------------------- words and display tables


def _over(x: float) -> str:
    return "over" if x > 0 else "under"


def headline(fb: ForecastFeedback, materiality=None) -> str:
    """The report's headline: the most biased line at the focus lag and what correcting it would have done."""
    if not fb.ready:
        n = len(fb.forecast_history.snapshots)
        return (f"Forecast accuracy is being built up: {n} week{'s' if n != 1 else ''} of forecast snapshots kept so "
                f"far, not yet enough to measure error and bias at lag {fb.figures['focus_lag']}.")
    mb = fb.figures.get("most_biased_line")
    lag = fb.figures["focus_lag"]
    span = f"{fb.window[0]} to {fb.window[1]}"
    if not mb:
        return f"No lag-{lag} forecast with known demand between {span}: forecast bias cannot be measured."
    b = mb["bias_pct_focus_lag"]
    if not mb["material"]:
        pct = (f" (material: {fmt_pct(materiality.pct)} of demand and at least {materiality.abs:,.0f} at list price)"
               if materiality is not None else "")
        return (f"No product line is materially biased at lag {lag} ({span}): the largest bias is "
                f"{mb['product_line']}, {fmt_pct(abs(b))} {_over(b)}-forecast{pct}.")
    s = f"The plan {_over(b)}-forecasts {mb['product_line']} by {fmt_pct(abs(b))} at lag {lag} ({span})"
    li = mb.get("backtest_improvement_line_grain")
    if li is not None and np.isfinite(li) and li > 0:
        line = fb.backtest_by_line.set_index("product_line").loc[mb["product_line"]]
        s += ("; correcting it would have cut its error: " + measures.wape_change_label(
            line["wape_raw_line_grain"], line["wape_corrected_line_grain"], scope=mb["product_line"],
            grain="weekly line", window=tuple(fb.backtest_window)) + ".")
    else:
        s += "; the bias correction would not have reduced its error in the backtest."
    return s


def backtest_sentence(fb: ForecastFeedback) -> str:
    """One sentence on the backtest of all lines, at both grains (empty while the history is too short)."""
    if not fb.ready:
        return ""
    f = fb.figures
    n = len(week_range(*fb.backtest_window))
    parts = []
    for grain, raw, cor in (("SKU", f["backtest_wape_raw"], f["backtest_wape_corrected"]),
                            ("weekly line", f["backtest_wape_raw_line_grain"],
                             f["backtest_wape_corrected_line_grain"])):
        if np.isfinite(raw) and np.isfinite(cor):
            parts.append(measures.wape_change_label(raw, cor, scope="all lines", grain=grain,
                                                    window=tuple(fb.backtest_window)))
    if not parts:
        return "There is not enough history to backtest the corrections."
    return (f"Over the last {n} weeks, every S&OP forecast at lags 1 to {int(fb.by_lag['lag'].max())}, corrected "
            "as it would have been when it was made: " + "; ".join(parts) + ".")


def history_text(fb: ForecastFeedback) -> str:
    """The forecast evidence the report stands on, in words (:func:`forecast_history.history_sentence`)."""
    return fh.history_sentence(fb.forecast_history) if fb.forecast_history is not None else ""


def coming_text(fb: ForecastFeedback) -> str:
    """While the history is too short: what the report will show, and from when (empty once it is ready)."""
    h = fb.forecast_history
    if fb.ready or h is None:
        return ""
    more = max(h.min_bias_weeks - h.weeks_by_lag.get(h.focus_lag, 0), 1)
    return (f"Once the lag-{h.focus_lag} forecasts have {h.min_bias_weeks} weeks of known error (in {_plural(more)}), "
            "this report shows the rest: WAPE, bias and MASE by lag and by product line, the accuracy trend, the "
            "forecast value added over the naive, seasonal naive and statistical baselines, tracking-signal alerts, "
            "the bias corrections for S&OP (sop_feedback.csv) and the backtest that proves them.")


def _plural(n: int) -> str:
    return f"{n} more week" + ("s" if n != 1 else "")


def history_display(fb: ForecastFeedback) -> pd.DataFrame:
    """Per lag, the weeks of known error and the error once they are enough (:func:`forecast_history.history_display`)."""
    return fh.history_display(fb.forecast_history, fb.errors)


def fmt_points(x) -> str:
    """A difference of two shares in percentage points: ``0.183 -> '+18.3 pts'`` (FVA, for display)."""
    return "–" if x is None or not np.isfinite(x) else f"{x * 100:+.1f} pts"


def _num(x, digits: int):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def lag_display(fb: ForecastFeedback) -> pd.DataFrame:
    """Accuracy by lag for the report table (SKU grain, trailing window): shares stay numbers (format
    them as percentages); MASE is rounded to 0.01 and FVA written in points, for display only."""
    d = fb.by_lag
    out = d[["lag", "wape", "bias_pct", "mape", "mase"]].copy()
    out["mase"] = [_num(x, 2) for x in out["mase"]]
    for m in ("naive", "seasonal_naive", "ets"):
        out[f"fva_{m}"] = [fmt_points(x) for x in d[f"fva_{m}"]]
    return out


def fva_line_display(fb: ForecastFeedback) -> pd.DataFrame:
    """FVA per product line at the focus lag, per SKU and per line total, FVA written in points (display)."""
    f = fb.fva_lines
    out = f[["product_line", "wape_sop"]].copy()
    for m in ("naive", "seasonal_naive", "ets"):
        out[f"fva_{m}"] = [fmt_points(x) for x in f[f"fva_{m}"]]
    out["wape_sop_line_grain"] = f["wape_sop_line_grain"]
    out["fva_ets_line_grain"] = [fmt_points(x) for x in f["fva_ets_line_grain"]]
    return out


def ts_display(fb: ForecastFeedback) -> pd.DataFrame:
    """The tracking signals for the report table: TS rounded to 0.1, alerts spelled out (display only)."""
    t = fb.ts
    out = t[["product_line", "lag", "weeks", "ts", "bias_pct", "direction", "largest_week", "largest_week_share"]].copy()
    out["ts"] = [_num(x, 1) for x in t["ts"]]
    out.insert(4, "alert", np.where(t["alert"], "ALERT", ""))
    return out


def line_display(fb: ForecastFeedback, lags: Sequence[int]) -> pd.DataFrame:
    """WAPE, bias % and MASE per product line at the given lags (SKU grain, trailing window), wide;
    MASE rounded to 0.01 for display."""
    d = fb.by_line[fb.by_line["lag"].isin(list(lags))]
    out = d.pivot(index="product_line", columns="lag", values=["wape", "bias_pct", "mase"])
    out.columns = [f"{m}_lag{lag}" for m, lag in out.columns]
    order = [f"{m}_lag{lag}" for lag in lags for m in ("wape", "bias_pct", "mase")]
    out = out[[c for c in order if c in out]].reset_index()
    for c in out.columns:
        if c.startswith("mase_"):  # rounded for display only
            out[c] = [_num(x, 2) for x in out[c]]
    return out


def fva_sentences(fb: ForecastFeedback) -> list[str]:
    """Where the S&OP forecast beats the baselines and where it does worse (focus lag, trailing window)."""
    lag = fb.figures["focus_lag"]
    out = []
    names = {"naive": "the naive forecast", "seasonal_naive": "the seasonal naive", "ets": "the statistical baseline"}
    f = fb.fva_lines
    for m, label in names.items():
        worse = f.loc[f[f"fva_{m}"] < 0, "product_line"].tolist()
        if worse:
            out.append(f"At lag {lag} the S&OP forecast is less accurate than {label} for {', '.join(worse)} "
                       "(per SKU): there the judgment added to the forecast is costing accuracy.")
    s = fb.fva_skus.dropna(subset=["fva_ets"])
    if len(s):
        n_worse = int((s["fva_ets"] < 0).sum())
        out.append(f"Per SKU at lag {lag}: the S&OP forecast beats the statistical baseline on {len(s) - n_worse} of "
                   f"the {len(s)} SKUs with demand in the window and is worse on {n_worse}.")
    if not out:
        out.append(f"At lag {lag} the S&OP forecast beats every baseline on every product line.")
    return out


def ts_sentences(fb: ForecastFeedback, threshold: float) -> list[str]:
    """One sentence per product line with a tracking-signal alert (either lag), or that there is none."""
    a = fb.ts[fb.ts["alert"]]
    if a.empty:
        return [f"No product line's tracking signal is beyond ±{threshold:g}."]
    out = []
    for line, g in a.groupby("product_line", sort=True):
        r = g.loc[g["ts"].abs().idxmax()]
        s = (f"{line}: tracking signal {r['ts']:+.1f} at lag {int(r['lag'])} over {int(r['weeks'])} weeks, a persistent "
             f"{r['direction']} ({fmt_pct(abs(r['bias_pct']))} {_over(r['bias_pct'])} demand).")
        if r["largest_week_share"] >= 0.3:
            s += (f" One week, {r['largest_week']}, holds {fmt_pct(r['largest_week_share'], digits=0)} of the error: "
                  "check whether a single order drives it before correcting.")
        out.append(s)
    return out


def correction_display(fb: ForecastFeedback, lag: int) -> pd.DataFrame:
    """Product line rows of the feedback file at one lag (the table in the report)."""
    f = fb.feedback
    cols = ["key", "target_week", "current_forecast", "corrected_forecast", "correction", "correction_pct",
            "correction_value", "evidence"]
    return f[(f["level"] == "product_line") & (f["lag"] == lag)][cols].reset_index(drop=True)


def sku_correction_display(fb: ForecastFeedback, lag: int, top: int = 10) -> pd.DataFrame:
    """The SKUs whose own correction (beyond their line's) is largest at one lag."""
    f = fb.feedback
    s = f[(f["level"] == "sku") & (f["lag"] == lag) & (f["sku_correction_pct"].abs() > 0)]
    s = s.reindex(s["sku_correction_pct"].abs().sort_values(ascending=False, kind="stable").index).head(top)
    return s[["key", "product_line", "current_forecast", "corrected_forecast", "line_correction_pct",
              "sku_correction_pct", "correction_value", "evidence"]].reset_index(drop=True)


def line_corrections(fb: ForecastFeedback, lag: int) -> dict[str, float]:
    """Each product line's correction (share; negative = lower the forecast) at one lag, as of the run week."""
    c = fb.corrections
    c = c[(c["level"] == "product_line") & (c["lag"] == lag)]
    return {str(k): float(v) for k, v in zip(c["key"], c["correction_pct"])}


def fva_sku_display(fb: ForecastFeedback, top: int = 10, worst: bool = True) -> pd.DataFrame:
    """The SKUs where the S&OP forecast loses most to (``worst``) or gains most over the statistical
    baseline at the focus lag; FVA written in points (display only)."""
    s = fb.fva_skus.dropna(subset=["fva_ets"])
    s = s[s["fva_ets"] < 0] if worst else s[s["fva_ets"] > 0]
    s = s.sort_values("fva_ets", ascending=worst, kind="stable").head(top)
    out = s[["sku", "product_line", "wape_sop", "wape_ets", "fva_ets", "wape_naive"]].reset_index(drop=True)
    out["fva_ets"] = [fmt_points(x) for x in out["fva_ets"]]
    return out


def _kept_count(fits: pd.DataFrame) -> str:
    """' (this week: 12 fits estimated, 453 kept)' for the assumptions; '' without the column."""
    if "kept" not in fits or fits.empty:
        return ""
    kept = int(fits["kept"].astype(bool).sum())
    return f" (this week: {len(fits) - kept} fit{'s' if len(fits) - kept != 1 else ''} estimated, {kept} kept)"


_METHODS = {"ets_seasonal": "Holt-Winters seasonal", "ets_damped": "damped trend", "ets_trend": "linear trend",
            "ets_simple": "simple smoothing", "naive_fallback": "naive fallback",
            "no_demand_yet": "no demand yet"}
_LEVELS = {"product_line": "product lines", "sku": "SKUs"}


def assumptions(fb: ForecastFeedback, p) -> list[str]:
    """The method and every assumption the report used, as sentences (stated in the report)."""
    counts = fb.ets_fits.sort_values("calibration_week").groupby(["level", "key"]).tail(1)
    counts = counts.groupby(["level", "method"]).size()
    mix = "; ".join(f"{_LEVELS[lvl]}: " + ", ".join(f"{n} {_METHODS.get(m, m)}" for (l2, m), n in counts.items()
                                                   if l2 == lvl)
                    for lvl in ("product_line", "sku") if lvl in counts.index.get_level_values(0))
    return [
        f"Actual demand = units ordered per ISO week (cancelled lines excluded), history {fb.history[0]} to "
        f"{fb.history[1]}; a forecast's lag = target week − snapshot week. Accuracy window: target weeks "
        f"{fb.window[0]} to {fb.window[1]}.",
        "WAPE = Σ|actual − forecast| ÷ Σ actual. MAPE = mean of |actual − forecast| ÷ actual over weeks with "
        "demand (weeks without demand are excluded and counted). Bias = Σ(forecast − actual) ÷ Σ actual: "
        "positive = over-forecast. MASE = mean |actual − forecast| ÷ the series' in-sample seasonal naive error "
        f"(same week {p.seasonal_period} weeks earlier).",
        f"Tracking signal = Σ(actual − forecast) ÷ mean |actual − forecast| over the last {p.ts_window_weeks} "
        f"weeks per product line (textbook sign: negative = over-forecast); alert beyond ±{p.ts_threshold:g}.",
        "Forecast value added (FVA) = WAPE of a baseline − WAPE of the S&OP forecast, in points, at the same "
        "origin and lag: positive = the S&OP forecast is better. Baselines: naive (the last known week), seasonal "
        f"naive (the same week {p.seasonal_period} weeks earlier) and exponential smoothing (statsmodels).",
        f"Exponential smoothing rule: each series gets the form its history supports, the one with the lowest "
        f"corrected Akaike information criterion (AICc) among simple smoothing, linear trend and damped trend "
        f"from {p.ets_min_weeks} weeks of history, and Holt-Winters with additive {p.seasonal_period}-week "
        f"seasonality once a series has two full seasons; with less history, or when every fit fails, the naive "
        f"forecast. Parameters are estimated on data known at the time and re-estimated every "
        f"{p.ets_refit_weeks} weeks; in between, the fits kept from the last week on record are run over the new "
        f"weeks with their parameters held{_kept_count(fb.ets_fits)}. Methods used ({mix}). "
        f"{len(fb.ets_fits)} fits over {fb.ets_fits.loc[fb.ets_fits['level'] == 'product_line', 'key'].nunique()} "
        f"product lines and {fb.ets_fits.loc[fb.ets_fits['level'] == 'sku', 'key'].nunique()} SKUs; all baselines "
        f"took {fb.baseline_seconds:.1f} s.",
        f"Bias corrections learn from the last {p.correction_window_weeks} weeks of errors known when the forecast "
        f"is made (never later ones): the ratio Σ actual ÷ Σ forecast per product line and lag, shrunk toward no "
        f"correction by its evidence (a real bias is a priori {fmt_pct(p.prior_biased_share, digits=0)} likely, "
        f"typically ±{fmt_pct(p.prior_bias_sd, digits=0)} for a line and ±{fmt_pct(p.prior_bias_sd_sku, digits=0)} "
        f"for a SKU beyond its line, sometimes ±{fmt_pct(p.prior_large_bias_sd, digits=0)}); at least {p.min_evidence_weeks} weeks of evidence, at most "
        f"±{fmt_pct(p.max_correction, digits=0)}"
        + (f"; a line week more than {p.outlier_z:g} robust standard deviations off its usual actual ÷ forecast "
           "ratio (a one-off order) is capped there first" if p.outlier_z else "")
        + ". SKU corrections move demand between a line's SKUs; the line's total follows its line correction.",
        f"Backtest: the last {p.backtest_weeks} target weeks, every lag, each forecast corrected as of its own "
        "snapshot week (rolling origin), scored by WAPE per SKU and per product line total.",
    ]
