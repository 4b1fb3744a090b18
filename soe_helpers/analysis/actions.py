"""The action tracker: every material issue gets one owner, one due date and a history that never forgets.

Where actions come from (files the stage-1 reports export into the run folder):

- ``variance_register.csv`` (demand reconciliation): the ranked register's material variances (a row with a
  ``rank``: a folded row's dollars are inside a ranked one) of the levels and periods in
  ``actions.variance_levels`` / ``variance_periods`` above ``min_dollars_variance``; the register shows each
  row's owner and status by the same rules (:func:`register_owner_status`);
- ``cash_events.csv`` (cash impact): detected events above ``min_dollars_event``;
- ``data_accuracy_checks.csv`` (data accuracy): failing, material checks;
- ``kpi_exceptions.csv`` (execution KPIs): KPIs off target over 13 weeks worth more than
  ``min_dollars_kpi``.

A missing file is reported as missing and proposes nothing: it is never read as "no issues".

**One issue, one action.** Every proposal carries a stable *issue key*: ``variance:<measure>:
<level>:<key>`` (the week's and the quarter-to-date variance of the same product line vs the
same reference are one issue), ``event:<event_id>``, ``data:<check_id>``, ``kpi:<kpi>[:<line>]``.
When a key is seen again, the existing action is updated (dollars at stake, latest sentence,
last seen week) instead of a second one being opened, and it counts as *resurfaced*: weeks
resurfaced = distinct weeks the issue was seen - 1. Each week's sightings are kept in
``soe_action_sightings`` and replaced when the week is re-run, so re-running a week leaves the
tracker exactly as the first run did.

**Closed stays closed.** A run never changes the status, owner, due date or notes an analyst
set. A done or dropped action is not reopened by a re-run, nor by its issue coming back in a
later week, unless ``actions.reopen_closed`` is true: then an issue seen in a week after the
week it was closed reopens it (status back to open, with a history line).

**Escalation** (``actions.escalation``): each rule names a level and one or more conditions
(``dollars_over``, ``weeks_overdue_over``, ``weeks_resurfaced_over``), all of which must hold;
the highest matching level among ``actions.levels`` wins, otherwise the lowest level. Rules are
re-applied to every open action at each run, as of the week's meeting date (a re-run of an
earlier week than the tracker has seen leaves escalations as they are). The dollars are the action's own;
an opportunity (orders or shipments ahead of plan or forecast) is good news and never escalated.

**The meeting.** The team meets on the week's figures the first ``actions.meeting_weekday`` (Monday) after
the week ends. A new action's due date is set by its severity (high / medium / low by its own dollars;
see :func:`severity`) in working days from that date; overdue is counted at it. Each action carries a
next step and the decision asked of the meeting, by rule from its kind (:data:`PLAYBOOK`), naming its
subject, owner and own dollars only. Notes are kept in the store and carried week to week
(``soe actions update ID --note``): the report shows the latest.

**History.** Every change, by a run, by ``soe actions update`` or by an imported spreadsheet, is
a row in ``soe_action_history``: when, which week, source (run | cli | import), who, the field, old
and new value, and the action's version after it. Analysts' edits are checked against the
version they exported so two people never silently overwrite each other.

Money: ``dollars_at_stake`` is positive, in the company currency (|variance|, the event's or the
check's dollars, the KPI's dollar translation).
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd

from soe_helpers.core import run_folder
from soe_helpers.core.calendar import add_working_days, meeting_date, week_start
from soe_helpers.core.exports import read_table
from soe_helpers.core.formats import fmt_money, name_with_id, with_names
from soe_helpers.analysis.exposures import is_opportunity
from soe_helpers.analysis.materiality import material_mask

__all__ = [
    "STATUSES", "OPEN_STATUSES", "CLOSED_STATUSES", "INPUT_FILES", "PROPOSAL_COLUMNS", "EXPORT_COLUMNS",
    "EDITABLE", "ActionError", "format_id", "parse_id", "parse_status", "parse_date", "read_inputs",
    "proposals_from_variances", "variance_issue_key", "register_owner_status", "proposals_from_events", "proposals_from_checks", "proposals_from_kpis", "propose",
    "assign_owner", "escalation_level", "weeks_overdue", "sources_read", "tracker_view", "summary", "by_owner",
    "list_table",
]

STATUSES = ("open", "in progress", "done", "dropped")
OPEN_STATUSES = ("open", "in progress")
CLOSED_STATUSES = ("done", "dropped")
EDITABLE = ("status", "owner", "due_date", "notes")

#: file -> (report that writes it, columns the tracker needs)
INPUT_FILES = {
    "variance_register.csv": ("demand_reconciliation", ["period", "level", "key", "name", "basis", "measure",
                                                        "variance", "sentence"]),
    "cash_events.csv": ("cash_impact", ["event_id", "type", "sentence", "dollars_at_stake"]),
    "data_accuracy_checks.csv": ("data_accuracy", ["check_id", "name", "status", "material", "sentence"]),
    "kpi_exceptions.csv": ("execution_kpis", ["exception_id", "kpi", "label", "dollars_at_stake", "sentence"]),
}
_SOURCE_TYPE = {"variance_register.csv": "variance", "cash_events.csv": "event",
                "data_accuracy_checks.csv": "data_accuracy", "kpi_exceptions.csv": "kpi"}
PROPOSAL_COLUMNS = ["issue_key", "source_type", "source", "title", "sentence", "dollars_at_stake", "type",
                    "product_line", "region", "sku", "customer_id", "supplier_id", "system"]
_ATTRS = ["type", "product_line", "region", "sku", "customer_id", "supplier_id", "system"]
EXPORT_COLUMNS = ["id", "title", "owner", "due_date", "status", "add_note", "next_step", "decision_asked", "severity",
                  "notes", "dollars_at_stake",
                  "escalation_level", "weeks_resurfaced", "opened_week", "last_seen_week", "source", "version"]


class ActionError(ValueError):
    """A tracker command or import cannot be applied; ``problems`` lists every reason."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems) if len(self.problems) == 1 else
                         f"{len(self.problems)} problems; nothing was changed:\n" +
                         "\n".join(f"  - {p}" for p in self.problems))


