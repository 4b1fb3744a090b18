"""Charts for the reports. Each function returns a matplotlib Figure (the notebook shows it).

Every chart of the pack lives here (the analysis layer computes frames and never imports
matplotlib). Colours are the same in every report: plan grey, actual navy, forecast orange,
favourable green, unfavourable red. Money axes and labels take the company's currency symbol.
"""
from __future__ import annotations

import textwrap

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from soe_helpers.analysis.cash import ALL_SCENARIOS, BASELINE, UNDISRUPTED, CashImpact, event_label
from soe_helpers.analysis.feedback import ForecastFeedback
from soe_helpers.analysis.kpis import PERIOD_LABELS
from soe_helpers.core.calendar import week_ordinal
from soe_helpers.core.formats import fmt_money
from soe_helpers.report.chart_text import PAGE, chart_png, wrap_title

__all__ = [
    "COLORS", "TEXT", "money_axis", "style", "report_png",
    # demand reconciliation
    "landing_chart", "waterfall", "variance_bars",
    # forecast accuracy and feedback
    "METHOD_COLORS", "METHOD_LABELS", "plot_wape_by_lag", "plot_accuracy_trend", "plot_accuracy_by_lag",
    "plot_backtest",
    # cash impact
    "cash_chart", "bridge_chart", "event_weeks_chart", "forecast_vs_actual_chart",
    # execution KPIs, data accuracy, action tracker
    "trend_chart", "margin_chart", "score_chart", "owner_chart",
]

COLORS = {
    "plan": "#8a99a8",
    "actual": "#1f4e79",
    "forecast": "#e07b24",
    "good": "#2e7d32",
    "bad": "#c62828",
    "neutral": "#52606d",
    "scenario": ["#6a3d9a", "#b15928", "#33a02c", "#fb9a99", "#a6cee3"],
}


#: Every text of a report chart: the size that reads at 11 px on a phone (:data:`chart_text.PAGE`).
TEXT = PAGE.text_pt


def style() -> None:
    """The pack's chart style: figures :data:`~soe_helpers.report.chart_text.PAGE` wide with its text sizes."""
    matplotlib.rcParams.update({
        "figure.dpi": PAGE.dpi,
        "figure.figsize": (PAGE.width_in, 3.4),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "axes.titleweight": "bold",
        "axes.titlesize": PAGE.title_pt,
        "figure.titlesize": PAGE.title_pt,
        "font.size": TEXT,
        "axes.labelsize": TEXT,
        "xtick.labelsize": TEXT,
        "ytick.labelsize": TEXT,
        "legend.fontsize": TEXT,
        "legend.frameon": False,
    })


def report_png(fig: Figure) -> bytes:
    """The PNG a report shows for a chart: :func:`~soe_helpers.report.chart_text.chart_png` in the page format,
    with its smallest text recorded (what the browser test checks at 390 px)."""
    return chart_png(fig, PAGE)


def _show_charts_as_report_pngs() -> None:
    """In a notebook kernel, show every Figure as :func:`report_png` (the inline backend's PNG has no record of
    its text). Outside IPython nothing changes."""
    try:  # IPython is there in a kernel only: the helpers stay usable without it
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and "image/png" in ip.display_formatter.formatters:
        ip.display_formatter.formatters["image/png"].for_type(Figure, report_png)


style()
_show_charts_as_report_pngs()


def _title(ax, text: str, **kw) -> None:
    """A chart's title broken into lines that fit the page width at the title size (it never widens the PNG):
    a one-axes chart's title starts at the figure's left edge (an axes title is centred on the plot, which long
    tick labels push right); a panel of several keeps its axes title."""
    if len(ax.figure.axes) == 1 and not kw:
        ax.figure.suptitle(wrap_title(text, PAGE), x=0.01, ha="left", fontweight="bold", fontsize=PAGE.title_pt)
    else:
        ax.set_title(wrap_title(text, PAGE), **kw)


def money_axis(ax, symbol: str, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _pos: fmt_money(v, symbol))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


# ---------------------------------------------------------------- demand reconciliation


