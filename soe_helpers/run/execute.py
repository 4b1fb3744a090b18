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

``python -m soe_helpers.run.execute --serve`` is a backfill's warm worker (:func:`serve`): it reads one
spec path per line and executes each on a kernel it keeps per notebook (:class:`KeptKernel`), writing
the same status file; the same pipe ties it to the backfill that started it.
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

__all__ = ["execute_one", "to_html", "INLINE_BACKEND", "RUNNER_FD_ENV", "EXIT_DISK_FULL", "watch_runner", "descendant_pids",
           "serve", "KeptKernel", "FRESH_NAMESPACE"]

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

#: One BLAS thread per kernel: the runner already runs up to one kernel per core, and OpenBLAS starting one
#: thread per core in every kernel made them compete (the forecast report ran 2-4x slower on 2 cores).
#: A value the user's environment sets wins.
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker_env(lifeline_fd: int) -> dict[str, str]:
    """The environment of a notebook worker (and so of its kernels), one rule for ``soe run`` and a backfill:
    charts inline whatever a cron environment says (``MPLBACKEND=Agg`` makes them vanish), deprecation
    warnings kept out of reports, one BLAS thread per kernel, and the runner's lifeline pipe."""
    env = dict(os.environ)
    env["MPLBACKEND"] = INLINE_BACKEND
    env["PYTHONWARNINGS"] = env.get("PYTHONWARNINGS", "ignore::DeprecationWarning")
    for k, v in BLAS_THREADS.items():
        env.setdefault(k, v)
    env[RUNNER_FD_ENV] = str(lifeline_fd)
    return env
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


def execute_one(spec: dict, kernel: "KeptKernel | None" = None) -> dict:
    """Execute ``spec``'s notebook with papermill (and write its HTML unless ``spec["write_html"]`` is false).

    ``kernel``: a kept kernel (a backfill's warm worker) to execute on, its namespace made fresh first;
    None starts a new kernel, as ``soe run`` does.
    """
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
            if kernel is not None:
                kernel.ensure_fresh()
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
                **({"km": kernel.km} if kernel is not None else {}),
            )
        finally:
            if kernel is not None:
                kernel.release_clients()
            if partial.exists():
                with atomic_path(out_nb) as tmp:
                    os.replace(partial, tmp)
        status["execute_seconds"] = round(time.perf_counter() - t0, 3)
        if spec.get("write_html", True):
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


#: Run on a kept kernel between notebooks, so the next starts as in a new kernel: no variable of the
#: previous week, no open figure, matplotlib's settings as the kernel started, and the suite's own modules
#: imported anew (their module state, e.g. the chart style applied at import, is then exactly a new
#: kernel's). Third-party modules stay imported: that is the time saved. ``%reset -f`` (last) clears the
#: namespace, these lines' own names included, and collects the garbage.
FRESH_NAMESPACE = """\
import sys as _soe_sys, matplotlib as _soe_mpl, matplotlib.pyplot as _soe_plt
_soe_plt.close("all")
if not hasattr(_soe_sys, "_soe_rc_at_start"):
    _soe_sys._soe_rc_at_start = dict(_soe_mpl.rcParams)
dict.update(_soe_mpl.rcParams, _soe_sys._soe_rc_at_start)
for _soe_m in [m for m in _soe_sys.modules if m == "soe_helpers" or m.startswith("soe_helpers.")]:
    del _soe_sys.modules[_soe_m]
%reset -f
"""


class KeptKernel:
    """One kernel kept alive across the weeks of a backfill, for one notebook.

    papermill executes on it through ``km`` (nbclient then neither starts nor shuts the kernel);
    :meth:`fresh_namespace` runs :data:`FRESH_NAMESPACE` (:meth:`ensure_fresh` before each notebook,
    unless the worker already did it right after the previous one, while no report waited for it), and
    :meth:`release_clients` closes the channels nbclient opened, so none pile up over 52 weeks.
    """

    def __init__(self, kernel_name: str, cwd: str | None):
        from jupyter_client.manager import AsyncKernelManager  # heavy: only a warm worker needs it

        clients = self._clients = []

        class _Manager(AsyncKernelManager):
            def client(self, **kw):
                kc = super().client(**kw)
                clients.append(kc)
                return kc

        self.km = _Manager(kernel_name=kernel_name)
        self.cwd = cwd
        self.runs = 0
        self.fresh = False  # no kernel yet: the first fresh_namespace starts it

    def fresh_namespace(self) -> None:
        """Make the kept kernel's namespace that of a new kernel.

        The first call starts the kernel (in the notebook's folder, as papermill would) and notes its
        matplotlib settings before any notebook can change them; later calls restore them.
        """
        import nbformat
        from nbclient import NotebookClient  # heavy: only a warm worker needs it

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FRESH_NAMESPACE)])
        try:
            NotebookClient(nb, km=self.km, timeout=120, startup_timeout=120,
                           resources={"metadata": {"path": self.cwd}} if self.cwd else {}).execute()
            self.fresh = True
        finally:
            self.release_clients()

    def ensure_fresh(self) -> None:
        """Before a notebook: :meth:`fresh_namespace` unless nothing ran on the kernel since the last one."""
        if not self.fresh:
            self.fresh_namespace()
        self.fresh = False  # the notebook about to run makes it used

    def release_clients(self) -> None:
        while self._clients:
            kc = self._clients.pop()
            try:
                kc.stop_channels()
            except Exception:  # noqa: BLE001 - a client of a dead kernel: nothing left to close
                pass
        self.runs += 1


def serve(lines=None) -> int:
    """A backfill's warm worker: execute each spec path read from stdin, one per line, on a kernel kept per notebook.

    Each spec is executed as :func:`execute_one` does for ``soe run``, and its status file written the same
    way (the runner waits for that file); this process's output goes to the spec's ``<name>.log``. An empty
    line or end of input ends the worker, shutting its kernels down.
    """
    kernels: dict[str, KeptKernel] = {}
    lines = sys.stdin if lines is None else lines
    try:
        for line in lines:
            spec_path = line.strip()
            if not spec_path:
                break
            spec = json.loads(Path(spec_path).read_text())
            _log_to(Path(spec["status"]).with_name(f"{spec['name']}.log"))
            kernel = kernels.get(spec["name"])
            if kernel is None:
                kernel = kernels[spec["name"]] = KeptKernel(spec["kernel"], spec.get("cwd"))
            code = _finish(spec, execute_one(spec, kernel))
            if code == EXIT_DISK_FULL:
                return code
            try:  # the runner has the status already: the reset for next week costs no report any waiting
                kernel.fresh_namespace()
            except Exception:  # noqa: BLE001 - tried again (and reported) before the next notebook
                kernel.fresh = False
    finally:
        for k in kernels.values():
            if k.km.has_kernel:
                try:
                    from jupyter_core.utils import run_sync  # heavy: only a warm worker needs it

                    run_sync(k.km.shutdown_kernel)(now=True)
                except Exception:  # noqa: BLE001 - the kernel is already gone
                    pass
    return 0


def _log_to(path: Path) -> None:
    """Send this process's stdout and stderr (and so its kernel's log lines) to ``path`` from now on."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _finish(spec: dict, status: dict) -> int:
    """Write the worker's status file; the exit code a worker of this status ends with."""
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get(RUNNER_FD_ENV):
        watch_runner(int(os.environ[RUNNER_FD_ENV]))
    if argv and argv[0] == "--serve":
        return serve()
    spec = json.loads(Path(argv[0]).read_text())
    return _finish(spec, execute_one(spec))


if __name__ == "__main__":
    sys.exit(main())
