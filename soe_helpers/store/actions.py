"""The action tracker's persistence: the weekly sync, reading the tracker, analysts' edits and spreadsheets.

The rules (one issue one action, closed stays closed, escalation, the history) are described in
:mod:`soe_helpers.analysis.actions`, which holds the business logic; this module applies them to the
store's ``soe_actions``, ``soe_action_history`` and ``soe_action_sightings``.

Who writes follows :meth:`Store.write_mode`: :func:`record_week` (what the tracker notebook calls)
computes the sync in a transaction it rolls back, so the notebook shows the tracker after the sync;
for a running run the sync is held and applied when the run finishes ok
(:func:`apply_held_sync`), for an analyst's session nothing is kept, and for a run id the store never
recorded it is applied at once (:func:`sync_week`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from soe_helpers.analysis.actions import (_ATTRS, _SOURCE_TYPE, CLOSED_STATUSES, EXPORT_COLUMNS, OPEN_STATUSES,
                                          ActionError, _clean, due_date, escalation_level, format_id, parse_date,
                                          parse_id, parse_status, playbook, severity, weeks_overdue)
from soe_helpers.analysis.exposures import is_opportunity
from soe_helpers.core.calendar import meeting_date, week_label, week_ordinal
from soe_helpers.core.exports import export_table, unneutralise
from soe_helpers.core.params import ActionsParams
from soe_helpers.store.tables import action_history, actions, sightings

__all__ = ["SyncResult", "sync_week", "record_week", "apply_held_sync", "load_actions", "load_history",
           "update_action", "export_actions", "import_actions", "ImportResult"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _hist(action_id, at, week, source, actor, fld, old, new, version) -> dict:
    s = lambda v: None if v is None else (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v))  # noqa: E731
    return {"action_id": action_id, "at": at, "week": week, "source": source, "actor": actor, "field": fld,
            "old_value": s(old), "new_value": s(new), "version": version}


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


@dataclass
class _Sync:
    """One sync's inputs and what it has done so far (the steps below share it)."""
    proposals: pd.DataFrame
    week: str
    settings: object
    run_id: str | None
    sources: list[str] | None
    now: dt.datetime
    res: SyncResult = None
    hist: list[dict] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.res = SyncResult(self.week)
        self.actor = f"run {self.run_id}" if self.run_id else "run"
        self.as_of = meeting_date(self.week, self.settings.meeting_weekday)  # due and overdue count from it
        self.keys = list(self.proposals["issue_key"]) if len(self.proposals) else []

    def log(self, aid, fld, old, new, version) -> None:
        self.hist.append(_hist(aid, self.now, self.week, "run", self.actor, fld, old, new, version))


def sync_week(store, proposals: pd.DataFrame, week: str, settings, *, run_id: str | None = None,
              sources: list[str] | None = None, now: dt.datetime | None = None) -> SyncResult:
    """Apply a run's proposals to the tracker for ``week`` now, in one transaction (see
    :mod:`soe_helpers.analysis.actions`).

    ``sources``: the source types whose inputs were read (default: all); the week's sightings of those
    sources are replaced, those of a source whose file was missing are kept as they were.
    Idempotent: running the same week with the same proposals again changes nothing.
    """
    store.ensure(actions, action_history, sightings)
    with store.engine.begin() as c:
        return _sync(c, _Sync(proposals, week, settings, run_id, sources, now or _now()))


def record_week(store, proposals: pd.DataFrame, week: str, settings, *, run_id: str | None,
                sources: list[str] | None = None, now: dt.datetime | None = None) -> tuple[SyncResult, pd.DataFrame]:
    """The tracker notebook's sync: (what the sync does, every action after it), kept as
    :meth:`Store.write_mode` says: held until the run finishes ok, not at all for an analyst's session
    (``run_id`` None), at once for a run id the store never recorded."""
    now = now or _now()
    mode = store.write_mode(run_id)
    if mode == "now":
        return sync_week(store, proposals, week, settings, run_id=run_id, sources=sources, now=now), load_actions(store)
    store.ensure(actions, action_history, sightings)
    with store.engine.connect() as c:
        trans = c.begin()
        try:
            res = _sync(c, _Sync(proposals, week, settings, run_id, sources, now))
            after = _actions_frame(c)
        finally:
            trans.rollback()  # shown, not kept: the run's finish applies it again (apply_held_sync)
    if mode == "stage":
        store.hold(run_id, "action_sync", actions, week, {
            "week": week, "proposals": proposals.to_dict("records"), "columns": list(proposals.columns), "sources": sources,
            "settings": settings.model_dump(mode="json"), "now": now.isoformat()})
    return res, after


