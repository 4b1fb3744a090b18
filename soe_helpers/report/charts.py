"""Charts for the reports. Each function returns a matplotlib Figure (the notebook shows it).

Every chart of the pack lives here (the analysis layer computes frames and never imports
matplotlib). Colours are the same in every report: plan grey, actual navy, forecast orange,
favourable green, unfavourable red. Money axes and labels take the company's currency symbol.
"""
from __future__ import annotations

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

__all__ = [
    "COLORS", "money_axis", "style",
    # demand reconciliation
    "landing_chart", "waterfall", "variance_bars",
    # forecast accuracy and feedback
    "METHOD_COLORS", "METHOD_LABELS", "plot_wape_by_lag", "plot_accuracy_trend", "plot_accuracy_by_lag",
    "plot_backtest",
    # cash impact
    "cash_chart", "bridge_chart", "event_weeks_chart",
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


def money_axis(ax, symbol: str, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _pos: fmt_money(v, symbol))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


# ---------------------------------------------------------------- demand reconciliation


def landing_chart(weekly: pd.DataFrame, title: str, symbol: str) -> Figure:
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


def waterfall(steps: pd.DataFrame, title: str, symbol: str) -> Figure:
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


def variance_bars(df: pd.DataFrame, label: str, value: str, title: str, symbol: str, top: int = 12) -> Figure:
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


# ---------------------------------------------------------------- forecast accuracy and feedback

#: Line colours of the methods in the charts (the S&OP forecast keeps the suite's forecast colour).
METHOD_COLORS = {"sop": COLORS["forecast"], "corrected": COLORS["good"], "naive": COLORS["plan"],
                 "seasonal_naive": COLORS["scenario"][1], "ets": COLORS["scenario"][0]}
METHOD_LABELS = {"sop": "S&OP forecast", "corrected": "S&OP, bias-corrected", "naive": "Naive (last week)",
                 "seasonal_naive": "Seasonal naive (same week last year)", "ets": "Statistical (ETS)"}


def plot_wape_by_lag(by_lag: pd.DataFrame, title: str) -> Figure:
    """WAPE by lag, one line per method: ``by_lag`` has a ``lag`` column and one WAPE column per
    method named as in :data:`METHOD_LABELS` (missing methods are skipped)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for m, label in METHOD_LABELS.items():
        if m in by_lag:
            sop = m == "sop"
            ax.plot(by_lag["lag"], by_lag[m], color=METHOD_COLORS[m], lw=2.6 if sop else 1.6,
                    marker="o", ms=4 if sop else 3, ls="-" if sop else "--", label=label, zorder=3 if sop else 2)
    ax.set_xlabel("Lag: weeks between the forecast and the week forecast")
    ax.set_ylabel("WAPE")
    ax.set_xticks(list(by_lag["lag"]))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_accuracy_trend(trend: pd.DataFrame, line_trend: pd.DataFrame, title: str) -> Figure:
    """Top: rolling WAPE by target week, one line per lag (``trend`` from :func:`accuracy_trend`),
    weekly WAPE as faint points. Bottom: rolling bias % per product line (``line_trend``, one lag,
    ``by=["product_line"]``)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.2), sharex=True, height_ratios=[3, 3])
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
    step = max(1, len(weeks) // 10)
    ax2.set_xticks(range(0, len(weeks), step))
    ax2.set_xticklabels([weeks[i] for i in range(0, len(weeks), step)], fontsize=7, rotation=30, ha="right")
    ax1.set_title(title)
    ax1.legend(loc="lower left", fontsize=8, ncol=4)
    ax2.legend(loc="upper left", fontsize=7, ncol=3)
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
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 0.5 * (len(bt_line) + 1) + 1.6), sharey=True)
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
                            fontsize=7.5, color=COLORS["good"] if b < a else COLORS["bad"])
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        top = np.nanmax(np.r_[raw, cor]) if np.isfinite(np.r_[raw, cor]).any() else 1.0
        ax.set_xlim(0, top * 1.3)
        ax.set_xlabel("WAPE, all lags")
        ax.set_title(label, fontsize=9)
    fig.suptitle(title, fontweight="bold", fontsize=11)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- cash impact


