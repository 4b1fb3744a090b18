"""``soe run --from 2025-W48 --to 2026-W47``: every week of a range, in order, as if the pack had run each Monday.

Each week is a normal run (:func:`soe_helpers.run.runner.run_week`: its own run folder, lock, store
records, ``latest`` pointer and email), so the store ends up holding the KPI, action, forecast-snapshot
and event history of every week. What a backfill does once instead of once per week:

1. load and validate the inputs (:func:`~soe_helpers.run.runner.validate_inputs`), and check that every
   week of the range is complete in the data, before anything is written;
2. write the validated tables as Parquet once, into a scratch folder of the outputs; each week's run
   folder gets hard links to those files (its own copy where links are impossible), so each stays
   self-contained and the same data is not written 52 times;
3. keep one kernel per notebook warm across the weeks (:class:`WarmWorkers`): third-party imports stay
   loaded; before each notebook the kernel's namespace is made that of a new kernel
   (:data:`soe_helpers.run.execute.FRESH_NAMESPACE`). ``--fresh-kernels`` runs each notebook in a new
   kernel, exactly as ``soe run`` does.

A week whose latest full run holds the same inputs (each table's SHA-256) and params is skipped, and the
progress says so: an interrupted backfill, run again, resumes where it stopped (``--force`` redoes every
week). The first week that fails stops the backfill (exit 1): the later weeks would otherwise be built on
a history missing that week.

Progress goes to stderr: one plain line per week, with the time it took and the ETA (cron logs read
well); on a terminal the current week's notebooks are also shown on a line that updates in place.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from soe_helpers.core import paths, run_folder
from soe_helpers.core.calendar import latest_complete_week, parse_week, week_end, week_ordinal, week_range
from soe_helpers.core.params import Params, load_params
from soe_helpers.data.loaders import LoadedTable
from soe_helpers.data.sources import check_sources
from soe_helpers.run.execute import EXIT_DISK_FULL, worker_env
from soe_helpers.run.runner import (CompanyLock, RunError, RunResult, SharedInputs, _check_writable, _kill_group,
                                    _stop_on_signals, run_week, store_company_lock, validate_inputs)

__all__ = ["backfill", "backfill_weeks", "same_inputs", "WarmWorkers", "BackfillResult", "WeekOutcome",
           "Progress", "SNAPSHOT_DIRNAME"]

#: Scratch folder of the outputs holding a running backfill's shared Parquet snapshot (one per backfill).
SNAPSHOT_DIRNAME = ".backfill"


def backfill_weeks(first: str, last: str) -> list[str]:
    """Every ISO week from ``first`` to ``last``, both included (2026 has 53 weeks: 2026-W53 is one of them).

    Raises RunError for a label that is not a week, or ``last`` before ``first``.
    """
    for flag, label in (("--from", first), ("--to", last)):
        try:
            parse_week(label)
        except ValueError as e:
            raise RunError(f"{flag}: {e}") from None
    if week_ordinal(last) < week_ordinal(first):
        raise RunError(f"--to {last} is before --from {first}: give the earlier week to --from")
    return week_range(first, last)


def same_inputs(week: str, tables: dict[str, LoadedTable], params: Params, outputs: Path | None = None
                ) -> tuple[bool, str]:
    """Whether ``week``'s latest full run holds these inputs (every table's SHA-256) and params; and why.

    Returns ``(True, "...")`` when the week can be skipped, else ``(False, reason)``.
    """
    info = run_folder.latest_full_run(run_folder.week_dir(week, outputs))
    if info is None:
        return False, "no full run yet"
    manifest = info.manifest or run_folder.read_manifest(info.path) or {}
    had = {n: (v or {}).get("sha256") for n, v in (manifest.get("inputs") or {}).items()}
    now = {n: lt.sha256 for n, lt in tables.items()}
    if had != now:
        changed = sorted(n for n in set(had) | set(now) if had.get(n) != now.get(n))
        return False, f"inputs changed since run {info.run_id}: {', '.join(changed)}"
    if manifest.get("params") != json.loads(params.to_json()):
        return False, f"params changed since run {info.run_id}"
    return True, f"run {info.run_id} has the same inputs and params"


# ---------------------------------------------------------------- warm kernels


class _WarmJob:
    """One notebook handed to a warm worker; polls and is killed as a worker process is (for ``_execute``)."""

    def __init__(self, proc: subprocess.Popen, status: Path):
        self.proc, self.status = proc, status

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        rc = self.proc.poll()
        if rc is not None:
            return rc
        if not self.status.exists():  # written whole (rename) once the notebook and its HTML are done
            return None
        try:
            st = json.loads(self.status.read_text())
        except (OSError, ValueError):
            return 1
        return 0 if st.get("status") == "ok" else EXIT_DISK_FULL if st.get("disk_full") else 1

    def kill(self) -> None:
        self.proc.kill()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)


class WarmWorkers:
    """One worker process per notebook (``python -m soe_helpers.run.execute --serve``), kept across weeks.

    Each keeps its notebook's kernel. Workers watch this object's pipe as ``soe run``'s workers watch the
    runner's: when the backfill ends or dies, they kill their kernels and themselves. A worker the runner
    killed (a notebook past its time limit, an interrupted week) is started anew for the next week.
    """

    def __init__(self):
        self._procs: dict[str, subprocess.Popen] = {}
        self._lifeline_r, self._lifeline_w = os.pipe()
        self.started = 0

    def _start(self, log: Path) -> subprocess.Popen:
        env = worker_env(self._lifeline_r)
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "soe_helpers.run.execute", "--serve"], env=env,
                                    stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True, pass_fds=(self._lifeline_r,))
        self.started += 1
        return proc

    def launch(self, spec_path: Path, log: Path) -> _WarmJob:
        """Hand the notebook of ``spec_path`` to its warm worker (started if it has none alive)."""
        spec = json.loads(Path(spec_path).read_text())
        proc = self._procs.get(spec["name"])
        if proc is None or proc.poll() is not None:
            proc = self._procs[spec["name"]] = self._start(log)
        try:
            proc.stdin.write(f"{spec_path}\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):  # it died between the check and the write: one more start
            proc = self._procs[spec["name"]] = self._start(log)
            proc.stdin.write(f"{spec_path}\n")
            proc.stdin.flush()
        return _WarmJob(proc, Path(spec["status"]))

    def close(self) -> None:
        """End every worker: end of input lets it shut its kernels down; one that lingers is killed."""
        for proc in self._procs.values():
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
        deadline = time.monotonic() + 20
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(proc)
        self._procs.clear()
        for fd in (self._lifeline_w, self._lifeline_r):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- progress


class Progress:
    """The backfill's progress on ``stream`` (stderr): one plain line per week with the ETA.

    On a terminal the running week's notebooks also show on one line rewritten in place; otherwise
    (cron, a log file) only whole lines are written.
    """

    def __init__(self, total: int, stream: TextIO | None = None, clock: Callable[[], float] = time.perf_counter):
        self.total, self.stream, self.clock = total, stream or sys.stderr, clock
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = clock()
        self.done = 0
        self.ran_seconds: list[float] = []
        self._transient = False

    def line(self, text: str) -> None:
        if self._transient:
            self.stream.write("\r\033[K")
            self._transient = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def status(self, text: str) -> None:
        """A passing message of the running week: shown in place on a terminal, dropped otherwise."""
        if self.tty:
            self.stream.write("\r\033[K" + text[:150])
            self.stream.flush()
            self._transient = True

    def eta_seconds(self) -> float | None:
        """Remaining weeks times the mean of the weeks run so far (skipped weeks cost nothing)."""
        if not self.ran_seconds:
            return None
        return (self.total - self.done) * sum(self.ran_seconds) / len(self.ran_seconds)

    def week(self, week: str, outcome: str, seconds: float | None = None, note: str = "") -> None:
        self.done += 1
        if seconds is not None and outcome != "skipped":
            self.ran_seconds.append(seconds)
        eta = self.eta_seconds()
        took = f" in {seconds:.1f}s" if seconds is not None and outcome != "skipped" else ""
        tail = f"elapsed {_hms(self.clock() - self.t0)}" + (f", ETA {_hms(eta)}" if eta is not None and
                                                            self.done < self.total else "")
        width = len(str(self.total))
        self.line(f"[{self.done:>{width}}/{self.total}] {week} {outcome}{took}"
                  f"{' (' + note + ')' if note else ''} · {tail}")


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ---------------------------------------------------------------- the backfill


@dataclass
class WeekOutcome:
    week: str
    status: str  # ok, skipped, failed
    seconds: float = 0.0
    run_dir: Path | None = None
    reason: str = ""
    timings: dict = field(default_factory=dict)


@dataclass
class BackfillResult:
    weeks: list[WeekOutcome]
    summary: dict

    @property
    def ok(self) -> bool:
        return all(w.status in ("ok", "skipped") for w in self.weeks) and len(self.weeks) == self.summary["weeks"]


def _shared_snapshot(outputs: Path, tables: dict[str, LoadedTable]) -> Path:
    """Write the validated tables once as Parquet (a run folder's ``data/`` layout); drop the frames."""
    root = outputs / SNAPSHOT_DIRNAME
    _remove_stale_snapshots(root)
    folder = root / f"{os.getpid()}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
    run_folder.data_dir(folder).mkdir(parents=True)
    for name, lt in tables.items():
        with run_folder.atomic_path(run_folder.table_path(folder, name)) as tmp:
            lt.frame.to_parquet(tmp, index=False)
        lt.frame = None  # the weeks' notebooks read the Parquet
    return folder


def _remove_stale_snapshots(root: Path) -> None:
    """Remove the snapshots of backfills that were killed (their process is gone)."""
    if not root.is_dir():
        return
    for d in root.iterdir():
        pid = d.name.split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and Path("/proc").is_dir():
            shutil.rmtree(d, ignore_errors=True)


def backfill(first: str, last: str, data_dir: str | Path | None = None, param_files: list[str | Path] | None = None,
             sets: list[str] | None = None, **kw) -> BackfillResult:
    """Run every week from ``first`` to ``last`` in order (:func:`_backfill`), holding the company's lock.

    The lock (:class:`~soe_helpers.run.runner.CompanyLock` on the company's outputs folder, and on a shared
    PostgreSQL store) is checked before the inputs are read (writing nothing) and taken once they are valid,
    before the first write, to the last week: a second backfill, or a single ``soe run`` of the same
    company, started meanwhile is refused at once, naming this one (pid, started at, week range).

    Raises:
        RunError: another backfill or run of the company holds the lock (nothing is written).
    """
    backfill_weeks(first, last)  # a bad range is refused before the lock
    params = check_sources(load_params(list(param_files or []), sets, data_dir))
    stream = kw.get("stream") or sys.stderr
    lock = CompanyLock(params.outputs_dir(), exclusive=True, weeks=f"{first} .. {last}",
                       progress=lambda m: print(m, file=stream, flush=True))
    lock.probe()  # another backfill or a run in progress: refused now, not after the inputs are read
    with contextlib.ExitStack() as stack:
        def hold() -> None:  # once the inputs are valid, before the first write: held to the last week
            _check_writable(params.outputs_dir())
            stack.enter_context(lock)
            stack.enter_context(store_company_lock(params, exclusive=True))

        return _backfill(first, last, data_dir, param_files, sets, hold=hold, **kw)


def _backfill(
    first: str,
    last: str,
    data_dir: str | Path | None = None,
    param_files: list[str | Path] | None = None,
    sets: list[str] | None = None,
    notebooks_dir: Path | None = None,
    html: bool = True,
    force: bool = False,
    warm: bool = True,
    argv: list[str] | None = None,
    build_email: Callable[..., dict] | None = None,
    stream: TextIO | None = None,
    hold: Callable[[], None] = lambda: None,
) -> BackfillResult:
    """Run every week from ``first`` to ``last`` in order (see the module docstring); ``hold`` takes the
    company's lock once the inputs are valid (:func:`backfill`).

    Raises:
        RunError / ParamsError / DataError before anything is written: a bad range, a week not complete in
        the data, invalid params or inputs.
    Returns:
        BackfillResult: each week's outcome (ok, skipped, failed; stops at the first failed week) and a
        summary of the figures (seconds: load/validate once, shared snapshot, per week, notebook execution,
        HTML, aggregates).
    """
    t_start = time.perf_counter()
    weeks = backfill_weeks(first, last)
    params = check_sources(load_params(list(param_files or []), sets, data_dir))
    out = Progress(len(weeks), stream)
    out.line(f"Backfill {first} .. {last}: {len(weeks)} week(s); validating inputs in {params.data_dir()} once ...")
    t0 = time.perf_counter()
    tables, as_of = validate_inputs(params)
    load_s = round(time.perf_counter() - t0, 3)
    as_of_day = as_of.date() if isinstance(as_of, dt.datetime) else as_of
    if week_end(last).date() > as_of_day:
        raise RunError(f"--to {last} is not complete in the data: it ends {week_end(last).date()}, the data runs "
                       f"to {as_of}; the latest complete week is {latest_complete_week(as_of)}")
    hold()
    out.line(f"Inputs valid: {sum(lt.rows for lt in tables.values()):,} rows in {len(tables)} tables ({load_s:.1f}s); "
             f"data as of {as_of}; " + ("HTML for every week" if html else "no HTML (--no-html)")
             + ("; a kept kernel per notebook" if warm else "; a new kernel per notebook (--fresh-kernels)"))

    todo = {}
    for w in weeks:
        skip, why = (False, "--force") if force else same_inputs(w, tables, params)
        todo[w] = (skip, why)
    outcomes: list[WeekOutcome] = []
    summary = {"first": first, "last": last, "weeks": len(weeks), "html": html, "warm_kernels": warm,
               "load_validate_seconds": load_s, "snapshot_seconds": 0.0}
    if all(skip for skip, _ in todo.values()):
        for w in weeks:
            out.week(w, "skipped", note=todo[w][1])
            outcomes.append(WeekOutcome(w, "skipped", reason=todo[w][1]))
        return BackfillResult(outcomes, _summarise(summary, outcomes, t_start))

    outputs = paths.outputs_dir()
    t0 = time.perf_counter()
    snapshot = None
    try:
        with _stop_on_signals(), (WarmWorkers() if warm else contextlib.nullcontext()) as pool:
            snapshot = _shared_snapshot(outputs, tables)
            summary["snapshot_seconds"] = round(time.perf_counter() - t0, 3)
            shared = SharedInputs(tables, as_of, snapshot, load_s)
            expected: dict[str, float] = {}  # each notebook's seconds last week: the longest start first
            for w in weeks:
                skip, why = todo[w]
                if skip:
                    out.week(w, "skipped", note=why)
                    outcomes.append(WeekOutcome(w, "skipped", reason=why))
                    continue
                try:
                    res = _run_one(w, shared, pool, out, html=html, data_dir=data_dir, param_files=param_files,
                                   sets=sets, notebooks_dir=notebooks_dir, argv=argv, build_email=build_email,
                                   expected_seconds=expected)
                except KeyboardInterrupt as e:
                    out.line(f"Interrupted in {w} ({getattr(e, 'signame', 'SIGINT')}): its run is marked aborted. Run "
                             f"the same command again to resume: the {len(outcomes)} week(s) before it are skipped.")
                    raise
                outcomes.append(res)
                expected = res.timings.get("notebook_seconds") or expected
                if res.status != "ok":
                    left = len(weeks) - len(outcomes)
                    out.line(f"Stopped at {w}: {res.reason}. Fix it and run the same command again: the "
                             f"{sum(o.status != 'failed' for o in outcomes)} week(s) done are skipped"
                             + (f", {left} week(s) after it were not run." if left else "."))
                    break
            if pool is not None:
                summary["warm_workers_started"] = pool.started
    finally:
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)  # each run folder holds its own links to the files
            with contextlib.suppress(OSError):
                snapshot.parent.rmdir()
    result = BackfillResult(outcomes, _summarise(summary, outcomes, t_start))
    s = result.summary
    out.line(f"Backfill {'done' if result.ok else 'stopped'}: {s['ran']} week(s) run, {s['skipped']} skipped, "
             f"{s['failed']} failed in {s['total_seconds']:.0f}s"
             + (f" ({s['seconds_per_week']:.1f}s per week run)" if s["ran"] else "") + ".")
    return result