def apply_held_sync(c, payload: dict, run_id: str) -> SyncResult:
    """Apply a sync :func:`record_week` held for ``run_id``, on the connection finishing the run."""
    proposals = pd.DataFrame(payload["proposals"], columns=payload["columns"])
    return _sync(c, _Sync(proposals, payload["week"], ActionsParams.model_validate(payload["settings"]), run_id,
                          payload["sources"], dt.datetime.fromisoformat(payload["now"])))


def _sync(c, s: _Sync) -> SyncResult:
    """The sync on an open transaction, as a list of steps."""
    latest = c.execute(sa.select(sa.func.max(actions.c.last_seen_week))).scalar()
    _open_or_update(c, s)
    _replace_sightings(c, s)
    if s.keys:
        _count_resurfaced(c, s)
    if latest is not None and week_ordinal(s.week) < week_ordinal(latest):
        s.res.escalations_applied = False  # a re-run of an earlier week leaves escalations as they are
    else:
        _escalate(c, s)
    if s.hist:
        c.execute(action_history.insert(), s.hist)
    s.res.history_rows = len(s.hist)
    return s.res


def _open_or_update(c, s: _Sync) -> None:
    """A new action per unseen issue key; an existing one updated (closed ones left closed, or reopened)."""
    existing = {r.issue_key: dict(r._mapping) for r in c.execute(
        sa.select(actions).where(actions.c.issue_key.in_(s.keys)))} if s.keys else {}
    next_id = (c.execute(sa.select(sa.func.max(actions.c.action_id))).scalar() or 0) + 1
    for p in s.proposals.to_dict("records"):
        a = existing.get(p["issue_key"])
        if a is None:
            s.ids[p["issue_key"]] = _open(c, s, p, next_id)
            next_id += 1
        else:
            s.ids[p["issue_key"]] = a["action_id"]
            _update(c, s, p, a)


def _open(c, s: _Sync, p: dict, action_id: int) -> int:
    # explicit ids: the same as the rolled-back preview gave, on PostgreSQL too (sequences never roll back)
    dollars = float(p["dollars_at_stake"] or 0.0)
    due = due_date(s.as_of, severity(dollars, is_opportunity(p["source_type"], p["title"]), s.settings.severity),
                   s.settings.severity)
    row = {"action_id": action_id, "issue_key": p["issue_key"], "title": str(p["title"])[:500], "owner": p["owner"],
           "due_date": due, "status": "open", "opened_week": s.week, "source_type": p["source_type"],
           "source": p["source"], "sentence": _clean(p.get("sentence")), "dollars_at_stake": dollars,
           "escalation_level": s.settings.levels[0], "notes": None, "weeks_resurfaced": 0,
           "first_seen_week": s.week, "last_seen_week": s.week,
           "attributes": json.dumps({a: _clean(p.get(a)) for a in _ATTRS}, sort_keys=True), "created_at": s.now,
           "updated_at": s.now, "closed_at": None, "version": 1}
    c.execute(actions.insert().values(**row))
    s.res.created.append(action_id)
    for f, v in (("status", "open"), ("owner", p["owner"]), ("due_date", due), ("dollars_at_stake", round(dollars, 2))):
        s.log(action_id, f, None, v, 1)
    s.log(action_id, "owner_rule", None, p.get("owner_rule"), 1)
    return action_id


def _update(c, s: _Sync, p: dict, a: dict) -> None:
    aid, week, dollars = a["action_id"], s.week, float(p["dollars_at_stake"] or 0.0)
    upd = {}
    if a["status"] in CLOSED_STATUSES:
        closed_week = week_label(a["closed_at"]) if a["closed_at"] else a["last_seen_week"]
        if not (s.settings.reopen_closed and week_ordinal(week) > week_ordinal(closed_week)):
            s.res.closed_seen_again.append(aid)
            return
        upd.update(status="open", closed_at=None, version=a["version"] + 1)
        s.log(aid, "status", a["status"], "open", a["version"] + 1)
        s.res.reopened.append(aid)
    if a["last_seen_week"] is None or week_ordinal(week) >= week_ordinal(a["last_seen_week"]):
        if abs((a["dollars_at_stake"] or 0.0) - dollars) >= 0.005:
            upd["dollars_at_stake"] = dollars
            s.log(aid, "dollars_at_stake", round(a["dollars_at_stake"] or 0.0, 2), round(dollars, 2),
                  upd.get("version", a["version"]))
        if _clean(p.get("sentence")) != a["sentence"]:
            upd["sentence"] = _clean(p.get("sentence"))
        if str(p["title"])[:500] != a["title"]:  # a variance that turned from behind to ahead says so
            upd["title"] = str(p["title"])[:500]
            s.log(aid, "title", a["title"], upd["title"], upd.get("version", a["version"]))
        if a["last_seen_week"] != week:
            upd["last_seen_week"] = week
    if a["first_seen_week"] and week_ordinal(week) < week_ordinal(a["first_seen_week"]):
        upd["first_seen_week"] = week
    if upd:
        upd["updated_at"] = s.now
        c.execute(actions.update().where(actions.c.action_id == aid).values(**upd))
        s.res.updated.append(aid)


def _replace_sightings(c, s: _Sync) -> None:
    """This week's sightings of the sources read (and of every key proposed), replaced as a whole."""
    replaced = list(s.sources) if s.sources is not None else list(_SOURCE_TYPE.values())
    c.execute(sightings.delete().where((sightings.c.week == s.week) & (
        sightings.c.source_type.in_(replaced) | sightings.c.issue_key.in_(s.keys))))
    if s.keys:
        c.execute(sightings.insert(), [
            {"week": s.week, "issue_key": p["issue_key"], "action_id": s.ids[p["issue_key"]],
             "dollars_at_stake": float(p["dollars_at_stake"] or 0.0), "sentence": _clean(p.get("sentence")),
             "source_type": p["source_type"], "run_id": s.run_id} for p in s.proposals.to_dict("records")])


def _count_resurfaced(c, s: _Sync) -> None:
    """Weeks resurfaced = distinct weeks an open action's issue was seen - 1, from all sightings."""
    counts = dict(c.execute(sa.select(sightings.c.issue_key, sa.func.count(sa.distinct(sightings.c.week)))
                            .where(sightings.c.issue_key.in_(s.keys)).group_by(sightings.c.issue_key)).all())
    for key, aid in s.ids.items():
        n = int(counts.get(key, 1)) - 1
        cur = c.execute(sa.select(actions.c.weeks_resurfaced, actions.c.status).where(actions.c.action_id == aid)).one()
        if cur.weeks_resurfaced != n and cur.status in OPEN_STATUSES:
            c.execute(actions.update().where(actions.c.action_id == aid).values(weeks_resurfaced=n))
            s.log(aid, "weeks_resurfaced", cur.weeks_resurfaced, n, None)
            if n > (cur.weeks_resurfaced or 0):
                s.res.resurfaced.append(aid)


def _escalate(c, s: _Sync) -> None:
    """The escalation rules, applied to every open action as of the run week's end."""
    levels = s.settings.levels
    for a in c.execute(sa.select(actions).where(actions.c.status.in_(OPEN_STATUSES))).fetchall():
        lvl = escalation_level(a.dollars_at_stake, weeks_overdue(a.due_date, a.status, s.as_of),
                               a.weeks_resurfaced, s.settings.escalation, levels,
                               opportunity=is_opportunity(a.source_type, a.title))
        if lvl != a.escalation_level:
            c.execute(actions.update().where(actions.c.action_id == a.action_id).values(escalation_level=lvl))
            s.log(a.action_id, "escalation_level", a.escalation_level, lvl, None)
            before = levels.index(a.escalation_level) if a.escalation_level in levels else -1
            if levels.index(lvl) > before:
                s.res.escalated.append(a.action_id)


# ---------------------------------------------------------------- reading the tracker


def load_actions(store) -> pd.DataFrame:
    """Every action, with its display ``id`` (A-0001) and attributes unpacked; sorted by id."""
    store.ensure(actions, action_history, sightings)
    with store.engine.connect() as c:
        return _actions_frame(c)


