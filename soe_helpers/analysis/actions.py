"""The action tracker: every material issue gets one owner, one due date and a history that never forgets.

Where actions come from (files the stage-1 reports export into the run folder):

- ``variance_register.csv`` (demand reconciliation): material variances of the levels and
  periods in ``actions.variance_levels`` / ``variance_periods`` above ``min_dollars_variance``;
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
re-applied to every open action at each run, as of the end of the run week (a re-run of an
earlier week than the tracker has seen leaves escalations as they are).

**History.** Every change, by a run, by ``soe actions update`` or by an imported spreadsheet, is
a row in ``soe_action_history``: when, which week, source (run | cli | import), who, the field, old
and new value, and the action's version after it. Analysts' edits are checked against the
version they exported so two people never silently overwrite each other.

Money: ``dollars_at_stake`` is positive, in the company currency (|variance|, the event's or the
check's dollars, the KPI's dollar translation).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from soe_helpers.core.calendar import week_end, week_label, week_ordinal, week_start
from soe_helpers.core.formats import fmt_money
from soe_helpers.analysis.materiality import material_mask
from soe_helpers.store.engine import metadata

__all__ = [
    "STATUSES", "OPEN_STATUSES", "CLOSED_STATUSES", "INPUT_FILES", "PROPOSAL_COLUMNS", "EXPORT_COLUMNS",
    "EDITABLE", "ActionError", "actions", "action_history", "sightings",
    "format_id", "parse_id", "read_inputs", "proposals_from_variances", "proposals_from_events",
    "proposals_from_checks", "proposals_from_kpis", "propose", "assign_owner", "escalation_level",
    "SyncResult", "sync_week", "sources_read", "load_actions", "load_history", "tracker_view", "summary", "by_owner", "update_action", "export_actions", "import_actions", "ImportResult", "list_table",
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
EXPORT_COLUMNS = ["id", "title", "owner", "due_date", "status", "add_note", "notes", "dollars_at_stake",
                  "escalation_level", "weeks_resurfaced", "opened_week", "last_seen_week", "source", "version"]


class ActionError(ValueError):
    """A tracker command or import cannot be applied; ``problems`` lists every reason."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems) if len(self.problems) == 1 else
                         f"{len(self.problems)} problems; nothing was changed:\n" +
                         "\n".join(f"  - {p}" for p in self.problems))


# ---------------------------------------------------------------- store tables

actions = sa.Table(
    "soe_actions",
    metadata,
    sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_key", sa.String(255), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("opened_week", sa.String(8), nullable=False),
    sa.Column("source_type", sa.String(24), nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("sentence", sa.Text),
    sa.Column("dollars_at_stake", sa.Float),
    sa.Column("escalation_level", sa.String(60)),
    sa.Column("notes", sa.Text),
    sa.Column("weeks_resurfaced", sa.Integer, nullable=False, default=0),
    sa.Column("first_seen_week", sa.String(8)),
    sa.Column("last_seen_week", sa.String(8)),
    sa.Column("attributes", sa.Text),  # JSON: product_line, region, sku, customer_id, supplier_id, system, type
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime),
    sa.Column("version", sa.Integer, nullable=False, default=1),
)

action_history = sa.Table(
    "soe_action_history",
    metadata,
    sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action_id", sa.Integer, nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("week", sa.String(8)),
    sa.Column("source", sa.String(16), nullable=False),  # run | cli | import
    sa.Column("actor", sa.String(120)),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("version", sa.Integer),
)

sightings = sa.Table(
    "soe_action_sightings",
    metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("issue_key", sa.String(255), nullable=False),
    sa.Column("action_id", sa.Integer),
    sa.Column("dollars_at_stake", sa.Float),
    sa.Column("sentence", sa.Text),
    sa.Column("source_type", sa.String(24)),
    sa.Column("run_id", sa.String(64)),
    sa.PrimaryKeyConstraint("week", "issue_key"),
)


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


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
    for name, (report, cols) in INPUT_FILES.items():
        path = Path(run_dir) / name
        if not path.exists():
            frames[name] = None
            notes.append(f"{name} is missing: the {report} report did not run in this run or failed, so no "
                         f"actions were proposed from it (its issues are not known, not absent).")
            continue
        try:
            df = pd.read_csv(path, keep_default_na=True)
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
    r = register[register["period"].isin(periods) & register["level"].isin(levels)]
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
            "issue_key": f"variance:{kind}:{level}:{key}", "source_type": "variance",
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


