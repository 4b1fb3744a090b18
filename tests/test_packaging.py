"""The project's own habits: dependencies agree, notebooks are committed clean and thin."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"duckdb": "python-duckdb"}  # conda-forge spells a few packages differently


def _pip_deps() -> dict[str, str]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = proj["dependencies"] + proj["optional-dependencies"]["test"]
    out = {}
    for d in deps:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", d)  # extras: psycopg[binary] is psycopg
        out[CONDA_NAMES.get(m.group(1).lower(), m.group(1).lower())] = m.group(2).replace(" ", "")
    return out


def _conda_deps() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for d in env["dependencies"]:
        if isinstance(d, str):
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", d)
            out[m.group(1).lower()] = m.group(2).replace(" ", "")
    return out


def test_environment_yml_and_pyproject_agree():
    pip, conda = _pip_deps(), _conda_deps()
    conda.pop("pip", None)
    assert conda.pop("python") == "=3.11"
    assert pip == conda


def _notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_committed_notebooks_have_no_outputs():
    tracked = subprocess.run(["git", "ls-files", "notebooks/*.ipynb"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    paths = [ROOT / t for t in tracked] or _notebooks()
    for p in paths:
        nb = json.loads(p.read_text())
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                assert not c.get("outputs") and c.get("execution_count") is None, f"{p.name} has outputs"


def test_notebooks_are_thin_and_parameterised():
    assert _notebooks(), "no notebooks"
    for p in _notebooks():
        nb = json.loads(p.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "soe", p.name
        params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{p.name}: exactly one parameters cell"
        tree = ast.parse("".join(params[0]["source"]))
        names = set()
        for node in tree.body:  # literals only: papermill replaces nothing else
            assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.List | ast.Dict), p.name
            names.update(t.id for t in node.targets)
        assert {"week", "run_dir"} <= names, p.name
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                src = "".join(c["source"])
                code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith("%"))
                for node in ast.walk(ast.parse(code)):
                    assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda), \
                        f"{p.name}: logic belongs in soe_helpers, not in a notebook cell"
                assert len(src.splitlines()) <= 25, f"{p.name}: a cell of {len(src.splitlines())} lines"


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first = text[: text.find("make test") + 20]
    assert "make report" in first and "make test" in first
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_a_non_editable_install_ships_every_subpackage(tmp_path):
    """``pip install .`` (not editable) carries every layer: the installed copy runs soe demo and soe validate."""
    import os
    import subprocess
    import sys

    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--target", str(target), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    layers = {p.name for p in (target / "soe_helpers").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"core", "data", "analysis", "store", "report", "run", "deliver", "demo"} <= layers
    env = {**os.environ, "PYTHONPATH": str(target), "SOE_HOME": str(ROOT), "SOE_OUTPUTS": str(tmp_path / "out")}
    where = subprocess.run([sys.executable, "-c", "import soe_helpers, sys; print(soe_helpers.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    demo = subprocess.run([sys.executable, "-m", "soe_helpers.cli", "demo", "--out", str(tmp_path / "demo"),
                           "--scale", "0.05"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    val = subprocess.run([sys.executable, "-m", "soe_helpers.cli", "validate", "--data-dir", str(tmp_path / "demo")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert val.returncode == 0 and "valid" in val.stdout.lower(), val.stdout[-1000:] + val.stderr[-2000:]