def _actions_frame(c) -> pd.DataFrame:
    rows = [dict(r._mapping) for r in c.execute(sa.select(actions).order_by(actions.c.action_id))]
    df = pd.DataFrame(rows, columns=[col.name for col in actions.columns])
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


def update_action(store, action_id, *, status: str | None = None, owner: str | None = None, due=None,
                  note: str | None = None, actor: str | None = None, source: str = "cli",
                  now: dt.datetime | None = None) -> dict:
    """Change one action's status, owner, due date and/or add a note; every change goes to the history.

    Returns {"id", "changed": [fields], "action": the action after}. Raises ActionError naming the problem.
    """
    aid = parse_id(action_id)
    changes = {}
    if status is not None:
        changes["status"] = parse_status(status)
    if owner is not None:
        if not str(owner).strip():
            raise ActionError("owner cannot be blank")
        changes["owner"] = str(owner).strip()
    if due is not None:
        changes["due_date"] = parse_date(due)
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


def export_actions(store, path: str | Path, *, statuses=None, acts: pd.DataFrame | None = None, settings=None,
                   symbol: str = "") -> int:
    """Write the tracker to a spreadsheet analysts edit (.xlsx with a 'How to edit' sheet, or .csv).

    Editable: owner, due_date (YYYY-MM-DD), status, add_note (a new note; ``notes`` keeps the log).
    ``version`` must stay as exported: it lets the import spot changes made by someone else since.
    ``acts``: the actions to write (as :func:`load_actions` gives them; default: the store's).
    ``settings`` (``params.actions``) and ``symbol``: each action's next step, decision asked and severity
    (:func:`soe_helpers.analysis.actions.playbook`, written for the meeting, ignored on import); blank without.
    Returns the number of actions written.
    """
    acts = load_actions(store) if acts is None else acts
    if statuses:
        acts = acts[acts["status"].isin(statuses)]
    plan = playbook(acts, settings, symbol) if settings is not None else pd.DataFrame(
        {"next_step": "", "decision_asked": "", "severity": ""}, index=acts.index)
    out = pd.DataFrame({
        "id": acts["id"], "title": acts["title"], "owner": acts["owner"],
        "due_date": acts["due_date"].dt.strftime("%Y-%m-%d"), "status": acts["status"], "add_note": "",
        "next_step": plan["next_step"], "decision_asked": plan["decision_asked"], "severity": plan["severity"],
        "notes": acts["notes"].fillna(""), "dollars_at_stake": acts["dollars_at_stake"].round(2),
        "escalation_level": acts["escalation_level"], "weeks_resurfaced": acts["weeks_resurfaced"],
        "opened_week": acts["opened_week"], "last_seen_week": acts["last_seen_week"], "source": acts["source"],
        "version": acts["version"]}, columns=EXPORT_COLUMNS)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        howto = pd.DataFrame({"How to edit": [
            "Edit only: owner, due_date (YYYY-MM-DD), status (open, in progress, done, dropped), add_note.",
            "Leave id and version as exported; other columns (next step, decision asked, severity, dollars ...) are "
            "computed by the weekly run and ignored on import.",
            "Read it back with: soe actions import FILE (every change is validated and kept in the history).",
        ]})
        export_table(out, path, sheet_name="Actions", more_sheets={"How to edit": howto})
    elif path.suffix.lower() == ".csv":
        export_table(out, path)  # titles and notes carry customer names: never a live formula
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
    df = _read_edits(path)
    unknown = [c for c in df.columns if c not in EXPORT_COLUMNS]
    warnings = [f"columns ignored: {', '.join(unknown)}"] if unknown else []
    store.ensure(actions, action_history, sightings)
    now = now or _now()
    actor = actor or os.environ.get("USER") or "analyst"
    with store.engine.begin() as c:
        current = {r.action_id: dict(r._mapping) for r in c.execute(sa.select(actions))}
        plans, unchanged, problems = _plan_edits(df, current, _field_history(c), warnings)
        if problems:
            raise ActionError([f"{path.name}: {p}" for p in problems])
        if not dry_run:
            hist = [h for a, ch in plans for h in _apply(c, a, ch, source="import", actor=actor, now=now, week=None)]
            if hist:
                c.execute(action_history.insert(), hist)
    changed = {format_id(a["action_id"]): sorted(k if k != "note" else "notes" for k in ch) for a, ch in plans}
    return ImportResult(changed, unchanged, warnings, dry_run)