def format_id(action_id: int) -> str:
    """``7 -> 'A-0007'``."""
    return f"A-{int(action_id):04d}"


def parse_id(text) -> int:
    """``'A-0007'``, ``'a-7'`` or ``'7'`` -> 7; ActionError otherwise."""
    t = str(text).strip().upper()
    t = t[2:] if t.startswith("A-") else t
    if not t.isdigit() or int(t) <= 0:
        raise ActionError(f"{text!r} is not an action id; expected one like A-0007 (see `soe actions list`)")
    return int(t)


def _clean(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v) if not isinstance(v, str) else (v.strip() or None)


# ---------------------------------------------------------------- inputs and proposals


def read_inputs(run_dir: str | Path) -> tuple[dict[str, pd.DataFrame | None], list[str]]:
    """Read the stage-1 exports the tracker works from. Returns (frames by file name, notes).

    A file that is missing, unreadable or lacks a needed column maps to None, with a note naming the
    report that should have written it: the tracker proposes nothing from it and says so.
    """
    frames, notes = {}, []
    by_design = run_folder.read_not_run(Path(run_dir))  # reports the company lacks the tables for
    for name, (report, cols) in INPUT_FILES.items():
        path = Path(run_dir) / name
        if not path.exists() and report in by_design:
            frames[name] = None
            notes.append(f"{name} is not there: the {report} report was not run ({by_design[report]['reason']}), so "
                         "no actions were proposed from it.")
            continue
        if not path.exists():
            frames[name] = None
            notes.append(f"{name} is missing: the {report} report did not run in this run or failed, so no "
                         f"actions were proposed from it (its issues are not known, not absent).")
            continue
        try:
            df = read_table(path, keep_default_na=True)  # as exported, before CSV-injection quoting
        except Exception as e:  # noqa: BLE001 - an unreadable export must reach the reader as one line
            frames[name] = None
            notes.append(f"{name} could not be read ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                         "no actions were proposed from it.")
            continue
        missing = [c for c in cols if c not in df.columns]
        if missing:
            frames[name] = None
            notes.append(f"{name} lacks column(s) {', '.join(missing)}; no actions were proposed from it.")
            continue
        frames[name] = df
    return frames, notes


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=PROPOSAL_COLUMNS)
    return df.astype({c: object for c in PROPOSAL_COLUMNS if c != "dollars_at_stake"}).assign(
        dollars_at_stake=df["dollars_at_stake"].astype(float))


def _measure_kind(basis: str, measure: str) -> str:
    b = f"{basis} {measure}".lower()
    if "forecast" in b:
        return "orders_vs_forecast"
    if "run-rate" in b or "run rate" in b:
        return "shipments_vs_run_rate"
    return "shipments_vs_plan"


def _ranked(register: pd.DataFrame) -> pd.DataFrame:
    """The register rows the tracker acts on: the ranked list (a row with a ``rank``) when the register has one
    (:func:`soe_helpers.analysis.reconcile.fold_register`: a folded row's dollars are inside a ranked row), else all."""
    if "rank" not in register.columns:
        return register
    return register[pd.to_numeric(register["rank"], errors="coerce").notna()]


def variance_issue_key(row) -> str:
    """The tracker's issue key of a register row: ``variance:<kind>:<level>:<key>`` (kind from its basis and
    measure: shipments_vs_plan, shipments_vs_run_rate or orders_vs_forecast)."""
    return f"variance:{_measure_kind(str(row['basis']), str(row['measure']))}:{row['level']}:{row['key']}"


