"""The weekly run: params and inputs validated once, every notebook executed, reports and records written.

``run_week`` is what ``soe run`` calls. In order:

1. resolve params (company file + ``--params`` + ``--set``) and validate them;
2. check every per-notebook parameter against the notebook's own ``parameters`` cell
   (papermill only warns about unknown ones: here it is an error);
3. load and validate every input table once (all problems reported together);
4. create a new run folder ``outputs/<week>/<run_id>/`` (earlier runs are never
   touched), lock the week, save the validated tables as Parquet and the params;
   build the aggregated layer (:mod:`soe_helpers.data.aggregates`: DuckDB over the Parquet, or
   pushed down to the source database and tied out) — a mismatch stops the run here;
5. execute the notebooks with papermill, independent ones in parallel (stage 1), then
   the ones that read the others' figures (stage 2, e.g. the executive summary);
6. write each notebook's HTML (input hidden), ``results.json`` and, last, ``manifest.json``
   (the run folder's layout and states belong to :mod:`soe_helpers.core.run_folder`),
   record the run in the store, and point ``outputs/<week>/latest`` at the run only
   if it ran the whole pack and every notebook succeeded. A partial run (``--only``)
   replaces the week's recorded figures of the reports it ran and no other's, and
   leaves ``latest`` on the week's latest full run.

A failing notebook leaves its executed copy with the error, the others still run, the
run is marked failed (manifest, store, exit code) and the week's "latest" pointer
keeps pointing at the last good run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Callable

import nbformat
import pandas as pd
import sqlalchemy as sa

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: WeekLock falls back to an exclusive create
    fcntl = None

from soe_helpers.data import aggregates

from soe_helpers.core import paths, run_folder
from soe_helpers.core.atomic import atomic_path, is_disk_full, write_text_atomic
from soe_helpers.core.calendar import FiscalCalendar, latest_complete_week, parse_week, week_end
from soe_helpers.report.history import write_index
from soe_helpers.report.records import SCHEMA_VERSION as RECORDS_SCHEMA_VERSION
from soe_helpers.data import needs
from soe_helpers.data.loaders import AS_OF_TABLES, DataError, LoadedTable, data_as_of, data_notes, load_tables
from soe_helpers.data.schemas import SCHEMAS
from soe_helpers.core.params import Params, ParamsError, load_params
from soe_helpers.data.sources import check_sources
from soe_helpers.core.secrets import redact, secret_values
from soe_helpers.run.execute import EXIT_DISK_FULL, descendant_pids, worker_env
from soe_helpers.store import history as store_history
from soe_helpers.store.engine import open_store

__all__ = ["RunError", "RunResult", "run_week", "discover_notebooks", "notebook_parameters",
           "check_notebook_params", "validate_inputs", "WeekLock", "STANDARD_PARAMETERS", "PACKAGES",
           "RunInterrupted", "new_run_id", "os_error_line", "disk_full_line", "SharedInputs", "link_snapshot",
           "CompanyLock", "COMPANY_LOCK_NAME", "store_company_lock"]

#: Parameters every pack notebook declares; the runner fills them.
STANDARD_PARAMETERS = ("week", "run_dir")
PACKAGES = ("pandas", "numpy", "matplotlib", "statsmodels", "papermill", "nbconvert", "sqlalchemy",
            "pydantic", "pyarrow", "duckdb", "ipykernel")


class RunError(RuntimeError):
    """The run cannot start (bad params, bad data, a locked week...): one clear message."""


class RunInterrupted(KeyboardInterrupt):
    """The runner was told to stop (SIGTERM, SIGHUP; Ctrl-C is KeyboardInterrupt itself)."""

    def __init__(self, signame: str):
        super().__init__(signame)
        self.signame = signame


@dataclass
class NotebookSpec:
    name: str
    path: Path
    stage: int
    parameters: dict


@dataclass
class RunResult:
    week: str
    run_id: str
    run_dir: Path
    status: str
    notebooks: list[dict] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class SharedInputs:
    """Inputs validated once for several runs of the same data (a backfill, :mod:`soe_helpers.run.backfill`).

    ``tables`` as :func:`validate_inputs` returns them (frames already dropped), ``as_of`` the data's as-of
    date, ``snapshot`` a folder laid out like a run folder (``data/<table>.parquet``) holding their Parquet
    once: each run links those files into its own ``data/`` (a copy where links are impossible), so every
    run folder stays self-contained.
    """

    tables: dict[str, LoadedTable]
    as_of: "dt.date"
    snapshot: Path
    load_validate_seconds: float = 0.0


def link_snapshot(shared: Path, run_dir: Path, name: str) -> None:
    """Put ``shared``'s Parquet of table ``name`` into ``run_dir``: a hard link, or a copy where none is possible."""
    src, dest = run_folder.table_path(shared, name), run_folder.table_path(run_dir, name)
    try:
        os.link(src, dest)
    except OSError:  # another file system, or links not allowed: the run folder gets its own copy
        import shutil  # only on this fallback

        with run_folder.atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)


# ---------------------------------------------------------------- notebooks


def discover_notebooks(nb_dir: Path | None = None, only: list[str] | None = None) -> list[Path]:
    nb_dir = nb_dir or paths.notebooks_dir()
    found = sorted(p for p in nb_dir.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    if only:
        names = {p.stem: p for p in found}
        missing = [o for o in only if Path(o).stem not in names]
        if missing:
            raise RunError(f"--only: no notebook named {', '.join(missing)} in {nb_dir}; "
                           f"available: {', '.join(names)}")
        found = [names[Path(o).stem] for o in only]
    if not found:
        raise RunError(f"no notebooks found in {nb_dir}")
    return found


def notebook_parameters(path: Path) -> dict:
    """The notebook's declared parameters (papermill.inspect_notebook): name -> info."""
    import papermill as pm

    return pm.inspect_notebook(str(path))


def _stage(path: Path) -> int:
    nb = nbformat.read(str(path), as_version=4)
    return int(nb.metadata.get("soe", {}).get("stage", 1))


def check_notebook_params(params: Params, notebooks: list[Path]) -> list[NotebookSpec]:
    """Check ``params.notebooks`` against each notebook's parameters cell; build run specs.

    Raises RunError naming any parameter no notebook declares, or an unknown notebook.
    """
    problems = []
    declared = {p.stem: notebook_parameters(p) for p in notebooks}
    all_names = {p.stem for p in discover_notebooks(notebooks[0].parent)} if notebooks else set()
    for nb_name, values in params.notebooks.items():
        if nb_name not in all_names:
            problems.append(f"notebooks.{nb_name}: there is no notebook {nb_name}.ipynb "
                            f"(notebooks: {', '.join(sorted(all_names))})")
            continue
        if nb_name not in declared:
            continue  # not part of this run (--only)
        for key in values or {}:
            if key in STANDARD_PARAMETERS:
                problems.append(f"notebooks.{nb_name}.{key}: set by the runner, not by params")
            elif key not in declared[nb_name]:
                problems.append(f"notebooks.{nb_name}.{key}: {nb_name}.ipynb declares no parameter {key!r} "
                                f"(it declares: {', '.join(declared[nb_name]) or 'none'})")
    for name, decl in declared.items():
        missing = [k for k in STANDARD_PARAMETERS if k not in decl]
        if missing:
            problems.append(f"{name}.ipynb: its parameters cell must declare {', '.join(missing)}")
    if problems:
        raise RunError("notebook parameters are invalid; nothing was run:\n" + "\n".join(f"  - {p}" for p in problems))
    return [NotebookSpec(p.stem, p, _stage(p), dict(params.notebooks.get(p.stem, {}) or {})) for p in notebooks]


# ---------------------------------------------------------------- week lock


class WeekLock:
    """An exclusive lock on a week's output folder: a second run of the same week is refused.

    ``fcntl.flock`` on ``<week>/.lock``, held on an open file for the whole run: the OS releases
    it when the holder exits or is killed, so there is no stale lock to detect and no window in
    which two starters both see one as stale. The file is never deleted (deleting a locked file
    would let a newcomer lock a fresh inode beside the holder); it holds the holder's pid, for
    the message. Where ``flock`` is unavailable (Windows), an exclusive create is the fallback.
    """

    def __init__(self, week_dir: Path):
        self.path = week_dir / ".lock"
        self._fd: int | None = None

    def __enter__(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(os_error_line(e, self.path)) from None
        if fcntl is None:  # pragma: no cover
            os.close(fd)
            return self._enter_exclusive_create()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunError(f"another run of this week is in progress (pid {holder}, lock {self.path}); "
                           "wait for it to finish") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def _enter_exclusive_create(self):  # pragma: no cover - Windows: the OS deletes nothing for a dead holder
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise RunError(f"another run of this week is in progress (lock {self.path}); wait for it to "
                           "finish, or delete the lock file if no run is going") from None
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return self

    def __exit__(self, *exc):
        if self._fd is None:  # pragma: no cover - Windows fallback
            self.path.unlink(missing_ok=True)
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # releases the flock
        self._fd = None


# ---------------------------------------------------------------- company lock (a backfill against single runs)

#: The lock file in a company's outputs folder that a backfill holds exclusively, and every single run shared.
COMPANY_LOCK_NAME = ".run.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    return True


def _week_holders(outputs: Path) -> list[str]:
    """'2026-W47 (pid 123)' for every week of ``outputs`` whose lock file names a live process."""
    out = []
    for lock in sorted(outputs.glob("*/.lock")):
        try:
            pid = lock.read_text().strip()
        except OSError:
            continue
        if pid.isdigit() and _pid_alive(int(pid)) and int(pid) != os.getpid():
            out.append(f"{lock.parent.name} (pid {pid})")
    return out


class CompanyLock:
    """The lock on a company's outputs and store (``<outputs>/.run.lock``): a backfill holds it exclusively
    for its whole range, each single ``soe run`` shared for its week. So single runs of different weeks run
    side by side (each week has its own :class:`WeekLock`), while a second backfill, or a single run started
    during a backfill, or a backfill started during a single run, is refused at once with who holds it.

    A starter first :meth:`probe` s the lock (refused at once, nothing written), then takes it before its
    first write. ``fcntl.flock`` as :class:`WeekLock`: the OS releases the lock of a holder that dies. The
    exclusive holder writes ``{"pid", "started_at", "weeks"}`` into the file and empties it when done; a
    file still naming a dead process (a backfill killed with SIGKILL) is a stale lock, taken over with a
    note. Where ``flock`` is unavailable (Windows), an exclusive create is the fallback (single runs then
    only check that no live backfill holds the file).

    A store on a server shared by several machines (PostgreSQL) gets the same lock there
    (:meth:`soe_helpers.store.engine.Store.company_lock`).
    """

    def __init__(self, outputs: Path, exclusive: bool, weeks: str = "", progress: Callable[[str], None] = print):
        self.outputs, self.exclusive, self.weeks, self.progress = Path(outputs), exclusive, weeks, progress
        self.path = self.outputs / COMPANY_LOCK_NAME
        self._fd: int | None = None
        self._created = False

    def _holder(self, raw: str) -> dict | None:
        try:
            info = json.loads(raw)
        except ValueError:
            return None
        return info if isinstance(info, dict) and str(info.get("pid", "")).isdigit() else None

    def _busy(self, info: dict | None) -> RunError:
        if info is not None:
            return RunError(f"a backfill of this company is in progress (pid {info['pid']}, started at "
                            f"{info.get('started_at', '?')}, weeks {info.get('weeks', '?')}; lock {self.path}): "
                            "wait for it to finish (it runs every week of its range), then start again")
        if self.exclusive:
            runs = _week_holders(self.outputs)
            return RunError(f"a run of this company is in progress ({', '.join(runs) or 'starting'}; lock "
                            f"{self.path}): wait for it to finish, then start the backfill")
        return RunError(f"a backfill of this company is starting (lock {self.path}): wait for it to finish")

    def _stale_note(self, raw: str) -> None:
        info = self._holder(raw)
        if info is not None and int(info["pid"]) != os.getpid():
            self.progress(f"Note: took over a stale lock {self.path}: the backfill that held it (pid {info['pid']}, "
                          f"started at {info.get('started_at', '?')}, weeks {info.get('weeks', '?')}) is no longer "
                          "running; its unfinished week, if any, is marked aborted when that week runs again.")

    def probe(self) -> None:
        """Raise the :class:`RunError` :meth:`__enter__` would, without creating or writing anything: a
        starter checks here before reading its inputs, and takes the lock before its first write."""
        if fcntl is None:
            raw = self.path.read_text().strip() if self.path.exists() else ""
            info = self._holder(raw)
            if raw and (info is None or _pid_alive(int(info["pid"]))):
                raise self._busy(info)
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file yet (or unreadable): nothing holds it; __enter__ says the rest
            return
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._busy(self._holder(os.pread(fd, 4096, 0).decode(errors="replace").strip())) from None
        finally:
            os.close(fd)  # closing releases a lock the probe took

    def _content(self) -> bytes:
        return (json.dumps({"pid": os.getpid(), "started_at": _utc(), "weeks": self.weeks}) + "\n").encode()

    def __enter__(self):
        try:
            self.outputs.mkdir(parents=True, exist_ok=True)
            if fcntl is None:
                return self._enter_without_flock()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(os_error_line(e, self.path)) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            os.close(fd)
            raise self._busy(self._holder(raw)) from None
        except OSError:
            os.close(fd)
            raise
        raw = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if raw:  # we hold the lock, so whoever wrote this is gone: a killed backfill
            self._stale_note(raw)
            os.ftruncate(fd, 0)
        if self.exclusive:
            os.pwrite(fd, self._content(), 0)
        self._fd = fd
        return self

    def _enter_without_flock(self):
        """No ``flock`` (Windows): the file exists while a backfill runs; a dead holder's file is taken over."""
        for _ in range(2):
            try:
                raw = self.path.read_text().strip()
            except FileNotFoundError:
                raw = None
            if raw is not None:
                info = self._holder(raw)
                if info is None or _pid_alive(int(info["pid"])):
                    raise self._busy(info)
                self._stale_note(raw)
                self.path.unlink(missing_ok=True)
            if not self.exclusive:
                return self
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue  # another starter created it in between: look again
            os.write(fd, self._content())
            os.close(fd)
            self._created = True
            return self
        raise self._busy(None)

    def __exit__(self, *exc):
        if self._fd is None:
            if self._created:
                self.path.unlink(missing_ok=True)
            return
        if self.exclusive:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
        os.close(self._fd)  # releases the flock
        self._fd = None


@contextlib.contextmanager
def store_company_lock(params: Params, exclusive: bool):
    """:meth:`Store.company_lock <soe_helpers.store.engine.Store.company_lock>` when the store is on a shared
    PostgreSQL server (machines sharing it); nothing to hold for the local SQLite file (the lock file does)."""
    url = os.environ.get(params.store.url_env or "") or ""
    if not url.startswith("postgresql"):
        yield
        return
    try:
        store = open_store(params)
    except OSError as e:
        raise RunError(os_error_line(e)) from None
    with store.company_lock(exclusive):
        yield


# ---------------------------------------------------------------- inputs


def validate_inputs(params: Params, notebooks: list[str] | None = None) -> tuple[dict[str, LoadedTable], "dt.date"]:
    """Load and validate every present table once (only those ``notebooks`` may read, and the tables that
    date the data, when given: ``--only``); return them and the data's as-of date."""
    names = None if notebooks is None else [t for t in SCHEMAS if t in set(needs.tables_for(notebooks)) | set(AS_OF_TABLES)]
    tables = load_tables(params, names)
    frames = {n: lt.frame for n, lt in tables.items()}
    as_of = params.data.as_of or data_as_of(frames).date()
    return tables, as_of


def _resolve_week(week: str | None, as_of) -> str:
    latest = latest_complete_week(as_of)
    if not week:
        return latest
    try:
        parse_week(week)
    except ValueError as e:
        raise RunError(str(e)) from None
    if week_end(week).date() > (as_of if isinstance(as_of, dt.date) else as_of.date()):
        raise RunError(f"week {week} is not complete in the data: it ends {week_end(week).date()}, "
                       f"the data runs to {as_of}; the latest complete week is {latest}")
    return week


def _forecasts_with_history(store, lt: LoadedTable, week: str, as_of, run_id: str,
                            progress: Callable[[str], None]) -> None:
    """Replace the loaded forecasts by what the reports read: the export (stamped with the data's week when it
    has no snapshot weeks) and the snapshots earlier runs kept (:func:`store_history.forecasts_for_run`)."""
    current = latest_complete_week(as_of)
    stamped = bool(len(lt.frame)) and lt.frame["snapshot_week"].isna().all()
    frame, left_out, _ = store_history.forecasts_for_run(store, lt.frame, week, current, run_id)
    if stamped:
        progress(f"Forecasts: the export has no snapshot week, so it is the forecast made in {current}"
                 + (f"; {left_out:,} of its rows forecast that week or earlier and are left out" if left_out else ""))
    added = len(frame) - len(lt.frame) + left_out
    if added:
        progress(f"Forecasts: {added:,} rows of earlier snapshots from the store's forecast history")
    lt.frame = frame


# ---------------------------------------------------------------- manifest helpers


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=paths.repo_root(), capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _code_version() -> dict:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": _git("rev-parse", "HEAD"), "git_dirty": bool(dirty),
            "soe_version": _pkg_version("soe-suite")}


def _pkg_version(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


new_run_id = run_folder.new_run_id  # the run folder owns the id (tests and soe send read it)


def _new_run_dir(week_dir: Path) -> tuple[str, Path]:
    return run_folder.new_run_dir(week_dir)


def _utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- execution


class DiskFull(RunError):
    """A worker (or the runner) could not write a file for lack of space."""


def _execute(specs: list[NotebookSpec], run_dir: Path, week: str, params: Params, run_id: str, as_of,
             progress: Callable[[str], None], total: int, done_count: list[int], launch=None,
             html: bool = True, expected_seconds: dict[str, float] | None = None) -> list[dict]:
    """Run notebooks as worker processes, at most ``max_parallel`` at once, each with a time limit.

    Every worker holds the read end of one pipe whose write end only this process holds: when the
    runner dies or leaves this function (done, interrupted, failed), the pipe closes and every
    worker kills its kernel and itself (:func:`soe_helpers.run.execute.watch_runner`); the workers
    still running are also killed here, at once. A worker that reports a full disk stops the run.

    ``launch(spec_path, log_path)``, when given, hands a notebook to a kept worker instead (a backfill's
    warm kernels, :class:`soe_helpers.run.backfill.WarmWorkers`) and returns a handle that polls and is
    killed as a worker process is; ``html=False`` writes no HTML. ``expected_seconds`` (a backfill passes
    the previous week's) starts the longest notebooks first, so the last to finish is a short one.
    """
    max_par = params.run.max_parallel or os.cpu_count() or 1
    limit = params.run.timeout_seconds
    pending = sorted(specs, key=lambda s: -(expected_seconds or {}).get(s.name, 0.0))  # stable: else as given
    running: dict[str, tuple[subprocess.Popen, float, NotebookSpec, dict]] = {}
    statuses: list[dict] = []
    work = run_dir / ".work"
    work.mkdir(exist_ok=True)
    title_of = lambda s: s.name.replace("_", " ").capitalize()  # noqa: E731
    lifeline_r, lifeline_w = os.pipe()  # both ends non-inheritable; the read end is passed to workers explicitly
    env = worker_env(lifeline_r)
    try:
        while pending or running:
            while pending and len(running) < max_par:
                s = pending.pop(0)
                spec = {
                    "name": s.name,
                    "input": str(s.path),
                    "output": str(run_dir / f"{s.name}.ipynb"),
                    "partial": str(work / f"{s.name}.ipynb"),
                    "html": str(run_dir / f"{s.name}.html"),
                    "write_html": html,
                    "status": str(work / f"{s.name}.status.json"),
                    "kernel": params.run.kernel,
                    "cwd": str(s.path.parent),
                    "log_output": params.run.log_output,
                    "parameters": {"week": week, "run_dir": str(run_dir), **s.parameters},
                    "header": {"title": _title(s.path) or title_of(s), "company": params.company.name,
                               "week": week, "as_of": str(as_of), "generated": _utc(), "run_id": run_id},
                }
                spec_path = work / f"{s.name}.spec.json"
                write_text_atomic(spec_path, json.dumps(spec))
                if launch is not None:
                    proc = launch(spec_path, work / f"{s.name}.log")
                else:
                    with open(work / f"{s.name}.log", "w") as log:
                        proc = subprocess.Popen([sys.executable, "-m", "soe_helpers.run.execute", str(spec_path)],
                                                env=env, start_new_session=True, pass_fds=(lifeline_r,),
                                                stdout=log, stderr=subprocess.STDOUT)
                running[s.name] = (proc, time.perf_counter(), s, spec)
                progress(f"  started  {s.name}")
            time.sleep(0.2)
            for name in list(running):
                proc, t0, s, spec = running[name]
                elapsed = time.perf_counter() - t0
                rc = proc.poll()
                if rc is None and elapsed <= limit:
                    continue
                if rc is None:  # past its time limit: stop it and its kernel
                    _kill_group(proc)
                    _keep_partial_notebook(Path(spec["partial"]), Path(spec["output"]))
                    st = {"name": name, "status": "failed",
                          "error": f"timed out after {limit}s (run.timeout_seconds)",
                          "execute_seconds": round(elapsed, 3)}
                else:
                    st = _worker_status(name, rc, Path(spec["status"]), work)
                del running[name]
                if st["status"] != "ok" and Path(spec["html"]).exists():
                    Path(spec["html"]).unlink()  # a failed notebook never publishes a partial report
                if st.get("disk_full"):
                    raise DiskFull(disk_full_line(st["disk_full"]))
                st["seconds"] = round(elapsed, 3)
                st["stage"] = s.stage
                st["ipynb"] = Path(spec["output"]).name if Path(spec["output"]).exists() else None
                st["html"] = Path(spec["html"]).name if st["status"] == "ok" and html else None
                statuses.append(st)
                done_count[0] += 1
                mark = "ok" if st["status"] == "ok" else "FAILED"
                extra = "" if st["status"] == "ok" else f" — {st.get('error')}"
                progress(f"[{done_count[0]}/{total}] {mark:6s} {name} ({st['seconds']:.1f}s){extra}")
    finally:
        os.close(lifeline_w)  # every worker still alive sees end-of-file and kills its kernel and itself
        for proc, *_ in running.values():
            _kill_group(proc)
        os.close(lifeline_r)
    return statuses


def _worker_status(name: str, rc: int, path: Path, work: Path) -> dict:
    """The status a finished worker wrote; a failure record when it wrote none or an unreadable one."""
    log = work / f"{name}.log"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        problem = "before reporting"
    except (OSError, ValueError):
        problem = f"leaving an unreadable status file {path}"
    if rc == EXIT_DISK_FULL:
        return {"name": name, "status": "failed", "disk_full": str(path)}
    return {"name": name, "status": "failed", "error": f"worker exited with code {rc} {problem}; see {log}"}


def _keep_partial_notebook(partial: Path, output: Path) -> None:
    """Publish a timed-out notebook's last saved copy (the audit record of where it hung), if it is whole."""
    try:
        nbformat.reads(partial.read_text(), as_version=4)
        with atomic_path(output) as tmp:
            os.replace(partial, tmp)
    except Exception:  # noqa: BLE001 - killed mid-save: no executed copy rather than a torn one
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill a worker, its process group and its kernel (which jupyter_client starts in a session of its own)."""
    for pid in descendant_pids(proc.pid):
        for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait(timeout=30)


def disk_full_line(filename: str | os.PathLike) -> str:
    """The one line a run stopped by a full disk reports."""
    f = Path(filename)
    return f"disk full while writing {f}: free space in {f.parent} and re-run"


def os_error_line(e: OSError, fallback: str | os.PathLike | None = None) -> str:
    """One plain line for a file-system error of the run: which file, what happened, what to do."""
    f = e.filename or fallback or "a file of the run"
    if is_disk_full(e):
        return disk_full_line(f)
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"cannot write {f}: {e.strerror or 'permission denied'}; the outputs folder {paths.outputs_dir()} "
                "must be writable (or set SOE_OUTPUTS to a folder that is) - nothing of this run was published")
    return f"cannot write {f}: {e.strerror or e}"


def _check_writable(folder: Path) -> None:
    """Refuse to start, in one line, when ``folder`` (or the ancestor it would be made in) cannot be written."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise RunError(os_error_line(PermissionError(errno.EACCES, "read-only or not writable", str(probe))))


@contextlib.contextmanager
def _stop_on_signals():
    """SIGTERM and SIGHUP stop the run as Ctrl-C does (workers killed, run recorded as aborted)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise RunInterrupted(signal.Signals(signum).name)

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    before = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, h in before.items():
            signal.signal(sig, h)


def _title(path: Path) -> str | None:
    """The notebook's first markdown heading, used as the report title."""
    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


class _RunGuard:
    """Whatever stops a started run (a signal, a full or read-only disk, the store failing, a bug) is recorded.

    The run is marked in the store (``aborted`` when interrupted, else ``failed``) with one plain
    line, the line is written to the run folder's ``FAILED``, and the analysts' failure notice is
    attempted; a file-system or store error then surfaces as a one-line :class:`RunError`. Each of
    these steps may itself fail (the disk is full): the others are still tried. A run folder made
    before the store could record the run is removed again when still empty.
    """

    def __init__(self, store, week: str, params: Params, progress: Callable[[str], None]):
        self.store, self.week, self.params, self.progress = store, week, params, progress
        self.build_email = None  # the deliver layer's failure notice, when soe run passes it
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self.recorded = False
        self.started: str | None = None

    def __enter__(self):
        return self

    def __exit__(self, etype, e, tb):
        if e is None or isinstance(e, RunError) and not isinstance(e, DiskFull):
            return False  # RunError of the run itself (aggregates) already recorded its failure
        if isinstance(e, KeyboardInterrupt):
            sig = getattr(e, "signame", "SIGINT")
            line, status = f"interrupted by {sig}: the run was stopped and its reports are not published", "aborted"
        elif isinstance(e, DiskFull):
            line, status = str(e), "failed"
        elif isinstance(e, OSError):
            line, status = os_error_line(e), "failed"
        elif isinstance(e, sa.exc.SQLAlchemyError) and "disk is full" in str(e):  # SQLite: database or disk is full
            line, status = disk_full_line(self.store.engine.url.database or "the store"), "failed"
        elif isinstance(e, sa.exc.SQLAlchemyError):
            first = (str(e).splitlines() or [type(e).__name__])[0]
            line, status = f"the store {self.store.display_url} failed during the run: {first}", "failed"
        else:
            line, status = f"the run stopped on an unexpected error: {type(e).__name__}: {e}", "failed"
        self._record(line, status)
        self.progress(f"FAILED run — {line}")
        if isinstance(e, (OSError, sa.exc.SQLAlchemyError)):
            raise RunError(line) from None
        return False  # interrupts and bugs propagate as they are, now recorded

    def _record(self, line: str, status: str) -> None:
        if self.run_dir is None:
            return
        if not self.recorded:  # the store never knew this run: leave no empty folder behind
            with contextlib.suppress(OSError):
                run_folder.started_path(self.run_dir).unlink(missing_ok=True)
                if not any(self.run_dir.iterdir()):
                    self.run_dir.rmdir()
            return
        with contextlib.suppress(Exception):
            write_text_atomic(self.run_dir / "FAILED", f"This run did not finish; nothing was published:\n{line}\n")
        with contextlib.suppress(Exception):
            self.store.finish_run(self.run_id, status, {"error": line, "notebooks": []})
        if status == "failed":
            self._failure_notice(line)

    def _failure_notice(self, line: str) -> None:
        try:  # the analysts' notice; on a full disk it may not fit either, which must not hide the line
            if self.build_email is None:
                return
            manifest = {"run_id": self.run_id, "week": self.week, "status": "failed",
                        "company": self.params.company.name, "started_at": self.started, "finished_at": _utc(),
                        "notebooks": [{"name": "run", "status": "failed", "error": line}]}
            self.build_email(self.run_dir, manifest, self.params, expected=[])
        except Exception:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self.progress("  (the failure notice could not be written either)")


def run_week(
    week: str | None = None,
    data_dir: str | Path | None = None,
    param_files: list[str | Path] | None = None,
    sets: list[str] | None = None,
    only: list[str] | None = None,
    notebooks_dir: Path | None = None,
    progress: Callable[[str], None] = lambda m: print(m, flush=True),
    argv: list[str] | None = None,
    build_email: Callable[..., dict] | None = None,
    inputs: SharedInputs | None = None,
    launch=None,
    html: bool = True,
    expected_seconds: dict[str, float] | None = None,
    company_lock: bool = True,
) -> RunResult:
    """Run the weekly pack for one ISO week. See the module docstring.

    The run holds its company's lock shared (:class:`CompanyLock`): while a backfill of the same company
    is in progress it is refused at once (before the inputs are read) naming the backfill; a backfill holds
    the lock itself and passes ``company_lock=False`` for its weeks.

    A backfill (:mod:`soe_helpers.run.backfill`) passes ``inputs`` it validated once for every week,
    ``launch`` to execute on its warm kernels, ``html=False`` for ``--no-html``, and ``expected_seconds``
    per notebook (the previous week's) to start the longest first.

    Raises:
        RunError / ParamsError / DataError before anything runs when params, notebook
        parameters or inputs are invalid (nothing is written then).
    Returns:
        RunResult with status "ok" or "failed" (failed notebooks named in ``notebooks``).
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    files = list(param_files or [])
    params = check_sources(load_params(files, sets, data_dir))
    company = CompanyLock(params.outputs_dir(), exclusive=False, progress=progress) if company_lock else None
    if company is not None:
        company.probe()  # a backfill in progress: refused now, not after the inputs are read
    nbs = discover_notebooks(notebooks_dir, only)
    specs = check_notebook_params(params, nbs)
    timings["params_seconds"] = round(time.perf_counter() - t_start, 3)

    t0 = time.perf_counter()
    if inputs is None:
        progress(f"Validating inputs in {params.data_dir()} ...")
        tables, as_of = validate_inputs(params, [s.name for s in specs] if only else None)
        timings["load_validate_seconds"] = round(time.perf_counter() - t0, 3)
    else:  # validated once for the whole backfill
        tables, as_of = inputs.tables, inputs.as_of
        timings["load_validate_seconds"] = inputs.load_validate_seconds
        timings["inputs_shared"] = True
    week = _resolve_week(week, as_of)
    cal = FiscalCalendar.from_params(params.calendar)
    progress(f"Inputs valid: {sum(lt.rows for lt in tables.values()):,} rows in {len(tables)} tables "
             f"({timings['load_validate_seconds']:.1f}s); week {week} ({cal.quarter_of(week)}), data as of {as_of}")

    # Tables by need: a report whose tables the company does not have is not run ("needs cash, bills").
    to_run, not_run = needs.plan_reports([s.name for s in specs], tables)
    for name, why in not_run.items():
        progress(f"Not run: {name} ({why})")
    week_dir = run_folder.week_dir(week, params.outputs_dir())
    pack = [p.stem for p in discover_notebooks(notebooks_dir)]
    partial = set(s.name for s in specs) != set(pack)  # an --only run: adds to the week's records, never "latest"
    _check_writable(params.outputs_dir())  # before the store, which may live in the same folder
    try:
        store = open_store(params)  # an unreachable store stops the run here, before any run folder exists
    except OSError as e:
        raise RunError(os_error_line(e)) from None
    guard = _RunGuard(store, week, params, progress)
    guard.build_email = build_email
    with _stop_on_signals(), company or contextlib.nullcontext(), \
            store.company_lock(exclusive=False) if company else contextlib.nullcontext(), \
            WeekLock(week_dir), store.week_lock(week), guard:
        run_id, run_dir = _new_run_dir(week_dir)
        guard.run_id, guard.run_dir = run_id, run_dir
        run_folder.write_started(run_dir, week, [s.name for s in specs], partial)
        aborted = store.mark_aborted(week)
        if aborted:
            progress(f"Note: {aborted} earlier run(s) of {week} had been killed mid-way; marked aborted.")
        store.start_run(run_id, week, run_dir)
        guard.recorded = True
        started = guard.started = _utc()
        t0 = time.perf_counter()
        data_out = run_folder.data_dir(run_dir)
        data_out.mkdir()
        week_tables = dict(tables)
        if "forecasts" in tables:  # this week's snapshot kept; the reports read it with the ones kept before
            fc = dataclasses.replace(tables["forecasts"])  # a week's own: a backfill's shared inputs stay as loaded
            if fc.frame is None and inputs is not None:  # a backfill dropped the frames after its shared snapshot
                fc.frame = pd.read_parquet(run_folder.table_path(inputs.snapshot, "forecasts"))
            _forecasts_with_history(store, fc, week, as_of, run_id, progress)
            week_tables["forecasts"] = fc
            if inputs is None:
                tables["forecasts"].frame = None  # the week's copy is written below; the loaded one is not needed
        for name, lt in week_tables.items():
            if inputs is not None and name != "forecasts":  # forecasts: this week's union with the store's history
                link_snapshot(inputs.snapshot, run_dir, name)
                continue
            with run_folder.atomic_path(run_folder.table_path(run_dir, name)) as tmp:
                lt.frame.to_parquet(tmp, index=False)
            lt.frame = None  # notebooks read the Parquet; the runner need not hold millions of rows meanwhile
        import gc

        gc.collect()
        run_folder.write_meta(run_dir, as_of, week, not_run, data_notes(tables))
        run_folder.write_atomic(run_folder.params_path(run_dir), params.to_json())
        (run_dir / run_folder.RESULTS_DIRNAME).mkdir()
        timings["snapshot_seconds"] = round(time.perf_counter() - t0, 3)

        # The aggregated layer (booked_weekly, shipped_weekly, ar_ageing ...): DuckDB over the snapshot,
        # or pushed down to the source database and tied out against DuckDB's; a mismatch stops the run here.
        t0 = time.perf_counter()
        try:
            agg_info = aggregates.build(data_out, params, {n: lt.headers for n, lt in tables.items()},
                                        week_end(week), progress)
        except Exception as e:  # noqa: BLE001 - no report may run on aggregates that do not tie out
            if is_disk_full(e):
                raise  # the run's guard reports a full disk in its one line
            msg = str(e) if isinstance(e, aggregates.TieOutError) else \
                f"the aggregates could not be built: {type(e).__name__}: {e}"
            run_folder.write_failed(run_dir, f"This run stopped before any report ran:\n{msg}\n")
            store.finish_run(run_id, "failed", {"error": msg.splitlines()[0], "notebooks": []})
            raise RunError(msg) from None
        timings["aggregate_seconds"] = round(time.perf_counter() - t0, 3)
        progress("Aggregates: " + ", ".join(f"{n} {i['rows']:,} rows on {i['engine']}" for n, i in agg_info.items())
                 + f" ({timings['aggregate_seconds']:.1f}s)")

        runnable = [s for s in specs if s.name in to_run]
        progress(f"Running {len(runnable)} notebook(s) into {run_dir}"
                 + (f" ({len(not_run)} not run: they need tables the company does not have)" if not_run else ""))
        statuses: list[dict] = [{**run_folder.not_run_status(s.name, not_run[s.name]), "stage": s.stage}
                                for s in specs if s.name in not_run]
        done = [0]
        for stage in sorted({s.stage for s in runnable}):
            stage_specs = [s for s in runnable if s.stage == stage]
            statuses += _execute(stage_specs, run_dir, week, params, run_id, as_of, progress, len(runnable), done,
                                 launch, html, expected_seconds)

        figures = {}
        for p in sorted((run_dir / run_folder.RESULTS_DIRNAME).glob("*.json")):
            figures[p.stem] = json.loads(p.read_text())
        run_folder.write_atomic(run_folder.results_path(run_dir),
                                json.dumps({"schema_version": RECORDS_SCHEMA_VERSION, **figures}, indent=2, sort_keys=True))

        failed = [s for s in statuses if not run_folder.counts_as_done(s)]  # "not run" by design is no failure
        status = "failed" if failed else "ok"
        by_name = {s["name"]: s for s in statuses}
        nb_records = [by_name[s.name] for s in specs]
        manifest = {
            "run_id": run_id,
            "week": week,
            "quarter": cal.quarter_of(week),
            "status": status,
            "partial": partial,
            "company": params.company.name,
            "data_as_of": str(as_of),
            "started_at": started,
            "finished_at": _utc(),
            "duration_seconds": round(time.perf_counter() - t_start, 3),
            "timings": timings,
            "command": argv or [],
            "params": json.loads(params.to_json()),
            "overrides": list(sets or []),
            "param_files": [str(f) for f in files],
            "inputs": {
                n: {"origin": lt.origin, "path": str(lt.path) if lt.path else None, "sha256": lt.sha256,
                    "rows": lt.rows, "bytes": lt.path.stat().st_size if lt.path else None}
                for n, lt in tables.items()
            },
            "aggregates": agg_info,
            "code": _code_version(),
            "python": platform.python_version(),
            "packages": {p: _pkg_version(p) for p in PACKAGES},
            "kernel": params.run.kernel,
            "store": store.display_url,
            "notebooks": nb_records,
        }
        try:  # email/leadership.eml for a complete good run, else email/failure_notice.eml (analysts only)
            manifest["email"] = build_email(run_dir, manifest, params, expected=pack) if build_email else \
                {"skipped": "no email builder given (soe run passes the deliver layer's)"}
        except Exception as e:  # noqa: BLE001 - an email that cannot be built fails the run, never crashes it
            manifest["email"] = {"error": redact(f"the email could not be built: {type(e).__name__}: {e}",
                                                 secret_values(params))}
        if manifest["email"].get("error"):
            failed.append({"name": "email", "status": "failed", "error": manifest["email"]["error"]})
            status = manifest["status"] = "failed"
            progress(f"FAILED email — {manifest['email']['error']}")
        if status != "ok":  # the marker first: a run folder with a manifest and no marker is a good run
            run_folder.write_failed(run_dir,
                "This run failed; its reports are incomplete and were not published:\n"
                + "\n".join(f"- {s['name']}: {s.get('error')}" for s in failed) + "\n")
        run_folder.write_manifest(run_dir, manifest)  # written last: the run folder now says "finished"
        # one transaction: the run's status and, only if ok, its held store writes and (a full run) its figures
        store.finish_run(run_id, status, {"notebooks": [{k: s.get(k) for k in ("name", "status", "error", "seconds")}
                                                         for s in nb_records]},
                         figures=figures if status == "ok" and not partial else None)
        if status == "ok" and partial:  # adds the reports it ran to the week's records; "latest" stays put
            store.replace_sections(week, run_id, figures)
        elif status == "ok":
            run_folder.point_latest(week_dir, run_id)
    try:  # the history page lists every week; a page that cannot be written does not undo the run
        write_index(params.outputs_dir(), params.company.name, params.company.currency_symbol)
    except OSError as e:
        progress(f"Note: outputs/index.html could not be rewritten: {e}")
    return RunResult(week, run_id, run_dir, status, nb_records, manifest)


def latest_run_dir(week: str, outputs: Path | None = None) -> Path | None:
    """The last full good run of ``week`` (None when the week has none); see :mod:`soe_helpers.core.run_folder`."""
    info = run_folder.latest_full_run(run_folder.week_dir(week, outputs))
    return info.path if info else None


__all__ += ["latest_run_dir", "ParamsError", "DataError"]
