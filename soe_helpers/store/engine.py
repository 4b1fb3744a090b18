"""The week-over-week store: run records and recorded figures (and later actions, KPI history).

One SQLAlchemy URL: an embedded SQLite file under ``outputs/`` by default, or the URL
in the environment variable named by ``params.store.url_env`` (e.g. a PostgreSQL
server a team shares). The URL may hold a password, so it is read from the
environment only and shown masked. Every write is one transaction; writing a week's
rows replaces that week's rows only, never another week's.
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

__all__ = ["Store", "StoreError", "metadata", "runs", "results", "store_url", "open_store"]

metadata = sa.MetaData()
_DDL_LOCK_KEY = 0x50E_5702E  # PostgreSQL advisory lock held while creating the store's tables

runs = sa.Table(
    "soe_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed
    sa.Column("run_dir", sa.Text),
    sa.Column("summary", sa.Text),  # JSON: per-notebook status and error lines
)

results = sa.Table(
    "soe_results",
    metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("section", sa.String(64), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("value", sa.Text),  # JSON
    sa.PrimaryKeyConstraint("week", "section", "key"),
)


class StoreError(RuntimeError):
    """The store cannot be opened (server down, wrong password, no driver): one line, password masked."""


def store_url(params) -> str:
    """The store's SQLAlchemy URL: from the environment if set, else the embedded SQLite file."""
    url = os.environ.get(params.store.url_env or "")
    if url:
        return url
    path = paths.resolve(params.store.path, base=paths.outputs_dir())
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
        if self.engine.dialect.name != "postgresql":
            yield
            return
        key = zlib.crc32(f"soe-week:{week}".encode())
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if not got:
                raise StoreError(f"another run of {week} is in progress on a machine sharing the store "
                                 f"{self.display_url}; wait for it to finish")
            try:
                yield
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            conn.close()

    def start_run(self, run_id: str, week: str, run_dir: Path) -> None:
        with self.engine.begin() as c:
            c.execute(runs.insert().values(run_id=run_id, week=week, started_at=_now(), status="running",
                                           run_dir=str(run_dir)))

    def mark_aborted(self, week: str) -> int:
        """Mark ``week``'s runs still recorded as running as aborted (call while holding the week's lock:
        a run left "running" then belongs to a process that was killed). Returns how many."""
        with self.engine.begin() as c:
            res = c.execute(runs.update().where((runs.c.week == week) & (runs.c.status == "running"))
                            .values(status="aborted", finished_at=_now()))
            return res.rowcount or 0

    def finish_run(self, run_id: str, status: str, summary: dict) -> None:
        with self.engine.begin() as c:
            c.execute(runs.update().where(runs.c.run_id == run_id).values(
                finished_at=_now(), status=status, summary=json.dumps(summary, default=str)))

    def list_runs(self, week: str | None = None) -> list[dict]:
        q = sa.select(runs).order_by(runs.c.started_at)
        if week:
            q = q.where(runs.c.week == week)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    # -- recorded figures
    def replace_results(self, week: str, run_id: str, figures: dict[str, dict[str, Any]]) -> None:
        """Replace ``week``'s recorded figures with ``figures`` ({section: {key: value}}) in one transaction."""
        rows = [
            {"week": week, "run_id": run_id, "section": s, "key": k, "value": json.dumps(v, default=str)}
            for s, kv in figures.items() for k, v in kv.items()
        ]
        self.replace_week_rows(results, week, rows)

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
        bad = [r for r in rows if r.get(week_col) != week]
        if bad:
            raise ValueError(f"replace_week_rows({table.name}, {week}): {len(bad)} row(s) belong to another week")
        self.ensure(table)
        with self.engine.begin() as c:
            c.execute(table.delete().where(table.c[week_col] == week))
            if rows:
                c.execute(table.insert(), rows)
        return len(rows)


def open_store(params) -> Store:
    return Store(store_url(params))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
