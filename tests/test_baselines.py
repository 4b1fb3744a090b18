"""Baseline forecasts: naive and seasonal naive by hand, the ETS fallback rule, statsmodels parity, no leakage."""
import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from soe_helpers.analysis import baselines as bl
from soe_helpers.core.calendar import from_ordinal, week_ordinal

W0 = week_ordinal("2026-W01")


def _panel(series: dict[str, list[float]], start: int = W0) -> pd.DataFrame:
    rows = [{"week": from_ordinal(start + i), "sku": k, "actual": float(v)} for k, vs in series.items()
            for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def _wk(i: int) -> str:
    return from_ordinal(W0 + i)


def test_naive_is_the_origin_week():
    p = _panel({"A": [1, 2, 3, 4, 5, 6], "B": [10, 0, 10, 0, 10, 0]})
    f = bl.naive(p, [_wk(2), _wk(3)], [1, 3])
    assert list(f.columns) == ["sku", *bl.FORECAST_COLUMNS]
    a = f[f["sku"] == "A"].set_index(["snapshot_week", "lag"])
    assert a.loc[(_wk(2), 1), "forecast"] == 3.0 and a.loc[(_wk(2), 1), "target_week"] == _wk(3)
    assert a.loc[(_wk(3), 3), "forecast"] == 4.0 and a.loc[(_wk(3), 3), "target_week"] == _wk(6)
    assert len(f) == 2 * 2 * 2
    # origins outside the history are dropped; None = every week
    assert len(bl.naive(p, [_wk(-3), _wk(40)], [1])) == 0
    assert len(bl.naive(p, None, [1])) == 6 * 2


def test_seasonal_naive_goes_back_whole_seasons():
    p = _panel({"A": [1, 2, 3, 4, 5, 6, 7, 8]})
    f = bl.seasonal_naive(p, [_wk(4), _wk(5)], [1, 2, 5], season=4).set_index(["snapshot_week", "lag"])
    # origin W05 (row 4), lag 1 -> target row 5, one season back = row 1 -> 2
    assert f.loc[(_wk(4), 1), "forecast"] == 2.0
    assert f.loc[(_wk(5), 2), "forecast"] == 4.0        # target row 7 -> row 3
    # lag 5 > season: two seasons back; origin row 5 -> target row 10 -> row 2; origin row 4 -> row 1
    assert f.loc[(_wk(5), 5), "forecast"] == 3.0 and f.loc[(_wk(4), 5), "forecast"] == 2.0
    short = bl.seasonal_naive(p, [_wk(1)], [1], season=4)
    assert short.empty                                   # target row 2 - 4 < 0: before the history
    with pytest.raises(ValueError, match="season must be >= 1"):
        bl.seasonal_naive(p, None, [1], season=0)


def test_panel_problems_are_named():
    p = _panel({"A": [1, 2, 3]})
    with pytest.raises(ValueError, match="duplicate"):
        bl.naive(pd.concat([p, p.iloc[:1]]), None, [1])
    with pytest.raises(ValueError, match="every week for every series"):
        bl.naive(p.drop(index=1), None, [1])
    with pytest.raises(ValueError, match="empty"):
        bl.naive(p.iloc[:0], None, [1])


def test_fit_rule_and_fallbacks():
    rng = np.random.default_rng(1)
    assert bl.fit_series(np.array([]))["method"] == "no_demand_yet"
    short = bl.fit_series(np.array([5.0, 6, 7]), season=52, min_weeks=16)
    assert short["method"] == "naive_fallback" and "3 weeks of history (< 16)" in short["note"]
    # a short trendless series: simple smoothing wins on AICc (no trend parameters to pay for)
    flat = bl.fit_series(50 + rng.normal(0, 5, 30), season=52, min_weeks=16)
    assert flat["method"] == "ets_simple" and 0 <= flat["alpha"] <= 1 and np.isnan(flat["beta"])
    assert "AICc simple" in flat["note"] and "damped" in flat["note"] and "seasonal" not in flat["note"]
    # a steady climb of 3 units a week: a trend form wins, and its trend is about +3
    climb = bl.fit_series(100 + 3.0 * np.arange(40) + rng.normal(0, 1, 40), season=52, min_weeks=16)
    assert climb["method"] in ("ets_trend", "ets_damped") and abs(climb["initial_trend"] - 3) < 1
    t = np.arange(24)
    seasonal = bl.fit_series(100 + 20 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 2, 24), season=6, min_weeks=16)
    assert seasonal["method"] == "ets_seasonal" and len(seasonal["initial_seasons"]) == 6


