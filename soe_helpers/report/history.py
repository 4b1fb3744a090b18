"""The history of every week: ``outputs/index.html``, one row per week, newest first.

Each row: the week, the status of its latest run (ok, failed, running or killed), the headline, the
quarter landing against plan, the cash low point of any forecast line, and a link to each report of the
week's latest successful full run. Rewritten by every run; read from the run folders, so it also lists
weeks run before it existed. Every value is escaped; links are relative, so the folder can be moved or
served as it is.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from soe_helpers.core import run_folder
from soe_helpers.core.calendar import WEEK_RE, week_ordinal
from soe_helpers.core.formats import fmt_money

__all__ = ["WeekRow", "week_rows", "index_html", "REPORT_TITLES"]

REPORT_TITLES = {
    "executive_summary": "Summary", "demand_reconciliation": "Demand", "cash_impact": "Cash",
    "execution_kpis": "KPIs", "forecast_feedback": "Forecast", "data_accuracy": "Data accuracy",
    "action_tracker": "Actions",
}


@dataclass
class WeekRow:
    week: str
    status: str                    # the latest run's state: ok | partial | failed | running | aborted | no run
    run_id: str | None = None      # the run the figures and links come from (latest successful full run)
    latest_run_id: str | None = None
    headline: str = ""
    landing: float | None = None
    plan_quarter: float | None = None
    cash_low: float | None = None
    cash_low_week: str | None = None
    reports: dict[str, str] = field(default_factory=dict)   # report -> relative link


def _read(p: Path) -> dict:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def week_rows(outputs: Path) -> list[WeekRow]:
    """One :class:`WeekRow` per week folder under ``outputs``, newest week first (states from the run folder)."""
    rows = []
    weeks = [d for d in outputs.iterdir() if d.is_dir() and WEEK_RE.match(d.name)] if outputs.exists() else []
    for wd in sorted(weeks, key=lambda d: week_ordinal(d.name), reverse=True):
        row = WeekRow(wd.name, "no run")
        latest = run_folder.latest_run(wd)
        if latest:
            row.latest_run_id, row.status = latest.run_id, latest.state
        good = run_folder.latest_full_run(wd)
        if good:
            res = _read(run_folder.results_path(good.path))
            row.run_id = good.run_id
            row.headline = str((res.get("executive_summary") or {}).get("headline") or "")
            dr = res.get("demand_reconciliation") or {}
            row.landing, row.plan_quarter = dr.get("landing"), dr.get("plan_quarter")
            ci = res.get("cash_impact") or {}
            row.cash_low = ci.get("lowest_cash_any_line", ci.get("lowest_cash"))
            row.cash_low_week = ci.get("lowest_cash_any_line_week", ci.get("lowest_week"))
            row.reports = {r: f"{wd.name}/{good.run_id}/{r}.html" for r in REPORT_TITLES
                           if run_folder.export_path(good.path, f"{r}.html").exists()}
        rows.append(row)
    return rows


_CSS = ("body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;"
        "padding:16px;color:#1a1a2e}h1{font-size:22px}table{border-collapse:collapse;width:100%}"
        ".wrap{overflow-x:auto}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #ddd;font-size:14px;"
        "vertical-align:top}td.num{text-align:right;white-space:nowrap}.ok{color:#1b7f3b}.failed{color:#b00020}"
        ".running{color:#a15c00}a{color:#1f4e9c;margin-right:8px;white-space:nowrap}")


def index_html(rows: list[WeekRow], company: str, symbol: str) -> str:
    """The history page: every week, its status, headline, landing, cash low point and reports."""
    e = html.escape
    body = []
    for r in rows:
        note = ""
        if r.latest_run_id and r.latest_run_id != r.run_id:
            note = f"<br><small>latest run {e(r.latest_run_id)}: {e(r.status)}</small>"
        landing = (f"{e(fmt_money(r.landing, symbol))} vs {e(fmt_money(r.plan_quarter, symbol))}"
                   if r.landing is not None and r.plan_quarter is not None else "–")
        cash = (f"{e(fmt_money(r.cash_low, symbol))} in {e(r.cash_low_week or '')}" if r.cash_low is not None else "–")
        links = " ".join(f'<a href="{e(link)}">{e(REPORT_TITLES[k])}</a>' for k, link in r.reports.items())
        status = "ok" if r.run_id and r.latest_run_id == r.run_id else r.status
        body.append(f'<tr><td>{e(r.week)}</td><td class="{e(status)}">{e(status)}{note}</td><td>{e(r.headline) or "–"}'
                    f'</td><td class="num">{landing}</td><td class="num">{cash}</td><td>{links or "–"}</td></tr>')
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\"><title>S&amp;OE history</title>"
            f"<style>{_CSS}</style></head><body><h1>{e(company)}: S&amp;OE, every week</h1>"
            "<p>Newest first. Figures and links are the week's latest successful run; a later run that failed or "
            "is still running is noted beside its status. Landing: the quarter's projected revenue vs plan; "
            "cash low: the lowest week-end cash of any forecast line.</p><div class=\"wrap\"><table><thead><tr>"
            "<th>Week</th><th>Status</th><th>Headline</th><th>Landing vs plan</th><th>Cash low</th><th>Reports</th>"
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div></body></html>")


def write_index(outputs: Path, company: str, symbol: str) -> Path:
    """Rewrite ``outputs/index.html`` from the run folders (atomically: never half-written)."""
    return run_folder.write_atomic(outputs / "index.html", index_html(week_rows(outputs), company, symbol))


__all__ += ["write_index"]