def escalation_level(dollars: float, weeks_overdue: float, weeks_resurfaced: int, rules, levels) -> str:
    """The highest level whose rule matches (all of a rule's conditions hold), else the lowest level."""
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


# ---------------------------------------------------------------- the weekly sync


@dataclass
class SyncResult:
    week: str
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resurfaced: list[int] = field(default_factory=list)
    closed_seen_again: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    escalations_applied: bool = True
    history_rows: int = 0


def _hist(action_id, at, week, source, actor, fld, old, new, version) -> dict:
    s = lambda v: None if v is None else (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v))  # noqa: E731
    return {"action_id": action_id, "at": at, "week": week, "source": source, "actor": actor, "field": fld,
            "old_value": s(old), "new_value": s(new), "version": version}


def _weeks_overdue(due: dt.date, status: str, as_of: dt.date) -> float:
    if status not in OPEN_STATUSES or due is None or due >= as_of:
        return 0.0
    return (as_of - due).days / 7.0


def sources_read(inputs: dict[str, pd.DataFrame | None]) -> list[str]:
    """The source types whose input file was read (for :func:`sync_week`)."""
    return [_SOURCE_TYPE[n] for n, df in inputs.items() if df is not None and n in _SOURCE_TYPE]


def sync_week(store, proposals: pd.DataFrame, week: str, settings, *, run_id: str | None = None,
              sources: list[str] | None = None, now: dt.datetime | None = None) -> SyncResult:
    """Apply a run's proposals to the tracker for ``week``, in one transaction (see the module docstring).

    ``sources``: the source types whose inputs were read (default: all); the week's sightings of those
    sources are replaced, those of a source whose file was missing are kept as they were.
    Idempotent: running the same week with the same proposals again changes nothing.
    """
    store.ensure(actions, action_history, sightings)
    now = now or _now()
    actor = f"run {run_id}" if run_id else "run"
    res = SyncResult(week)
    as_of = week_end(week).date()
    hist: list[dict] = []
    keys = list(proposals["issue_key"]) if len(proposals) else []
    with store.engine.begin() as c:
        latest = c.execute(sa.select(sa.func.max(actions.c.last_seen_week))).scalar()
        existing = {r.issue_key: dict(r._mapping) for r in c.execute(
            sa.select(actions).where(actions.c.issue_key.in_(keys)))} if keys else {}
        ids: dict[str, int] = {}
        for p in proposals.to_dict("records"):
            key, dollars = p["issue_key"], float(p["dollars_at_stake"] or 0.0)
            attrs = json.dumps({a: _clean(p.get(a)) for a in _ATTRS}, sort_keys=True)
            a = existing.get(key)
            if a is None:
                due = as_of + dt.timedelta(days=settings.due_days)
                row = {"issue_key": key, "title": str(p["title"])[:500], "owner": p["owner"], "due_date": due,
                       "status": "open", "opened_week": week, "source_type": p["source_type"], "source": p["source"],
                       "sentence": _clean(p.get("sentence")), "dollars_at_stake": dollars,
                       "escalation_level": settings.levels[0], "notes": None, "weeks_resurfaced": 0,
                       "first_seen_week": week, "last_seen_week": week, "attributes": attrs, "created_at": now,
                       "updated_at": now, "closed_at": None, "version": 1}
                aid = c.execute(actions.insert().values(**row)).inserted_primary_key[0]
                ids[key] = aid
                res.created.append(aid)
                for f, v in (("status", "open"), ("owner", p["owner"]), ("due_date", due),
                             ("dollars_at_stake", round(dollars, 2))):
                    hist.append(_hist(aid, now, week, "run", actor, f, None, v, 1))
                hist.append(_hist(aid, now, week, "run", actor, "owner_rule", None, p.get("owner_rule"), 1))
                continue
            aid = a["action_id"]
            ids[key] = aid
            upd = {}
            if a["status"] in CLOSED_STATUSES:
                closed_week = week_label(a["closed_at"]) if a["closed_at"] else a["last_seen_week"]
                if settings.reopen_closed and week_ordinal(week) > week_ordinal(closed_week):
                    upd.update(status="open", closed_at=None, version=a["version"] + 1)
                    hist.append(_hist(aid, now, week, "run", actor, "status", a["status"], "open", a["version"] + 1))
                    res.reopened.append(aid)
                else:
                    res.closed_seen_again.append(aid)
                    continue
            if a["last_seen_week"] is None or week_ordinal(week) >= week_ordinal(a["last_seen_week"]):
                if abs((a["dollars_at_stake"] or 0.0) - dollars) >= 0.005:
                    upd["dollars_at_stake"] = dollars
                    hist.append(_hist(aid, now, week, "run", actor, "dollars_at_stake",
                                      round(a["dollars_at_stake"] or 0.0, 2), round(dollars, 2),
                                      upd.get("version", a["version"])))
                if _clean(p.get("sentence")) != a["sentence"]:
                    upd["sentence"] = _clean(p.get("sentence"))
                if a["last_seen_week"] != week:
                    upd["last_seen_week"] = week
            if a["first_seen_week"] and week_ordinal(week) < week_ordinal(a["first_seen_week"]):
                upd["first_seen_week"] = week
            if upd:
                upd["updated_at"] = now
                c.execute(actions.update().where(actions.c.action_id == aid).values(**upd))
                res.updated.append(aid)

        # this week's sightings, replaced as a whole; then weeks resurfaced from all sightings
        replaced = list(sources) if sources is not None else list(_SOURCE_TYPE.values())
        c.execute(sightings.delete().where((sightings.c.week == week) & (
            sightings.c.source_type.in_(replaced) | sightings.c.issue_key.in_(keys))))
        if keys:
            c.execute(sightings.insert(), [
                {"week": week, "issue_key": p["issue_key"], "action_id": ids[p["issue_key"]],
                 "dollars_at_stake": float(p["dollars_at_stake"] or 0.0), "sentence": _clean(p.get("sentence")),
                 "source_type": p["source_type"], "run_id": run_id} for p in proposals.to_dict("records")])
            counts = dict(c.execute(sa.select(sightings.c.issue_key, sa.func.count(sa.distinct(sightings.c.week)))
                                    .where(sightings.c.issue_key.in_(keys)).group_by(sightings.c.issue_key)).all())
            for key, aid in ids.items():
                n = int(counts.get(key, 1)) - 1
                cur = c.execute(sa.select(actions.c.weeks_resurfaced, actions.c.status)
                                .where(actions.c.action_id == aid)).one()
                if cur.weeks_resurfaced != n and cur.status in OPEN_STATUSES:
                    c.execute(actions.update().where(actions.c.action_id == aid).values(weeks_resurfaced=n))
                    hist.append(_hist(aid, now, week, "run", actor, "weeks_resurfaced", cur.weeks_resurfaced, n,
                                      None))
                    if n > (cur.weeks_resurfaced or 0):
                        res.resurfaced.append(aid)

        # escalation rules, applied to every open action as of the run week's end
        if latest is not None and week_ordinal(week) < week_ordinal(latest):
            res.escalations_applied = False
        else:
            for a in c.execute(sa.select(actions).where(actions.c.status.in_(OPEN_STATUSES))):
                lvl = escalation_level(a.dollars_at_stake, _weeks_overdue(a.due_date, a.status, as_of),
                                       a.weeks_resurfaced, settings.escalation, settings.levels)
                if lvl != a.escalation_level:
                    c.execute(actions.update().where(actions.c.action_id == a.action_id).values(escalation_level=lvl))
                    hist.append(_hist(a.action_id, now, week, "run", actor, "escalation_level", a.escalation_level,
                                      lvl, None))
                    before = settings.levels.index(a.escalation_level) if a.escalation_level in settings.levels else -1
                    if settings.levels.index(lvl) > before:
                        res.escalated.append(a.action_id)
        if hist:
            c.execute(action_history.insert(), hist)
    res.history_rows = len(hist)
    return res


