"""The one owner of a run folder's layout: ``outputs/<week>/<run_id>/``, its files, its state, and ``latest``.

A weekly run writes into its own folder (earlier runs are never touched)::

    outputs/<week>/
        latest.json            {"run_id": ..., "run_dir": "<run_id>"}: the week's latest FULL successful run,
                               path relative to the week folder (older suites wrote an absolute path:
                               still read)
        latest -> <run_id>     the same, as a symlink where the file system has them
        <run_id>/
            started.json       written first: run id, week, pid, host, notebooks, partial (an --only run)
            params.json        the resolved params
            data/              the validated tables as Parquet, and _meta.json (as_of, week, not_run: the
                               reports not run by design, each with its reason "needs cash, bills")
            results/           <section>.json: figures each report recorded
            results.json       every section merged, written at the end
            email/             leadership.eml or failure_notice.eml
            weekly_pack_<week>.html  every report of a good run in one self-contained page (the email's
                               attachment when reports are not linked)
            manifest.json      written LAST: its presence means the run finished
            FAILED             marker of a failed run (written with the manifest, or alone when the
                               run stopped before any report ran)
            <exports>          CSV / Excel files the reports exported

A run's state (:func:`run_state`) is read from those files only, never from the store:

* ``ok``       finished, every notebook of the pack ran and succeeded, or was not run by design: a report
               whose tables the company does not have is recorded ``not run`` (:data:`NOT_RUN`) with the
               reason ``needs <tables>``, and is no failure;
* ``partial``  finished and succeeded, but only some notebooks ran (``soe run --only``);
* ``failed``   a ``FAILED`` marker, or a manifest with status failed;
* ``running``  no manifest yet and the process that started it is alive on this machine;
* ``aborted``  no manifest and nobody running it: killed, crashed, or its manifest was deleted.

Every write of a run file goes through :func:`write_atomic` / :func:`atomic_path`: a temporary file
in the same folder, flushed and fsynced, then ``os.replace``: a reader sees the old file or the new
one, never half of one.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from soe_helpers.core import atomic as _atomic
from soe_helpers.core import paths

__all__ = [
    "DATA_DIRNAME", "RESULTS_DIRNAME", "EMAIL_DIRNAME", "MANIFEST", "STARTED", "PARAMS", "RESULTS", "FAILED",
    "LATEST", "LATEST_LINK", "STATES", "RunInfo", "write_atomic", "atomic_path", "week_dir", "interactive_dir",
    "manifest_path", "results_path", "section_path", "data_dir", "table_path", "meta_path", "params_path",
    "email_dir", "bundle_name", "bundle_path", "export_path", "started_path", "RUN_ID_RE", "failed_path", "new_run_id", "new_run_dir", "write_started", "write_manifest", "write_failed",
    "read_manifest", "run_state", "list_runs", "latest_full_run", "latest_run", "read_latest", "point_latest",
    "NOT_RUN", "not_run_status", "write_meta", "read_meta", "read_not_run", "counts_as_done",
]

DATA_DIRNAME = "data"
RESULTS_DIRNAME = "results"
EMAIL_DIRNAME = "email"
MANIFEST = "manifest.json"
STARTED = "started.json"
PARAMS = "params.json"
RESULTS = "results.json"
FAILED = "FAILED"
LATEST = "latest.json"
LATEST_LINK = "latest"

#: Every state :func:`run_state` returns.
STATES = ("running", "ok", "failed", "aborted", "partial")

#: A notebook's status when the runner did not run it by design: the company lacks a table it needs.
NOT_RUN = "not run"

_NOT_RUNS = {LATEST_LINK, "interactive"}


# ---------------------------------------------------------------- the one writer


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path in ``path``'s folder to write to; on success it is fsynced and moved onto ``path``
    (:func:`soe_helpers.core.atomic.atomic_path`, which also injects a full disk for tests)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _atomic.atomic_path(path) as tmp:
        yield tmp


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically: temp file, flush + fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return _atomic.write_bytes_atomic(path, raw)


def _write_json(path: Path, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, default=str))


# ---------------------------------------------------------------- where each file lives


def week_dir(week: str, outputs: Path | None = None) -> Path:
    return (outputs or paths.outputs_dir()) / week


def interactive_dir(week: str, outputs: Path | None = None) -> Path:
    """Where a notebook opened in JupyterLab writes (never a recorded run)."""
    return (outputs or paths.outputs_dir()) / "interactive" / week


def manifest_path(run_dir: Path) -> Path:
    return Path(run_dir) / MANIFEST


def params_path(run_dir: Path) -> Path:
    return Path(run_dir) / PARAMS


def results_path(run_dir: Path) -> Path:
    return Path(run_dir) / RESULTS


def section_path(run_dir: Path, section: str) -> Path:
    return Path(run_dir) / RESULTS_DIRNAME / f"{section}.json"


def data_dir(run_dir: Path) -> Path:
    return Path(run_dir) / DATA_DIRNAME


def table_path(run_dir: Path, table: str) -> Path:
    return data_dir(run_dir) / f"{table}.parquet"


def meta_path(run_dir: Path) -> Path:
    return data_dir(run_dir) / "_meta.json"


def email_dir(run_dir: Path) -> Path:
    return Path(run_dir) / EMAIL_DIRNAME


def bundle_name(week: str) -> str:
    """The file name of a run's reports bundled into one page: ``weekly_pack_2026-W47.html``."""
    return f"weekly_pack_{week}.html"


