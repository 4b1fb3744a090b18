"""The same weekly pack against a real PostgreSQL server: inputs read by SQL, the store on the server.

A module-scoped fixture starts a throwaway PostgreSQL server (``initdb`` into a
temporary folder, ``pg_ctl start`` on a free localhost port, password logins only)
and stops and removes it at teardown. The demo company is loaded into an ``erp``
database with :mod:`soe_helpers.demo.postgres`; the pack then runs with
``params/examples/postgres.yaml`` (every table a query, as a read-only role) and its
store in a ``soe_store`` database (its own role). The figures must equal those of the
same week run from the files (the session's ``pack_run``), the run must be recorded
on the server, and no password may reach any file, report or log.

The server-backed tests are skipped, with the reason, only when no PostgreSQL server
can be found or started on this machine (.ci/run installs one when apt is available).
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DEMO_WEEK, ROOT, soe
from soe_helpers.data.loaders import load_tables, parse_dates
from soe_helpers.core.params import load_params
from soe_helpers.demo.postgres import ERP_TABLES, erp_frame, erp_table_for, load_demo_into, sql_table
from soe_helpers.data.schemas import SCHEMAS

PG_PARAMS = "params/examples/postgres.yaml"
RUN_USER = "postgres"  # initdb refuses to run as root: as root, the server runs as this OS user


# ---------------------------------------------------------------- the server


def _pg_bindir() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: PATH first, then Debian's /usr/lib/postgresql/<v>/bin (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A throwaway PostgreSQL cluster: TCP on 127.0.0.1 only, scram-sha-256 passwords, no fsync."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="soe-pg-"))  # not under pytest's 0700 root tmp: the server user reads it
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.admin_password = "adm-" + secrets.token_hex(12)
        self.port = 0
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(RUN_USER)
            except KeyError:
                raise RuntimeError(f"running as root and there is no '{RUN_USER}' OS user to run the server as "
                                   "(initdb refuses root)") from None
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._as_user = (["runuser", "-u", RUN_USER, "--"] if shutil.which("runuser")
                             else ["su", RUN_USER, "-s", "/bin/sh", "-c"])

    def _cmd(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_user[:1] == ["su"]:
            import shlex

            cmd = [*self._as_user, shlex.join(cmd)]
        else:
            cmd = [*self._as_user, *cmd]
        return subprocess.run(cmd, cwd=self.base, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C"})

    def start(self) -> None:
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        if self._as_user:
            st = self.base.stat()
            os.chown(pwfile, st.st_uid, st.st_gid)
        res = self._cmd("initdb", "-D", str(self.data), "-U", "soe_admin", f"--pwfile={pwfile}",
                        "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        pwfile.unlink()
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {(res.stderr or res.stdout).strip()[-500:]}")
        last = ""
        for _ in range(3):  # the free port may be taken between choosing and binding it: retry
            self.port = _free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
            res = self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts, "start")
            if res.returncode == 0:
                return
            last = self.log.read_text()[-800:] if self.log.exists() else res.stderr
        raise RuntimeError(f"pg_ctl start failed: {last.strip()}")

    def stop(self) -> None:
        if self.data.exists():
            self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str, user: str = "soe_admin", password: str | None = None) -> str:
        return sa.engine.URL.create("postgresql+psycopg", username=user,
                                    password=self.admin_password if password is None else password,
                                    host="127.0.0.1", port=self.port, database=database
                                    ).render_as_string(hide_password=False)

    def admin(self, sql: str, database: str = "postgres", **bind) -> list:
        eng = sa.create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with eng.connect() as c:
                res = c.execute(sa.text(sql), bind)
                return list(res) if res.returns_rows else []
        finally:
            eng.dispose()


@pytest.fixture(scope="module")
def pg():
    """A PostgreSQL server for this module; skipped (with the reason) only when none can be found or started."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin; "
                    "install the Debian package 'postgresql' (.ci/run does when apt is available)")
    try:
        server = PgServer(bindir)
    except RuntimeError as e:
        pytest.skip(f"cannot run a PostgreSQL server here: {e}")
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        server.stop()
        pytest.skip(f"the PostgreSQL server in {bindir} could not be started: {e}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def erp(pg, demo_dir):
    """The demo company in database ``erp``; a read-only role for the pack; database ``soe_store`` for its store."""
    reader_pw, store_pw = "rdr-" + secrets.token_hex(12), "sto-" + secrets.token_hex(12)
    pg.admin(f"CREATE ROLE soe_reader LOGIN PASSWORD '{reader_pw}'")
    pg.admin(f"CREATE ROLE soe_app LOGIN PASSWORD '{store_pw}'")
    pg.admin("CREATE DATABASE erp")
    pg.admin("CREATE DATABASE soe_store OWNER soe_app")
    written = load_demo_into(pg.url("erp"), demo_dir)
    pg.admin("GRANT SELECT ON ALL TABLES IN SCHEMA public TO soe_reader", database="erp")
    return {
        "written": written,
        "erp_url": pg.url("erp", "soe_reader", reader_pw),
        "store_url": pg.url("soe_store", "soe_app", store_pw),
        "passwords": [pg.admin_password, reader_pw, store_pw],
    }


@pytest.fixture(scope="module")
def pg_env(erp, demo_dir, tmp_path_factory) -> dict:
    # SOE_DATA_DIR is the demo folder only so that optional file sources the company file may add
    # (exports of other systems) resolve as in the file run; every required table is a query.
    return {"SOE_ERP_URL": erp["erp_url"], "SOE_STORE_URL": erp["store_url"], "SOE_DATA_DIR": str(demo_dir),
            "SOE_OUTPUTS": str(tmp_path_factory.mktemp("pg_outputs"))}


@pytest.fixture(scope="module")
def pg_run(pg_env) -> dict:
    """One full weekly run of the pack against the server."""
    res = soe("run", "--week", DEMO_WEEK, "--params", PG_PARAMS, env=pg_env)
    week_dir = Path(pg_env["SOE_OUTPUTS"]) / DEMO_WEEK
    latest = week_dir / "latest.json"
    run_dir = week_dir / json.loads(latest.read_text())["run_dir"] if latest.exists() else None
    return {"proc": res, "week_dir": week_dir, "run_dir": run_dir,
            "manifest": json.loads((run_dir / "manifest.json").read_text()) if run_dir else None,
            "results": json.loads((run_dir / "results.json").read_text()) if run_dir else None}


def _folders(week_dir: Path) -> list[str]:
    return sorted(p.name for p in week_dir.iterdir()) if week_dir.exists() else []


def _ok(run: dict) -> None:
    p = run["proc"]
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"


# ---------------------------------------------------------------- the demo in PostgreSQL


@pytest.mark.e2e
def test_demo_is_loaded_as_typed_erp_tables(pg, erp, demo_dir):
    params = load_params(data_dir=demo_dir)
    files = load_tables(params, [n for n, s in params.data.sources.items() if s.file])
    assert erp["written"] == {ERP_TABLES[n].name: lt.rows for n, lt in files.items()}
    types = {(r[0], r[1]): (r[2], r[3], r[4]) for r in pg.admin(
        "select table_name, column_name, data_type, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema = 'public'", database="erp")}
    assert types[("sales_order_lines", "order_date")][0] == "date"
    assert types[("sales_order_lines", "line_no")][0] == "integer"
    assert types[("sales_order_lines", "qty_ordered")][0] == "double precision"
    assert types[("ar_invoices", "invoice_amount")] == ("numeric", 18, 2)
    assert types[("sop_plan", "plan_week")][0] == "character varying"
    pk = pg.admin("select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
                  "and a.attnum = any(i.indkey) where i.indrelid = 'sales_order_lines'::regclass and i.indisprimary",
                  database="erp")
    assert sorted(r[0] for r in pk) == ["line_no", "so_number"]
    # Money round-trips to the cent: the database's total is the file's total.
    total = pg.admin("select sum(invoice_amount) from ar_invoices", database="erp")[0][0]
    assert total == Decimal(str(round(files["invoices"].frame["amount"].sum(), 2)))


@pytest.mark.e2e
def test_sql_sources_load_the_same_tables_as_the_files(erp, demo_dir, monkeypatch):
    monkeypatch.setenv("SOE_ERP_URL", erp["erp_url"])
    from_files = load_tables(load_params(data_dir=demo_dir))
    from_sql = load_tables(load_params([ROOT / "params" / "company.yaml", ROOT / PG_PARAMS], data_dir=demo_dir))
    for name in [n for n, s in SCHEMAS.items() if s.required]:
        assert from_sql[name].origin == f"query for {name} (database URL from $SOE_ERP_URL)"
        key = list(SCHEMAS[name].key)
        a = from_files[name].frame.sort_values(key).reset_index(drop=True)
        b = from_sql[name].frame.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=True, obj=name)  # same values, same dtypes