def register_owner_status(register: pd.DataFrame, settings, acts: pd.DataFrame | None = None,
                          week: str | None = None) -> pd.DataFrame:
    """Owner and status of each register row, by the tracker's own rules (one place: this module).

    - owner: the owner of the action the row's issue has in the tracker (``acts``, as
      :func:`soe_helpers.store.actions.load_actions` gives them), else the one :func:`assign_owner` would give it;
    - status: ``no action`` when the row opens none (folded into another row, a level or period the tracker does
      not follow, or under ``min_dollars_variance``); else the status of its action in the tracker: ``open`` /
      ``in progress``, ``closed`` (done or dropped), or ``new`` when the tracker has none yet (it opens one in
      this run) or opened it in ``week``.

    Returns a frame on ``register``'s index with columns issue_key, owner, status.
    """
    acts = acts if acts is not None and len(acts) else None
    by_key = {} if acts is None else {str(k): a for k, a in zip(acts["issue_key"], acts.to_dict("records"))}
    ranked = set(_ranked(register).index)
    attrs = []
    for r in register.to_dict("records"):
        lvl, key = str(r["level"]), str(r["key"])
        attrs.append({**{c: None for c in PROPOSAL_COLUMNS}, "type": "variance", "dollars_at_stake": 0.0,
                      "product_line": _clean(r.get("product_line")) or (key if lvl == "product_line" else None),
                      "region": _clean(r.get("region")) or (key if lvl == "region" else None),
                      "sku": key if lvl == "sku" else None, "customer_id": key if lvl == "customer" else None})
    by_rule = assign_owner(_frame(attrs), settings)["owner"].tolist() if attrs else []
    rows = []
    for (i, r), owner in zip(register.iterrows(), by_rule):
        key = variance_issue_key(r)
        acts_on = (i in ranked and r["period"] in settings.variance_periods and r["level"] in settings.variance_levels
                   and abs(float(r["variance"])) >= settings.min_dollars_variance)
        a = by_key.get(key)
        if not acts_on:
            status = "no action"
        elif a is None:
            status = "new"
        else:
            owner = _clean(a.get("owner")) or owner
            status = "closed" if a.get("status") in CLOSED_STATUSES else (
                "new" if week is not None and a.get("opened_week") == week else str(a.get("status")))
        rows.append({"issue_key": key, "owner": owner, "status": status})
    return pd.DataFrame(rows, index=register.index, columns=["issue_key", "owner", "status"])


def proposals_from_variances(register: pd.DataFrame, *, periods=("week", "qtd"),
                             levels=("product_line", "sku", "region"), min_dollars: float = 50000.0,
                             materiality=None) -> pd.DataFrame:
    """One proposal per underlying variance issue in the register (see the module docstring).

    A row must be material (the one rule of :mod:`soe_helpers.analysis.materiality`, checked again here
    when ``materiality`` is given, so a register written under other thresholds cannot widen the list)
    and at least ``min_dollars`` (the action threshold: it narrows materiality, never widens it).

    The week's and the quarter-to-date rows of the same level, key and reference are one issue; its
    dollars at stake are the larger |variance| and its sentence the quarter-to-date one when present.
    """
    r = _ranked(register)
    r = r[r["period"].isin(periods) & r["level"].isin(levels)]
    r = r[r["variance"].abs() >= min_dollars]
    if materiality is not None:
        r = r[material_mask(r["variance"], r["reference"], materiality)]
    rows = []
    for _, g in r.assign(_kind=[_measure_kind(str(b), str(m)) for b, m in zip(r["basis"], r["measure"])],
                         _abs=r["variance"].abs()).groupby(["_kind", "level", "key"], sort=False):
        best = g.sort_values(["period", "_abs"], ascending=[False, False], key=lambda s: s.map(
            {"qtd": 1, "week": 0}) if s.name == "period" else s).iloc[0]
        kind, level, key = best["_kind"], best["level"], str(best["key"])
        direction = "behind" if best["variance"] < 0 else "ahead of"
        ref = {"orders_vs_forecast": "forecast", "shipments_vs_run_rate": "run-rate"}.get(kind, "plan")
        what = "orders" if kind == "orders_vs_forecast" else "shipments"
        rows.append({
            "issue_key": variance_issue_key(best), "source_type": "variance",
            "source": f"variance register: {best['measure']} vs {best['basis']} ({level.replace('_', ' ')})",
            "title": f"{best['name']}: {what} {direction} {ref}", "sentence": best["sentence"],
            "dollars_at_stake": float(g["_abs"].max()), "type": "variance",
            "product_line": _clean(best.get("product_line")) or (key if level == "product_line" else None),
            "region": _clean(best.get("region")) or (key if level == "region" else None),
            "sku": key if level == "sku" else None, "customer_id": key if level == "customer" else None,
            "supplier_id": None, "system": None,
        })
    return _frame(rows).sort_values("dollars_at_stake", ascending=False, kind="stable").reset_index(drop=True)


def proposals_from_events(events: pd.DataFrame, *, min_dollars: float = 10000.0, materiality=None) -> pd.DataFrame:
    """One proposal per detected event (stable ``event_id``) at or above ``min_dollars`` at stake.

    With ``materiality``, the event's dollars at stake must also be material (no reference: the absolute
    threshold), so ``min_dollars`` set below ``materiality.abs`` cannot open actions on immaterial events.
    """
    at_stake = pd.to_numeric(events["dollars_at_stake"], errors="coerce").fillna(0.0)
    keep = at_stake.abs() >= min_dollars
    if materiality is not None:
        keep &= material_mask(at_stake, None, materiality)
    e = events[keep]
    e = e.drop_duplicates("event_id", keep="first")
    rows = []
    for r in e.to_dict("records"):
        subject = next((str(r[c]) for c in ("order_id", "supplier_id", "sku", "customer_id", "product_line", "region")
                        if _clean(r.get(c))), str(r["event_id"]))
        typ = str(r.get("type") or "event")
        rows.append({
            "issue_key": f"event:{r['event_id']}", "source_type": "event", "source": f"cash impact event {r['event_id']}",
            "title": f"{typ.replace('_', ' ').capitalize()}: {subject}", "sentence": r.get("sentence"),
            "dollars_at_stake": abs(float(r["dollars_at_stake"])), "type": typ,
            **{c: _clean(r.get(c)) for c in ("product_line", "region", "sku", "customer_id", "supplier_id")},
            "system": None,
        })
    return _frame(rows)