def _read_edits(path: Path) -> pd.DataFrame:
    """The edited export's rows (lower-case column names); ActionError if it cannot be read or lacks id/version."""
    if not path.exists():
        raise ActionError(f"{path}: file not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            xl = pd.ExcelFile(path, engine="openpyxl")
            sheet = "Actions" if "Actions" in xl.sheet_names else xl.sheet_names[0]
            df = pd.read_excel(xl, sheet_name=sheet, dtype=object)
        else:
            df = unneutralise(pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig"))
    except Exception as e:  # noqa: BLE001 - a broken spreadsheet must reach the analyst as one line
        raise ActionError(f"{path.name} could not be read: {type(e).__name__}: {str(e).splitlines()[0][:160]}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    problems = [f"{path.name}: required column '{c}' is missing (export a fresh file with `soe actions export`)"
                for c in ("id", "version") if c not in df.columns]
    if problems:
        raise ActionError(problems)
    return df


def _field_history(c) -> list:
    """Every recorded change of status, owner and due date, oldest first (to spot edits made since an export)."""
    return c.execute(sa.select(action_history.c.action_id, action_history.c.field, action_history.c.version,
                               action_history.c.actor, action_history.c.source, action_history.c.at,
                               action_history.c.new_value)
                     .where(action_history.c.field.in_(["status", "owner", "due_date"]))
                     .order_by(action_history.c.history_id)).fetchall()


def _plan_edits(df: pd.DataFrame, current: dict, hist_rows: list, warnings: list[str]):
    """(plans [(action, changes)], rows unchanged, problems) for the sheet's rows; appends to ``warnings``."""
    plans, seen, unchanged, problems = [], {}, 0, []
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
        try:
            changes = _edited_fields(df.columns, vals, r)
        except ActionError as e:
            problems.append(f"{line} ({format_id(aid)}): {e}")
            continue
        changes = {k: v for k, v in changes.items() if v != a[k]}
        problems += _drop_unedited_and_conflicts(changes, a, [h for h in hist_rows if h.action_id == aid],
                                                 exported_version, line)
        if vals.get("add_note"):
            changes["note"] = vals["add_note"]
        if "title" in df.columns and vals.get("title") and vals["title"] != a["title"]:
            warnings.append(f"{line} ({format_id(aid)}): the title is set by the run; your edit was ignored")
        if changes:
            plans.append((a, changes))
        else:
            unchanged += 1
    return plans, unchanged, problems


def _edited_fields(columns, vals: dict, raw: dict) -> dict:
    """The row's status, owner and due date, validated (ActionError on a blank or bad value)."""
    changes = {}
    if "status" in columns and vals.get("status") is not None:
        changes["status"] = parse_status(vals["status"])
    elif "status" in columns:
        raise ActionError("status is blank; use open, in progress, done or dropped")
    if "owner" in columns:
        if vals.get("owner") is None:
            raise ActionError("owner is blank")
        changes["owner"] = vals["owner"]
    if "due_date" in columns:
        if vals.get("due_date") is None:
            raise ActionError("due_date is blank; expected YYYY-MM-DD")
        changes["due_date"] = parse_date(raw["due_date"])
    return changes


def _drop_unedited_and_conflicts(changes: dict, a: dict, mine: list, exported_version: int, line: str) -> list[str]:
    """Remove from ``changes`` the fields the file still shows as exported, and those someone changed since
    the export (returning a problem for each of those)."""
    problems = []
    for f in list(changes):
        hist = [h for h in mine if h.field == f]
        at_export = [h.new_value for h in hist if (h.version or 0) <= exported_version]
        if at_export and str(changes[f]) == at_export[-1]:
            changes.pop(f)  # the file still shows the value as exported: not an edit
            continue
        later = [h for h in hist if (h.version or 0) > exported_version]
        if later:
            h = later[-1]
            problems.append(f"{line} ({format_id(a['action_id'])}): {f} was changed by {h.actor} ({h.source}, "
                            f"{h.at:%Y-%m-%d %H:%M}) after this file was exported; it is now "
                            f"{a[f]!s}. Re-export and edit again.")
            changes.pop(f)
    return problems
