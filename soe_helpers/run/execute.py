"""Execute one notebook with papermill and convert it to HTML: the runner's worker process.

Run as ``python -m soe_helpers.run.execute SPEC.json``; writes ``<name>.status.json`` beside
the executed notebook. A separate process per notebook lets the runner run several
at once and stop one that passes its time limit (the kernel exits with its parent).

A worker never outlives its runner: the runner hands it the read end of a pipe (file
descriptor number in ``$SOE_RUNNER_FD``) whose write end only the runner holds. When the
runner goes (killed, interrupted, crashed), the pipe reads end-of-file and the worker kills
its kernel and itself before it can publish a report or record a figure of a run that
did not finish. Every file the worker writes is written atomically; on a full disk it exits
with :data:`EXIT_DISK_FULL` after reporting, if it still can, which file it could not write.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from soe_helpers.core.atomic import atomic_path, is_disk_full, write_text_atomic
from soe_helpers.core.secrets import redact

__all__ = ["execute_one", "to_html", "INLINE_BACKEND", "RUNNER_FD_ENV", "EXIT_DISK_FULL", "watch_runner", "descendant_pids"]

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
RUNNER_FD_ENV = "SOE_RUNNER_FD"
EXIT_DISK_FULL = 28  # errno ENOSPC: the worker could not write its results for lack of space
_KERNEL_DISK_FULL = re.compile(r"\[Errno 28\][^']*'([^']+)'")  # a cell's OSError(ENOSPC), as the kernel reports it


def to_html(ipynb: Path, html: Path, header: dict | None = None) -> None:
    """Render an executed notebook as a report: no code, no prompts, no parameter cells, no stderr."""
    from soe_helpers.run.html import notebook_to_html  # start-up cost: nbconvert loads only once a notebook ran

    write_text_atomic(html, notebook_to_html(ipynb, header or {}))


def descendant_pids(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; elsewhere none, and ipykernel's own parent poller applies)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for e in entries:
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(e))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _die() -> None:
    """Kill the kernel (it runs in a session of its own) and this worker's process group, now."""
    for pid in descendant_pids(os.getpid()):
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    finally:
        os._exit(137)


def watch_runner(fd: int) -> threading.Thread:
    """Start a daemon thread that kills this worker (and its kernel) when the runner's pipe ``fd`` closes."""
    def watch():
        while True:
            try:
                if not os.read(fd, 1):
                    break  # end of file: the runner is gone, or it is stopping its workers
            except InterruptedError:
                continue
            except OSError:
                break
        _die()

    t = threading.Thread(target=watch, name="soe-runner-watchdog", daemon=True)
    t.start()
    return t


def execute_one(spec: dict) -> dict:
    import papermill as pm  # heavy: imported after the runner watchdog is in place

    # A cron environment may carry MPLBACKEND=Agg, which makes charts vanish from reports.
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    out_nb = Path(spec["output"])
    # papermill saves the notebook after every cell; it does so into .work/ and the finished copy
    # is renamed into the run folder, so a killed run never leaves a half-written notebook there.
    partial = Path(spec.get("partial") or out_nb.with_name(f".{out_nb.name}.partial"))
    status = {"name": spec["name"], "status": "running", "error": None}
    t0 = time.perf_counter()
    try:
        try:
            pm.execute_notebook(
                spec["input"],
                str(partial),
                parameters=spec["parameters"],
                kernel_name=spec["kernel"],
                cwd=spec.get("cwd"),
                progress_bar=False,
                log_output=spec.get("log_output", False),
                request_save_on_cell_execute=True,
                start_timeout=120,
            )
        finally:
            if partial.exists():
                with atomic_path(out_nb) as tmp:
                    os.replace(partial, tmp)
        status["execute_seconds"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        to_html(out_nb, Path(spec["html"]), spec.get("header"))
        status["html_seconds"] = round(time.perf_counter() - t1, 3)
        status["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - every failure is reported to the runner, not raised
        status["execute_seconds"] = round(time.perf_counter() - t0, 3)
        status["status"] = "failed"
        if is_disk_full(e) or is_disk_full(getattr(e, "__context__", None)):
            err = e if is_disk_full(e) else e.__context__
            status["disk_full"] = str(getattr(err, "filename", None) or out_nb)
        ename = getattr(e, "ename", type(e).__name__)
        evalue = getattr(e, "evalue", str(e))
        in_kernel = _KERNEL_DISK_FULL.search(str(evalue)) if hasattr(e, "ename") else None
        if in_kernel:  # a cell could not write an export or a record: the disk, not the notebook, is at fault
            status["disk_full"] = in_kernel.group(1)
        status["error"] = redact(f"{ename}: {evalue}".strip())  # a URL in an error goes to the manifest masked
        cell = getattr(e, "cell_index", None) if hasattr(e, "cell_index") else None
        status["cell"] = cell
        if not hasattr(e, "ename"):
            status["traceback"] = redact(traceback.format_exc(limit=5))
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get(RUNNER_FD_ENV):
        watch_runner(int(os.environ[RUNNER_FD_ENV]))
    spec = json.loads(Path(argv[0]).read_text())
    status = execute_one(spec)
    try:
        write_text_atomic(spec["status"], json.dumps(status, indent=2))
    except OSError as e:
        if not is_disk_full(e):
            raise
        try:  # the log may sit on the same full disk
            print(f"disk full while writing {spec['status']}", file=sys.stderr, flush=True)
        except OSError:
            pass
        return EXIT_DISK_FULL
    if status.get("disk_full"):
        return EXIT_DISK_FULL
    return 0 if status["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