def bundle_path(run_dir: Path, week: str) -> Path:
    return Path(run_dir) / bundle_name(week)


def export_path(run_dir: Path, filename: str) -> Path:
    """A file a report exports beside its HTML (CSV, Excel ...)."""
    return Path(run_dir) / filename


def started_path(run_dir: Path) -> Path:
    return Path(run_dir) / STARTED


#: a run id: ``20261125T090000Z`` (``-2`` ...: older suites) or ``20261125T090000Z-2026-W47-<hex>``
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z(-\d+|-\d{4}-W\d{2}-[0-9a-f]{6,16})?$")


def failed_path(run_dir: Path) -> Path:
    return Path(run_dir) / FAILED


# ---------------------------------------------------------------- writing a run's markers


def _utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(week: str, now: dt.datetime | None = None) -> str:
    """A run id unique across weeks, machines and runs started in the same second.

    ``<UTC timestamp>-<week>-<microsecond, 5 hex><8 random hex>``, e.g.
    ``20261201T101503Z-2026-W47-0a3f21b9c04e7``: the timestamp and then the microsecond first, so sorting ids
    (or run folders) by name sorts them by start time; the random tail keeps two machines apart.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{week}-{now.microsecond:05x}{secrets.token_hex(4)}"


def new_run_dir(week_folder: Path) -> tuple[str, Path]:
    """Create a new, empty run folder in ``week_folder``: (run_id, folder). Never reuses an existing one."""
    week_folder.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        run_id = new_run_id(week_folder.name)
        try:
            (week_folder / run_id).mkdir()
            return run_id, week_folder / run_id
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a new run folder in {week_folder}")  # pragma: no cover


def write_started(run_dir: Path, week: str, notebooks: list[str], partial: bool) -> Path:
    """The run's first file: who runs it (pid, host) and what (notebooks; ``partial`` for an --only run)."""
    run_dir = Path(run_dir)
    return _write_json(run_dir / STARTED, {
        "run_id": run_dir.name, "week": week, "started_at": _utc(), "pid": os.getpid(),
        "host": socket.gethostname(), "notebooks": list(notebooks), "partial": bool(partial)})


def write_manifest(run_dir: Path, manifest: dict) -> Path:
    """The run's last file: its presence means the run finished (see :func:`run_state`)."""
    return _write_json(manifest_path(run_dir), manifest)


def write_failed(run_dir: Path, text: str) -> Path:
    return write_atomic(failed_path(run_dir), text)


def not_run_status(name: str, reason: str) -> dict:
    """The status record of a notebook not run by design (``reason``: ``"needs cash, bills"``)."""
    return {"name": name, "status": NOT_RUN, "reason": reason, "error": None, "ipynb": None, "html": None,
            "seconds": 0.0}


def counts_as_done(status: dict) -> bool:
    """A notebook status that leaves the run ok: it succeeded, or was not run by design."""
    return status.get("status") in ("ok", NOT_RUN)


def write_meta(run_dir: Path, as_of, week: str, not_run: dict[str, str] | None = None,
               data_notes: list[str] | None = None) -> Path:
    """``data/_meta.json``, written before any notebook runs: the data's as-of date, the week, the
    reports not run by design (notebook -> reason), which the summary and the email name in their place, and
    the load's data notes (what it inferred, :mod:`soe_helpers.data.completion`), which the reports print."""
    return write_atomic(meta_path(run_dir), json.dumps({"as_of": str(as_of), "week": week,
                                                        "not_run": dict(not_run or {}),
                                                        "data_notes": list(data_notes or [])}))


def read_meta(run_dir: Path) -> dict:
    """``data/_meta.json`` of the run ({} when absent or unreadable)."""
    return _read_json(meta_path(run_dir)) or {}


def read_not_run(run_dir: Path) -> dict[str, dict]:
    """The status records of the run's notebooks not run by design (see :func:`not_run_status`)."""
    skipped = read_meta(run_dir).get("not_run") or {}
    return {n: not_run_status(n, str(why)) for n, why in skipped.items()} if isinstance(skipped, dict) else {}


# ---------------------------------------------------------------- reading a run's state


@dataclass(frozen=True)
class RunInfo:
    """One run folder and its state (see the module docstring); ``reason`` says why in a sentence."""

    run_id: str
    path: Path
    state: str
    partial: bool
    reason: str
    manifest: dict | None

    @property
    def finished(self) -> bool:
        """The run wrote its manifest (ok, partial, or failed with a manifest)."""
        return self.manifest is not None