def _run_one(week: str, shared: SharedInputs, pool: WarmWorkers | None, out: Progress, **kw) -> WeekOutcome:
    """One week's normal run on the shared inputs; its failure lines go to the progress, the rest passes by."""
    def progress(msg: str) -> None:
        if msg.startswith(("FAILED", "Note")) or "FAILED" in msg[:16]:
            out.line(f"  {week}: {msg.strip()}")
        else:
            out.status(f"  {week}: {msg.strip()}")

    t0 = time.perf_counter()
    res: RunResult = run_week(week=week, inputs=shared, launch=pool.launch if pool else None, progress=progress,
                              company_lock=False, **kw)  # the backfill holds the company's lock
    seconds = round(time.perf_counter() - t0, 3)
    m = res.manifest or {}
    nbs = m.get("notebooks") or []
    timings = {**(m.get("timings") or {}),
               "execute_seconds": round(sum(n.get("execute_seconds") or 0 for n in nbs), 3),
               "html_seconds": round(sum(n.get("html_seconds") or 0 for n in nbs), 3),
               "notebook_seconds": {n["name"]: n.get("seconds") or 0.0 for n in nbs}}
    failed = [n for n in nbs if n.get("status") != "ok"]
    reason = "; ".join(f"{n['name']}: {n.get('error')}" for n in failed) or (m.get("email") or {}).get("error", "")
    out.week(week, "ok" if res.ok else "FAILED", seconds, note="" if res.ok else reason[:200])
    return WeekOutcome(week, "ok" if res.ok else "failed", seconds, res.run_dir, reason, timings)


def _summarise(summary: dict, outcomes: list[WeekOutcome], t_start: float) -> dict:
    ran = [o for o in outcomes if o.status != "skipped"]
    add = lambda key: round(sum(o.timings.get(key) or 0 for o in ran), 3)  # noqa: E731
    summary.update({
        "ran": len(ran), "skipped": sum(o.status == "skipped" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "total_seconds": round(time.perf_counter() - t_start, 3),
        "weeks_seconds": round(sum(o.seconds for o in ran), 3),
        "seconds_per_week": round(sum(o.seconds for o in ran) / len(ran), 3) if ran else None,
        "aggregate_seconds": add("aggregate_seconds"),
        "snapshot_link_seconds": add("snapshot_seconds"),
        "execute_seconds": add("execute_seconds"),
        "html_seconds": add("html_seconds"),
        "per_week": [{"week": o.week, "status": o.status, "seconds": o.seconds,
                      "run_dir": str(o.run_dir) if o.run_dir else None} for o in outcomes],
    })
    return summary
