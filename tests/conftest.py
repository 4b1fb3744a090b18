"""Shared fixtures: a small demo company and one weekly run of the pack on it, made once per session."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_WEEK = "2026-W47"
SOE = [sys.executable, "-m", "soe_helpers.cli"]


EVIL_NAME = "<script>alert(1)</script>"  # the largest customer's name in the session demo: must be escaped everywhere
SMTP_SECRET = "smtp-Pa55-7c1e9d"
DB_SECRET = "erp-db-Pa55-41ab"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo company's exports at a small scale (same shape, fewer order lines).

    Its largest customer is renamed ``<script>alert(1)</script>`` so that every report and
    the email are checked for escaping on the same run the other tests use.
    """
    import pandas as pd

    from soe_helpers.demo.company import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, scale=0.25)
    crm = pd.read_csv(out / "crm_accounts.csv", dtype=str, keep_default_na=False, encoding="cp1252")
    orders = pd.read_csv(out / "erp_sales_order_lines.csv", usecols=["Account ID", "Qty Ordered", "Unit Price"])
    value = pd.to_numeric(orders["Qty Ordered"]) * pd.to_numeric(orders["Unit Price"])
    top = value.groupby(orders["Account ID"]).sum().idxmax()
    crm.loc[crm["Account ID"] == top, "Account Name"] = EVIL_NAME
    crm.to_csv(out / "crm_accounts.csv", index=False, encoding="cp1252")
    return out


def soe(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the ``soe`` CLI as a user would, capturing its output."""
    return subprocess.run([*SOE, *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def pack_env(tmp_path_factory, demo_dir) -> dict:
    """Environment for runs in a scratch outputs folder against the small demo."""
    out = tmp_path_factory.mktemp("outputs")
    # Secrets in the environment of every pack run: tests check they reach no output.
    return {"SOE_OUTPUTS": str(out), "SOE_DATA_DIR": str(demo_dir), "SOE_STORE_URL": "",
            "SOE_SMTP_PASSWORD": SMTP_SECRET, "ERP_DB_URL": f"postgresql://soe:{DB_SECRET}@db.invalid/erp"}


@pytest.fixture(scope="session")
def pack_run(pack_env) -> dict:
    """One full weekly run of the demo pack: the CLI's result plus the run folder and its records."""
    res = soe("run", "--week", DEMO_WEEK, env=pack_env)
    week_dir = Path(pack_env["SOE_OUTPUTS"]) / DEMO_WEEK
    latest = json.loads((week_dir / "latest.json").read_text()) if (week_dir / "latest.json").exists() else None
    run_dir = week_dir / latest["run_dir"] if latest else None  # relative to the week (old suites: absolute)
    return {"proc": res, "week_dir": week_dir, "outputs": Path(pack_env["SOE_OUTPUTS"]), "run_dir": run_dir,
            "manifest": json.loads((run_dir / "manifest.json").read_text()) if run_dir else None,
            "results": json.loads((run_dir / "results.json").read_text()) if run_dir else None}


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