def proposals_from_checks(checks: pd.DataFrame) -> pd.DataFrame:
    """One proposal per failing, material data-accuracy check (stable ``check_id``)."""
    mat = checks["material"].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    c = checks[(checks["status"].astype(str) == "fail") & mat]
    rows = []
    for r in c.to_dict("records"):
        dollars = pd.to_numeric(pd.Series([r.get("dollars_at_stake")]), errors="coerce").fillna(0.0).iloc[0]
        rows.append({
            "issue_key": f"data:{r['check_id']}", "source_type": "data_accuracy",
            "source": f"data-accuracy check {r['check_id']}" + (f" ({r['source']})" if _clean(r.get("source")) else ""),
            "title": f"Data check failing: {r['name']}", "sentence": r.get("sentence"),
            "dollars_at_stake": abs(float(dollars)), "type": "data_accuracy", "product_line": None, "region": None,
            "sku": None, "customer_id": None, "supplier_id": None, "system": _clean(r.get("system")),
        })
    return _frame(rows)


def proposals_from_kpis(exceptions: pd.DataFrame, *, min_dollars: float = 25000.0) -> pd.DataFrame:
    """One proposal per KPI off target (stable ``exception_id``) worth at least ``min_dollars``."""
    x = exceptions[pd.to_numeric(exceptions["dollars_at_stake"], errors="coerce").fillna(0.0) >= min_dollars]
    rows = []
    for r in x.to_dict("records"):
        line = _clean(r.get("product_line"))
        rows.append({
            "issue_key": str(r["exception_id"]), "source_type": "kpi", "source": f"execution KPI {r['kpi']}",
            "title": f"{r['label']} off target" + (f": {line}" if line else ""), "sentence": r.get("sentence"),
            "dollars_at_stake": float(r["dollars_at_stake"]), "type": str(r["kpi"]), "product_line": line,
            "region": None, "sku": None, "customer_id": None, "supplier_id": None, "system": None,
        })
    return _frame(rows)


def propose(inputs: dict[str, pd.DataFrame | None], settings, materiality=None) -> pd.DataFrame:
    """All proposals from the inputs :func:`read_inputs` found, with owners; one row per issue key.

    ``materiality`` (``params.materiality``): variances and events must be material under the one rule
    as well as pass the tracker's own (larger) action thresholds.
    """
    parts = []
    if inputs.get("variance_register.csv") is not None:
        parts.append(proposals_from_variances(inputs["variance_register.csv"], periods=settings.variance_periods,
                                              levels=settings.variance_levels,
                                              min_dollars=settings.min_dollars_variance, materiality=materiality))
    if inputs.get("cash_events.csv") is not None:
        parts.append(proposals_from_events(inputs["cash_events.csv"], min_dollars=settings.min_dollars_event,
                                           materiality=materiality))
    if inputs.get("data_accuracy_checks.csv") is not None:
        parts.append(proposals_from_checks(inputs["data_accuracy_checks.csv"]))
    if inputs.get("kpi_exceptions.csv") is not None:
        parts.append(proposals_from_kpis(inputs["kpi_exceptions.csv"], min_dollars=settings.min_dollars_kpi))
    parts = [p for p in parts if len(p)]
    p = pd.concat(parts, ignore_index=True) if parts else _frame([])
    p = p.drop_duplicates("issue_key", keep="first").reset_index(drop=True)
    return assign_owner(p, settings)


def assign_owner(proposals: pd.DataFrame, settings) -> pd.DataFrame:
    """A copy with ``owner``: the first field in ``settings.owner_order`` whose value has an owner in
    ``settings.owners``; otherwise ``settings.default_owner``. Also ``owner_rule`` saying which matched."""
    owners, rules = [], []
    for r in proposals.to_dict("records"):
        who, why = settings.default_owner, "default owner"
        for f in settings.owner_order:
            v = _clean(r.get(f))
            if v is not None and v in settings.owners.get(f, {}):
                who, why = settings.owners[f][v], f"{f.replace('_', ' ')} {v}"
                break
        owners.append(who)
        rules.append(why)
    return proposals.assign(owner=owners, owner_rule=rules)


def escalation_level(dollars: float, weeks_overdue: float, weeks_resurfaced: int, rules, levels, *,
                     opportunity: bool = False) -> str:
    """The highest level whose rule matches (all of a rule's conditions hold), else the lowest level.

    ``dollars`` are the action's own; an ``opportunity`` (good news) is never escalated: the lowest level."""
    if opportunity:
        return levels[0]
    best = 0
    for r in rules:
        conds = []
        if r.dollars_over is not None:
            conds.append((dollars or 0.0) > r.dollars_over)
        if r.weeks_overdue_over is not None:
            conds.append((weeks_overdue or 0.0) > r.weeks_overdue_over)
        if r.weeks_resurfaced_over is not None:
            conds.append((weeks_resurfaced or 0) > r.weeks_resurfaced_over)
        if conds and all(conds):
            best = max(best, levels.index(r.level))
    return levels[best]


# ---------------------------------------------------------------- rules the store's sync applies (store.actions)


def weeks_overdue(due: dt.date, status: str, as_of: dt.date) -> float:
    """Weeks an open action is past its due date at ``as_of`` (0 when closed or not yet due)."""
    if status not in OPEN_STATUSES or due is None or due >= as_of:
        return 0.0
    return (as_of - due).days / 7.0


