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


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo company's exports at a small scale (same shape, fewer order lines)."""
    from soe_helpers.demo import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, scale=0.25)
    return out


def soe(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the ``soe`` CLI as a user would, capturing its output."""
    return subprocess.run([*SOE, *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def pack_env(tmp_path_factory, demo_dir) -> dict:
    """Environment for runs in a scratch outputs folder against the small demo."""
    out = tmp_path_factory.mktemp("outputs")
    return {"SOE_OUTPUTS": str(out), "SOE_DATA_DIR": str(demo_dir), "SOE_STORE_URL": ""}


@pytest.fixture(scope="session")
def pack_run(pack_env) -> dict:
    """One full weekly run of the demo pack: the CLI's result plus the run folder and its records."""
    res = soe("run", "--week", DEMO_WEEK, env=pack_env)
    week_dir = Path(pack_env["SOE_OUTPUTS"]) / DEMO_WEEK
    latest = json.loads((week_dir / "latest.json").read_text()) if (week_dir / "latest.json").exists() else None
    run_dir = Path(latest["run_dir"]) if latest else None
    return {"proc": res, "week_dir": week_dir, "run_dir": run_dir,
            "manifest": json.loads((run_dir / "manifest.json").read_text()) if run_dir else None,
            "results": json.loads((run_dir / "results.json").read_text()) if run_dir else None}


def copy_demo(demo_dir: Path, dest: Path) -> Path:
    shutil.copytree(demo_dir, dest)
    return dest
