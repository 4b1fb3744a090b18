"""Charts live in the report layer: the analysis modules never import matplotlib; money axes use the company's symbol."""
import ast
from pathlib import Path

import pandas as pd

from soe_helpers.report import charts

ANALYSIS = Path(__file__).resolve().parent.parent / "soe_helpers" / "analysis"


def test_no_analysis_module_imports_matplotlib_or_the_report_layer():
    bad = []
    for f in sorted(ANALYSIS.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{f.name} line {node.lineno}: {n}" for n in names
                    if n.split(".")[0] == "matplotlib" or n.startswith("soe_helpers.report")]
    assert not bad, "analysis modules import charts/matplotlib: " + "; ".join(bad)


def _tick_labels(fig, axis="y"):
    ax = fig.axes[0]
    fmt = (ax.yaxis if axis == "y" else ax.xaxis).get_major_formatter()
    return [fmt(v, i) for i, v in enumerate([-212_400.0, 0.0, 1_234_567.0])]


def test_money_axes_and_labels_take_the_symbol():
    steps = pd.DataFrame({"step": ["Plan", "Volume", "Actual"], "amount": [1000.0, -200.0, 800.0],
                          "kind": ["total", "delta", "total"]})
    fig = charts.waterfall(steps, "t", "€")
    assert _tick_labels(fig) == ["-€212K", "€0", "€1.23M"]
    assert [t.get_text() for t in fig.axes[0].texts] == ["€1.0K", "-€200", "€800"]
    owners = pd.DataFrame({"owner": ["Ana", "Raj"], "dollars_at_stake": [60_000.0, 250_000.0], "open": [1, 3]})
    fig = charts.owner_chart(owners, "€")
    assert _tick_labels(fig, "x")[2] == "€1.23M"
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["€250K · 3", "€60K · 1"]


def test_method_colours_keep_the_suite_colours():
    assert charts.METHOD_COLORS["sop"] == charts.COLORS["forecast"] == "#e07b24"
    assert charts.METHOD_COLORS["corrected"] == charts.COLORS["good"]


# ---------------------------------------------------------------- sized for a phone

def _small_charts():
    """Every report chart that draws from plain frames, on tiny ones (the cash report's own two take a CashImpact
    and are checked on the demo run by tests/test_browser.py)."""
    from soe_helpers.core.params import KpiTargets
    from soe_helpers.analysis.kpis import trend_as_recorded
    weeks = [f"2026-W{w}" for w in range(35, 48)]
    weekly = pd.DataFrame({"week": weeks, "cum_plan": range(13), "cum_outlook": range(13),
                           "actual": [1.0] * 8 + [None] * 5})
    steps = pd.DataFrame({"step": ["Plan", "Volume", "Price", "Actual"], "amount": [1e6, -2e5, 5e4, 8.5e5],
                          "kind": ["total", "delta", "delta", "total"]})
    var = pd.DataFrame({"sku": ["PWR-5024", "ENC-1001"], "v": [-120_000.0, 40_000.0]})
    by_lag = pd.DataFrame({"lag": [1, 2, 3], "sop": [0.2, 0.25, 0.3], "naive": [0.3, 0.3, 0.3]})
    trend = pd.DataFrame({"week": weeks, "otif": 0.9, "otif_value": 0.92, "dso": 50.0, "dio": 70.0, "dpo": 40.0,
                          "ccc": 80.0, "gross_margin_pct": 0.38})
    hist = pd.DataFrame([{"week": "2026-W47", "kpi": "otif", "period": "week", "value": 0.85, "target": 0.95,
                          "status": "", "run_id": "r"}])
    gm = pd.DataFrame({"period": "13w", "product_line": ["Enclosures", "Cables & Harnesses"],
                       "gross_margin_pct": [0.3, 0.42], "target": [0.33, 0.33], "status": ["missed", "met"]})
    src = pd.DataFrame({"source": ["ERP orders", "CRM bookings"], "score": [0.97, 0.88]})
    owners = pd.DataFrame({"owner": ["Ana", "Raj"], "dollars_at_stake": [60_000.0, 250_000.0], "open": [1, 3]})
    fva = pd.DataFrame({"week": weeks[-3:], "actual_closing": [1.2e6, 1.1e6, 1.15e6], "lag_1": [1.25e6, 1.0e6, 1.2e6],
                        "lag_4": [float("nan"), float("nan"), 1.3e6], "lag_13": float("nan")})
    return {"landing": charts.landing_chart(weekly, "Quarter landing", "$"),
            "waterfall": charts.waterfall(steps, "Plan to actual", "$"),
            "variance": charts.variance_bars(var, "sku", "v", "Largest variances", "$"),
            "wape": charts.plot_wape_by_lag(by_lag, "WAPE by lag"),
            "bridge": charts.bridge_chart(steps, "Week-13 closing cash", "$"),
            "trend": charts.trend_chart(trend_as_recorded(trend, hist), KpiTargets(), "Execution KPIs"),
            "margin": charts.margin_chart(gm, "13w"),
            "score": charts.score_chart(src, 0.93, 0.95),
            "owner": charts.owner_chart(owners, "$"),
            "forecast_vs_actual": charts.forecast_vs_actual_chart(fva, "$")}


