"""core.run_folder: where a run's files live, each run's state, the week's latest full run, the atomic writer."""
from __future__ import annotations

import ast
import json
import os
import socket
from pathlib import Path

import pytest

from soe_helpers.core import run_folder as rf

WEEK = "2026-W47"
DEAD_PID = 999_999_999  # no such process


def make(week_dir: Path, run_id: str, *, status: str | None = "ok", partial: bool = False, failed: str | None = None,
         pid: int | None = DEAD_PID, notebooks=("demand_reconciliation", "cash_impact")) -> Path:
    """A run folder as the runner leaves it: started.json, then (when ``status``) manifest.json, FAILED."""
    d = week_dir / run_id
    (d / "results").mkdir(parents=True)
    if pid is not None:
        rf.write_started(d, WEEK, list(notebooks), partial)
        started = json.loads((d / "started.json").read_text())
        started["pid"] = pid
        (d / "started.json").write_text(json.dumps(started))
    if failed is not None:
        rf.write_failed(d, f"This run failed:\n- {failed}\n")
    if status is not None:
        rf.write_manifest(d, {"run_id": run_id, "week": WEEK, "status": status, "partial": partial,
                              "notebooks": [{"name": n, "status": status} for n in notebooks]})
    return d


def states(week_dir: Path) -> list[tuple[str, str]]:
    return [(r.run_id, r.state) for r in rf.list_runs(week_dir)]


# ---------------------------------------------------------------- the atomic writer


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "run" / "manifest.json"
    rf.write_atomic(p, '{"a": 1}')
    rf.write_atomic(p, b'{"a": 2}')
    assert json.loads(p.read_text()) == {"a": 2}
    assert sorted(x.name for x in p.parent.iterdir()) == ["manifest.json"], "a temporary file was left behind"


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path):
    p = tmp_path / "orders.parquet"
    p.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with rf.atomic_path(p) as tmp:
            assert tmp.parent == tmp_path and tmp != p  # same folder: os.replace never crosses a file system
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["orders.parquet"]
    with rf.atomic_path(p) as tmp:
        tmp.write_text("new")
    assert p.read_text() == "new"


def test_run_folder_imports_nothing_above_core():
    tree = ast.parse(Path(rf.__file__).read_text())
    mods = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + \
        [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    ours = [m for m in mods if m.startswith("soe_helpers")]
    assert ours and all(m.startswith("soe_helpers.core") for m in ours), ours


# ---------------------------------------------------------------- states


def test_each_state_is_read_from_the_manifest_and_markers(tmp_path):
    wd = tmp_path / WEEK
    make(wd, "20261125T090000Z")  # finished, full, ok
    make(wd, "20261125T100000Z", partial=True, notebooks=("data_accuracy",))
    make(wd, "20261125T110000Z", status="failed", failed="cash_impact: KeyError: 'amount'")
    make(wd, "20261125T120000Z", status=None, failed="the aggregates do not tie out: booked_weekly")
    make(wd, "20261125T130000Z", status=None)  # killed: no manifest, its process is gone
    make(wd, "20261125T140000Z", status=None, pid=os.getpid())  # this process is "running" it
    make(wd, "20261125T150000Z", pid=None, status=None)  # an older suite's killed run: no started.json
    assert states(wd) == [("20261125T090000Z", "ok"), ("20261125T100000Z", "partial"),
                          ("20261125T110000Z", "failed"), ("20261125T120000Z", "failed"),
                          ("20261125T130000Z", "aborted"), ("20261125T140000Z", "running"),
                          ("20261125T150000Z", "aborted")]
    by_id = {r.run_id: r for r in rf.list_runs(wd)}
    assert "cash_impact: KeyError: 'amount'" in by_id["20261125T110000Z"].reason
    assert "stopped before its reports ran" in by_id["20261125T120000Z"].reason
    assert "booked_weekly" in by_id["20261125T120000Z"].reason
    assert "no manifest" in by_id["20261125T130000Z"].reason
    assert by_id["20261125T100000Z"].partial and by_id["20261125T100000Z"].finished
    assert not by_id["20261125T130000Z"].finished
    assert set(rf.STATES) == {r.state for r in by_id.values()}


def test_a_run_whose_manifest_was_deleted_is_not_finished(tmp_path):
    wd = tmp_path / WEEK
    d = make(wd, "20261125T090000Z")
    assert rf.run_state(d).state == "ok"
    rf.manifest_path(d).unlink()
    info = rf.run_state(d)
    assert (info.state, info.finished, info.manifest) == ("aborted", False, None)
    (d / "manifest.json").write_text('{"run_id": "20261125T0')  # truncated by an older, non-atomic writer
    assert rf.run_state(d).state == "aborted" and "unreadable" in rf.run_state(d).reason


def test_a_process_on_another_host_is_not_taken_for_a_running_run(tmp_path):
    d = make(tmp_path / WEEK, "20261125T090000Z", status=None, pid=os.getpid())
    started = json.loads((d / "started.json").read_text())
    assert started["host"] == socket.gethostname() and started["partial"] is False
    started["host"] = "another-machine"
    (d / "started.json").write_text(json.dumps(started))
    assert rf.run_state(d).state == "aborted"


def test_listing_orders_runs_and_skips_what_is_not_a_run(tmp_path):
    wd = tmp_path / WEEK
    make(wd, "20261125T090000Z-2")
    make(wd, "20261125T090000Z-10")
    make(wd, "20261125T090000Z")
    make(wd, "20261124T235959Z", status="failed", failed="x")
    (wd / ".work").mkdir()
    (wd / "notes").mkdir()
    (wd / ".lock").write_text("1\n")
    rf.point_latest(wd, "20261125T090000Z-10")
    assert (wd / "latest").is_symlink()
    assert [r.run_id for r in rf.list_runs(wd)] == ["20261124T235959Z", "20261125T090000Z", "20261125T090000Z-2",
                                                   "20261125T090000Z-10"]
    assert rf.list_runs(tmp_path / "2026-W01") == []


# ---------------------------------------------------------------- latest


def test_latest_full_run_skips_later_partial_failed_and_unfinished_runs(tmp_path):
    wd = tmp_path / WEEK
    assert rf.latest_full_run(wd) is None and rf.latest_run(wd) is None
    make(wd, "20261125T090000Z")
    make(wd, "20261125T100000Z")
    make(wd, "20261125T110000Z", partial=True, notebooks=("data_accuracy",))
    make(wd, "20261125T120000Z", status="failed", failed="cash_impact: boom")
    make(wd, "20261125T130000Z", status=None)
    assert rf.latest_full_run(wd).run_id == "20261125T100000Z"
    latest = rf.latest_run(wd)
    assert (latest.run_id, latest.state) == ("20261125T130000Z", "aborted")


def test_latest_json_holds_a_relative_path_and_survives_a_move(tmp_path):
    wd = tmp_path / "outputs" / WEEK
    make(wd, "20261125T090000Z")
    rf.point_latest(wd, "20261125T090000Z")
    assert json.loads((wd / "latest.json").read_text()) == {"run_id": "20261125T090000Z",
                                                            "run_dir": "20261125T090000Z"}
    assert rf.read_latest(wd) == wd / "20261125T090000Z"
    moved = tmp_path / "archive" / WEEK
    moved.parent.mkdir()
    wd.rename(moved)
    assert rf.read_latest(moved) == moved / "20261125T090000Z"
    assert not (moved / ".latest.tmp").exists()


def test_latest_json_of_an_older_suite_with_an_absolute_path_is_read(tmp_path):
    wd = tmp_path / "outputs" / WEEK
    make(wd, "20261125T090000Z")
    (wd / "latest.json").write_text(json.dumps({"run_id": "20261125T090000Z",
                                                "run_dir": str(wd / "20261125T090000Z")}))
    assert rf.read_latest(wd) == wd / "20261125T090000Z"
    # written on another machine (or before outputs was moved): the absolute path is stale, the run id is not
    (wd / "latest.json").write_text(json.dumps({"run_id": "20261125T090000Z",
                                                "run_dir": "/nowhere/outputs/2026-W47/20261125T090000Z"}))
    assert rf.read_latest(wd) == wd / "20261125T090000Z"
    (wd / "latest.json").write_text(json.dumps({"run_id": "gone", "run_dir": "/nowhere/gone"}))
    assert rf.read_latest(wd) is None


def test_new_run_dir_never_reuses_a_folder(tmp_path):
    wd = tmp_path / WEEK
    ids = [rf.new_run_dir(wd)[0] for _ in range(3)]
    assert len(set(ids)) == 3 and all((wd / i).is_dir() for i in ids)


# ---------------------------------------------------------------- the summary reads the latest full run


def test_interactive_summary_reads_the_latest_full_run_not_a_later_partial_one(tmp_path, monkeypatch):
    from soe_helpers.report.summary import run_inputs

    monkeypatch.setenv("SOE_OUTPUTS", str(tmp_path))
    wd = tmp_path / WEEK
    full = make(wd, "20261125T090000Z")
    (full / "results" / "demand_reconciliation.json").write_text(json.dumps({"week": WEEK, "gap": -1.0}))
    part = make(wd, "20261125T100000Z", partial=True, notebooks=("data_accuracy",))
    (part / "results" / "data_accuracy.json").write_text(json.dumps({"week": WEEK, "mismatches": 3}))

    class Wk:  # what run_inputs reads of a Week opened in JupyterLab
        interactive, week, run_dir = True, WEEK, Path()

    got = run_inputs(Wk())
    assert got.run_id == "20261125T090000Z" and set(got.results) == {"demand_reconciliation"}
    assert set(got.statuses) == {"demand_reconciliation", "cash_impact"}


# ---------------------------------------------------------------- a partial run's records


def test_a_partial_run_replaces_only_the_sections_it_recorded(tmp_path):
    from soe_helpers.store.engine import Store

    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.replace_results(WEEK, "full", {"demand": {"gap": -1.5, "lines": 3}, "cash": {"low": 1e6}})
    store.replace_results("2026-W46", "w46", {"data_accuracy": {"score": 0.5}})
    store.replace_sections(WEEK, "part", {"data_accuracy": {"score": 0.97}, "demand": {"gap": -2.0}})
    assert store.results_for(WEEK) == {"demand": {"gap": -2.0}, "cash": {"low": 1e6},
                                       "data_accuracy": {"score": 0.97}}
    assert store.results_for("2026-W46") == {"data_accuracy": {"score": 0.5}}  # another week untouched
    store.replace_sections(WEEK, "empty", {})
    assert len(store.results_for(WEEK)) == 3