# ---------------------------------------------------------------- reading the tracker


def load_actions(store) -> pd.DataFrame:
    """Every action, with its display ``id`` (A-0001) and attributes unpacked; sorted by id."""
    store.ensure(actions, action_history, sightings)
    with store.engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(sa.select(actions).order_by(actions.c.action_id))]
    cols = [c.name for c in actions.columns]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(0, "id", [format_id(i) for i in df["action_id"]])
    attrs = [json.loads(s) if s else {} for s in df["attributes"]]
    for a in _ATTRS:
        df[a] = [d.get(a) for d in attrs]
    df["due_date"] = pd.to_datetime(df["due_date"])
    return df


def load_history(store, action_id: int | None = None) -> pd.DataFrame:
    """The change history (all actions, or one), oldest first."""
    store.ensure(action_history)
    q = sa.select(action_history).order_by(action_history.c.history_id)
    if action_id is not None:
        q = q.where(action_history.c.action_id == action_id)
    with store.engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(q)]
    return pd.DataFrame(rows, columns=[c.name for c in action_history.columns])


def tracker_view(acts: pd.DataFrame, week: str, levels: list[str]) -> pd.DataFrame:
    """A copy with the week's flags: is_open, overdue, days_overdue, escalated (above the lowest level),
    seen_this_week, new_this_week, closed_this_week (closed on or after the week began)."""
    as_of = pd.Timestamp(week_end(week))
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