def test_the_kept_form_has_the_lowest_aicc():
    rng = np.random.default_rng(5)
    y = 80 + rng.normal(0, 4, 60)
    spec = bl.fit_series(y, season=52, min_weeks=16)
    others = [bl._fit_form(y, f, 52)[1] for f in ("ets_simple", "ets_trend", "ets_damped")]
    assert spec["aicc"] == pytest.approx(min(others))


def test_a_failed_fit_falls_back(monkeypatch):
    def boom(*a, **k):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(bl, "_es_model", boom)
    spec = bl.fit_series(np.arange(1.0, 40.0), season=12, min_weeks=16)
    assert spec["method"] == "naive_fallback"
    assert "seasonal fit failed: LinAlgError" in spec["note"] and "damped fit failed" in spec["note"]
    assert "simple fit failed" in spec["note"]


@pytest.mark.parametrize("form", ["ets_simple", "ets_trend", "ets_damped", "ets_seasonal"])
def test_every_form_forecasts_as_statsmodels_does(form):
    rng = np.random.default_rng(7)
    t = np.arange(40)
    seasonal = form == "ets_seasonal"
    y = 200 + 2 * t + (30 * np.sin(2 * np.pi * t / 8) if seasonal else 0) + rng.normal(0, 8, 40)
    season = 8 if seasonal else 52
    spec, _ = bl._fit_form(y, form, season)
    trend, damped, _s = bl.FORMS[form]
    kw = dict(trend="add" if trend else None, damped_trend=damped, seasonal="add" if seasonal else None,
              seasonal_periods=season if seasonal else None)
    init = {"initial_level": spec["initial_level"]}
    if trend:
        init["initial_trend"] = spec["initial_trend"]
    if seasonal:
        init["initial_seasonal"] = spec["initial_seasons"]
    ref = ExponentialSmoothing(y, initialization_method="known", **kw, **init).fit(
        smoothing_level=spec["alpha"], smoothing_trend=spec["beta"] if trend else None,
        damping_trend=spec["phi"] if damped else None,
        smoothing_seasonal=spec["gamma"] if seasonal else None, optimized=False)
    lags = np.arange(1, 11)
    out = bl.forecast_series(y, spec, np.array([len(y) - 1]), lags, season)
    assert np.allclose(out[0], np.clip(ref.forecast(10), 0, None))
    one = bl.forecast_series(y, spec, np.arange(len(y) - 1), np.array([1]), season)[:, 0]
    assert np.allclose(one, np.clip(ref.fittedvalues[1:], 0, None))


def test_ets_has_no_leakage_and_handles_new_items():
    rng = np.random.default_rng(3)
    a = list(100 + rng.normal(0, 10, 40))
    new = [0.0] * 30 + list(20 + rng.normal(0, 2, 10))       # first demand in week 31
    p = _panel({"A": a, "N": new})
    origins = [_wk(i) for i in range(20, 36)]
    res = bl.ets(p, origins, [1, 2, 4], season=52, min_weeks=16, refit_every=8)
    f = res.forecasts
    assert set(f["method"]) == {"ets_simple", "no_demand_yet", "naive_fallback"}  # A is flat: simple smoothing
    n = f[f["sku"] == "N"].set_index(["snapshot_week", "lag"])
    assert n.loc[(_wk(25), 1), "forecast"] == 0.0 and n.loc[(_wk(25), 1), "method"] == "no_demand_yet"
    assert n.loc[(_wk(31), 2), "forecast"] == new[31]           # demand began after calibration: naive
    assert (f["forecast"] >= 0).all()
    assert res.fits["calibration_week"].tolist().count(_wk(20)) == 2 and res.seconds > 0
    # change every week after W31: forecasts made up to W31 are unchanged
    a2 = a[:31] + [x * 3 for x in a[31:]]
    res2 = bl.ets(_panel({"A": a2, "N": new}), origins, [1, 2, 4], season=52, min_weeks=16, refit_every=8)
    key = ["sku", "snapshot_week", "lag"]
    m = f.merge(res2.forecasts, on=key, suffixes=("", "_2"))
    upto = m["snapshot_week"].map(week_ordinal) <= W0 + 30
    assert np.allclose(m.loc[upto, "forecast"], m.loc[upto, "forecast_2"])
    later = m[~upto & (m["sku"] == "A")]
    assert (later["forecast"] != later["forecast_2"]).all()     # ... and later ones do use the new weeks
    assert res.method_counts() == {"ets_simple": 1, "naive_fallback": 1}
    # the form chosen at A's first calibration is kept at the later ones (parameters re-estimated)
    a_fits = res.fits[res.fits["sku"] == "A"]
    assert len(a_fits) == 2 and set(a_fits["method"]) == {"ets_simple"}
    assert "AICc simple" in a_fits["note"].iloc[0] and "damped" not in a_fits["note"].iloc[1]
    with pytest.raises(ValueError, match="refit_every"):
        bl.ets(p, origins, [1], refit_every=0)


