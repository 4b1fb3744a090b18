"""Charts for the reports. Each function returns a matplotlib Figure (the notebook shows it).

Colours are the same in every report: plan grey, actual navy, forecast orange,
favourable green, unfavourable red.
"""
from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from soe_helpers.core.formats import fmt_money

__all__ = ["COLORS", "money_axis", "landing_chart", "waterfall", "variance_bars", "style"]

COLORS = {
    "plan": "#8a99a8",
    "actual": "#1f4e79",
    "forecast": "#e07b24",
    "good": "#2e7d32",
    "bad": "#c62828",
    "neutral": "#52606d",
    "scenario": ["#6a3d9a", "#b15928", "#33a02c", "#fb9a99", "#a6cee3"],
}


def style() -> None:
    matplotlib.rcParams.update({
        "figure.dpi": 110,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "axes.titleweight": "bold",
        "axes.titlesize": 11,
        "font.size": 9,
        "legend.frameon": False,
    })


style()


def money_axis(ax, symbol: str = "$", axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _pos: fmt_money(v, symbol))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def landing_chart(weekly: pd.DataFrame, title: str, symbol: str = "$") -> Figure:
    """Cumulative plan vs actual-to-date + forecast for the quarter's remaining weeks."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(weekly))
    ax.plot(x, weekly["cum_plan"], color=COLORS["plan"], lw=2, ls="--", label="Plan (cumulative)")
    has_actual = weekly["actual"].notna().to_numpy()
    cum = weekly["cum_outlook"].to_numpy()
    ax.plot(x[has_actual], cum[has_actual], color=COLORS["actual"], lw=2.5, marker="o", ms=3, label="Actual")
    if (~has_actual).any():
        last = np.flatnonzero(has_actual)[-1] if has_actual.any() else 0
        xs = np.r_[x[last], x[~has_actual]]
        ax.plot(xs, np.r_[cum[last], cum[~has_actual]], color=COLORS["forecast"], lw=2.5, ls="-", marker="o", ms=3,
                label="Open orders + forecast")
    ax.set_xticks(x)
    ax.set_xticklabels([w[-3:] for w in weekly["week"]], fontsize=8)
    money_axis(ax, symbol)
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def waterfall(steps: pd.DataFrame, title: str, symbol: str = "$") -> Figure:
    """Bridge chart: ``steps`` has step, amount, kind ('total' or 'delta')."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    running = 0.0
    for i, r in enumerate(steps.itertuples(index=False)):
        if r.kind == "total":
            ax.bar(i, r.amount, color=COLORS["actual"] if i else COLORS["plan"])
            running = r.amount
            label_y = r.amount
        else:
            color = COLORS["good"] if r.amount >= 0 else COLORS["bad"]
            ax.bar(i, r.amount, bottom=running, color=color)
            running += r.amount
            label_y = max(running, running - r.amount)
        ax.annotate(fmt_money(r.amount, symbol), (i, label_y), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels(steps["step"], fontsize=8)
    totals = steps.loc[steps["kind"] == "total", "amount"]
    lo = min(totals.min(), running) * 0.9 if len(totals) else 0
    ax.set_ylim(bottom=max(0, lo))
    money_axis(ax, symbol)
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def variance_bars(df: pd.DataFrame, label: str, value: str, title: str, symbol: str = "$", top: int = 12) -> Figure:
    """Horizontal bars of the largest variances (green favourable, red unfavourable)."""
    d = df.reindex(df[value].abs().sort_values(ascending=False).index).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(d) + 1.2))
    colors = [COLORS["good"] if v >= 0 else COLORS["bad"] for v in d[value]]
    ax.barh([str(v) for v in d[label]], d[value], color=colors)
    ax.axvline(0, color="#333", lw=0.8)
    money_axis(ax, symbol, axis="x")
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig
