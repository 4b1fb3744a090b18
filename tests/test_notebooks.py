"""nbval (lax) over notebooks/: every notebook runs top to bottom interactively on the small demo."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def test_notebooks_run_under_nbval(demo_dir, tmp_path):
    env = {**os.environ, "SOE_DATA_DIR": str(demo_dir), "SOE_OUTPUTS": str(tmp_path / "out"), "SOE_STORE_URL": ""}
    res = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                          "--nbval-kernel-name", "soe", "notebooks/"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout
