"""Bad exports, fuzzed input and killed runs: clear messages, nothing half-written."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DEMO_WEEK, ROOT, copy_demo, private_outputs, soe
from soe_helpers.data.loaders import DataError, load_tables
from soe_helpers.core.params import load_params

CORPUS = Path(__file__).parent / "data" / "bad_exports"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def _params_for(table: str, file: str, data_dir: Path, extra=()):
    sets = [f"data.sources.{table}.file={file}", *extra]
    if table == "plan":
        sets.append("data.sources.plan.columns.version=Plan Version")
    return load_params(sets=sets, data_dir=data_dir)


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_each_bad_export_gets_a_clear_message(file):
    table, fragments, *sets = EXPECTED[file]
    with pytest.raises(DataError) as e:
        load_tables(_params_for(table, file, CORPUS, sets[0] if sets else ()), [table])
    msg = str(e.value)
    for frag in fragments:
        assert frag in msg, f"{file}: {frag!r} not in\n{msg}"
    assert "Traceback" not in msg


def test_merged_title_rows_above_the_excel_header_are_skipped():
    loaded = load_tables(_params_for("plan", "plan_merged_header.xlsx", CORPUS), ["plan"])
    plan = loaded["plan"].frame
    assert plan["week"].tolist() == ["2026-W47", "2026-W48"] and plan["revenue"].tolist() == [200.0, 240.0]
    assert loaded["plan"].row_offset == 2 + 2  # rows are reported as Excel shows them


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                              min_size=0, max_size=11), max_size=6),
       raw=st.binary(max_size=200), use_raw=st.booleans())
def test_fuzzed_order_files_never_crash_the_loader(tmp_path, body, raw, use_raw):
    header = "SO Number,Line,Order Date,Account ID,Item Number,Qty Ordered,Unit Price,Requested Date,Promised Date"
    f = tmp_path / "fuzz.csv"
    if use_raw:
        f.write_bytes(raw)
    else:
        lines = [header] + [",".join(c.replace("\n", " ").replace("\r", " ") for c in row) for row in body]
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_tables(_params_for("orders", "fuzz.csv", tmp_path), ["orders"])
    except DataError as e:
        assert e.problems and all(p.origin for p in e.problems)


pytestmark_e2e = pytest.mark.e2e


@pytest.mark.e2e
def test_bad_data_writes_nothing(demo_dir, tmp_path):
    bad = copy_demo(demo_dir, tmp_path / "bad")
    # (a header-only file is a present, empty table now: tables by need; a value not understood is bad data)
    (bad / "erp_shipments.csv").write_text("Shipment No,SO Number,Line,Ship Date,Qty Shipped\nX1,SO-1,1,2026-11-02,many\n")
    out = tmp_path / "out"
    res = soe("run", "--data-dir", str(bad), env={"SOE_OUTPUTS": str(out)})
    assert res.returncode == 2 and "erp_shipments.csv" in res.stderr and "not understood" in res.stderr
    assert not out.exists()  # no run folder, no store


@pytest.mark.e2e
def test_a_killed_run_leaves_earlier_runs_intact_and_the_next_run_succeeds(pack_run, pack_env, tmp_path):
    # on a copy of the session's outputs: other workers read the shared ones while this test kills a run in them
    pack_run, pack_env = private_outputs(pack_run, pack_env, tmp_path / "outputs")
    out = Path(pack_env["SOE_OUTPUTS"])
    store_file = out / "soe_store.sqlite"
    before = {p.name for p in pack_run["week_dir"].iterdir()}
    good_manifest = (pack_run["run_dir"] / "manifest.json").read_bytes()
    env = {**os.environ, **pack_env}
    proc = subprocess.Popen([sys.executable, "-m", "soe_helpers.cli", "run", "--week", DEMO_WEEK,
                             "--only", "demand_reconciliation"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 120
    for line in proc.stdout:
        if "started" in line or time.time() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)  # the runner, its worker and the kernel
    proc.wait(timeout=30)
    assert (pack_run["run_dir"] / "manifest.json").read_bytes() == good_manifest
    latest_before = json.loads((pack_run["week_dir"] / "latest.json").read_text())
    res = soe("run", "--week", DEMO_WEEK, "--only", "demand_reconciliation", env=pack_env)
    assert res.returncode == 0, res.stderr
    latest = json.loads((pack_run["week_dir"] / "latest.json").read_text())
    assert latest == latest_before  # a partial (--only) run adds to the records; "latest" stays on the full run
    from soe_helpers.store.engine import Store

    runs = {r["run_id"]: r["status"] for r in Store(f"sqlite:///{store_file}").list_runs(DEMO_WEEK)}
    assert "aborted" in runs.values()  # the killed run is marked, not left "running"
    assert before <= {p.name for p in pack_run["week_dir"].iterdir()} | {".lock"}


def test_a_sql_source_query_past_the_time_limit_is_cancelled(monkeypatch):
    # SQLite has no server-side limit: the watchdog interrupts the statement (PostgreSQL: tests/test_postgres.py)
    from soe_helpers.data.loaders import read_source
    from soe_helpers.core.params import Source

    monkeypatch.setenv("SLOW_DB_URL", "sqlite://")
    q = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000000) select count(*) from c"
    with pytest.raises(DataError) as e:
        read_source("orders", Source(query=q, url_env="SLOW_DB_URL"), Path("."), 0.5)
    msg = str(e.value)
    assert "query for orders (database URL from $SLOW_DB_URL) [orders]: the query ran longer than " \
           "data.query_timeout_seconds (0.5 s) and was cancelled" in msg
    fast = read_source("orders", Source(query="select 1 as x", url_env="SLOW_DB_URL"), Path("."), 0.5)
    assert fast.frame["x"].tolist() == [1]