def cash_chart(ci: CashImpact, symbol: str, title: str | None = None) -> Figure:
    """Weekly closing cash: baseline, each scenario, all scenarios and without detected events, with the
    minimum-cash line. Returns a matplotlib Figure."""
    fig, ax = plt.subplots(figsize=(8.5, 4.0))
    weeks = ci.inputs.weeks
    x = np.arange(len(weeks))
    names = [n for n in pd.unique(ci.weekly["scenario"]) if n not in (BASELINE, UNDISRUPTED, ALL_SCENARIOS)]
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
    ax.set_xticks(x)
    ax.set_xticklabels([w[-3:] if w[-3:] != "W01" else w[:4] + "-W01" for w in weeks], fontsize=7)
    money_axis(ax, symbol)
    ax.set_title(title or f"Closing cash by week, {weeks[0]} to {weeks[-1]}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


def bridge_chart(steps: pd.DataFrame, title: str, symbol: str) -> Figure:
    """Horizontal waterfall of a bridge (steps from :func:`bridge_steps`). The axis is zoomed on the
    range the bridge moves through (it does not start at zero, as the title says). Returns a Figure."""
    n = len(steps)
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * n + 1.3))
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
                    (x_lab, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_xlim(left_edge, hi + 1.6 * pad)
    ax.set_yticks(ys)
    ax.set_yticklabels([str(s) for s in steps["step"]], fontsize=7)
    if (hi + 1.6 * pad - left_edge) < 0.2 * max(abs(hi), abs(lo), 1.0):
        # a narrow window on a large balance: thousands with separators tell the ticks apart
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: ("-" if v < 0 else "") + f"{symbol}{abs(v) / 1e3:,.0f}K"))
    else:
        money_axis(ax, symbol, axis="x")
    ax.set_title(title + " (axis zoomed)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def event_weeks_chart(ci: CashImpact, event_ids: list[str], symbol: str) -> Figure:
    """Change in weekly net cash flow caused by each of ``event_ids`` (grouped bars). Returns a Figure."""
    weeks = ci.inputs.weeks
    x = np.arange(len(weeks))
    k = max(len(event_ids), 1)
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    for i, eid in enumerate(event_ids):
        w = ci.impacts[eid].weekly
        ax.bar(x + (i - (k - 1) / 2) * 0.8 / k, w["net"], width=0.8 / k,
               color=COLORS["scenario"][i % len(COLORS["scenario"])], label=event_label(eid))
    ax.axhline(0, color="#333", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([w[-3:] for w in weeks], fontsize=7)
    money_axis(ax, symbol)
    ax.set_title("Change in weekly net cash flow, top events")
    if event_ids:
        ax.legend(fontsize=7, loc="lower left")
    else:
        ax.text(0.5, 0.5, "No material events this week", transform=ax.transAxes, ha="center", color="#52606d")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- execution KPIs


def trend_chart(trend: pd.DataFrame, history: pd.DataFrame, targets, title: str = "") -> Figure:
    """Four panels over the trend weeks: OTIF, working-capital days, cash conversion cycle, gross margin %.

    Lines are recomputed from today's data; hollow markers are the values recorded in the store when each
    week was reported (a gap between the two means the data was restated since).
    """
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    x = np.arange(len(trend))
    labels = [w[-3:] for w in trend["week"]]
    hist = history.set_index(["week", "kpi", "period"])["value"] if len(history) else pd.Series(dtype=float)

    def recorded(kpi, period):
        return [hist.get((w, kpi, period), np.nan) for w in trend["week"]]

    panels = [
        (axes[0, 0], "Order fulfilment (OTIF), weekly", [("otif_value", "OTIF by value", COLORS["actual"], "week"),
                                                        ("otif", "OTIF by lines", COLORS["forecast"], "week")],
         targets.otif, True),
        (axes[0, 1], "Working-capital days, trailing 13 weeks",
         [("dso", "DSO", COLORS["actual"], "13w"), ("dio", "DIO", COLORS["forecast"], "13w"),
          ("dpo", "DPO", COLORS["neutral"], "13w")], None, False),
        (axes[1, 0], "Cash conversion cycle (days), trailing 13 weeks", [("ccc", "CCC", COLORS["actual"], "13w")],
         targets.ccc, False),
        (axes[1, 1], "Gross margin %, weekly", [("gross_margin_pct", "Gross margin", COLORS["actual"], "week")],
         targets.gross_margin_pct, True),
    ]
    for ax, ttl, series, target, pct in panels:
        labelled = False
        for kpi, label, color, period in series:
            ax.plot(x, trend[kpi], color=color, lw=2, marker="o", ms=3, label=label)
            rec = recorded(kpi, period)
            if not all(np.isnan(v) for v in rec):
                ax.plot(x, rec, ls="none", marker="o", ms=7, mfc="none", mec=color,
                        label="_nolegend_" if labelled else "as recorded in the store")
                labelled = True
        if target is not None:
            ax.axhline(target, color=COLORS["plan"], ls="--", lw=1.2, label="Target")
        if ttl.startswith("Working"):
            for kpi_, color in (("dso", COLORS["actual"]), ("dio", COLORS["forecast"]), ("dpo", COLORS["neutral"])):
                ax.axhline(getattr(targets, kpi_), color=color, ls=":", lw=1,
                           label="Targets (dotted)" if kpi_ == "dso" else "_nolegend_")
        if pct:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if "OTIF" in ttl else 1))
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_title(ttl)
        ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    plt.close(fig)
    return fig