# ---------------------------------------------------------------- the pack on PostgreSQL


def _numeric_leaves(d, path=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _numeric_leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _numeric_leaves(v, f"{path}[{i}]")
    else:
        yield path, d


_RUN_SPECIFIC = ("run_id", "generated", "started", "finished", "seconds", "_at", "run_dir", "path")


@pytest.mark.e2e
def test_pack_on_postgres_gives_the_figures_of_the_file_run(pg_run, pack_run):
    assert pack_run["proc"].returncode == 0, \
        "the pack fails from the files too (not a PostgreSQL problem):\n" + pack_run["proc"].stderr[-2000:]
    _ok(pg_run)
    inputs = pg_run["manifest"]["inputs"]
    for name in [n for n, s in SCHEMAS.items() if s.required]:
        assert inputs[name]["origin"] == f"query for {name} (database URL from $SOE_ERP_URL)", name
        assert inputs[name]["path"] is None
    pgr, files = pg_run["results"], pack_run["results"]
    dr, fr = pgr["demand_reconciliation"], files["demand_reconciliation"]
    for key in ("landing", "actual_qtd", "plan_quarter", "plan_qtd", "landing_gap"):
        assert round(dr[key], 2) == round(fr[key], 2), key   # to the cent
    assert dr["material_variances"] == fr["material_variances"]
    assert dr["bridge_closes"] is True
    # Every figure of every report agrees (floats summed in another row order differ below a cent).
    assert set(pgr) == set(files)
    a, b = dict(_numeric_leaves(pgr)), dict(_numeric_leaves(files))
    assert set(a) == set(b)
    diffs = []
    for path, va in a.items():
        vb = b[path]
        if any(t in path.rsplit(".", 1)[-1] for t in _RUN_SPECIFIC):
            continue
        if isinstance(va, (int, float)) and not isinstance(va, bool) and isinstance(vb, (int, float)):
            if abs(va - vb) > 0.005 + 1e-9 * abs(vb):
                diffs.append(f"{path}: {va!r} vs {vb!r}")
        elif va != vb:
            diffs.append(f"{path}: {va!r} vs {vb!r}")
    assert not diffs, "figures differ between the PostgreSQL and the file run:\n" + "\n".join(diffs[:20])


@pytest.mark.e2e
def test_aggregates_run_on_postgresql_and_equal_the_file_runs(pg_run, pack_run):
    """booked_weekly, shipped_weekly, ar_ageing and order_history grouped on the server (the configured
    queries as subqueries, date_trunc weeks), tied out against DuckDB, identical to the file run's."""
    from conftest import notebook_run
    from soe_helpers.data.aggregates import AGGREGATES

    _ok(pg_run)
    aggs = pg_run["manifest"]["aggregates"]
    assert {n: a["engine"] for n, a in aggs.items()} == {n: "postgresql" for n in AGGREGATES}
    for name, a in aggs.items():
        assert a["url_env"] == "SOE_ERP_URL" and a["tie_out"].startswith("ties out with DuckDB"), (name, a)
        assert "pushdown_error" not in a
    assert pg_run["manifest"]["timings"]["aggregate_seconds"] > 0
    file_dir, _ = notebook_run(pack_run, "demand_reconciliation")
    file_aggs = json.loads((file_dir / "manifest.json").read_text())["aggregates"]
    assert {n: a["engine"] for n, a in file_aggs.items()} == {n: "duckdb" for n in AGGREGATES}
    for name in AGGREGATES:
        a = pd.read_parquet(pg_run["run_dir"] / "data" / f"{name}.parquet")
        b = pd.read_parquet(file_dir / "data" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, atol=1e-6, obj=name)


@pytest.mark.e2e
def test_run_and_results_are_recorded_in_postgres(pg, pg_run, pg_env):
    _ok(pg_run)
    run_id = pg_run["manifest"]["run_id"]
    rows = pg.admin("select week, status, run_dir from soe_runs where run_id = :r", database="soe_store", r=run_id)
    assert [(r[0], r[1]) for r in rows] == [(DEMO_WEEK, "ok")]
    stored = {}
    for section, key, value in pg.admin("select section, key, value from soe_results where week = :w",
                                        database="soe_store", w=DEMO_WEEK):
        stored.setdefault(section, {})[key] = json.loads(value)
    assert stored == {k: v for k, v in pg_run["results"].items() if k != "schema_version"}  # the store keeps sections
    owners = {r[0] for r in pg.admin("select tableowner from pg_tables where schemaname = 'public'",
                                     database="soe_store")}
    assert owners == {"soe_app"}  # every store table (runs, results, and what the reports keep) is the app's
    assert pg_run["manifest"]["store"].startswith("postgresql+psycopg://soe_app:***@127.0.0.1:")
    listed = soe("runs", "--week", DEMO_WEEK, env=pg_env)
    assert listed.returncode == 0 and run_id in listed.stdout


@pytest.mark.e2e
def test_no_password_in_the_run_folder_or_the_output(erp, pg_run, pg_env):
    # Checked whatever the run's outcome: a failed run (tracebacks, failure notice) must not leak either.
    secrets_ = [p.encode() for p in erp["passwords"]]
    files = [p for p in Path(pg_env["SOE_OUTPUTS"]).rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.name == "manifest.json" for p in files)
    leaked = [str(p) for p in files if any(s in p.read_bytes() for s in secrets_)]
    assert not leaked, f"a database password was written to {leaked}"
    for stream in (pg_run["proc"].stdout, pg_run["proc"].stderr):
        assert not any(p in stream for p in erp["passwords"])


@pytest.mark.e2e
def test_bad_queries_stop_the_run_naming_table_column_and_row(pg, erp, pg_run, pg_env, tmp_path):
    runs_before = pg.admin("select count(*) from soe_runs", database="soe_store")[0][0]
    folders_before = _folders(pg_run["week_dir"])
    bad = tmp_path / "bad.yaml"
    # One query names a missing table; another runs but returns a negative quantity on its first row.
    bad.write_text("data:\n  sources:\n    shipments:\n      query: select * from shipment_linez\n"
                   "    orders:\n      query: >-\n        select so_number, line_no, order_date, account_id,"
                   " item_number, case when so_number = (select min(so_number) from sales_order_lines)"
                   " then -qty_ordered else qty_ordered end as qty_ordered, unit_price, requested_date,"
                   " promised_date, scheduled_ship_date, line_status from sales_order_lines"
                   " order by so_number, line_no\n")
    res = soe("run", "--week", DEMO_WEEK, "--params", PG_PARAMS, "--params", str(bad), env=pg_env)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Input data is invalid (2 problems); nothing was run" in res.stderr   # every problem at once
    assert "query for shipments (database URL from $SOE_ERP_URL) [shipments]: the query failed:" in res.stderr
    assert 'relation "shipment_linez" does not exist' in res.stderr
    assert ("query for orders (database URL from $SOE_ERP_URL) [orders]: column 'qty_ordered' (quantity): "
            in res.stderr) and "out of range" in res.stderr
    assert re.search(r"result rows? 1\b", res.stderr)
    assert "Traceback" not in res.stderr
    assert not any(p in res.stdout + res.stderr for p in erp["passwords"])
    assert pg.admin("select count(*) from soe_runs", database="soe_store")[0][0] == runs_before
    assert _folders(pg_run["week_dir"]) == folders_before


@pytest.mark.e2e
def test_wrong_password_or_unreachable_store_is_one_clear_line(erp, pg_env, pg_run):
    wrong = "wrong-" + secrets.token_hex(8)
    url = sa.engine.make_url(erp["erp_url"]).set(password=wrong).render_as_string(hide_password=False)
    res = soe("validate", "--params", PG_PARAMS, env={**pg_env, "SOE_ERP_URL": url})
    assert res.returncode == 2
    assert "query for products (database URL from $SOE_ERP_URL)" in res.stderr
    assert "password authentication failed" in res.stderr and "Traceback" not in res.stderr
    assert not any(p in res.stderr + res.stdout for p in [wrong, *erp["passwords"]])

    store = sa.engine.make_url(erp["store_url"]).set(password=wrong).render_as_string(hide_password=False)
    before = _folders(pg_run["week_dir"])
    res = soe("run", "--week", DEMO_WEEK, "--params", PG_PARAMS, env={**pg_env, "SOE_STORE_URL": store})
    assert res.returncode == 2, res.stderr[-2000:]
    assert "the store postgresql+psycopg://soe_app:***@127.0.0.1:" in res.stderr
    assert "cannot be opened" in res.stderr and "Traceback" not in res.stderr
    assert wrong not in res.stderr + res.stdout
    assert _folders(pg_run["week_dir"]) == before  # no run folder left behind


@pytest.mark.e2e
def test_a_failed_demo_load_leaves_the_database_as_it_was(pg, demo_dir, monkeypatch):
    import soe_helpers.demo.postgres as pg_demo

    pg.admin("CREATE DATABASE erp_atomic")
    url = pg.url("erp_atomic")
    params = load_params(data_dir=demo_dir)
    assert load_demo_into(url, demo_dir, params=params, tables=["suppliers", "products"]) == \
        {"vendors": 60, "item_master": 150}
    real_copy = pg_demo._copy_rows

    def copy_then_fail(conn, table, frame):
        real_copy(conn, table, frame)
        if table.name == "item_master":
            raise RuntimeError("disk full")

    monkeypatch.setattr(pg_demo, "_copy_rows", copy_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        load_demo_into(url, demo_dir, params=params, tables=["suppliers", "products", "customers"])
    counts = {t: pg.admin(f"select count(*) from {t}", database="erp_atomic")[0][0] for t in ("vendors", "item_master")}
    assert counts == {"vendors": 60, "item_master": 150}  # the earlier load, untouched
    assert not pg.admin("select 1 from pg_tables where tablename = 'customer_accounts'", database="erp_atomic")


# ---------------------------------------------------------------- the store on PostgreSQL


@pytest.mark.e2e
def test_store_on_postgres_replaces_one_week_atomically(pg):
    from soe_helpers.store.engine import Store, metadata

    pg.admin("CREATE DATABASE store_unit")
    table = sa.Table("test_pg_week_rows", metadata, sa.Column("week", sa.String(8), nullable=False),
                     sa.Column("sku", sa.String(32), nullable=False), sa.Column("value", sa.Float),
                     sa.PrimaryKeyConstraint("week", "sku"), extend_existing=True)
    try:
        # Parallel notebooks open a fresh store at once: creating its tables must not collide.
        errors: list[BaseException] = []

        def open_one():
            try:
                Store(pg.url("store_unit")).engine.dispose()
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not errors, errors
        store = Store(pg.url("store_unit"))
        store.replace_week_rows(table, "2026-W46", [{"week": "2026-W46", "sku": "A", "value": 1.0}])
        store.replace_week_rows(table, "2026-W47", [{"week": "2026-W47", "sku": "A", "value": 2.0},
                                                    {"week": "2026-W47", "sku": "B", "value": 3.0}])
        store.replace_week_rows(table, "2026-W47", [{"week": "2026-W47", "sku": "C", "value": 4.0}])
        with pytest.raises(sa.exc.IntegrityError):  # a duplicate key: the whole replacement rolls back
            store.replace_week_rows(table, "2026-W47", [{"week": "2026-W47", "sku": "D", "value": 5.0},
                                                        {"week": "2026-W47", "sku": "D", "value": 6.0}])
        with store.engine.connect() as c:
            got = sorted(tuple(r) for r in c.execute(sa.select(table.c.week, table.c.sku, table.c.value)))
        assert got == [("2026-W46", "A", 1.0), ("2026-W47", "C", 4.0)]
        store.engine.dispose()
    finally:
        metadata.remove(table)


# ---------------------------------------------------------------- SQL value types (no server needed)


def test_parse_dates_takes_sql_date_objects_in_one_pass():
    raw = pd.Series([dt.date(2026, 11, 16), None, dt.date(2026, 11, 22)], dtype=object)
    got, bad = parse_dates(raw)
    assert got.dtype == "datetime64[ns]"
    assert got.tolist()[0] == pd.Timestamp("2026-11-16") and pd.isna(got[1])
    assert not bad.any()
    ts = pd.Series([dt.datetime(2026, 11, 16, 17, 30, tzinfo=dt.timezone.utc), None], dtype=object)
    got, bad = parse_dates(ts)
    assert got[0] == pd.Timestamp("2026-11-16") and not bad.any()   # a timestamp's date, time dropped


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31))),
                min_size=1, max_size=30))
def test_sql_dates_parse_exactly_like_their_iso_text(values):
    as_objects, bad_o = parse_dates(pd.Series(values, dtype=object))
    as_text, bad_t = parse_dates(pd.Series([v.isoformat() if v else "" for v in values], dtype=object))
    pd.testing.assert_series_equal(as_objects, as_text)
    assert not bad_o.any() and not bad_t.any()


def test_parse_dates_flags_sentinel_dates_pandas_cannot_hold():
    raw = pd.Series([dt.date(9999, 12, 31), dt.date(2026, 1, 5)], dtype=object)
    got, bad = parse_dates(raw)
    assert bad.tolist() == [True, False]
    assert pd.isna(got[0]) and got[1] == pd.Timestamp("2026-01-05")


def test_erp_frame_renames_to_erp_columns_without_touching_the_input():
    orders = pd.DataFrame({"order_id": ["SO-1"], "line": pd.array([1], dtype="Int64"), "quantity": [2.0],
                           "unit_price": [9.5]})
    before = orders.copy()
    out = erp_frame("orders", orders)
    assert list(out.columns) == ["so_number", "line_no", "qty_ordered", "unit_price"]
    pd.testing.assert_frame_equal(orders, before)
    assert erp_table_for("cash").name == "treasury_cash_flows"
    with pytest.raises(KeyError, match="unknown table 'nope'"):
        erp_table_for("nope")


def test_sql_table_types_keys_and_sub_cent_amounts():
    meta = sa.MetaData()
    t = sql_table("invoices", meta, pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"],
                                                  "invoice_date": [pd.Timestamp("2026-01-01")],
                                                  "due_date": [pd.Timestamp("2026-01-31")],
                                                  "amount": [10.125]}))
    assert [c.name for c in t.columns] == ["invoice_no", "account_id", "invoice_date", "due_date", "invoice_amount"]
    assert isinstance(t.c.invoice_amount.type, sa.Numeric) and t.c.invoice_amount.type.scale == 6  # nothing lost
    assert [c.name for c in t.primary_key.columns] == ["invoice_no"]
    t2 = sql_table("invoices", sa.MetaData())
    assert t2.c.invoice_amount.type.scale == 2 and isinstance(t2.c.invoice_date.type, sa.Date)


def test_load_demo_into_sqlite_round_trips(tmp_path, demo_dir):
    """The generic path (batched INSERTs) on an embedded database: counts and a money total match."""
    url = f"sqlite:///{tmp_path / 'erp.sqlite'}"
    params = load_params(data_dir=demo_dir)
    written = load_demo_into(url, demo_dir, params=params, tables=["products", "customers", "suppliers", "cash"])
    assert written == {"item_master": 150, "customer_accounts": 300, "vendors": 60, "treasury_cash_flows": 12}
    eng = sa.create_engine(url)
    with eng.connect() as c:
        cash = pd.read_sql(sa.text("select * from treasury_cash_flows"), c)
    eng.dispose()
    files = load_tables(params, ["cash"])["cash"].frame
    assert np.isclose(cash["amount"].astype(float).sum(), files["amount"].sum(), atol=0.005)
    again = load_demo_into(url, demo_dir, params=params, tables=["cash"])  # re-load replaces, never doubles
    assert again == {"treasury_cash_flows": 12}


@pytest.mark.e2e
def test_a_week_running_on_another_machine_sharing_the_store_is_refused(pg, erp, pg_run, pg_env, tmp_path):
    # Another machine (its own outputs folder, so no lock file in common) holds 2026-W47 on the shared store.
    import zlib

    eng = sa.create_engine(erp["store_url"])
    other = {**pg_env, "SOE_OUTPUTS": str(tmp_path / "other_machine")}
    try:
        with eng.connect() as holder:
            holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": zlib.crc32(f"soe-week:{DEMO_WEEK}".encode())})
            runs_before = pg.admin("select count(*) from soe_runs", database="soe_store")[0][0]
            res = soe("run", "--week", DEMO_WEEK, "--params", PG_PARAMS, env=other)
            assert res.returncode == 2, res.stderr[-2000:]
            assert (f"another run of {DEMO_WEEK} is in progress on a machine sharing the store "
                    "postgresql+psycopg://soe_app:***@127.0.0.1:") in res.stderr
            assert "Traceback" not in res.stderr and not any(p in res.stderr + res.stdout for p in erp["passwords"])
            assert pg.admin("select count(*) from soe_runs", database="soe_store")[0][0] == runs_before
            assert not list((tmp_path / "other_machine" / DEMO_WEEK).glob("2*"))        # no run folder
    finally:
        eng.dispose()


@pytest.mark.e2e
def test_a_source_query_past_the_time_limit_is_cancelled_on_the_server(pg, erp, pg_env, tmp_path):
    slow = tmp_path / "slow.yaml"
    slow.write_text("data:\n  sources:\n    products:\n      query: select im.*, pg_sleep(30) from item_master im\n")
    started = dt.datetime.now()
    res = soe("validate", "--params", PG_PARAMS, "--params", str(slow), "--set", "data.query_timeout_seconds=1",
              env=pg_env)
    took = (dt.datetime.now() - started).total_seconds()
    assert res.returncode == 2, res.stderr[-2000:]
    assert ("query for products (database URL from $SOE_ERP_URL) [products]: the query ran longer than "
            "data.query_timeout_seconds (1 s) and was cancelled") in res.stderr
    assert "statement timeout" in res.stderr and took < 25          # stopped by the server, not after 30 s x rows
    assert not any(p in res.stderr + res.stdout for p in erp["passwords"])