def landing_chart(weekly: pd.DataFrame, title: str, symbol: str) -> Figure:
    """Cumulative plan vs actual-to-date + forecast for the quarter's remaining weeks."""
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 3.6))
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
    _week_ticks(ax, list(weekly["week"]), most=7)
    money_axis(ax, symbol)
    _title(ax, title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def waterfall(steps: pd.DataFrame, title: str, symbol: str) -> Figure:
    """Bridge chart: ``steps`` has step, amount, kind ('total' or 'delta')."""
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 3.6))
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
        down = r.kind != "total" and r.amount < 0  # a fall is labelled under its bar: never beside its neighbour's
        ax.annotate(fmt_money(r.amount, symbol), (i, running if down else label_y), ha="center",
                    va="top" if down else "bottom", fontsize=TEXT, xytext=(0, -2 if down else 2),
                    textcoords="offset points")
    ax.set_xticks(range(len(steps)))
    # seven steps in a phone's width: the names slanted, so neighbours never overlap
    ax.set_xticklabels([str(s) for s in steps["step"]], fontsize=TEXT, rotation=35, ha="right",
                       rotation_mode="anchor")
    totals = steps.loc[steps["kind"] == "total", "amount"]
    lo = min(totals.min(), running) * 0.9 if len(totals) else 0
    ax.set_ylim(bottom=max(0, lo))
    money_axis(ax, symbol)
    _title(ax, title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def variance_bars(df: pd.DataFrame, label: str, value: str, title: str, symbol: str, top: int = 12) -> Figure:
    """Horizontal bars of the largest variances (green favourable, red unfavourable)."""
    d = df.reindex(df[value].abs().sort_values(ascending=False).index).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 0.35 * len(d) + 1.2))
    colors = [COLORS["good"] if v >= 0 else COLORS["bad"] for v in d[value]]
    ax.barh([str(v) for v in d[label]], d[value], color=colors)
    ax.axvline(0, color="#333", lw=0.8)
    money_axis(ax, symbol, axis="x")
    _title(ax, title)
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- forecast accuracy and feedback

#: Line colours of the methods in the charts (the S&OP forecast keeps the suite's forecast colour).
METHOD_COLORS = {"sop": COLORS["forecast"], "corrected": COLORS["good"], "naive": COLORS["plan"],
                 "seasonal_naive": COLORS["scenario"][1], "ets": COLORS["scenario"][0]}
METHOD_LABELS = {"sop": "S&OP forecast", "corrected": "S&OP, bias-corrected", "naive": "Naive (last week)",
                 "seasonal_naive": "Seasonal naive (same week last year)", "ets": "Statistical (ETS)"}


