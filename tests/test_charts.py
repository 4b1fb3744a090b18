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
