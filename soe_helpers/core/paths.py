"""One place that resolves the project's folders, whatever the current directory.

A notebook runs the same from JupyterLab, papermill, pytest and cron because every
path is resolved from the repository root, never from the working directory.
``SOE_HOME`` overrides the root (tests use it to run against a scratch copy) and
``SOE_OUTPUTS`` the outputs folder.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "params_dir", "notebooks_dir", "outputs_dir", "default_data_dir", "resolve"]


def repo_root() -> Path:
    env = os.environ.get("SOE_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent.parent  # soe_helpers/core/paths.py -> the repo


def params_dir() -> Path:
    return repo_root() / "params"


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def outputs_dir() -> Path:
    env = os.environ.get("SOE_OUTPUTS")
    return Path(env).resolve() if env else repo_root() / "outputs"


def default_data_dir() -> Path:
    """Where `soe demo` writes the built-in demo company's exports."""
    return repo_root() / "data" / "demo"


def resolve(path: str | os.PathLike, base: Path | None = None) -> Path:
    """An absolute path: ``path`` itself if absolute, else relative to ``base`` (default: repo root)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else ((base or repo_root()) / p).resolve()