def sources_read(inputs: dict[str, pd.DataFrame | None]) -> list[str]:
    """The source types whose input file was read (for the store's sync of the week)."""
    return [_SOURCE_TYPE[n] for n, df in inputs.items() if df is not None and n in _SOURCE_TYPE]


# ---------------------------------------------------------------- reading the tracker


def tracker_view(acts: pd.DataFrame, week: str, levels: list[str], meeting_weekday: str = "monday") -> pd.DataFrame:
    """A copy with the week's flags: is_open, overdue and days_overdue (at the meeting date,
    :func:`soe_helpers.core.calendar.meeting_date`), escalated (above the lowest level), seen_this_week,
    new_this_week, closed_this_week (closed on or after the week began)."""
    as_of = pd.Timestamp(meeting_date(week, meeting_weekday))
    d = acts.copy()
    d["is_open"] = d["status"].isin(OPEN_STATUSES)
    days = (as_of - d["due_date"]).dt.days
    d["overdue"] = d["is_open"] & (days > 0)
    d["days_overdue"] = days.where(d["overdue"], 0).astype(int) if len(d) else pd.Series(dtype=int)
    d["escalated"] = d["is_open"] & (d["escalation_level"].fillna(levels[0]) != levels[0])
    d["seen_this_week"] = d["last_seen_week"] == week
    d["new_this_week"] = d["opened_week"] == week
    closed = pd.to_datetime(d["closed_at"])
    d["closed_this_week"] = d["status"].isin(CLOSED_STATUSES) & (closed >= week_start(week))
    return d


def summary(view: pd.DataFrame) -> dict:
    """Headline figures of the tracker (from :func:`tracker_view`): counts, open dollars, by owner."""
    o = view[view["is_open"]]
    return {
        "open": int(len(o)), "overdue": int(o["overdue"].sum()), "escalated": int(o["escalated"].sum()),
        "new_this_week": int(view["new_this_week"].sum()), "closed_this_week": int(view["closed_this_week"].sum()),
        "resurfacing": int((o["weeks_resurfaced"] > 0).sum()),
        "dollars_at_stake_open": float(o["dollars_at_stake"].fillna(0.0).sum()),
        "by_owner": {k: float(v) for k, v in o.groupby("owner")["dollars_at_stake"].sum().items()},
        "escalated_to": {k: int(v) for k, v in o[o["escalated"]].groupby("escalation_level").size().items()},
    }


