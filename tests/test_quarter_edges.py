"""The full weekly pack on the demo's quarter-edge weeks: a quarter's last week, the next quarter's first,
and the first week of a year. Every report must be ok, with a landing that holds its parts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import soe_once


@pytest.fixture(scope="module")
def edge_runs(pack_env, tmp_path_factory) -> dict:
    """The quarter's last week and the next one's first as a two-week backfill (kept kernels, a quarter turning
    between them), and the year's first week as a plain ``soe run``; once per session (read them only)."""
    out, (edge, first) = soe_once(tmp_path_factory, "edges", pack_env, ["run", "--from", "2026-W39", "--to", "2026-W40"],
                                  ["run", "--week", "2026-W01"])
    return {"out": out, "procs": {"2026-W39": edge, "2026-W01": first}}


@pytest.mark.e2e
@pytest.mark.parametrize("week", ["2026-W39", "2026-W40", "2026-W01"])
def test_the_pack_runs_on_quarter_edge_weeks(edge_runs, week):
    res = edge_runs["procs"]["2026-W01" if week == "2026-W01" else "2026-W39"]
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = edge_runs["out"]
    latest = json.loads((out / week / "latest.json").read_text())
    run_dir = out / week / latest["run_dir"]
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "ok" and all(n["status"] == "ok" for n in m["notebooks"]), m["notebooks"]
    r = json.loads((run_dir / "results.json").read_text())["demand_reconciliation"]
    assert r["week"] == week
    assert abs(r["landing"] - (r["actual_qtd"] + r["backlog_in_quarter"] + r["unbooked_in_quarter"])) < 0.01
    if week == "2026-W39":  # the quarter's last week: nothing is left to land but what shipped
        assert r["backlog_in_quarter"] == 0 and r["unbooked_in_quarter"] == 0 and r["landing"] == r["actual_qtd"]
    assert (out / "index.html").exists()