def margin_chart(gm: pd.DataFrame, period: str = "13w", title: str = "") -> Figure:
    """Gross margin % by product line for ``period`` (bars; green at or above target, red below) with targets."""
    d = gm[(gm["period"] == period) & (gm["product_line"] != "Total")].sort_values("gross_margin_pct")
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(d) + 1.4))
    colors = [COLORS["good"] if s == "met" else COLORS["bad"] for s in d["status"]]
    y = np.arange(len(d))
    ax.barh(y, d["gross_margin_pct"], color=colors)
    ax.scatter(d["target"], y, marker="|", s=400, color="#333", label="Target", zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels([str(v) for v in d["product_line"]])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title(title or f"Gross margin % by product line, {PERIOD_LABELS[period].lower()}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- data accuracy


def score_chart(by_source: pd.DataFrame, overall: float, target: float, title: str = "") -> Figure:
    """Horizontal bars: the score of each source and overall (green at or above target, red below)."""
    d = by_source.dropna(subset=["score"])
    labels = ["Overall"] + [str(s) for s in d["source"]]
    vals = [overall] + d["score"].tolist()
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(labels) + 1.3))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, vals, color=[COLORS["good"] if v >= target - 1e-12 else COLORS["bad"] for v in vals])
    ax.axvline(target, color="#333", ls="--", lw=1.2)
    ax.annotate(f"target {target:.0%}", (target, y.max() + 0.5), xytext=(-3, 0), textcoords="offset points",
                ha="right", va="center", fontsize=8)
    for yi, v in zip(y, vals):
        ax.annotate(f"{v:.1%}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlim(0, 1.08)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(-0.6, y.max() + 0.9)
    ax.set_title(title or "Share of checks passed, by source system")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- action tracker


def owner_chart(owners: pd.DataFrame, symbol: str, title: str = "") -> Figure:
    """Horizontal bars of open dollars at stake by owner (overdue share darker)."""
    d = owners.sort_values("dollars_at_stake").tail(15)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(d) + 1.3))
    ax.barh([str(o) for o in d["owner"]], d["dollars_at_stake"], color=COLORS["actual"])
    for i, (v, n) in enumerate(zip(d["dollars_at_stake"], d["open"])):
        ax.annotate(f"{fmt_money(v, symbol)} · {n}", (v, i), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=8)
    money_axis(ax, symbol, axis="x")

    ax.xaxis.set_major_locator(MaxNLocator(4))
    top = float(d["dollars_at_stake"].max()) if len(d) else 0.0
    ax.set_xlim(0, (top if np.isfinite(top) and top > 0 else 1.0) * 1.25)  # room for the labels
    if d.empty:
        ax.text(0.5, 0.5, "No open actions", transform=ax.transAxes, ha="center", va="center")
    ax.set_title(title or "Open dollars at stake by owner (· open actions)")
    fig.tight_layout()
    plt.close(fig)
    return fig
