"""One definition per measure: DSO, DIO, DPO and the cash conversion cycle, each with its period and basis."""
import math

import pandas as pd
import pytest

from soe_helpers.analysis import measures as M
from soe_helpers.analysis.kpis import working_capital, working_measures
from soe_helpers.core.params import KpiParams


def test_each_measure_is_balance_over_flow_times_days_with_its_label():
    per = M.period_label("13w", "2026-W47")
    s = M.dso(120.0, 273.0, 91, period=per)                 # 120 / 273 x 91 = 40.0 days
    assert s.value == pytest.approx(40.0) and s.label == "DSO 40 days (13-week average to 2026-W47, on invoiced sales)"
    i = M.dio(50.0, 182.0, 91, period=per)                  # 25 days
    p = M.dpo(30.0, 182.0, 91, period=per)                  # 15 days
    assert (i.value, p.value) == (pytest.approx(25.0), pytest.approx(15.0))
    assert i.label == "DIO 25 days (13-week average to 2026-W47, on COGS at standard cost)"
    c = M.ccc(s, i, p)
    assert c.value == pytest.approx(50.0) and c.label.startswith("Cash conversion cycle 50 days (13-week average")
    assert math.isnan(M.dso(10.0, 0.0, 7, period=per).value) and M.dso(10.0, 0.0, 7, period=per).label.startswith("DSO –")
    with pytest.raises(ValueError, match="different periods"):
        M.ccc(s, M.dio(1.0, 1.0, 7, period="balance at the end of 2026-W47"), p)


def test_period_words():
    assert M.period_label("now", "2026-W47") == "balance at the end of 2026-W47"
    assert M.period_label("13w", "2026-W47", "ending") == "13 weeks to 2026-W47, ending balances"
    assert M.period_label("quarter", "2026-W47", quarter="2026-Q4") == "2026-Q4 to date average, to 2026-W47"
    assert M.period_label("week", "2026-W47") == "week 2026-W47 average"
    with pytest.raises(ValueError, match="expected now"):
        M.period_label("year", "2026-W47")


def test_the_kpi_report_and_its_labels_use_the_same_definition():
    k = working_capital(ar=29_508, ap=62_611, inventory=6_331, revenue=383_285, cogs=214_137, days=365)
    working = pd.DataFrame([{"period": "13w", "days": 365.0, "revenue": 383_285.0, "cogs": 214_137.0,
                             "ar": 29_508.0, "ap": 62_611.0, "inventory": 6_331.0}])
    m = working_measures(working, "2026-W47", "2026-Q4", KpiParams(dso_revenue="shipped"))["13w"]
    for name in ("dso", "dio", "dpo", "ccc"):
        assert m[name].value == pytest.approx(k[name])
    assert m["dso"].label == f"DSO {k['dso']:.0f} days (13-week average to 2026-W47, on shipped sales)"


def test_a_change_of_forecast_error_is_quoted_one_way():
    w = ("2026-W22", "2026-W47")
    assert M.wape_change_label(0.575, 0.572, scope="all lines", grain="SKU", window=w) == (
        "WAPE 57.5% -> 57.2% (0.5% lower; all lines, SKU forecasts, backtest 2026-W22 to 2026-W47)")
    assert M.wape_change_label(0.20, 0.25, scope="L1", grain="weekly line", window=w).startswith(
        "WAPE 20.0% -> 25.0% (25.0% higher; L1")
    assert M.wape_change_label(float("nan"), 0.2, scope="x", grain="SKU", window=w).startswith("WAPE – -> 20.0% (x,")