def _read_json(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_manifest(run_dir: Path) -> dict | None:
    """The run's manifest, or None when it is missing or unreadable."""
    return _read_json(manifest_path(run_dir))


def _alive_here(started: dict | None) -> bool:
    if not started or started.get("host") != socket.gethostname():
        return False
    try:
        pid = int(started.get("pid") or 0)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _first_line(path: Path) -> str:
    try:
        lines = [x.strip("- ").strip() for x in path.read_text().splitlines() if x.strip()]
    except OSError:
        return ""
    return "; ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else "")


def run_state(run_dir: Path) -> RunInfo:
    """The state of the run in ``run_dir``, read from its manifest and markers (see the module docstring)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    started = _read_json(run_dir / STARTED)
    partial = bool((manifest or {}).get("partial", (started or {}).get("partial", False)))
    failed = failed_path(run_dir)
    if manifest is not None:
        status = manifest.get("status")
        if failed.exists() or status != "ok":
            why = _first_line(failed) if failed.exists() else f"its manifest says {status!r}"
            return RunInfo(run_dir.name, run_dir, "failed", partial, f"failed: {why}", manifest)
        if partial:
            ran = ", ".join(n.get("name", "?") for n in manifest.get("notebooks", []))
            return RunInfo(run_dir.name, run_dir, "partial", True, f"partial run of {ran or 'no notebook'}", manifest)
        skipped = [n for n in manifest.get("notebooks", []) if n.get("status") == NOT_RUN]
        why = "finished, every report ok" + (
            "; not run by design: " + "; ".join(f"{n.get('name')} ({n.get('reason')})" for n in skipped) if skipped else "")
        return RunInfo(run_dir.name, run_dir, "ok", False, why, manifest)
    if failed.exists():
        return RunInfo(run_dir.name, run_dir, "failed", partial,
                       f"stopped before its reports ran: {_first_line(failed)}", None)
    if manifest_path(run_dir).exists():
        return RunInfo(run_dir.name, run_dir, "aborted", partial, "its manifest is unreadable", None)
    if _alive_here(started):
        return RunInfo(run_dir.name, run_dir, "running", partial,
                       f"still running (pid {started.get('pid')})", None)
    return RunInfo(run_dir.name, run_dir, "aborted", partial,
                   "it never finished: no manifest (killed, crashed, or its manifest was deleted)", None)


def _run_key(name: str) -> tuple[str, int, str]:
    stamp, _, n = name.partition("-")
    return stamp, int(n) if n.isdigit() else 1, n


_LOOKS_LIKE_RUN = (MANIFEST, STARTED, PARAMS, FAILED, DATA_DIRNAME, RESULTS_DIRNAME)


def list_runs(week_folder: Path) -> list[RunInfo]:
    """Every run folder of the week, oldest first, with its state (not the ``latest`` link)."""
    week_folder = Path(week_folder)
    if not week_folder.is_dir():
        return []
    found = [p for p in week_folder.iterdir()
             if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name not in _NOT_RUNS
             and re.match(r"^\d", p.name) and any((p / f).exists() for f in _LOOKS_LIKE_RUN)]
    return [run_state(p) for p in sorted(found, key=lambda p: _run_key(p.name))]


def latest_full_run(week_folder: Path) -> RunInfo | None:
    """The week's latest full successful run (state ``ok``), or None: the email's and the summary's source."""
    ok = [r for r in list_runs(week_folder) if r.state == "ok"]
    return ok[-1] if ok else None


def latest_run(week_folder: Path) -> RunInfo | None:
    """The week's latest run whatever its state (running, failed, aborted ...), or None."""
    runs = list_runs(week_folder)
    return runs[-1] if runs else None


# ---------------------------------------------------------------- the latest pointer


def read_latest(week_folder: Path) -> Path | None:
    """The run folder ``latest.json`` names (relative form, or the old absolute one), or None.

    An absolute path that no longer exists (the outputs folder was moved) is resolved by its
    run id inside ``week_folder``.
    """
    week_folder = Path(week_folder)
    obj = _read_json(week_folder / LATEST)
    if not obj:
        return None
    raw = str(obj.get("run_dir") or obj.get("run_id") or "")
    if not raw:
        return None
    p = Path(raw)
    if p.is_absolute():
        if p.is_dir():
            return p
        p = week_folder / (obj.get("run_id") or p.name)
    else:
        p = week_folder / p
    return p if p.is_dir() else None


def point_latest(week_folder: Path, run_id: str) -> None:
    """Point ``latest.json`` (relative path) and the ``latest`` symlink at ``run_id``, atomically."""
    week_folder = Path(week_folder)
    _write_json(week_folder / LATEST, {"run_id": run_id, "run_dir": run_id})
    link_tmp = week_folder / ".latest.tmp"
    link_tmp.unlink(missing_ok=True)
    try:
        link_tmp.symlink_to(run_id, target_is_directory=True)
        os.replace(link_tmp, week_folder / LATEST_LINK)
    except OSError:
        link_tmp.unlink(missing_ok=True)  # file systems without symlinks: latest.json is enough


# ---------------------------------------------------------------- links between runs


def report_href_from_run(week: str, run_id: str, report: str) -> str:
    """The relative link, from any report of a run folder, to ``report`` of run ``run_id`` of ``week``.

    Run folders are ``<outputs>/<week>/<run_id>/``, so it is ``../../<week>/<run_id>/<report>.html``.
    """
    return f"../../{week}/{run_id}/{report}.html"


def previous_full_run(week: str, outputs: Path | None = None) -> tuple[str, RunInfo] | None:
    """(previous ISO week, its latest full successful run) before ``week``, or None when it has none on record."""
    from soe_helpers.core.calendar import week_add  # pandas-backed: loaded only when a link to last week is made

    prev = week_add(week, -1)
    info = latest_full_run(week_dir(prev, outputs))
    return (prev, info) if info is not None else None


__all__ += ["report_href_from_run", "previous_full_run"]
