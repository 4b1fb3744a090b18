"""Shared fixtures: a small demo company and one weekly run of the pack on it, made once per session.

Once per session means once for all of ``pytest -n``'s workers too: the first worker to need the demo or
the run makes it under a file lock in the session's temporary folder, the others wait and read it
(the pytest-xdist recipe). Tests only read the shared folders; one that writes a run or the store
works on its own copy (``private_outputs``).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# One BLAS thread per process, set before numpy is first imported (here, in the test process, and in
# every CLI run and notebook kernel the tests start, which inherit os.environ). The suite already runs
# one process per core (xdist workers, the runner's parallel notebooks): OpenBLAS's own threads on top
# only compete for the same two cores, which made forecast_feedback 2-4x slower in wall time, e.g.
# 56 s -> 14 s for the demo's W47 on a busy 2-core machine. The figures are the same (tests check them).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402  (after the thread settings above)

ROOT = Path(__file__).resolve().parent.parent
DEMO_WEEK = "2026-W47"
SOE = [sys.executable, "-m", "soe_helpers.cli"]


EVIL_NAME = "<script>alert(1)</script>"  # the largest customer's name in the session demo: must be escaped everywhere
SMTP_SECRET = "smtp-Pa55-7c1e9d"
DB_SECRET = "erp-db-Pa55-41ab"


def _session_folder(tmp_path_factory) -> Path:
    """The temporary folder of this test session, the same for every xdist worker of it (never another session's)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def made_once(tmp_path_factory, name: str, make) -> tuple[Path, dict]:
    """``make(folder) -> dict`` run once per session across xdist workers; its folder and JSON result.

    The first worker to get here makes ``folder`` under an exclusive lock; the others block on the lock,
    then read the result it wrote. If ``make`` raises, nothing is recorded: the error reaches this worker's
    tests, and the next worker tries again (and fails the same way, with its own traceback).
    """
    root = _session_folder(tmp_path_factory)
    folder, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if folder.exists():  # a worker failed half-way: start again
                    shutil.rmtree(folder)
                folder.mkdir()
                result = make(folder)
                done.write_text(json.dumps(result))
            return folder, json.loads(done.read_text())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _make_demo(out: Path) -> dict:
    import pandas as pd

    from soe_helpers.demo.company import generate

    generate(out, scale=0.25)
    crm = pd.read_csv(out / "crm_accounts.csv", dtype=str, keep_default_na=False, encoding="cp1252")
    orders = pd.read_csv(out / "erp_sales_order_lines.csv", usecols=["Account ID", "Qty Ordered", "Unit Price"])
    value = pd.to_numeric(orders["Qty Ordered"]) * pd.to_numeric(orders["Unit Price"])
    top = value.groupby(orders["Account ID"]).sum().idxmax()
    crm.loc[crm["Account ID"] == top, "Account Name"] = EVIL_NAME
    crm.to_csv(out / "crm_accounts.csv", index=False, encoding="cp1252")
    return {}


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo company's exports at a small scale (same shape, fewer order lines); read it, never write it.

    Its largest customer is renamed ``<script>alert(1)</script>`` so that every report and
    the email are checked for escaping on the same run the other tests use.
    """
    return made_once(tmp_path_factory, "demo", _make_demo)[0]


def soe(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the ``soe`` CLI as a user would, capturing its output."""
    return subprocess.run([*SOE, *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def pack_env(tmp_path_factory, demo_dir) -> dict:
    """Environment for runs in the session's outputs folder (shared: read it, or copy it with ``private_outputs``)."""
    out = _session_folder(tmp_path_factory) / "outputs"
    # Secrets in the environment of every pack run: tests check they reach no output.
    return {"SOE_OUTPUTS": str(out), "SOE_DATA_DIR": str(demo_dir), "SOE_STORE_URL": "",
            "SOE_SMTP_PASSWORD": SMTP_SECRET, "ERP_DB_URL": f"postgresql://soe:{DB_SECRET}@db.invalid/erp"}


def proc_record(res: subprocess.CompletedProcess) -> dict:
    """A CLI result as JSON (for ``made_once``); ``proc_from`` turns it back."""
    return {"args": res.args, "returncode": res.returncode, "stdout": res.stdout, "stderr": res.stderr}


def proc_from(record: dict) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(**record)


def soe_once(tmp_path_factory, name: str, env: dict, *runs: list[str], timeout: int = 900) -> tuple[Path, list]:
    """The ``soe`` commands ``runs`` run one after the other into outputs folder ``name``, once per session
    (across xdist workers: a module's tests may be spread over several); the folder and each CLI result.

    ``{out}`` in an argument is the folder. Read the folder, never write it: it is the same for every worker.
    """
    def make(out: Path) -> dict:
        return {"procs": [proc_record(soe(*(a.replace("{out}", str(out)) for a in args),
                                          env={**env, "SOE_OUTPUTS": str(out)}, timeout=timeout))
                          for args in runs]}
    out, made = made_once(tmp_path_factory, name, make)
    return out, [proc_from(p) for p in made["procs"]]


def _run_pack(env: dict):
    def make(out: Path) -> dict:
        return proc_record(soe("run", "--week", DEMO_WEEK, env=env))
    return make


def pack_result(outputs: Path, proc: subprocess.CompletedProcess) -> dict:
    """The run of DEMO_WEEK in ``outputs`` as the tests read it: the CLI's result, the run folder and its records."""
    week_dir = outputs / DEMO_WEEK
    latest = json.loads((week_dir / "latest.json").read_text()) if (week_dir / "latest.json").exists() else None
    run_dir = week_dir / latest["run_dir"] if latest else None  # relative to the week (old suites: absolute)
    return {"proc": proc, "week_dir": week_dir, "outputs": outputs, "run_dir": run_dir,
            "manifest": json.loads((run_dir / "manifest.json").read_text()) if run_dir else None,
            "results": json.loads((run_dir / "results.json").read_text()) if run_dir else None}


@pytest.fixture(scope="session")
def pack_run(tmp_path_factory, pack_env) -> dict:
    """One full weekly run of the demo pack, once per session: the CLI's result plus the run folder and its records."""
    out, proc = made_once(tmp_path_factory, "outputs", _run_pack(pack_env))
    assert str(out) == pack_env["SOE_OUTPUTS"]
    return pack_result(out, proc_from(proc))


def private_outputs(pack_run: dict, pack_env: dict, dest: Path) -> tuple[dict, dict]:
    """A copy of the session run's outputs (run folders and store) at ``dest``, for a test that writes to them.

    Returns ``(pack_run, pack_env)`` for the copy: the same run read from ``dest``, and the environment
    whose runs and store are ``dest``'s. The files keep the shared folder's absolute paths where they
    recorded them (the notebooks' parameters, the manifest).
    """
    shutil.copytree(pack_run["outputs"], dest, symlinks=True)
    mine = pack_result(dest, pack_run["proc"])
    return mine, {**pack_env, "SOE_OUTPUTS": str(dest)}


def copy_demo(demo_dir: Path, dest: Path) -> Path:
    shutil.copytree(demo_dir, dest)
    return dest


def notebook_run(pack_run, notebook: str):
    """The session run's folder and results even when an unrelated notebook failed it; ``notebook`` must be ok."""
    run_dir = pack_run["run_dir"]
    if run_dir is None:  # the run failed elsewhere: its folder is the first one of the week
        runs = sorted(p for p in pack_run["week_dir"].iterdir() if (p / "manifest.json").exists())
        assert runs, pack_run["proc"].stdout + pack_run["proc"].stderr
        run_dir = runs[0]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    status = {n["name"]: n for n in manifest["notebooks"]}
    assert status[notebook]["status"] == "ok", status[notebook]
    return run_dir, json.loads((run_dir / "results.json").read_text())