def test_kept_fits_are_filtered_not_estimated_until_they_are_refit_weeks_old():
    """A later run given an earlier run's fits keeps each series' form, parameters and schedule: the same
    forecasts at the origins the kept calibrations serve, one new estimate only when the last is ``refit_every``
    weeks old, and a series whose first demand week moved is estimated again."""
    rng = np.random.default_rng(5)
    a = list(100 + rng.normal(0, 10, 60))
    b = list(50 + 0.8 * np.arange(60) + rng.normal(0, 2, 60))
    p = _panel({"A": a, "B": b})
    lags = [1, 2, 4]
    first = bl.ets(p, [_wk(i) for i in range(20, 36)], lags, season=52, min_weeks=16, refit_every=8)
    assert first.fits["calibration_week"].tolist() == [_wk(20), _wk(28)] * 2 and not first.fits["kept"].any()
    assert set(first.fits.columns) == {"sku", *bl.FIT_COLUMNS}
    # one week later: origins 21..35 are served by the kept calibrations 20 and 28 (35 < 28 + 8): nothing estimated
    later = bl.ets(p, [_wk(i) for i in range(21, 36)], lags, season=52, min_weeks=16, refit_every=8, kept=first.fits)
    assert later.fits["kept"].all() and later.fits["calibration_week"].tolist() == [_wk(20), _wk(28)] * 2
    key = ["sku", "snapshot_week", "lag"]
    m = first.forecasts.merge(later.forecasts, on=key, suffixes=("", "_kept"))
    assert len(m) == 2 * 15 * 3 and np.allclose(m["forecast"], m["forecast_kept"], rtol=0, atol=1e-12)
    # the kept parameters are those of the first run (not re-estimated on the longer history)
    assert np.array_equal(later.fits["alpha"].to_numpy(), first.fits["alpha"].to_numpy())
    # two weeks later origin 36 needs a calibration 8 weeks after 28: estimated on data up to week 36 only
    two = bl.ets(p, [_wk(i) for i in range(22, 37)], lags, season=52, min_weeks=16, refit_every=8, kept=later.fits)
    cal = two.fits.set_index(["sku", "calibration_week"])
    assert cal.loc[("A", _wk(36)), "kept"] == False and cal.loc[("A", _wk(28)), "kept"] == True  # noqa: E712
    assert cal.loc[("A", _wk(36)), "weeks"] == 37
    fresh = bl.fit_series(np.asarray(a[:37]), 52, 16, [first.fits["form"].iloc[0]])
    assert cal.loc[("A", _wk(36)), "alpha"] == pytest.approx(fresh["alpha"], abs=1e-12)
    # the form chosen first is kept at the new calibration
    assert cal.loc[("B", _wk(36)), "method"] == first.fits.set_index("sku").loc["B", "form"].iloc[0]
    # a kept series whose first demand week moved (B's first weeks now without demand) is estimated anew
    b2 = [0.0, 0.0] + b[2:]
    moved = bl.ets(_panel({"A": a, "B": b2}), [_wk(i) for i in range(21, 36)], lags, season=52, min_weeks=16,
                   refit_every=8, kept=first.fits)
    mf = moved.fits.set_index("sku")
    assert mf.loc["A", "kept"].all() and not mf.loc["B", "kept"].any()
    assert mf.loc["B", "calibration_week"].tolist() == [_wk(21), _wk(29)] and mf.loc["B", "start_week"].iloc[0] == _wk(2)