# ---------------------------------------------------------------- analysts' changes (CLI, spreadsheet)


def _apply(c, a: dict, changes: dict, *, source: str, actor: str, now: dt.datetime, week: str | None) -> list[dict]:
    """Write analyst changes (status, owner, due_date, note) to one action; returns history rows."""
    hist, upd = [], {}
    version = a["version"] + 1
    for f in ("status", "owner", "due_date"):
        if f in changes and changes[f] != a[f]:
            upd[f] = changes[f]
            hist.append(_hist(a["action_id"], now, week, source, actor, f, a[f], changes[f], version))
    if "status" in upd:
        upd["closed_at"] = now if upd["status"] in CLOSED_STATUSES else None
    if changes.get("note"):
        line = f"{now.date().isoformat()} {actor}: {changes['note']}"
        upd["notes"] = (a["notes"] + "\n" + line) if a["notes"] else line
        hist.append(_hist(a["action_id"], now, week, source, actor, "note", None, changes["note"], version))
    if upd:
        upd.update(version=version, updated_at=now)
        c.execute(actions.update().where(actions.c.action_id == a["action_id"]).values(**upd))
    return hist


def _parse_status(v) -> str:
    s = str(v).strip().lower().replace("_", " ").replace("-", " ")
    s = {"inprogress": "in progress", "closed": "done", "complete": "done", "completed": "done"}.get(s, s)
    if s not in STATUSES:
        raise ActionError(f"status {v!r} is not one of {', '.join(STATUSES)}")
    return s


def _parse_date(v) -> dt.date:
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return pd.Timestamp(v).date()
    if isinstance(v, dt.date):
        return v
    t = str(v).strip()
    try:
        return dt.date.fromisoformat(t[:10])
    except ValueError:
        raise ActionError(f"date {v!r} is not understood; expected YYYY-MM-DD like 2026-12-04") from None


def update_action(store, action_id, *, status: str | None = None, owner: str | None = None, due=None,
                  note: str | None = None, actor: str | None = None, source: str = "cli",
                  now: dt.datetime | None = None) -> dict:
    """Change one action's status, owner, due date and/or add a note; every change goes to the history.

    Returns {"id", "changed": [fields], "action": the action after}. Raises ActionError naming the problem.
    """
    aid = parse_id(action_id)
    changes = {}
    if status is not None:
        changes["status"] = _parse_status(status)
    if owner is not None:
        if not str(owner).strip():
            raise ActionError("owner cannot be blank")
        changes["owner"] = str(owner).strip()
    if due is not None:
        changes["due_date"] = _parse_date(due)
    if note is not None and str(note).strip():
        changes["note"] = str(note).strip()
    if not changes:
        raise ActionError("nothing to update: give --status, --owner, --due and/or --note")
    store.ensure(actions, action_history, sightings)
    now = now or _now()
    actor = actor or os.environ.get("USER") or "analyst"
    with store.engine.begin() as c:
        row = c.execute(sa.select(actions).where(actions.c.action_id == aid)).first()
        if row is None:
            raise ActionError(f"no action {format_id(aid)} in the store; see `soe actions list --all`")
        a = dict(row._mapping)
        hist = _apply(c, a, changes, source=source, actor=actor, now=now, week=None)
        if hist:
            c.execute(action_history.insert(), hist)
        after = dict(c.execute(sa.select(actions).where(actions.c.action_id == aid)).one()._mapping)
    return {"id": format_id(aid), "changed": [h["field"] for h in hist], "action": after}


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