def plot_wape_by_lag(by_lag: pd.DataFrame, title: str) -> Figure:
    """WAPE by lag, one line per method: ``by_lag`` has a ``lag`` column and one WAPE column per
    method named as in :data:`METHOD_LABELS` (missing methods are skipped)."""
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 3.6))
    for m, label in METHOD_LABELS.items():
        if m in by_lag:
            sop = m == "sop"
            ax.plot(by_lag["lag"], by_lag[m], color=METHOD_COLORS[m], lw=2.6 if sop else 1.6,
                    marker="o", ms=4 if sop else 3, ls="-" if sop else "--", label=label, zorder=3 if sop else 2)
    ax.set_xlabel("Lag: weeks from forecast to the week")
    ax.set_ylabel("WAPE")
    ax.set_xticks(list(by_lag["lag"]))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    _title(ax, title)
    ax.legend(loc="best", fontsize=TEXT)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_accuracy_trend(trend: pd.DataFrame, line_trend: pd.DataFrame, title: str) -> Figure:
    """Top: rolling WAPE by target week, one line per lag (``trend`` from :func:`accuracy_trend`),
    weekly WAPE as faint points. Bottom: rolling bias % per product line (``line_trend``, one lag,
    ``by=["product_line"]``)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(PAGE.width_in, 5.2), sharex=True, height_ratios=[3, 3])
    weeks = sorted(set(trend["target_week"]) | set(line_trend["target_week"]), key=week_ordinal)
    xpos = {w: i for i, w in enumerate(weeks)}
    palette = [COLORS["actual"], COLORS["forecast"], COLORS["scenario"][0], COLORS["scenario"][2]]
    for i, (lag, g) in enumerate(trend.groupby("lag", sort=True)):
        c = palette[i % len(palette)]
        x = g["target_week"].map(xpos)
        ax1.scatter(x, g["wape"], s=6, color=c, alpha=0.25)
        ax1.plot(x, g["rolling_wape"], color=c, lw=2, label=f"Lag {lag}")
    lines = [COLORS["actual"], COLORS["bad"], COLORS["good"], COLORS["scenario"][0], COLORS["scenario"][1],
             COLORS["plan"], COLORS["scenario"][2], COLORS["scenario"][3]]
    lag = line_trend["lag"].iloc[0] if len(line_trend) else ""
    for i, (name, g) in enumerate(line_trend.groupby("product_line", sort=True)):
        ax2.plot(g["target_week"].map(xpos), g["rolling_bias_pct"], color=lines[i % len(lines)], lw=1.8,
                 label=str(name))
    ax2.axhline(0, color="#333", lw=0.8)
    ax1.set_ylabel("WAPE (SKU level)")
    ax2.set_ylabel(f"Bias at lag {lag} (+ = over)")
    for ax in (ax1, ax2):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax1.set_ylim(bottom=0)
    _week_ticks(ax2, weeks, most=5)
    _title(ax1, title)
    ax1.legend(loc="lower left", fontsize=TEXT, ncol=2)
    ax2.legend(loc="upper left", fontsize=TEXT, ncol=1)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_accuracy_by_lag(fb: ForecastFeedback, title: str) -> Figure:
    """WAPE by lag of the S&OP forecast and the three baselines (SKU grain, trailing window)."""
    d = fb.by_lag.rename(columns={"wape": "sop", "wape_naive": "naive", "wape_seasonal_naive": "seasonal_naive",
                                  "wape_ets": "ets"})
    return plot_wape_by_lag(d[["lag", "sop", "naive", "seasonal_naive", "ets"]], title)


def plot_backtest(bt_line: pd.DataFrame, bt_all: pd.DataFrame, title: str) -> Figure:
    """Backtest WAPE, as made vs bias-corrected, per product line and for all lines: left per SKU,
    right per product line total (``bt_line`` and ``bt_all`` from :func:`forecast_feedback`)."""
    grains = (("", "sku", "SKU forecasts"), ("_line_grain", "line", "Product line totals"))
    fig, axes = plt.subplots(2, 1, figsize=(PAGE.width_in, 2 * (0.45 * (len(bt_line) + 1) + 1.2) + 0.8), sharex=True)
    for ax, (suffix, grain, label) in zip(axes, grains):
        tot = bt_all[bt_all["grain"] == grain]
        raw = np.r_[bt_line[f"wape_raw{suffix}"].to_numpy(float), tot["wape_raw"].to_numpy(float)]
        cor = np.r_[bt_line[f"wape_corrected{suffix}"].to_numpy(float), tot["wape_corrected"].to_numpy(float)]
        names = [*map(str, bt_line["product_line"]), "All lines"]
        y = np.arange(len(names))[::-1]
        ax.barh(y + 0.2, raw, height=0.38, color=METHOD_COLORS["sop"], label="S&OP forecast as made")
        ax.barh(y - 0.2, cor, height=0.38, color=METHOD_COLORS["corrected"], label="Bias-corrected")
        for yi, a, b in zip(y, raw, cor):
            if np.isfinite(a) and np.isfinite(b) and a > 0:
                ax.annotate(f"{(b - a) / a * 100:+.1f}%", (max(a, b), yi), xytext=(3, -3), textcoords="offset points",
                            fontsize=TEXT, color=COLORS["good"] if b < a else COLORS["bad"])
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        top = np.nanmax(np.r_[raw, cor]) if np.isfinite(np.r_[raw, cor]).any() else 1.0
        ax.set_xlim(0, top * 1.3)
        ax.set_xlabel("WAPE, all lags")
        _title(ax, label, fontsize=TEXT)
    fig.suptitle(wrap_title(title, PAGE), fontweight="bold", fontsize=PAGE.title_pt)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=TEXT)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- cash impact


def cash_chart(ci: CashImpact, symbol: str, title: str | None = None) -> Figure:
    """Weekly closing cash: baseline, each scenario, all scenarios and without detected events, with the
    minimum-cash line. Returns a matplotlib Figure."""
    names = [n for n in pd.unique(ci.weekly["scenario"]) if n not in (BASELINE, UNDISRUPTED, ALL_SCENARIOS)]
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 3.3 + 0.25 * (len(names) + 4)))  # the legend below, one a line
    weeks = ci.inputs.weeks
    x = np.arange(len(weeks))
    und = ci.line(UNDISRUPTED)
    ax.plot(x, und["closing_cash"], color=COLORS["plan"], lw=1.5, ls="--", label="Without detected events")
    for i, n in enumerate(names):
        ax.plot(x, ci.line(n)["closing_cash"], color=COLORS["scenario"][i % len(COLORS["scenario"])], lw=1.4,
                label=n)
    if ALL_SCENARIOS in set(ci.weekly["scenario"]):
        ax.plot(x, ci.line(ALL_SCENARIOS)["closing_cash"], color=COLORS["bad"], lw=1.8, ls=":", label="All scenarios")
    ax.plot(x, ci.line(BASELINE)["closing_cash"], color=COLORS["forecast"], lw=2.6, marker="o", ms=3,
            label="Baseline forecast")
    ax.axhline(ci.min_cash, color=COLORS["bad"], lw=1.0, ls="-.", label="Minimum cash")
    _week_ticks(ax, list(weeks), most=7)
    money_axis(ax, symbol)
    _title(ax, title or f"Closing cash by week, {weeks[0]} to {weeks[-1]}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, fontsize=TEXT)
    fig.tight_layout()
    plt.close(fig)
    return fig


def bridge_chart(steps: pd.DataFrame, title: str, symbol: str) -> Figure:
    """Horizontal waterfall of a bridge (steps from :func:`bridge_steps`). The axis is zoomed on the
    range the bridge moves through (it does not start at zero, as the title says). Returns a Figure."""
    n = len(steps)
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 0.42 * n + 1.3))
    ys = np.arange(n)[::-1]
    running, spans = 0.0, []
    for r in steps.itertuples(index=False):
        if r.kind == "total":
            running = r.amount
            spans.append((None, r.amount))
        else:
            spans.append((running, running + r.amount))
            running += r.amount
    ends = [v for a, b in spans for v in (a, b) if v is not None]
    lo, hi = min(ends), max(ends)
    pad = max(0.25 * (hi - lo), 0.002 * max(abs(hi), 1.0), 1.0)
    left_edge = lo - pad
    for y, r, (a, b) in zip(ys, steps.itertuples(index=False), spans):
        if a is None:
            ax.barh(y, b - left_edge, left=left_edge, color=COLORS["actual"])
            x_lab = b
        else:
            ax.barh(y, b - a, left=a, color=COLORS["good"] if r.amount >= 0 else COLORS["bad"])
            x_lab = max(a, b)
        total_txt = ("-" if r.amount < 0 else "") + f"{symbol}{abs(r.amount):,.0f}"
        ax.annotate(total_txt if r.kind == "total" else ("+" if r.amount >= 0 else "-") + fmt_money(abs(r.amount), symbol),
                    (x_lab, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=TEXT)
    ax.set_xlim(left_edge, hi + 3.6 * pad)  # room for the amounts beside the bars
    ax.set_yticks(ys)
    ax.set_yticklabels([textwrap.fill(str(s), 22) for s in steps["step"]], fontsize=TEXT)
    if (hi + 1.6 * pad - left_edge) < 0.2 * max(abs(hi), abs(lo), 1.0):
        # a narrow window on a large balance: thousands with separators tell the ticks apart
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: ("-" if v < 0 else "") + f"{symbol}{abs(v) / 1e3:,.0f}K"))
    else:
        money_axis(ax, symbol, axis="x")
    ax.xaxis.set_major_locator(MaxNLocator(3))  # money ticks that do not run into each other on a phone
    _title(ax, title + " (axis zoomed)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def event_weeks_chart(ci: CashImpact, event_ids: list[str], symbol: str) -> Figure:
    """Change in weekly net cash flow caused by each of ``event_ids`` (grouped bars). Returns a Figure."""
    weeks = ci.inputs.weeks
    x = np.arange(len(weeks))
    k = max(len(event_ids), 1)
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 3.4))
    for i, eid in enumerate(event_ids):
        w = ci.impacts[eid].weekly
        ax.bar(x + (i - (k - 1) / 2) * 0.8 / k, w["net"], width=0.8 / k,
               color=COLORS["scenario"][i % len(COLORS["scenario"])], label=event_label(eid))
    ax.axhline(0, color="#333", lw=0.8)
    _week_ticks(ax, list(weeks), most=7)
    money_axis(ax, symbol)
    _title(ax, f"Change in weekly net cash flow, top events, {weeks[0]} to {weeks[-1]}")
    if event_ids:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, handlelength=1.2, columnspacing=0.9)
        fig.set_figheight(3.2 + 0.25 * -(-len(event_ids) // 2))  # the legend below the bars, two a line
    else:
        ax.text(0.5, 0.5, "No material events this week", transform=ax.transAxes, ha="center", color="#52606d")
    fig.tight_layout()
    plt.close(fig)
    return fig


def forecast_vs_actual_chart(table: pd.DataFrame, symbol: str, title: str = "") -> Figure:
    """Cash forecast vs actual: each past week's actual closing cash (navy line) beside what the baseline forecast
    made 1, 4 and 13 weeks before said for it (forecast-colour markers, lighter the longer ahead).
    ``table`` from :func:`soe_helpers.analysis.cash.forecast_vs_actual`. Returns a Figure."""
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 3.9))
    weeks = table["week"].tolist()
    x = np.arange(len(weeks))
    ax.plot(x, table["actual_closing"].astype(float), color=COLORS["actual"], lw=2.4, marker="o", ms=4,
            label="Actual closing cash")
    shades = {1: (COLORS["forecast"], "o", 7), 4: ("#f0a35e", "s", 6), 13: ("#f6cda4", "D", 6)}
    for col in [c for c in table.columns if c.startswith("lag_")]:
        n = int(col.split("_")[1])
        v = table[col].astype(float).to_numpy()
        if np.isfinite(v).any():
            color, marker, ms = shades.get(n, (COLORS["scenario"][0], "^", 6))
            ax.plot(x, v, ls="none", marker=marker, ms=ms, mfc=color, mec=COLORS["forecast"], mew=1,
                    label=f"Forecast {'a week' if n == 1 else f'{n} weeks'} before")
    money_axis(ax, symbol)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    _week_ticks(ax, weeks, most=6)
    ax.margins(x=0.06, y=0.12)
    _title(ax, title or f"Closing cash: forecast vs actual, {weeks[0]} to {weeks[-1]}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, handlelength=1.2, columnspacing=0.9)
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- execution KPIs


def _week_ticks(ax, weeks: list[str], most: int = 9) -> None:
    """Week labels ("W48") on the x axis, thinned to at most ``most`` so they stay readable on a phone; the chart's
    title names the first and last week with their years."""
    step = max(1, -(-len(weeks) // most))
    idx = list(range(len(weeks) - 1, -1, -step))[::-1]  # the run week always labelled
    ax.set_xticks(idx)
    ax.set_xticklabels([weeks[i][-3:] for i in idx])


def trend_chart(shown: pd.DataFrame, targets, title: str = "") -> Figure:
    """Four panels stacked (they read on a phone): OTIF, working-capital days, cash conversion cycle, gross margin %.

    ``shown`` is :func:`soe_helpers.analysis.kpis.trend_as_recorded`: each point is the value its week's run
    recorded in the store (filled markers, solid lines); the weeks the store does not hold are computed from
    today's data and drawn with hollow markers on dashed lines. Target lines are grey dashed (the working-capital
    targets dotted, in each measure's colour).
    """
    fig, axes = plt.subplots(4, 1, figsize=(PAGE.width_in, 10.4), sharex=True)
    weeks = shown["week"].tolist()
    x = np.arange(len(weeks))
    rec = shown["recorded"].to_numpy(bool)
    panels = [
        (axes[0], "OTIF, lines due each week", [("otif_value", "by value", COLORS["actual"]),
                                                 ("otif", "by lines", COLORS["forecast"])], targets.otif, "pct0"),
        (axes[1], "DSO, DIO, DPO (days, 13 weeks)",
         [("dso", "DSO", COLORS["actual"]), ("dio", "DIO", COLORS["forecast"]), ("dpo", "DPO", COLORS["neutral"])],
         None, "days"),
        (axes[2], "Cash conversion cycle, days", [("ccc", "CCC", COLORS["actual"])], targets.ccc, "days"),
        (axes[3], "Gross margin %, each week", [("gross_margin_pct", "Gross margin", COLORS["actual"])],
         targets.gross_margin_pct, "pct1"),
    ]
    for ax, ttl, series, target, unit in panels:
        for kpi, label, color in series:
            v = shown[kpi].to_numpy(float)
            if (~rec).any():  # the whole line dashed underneath: it shows through where weeks are computed
                ax.plot(x, v, color=color, lw=1.3, ls="--", label="_nolegend_")
                ax.plot(x[~rec], v[~rec], ls="none", marker="o", ms=5, mfc="white", mec=color, mew=1.3,
                        label="_nolegend_")
            ax.plot(x, np.where(rec, v, np.nan), color=color, lw=2.2, marker="o", ms=4, label=label)
        if target is not None:
            ax.axhline(target, color=COLORS["plan"], ls="--", lw=1.2, label="Target")
        if kpi == "dpo":
            for kpi_, color in (("dso", COLORS["actual"]), ("dio", COLORS["forecast"]), ("dpo", COLORS["neutral"])):
                ax.axhline(getattr(targets, kpi_), color=color, ls=":", lw=1.1,
                           label="Targets" if kpi_ == "dso" else "_nolegend_")
        if unit.startswith("pct"):
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=int(unit[-1])))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        if ax is axes[-1] and (~rec).any():
            ax.plot([], [], color=COLORS["neutral"], ls="--", marker="o", mfc="white", lw=1.3, label="computed today")
        n = len(ax.get_legend_handles_labels()[1])
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.1, ncol=n, handlelength=1.4,
                  columnspacing=0.9, handletextpad=0.4)  # above the plot: the lines keep the whole width
        _title(ax, ttl, loc="left", pad=22)
    _week_ticks(axes[-1], weeks, most=6)
    if title:
        fig.suptitle(wrap_title(title, PAGE), fontweight="bold", fontsize=PAGE.title_pt)
    fig.tight_layout()
    plt.close(fig)
    return fig


def margin_chart(gm: pd.DataFrame, period: str = "13w", title: str = "") -> Figure:
    """Gross margin % by product line for ``period`` (bars; green at or above target, red below) with targets."""
    d = gm[(gm["period"] == period) & (gm["product_line"] != "Total")].sort_values("gross_margin_pct")
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 0.45 * len(d) + 1.8))
    colors = [COLORS["good"] if s == "met" else COLORS["bad"] for s in d["status"]]
    y = np.arange(len(d))
    ax.barh(y, d["gross_margin_pct"], color=colors)
    ax.scatter(d["target"], y, marker="|", s=400, color="#333", label="Target (each line's)", zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels([str(v) for v in d["product_line"]])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    _title(ax, title or f"Gross margin % by product line, {PERIOD_LABELS[period].lower()}")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.22), borderaxespad=0)  # below: never over a bar
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- data accuracy


def score_chart(by_source: pd.DataFrame, overall: float, target: float, title: str = "") -> Figure:
    """Horizontal bars: the score of each source and overall (green at or above target, red below)."""
    d = by_source.dropna(subset=["score"])
    labels = ["Overall"] + [str(s) for s in d["source"]]
    vals = [overall] + d["score"].tolist()
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 0.42 * len(labels) + 1.3))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, vals, color=[COLORS["good"] if v >= target - 1e-12 else COLORS["bad"] for v in vals])
    ax.axvline(target, color="#333", ls="--", lw=1.2)
    ax.annotate(f"target {target:.0%}", (target, y.max() + 0.5), xytext=(-3, 0), textcoords="offset points",
                ha="right", va="center", fontsize=TEXT)
    for yi, v in zip(y, vals):
        ax.annotate(f"{v:.1%}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=TEXT)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlim(0, 1.08)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(-0.6, y.max() + 0.9)
    _title(ax, title or "Share of checks passed, by source system")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- action tracker


def owner_chart(owners: pd.DataFrame, symbol: str, title: str = "") -> Figure:
    """Horizontal bars of open dollars at stake by owner (overdue share darker)."""
    d = owners.sort_values("dollars_at_stake").tail(15)
    fig, ax = plt.subplots(figsize=(PAGE.width_in, 0.5 * len(d) + 1.3))
    ax.barh(np.arange(len(d)), d["dollars_at_stake"], color=COLORS["actual"])
    ax.set_yticks(np.arange(len(d)), [textwrap.fill(str(o), 22) for o in d["owner"]])
    for i, (v, n) in enumerate(zip(d["dollars_at_stake"], d["open"])):
        ax.annotate(f"{fmt_money(v, symbol)} · {n}", (v, i), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=TEXT)
    money_axis(ax, symbol, axis="x")

    ax.xaxis.set_major_locator(MaxNLocator(4))
    top = float(d["dollars_at_stake"].max()) if len(d) else 0.0
    ax.set_xlim(0, (top if np.isfinite(top) and top > 0 else 1.0) * 1.45)  # room for the labels
    if d.empty:
        ax.text(0.5, 0.5, "No open actions", transform=ax.transAxes, ha="center", va="center")
    _title(ax, title or "Open dollars at stake by owner (· open actions)")
    fig.tight_layout()
    plt.close(fig)
    return fig