def test_report_charts_read_at_11px_on_a_390px_phone():
    from soe_helpers.report import chart_text as ct
    for name, fig in _small_charts().items():
        png = charts.report_png(fig)
        width = ct.png_size(png)[0]
        assert fig.get_size_inches()[0] == ct.PAGE.width_in, name
        assert ct.smallest_text_pt(fig) >= ct.PAGE.text_pt, name
        # as the browser shows it: the PNG's smallest text (recorded in it) scaled to 356 px on the phone
        assert ct.png_min_text_px(png) * min(1.0, ct.PHONE_SHOWN_PX / width) >= ct.MIN_TEXT_PX, (name, width)
        assert png[25] == 3 and width <= 1.05 * ct.PAGE.width_in * ct.PAGE.dpi, name  # a palette PNG, about the page width


def test_no_chart_text_is_set_below_the_page_size():
    """A literal font size in charts.py would bypass the rule: every size is TEXT or PAGE.title_pt."""
    tree = ast.parse((ANALYSIS.parent / "report" / "charts.py").read_text())
    literal = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "fontsize"
               and isinstance(n.value, ast.Constant)]
    assert not literal, f"charts.py sets literal font sizes on lines {literal}"


def test_trend_chart_draws_recorded_weeks_solid_and_computed_ones_hollow():
    from soe_helpers.core.params import KpiTargets
    from soe_helpers.analysis.kpis import trend_as_recorded
    weeks = ["2026-W45", "2026-W46", "2026-W47"]
    trend = pd.DataFrame({"week": weeks, "otif": [0.9, 0.8, 0.7], "otif_value": 0.9, "dso": 50.0, "dio": 70.0,
                          "dpo": 40.0, "ccc": 80.0, "gross_margin_pct": 0.38})
    hist = pd.DataFrame([{"week": w, "kpi": k, "period": p, "value": 0.5, "target": 0.0, "status": "", "run_id": "r"}
                         for w in weeks[1:] for k, p in (("otif", "week"), ("otif_value", "week"))])
    fig = charts.trend_chart(trend_as_recorded(trend, hist), KpiTargets())
    ax = fig.axes[0]
    solid = [ln for ln in ax.lines if ln.get_label() == "by lines"][0]
    assert list(solid.get_ydata()[1:]) == [0.5, 0.5] and pd.isna(solid.get_ydata()[0])   # the store's values
    hollow = [ln for ln in ax.lines if ln.get_markerfacecolor() == "white" and len(ln.get_xdata()) == 1]
    assert {float(ln.get_ydata()[0]) for ln in hollow} == {0.9}  # W45 computed, for both OTIF lines
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()][-1] == "computed today"
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == ["W45", "W46", "W47"]
