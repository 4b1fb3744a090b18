"""The executive summary: a run's recorded figures turned into plain sentences with numbers and traffic lights.

Inputs are what the other reports of the same run recorded (``results/<section>.json``,
see :meth:`soe_helpers.report.context.Week.record`) and the status of each of their notebooks
(``.work/<name>.status.json``, written by the runner's worker). The rule that keeps the
summary honest: **a section is shown only when its notebook ran in this run and
succeeded**. A failed notebook, one that was not part of the run, or one that recorded
nothing yields one plain sentence saying so ("The cash impact report failed this week:
its figures are not shown"), never last week's or a partial run's numbers.

The first screen is the decisions the week asks (:func:`decisions`: each with its question, dollars,
owner, due date and the option the analysis supports, never an invented one), then one line each for the
landing, cash and delivery (:func:`first_screen`); the KPI scoreboard (:func:`kpi_display`: this week and 13
weeks against the target, each measure with its basis and period, :func:`scoreboard_note`) and the detail items
follow (:func:`build_items`: one plain sentence each with its dollars and owner, linked to the report that proves
it; what a decision already says is left to it). The page reads in a minute: about 600 words at the demo week.
Leadership reads plain words: "the forecast 4 weeks out", "error", "the simple baseline", "a lasting bias"; the
analysts' lag, WAPE, FVA and tracking signal appear only in the :func:`glossary`.

Traffic lights (``light``): ``red`` = act (a material shortfall, a breach of a target or
of minimum cash, escalated actions), ``amber`` = watch (behind but not material, close to
a limit, bias alerts, overdue actions), ``green`` = on track, ``grey`` = no figures.
The rules are stated by :func:`assumptions` so the report can print them.

Money is in the company currency; sign conventions are those of the recording reports
(variance = actual - reference, positive = ahead of plan; cash impacts negative = less
cash; forecast bias positive = over-forecast).
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from soe_helpers.analysis.exposures import classify
from soe_helpers.analysis.kpis import fmt_kpi
from soe_helpers.analysis.measures import COGS_BASIS, REVENUE_BASIS, horizon, kpi_basis, period_label
from soe_helpers.analysis.materiality import is_material
from soe_helpers.core import run_folder
from soe_helpers.report import records
from soe_helpers.report.chart_text import REPORT, ChartFormat, chart_png, legend_columns, wrap_title
from soe_helpers.report.charts import COLORS, money_axis
from soe_helpers.core.exports import read_table
from soe_helpers.core.formats import fmt_money, fmt_money_headline, fmt_money_pair, fmt_pct

__all__ = [
    "PACK",
    "ReportRef",
    "LIGHTS",
    "ITEM_COLUMNS",
    "read_run_statuses",
    "read_run_results",
    "read_artifact",
    "RunInputs",
    "run_inputs",
    "ok_sections",
    "section_if_ok",
    "change_sentences",
    "changes_display",
    "kpi_display",
    "kpi_html",
    "issue_owners",
    "report_state",
    "build_items",
    "headline",
    "subject",
    "changes_since",
    "kpi_table",
    "status_table",
    "status_word",
    "assumptions",
    "items_html",
    "lights_count",
    "last_of_report",
    "landing_chart",
    "cash_chart",
    "figure_png",
    "headline_money",
    "open_actions",
    "decisions",
    "decisions_count",
    "decision_sentence",
    "first_screen",
    "decisions_html",
    "first_screen_html",
    "previous_week_link",
    "previous_week_html",
    "glossary",
    "reports_line",
    "page_text",
    "scoreboard_note",
]


@dataclass(frozen=True)
class ReportRef:
    """One report of the pack: the results section it records, its notebook, and how to name it."""

    section: str
    notebook: str
    title: str
    noun: str  # as in "the <noun> report failed this week"


#: The reports the summary reads, in the order it presents them.
PACK: tuple[ReportRef, ...] = (
    ReportRef("demand_reconciliation", "demand_reconciliation", "Demand reconciliation", "demand reconciliation"),
    ReportRef("cash_impact", "cash_impact", "Cash impact", "cash impact"),
    ReportRef("forecast_feedback", "forecast_feedback", "Forecast feedback", "forecast feedback"),
    ReportRef("execution_kpis", "execution_kpis", "Execution KPIs", "execution KPI"),
    ReportRef("actions", "action_tracker", "Action tracker", "action tracker"),
    ReportRef("data_accuracy", "data_accuracy", "Data accuracy", "data accuracy"),
)

#: light -> (word shown beside the colour, colour). Words make the lights readable without colour.
LIGHTS = {
    "red": ("Act", COLORS["bad"]),
    "amber": ("Watch", "#b26a00"),
    "green": ("On track", COLORS["good"]),
    "grey": ("Missing", "#8a99a8"),
}
_LIGHT_ORDER = {"red": 0, "amber": 1, "green": 2, "grey": 3}

#: Columns of the items frame :func:`build_items` returns.
ITEM_COLUMNS = ["section", "report", "topic", "light", "sentence", "link"]


# ---------------------------------------------------------------- reading a run (the only I/O here)


def read_run_statuses(run_dir: str | Path, exclude: Iterable[str] = ("executive_summary",)) -> dict[str, dict]:
    """Status of every notebook the runner started in ``run_dir`` (from ``.work/``).

    Returns ``{notebook: {"status": "ok" | "failed" | "not run", "error": str | None, ...}}``. A notebook
    the runner started whose worker never reported (timed out, killed) is ``failed``; one the runner did not
    run by design (the company lacks a table it needs) is ``not run`` with its ``reason`` ("needs cash");
    a notebook absent from the dict was not part of the run.
    """
    work = Path(run_dir) / ".work"
    out: dict[str, dict] = {}
    skip = set(exclude)
    if not work.is_dir():
        return {n: st for n, st in run_folder.read_not_run(run_dir).items() if n not in skip}
    out.update({n: st for n, st in run_folder.read_not_run(run_dir).items() if n not in skip})  # not run by design
    for spec in sorted(work.glob("*.spec.json")):
        name = spec.name[: -len(".spec.json")]
        if name in skip:
            continue
        st = work / f"{name}.status.json"
        try:
            out[name] = json.loads(st.read_text()) if st.exists() else {
                "name": name, "status": "failed", "error": "did not report (timed out or stopped)"}
        except (OSError, ValueError):
            out[name] = {"name": name, "status": "failed", "error": "its status file is unreadable"}
    return out


def read_run_results(run_dir: str | Path) -> dict[str, dict]:
    """Figures recorded in ``run_dir/results/<section>.json`` ({section: {key: value}})."""
    d = Path(run_dir) / run_folder.RESULTS_DIRNAME
    out = {}
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue  # an unreadable section is treated as not recorded
    return out


def read_artifact(run_dir: str | Path, name: str) -> pd.DataFrame | None:
    """A CSV another report of the same run exported beside its report, or None when absent/unreadable."""
    p = Path(run_dir) / name
    if not p.is_file():
        return None
    try:
        return read_table(p)  # text as exported, before the CSV-injection quote
    except (OSError, ValueError, pd.errors.ParserError):
        return None


#: Files the action tracker may export beside its report, and the columns naming an issue.
_ACTION_FILES = ("actions_all.csv", "actions.csv")
_ISSUE_KEY_COLS = ("issue_key", "dedupe_key", "source_key", "source_id", "event_id", "key")


def issue_owners(run_dir: str | Path) -> dict[str, str]:
    """Issue key -> owner of the open actions in the action tracker's export of this run ({} when none).

    Reads ``actions_all.csv`` (columns issue_key, owner, status). Variance keys
    ``variance:<kind>:<level>:<key>`` are also indexed as ``variance:<level>:<key>``, the
    form a recorded top variance can be matched on. Only this run's export is read, so an
    owner is never carried over from another week.
    """
    for name in _ACTION_FILES:
        df = read_artifact(run_dir, name)
        if df is None or "owner" not in df.columns:
            continue
        key = next((c for c in _ISSUE_KEY_COLS if c in df.columns), None)
        if key is None:
            continue
        if "status" in df.columns:  # closed actions no longer have an owner to name
            df = df[~df["status"].astype(str).isin(["done", "dropped"])]
        d = df[[key, "owner"]].dropna()
        out: dict[str, str] = {}
        for k, o in zip(d[key].astype(str), d["owner"].astype(str)):
            if not o.strip():
                continue
            out.setdefault(k, o)
            parts = k.split(":", 3)  # variance:<kind>:<level>:<key> is also found as variance:<level>:<key>
            if parts[0] == "variance" and len(parts) == 4:
                out.setdefault(f"variance:{parts[2]}:{parts[3]}", o)
        return out
    return {}


@dataclass
class RunInputs:
    """What the summary reads: the run's figures, its notebooks' statuses, and where they came from."""

    results: dict
    statuses: dict
    run_dir: Path | None
    run_id: str
    note: str


def run_inputs(wk) -> RunInputs:
    """The figures and statuses the summary of ``wk`` (a :class:`soe_helpers.report.context.Week`) reads.

    In a weekly run: this run's ``results/`` and ``.work/`` statuses. Opened interactively:
    the week's latest full successful run (:func:`soe_helpers.core.run_folder.latest_full_run`: a later
    partial, failed or unfinished run is never shown), so an analyst sees exactly what leadership
    saw; with no such run, nothing (every report is "not run").
    """
    if not wk.interactive:
        return RunInputs(read_run_results(wk.run_dir), read_run_statuses(wk.run_dir), Path(wk.run_dir),
                         Path(wk.run_dir).name, f"Figures recorded by the reports of run {Path(wk.run_dir).name}.")
    params = getattr(wk, "params", None)  # the company's own outputs folder (None: the default one)
    info = run_folder.latest_full_run(run_folder.week_dir(wk.week, params.outputs_dir() if params else None))
    if info is None:
        return RunInputs({}, {}, None, "", f"No complete run of {wk.week} yet: run `soe run --week {wk.week}` "
                                            "and open this notebook again.")
    latest = info.path
    nbs = (info.manifest or {}).get("notebooks", [])
    statuses = {n["name"]: n for n in nbs if n.get("name") != "executive_summary"}
    return RunInputs(read_run_results(latest), statuses, latest, latest.name,
                     f"Interactive view of the latest complete run of {wk.week} (run {latest.name}).")


def ok_sections(results: Mapping[str, dict], statuses: Mapping[str, dict], week: str) -> list[str]:
    """Sections the summary may show (their report ran this run, succeeded and recorded this week)."""
    return [r.section for r in PACK if report_state(r, statuses, results, week) == "ok"]


def section_if_ok(results: Mapping[str, dict], statuses: Mapping[str, dict], section: str, week: str) -> dict | None:
    """``results[section]`` when it may be shown (see :func:`ok_sections`), else None."""
    return results.get(section) if section in ok_sections(results, statuses, week) else None


# ---------------------------------------------------------------- states and formatting


def report_state(ref: ReportRef, statuses: Mapping[str, dict], results: Mapping[str, dict], week: str) -> str:
    """What the summary may show for ``ref``: ``ok``, ``failed``, ``not_run``, ``needs``, ``no_figures`` or ``stale``.

    ``needs`` = not run by design: the company lacks a table the report needs (its status's ``reason``).
    ``stale`` = the section records a ``week`` other than ``week`` (never shown).
    """
    st = statuses.get(ref.notebook)
    if st is None:
        return "not_run"
    if st.get("status") == run_folder.NOT_RUN:
        return "needs"
    if st.get("status") != "ok":
        return "failed"
    sec = results.get(ref.section)
    if not sec:
        return "no_figures"
    if sec.get("week") not in (None, week):
        return "stale"
    return "ok"


_STATE_SENTENCE = {
    "failed": "The {title} report failed this week: its figures are not shown.",
    "not_run": "The {title} report was not part of this run: its figures are not shown.",
    "needs": "not run — {reason}.",
    "no_figures": "The {title} report recorded no figures this week: nothing to show.",
    "stale": "The {title} report's figures are not for {week}: they are not shown.",
}


def _num(x) -> float | None:
    """A finite float or None (recorded figures are JSON: numbers, null, sometimes strings)."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


headline_money = fmt_money_headline  # the subject line's money format lives with the others (core.formats)


def _short_week(w: str | None) -> str:
    return str(w)[-3:] if w and len(str(w)) == 8 and str(w)[4:6] == "-W" else str(w or "–")


def _owner_of(owners: Mapping[str, str] | None, v: records.Variance | records.CashEvent) -> str | None:
    """The owner of a variance or event: by its issue key (``variance:<level>:<key>``, ``event:<event_id>``)."""
    if not owners:
        return None
    level, key, event_id = getattr(v, "level", None), getattr(v, "key", None), getattr(v, "event_id", None)
    keys = [f"variance:{level}:{key}", f"event:{event_id}", str(event_id), str(key)]
    return next((owners[k] for k in keys if k in owners), None)


def _item(ref: ReportRef, topic: str, light: str, sentence: str, link: str) -> dict:
    return {"section": ref.section, "report": ref.notebook, "topic": topic, "light": light, "sentence": sentence,
            "link": link}


def _owner_name(owner: str | None) -> str | None:
    """``'Ken Ito (Procurement manager)' -> 'Ken Ito'``: the summary names, the reports give the role."""
    return str(owner).split(" (", 1)[0] if owner else None


def _decided(decisions: Iterable[records.Decision] | None, key: str | None, dollars: float | None = None) -> bool:
    """Whether one of the week's decisions is about ``key`` (an order, a supplier, a product line: named in its
    question) and, when ``dollars`` is given, at the same dollars: the detail then leaves it to the decision."""
    if not decisions or not key:
        return False
    for d in decisions:
        if key not in (d.question or ""):
            continue
        if dollars is None or (_num(d.dollars) is not None and abs(abs(dollars) - _num(d.dollars)) < 0.01):
            return True
    return False


def _same_cause(v: records.Variance, shown: records.Variance) -> bool:
    """Whether variance ``v`` is a level of one already ``shown`` (same direction, each naming the other's key:
    'PWR-5004 (Power Supplies) is $528K ahead ...' and 'Power Supplies is $461K ahead ...')."""
    a, b = _num(v.variance), _num(shown.variance)
    if a is None or b is None or (a < 0) != (b < 0) or v.level == shown.level:
        return False
    return bool(v.key and shown.key and (f"({v.key})" in str(shown.sentence) or f"({shown.key})" in str(v.sentence)))


def _first_clause(sentence: str) -> str:
    """What happened, before the first '; ' outside parentheses (its figures follow it)."""
    depth = 0
    for i, ch in enumerate(sentence):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and sentence.startswith("; ", i):
            return sentence[:i]
    return sentence.rstrip(".")


def _event_key(event_id: str | None) -> str | None:
    """``'production_delay:SO-500000/1' -> 'SO-500000'``, ``'supplier_delay:S-017' -> 'S-017'``."""
    if not event_id:
        return None
    return str(event_id).split(":", 1)[-1].split("/", 1)[0].replace("sku=", "")


# ---------------------------------------------------------------- the items, report by report
# Each item is one sentence with its dollars and owner; what a decision of the week already says is left to it.


def _demand_items(ref, r: records.ReconciliationRecord, *, week, materiality, rules, symbol, owners, link, decided):
    items = []
    gap, plan_q, landing = _num(r.landing_gap), _num(r.plan_quarter), _num(r.landing)
    quarter = r.quarter or "The quarter"
    if gap is not None and landing is not None:
        word = "behind" if gap < 0 else "ahead of"
        pct = f" ({fmt_pct(abs(gap) / abs(plan_q))})" if plan_q else ""
        light = "green" if gap >= 0 else ("red" if is_material(gap, plan_q, materiality) else "amber")
        parts = [_num(r.actual_qtd), _num(r.backlog_in_quarter), _num(r.unbooked_in_quarter)]
        if None not in parts:  # its parts; the gap, the bias-corrected landing and the slip risk: the first screen
            rel = f" ({fmt_pct(gap / plan_q, signed=True)} vs the {fmt_money(plan_q, symbol)} plan)" if plan_q else ""
            text = (f"Shipped {fmt_money(parts[0], symbol)} + open orders {fmt_money(parts[1], symbol)} + not yet "
                    f"booked {fmt_money(parts[2], symbol)} = {fmt_money(landing, symbol)}{rel}")
        else:
            text = (f"{quarter} is projected to land at {fmt_money(landing, symbol)}, "
                    f"{fmt_money(abs(gap), symbol)}{pct} {word} the {fmt_money(plan_q, symbol)} plan")
        items.append(_item(ref, "Quarter landing", light, text + ".", link))
    shipped, planned = _num(r.week_shipped_revenue), _num(r.week_plan_revenue)
    if shipped is not None and planned is not None and shipped < planned \
            and is_material(shipped - planned, planned, materiality):  # a week on or near plan is in the landing
        var = shipped - planned
        pct = f", {fmt_pct(var / planned, signed=True)}" if planned else ""
        items.append(_item(ref, "This week's shipments", "red",
                           f"{fmt_money(shipped, symbol)} in {week} vs {fmt_money(planned, symbol)} planned "
                           f"({fmt_money(var, symbol)}{pct}).", link))
    ranked = _num(getattr(r, "register_rows", None))  # the register the team works (each variance once)
    n = ranked if ranked is not None else _num(r.material_variances)
    top = [v for v in (r.top_variances or []) if v.sentence][: rules.top_variances]
    shown: list[records.Variance] = []
    for v in top:
        if _decided(decided, v.key, _num(v.variance)):
            continue  # a decision of the week asks about it
        if any(_same_cause(v, w) for w in shown):
            continue  # a part of one shown already (a line and its SKU, same direction): one root cause
        shown.append(v)
    if n is not None:
        s = f"{int(n):,} this week and quarter-to-date"  # the topic says "Material variances"
        if not shown and top:
            s += "; the largest are decided above"  # else the largest follow, one item each
        items.append(_item(ref, "Material variances", "amber" if n else "green", s + ".", link))
    for v in shown:
        var = _num(v.variance)
        owner = _owner_name(_owner_of(owners, v))
        s = str(v.sentence).rstrip(".") + (f". Owner: {owner}." if owner else ".")
        items.append(_item(ref, "Variance", "red" if var is not None and var < 0 else "amber", s, link))
    return items


def _cash_items(ref, r: records.CashImpactRecord, *, week, materiality, rules, symbol, owners, link, decided):
    items = []
    # cash risk is read over every forecast line and week (cash.cash_risk), never the baseline's week 13 only
    any_low = _num(r.lowest_cash_any_line)
    low = any_low if any_low is not None else _num(r.lowest_cash)
    low_week = r.lowest_cash_any_line_week if any_low is not None else r.lowest_week
    line = r.lowest_cash_any_line_name if any_low is not None else "baseline"
    min_cash = _num(r.min_cash)
    light = "grey"
    if low is not None:
        s = f"{fmt_money(low, symbol)} in {low_week or 'an unnamed week'} ({line})"  # the lowest of any line
        if min_cash is not None:
            margin = low - min_cash
            if margin < 0:
                light = "red"
                s += f", {fmt_money(-margin, symbol)} below the {fmt_money(min_cash, symbol)} minimum"
            else:
                light = "amber" if margin < rules.cash_watch_margin * abs(min_cash) else "green"
                s += f", {fmt_money(margin, symbol)} above the {fmt_money(min_cash, symbol)} minimum"
        else:
            s += " (no minimum cash set)"
        below = list(r.lines_below_min or [])
        first, first_line = r.first_breach_any_line_week, r.first_breach_any_line_name
        if first is None and any_low is None and r.first_breach_week:
            first, first_line = r.first_breach_week, "baseline"
        if first and min_cash is not None:
            runway = _num(r.runway_weeks_any_line if any_low is not None else r.runway_weeks)
            out = f", {int(runway)} week{'s' if int(runway) != 1 else ''} out" if runway is not None else ""
            s += (f"; {len(below)} lines go below it, the first in {first} ({first_line}{out})" if len(below) > 1 else
                  f"; first below it in {first} ({first_line}{out})")
        base_low = _num(r.lowest_cash)
        if any_low is not None and base_low is not None and line != "baseline" and not r.cash_walk:
            s += f"; baseline low {fmt_money(base_low, symbol)} in {r.lowest_week}"
        items.append(_item(ref, "Cash low point", light, s + ".", link))
    if r.cash_walk:
        items.append(_item(ref, "Why cash moves", "green" if light in ("green", "grey") else "amber", r.cash_walk, link))
    base13 = _num(r.baseline_week13_closing)
    if base13 is not None and low is None:
        items.append(_item(ref, "Week-13 cash", "green",
                           f"Baseline cash closes week 13 at {fmt_money(base13, symbol)}.", link))
    n_events, pnl, cash13 = r.events, _num(r.pnl_impact_quarter), _num(r.cash_impact_13w)
    if n_events is not None or pnl is not None:
        n = int(_num(n_events) or 0)
        n_mat = _num(r.material_events)
        s = f"{int(n_mat)} material of {n} detected" if n_mat is not None and n else f"{n} detected"
        bits = []
        if pnl is not None:
            bits.append(f"P&L {fmt_money(pnl, symbol)} this quarter")
        if cash13 is not None:
            bits.append(f"cash {'+' if cash13 > 0 else ''}{fmt_money(cash13, symbol)} over 13 weeks")
        if bits:
            s += ": " + ", ".join(bits)
        top = next((e for e in (r.top_events or []) if e.sentence), None)
        if top is not None and not _decided(decided, _event_key(top.event_id)):  # a decision already names it
            owner = _owner_name(_owner_of(owners, top))
            s += f". Largest: {_first_clause(top.sentence)}" + (f" (owner: {owner})" if owner else "")
        worst = min(x for x in (pnl, cash13, 0.0) if x is not None)
        light = "green" if n == 0 or worst >= 0 else ("red" if is_material(worst, None, materiality) else "amber")
        items.append(_item(ref, "Disruptions", light, s + ".", link))
    return items


def _forecast_items(ref, r: records.ForecastFeedbackRecord, *, week, materiality, rules, symbol, owners, link,
                    decided):
    """One item in plain words (the forecast report defines lag, WAPE, tracking signal and FVA)."""
    alerts = [str(x) for x in (r.ts_alert_lines or [])]
    b1, b4 = _num(r.bias_lag1), _num(r.bias_lag4)
    bias, bias_lag = (b4, 4) if b4 is not None else (b1, 1)
    lag = int(_num(r.focus_lag) or 4)  # the lag the value added and the corrections are measured at
    err, err_lag = _num((r.wape_by_lag or {}).get(lag)), lag
    if err is None and _num(r.wape_lag1) is not None:
        err, err_lag = _num(r.wape_lag1), 1
    fva = _num(r.fva_vs_naive)  # at the focus lag
    lags = {x for x, v in ((bias_lag, bias), (err_lag, err), (lag, fva)) if v is not None}
    one = lags.pop() if len(lags) == 1 else None  # every figure at one horizon: said once, up front
    at = lambda x: "" if one is not None else f" {horizon(x)}"  # noqa: E731
    bits = []
    if bias is not None:
        bits.append(f"{fmt_pct(abs(bias))} {'over' if bias > 0 else 'under'} demand{at(bias_lag)}")
    mb = r.most_biased_line
    if mb is not None and mb.product_line and _num(mb.bias_pct_lag4) is not None:
        bl, corr = _num(mb.bias_pct_lag4), _num(mb.correction)
        bits.append(f"{mb.product_line} {fmt_pct(abs(bl))} {'over' if bl > 0 else 'under'}{at(4)}"
                    + (f" ({fmt_pct(corr, signed=True)} correction proposed)" if corr is not None else ""))
    if alerts:
        bits.append(f"a lasting bias on {', '.join(alerts)}")
    accuracy = []  # the error and how it compares with the simple baseline: one clause
    if err is not None:
        accuracy.append(f"error {fmt_pct(err)}{at(err_lag)}")
    if fva is not None:
        accuracy.append(f"{abs(fva) * 100:.1f} points {'below' if fva >= 0 else 'above'} the simple baseline's"
                        f"{at(lag)}")
    if accuracy:
        bits.append(", ".join(accuracy))
    if not bits:
        return []
    s = (f"{horizon(one).capitalize()}: " if one is not None else "") + "; ".join(bits)
    window = r.accuracy_window
    if window and len(window) == 2:
        s += f" ({window[0]} to {window[1]})"
    light = "amber" if alerts or (fva is not None and fva < 0) else "green"
    return [_item(ref, "Forecast", light, s[:1].upper() + s[1:] + ".", link)]


# KPI name -> (label, unit, higher_is_better), in the order the summary lists them
_KPIS = {
    "otif_value": ("OTIF by value", "pct", True),
    "otif": ("OTIF by lines", "pct", True),
    "dso": ("DSO", "days", False),
    "dio": ("DIO", "days", False),
    "dpo": ("DPO", "days", True),
    "ccc": ("Cash conversion cycle", "days", False),
    "gross_margin_pct": ("Gross margin", "pct", True),
    "gross_margin": ("Gross margin", "pct", True),
}
_PERIOD_KEYS = ("13w", "trailing_13w", "t13w", "quarter", "qtd", "week", "value")
_STATUS_WORDS = {
    "green": "green", "ok": "green", "on_target": "green", "on target": "green", "met": "green", "good": "green",
    "amber": "amber", "watch": "amber", "warning": "amber", "near": "amber", "yellow": "amber",
    "red": "red", "breach": "red", "off_target": "red", "off target": "red", "missed": "red", "bad": "red",
    "grey": "grey", "gray": "grey", "n/a": "grey", "none": "grey", "no_data": "grey",
}


def _kpi_value(raw) -> tuple[float | None, str]:
    """(value, period) from a KPI record: a number, or a dict keyed by period (13w preferred) or 'value'."""
    if isinstance(raw, dict):
        for k in _PERIOD_KEYS:
            if _num(raw.get(k)) is not None:
                return _num(raw[k]), k
        return None, ""
    return _num(raw), ""


def kpi_table(section: records.ExecutionKpisRecord | Mapping[str, Any] | None, *,
              dso_revenue: str = "invoiced") -> pd.DataFrame:
    """KPI traffic lights from the execution KPIs' record (or its ``execution_kpis`` section of results).

    Each KPI is a dict of periods (``week``/``13w``/``quarter``): ``value`` is the trailing 13 weeks (by
    preference), ``week`` this week's. The light is the KPI report's own (``lights``: this week and the 13 weeks
    against the target, :data:`soe_helpers.analysis.kpis.LIGHT_RULE`); without it, ``status[kpi][period]``
    (met/missed, ok/watch/breach -> green/amber/red); without a status, green when the KPI meets its target in
    its good direction (OTIF up, DSO down...), red otherwise, grey without a target. ``basis``: what it is
    measured on (:func:`soe_helpers.analysis.measures.kpi_basis`; ``dso_revenue`` = ``params.kpis.dso_revenue``).

    Returns:
        DataFrame kpi, label, basis, unit, period, value, week, target, light, text
        (e.g. ``"OTIF by lines 87.2% vs 95.0% target"``).
    """
    cols = ["kpi", "label", "basis", "unit", "period", "value", "week", "target", "light", "text"]
    rec = records.parse("execution_kpis", section)
    if rec is None:
        return pd.DataFrame(columns=cols)
    targets, status, lights = rec.targets or {}, rec.status or {}, rec.lights or {}
    rows = []
    for kpi, (label, unit, up) in _KPIS.items():
        raw = getattr(rec, kpi, None)
        value, period = _kpi_value(raw)
        if value is None:
            continue
        week_value = _num(raw.get("week")) if isinstance(raw, dict) else None
        target = _num(targets.get(kpi))
        light = _STATUS_WORDS.get(str(lights.get(kpi)).strip().lower()) if lights.get(kpi) else None
        st = status.get(kpi)
        if isinstance(st, dict):
            st = st.get(period) or st.get("13w") or st.get("status") or next(iter(st.values()), None)
        if light is None and st is not None:
            light = _STATUS_WORDS.get(str(st).strip().lower())
        if light is None:
            if target is None:
                light = "grey"
            else:
                light = "green" if (value >= target if up else value <= target) else "red"
        text = f"{label} {fmt_kpi(value, unit, day_digits=0)}"
        if target is not None:
            text += f" vs {fmt_kpi(target, unit, day_digits=0)} target"
        rows.append({"kpi": kpi, "label": label, "basis": kpi_basis(kpi, dso_revenue), "unit": unit, "period": period,
                     "value": value, "week": week_value, "target": target, "light": light, "text": text})
    return pd.DataFrame(rows, columns=cols)


def _kpi_items(ref, sec, *, week, materiality, rules, symbol, owners, link, decided):
    """The KPIs off target by name: their figures, periods and bases are the scoreboard's table."""
    t = kpi_table(sec)
    if t.empty:
        return []
    off = t[t["light"].isin(["red", "amber"])]
    judged = t[t["light"] != "grey"]
    if not len(judged):
        return [_item(ref, "KPIs", "grey", "No KPI has a target set.", link)]
    if off.empty:
        return [_item(ref, "KPIs", "green", f"All {len(judged)} with a target are on target.", link)]
    s = f"{len(off)} of {len(judged)} off target"
    ar = sec.ar_ageing or {}
    open_ar, overdue = _num(ar.get("open")), _num(ar.get("overdue"))
    if open_ar and overdue is not None:  # the receivables past due: cash a CFO can chase (the lights: above)
        s = (f"{fmt_money(overdue, symbol)} ({fmt_pct(overdue / open_ar)}) past due of {fmt_money(open_ar, symbol)}"
             + (f" at {ar['as_of']}" if ar.get("as_of") else ""))
        dso = t.loc[t["kpi"] == "dso", "light"]
        return [_item(ref, "Receivables", dso.iloc[0] if len(dso) else "grey", s + ".", link)]  # DSO's light
    return [_item(ref, "KPIs", "red" if (off["light"] == "red").any() else "amber", s + ".", link)]


def _owner_rows(by_owner: Mapping[str, float | None] | None) -> list[tuple[str, float | None]]:
    """(owner, dollars at stake open) from the record's ``by_owner``, largest dollars first."""
    rows = [(str(owner), _num(v)) for owner, v in (by_owner or {}).items()]
    rows.sort(key=lambda r: -(r[1] or 0))  # largest dollars at stake first
    return rows


def _action_items(ref, r: records.ActionsRecord, *, week, materiality, rules, symbol, owners, link, decided):
    n_open = _num(r.open)
    if n_open is None:
        return []
    overdue, escalated = int(_num(r.overdue) or 0), int(_num(r.escalated) or 0)
    new, closed = _num(r.new_this_week), _num(r.closed_this_week)
    distinct = _num(r.at_stake_total)
    stake = distinct if distinct is not None else _num(r.dollars_at_stake_open)
    s = f"{int(n_open)} open"  # the topic says "Actions"
    if distinct is not None:
        s += f" on {len(r.exposures or [])} exposures, {fmt_money(distinct, symbol)} at stake (counted once)"
        if r.opportunities:
            s += f", {len(r.opportunities)} opportunit{'ies' if len(r.opportunities) != 1 else 'y'} apart"
    elif stake is not None:
        s += f" with {fmt_money(stake, symbol)} at stake"
    s += f": {overdue} overdue, {escalated} escalated"
    to = r.escalated_to
    if escalated and to:
        s += " (" + ", ".join(f"{n} to {lvl}" for lvl, n in to.items()) + ")"
    if (new is not None or closed is not None) and (int(new or 0) != int(n_open) or int(closed or 0)):
        s += f"; {int(new or 0)} new, {int(closed or 0)} closed this week"  # all new: the open count says it
    top = _owner_rows(r.by_owner)[:3]
    asks = [a for a in (r.agenda or []) if a.group in ("escalated", "overdue") and a.decision_asked
            and not _decided(decided, a.title)]
    # the meeting's first decision: an escalated (else overdue) action's own words, a root cause before a KPI
    # (a measure of many causes), then the largest dollars; one the week's decisions ask already is not repeated
    asks.sort(key=lambda a: (a.group != "escalated", a.kind == "kpi", -(_num(a.dollars_at_stake) or 0.0)))
    ask = asks[0] if asks else None
    exposures = [e for e in (r.exposures or []) if not _decided(decided, e.title)
                 and not (ask is not None and e.title == ask.title)]  # the ask below names it
    if r.exposures and ask is None:  # the distinct exposures say it without counting a root cause twice
        if exposures:
            e = exposures[0]
            s += (f". Largest exposure{' not decided above' if len(exposures) < len(r.exposures) else ''}: "
                  f"{e.title} ({fmt_money(e.dollars_at_stake, symbol)}, {e.measure}"
                  + (f", {_owner_name(e.owner)}" if e.owner else "") + ")")
    elif top and not r.exposures:
        s += ". Most at stake: " + ", ".join(o + (f" {fmt_money(d, symbol)}" if d is not None else "") for o, d in top)
    big = None if r.exposures else next((a for a in (r.top_open or []) if a.title), None)
    if big:
        bits = [str(b) for b in (big.owner, fmt_money(big.dollars_at_stake, symbol)
                                 if _num(big.dollars_at_stake) is not None else None) if b]
        s += f". Largest open action: {big.id or ''} {big.title}".replace("  ", " ")
        s += f" ({', '.join(bits)})" if bits else ""
    if ask is not None:
        what = str(ask.decision_asked).rstrip(".")
        subject = str(ask.title or "").split(":", 1)[0].split(" (", 1)[0]
        named = f" ({ask.title})" if ask.title and subject not in what else ""  # what the ask is about, once
        s += f". Next ask: {_owner_name(ask.owner) or 'its owner'} by {ask.due}, {what[:1].lower() + what[1:]}{named}"
    missing = [str(x) for x in (r.inputs_missing or [])]
    if missing:
        s += f". The tracker could not read {', '.join(missing)} this week"
    light = "red" if escalated else ("amber" if overdue or missing else "green")
    return [_item(ref, "Actions", light, s + ".", link)]


def _accuracy_items(ref, r: records.DataAccuracyRecord, *, week, materiality, rules, symbol, owners, link, decided):
    score = _num(r.score)
    if score is None:
        return []
    target = _num(r.target)
    failed = r.failed_checks
    n_failed = len(failed) if failed is not None else None
    s = f"{fmt_pct(score)}"  # the topic says "Data accuracy"
    if target is not None:
        s += f" vs a {fmt_pct(target)} target"
        light = "green" if score >= target else ("amber" if target - score <= rules.accuracy_watch_points else "red")
    else:
        light = "grey"
    if n_failed is not None:
        s += f"; {n_failed} check{'s' if n_failed != 1 else ''} failed"
        mat = r.material_failed_checks
        if mat is not None and n_failed:
            s += f" ({len(mat) or 'none'} material)"
        gross = _num(r.tie_out_gross)
        if gross:  # one basis for the sum: gross (offsetting differences do not cancel)
            s += f"; tie-outs off by {fmt_money(gross, symbol)} gross"
        # the example is the largest dollar difference, not the first check listed
        first = r.largest_difference or next(
            iter(sorted((f for f in failed if f.sentence), key=lambda f: -(_num(f.dollars_at_stake) or 0))), None)
        dollars = _num(first.dollars_at_stake) if first else None
        if first and dollars and (first.name or first.source):  # money rounded for reading: exact in the report
            s += f"; largest: {first.name or first.source}, {fmt_money(dollars, symbol)} off"
        elif first and first.sentence:
            s += f"; largest: {str(first.sentence).rstrip('.')}"
    return [_item(ref, "Data accuracy", light, s + ".", link)]


_BUILDERS = {
    "demand_reconciliation": _demand_items,
    "cash_impact": _cash_items,
    "forecast_feedback": _forecast_items,
    "execution_kpis": _kpi_items,
    "actions": _action_items,
    "data_accuracy": _accuracy_items,
}


def build_items(
    results: Mapping[str, dict],
    statuses: Mapping[str, dict],
    *,
    week: str,
    materiality,
    rules,
    symbol: str,
    owners: Mapping[str, str] | None = None,
    pack: Iterable[ReportRef] = PACK,
    decisions: Iterable[records.Decision] | None = None,
) -> pd.DataFrame:
    """One row per summary item: a plain sentence with its dollars and owner, a traffic light and its report.

    Args:
        results: the run's recorded figures ``{section: {key: value}}``.
        statuses: ``{notebook: {"status": ...}}`` of the run (:func:`read_run_statuses`).
        week: the run's week; a section recording another ``week`` is not shown.
        materiality: ``params.materiality`` (abs, pct, rule) deciding red vs amber for shortfalls.
        rules: ``params.executive_summary`` (top_variances, cash_watch_margin, accuracy_watch_points).
        symbol: currency symbol.
        owners: optional ``{issue key or event_id: owner}`` to name the owner beside a variance/event.
        pack: the reports to summarise (default :data:`PACK`).
        decisions: the week's decisions (:func:`decisions`): a variance, disruption, exposure or asked decision
            one of them is about (the same order, supplier or line, at the same dollars) is left to it.
    Returns:
        DataFrame with :data:`ITEM_COLUMNS`; ``link`` is the report's HTML file name when it was
        published (status ok), else empty. Reports that failed, did not run, recorded nothing or
        recorded another week give one grey row saying so, and none of their figures.
    """
    rows: list[dict] = []
    recs = records.load(results)
    decided = list(decisions or [])
    for ref in pack:
        state = report_state(ref, statuses, results, week)
        link = f"{ref.notebook}.html" if statuses.get(ref.notebook, {}).get("status") == "ok" else ""
        if state != "ok":
            reason = statuses.get(ref.notebook, {}).get("reason") or "needs tables this company does not have"
            rows.append(_item(ref, ref.title, "grey",
                              _STATE_SENTENCE[state].format(title=ref.noun, week=week, reason=reason), link))
            continue
        rec = recs.get(ref.section)  # None: recorded, but not of its record's shape
        built = [] if rec is None else _BUILDERS.get(ref.section, lambda *a, **k: [])(
            ref, rec, week=week, materiality=materiality, rules=rules, symbol=symbol,
            owners=owners or {}, link=link, decided=decided)
        rows += built or [_item(ref, ref.title, "grey",
                                f"The {ref.noun} report recorded none of the figures the summary uses.", link)]
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def lights_count(items: pd.DataFrame) -> dict[str, int]:
    """``{"red": n, "amber": n, "green": n, "grey": n}`` over the items."""
    c = items["light"].value_counts() if len(items) else pd.Series(dtype=int)
    return {k: int(c.get(k, 0)) for k in LIGHTS}


# ---------------------------------------------------------------- headline and subject


def headline(results: Mapping[str, dict], statuses: Mapping[str, dict], *, week: str, symbol: str) -> str:
    """The week in one line, e.g. ``"Q4 lands $10.5M vs $10.0M plan; cash low $939K in 2027-W05"``.

    The landing and the plan are rounded alike, with the digits their gap needs
    (:func:`soe_helpers.core.formats.fmt_money_pair`); the cash low point is the lowest cash of any forecast
    line (``cash_impact.lowest_cash_any_line``, else the baseline's) with its week. A report that is not
    ``ok`` (see :func:`report_state`) says so instead of a number.
    """
    parts = []
    refs = {r.section: r for r in PACK}
    recs = records.load(results)
    if report_state(refs["demand_reconciliation"], statuses, results, week) == "ok":
        d = recs.demand_reconciliation
        landing, plan_q = (_num(d.landing), _num(d.plan_quarter)) if d else (None, None)
        if landing is not None and plan_q is not None:
            a, b = fmt_money_pair(landing, plan_q, symbol)
            parts.append(f"{_short_quarter(d.quarter)} lands {a} vs {b} plan")
    else:
        parts.append("demand figures missing")
    if report_state(refs["cash_impact"], statuses, results, week) == "ok":
        c = recs.cash_impact
        any_low = _num(c.lowest_cash_any_line) if c else None
        low = any_low if any_low is not None else (_num(c.lowest_cash) if c else None)
        if low is not None:
            parts.append(f"cash low {fmt_money(low, symbol)} in "
                         f"{c.lowest_cash_any_line_week if any_low is not None else c.lowest_week}")
    else:
        parts.append("cash figures missing")
    return "; ".join(parts) if parts else "weekly pack"


def decisions_count(n: int) -> str:
    """``3 -> '3 decisions'``, ``1 -> '1 decision'``, ``0 -> 'no decisions'``."""
    return f"{n} decision{'s' if n != 1 else ''}" if n else "no decisions"


def subject(week: str, headline_text: str, prefix: str = "S&OE", decisions: int | None = None) -> str:
    """``"S&OE 2026-W47: 3 decisions; Q4 lands $10.5M vs $10.0M plan; cash low $939K in 2027-W05"``.

    One line, no control characters; ``decisions``: how many the week asks (None = not counted, as in a
    failure notice).
    """
    count = "" if decisions is None else decisions_count(decisions) + "; "
    s = f"{prefix} {week}: {count}{headline_text}".strip()
    return " ".join(s.split())


# ---------------------------------------------------------------- the decisions: the first screen


#: Columns of :func:`open_actions`.
ACTION_COLUMNS = ["issue_key", "root", "title", "owner", "due_date", "escalation"]


def open_actions(run_dir: str | Path | None) -> pd.DataFrame:
    """The open actions of this run's action tracker export, each with its exposure's root cause.

    Reads ``actions_all.csv`` (issue_key, title, owner, due_date, status, escalation_level, source_type ...);
    ``root`` is :func:`soe_helpers.analysis.exposures.classify`'s, so an action is matched to the exposure
    (and to a cash scenario about the same order or supplier) it belongs to. Only this run's export is
    read: an owner or due date is never carried over from another week. Empty without an export.

    Returns:
        DataFrame with :data:`ACTION_COLUMNS` (escalation: the level escalated to, "" = not escalated).
    """
    empty = pd.DataFrame(columns=ACTION_COLUMNS)
    df = read_artifact(run_dir, _ACTION_FILES[0]) if run_dir else None
    if df is None or "issue_key" not in df.columns or "owner" not in df.columns:
        return empty
    if "status" in df.columns:  # closed actions ask nothing of anyone
        df = df[~df["status"].astype(str).isin(["done", "dropped"])]
    if df.empty:
        return empty
    df = df.reset_index(drop=True)
    for c in ("source_type", "title", "product_line", "type"):
        if c not in df.columns:
            df[c] = ""
    roots = classify(df[["issue_key", "source_type", "title", "product_line", "type"]].fillna(""))["root"]
    blank = lambda c: df[c].fillna("").astype(str) if c in df.columns else pd.Series("", index=df.index)  # noqa: E731
    esc = blank("escalation_level").where(lambda x: x.str.lower() != "owner", "")
    return pd.DataFrame({"issue_key": df["issue_key"].astype(str), "root": roots.astype(str),
                         "title": blank("title"), "owner": blank("owner"), "due_date": blank("due_date"),
                         "escalation": esc}, columns=ACTION_COLUMNS)


def _root_matches(root: str, target: str | None) -> bool:
    """Whether an action's root (``order:SO-1/1``, ``supplier:S-017``...) is what a scenario ``target`` names."""
    if not target or not root:
        return False
    if root == target or root.startswith(target + "/"):
        return True
    kind, _, ref = target.partition(":")
    if kind == "sku":  # a demand spike or a small lines' delay of the SKU
        return root.endswith(f":{ref}") or root.endswith(f"sku={ref}")
    if kind == "product_line":
        return root.endswith(f":line:{ref}")
    return False


def _first_action(actions: pd.DataFrame | None, roots: Iterable[str] = (), targets: Iterable[str | None] = ()):
    """(owner, due date) of the open action on one of ``roots`` or about one of ``targets``: (None, None) if none."""
    if actions is None or actions.empty:
        return None, None
    roots, targets = set(roots), [t for t in targets if t]
    hit = actions[[r in roots or any(_root_matches(r, t) for t in targets) for r in actions["root"]]]
    if hit.empty:
        return None, None
    due = sorted(d for d in hit["due_date"] if d)
    owner = next((o for o in hit["owner"] if o), None)
    return owner, (due[0] if due else None)


def _short_quarter(q: str | None) -> str:
    """``2026-Q4 -> 'Q4'``: the week beside it carries the year."""
    return str(q).rsplit("-", 1)[-1] if q else "The quarter"


def _spread(opts: list[records.ScenarioFigures], field: str) -> float:
    """The widest difference of ``field`` between a decision's options: the money the choice moves."""
    vals = [_num(getattr(o, field)) or 0.0 for o in opts]
    return max(vals) - min(vals) if vals else 0.0


def _scenario_decisions(c: records.CashImpactRecord, actions, *, symbol,
                        default_owner) -> list[tuple[float, records.Decision, set]]:
    """One decision per label the cash report's scenarios share, with the option it supports and why."""
    out = []
    min_cash = _num(c.min_cash)
    by_label: dict[str, list[records.ScenarioFigures]] = {}
    for sc in c.scenarios or []:
        if sc.decision and _num(sc.pnl_impact_quarter) is not None:
            by_label.setdefault(sc.decision, []).append(sc)
    quarter = c.quarter or "this quarter"
    for label, opts in by_label.items():
        safe = [o for o in opts if min_cash is None or _num(o.lowest_cash) is None or _num(o.lowest_cash) >= min_cash]
        if safe:
            best = max(safe, key=lambda o: _num(o.pnl_impact_quarter))
        else:  # every option goes below the minimum: the one that keeps the most cash
            best = max(opts, key=lambda o: _num(o.lowest_cash) if _num(o.lowest_cash) is not None else -math.inf)
        others = [o for o in opts if o is not best]
        alt = max(others, key=lambda o: _num(o.pnl_impact_quarter)) if others else None
        why, dollars, meaning = "", None, None
        if alt is not None:
            gap = _num(best.pnl_impact_quarter) - _num(alt.pnl_impact_quarter)
            dollars = abs(gap)
            q = _short_quarter(c.quarter) if c.quarter else quarter
            low = _num(alt.lowest_cash)
            alt_breaches = low is not None and min_cash is not None and low < min_cash
            if gap >= 0:
                meaning = f"better for {quarter} P&L than the other option"
                why = f"{fmt_money(gap, symbol)} better for {q} P&L" + (" and keeps cash above minimum"
                                                                        if alt_breaches else "")
            else:
                meaning = f"less {quarter} P&L than the other option, to stay above minimum cash"
                why = f"keeps cash above minimum for {fmt_money(-gap, symbol)} less {q} P&L"
        if not safe and min_cash is not None:
            why = (f"the highest low point, {fmt_money(_num(best.lowest_cash), symbol)} in {best.lowest_week}; "
                   "every option goes below minimum")
        targets = {o.target for o in opts}
        owner, due = _first_action(actions, targets=targets)
        weight = max(_spread(opts, "pnl_impact_quarter"), _spread(opts, "cash_impact_13w"))
        out.append((weight, records.Decision(
            key=f"decision:{label}", question=label, dollars=dollars, dollars_meaning=meaning,
            owner=owner or default_owner, due=due, recommendation=best.name, why=why or None, report="cash_impact"),
            targets))
    return out


#: root kind -> the question an exposure asks (its title first)
_QUESTIONS = {
    "order": "Hold its ship date?",
    "supplier": "Accept the delay or change supplier?",
    "shipments_vs_plan": "Recover it or accept the lower landing?",
    "shipments_vs_run_rate": "Recover it or accept the lower landing?",
    "orders_vs_forecast": "Win the orders back or lower the forecast?",
}
_MEASURE_REPORT = {"cash and P&L": "cash_impact", "data": "data_accuracy"}


def _exposure_group(root: str) -> str:
    """Exposures decided together: a product line's shipments and orders shortfalls are one decision."""
    parts = root.split(":")
    return f"line:{parts[-1]}" if len(parts) >= 3 and parts[-2] == "line" else root


def decisions(recs: records.Records, actions: pd.DataFrame | None = None, *, symbol: str, materiality,
              default_owner: str | None = None, limit: int = 5) -> list[records.Decision]:
    """The 3 to 5 decisions the week asks of leadership, from the run's records (one place for every report).

    Chosen, largest dollars first, from what the analysis computed, never inventing an option:

    1. each decision the cash report compared (scenarios sharing a ``decision`` label): the option that keeps
       cash above the minimum with the best P&L this quarter (without one, the highest low point), and why;
       ranked by the widest P&L or cash spread between its options;
    2. each distinct exposure (one per root cause, :mod:`soe_helpers.analysis.exposures`) whose action the
       tracker escalated, or that a cash scenario is about; a product line's shortfalls are one decision.
       A what-if about it that takes cash below the minimum is the reason to prevent it; otherwise the
       options are the report's ("see the report", ``recommendation`` None). Opportunities are not asked;
    3. baseline cash below the minimum, when no decision above is about it;
    4. a quarter landing materially behind plan: pull forward backlog or accept the landing.

    Args:
        recs: the run's typed records (only reports ok this run: :func:`records.load` with ``ok``).
        actions: :func:`open_actions` of this run (owners and due dates); None = no tracker export.
        materiality: ``params.materiality`` (a landing gap or exposure below it asks no decision).
        default_owner: owner of a decision no action names (``params.actions.default_owner``).
        limit: at most this many decisions.
    Returns:
        :class:`records.Decision` list, most dollars first.
    """
    cands: list[tuple[float, records.Decision]] = []
    c, a, d = recs.cash_impact, recs.actions, recs.demand_reconciliation
    min_cash = _num(c.min_cash) if c else None
    covered: set[str | None] = set()
    scenarios = [sc for sc in (c.scenarios or [])] if c else []
    for weight, dec, targets in (_scenario_decisions(c, actions, symbol=symbol, default_owner=default_owner)
                                 if c else []):
        cands.append((weight, dec))
        covered |= targets
    groups: dict[str, list[records.Exposure]] = {}
    esc_roots = set(actions.loc[actions["escalation"] != "", "root"]) if actions is not None and len(actions) else set()
    for e in (a.exposures or []) if a else []:
        root = e.root or ""
        if any(_root_matches(root, t) for t in covered if t):
            continue  # its decision is the cash report's comparison above
        about = [sc for sc in scenarios if not sc.decision and _root_matches(root, sc.target)]
        if (root in esc_roots or about) and is_material(_num(e.dollars_at_stake) or 0.0, None, materiality):
            groups.setdefault(_exposure_group(root), []).append(e)
    breach_covered = False
    for key, es in groups.items():
        top = es[0]
        dollars = max(_num(e.dollars_at_stake) or 0.0 for e in es)
        kind = (top.root or "").split(":")[0]
        title = top.title or top.root or "An exposure"  # a product line's other signals: in the detail
        owner, due = _first_action(actions, roots=[e.root for e in es])
        rec, why = None, None
        for sc in scenarios:
            if sc.decision or not any(_root_matches(e.root or "", sc.target) for e in es):
                continue
            low = _num(sc.lowest_cash)
            if min_cash is not None and low is not None and low < min_cash:
                rec = f"prevent '{sc.name}'"
                first = sc.first_breach_week or sc.lowest_week
                why = (f"cash would fall to {fmt_money(low, symbol)} in {sc.lowest_week}, below minimum"
                       if first == sc.lowest_week else
                       f"cash would go below minimum in {first}, to {fmt_money(low, symbol)} in {sc.lowest_week}")
                breach_covered = True
                break
        measure = str(top.measure or "")
        report = _MEASURE_REPORT.get(measure.split(":")[0],
                                     "demand_reconciliation" if measure.startswith("revenue") else "action_tracker")
        cands.append((dollars, records.Decision(
            key=top.exposure_id or key, question=f"{title}. {_QUESTIONS.get(kind, 'What is the response?')}",
            dollars=dollars, dollars_meaning="at stake", owner=owner or top.owner or default_owner, due=due,
            recommendation=rec, why=why, report=report)))
    if c is not None and c.first_breach_week and min_cash is not None and not breach_covered:
        short = -(_num(c.margin_over_min) or 0.0)
        cands.append((max(short, 0.0), records.Decision(
            key="cash:baseline_below_minimum",
            question=f"Baseline cash goes below the {fmt_money(min_cash, symbol)} minimum in {c.first_breach_week}: "
                     "how is the gap covered?",
            dollars=max(short, 0.0), dollars_meaning="below the minimum at the low point", owner=default_owner,
            recommendation=None, why=None, report="cash_impact")))
    gap, plan_q = (_num(d.landing_gap), _num(d.plan_quarter)) if d else (None, None)
    if gap is not None and gap < 0 and is_material(gap, plan_q, materiality):
        after = _num(d.backlog_after_quarter)
        why = (f"{fmt_money(after, symbol)} of open orders are due after quarter end"
               if after and after > 0 else None)
        cands.append((-gap, records.Decision(
            key="landing", question=f"{_short_quarter(d.quarter)} lands {fmt_money(-gap, symbol)} behind plan: "
                                    "pull forward backlog or accept the landing?",
            dollars=-gap, dollars_meaning="behind plan", owner=default_owner, recommendation=None, why=why,
            report="demand_reconciliation")))
    cands.sort(key=lambda t: -t[0])
    return [dec for _, dec in cands[:limit]]


def decision_sentence(d: records.Decision, symbol: str, titles: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(question, the rest) of one decision in plain words: dollars, recommended option and why, owner, due.

    ``"Production delay: SO-500000 ($515K at stake). Hold its ship date?"``, ``"Recommended: prevent ...:
    cash would fall to $954K in 2027-W01, below minimum. Raj Patel, due 2026-11-29."``
    """
    titles = titles or {r.notebook: r.noun for r in PACK}
    q = d.question or ""
    if _num(d.dollars) is not None and d.dollars_meaning == "at stake":
        head, sep, ask = q.partition(". ")
        q = f"{head} ({fmt_money(d.dollars, symbol)} at stake){sep}{ask}"
    if d.recommendation:
        rec = d.recommendation[:1].upper() + d.recommendation[1:]
        bits = [f"Recommended: {rec}" + (f": {d.why}." if d.why else ".")]
    else:
        where = titles.get(d.report or "", "")
        bits = [(f"Options in the {where} report" + (f" ({d.why})." if d.why else ".")) if where
                else "Options: not computed."]
    who = _owner_name(d.owner)
    if who or d.due:
        bits.append(", ".join(x for x in (who or "", f"due {d.due}" if d.due else "") if x) + ".")
    return q, " ".join(bits)


def first_screen(recs: records.Records, *, symbol: str, materiality) -> list[tuple[str, str]]:
    """The week in three lines after the decisions: (label, sentence) for landing, cash and delivery.

    A report that is not ok this run (its record None) has no line; the scoreboard says it is missing.
    """
    out = []
    d = recs.demand_reconciliation
    if d is not None and _num(d.landing) is not None and _num(d.plan_quarter) is not None:
        landing, plan_q, gap = _num(d.landing), _num(d.plan_quarter), _num(d.landing_gap)
        gap = landing - plan_q if gap is None else gap
        a, b = fmt_money_pair(landing, plan_q, symbol)
        s = f"{fmt_money(abs(gap), symbol)} {'behind' if gap < 0 else 'ahead of'} the {b} plan at {a}"
        corr, slip = _num(d.landing_corrected), _num(d.slip_risk)
        if corr is not None and abs(corr - landing) >= materiality.abs:
            s += f"; {fmt_money_pair(corr, plan_q, symbol)[0]} bias-corrected"
        if slip:
            s += f"; {fmt_money(slip, symbol)} of orders could slip"
        out.append((f"{_short_quarter(d.quarter)} landing" if d.quarter else "Landing", s + "."))
    c = recs.cash_impact
    if c is not None:
        low = _num(c.lowest_cash_any_line)
        week, line = c.lowest_cash_any_line_week, c.lowest_cash_any_line_name
        if low is None:
            low, week, line = _num(c.lowest_cash), c.lowest_week, "baseline"
        min_cash = _num(c.min_cash)
        if low is not None:
            s = f"low {fmt_money(low, symbol)} in {week}" + (" (baseline)" if line == "baseline" else "")
            first = c.first_breach_any_line_week or c.first_breach_week
            if min_cash is not None and first:
                s += f"; first below the {fmt_money(min_cash, symbol)} minimum in {first}"
            elif min_cash is not None:
                s += f"; {fmt_money(low - min_cash, symbol)} above the {fmt_money(min_cash, symbol)} minimum"
            out.append(("Cash", s + "."))
    k = recs.execution_kpis
    if k is not None:
        week_of = lambda f: _num((getattr(k, f, None) or {}).get("week"))  # noqa: E731
        otif = week_of("otif_value")
        if otif is not None:
            target = _num((k.targets or {}).get("otif_value"))
            s = f"OTIF by value {fmt_pct(otif)} this week" + (f" vs {fmt_pct(target)} target" if target else "")
            out.append(("Delivery", s + "."))
    return out


def decisions_html(decs: list[records.Decision], symbol: str) -> str:
    """The decisions as an escaped HTML list (question in bold), or one line saying there is none."""
    if not decs:
        return '<p class="soe-decisions">No decision is asked this week.</p>'
    rows = "".join(f"<li><b>{html.escape(q)}</b><br>{html.escape(rest)}</li>"  # the question on its own line
                   for q, rest in (decision_sentence(d, symbol) for d in decs))
    return f'<ol class="soe-decisions">{rows}</ol>'


def first_screen_html(lines: list[tuple[str, str]]) -> str:
    """:func:`first_screen`'s lines as escaped HTML paragraphs."""
    return "".join(f'<p class="soe-line"><b>{html.escape(k)}:</b> {html.escape(v)}</p>' for k, v in lines)


def previous_week_link(week: str, outputs: str | Path | None = None,
                       report: str = "executive_summary") -> tuple[str, str] | None:
    """(relative href from a report of ``week``'s run folder, label) of the previous week's ``report``, or None.

    The previous week's latest full successful run (:func:`run_folder.previous_full_run`); the link follows
    the run folder layout (:func:`run_folder.report_href_from_run`). None when that week has no full run.
    """
    found = run_folder.previous_full_run(week, Path(outputs) if outputs else None)
    if found is None:
        return None
    prev, info = found
    return run_folder.report_href_from_run(prev, info.path.name, report), f"{prev} (run {info.path.name})"


def previous_week_html(week: str, outputs: str | Path | None = None, report: str = "executive_summary") -> str:
    """One escaped line linking the previous week's ``report`` (:func:`previous_week_link`), or saying there is none."""
    link = previous_week_link(week, outputs, report)
    if link is None:
        return '<p class="soe-previous">Previous week: first week on record.</p>'
    href, label = link
    return (f'<p class="soe-previous">Previous week: <a href="{html.escape(href, quote=True)}">'
            f'{html.escape(label)}</a></p>')


#: term -> (words on a page that call for it, its plain meaning). The analysts' reports' own terms (lag, WAPE,
#: tracking signal, FVA) appear here only, beside the plain words the summary and the email use for them.
_GLOSSARY: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("OTIF", ("otif",), "delivered on time and in full."),
    ("Forecast error", ("error",), "misses of either sign over demand (WAPE); N weeks out = lag N."),
    ("Simple baseline", ("simple baseline",), "last week's demand as the forecast; beating it is value added (FVA)."),
    ("Lasting bias", ("lasting bias",), "errors that keep one direction (tracking signal)."),
)


def glossary(text: str | None = None) -> list[tuple[str, str]]:
    """The terms the pack uses, one plain line each (the summary and the email end with them).

    ``text``: the page's words; only the terms it uses are returned (None: every term)."""
    low = text.lower() if text is not None else None
    return [(term, meaning) for term, words, meaning in _GLOSSARY
            if low is None or any(w in low for w in words)]


def reports_line(statuses: Mapping[str, dict], pack: Iterable[ReportRef] = PACK) -> str:
    """The run's reports in one sentence: 'All 6 reports ran ok.' or 'Cash impact: FAILED; Forecast feedback: not
    run — needs forecasts; the other 4 ran ok.' (:func:`status_word` for each that did not)."""
    refs = list(pack)
    off = [f"{r.title}: {status_word(statuses.get(r.notebook))}" for r in refs
           if (statuses.get(r.notebook) or {}).get("status") != "ok"]
    if not off:
        return f"All {len(refs)} reports ran ok."
    n_ok = len(refs) - len(off)
    return "; ".join(off) + (f"; the other {n_ok} ran ok." if n_ok else ".")


def page_text(decs: Iterable[records.Decision], lines: Iterable[tuple[str, str]], items: pd.DataFrame,
              kpis: pd.DataFrame | None, symbol: str) -> str:
    """The words of the summary's decisions, first lines, scoreboard and detail (what :func:`glossary` reads)."""
    parts = [" ".join(decision_sentence(d, symbol)) for d in decs] + [f"{k}: {v}" for k, v in lines]
    parts += [f"{t}: {s}" for t, s in zip(items["topic"], items["sentence"])]
    if kpis is not None and len(kpis):
        parts += list(kpis["label"])
    return " ".join(parts)


# ---------------------------------------------------------------- what changed since last week

# (section, key, label, unit); unit: money | pct | count | days
_TRACKED = (
    ("demand_reconciliation", "landing", "Projected quarter landing", "money"),
    ("demand_reconciliation", "landing_gap", "Landing vs plan", "money"),
    ("demand_reconciliation", "material_variances", "Material variances", "count"),
    ("cash_impact", "lowest_cash", "Baseline cash low point, 13 weeks", "money"),
    ("cash_impact", "baseline_week13_closing", "Week-13 closing cash (baseline)", "money"),
    ("cash_impact", "cash_impact_13w", "Cash impact of disruptions, 13 weeks", "money"),
    ("forecast_feedback", "wape_lag1", "Forecast error one week out", "pct"),
    ("forecast_feedback", "bias_lag4", "Forecast bias 4 weeks out", "pct"),
    ("execution_kpis", "otif", "OTIF by lines, 13-week", "pct"),
    ("execution_kpis", "dso", "DSO, 13-week average", "days"),
    ("execution_kpis", "ccc", "Cash conversion cycle, 13-week average", "days"),
    ("actions", "open", "Open actions", "count"),
    ("actions", "overdue", "Overdue actions", "count"),
    ("actions", "escalated", "Escalated actions", "count"),
    ("actions", "dollars_at_stake_open", "Dollars at stake in open actions", "money"),
    ("actions", "at_stake_total", "Dollars at stake, distinct exposures", "money"),
    ("data_accuracy", "score", "Data accuracy score", "pct"),
)


def _fmt_unit(v: float | None, unit: str, symbol: str, signed: bool = False) -> str:
    if v is None:
        return "–"
    if unit == "money":
        s = fmt_money(v, symbol)
        return ("+" + s) if signed and v > 0 else s
    if unit == "pct":
        return f"{v * 100:+.1f} pts" if signed else fmt_pct(v)
    if unit == "days":
        return f"{v:+.1f} days" if signed else f"{v:.1f} days"
    return f"{v:+,.0f}" if signed else f"{v:,.0f}"


def changes_since(
    current: Mapping[str, dict],
    previous: Mapping[str, dict],
    *,
    previous_week: str,
    materiality,
    symbol: str,
    shown_sections: Iterable[str] | None = None,
) -> pd.DataFrame:
    """This week's tracked figures against the previous week's, with a sentence for each change that matters.

    Args:
        current: this run's figures ``{section: {key: value}}`` (only ``shown_sections`` are used).
        previous: the previous week's figures from the store (``Store.results_for``); empty = none.
        previous_week: its label, for the sentences.
        materiality: a money change matters above ``materiality.abs``; a percentage above half a
            point; a count or day figure when it moves at all (days: by a full day).
        shown_sections: sections whose report is ok this run; others are left out (never compared).
    Returns:
        DataFrame section, key, metric, unit, this_week, last_week, change (this - last, in the
        metric's unit; money in currency, pct as a share), changed (bool), sentence. Rows only
        for figures recorded in both weeks.
    """
    cols = ["section", "key", "metric", "unit", "this_week", "last_week", "change", "changed", "sentence"]
    ok = set(shown_sections) if shown_sections is not None else set(current)
    now_recs, before_recs = records.load(current), records.load(previous)
    rows = []
    for section, key, label, unit in _TRACKED:
        if section not in ok:
            continue
        now = getattr(now_recs.get(section), key, None)
        before = getattr(before_recs.get(section), key, None)
        if section == "execution_kpis":
            now, before = _kpi_value(now)[0], _kpi_value(before)[0]
        now, before = _num(now), _num(before)
        if now is None or before is None:
            continue
        d = now - before
        thresholds = {"money": materiality.abs, "pct": 0.005, "days": 0.999, "count": 0.5}
        changed = abs(d) > thresholds[unit]
        if changed:
            sentence = (f"{label}: {'up' if d > 0 else 'down'} from {_fmt_unit(before, unit, symbol)} to "
                        f"{_fmt_unit(now, unit, symbol)} ({_fmt_unit(d, unit, symbol, signed=True)}) "
                        f"since {previous_week}.")
        else:
            sentence = f"{label}: unchanged at {_fmt_unit(now, unit, symbol)} since {previous_week}."
        rows.append({"section": section, "key": key, "metric": label, "unit": unit, "this_week": now,
                     "last_week": before, "change": d, "changed": changed, "sentence": sentence})
    # bool even with no rows: an empty object column would make ``changes[changes["changed"]]`` pick columns
    return pd.DataFrame(rows, columns=cols).astype({"changed": bool})


def change_sentences(changes: pd.DataFrame | None, previous_week: str) -> list[str]:
    """The sentences worth reading from :func:`changes_since` (only figures that moved), or why there are none."""
    if changes is None or changes.empty:
        return [f"No figures were recorded for {previous_week}: nothing to compare with."]
    moved = changes[changes["changed"]]
    return list(moved["sentence"]) or [f"No tracked figure moved materially since {previous_week}."]


def changes_display(changes: pd.DataFrame | None, symbol: str) -> pd.DataFrame:
    """:func:`changes_since` formatted for a table: metric, last week, this week, change (strings)."""
    cols = ["Metric", "Last week", "This week", "Change"]
    if changes is None or changes.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({
        "Metric": changes["metric"],
        "Last week": [_fmt_unit(v, u, symbol) for v, u in zip(changes["last_week"], changes["unit"])],
        "This week": [_fmt_unit(v, u, symbol) for v, u in zip(changes["this_week"], changes["unit"])],
        "Change": [_fmt_unit(v, u, symbol, signed=True) for v, u in zip(changes["change"], changes["unit"])],
    }, columns=cols)


_THIRTEEN = ("13w", "trailing_13w", "t13w")
_PERIOD_WORDS = {"quarter": "quarter to date", "qtd": "quarter to date", "week": "this week", "value": "", "": ""}


def kpi_display(kpis: pd.DataFrame) -> pd.DataFrame:
    """:func:`kpi_table` as the scoreboard's compact table (strings): KPI (days measures with their basis, e.g.
    'DSO, on invoiced sales'), this week, 13 weeks, target, status word. A value of another period than 13 weeks
    says its period; the periods' words are :func:`scoreboard_note`'s."""
    def kpi_cell(label, basis, unit):
        if unit != "days":
            return label
        return f"{label} (days), {basis}" if basis == REVENUE_BASIS["invoiced"] or basis == REVENUE_BASIS["shipped"] \
            else f"{label} (days)"  # DIO, DPO: on COGS, said once in the note

    def fmt(v, unit):
        return "–" if v is None else (f"{v:.0f}" if unit == "days" else fmt_kpi(v, unit, day_digits=0))

    def thirteen(v, unit, period):
        shown = fmt(v, unit)
        return shown if period in _THIRTEEN else f"{shown} ({_PERIOD_WORDS.get(period, period)})".replace(" ()", "")

    return pd.DataFrame({
        "KPI": [kpi_cell(*x) for x in zip(kpis["label"], kpis["basis"], kpis["unit"])],
        "This week": [fmt(_num(v), u) for v, u in zip(kpis["week"], kpis["unit"])],
        "13 weeks": [thirteen(v, u, p) for v, u, p in zip(kpis["value"], kpis["unit"], kpis["period"])],
        "Target": [fmt(_num(v), u) for v, u in zip(kpis["target"], kpis["unit"])],
        "Status": [LIGHTS.get(x, LIGHTS["grey"])[0] for x in kpis["light"]],
    }, columns=["KPI", "This week", "13 weeks", "Target", "Status"])


def scoreboard_note(week: str, balance_basis: str = "average") -> str:
    """The scoreboard's periods in words (:func:`soe_helpers.analysis.measures.period_label`): 'This week = week
    2026-W47 average; 13 weeks = 13-week average to 2026-W47.' (``balance_basis``: ``params.kpis.balance_basis``)."""
    return (f"This week = {period_label('week', week, balance_basis)}; "
            f"13 weeks = {period_label('13w', week, balance_basis)}; DIO, DPO {COGS_BASIS}.")


# ---------------------------------------------------------------- tables for the report


def status_word(st: Mapping[str, Any] | None) -> str:
    """A report's status in words for the summary and the email: ``ok``, ``FAILED``, ``not run`` (not part of the
    run) or ``not run — needs cash, bills`` (the company lacks a table it needs)."""
    if st is None:
        return "not run"
    if st.get("status") == run_folder.NOT_RUN:
        return f"not run — {st.get('reason') or 'needs tables this company does not have'}"
    return {"ok": "ok", "failed": "FAILED"}.get(st.get("status"), str(st.get("status")))


def status_table(statuses: Mapping[str, dict], pack: Iterable[ReportRef] = PACK) -> pd.DataFrame:
    """One row per report of the pack: report title, state in words, seconds it took, HTML file (if published)."""
    rows = []
    for ref in pack:
        st = statuses.get(ref.notebook)
        state = status_word(st)
        secs = _num(st.get("execute_seconds")) if st else None
        rows.append({"report": ref.title, "status": state, "seconds": secs,
                     "file": f"{ref.notebook}.html" if st and st.get("status") == "ok" else ""})
    return pd.DataFrame(rows, columns=["report", "status", "seconds", "file"])


def assumptions(params, lights: Iterable[str] | None = None) -> list[str]:
    """The rules behind the summary's traffic lights, as short sentences (the report prints them).

    ``lights``: the lights the page shows (``red``, ``amber``, ``grey``...); as the glossary lists only the terms a
    page uses, only their rules are returned (None: every rule)."""
    m, r, sym = params.materiality, params.executive_summary, params.company.currency_symbol
    rules = [  # each report prints its own rule in full (the KPI report's lights, the reconciliation's materiality)
        ("red", f"Act = needs a decision (material: {fmt_money(m.abs, sym)} and {fmt_pct(m.pct)} or more; cash below "
                "the minimum)."),
        ("amber", f"Watch = keep an eye on it (cash within {fmt_pct(r.cash_watch_margin, digits=0)} of the minimum)."),
        ("grey", "Missing = not run; never an earlier week's figures."),
    ]
    shown = None if lights is None else set(lights)
    return [text for light, text in rules if shown is None or light in shown]


# ---------------------------------------------------------------- HTML


def _chip(light: str) -> str:
    word, color = LIGHTS.get(light, LIGHTS["grey"])
    return (f'<span class="soe-light soe-light-{html.escape(light)}" style="color:{color}">'
            f'&#9679;&nbsp;{html.escape(word)}</span>')


def last_of_report(items: pd.DataFrame) -> list[bool]:
    """True for the last item of each run of consecutive items from the same report (where its link goes)."""
    reps = list(items["report"])
    return [i == len(reps) - 1 or reps[i + 1] != reps[i] for i in range(len(reps))]


def items_html(items: pd.DataFrame, links: Mapping[str, str] | None = None) -> str:
    """The summary items as an escaped HTML table: light (colour and word), then the topic, linked to the report
    that proves it, and the sentence.

    Args:
        items: :func:`build_items` output.
        links: report -> href; default the item's own ``link`` (the sibling HTML file). A report
            missing from ``links`` (or with an empty link) gets no link.
    """
    rows = []
    for r in items.itertuples(index=False):
        href = (links.get(r.report, "") if links is not None else r.link) or ""
        topic = (f'<a href="{html.escape(href, quote=True)}">{html.escape(r.topic)}</a>' if href
                 else html.escape(r.topic))
        rows.append(f'<tr><td class="soe-light-cell">{_chip(r.light)}</td><td><b>{topic}</b>: '
                    f'{html.escape(r.sentence)}</td></tr>')
    return ('<table class="soe-table soe-summary"><thead><tr><th>Status</th><th>Detail</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def kpi_html(kpis: pd.DataFrame) -> str:
    """:func:`kpi_display` as an escaped HTML table with the traffic light in colour and words."""
    d = kpi_display(kpis)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td class=\"num\">{html.escape(w)}</td><td class=\"num\">{html.escape(a)}</td>"
        f"<td class=\"num\">{html.escape(t)}</td><td>{_chip(light)}</td></tr>"
        for k, w, a, t, light in zip(d["KPI"], d["This week"], d["13 weeks"], d["Target"], kpis["light"]))
    return ('<table class="soe-table soe-scoreboard"><thead><tr><th>KPI</th><th class="num">This week</th>'
            '<th class="num">13 weeks</th><th class="num">Target</th><th>Status</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


# ---------------------------------------------------------------- charts


def landing_chart(section: records.ReconciliationRecord | Mapping[str, Any] | None,
                  symbol: str, fmt: ChartFormat = REPORT) -> Figure | None:
    """Quarter plan vs projected landing (shipped to date + open orders and demand not yet booked that ship in the
    quarter), one bar each; None without figures.

    ``section``: the demand reconciliation's record (or its section of results). ``fmt``: the report's
    sizes by default; :data:`soe_helpers.report.chart_text.EMAIL` for the email (readable on a phone)."""
    r = records.parse("demand_reconciliation", section)
    if r is None:
        return None
    plan_q, actual, landing = _num(r.plan_quarter), _num(r.actual_qtd), _num(r.landing)
    if plan_q is None or actual is None or landing is None:
        return None
    email = fmt.text_pt is not None
    fig = Figure(figsize=(fmt.width_in, 3.1 if email else 2.2), dpi=110, layout="constrained" if email else None)
    ax = fig.subplots()
    ax.barh([1], [plan_q], color=COLORS["plan"], height=0.55, label="Quarter plan")
    ax.barh([0], [actual], color=COLORS["actual"], height=0.55, label="Shipped to date")
    ax.barh([0], [landing - actual], left=[actual], color=COLORS["forecast"], height=0.55, label="Open orders + not yet booked")
    ax.set_yticks([0, 1], ["Projected", "Plan"])
    for y, v in ((1, plan_q), (0, landing)):
        ax.annotate(fmt_money(v, symbol), (v, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=fmt.text(8))
    ax.set_xlim(0, max(plan_q, landing) * (1.3 if email else 1.18))
    money_axis(ax, symbol, axis="x")
    ax.grid(axis="y", visible=False)
    title = f"{r.quarter or 'Quarter'} revenue: projected landing vs plan"
    if email:  # fonts sized for a phone: two legend columns, fewer money ticks
        ax.tick_params(labelsize=fmt.text_pt)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_title(wrap_title(title, fmt), fontsize=fmt.title_pt, pad=6)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", fontsize=fmt.text_pt,
                   ncol=legend_columns(labels, fmt), handlelength=1.2, columnspacing=1.0)
        return fig
    ax.set_title(title, pad=16)
    ax.legend(loc="lower left", fontsize=7, ncol=3, bbox_to_anchor=(0, 1.0), borderaxespad=0.1, handlelength=1.2)
    fig.tight_layout()
    return fig


def cash_chart(forecast: pd.DataFrame | None, min_cash: float | None, symbol: str,
               scenario_col: str = "scenario", week_col: str = "week",
               value_col: str = "closing_cash", fmt: ChartFormat = REPORT) -> Figure | None:
    """13-week closing cash: the baseline (forecast colour), each scenario, the minimum-cash line and the low point.

    ``forecast`` is the cash report's ``cash_forecast_13w.csv`` (one row per scenario and week);
    the baseline is the scenario named ``baseline`` (else the first one). None without usable rows.
    ``fmt``: the report's sizes by default; :data:`soe_helpers.report.chart_text.EMAIL` for the email.
    """
    need = {scenario_col, week_col, value_col}
    if forecast is None or forecast.empty or not need <= set(forecast.columns):
        return None
    df = forecast.assign(_v=pd.to_numeric(forecast[value_col], errors="coerce")).dropna(subset=["_v"])
    if df.empty:
        return None
    names = list(dict.fromkeys(df[scenario_col].astype(str)))
    base = next((n for n in names if n.strip().lower() in ("baseline", "base")), names[0])
    weeks = list(dict.fromkeys(df[week_col].astype(str)))
    pos = {w: i for i, w in enumerate(weeks)}
    email = fmt.text_pt is not None
    fig = Figure(figsize=(fmt.width_in, 4.0 if email else 2.7), dpi=110, layout="constrained" if email else None)
    ax = fig.subplots()
    others = [n for n in names if n != base]
    pal = COLORS["scenario"]
    for i, n in enumerate(others[: 2 * len(pal)]):  # past the palette, the colours repeat dashed
        d = df[df[scenario_col].astype(str) == n]
        ax.plot([pos[w] for w in d[week_col].astype(str)], d["_v"], lw=1.4, color=pal[i % len(pal)],
                ls="-" if i < len(pal) else "--", label=n)
    d = df[df[scenario_col].astype(str) == base]
    xs, ys = [pos[w] for w in d[week_col].astype(str)], d["_v"].to_numpy()
    ax.plot(xs, ys, lw=2.6, color=COLORS["forecast"], marker="o", ms=3, label=f"{base} (forecast)")
    if len(ys):
        i = int(ys.argmin())
        ax.annotate(f"low {fmt_money(ys[i], symbol)}", (xs[i], ys[i]), xytext=(0, -9 if email else 7),
                    textcoords="offset points", va="top" if email else "baseline",
                    ha="center", fontsize=fmt.text(8), color=COLORS["forecast"], fontweight="bold")
    if min_cash is not None:
        ax.axhline(min_cash, color=COLORS["bad"], lw=1, ls="--", label=f"minimum {fmt_money(min_cash, symbol)}")
    if email:  # fonts sized for a phone: every other week labelled, the legend in two columns below
        ax.set_xticks(range(len(weeks)), [_short_week(w) if i % 2 == 0 else "" for i, w in enumerate(weeks)])
        ax.tick_params(labelsize=fmt.text_pt)
        money_axis(ax, symbol)
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.margins(y=0.15)
        ax.set_title(wrap_title("Closing cash, next 13 weeks", fmt), fontsize=fmt.title_pt)
        handles, labels = ax.get_legend_handles_labels()
        cols = legend_columns(labels, fmt)
        fig.set_figheight(3.2 + 0.23 * -(-len(labels) // cols))  # the plot, then one line per legend row
        fig.legend(handles, labels, loc="outside lower center", fontsize=fmt.text_pt, ncol=cols,
                   handlelength=1.5, columnspacing=1.0)
        return fig
    ax.set_xticks(range(len(weeks)), [_short_week(w) for w in weeks], fontsize=7)
    money_axis(ax, symbol)
    ax.set_title("Closing cash, next 13 weeks")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, handlelength=1.5)
    fig.tight_layout()
    return fig


def figure_png(fig: Figure, fmt: ChartFormat = REPORT) -> bytes:
    """PNG bytes of a chart in format ``fmt`` (:func:`soe_helpers.report.chart_text.chart_png`)."""
    return chart_png(fig, fmt)