def by_owner(view: pd.DataFrame) -> pd.DataFrame:
    """Open actions per owner: open, overdue, escalated, dollars_at_stake (currency); parts sum to the total."""
    o = view[view["is_open"]]
    g = o.groupby("owner").agg(open=("id", "size"), overdue=("overdue", "sum"), escalated=("escalated", "sum"),
                               dollars_at_stake=("dollars_at_stake", "sum")).reset_index()
    return g.sort_values("dollars_at_stake", ascending=False, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- analysts' changes (validated here, applied by store.actions)


def parse_status(v) -> str:
    """An analyst's status as one of STATUSES ('closed' -> 'done', 'in_progress' -> 'in progress')."""
    s = str(v).strip().lower().replace("_", " ").replace("-", " ")
    s = {"inprogress": "in progress", "closed": "done", "complete": "done", "completed": "done"}.get(s, s)
    if s not in STATUSES:
        raise ActionError(f"status {v!r} is not one of {', '.join(STATUSES)}")
    return s


def parse_date(v) -> dt.date:
    """An analyst's date (YYYY-MM-DD, a date or a timestamp) as a date; ActionError otherwise."""
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return pd.Timestamp(v).date()
    if isinstance(v, dt.date):
        return v
    t = str(v).strip()
    try:
        return dt.date.fromisoformat(t[:10])
    except ValueError:
        raise ActionError(f"date {v!r} is not understood; expected YYYY-MM-DD like 2026-12-04") from None


def list_table(acts: pd.DataFrame, today: dt.date | None = None) -> pd.DataFrame:
    """The tracker as analysts list it: id, status, owner, due, overdue days, dollars, level, seen, title."""
    today = today or dt.date.today()
    d = acts.copy()
    days = (pd.Timestamp(today) - d["due_date"]).dt.days
    d["overdue_days"] = np.where(d["status"].isin(OPEN_STATUSES) & (days > 0), days, 0)
    d["due_date"] = d["due_date"].dt.strftime("%Y-%m-%d")
    d["weeks_seen"] = d["weeks_resurfaced"].fillna(0).astype(int) + 1
    return d[["id", "status", "owner", "due_date", "overdue_days", "dollars_at_stake", "escalation_level",
              "weeks_seen", "opened_week", "last_seen_week", "title", "notes", "issue_key", "version"]]


# ---------------------------------------------------------------- report views


def display(view: pd.DataFrame, mask=None, top_n: int | None = None) -> pd.DataFrame:
    """Actions for a report table (largest dollars first): id, title, owner, due, status, at stake, escalation,
    weeks seen, last seen, days overdue."""
    d = view if mask is None else view[mask]
    d = d.sort_values(["dollars_at_stake", "action_id"], ascending=[False, True], kind="stable")
    if top_n:
        d = d.head(top_n)
    return pd.DataFrame({"id": d["id"], "title": d["title"], "owner": d["owner"],
                         "due": d["due_date"].dt.strftime("%Y-%m-%d"), "status": d["status"],
                         "dollars_at_stake": d["dollars_at_stake"], "escalation": d["escalation_level"],
                         "weeks_seen": d["weeks_resurfaced"].fillna(0).astype(int) + 1,
                         "last_seen": d["last_seen_week"], "days_overdue": d["days_overdue"]}).reset_index(drop=True)


def source_summary(inputs: dict[str, pd.DataFrame | None], proposals: pd.DataFrame) -> pd.DataFrame:
    """Per input file: the report that writes it, whether it was read, its rows and the issues proposed from it."""
    kinds = _SOURCE_TYPE
    rows = []
    for name, (report, _cols) in INPUT_FILES.items():
        df = inputs.get(name)
        n = int((proposals["source_type"] == kinds[name]).sum()) if len(proposals) else 0
        rows.append({"file": name, "written_by": report, "status": "read" if df is not None else "MISSING",
                     "rows": None if df is None else int(len(df)), "issues": n if df is not None else None})
    return pd.DataFrame(rows)


def rules_text(settings, symbol: str) -> list[str]:
    """The tracker's rules in words: thresholds, ownership, escalation, reopening."""
    out = [f"An action opens for a material variance that is also {fmt_money(settings.min_dollars_variance, symbol)} "
           f"or more ({', '.join(settings.variance_levels)}; {' and '.join(settings.variance_periods)}), a material "
           f"detected event of {fmt_money(settings.min_dollars_event, symbol)} or more at stake, a failing material "
           "data check, or a KPI off "
           f"target worth {fmt_money(settings.min_dollars_kpi, symbol)} or more over 13 weeks.",
           f"Owner: the first of {', '.join(f.replace('_', ' ') for f in settings.owner_order)} with an owner in "
           f"params, else {settings.default_owner}. " + severity_text(settings, symbol),
           "The same issue seen again updates its action (dollars, last seen, weeks resurfaced) instead of opening "
           "another. " + ("A done or dropped action reopens if its issue comes back in a later week."
                          if settings.reopen_closed else "A done or dropped action stays closed even if its issue "
                                                         "comes back; it is listed below.")]
    for r in settings.escalation:
        conds = []
        if r.dollars_over is not None:
            conds.append(f"more than {fmt_money(r.dollars_over, symbol)} at stake")
        if r.weeks_overdue_over is not None:
            conds.append(f"overdue more than {r.weeks_overdue_over} week{'s' if r.weeks_overdue_over != 1 else ''}")
        if r.weeks_resurfaced_over is not None:
            conds.append(f"resurfaced in more than {r.weeks_resurfaced_over} week"
                         f"{'s' if r.weeks_resurfaced_over != 1 else ''}")
        out.append(f"Escalate to {r.level} when " + " and ".join(conds) + ".")
    return out


def headline(s: dict, symbol: str, exposures=None) -> str:
    """'21 open actions on 9 distinct exposures, $1.2M at stake: 2 overdue, 11 escalated; 4 new this week, 1 closed.'

    With ``exposures`` (:func:`soe_helpers.analysis.exposures.exposures`) the dollars are the distinct exposures'
    (each root cause once); without, the open actions' own dollars (which may count one cause twice)."""
    esc = ", ".join(f"{n} to {lvl}" for lvl, n in s["escalated_to"].items())
    stake = (f" on {len(exposures.risks)} distinct exposure{'s' if len(exposures.risks) != 1 else ''}, "
             f"{fmt_money(exposures.at_stake_total, symbol)} at stake" if exposures is not None
             else f", {fmt_money(s['dollars_at_stake_open'], symbol)} at stake")
    return (f"{s['open']} open action{'s' if s['open'] != 1 else ''}{stake}: "
            f"{s['overdue']} overdue, {s['escalated']} escalated" + (f" ({esc})" if esc else "") +
            f"; {s['new_this_week']} new this week, {s['closed_this_week']} closed, "
            f"{s['resurfacing']} resurfacing.")


__all__ += ["display", "source_summary", "rules_text", "headline"]


# ---------------------------------------------------------------- the meeting: severity, due date, next step, decision
#
# Severity (``actions.severity``), by the action's own dollars at stake: high at or above ``high_dollars``
# ($100K), medium at or above ``medium_dollars`` ($25K), low below; an opportunity (good news: orders or
# shipments ahead of plan or forecast, :func:`soe_helpers.analysis.exposures.is_opportunity`) is severity
# "opportunity" whatever its size, and is never escalated. A new action is due ``high_days`` (3),
# ``medium_days`` (5) or ``low_days`` (10) working days after the meeting date (an opportunity: low), the
# first ``actions.meeting_weekday`` (Monday) after the week ends; "overdue" is counted at the meeting date.

SEVERITIES = ("high", "medium", "low", "opportunity")

#: kind -> (next step, decision asked); {subject}, {owner} and {dollars} come from the action itself
PLAYBOOK = {
    "shipments_behind_plan": ("Confirm the recovery plan for {subject} with {owner}: which orders ship when",
                              "Fund a recovery for {subject} (expedite, pull-in) or accept {dollars} behind plan "
                              "in the landing"),
    "shipments_behind_run_rate": ("Confirm with {owner} why {subject} ships below its run-rate",
                                  "Accept the lower run-rate in the landing or agree a recovery"),
    "orders_behind_forecast": ("Review the {subject} pipeline with {owner}: is the forecast still right?",
                               "Cut the {subject} forecast by up to {dollars} or keep it with a named recovery plan"),
    "opportunity": ("Check with {owner} that supply can ship the extra {subject} demand",
                    "Raise the {subject} forecast and secure supply, or treat the {dollars} as a one-off"),
    "supplier_delay": ("Get a confirmed ship date from {subject}",
                       "Approve expedite or accept the slip ({dollars} at stake)"),
    "production_delay": ("Confirm the new ship date of {subject} with production, then tell the customer",
                         "Approve overtime or expedite to hold the promise, or accept the slip ({dollars} at stake)"),
    "order_at_risk": ("Confirm supply and the promise date of {subject}",
                      "Give {subject} priority on supply, or re-promise the customer ({dollars} at stake)"),
    "demand_spike": ("Confirm with {owner} whether the {subject} spike is real demand",
                     "Build to the spike or allocate the stock on hand"),
    "data_accuracy": ("Find and correct the records behind the failing check: {subject}",
                      "Which system is right: correct it, or publish the reports with the difference stated"),
    "kpi": ("Name the main causes of {subject} with {owner}",
            "Accept the miss this quarter or agree a recovery with a target date"),
    "event": ("Confirm the facts of {subject} with {owner}", "Act now or accept the impact ({dollars} at stake)"),
}
GROUP_LABELS = {"escalated": "Escalated: decide", "overdue": "Overdue", "due this week": "Due by the next meeting",
                "open": "Other open", "opportunity": "Opportunities (good news)", "closed this week": "Closed this week"}


def severity(dollars: float, opportunity: bool, rule) -> str:
    """'high' / 'medium' / 'low' from the action's own dollars at stake (``rule``: ``params.actions.severity``),
    'opportunity' for good news whatever its size."""
    if opportunity:
        return "opportunity"
    d = abs(float(dollars or 0.0))
    return "high" if d >= rule.high_dollars else ("medium" if d >= rule.medium_dollars else "low")


def due_date(meeting: dt.date, sev: str, rule) -> dt.date:
    """The due date of a new action: the severity's working days after the meeting (an opportunity: low's)."""
    days = {"high": rule.high_days, "medium": rule.medium_days}.get(sev, rule.low_days)
    return add_working_days(meeting, days)


def action_kind(source_type, typ, issue_key, title) -> str:
    """The playbook kind (a key of :data:`PLAYBOOK`) of an action from where it came from."""
    if is_opportunity(source_type, title):
        return "opportunity"
    if source_type == "variance":
        kind = str(issue_key).split(":")[1] if str(issue_key).count(":") >= 2 else ""
        return {"orders_vs_forecast": "orders_behind_forecast",
                "shipments_vs_run_rate": "shipments_behind_run_rate"}.get(kind, "shipments_behind_plan")
    if source_type == "data_accuracy":
        return "data_accuracy"
    if source_type == "kpi":
        return "kpi"
    return str(typ) if str(typ) in PLAYBOOK else "event"


def _subject(kind: str, title: str, attrs: dict, names) -> str:
    t = str(title or "")
    if kind == "data_accuracy":
        return t.split(": ", 1)[1] if ": " in t else t
    if kind == "supplier_delay" and _clean(attrs.get("supplier_id")):
        return "supplier " + name_with_id(attrs["supplier_id"], names)
    if kind in ("production_delay", "order_at_risk"):
        ref = t.split(": ", 1)[1] if ": " in t else t
        return f"order {ref}" + (f" for {name_with_id(attrs['customer_id'], names)}"
                                 if _clean(attrs.get("customer_id")) else "")
    if kind == "demand_spike":
        return _clean(attrs.get("sku")) or (t.split(": ", 1)[1] if ": " in t else t)
    return with_names(t.split(": ", 1)[0] if ": " in t else t, names)


def next_step_and_decision(kind: str, title: str, owner: str, dollars: float, symbol: str, attrs=None,
                           names=None) -> tuple[str, str]:
    """(next step, decision asked) of an action by :data:`PLAYBOOK`, naming its subject, owner and its own
    dollars at stake (no other figure: the rule never invents one)."""
    step, ask = PLAYBOOK.get(kind, PLAYBOOK["event"])
    fill = {"subject": _subject(kind, title, attrs or {}, names), "owner": owner or "the owner",
            "dollars": fmt_money(abs(float(dollars or 0.0)), symbol)}
    return step.format(**fill), ask.format(**fill)


def latest_note(notes) -> str:
    """The last line of an action's notes log ('' when none): what was said at the last meeting."""
    n = _clean(notes)
    return n.splitlines()[-1] if n else ""


def playbook(acts: pd.DataFrame, settings, symbol: str, names=None) -> pd.DataFrame:
    """Per action (same index as ``acts``, as :func:`soe_helpers.store.actions.load_actions` gives them): kind,
    severity, next_step and decision_asked by :data:`PLAYBOOK` and :func:`severity`."""
    rows = []
    for r in acts.to_dict("records"):
        k = action_kind(r.get("source_type"), r.get("type"), r.get("issue_key"), r.get("title"))
        st, ask = next_step_and_decision(k, r.get("title"), r.get("owner"), r.get("dollars_at_stake"), symbol,
                                         {a: r.get(a) for a in _ATTRS}, names)
        rows.append({"kind": k, "severity": severity(r.get("dollars_at_stake"), k == "opportunity", settings.severity),
                     "next_step": st, "decision_asked": ask})
    return pd.DataFrame(rows, index=acts.index, columns=["kind", "severity", "next_step", "decision_asked"])


def meeting_view(view: pd.DataFrame, week: str, settings, symbol: str, names=None) -> pd.DataFrame:
    """``view`` (:func:`tracker_view`) with the meeting's columns: kind, severity, next_step, decision_asked,
    latest_note and group (the one place each action is listed: escalated, overdue, due this week, open,
    opportunity, closed this week)."""
    d = pd.concat([view, playbook(view, settings, symbol, names)], axis=1)
    d["title"] = named(d["title"], names)
    d["latest_note"] = [latest_note(n) for n in d["notes"]] if len(d) else pd.Series(dtype=object)
    meeting = pd.Timestamp(meeting_date(week, settings.meeting_weekday))
    due_soon = d["due_date"] <= meeting + pd.Timedelta(days=7)  # due by the next week's meeting
    d["group"] = np.select(
        [d["status"].isin(CLOSED_STATUSES), d["escalated"], d["overdue"], d["severity"] == "opportunity",
         d["is_open"] & due_soon],
        ["closed this week", "escalated", "overdue", "opportunity", "due this week"], "open")
    keep = d["is_open"] | d["closed_this_week"]
    return d[keep].reset_index(drop=True)


GROUPS = ("escalated", "overdue", "due this week", "open", "opportunity", "closed this week")
_SEV_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def agenda(mv: pd.DataFrame) -> pd.DataFrame:
    """The meeting's one table, from :func:`meeting_view`: every open action (and those closed this week) once,
    grouped (:data:`GROUPS`), within a group by severity, then due date, then the larger dollars.

    Columns: group, id, title, severity, status (with overdue days, escalation, new or resurfacing), owner,
    due, dollars_at_stake, next_step, decision_asked, latest_note."""
    d = mv.assign(_g=mv["group"].map({g: i for i, g in enumerate(GROUPS)}),
                  _s=mv["severity"].map(_SEV_ORDER), _d=-mv["dollars_at_stake"].fillna(0.0))
    d = d.sort_values(["_g", "_s", "due_date", "_d", "action_id"], kind="stable")
    status = []
    for r in d.to_dict("records"):
        bits = [str(r["status"])]
        if r.get("overdue"):
            bits.append(f"overdue {int(r['days_overdue'])}d")
        if r.get("escalated"):
            bits.append(f"to {r['escalation_level']}")
        if r.get("new_this_week"):
            bits.append("new")
        elif (r.get("weeks_resurfaced") or 0) > 0 and r["is_open"]:
            bits.append(f"seen {int(r['weeks_resurfaced']) + 1} weeks")
        status.append(", ".join(bits))
    return pd.DataFrame({"group": d["group"], "id": d["id"], "title": d["title"], "severity": d["severity"],
                         "status": status, "owner": d["owner"], "due": d["due_date"].dt.strftime("%Y-%m-%d"),
                         "dollars_at_stake": d["dollars_at_stake"], "next_step": d["next_step"],
                         "decision_asked": d["decision_asked"], "latest_note": d["latest_note"]}).reset_index(drop=True)


def named(titles: pd.Series, names=None) -> pd.Series:
    """Titles with every customer and supplier id shown as 'Name (ID)' (:func:`soe_helpers.core.formats.with_names`)."""
    return pd.Series([with_names(t, names) for t in titles], index=titles.index, dtype=object)


def agenda_headline(mv: pd.DataFrame, week: str, meeting_weekday: str = "monday") -> str:
    """'Meeting of Monday 2026-11-23 on 2026-W47: 3 escalated action(s) to decide, 0 overdue, 4 due by the next
    meeting, 0 other open; 2 opportunities; 0 closed this week.' from :func:`meeting_view`."""
    day = meeting_date(week, meeting_weekday)
    n = mv["group"].value_counts()
    opp = int(n.get("opportunity", 0))
    return (f"Meeting of {day:%A} {day.isoformat()} on {week}: {int(n.get('escalated', 0))} escalated action(s) to "
            f"decide, {int(n.get('overdue', 0))} overdue, {int(n.get('due this week', 0))} due by the next "
            f"meeting, {int(n.get('open', 0))} other open; {opp} opportunit{'ies' if opp != 1 else 'y'}; "
            f"{int(n.get('closed this week', 0))} closed this week.")


def severity_text(settings, symbol: str) -> str:
    """The severity, due-date and meeting rule in words."""
    r = settings.severity
    return (f"Severity by the action's own dollars at stake: high from {fmt_money(r.high_dollars, symbol)} (due "
            f"{r.high_days} working days after the meeting), medium from {fmt_money(r.medium_dollars, symbol)} "
            f"({r.medium_days} working days), low below ({r.low_days} working days). The meeting is the first "
            f"{settings.meeting_weekday.capitalize()} after the week ends; overdue counts from it. Opportunities "
            "(orders or shipments ahead of plan or forecast) are good news: due like a low action, never escalated.")


__all__ += ["SEVERITIES", "PLAYBOOK", "GROUPS", "severity", "due_date", "action_kind", "next_step_and_decision",
            "latest_note", "meeting_view", "agenda", "severity_text", "named", "agenda_headline", "GROUP_LABELS",
            "playbook"]
