"""The week-over-week store: the engine, run records, recorded figures, and the rule for who may write.

Tables are declared in :mod:`soe_helpers.store.tables`. One SQLAlchemy URL: an embedded SQLite file under ``outputs/`` by default, or the URL
in the environment variable named by ``params.store.url_env`` (e.g. a PostgreSQL
server a team shares). The URL may hold a password, so it is read from the
environment only and shown masked. Every write is one transaction; writing a week's
rows replaces that week's rows only, never another week's.

**Who writes** (:meth:`Store.write_mode`, the one rule every writer asks): an analyst's session
(no run id) writes nothing; a run recorded as running has its writes held in ``soe_pending_writes``
and applied in the same transaction that records it ok (:meth:`Store.finish_run`), so a run that
fails or is killed leaves the week's history as it was; a run id the store has never recorded
(a script, a test) writes at once; a finished run writes no more.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import zlib
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa

from soe_helpers.core import paths
from soe_helpers.core.secrets import mask_url, redact, url_secrets
from soe_helpers.store import actions as store_actions
from soe_helpers.store.tables import metadata, pending_writes, results, runs

__all__ = ["Store", "StoreError", "metadata", "runs", "results", "pending_writes", "store_url", "open_store",
           "actions_or_none", "SKIP", "STAGE", "NOW"]

#: what :meth:`Store.write_mode` answers
SKIP, STAGE, NOW = "skip", "stage", "now"

_DDL_LOCK_KEY = 0x50E_5702E  # PostgreSQL advisory lock held while creating the store's tables


class StoreError(RuntimeError):
    """The store cannot be opened (server down, wrong password, no driver): one line, password masked."""


def store_url(params) -> str:
    """The store's SQLAlchemy URL: from the environment if set, else the embedded SQLite file."""
    url = os.environ.get(params.store.url_env or "")
    if url:
        return url
    path = paths.resolve(params.store.path, base=params.outputs_dir())  # the company's own outputs folder
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class Store:
    """A thin transactional wrapper over the store's engine."""

    def __init__(self, url: str):
        kw: dict[str, Any] = {"future": True}
        try:
            sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise StoreError("the store URL is not a SQLAlchemy URL (dialect+driver://user:password@host/db); "
                             "check the environment variable named by store.url_env") from None
        if url.startswith("sqlite"):
            kw["connect_args"] = {"timeout": 60}
        try:
            self.engine = sa.create_engine(url, **kw)
        except ImportError as e:  # e.g. postgresql:// means psycopg2; postgresql+psycopg:// means psycopg 3
            raise StoreError(f"the database driver of the store URL is not installed ({e}); install it "
                             "(e.g. pip install 'psycopg[binary]' and a postgresql+psycopg:// URL)") from None
        if url.startswith("sqlite"):
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _rec):  # WAL: readers never block the writer
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        try:
            self._create()
        except sa.exc.SQLAlchemyError as e:
            first = redact((str(e).splitlines() or [type(e).__name__])[0].replace(url, "<url>"), url_secrets(url))
            raise StoreError(f"the store {self.display_url} cannot be opened: {first}") from None

    @property
    def display_url(self) -> str:
        """The URL with its password and secret query values (``?password=``, ``token`` ...) masked,
        safe for logs, the manifest and reports (:func:`soe_helpers.core.secrets.mask_url`)."""
        return mask_url(self.engine.url.render_as_string(hide_password=False))

    def ensure(self, *tables: sa.Table) -> None:
        """Create tables other modules define on :data:`metadata` (idempotent)."""
        self._create(list(tables))

    def _create(self, tables: list[sa.Table] | None = None) -> None:
        if self.engine.dialect.name != "postgresql":
            metadata.create_all(self.engine, tables=tables)
            return
        # Parallel notebooks opening a fresh PostgreSQL store would CREATE the same table at once and
        # collide in the catalog (duplicate key in pg_type); a transaction-scoped advisory lock
        # serialises the check-then-create, and the loser then sees the winner's tables.
        with self.engine.begin() as c:
            c.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
            metadata.create_all(c, tables=tables)

    # -- runs
    @contextlib.contextmanager
    def week_lock(self, week: str):
        """Hold ``week``'s lock on the store's server for the duration of a run (PostgreSQL: a
        session-level advisory lock on a dedicated autocommit connection, released by the server
        if the process dies). Machines sharing one store cannot run the same week at once; the
        runner's lock file covers runs on one machine (and the SQLite store, which is local).

        Raises:
            StoreError: another session holds the week.
        """
        with self._advisory_lock(zlib.crc32(f"soe-week:{week}".encode()), "pg_try_advisory_lock",
                                 "pg_advisory_unlock", f"another run of {week} is in progress on a machine sharing "
                                 f"the store {self.display_url}; wait for it to finish"):
            yield

    @contextlib.contextmanager
    def _advisory_lock(self, key: int, take: str, free: str, refused: str):
        """A session-level PostgreSQL advisory lock (``take``/``free``: the exclusive or shared pair) held on a
        dedicated autocommit connection while the block runs; released by the server if the process dies.
        A no-op on any other database (the runner's lock files cover a local store).

        Raises:
            StoreError: ``refused``, when another session holds it.
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if not conn.execute(sa.text(f"SELECT {take}(:k)"), {"k": key}).scalar():
                raise StoreError(refused)
            try:
                yield
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.execute(sa.text(f"SELECT {free}(:k)"), {"k": key})
        finally:
            conn.close()

    @contextlib.contextmanager
    def company_lock(self, exclusive: bool):
        """The company's run lock on the store's server (PostgreSQL; a no-op on SQLite, where the runner's
        ``<outputs>/.run.lock`` covers it): a backfill holds it exclusively, a single run shared, so machines
        sharing one store cannot run a backfill beside another run. A session-level advisory lock on a
        dedicated autocommit connection, released by the server if the process dies (no stale lock).

        Raises:
            StoreError: a backfill (or, for a backfill, any run) holds it on another session.
        """
        take, free = (("pg_try_advisory_lock", "pg_advisory_unlock") if exclusive else
                      ("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared"))
        who = "a run or a backfill" if exclusive else "a backfill"
        with self._advisory_lock(zlib.crc32(b"soe-company-runs"), take, free,
                                 f"{who} of this company is in progress on a machine sharing the store "
                                 f"{self.display_url}; wait for it to finish"):
            yield

    def start_run(self, run_id: str, week: str, run_dir: Path) -> None:
        with self.engine.begin() as c:
            c.execute(runs.insert().values(run_id=run_id, week=week, started_at=_now(), status="running",
                                           run_dir=str(run_dir)))

    def mark_aborted(self, week: str) -> int:
        """Mark ``week``'s runs still recorded as running as aborted (call while holding the week's lock:
        a run left "running" then belongs to a process that was killed) and drop their held writes.
        Returns how many."""
        with self.engine.begin() as c:
            ids = [r[0] for r in c.execute(sa.select(runs.c.run_id).where(
                (runs.c.week == week) & (runs.c.status == "running")))]
            if not ids:
                return 0
            c.execute(runs.update().where(runs.c.run_id.in_(ids)).values(status="aborted", finished_at=_now()))
            c.execute(pending_writes.delete().where(pending_writes.c.run_id.in_(ids)))
            return len(ids)

    def finish_run(self, run_id: str, status: str, summary: dict,
                   figures: dict[str, dict[str, Any]] | None = None) -> None:
        """Record the run's end in one transaction. ``ok``: its held writes replace the weeks they cover
        (and ``figures``, if given, the week's recorded figures); any other status drops them.

        Raises:
            StoreError: the held writes could not be applied; the run is then recorded as failed and
                the store is left as it was before the run.
        """
        try:
            with self.engine.begin() as c:
                week = c.execute(sa.select(runs.c.week).where(runs.c.run_id == run_id)).scalar()
                if status == "ok":
                    self._apply_pending(c, run_id)
                    if figures is not None and week:
                        self._replace_week_rows(c, results, week, _result_rows(week, run_id, figures))
                self._end_run(c, run_id, status, summary)
        except (sa.exc.SQLAlchemyError, ValueError, KeyError) as e:
            if status != "ok":
                raise
            first = (str(e).splitlines() or [type(e).__name__])[0][:200]
            with self.engine.begin() as c:
                self._end_run(c, run_id, "failed", {**summary, "error": f"store writes not applied: {first}"})
            raise StoreError(f"run {run_id} finished but its store writes could not be applied ({first}); "
                             "it is recorded as failed and the store is as it was before the run") from None

    @staticmethod
    def _end_run(c, run_id: str, status: str, summary: dict) -> None:
        c.execute(pending_writes.delete().where(pending_writes.c.run_id == run_id))
        c.execute(runs.update().where(runs.c.run_id == run_id).values(
            finished_at=_now(), status=status, summary=json.dumps(summary, default=str)))

    # -- who writes, and writes held until a run finishes ok
    def write_mode(self, run_id: str | None) -> str:
        """:data:`SKIP` for an analyst's session (no run id), :data:`STAGE` for a run recorded as running,
        :data:`NOW` for a run id the store never recorded. Raises StoreError for a finished run."""
        if not run_id:
            return SKIP
        with self.engine.connect() as c:
            status = c.execute(sa.select(runs.c.status).where(runs.c.run_id == run_id)).scalar()
        if status is None:
            return NOW
        if status == "running":
            return STAGE
        raise StoreError(f"run {run_id} is recorded as {status}: it can write to the store no more")

    def hold(self, run_id: str, kind: str, table: sa.Table, week: str, payload: Any) -> None:
        """Hold one write of a running run until :meth:`finish_run` (``kind``: week_rows | action_sync)."""
        with self.engine.begin() as c:
            c.execute(pending_writes.insert().values(run_id=run_id, kind=kind, table_name=table.name, week=week,
                                                     payload=json.dumps(payload, default=str), written_at=_now()))

    def held(self, run_id: str | None, kind: str, table: sa.Table) -> dict[str, Any]:
        """The run's latest held payload of ``kind`` for ``table``, by week ({} without a run id)."""
        if not run_id:
            return {}
        q = (sa.select(pending_writes.c.week, pending_writes.c.payload)
             .where((pending_writes.c.run_id == run_id) & (pending_writes.c.kind == kind)
                    & (pending_writes.c.table_name == table.name)).order_by(pending_writes.c.write_id))
        with self.engine.connect() as c:
            return {w: json.loads(p) for w, p in c.execute(q)}

    def _apply_pending(self, c, run_id: str) -> None:
        q = sa.select(pending_writes).where(pending_writes.c.run_id == run_id).order_by(pending_writes.c.write_id)
        held = [dict(r._mapping) for r in c.execute(q)]
        latest = {(h["kind"], h["table_name"], h["week"]): h for h in held}  # a later write of a week wins
        for h in sorted(latest.values(), key=lambda h: h["write_id"]):
            table = metadata.tables[h["table_name"]]
            payload = json.loads(h["payload"])
            if h["kind"] == "week_rows":
                self._replace_week_rows(c, table, h["week"], [_typed(table, r) for r in payload])
            elif h["kind"] == "action_sync":
                store_actions.apply_held_sync(c, payload, run_id)
            else:
                raise StoreError(f"run {run_id} holds a write of unknown kind {h['kind']!r}")

    def list_runs(self, week: str | None = None) -> list[dict]:
        q = sa.select(runs).order_by(runs.c.started_at)
        if week:
            q = q.where(runs.c.week == week)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    # -- recorded figures
    def replace_results(self, week: str, run_id: str, figures: dict[str, dict[str, Any]]) -> None:
        """Replace ``week``'s recorded figures with ``figures`` ({section: {key: value}}) in one transaction."""
        self.replace_week_rows(results, week, _result_rows(week, run_id, figures))

    def replace_sections(self, week: str, run_id: str, figures: dict[str, dict[str, Any]]) -> None:
        """Replace ``week``'s recorded figures of the sections in ``figures`` only, in one transaction.

        What a partial run (``soe run --only``) records: the reports it ran are brought up to date,
        every other section of the week keeps its rows (and the run id that recorded them).
        """
        rows = [
            {"week": week, "run_id": run_id, "section": s, "key": k, "value": json.dumps(v, default=str)}
            for s, kv in figures.items() for k, v in kv.items()
        ]
        if not figures:
            return
        with self.engine.begin() as c:
            c.execute(results.delete().where((results.c.week == week) & results.c.section.in_(list(figures))))
            if rows:
                c.execute(results.insert(), rows)

    def results_for(self, week: str) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as c:
            out: dict[str, dict[str, Any]] = {}
            for r in c.execute(sa.select(results).where(results.c.week == week)):
                out.setdefault(r.section, {})[r.key] = json.loads(r.value)
            return out

    def weeks_with_results(self) -> list[str]:
        with self.engine.connect() as c:
            return sorted(r[0] for r in c.execute(sa.select(results.c.week).distinct()))

    # -- generic week-keyed tables (KPI history, snapshots ...)
    def replace_week_rows(self, table: sa.Table, week: str, rows: Iterable[dict], week_col: str = "week") -> int:
        """Delete ``table``'s rows of ``week`` and insert ``rows``, atomically. Returns rows written."""
        rows = list(rows)
        self.ensure(table)
        with self.engine.begin() as c:
            return self._replace_week_rows(c, table, week, rows, week_col)

    @staticmethod
    def _replace_week_rows(c, table: sa.Table, week: str, rows: list[dict], week_col: str = "week") -> int:
        bad = [r for r in rows if r.get(week_col) != week]
        if bad:
            raise ValueError(f"replace_week_rows({table.name}, {week}): {len(bad)} row(s) belong to another week")
        c.execute(table.delete().where(table.c[week_col] == week))
        if rows:
            c.execute(table.insert(), rows)
        return len(rows)

    def write_week(self, table: sa.Table, week: str, rows: Iterable[dict], run_id: str | None) -> int:
        """Replace ``week``'s rows of ``table`` as :meth:`write_mode` allows: at once, held until the run
        finishes ok, or not at all (an analyst's session: returns 0). Returns the rows written or held."""
        rows = list(rows)
        mode = self.write_mode(run_id)
        if mode == SKIP:
            return 0
        if mode == NOW:
            return self.replace_week_rows(table, week, rows)
        bad = [r for r in rows if r.get("week") != week]
        if bad:
            raise ValueError(f"write_week({table.name}, {week}): {len(bad)} row(s) belong to another week")
        self.hold(run_id, "week_rows", table, week, rows)
        return len(rows)

    def read_weeks(self, table: sa.Table, weeks: Iterable[str] | None = None, run_id: str | None = None) -> list[dict]:
        """``table``'s rows of ``weeks`` (all weeks if None) as recorded by finished runs, with the weeks
        that the running run ``run_id`` has written replaced by what it wrote."""
        self.ensure(table)
        q = sa.select(table)
        weeks = None if weeks is None else list(weeks)
        if weeks is not None:
            q = q.where(table.c.week.in_(weeks))
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q)]
        mine = {w: r for w, r in self.held(run_id, "week_rows", table).items() if weeks is None or w in weeks}
        if mine:
            rows = [r for r in rows if r["week"] not in mine] + [_typed(table, r) for rs in mine.values() for r in rs]
        return rows


def _result_rows(week: str, run_id: str, figures: dict[str, dict[str, Any]]) -> list[dict]:
    return [{"week": week, "run_id": run_id, "section": s, "key": k, "value": json.dumps(v, default=str)}
            for s, kv in figures.items() for k, v in kv.items()]


def _typed(table: sa.Table, row: dict) -> dict:
    """A held row back from JSON: dates and datetimes parsed for the columns that hold them."""
    out = dict(row)
    for col in table.columns:
        v = out.get(col.name)
        if isinstance(v, str):
            if isinstance(col.type, sa.DateTime):
                out[col.name] = dt.datetime.fromisoformat(v)
            elif isinstance(col.type, sa.Date):
                out[col.name] = dt.date.fromisoformat(v[:10])
    return out



def actions_or_none(params):
    """Every action of the company's store (:func:`soe_helpers.store.actions.load_actions`), read only, or None when
    there is no store to read (the register then says "new" for what the tracker would open:
    :func:`soe_helpers.analysis.actions.register_owner_status`)."""
    try:
        return store_actions.load_actions(open_store(params))
    except (StoreError, OSError, sa.exc.SQLAlchemyError):
        return None


def open_store(params) -> Store:
    return Store(store_url(params))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