def export_actions(store, path: str | Path, *, statuses=None) -> int:
    """Write the tracker to a spreadsheet analysts edit (.xlsx with a 'How to edit' sheet, or .csv).

    Editable: owner, due_date (YYYY-MM-DD), status, add_note (a new note; ``notes`` keeps the log).
    ``version`` must stay as exported: it lets the import spot changes made by someone else since.
    Returns the number of actions written.
    """
    acts = load_actions(store)
    if statuses:
        acts = acts[acts["status"].isin(statuses)]
    out = pd.DataFrame({
        "id": acts["id"], "title": acts["title"], "owner": acts["owner"],
        "due_date": acts["due_date"].dt.strftime("%Y-%m-%d"), "status": acts["status"], "add_note": "",
        "notes": acts["notes"].fillna(""), "dollars_at_stake": acts["dollars_at_stake"].round(2),
        "escalation_level": acts["escalation_level"], "weeks_resurfaced": acts["weeks_resurfaced"],
        "opened_week": acts["opened_week"], "last_seen_week": acts["last_seen_week"], "source": acts["source"],
        "version": acts["version"]}, columns=EXPORT_COLUMNS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        howto = pd.DataFrame({"How to edit": [
            "Edit only: owner, due_date (YYYY-MM-DD), status (open, in progress, done, dropped), add_note.",
            "Leave id and version as exported; other columns are computed by the weekly run and ignored on import.",
            "Read it back with: soe actions import FILE (every change is validated and kept in the history).",
        ]})
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            out.to_excel(xw, sheet_name="Actions", index=False)
            howto.to_excel(xw, sheet_name="How to edit", index=False)
    elif path.suffix.lower() == ".csv":
        out.to_csv(path, index=False)
    else:
        raise ActionError(f"{path.name}: export to a .xlsx or .csv file")
    return len(out)


@dataclass
class ImportResult:
    changed: dict[str, list[str]]
    unchanged: int
    warnings: list[str]
    dry_run: bool = False


def import_actions(store, path: str | Path, *, actor: str | None = None, dry_run: bool = False,
                   now: dt.datetime | None = None) -> ImportResult:
    """Read an edited export back: validate every row, then apply all changes in one transaction.

    Any problem (unknown id, bad status or date, blank owner, a duplicate row, a field someone else
    changed since the export) raises ActionError listing every problem with its row, and nothing is
    changed. Columns other than owner, due_date, status and add_note are ignored (with a warning when
    their text was edited).
    """
    path = Path(path)
    if not path.exists():
        raise ActionError(f"{path}: file not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            xl = pd.ExcelFile(path, engine="openpyxl")
            sheet = "Actions" if "Actions" in xl.sheet_names else xl.sheet_names[0]
            df = pd.read_excel(xl, sheet_name=sheet, dtype=object)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as e:  # noqa: BLE001 - a broken spreadsheet must reach the analyst as one line
        raise ActionError(f"{path.name} could not be read: {type(e).__name__}: {str(e).splitlines()[0][:160]}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    problems = [f"{path.name}: required column '{c}' is missing (export a fresh file with `soe actions export`)"
                for c in ("id", "version") if c not in df.columns]
    if problems:
        raise ActionError(problems)
    warnings = []
    unknown = [c for c in df.columns if c not in EXPORT_COLUMNS]
    if unknown:
        warnings.append(f"columns ignored: {', '.join(unknown)}")
    store.ensure(actions, action_history, sightings)
    now = now or _now()
    actor = actor or os.environ.get("USER") or "analyst"
    with store.engine.begin() as c:
        current = {r.action_id: dict(r._mapping) for r in c.execute(sa.select(actions))}
        hist_rows = c.execute(sa.select(action_history.c.action_id, action_history.c.field, action_history.c.version,
                                        action_history.c.actor, action_history.c.source, action_history.c.at,
                                        action_history.c.new_value)
                              .where(action_history.c.field.in_(["status", "owner", "due_date"]))
                              .order_by(action_history.c.history_id)).fetchall()
        plans, seen, changed, unchanged = [], {}, {}, 0
        for i, r in enumerate(df.to_dict("records")):
            line = f"row {i + 2}"
            vals = {k: _clean(v) for k, v in r.items()}
            if not any(vals.get(k) for k in ("id", "owner", "status", "due_date", "add_note")):
                continue  # a blank row
            try:
                aid = parse_id(vals.get("id") or "")
            except ActionError as e:
                problems.append(f"{line}: {e}")
                continue
            if aid in seen:
                problems.append(f"{line}: {format_id(aid)} appears again (first on row {seen[aid]})")
                continue
            seen[aid] = i + 2
            a = current.get(aid)
            if a is None:
                problems.append(f"{line}: no action {format_id(aid)} in the store")
                continue
            try:
                exported_version = int(float(vals.get("version") or "nan"))
            except ValueError:
                problems.append(f"{line}: version {vals.get('version')!r} is not a number; keep it as exported")
                continue
            changes = {}
            try:
                if "status" in df.columns and vals.get("status") is not None:
                    changes["status"] = _parse_status(vals["status"])
                elif "status" in df.columns:
                    raise ActionError("status is blank; use open, in progress, done or dropped")
                if "owner" in df.columns:
                    if vals.get("owner") is None:
                        raise ActionError("owner is blank")
                    changes["owner"] = vals["owner"]
                if "due_date" in df.columns:
                    if vals.get("due_date") is None:
                        raise ActionError("due_date is blank; expected YYYY-MM-DD")
                    changes["due_date"] = _parse_date(r["due_date"])
            except ActionError as e:
                problems.append(f"{line} ({format_id(aid)}): {e}")
                continue
            changes = {k: v for k, v in changes.items() if v != a[k]}
            for f in list(changes):
                mine = [h for h in hist_rows if h.action_id == aid and h.field == f]
                at_export = [h.new_value for h in mine if (h.version or 0) <= exported_version]
                if at_export and str(changes[f]) == at_export[-1]:
                    changes.pop(f)  # the file still shows the value as exported: not an edit
                    continue
                later = [h for h in mine if (h.version or 0) > exported_version]
                if later:
                    h = later[-1]
                    problems.append(f"{line} ({format_id(aid)}): {f} was changed by {h.actor} ({h.source}, "
                                    f"{h.at:%Y-%m-%d %H:%M}) after this file was exported; it is now "
                                    f"{a[f]!s}. Re-export and edit again.")
                    changes.pop(f)
            if vals.get("add_note"):
                changes["note"] = vals["add_note"]
            if "title" in df.columns and vals.get("title") and vals["title"] != a["title"]:
                warnings.append(f"{line} ({format_id(aid)}): the title is set by the run; your edit was ignored")
            if changes:
                plans.append((a, changes))
                changed[format_id(aid)] = sorted(k if k != "note" else "notes" for k in changes)
            else:
                unchanged += 1
        if problems:
            raise ActionError([f"{path.name}: {p}" for p in problems])
        if not dry_run:
            hist = []
            for a, ch in plans:
                hist += _apply(c, a, ch, source="import", actor=actor, now=now, week=None)
            if hist:
                c.execute(action_history.insert(), hist)
    return ImportResult(changed, unchanged, warnings, dry_run)


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
           f"params, else {settings.default_owner}. A new action is due {settings.due_days} days after the week ends.",
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


def headline(s: dict, symbol: str) -> str:
    """'21 open actions, $3.87M at stake: 2 overdue, 11 escalated; 4 new this week, 1 closed.'"""
    esc = ", ".join(f"{n} to {lvl}" for lvl, n in s["escalated_to"].items())
    return (f"{s['open']} open action{'s' if s['open'] != 1 else ''}, {fmt_money(s['dollars_at_stake_open'], symbol)} "
            f"at stake: {s['overdue']} overdue, {s['escalated']} escalated" + (f" ({esc})" if esc else "") +
            f"; {s['new_this_week']} new this week, {s['closed_this_week']} closed, "
            f"{s['resurfacing']} resurfacing.")


__all__ += ["display", "source_summary", "rules_text", "headline"]
