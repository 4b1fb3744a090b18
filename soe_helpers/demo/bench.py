"""``soe bench``: how long the weekly pack takes, and how much memory, at a given volume.

Generates the demo company at the requested number of order lines, runs the full pack
as ``soe run`` does (a separate process), and records:

- ``order_lines`` and the rows of every input;
- time per stage: load and validate, aggregate (``aggregate_seconds``), each notebook (execute and HTML), email;
- ``pack_seconds``: the whole ``soe run`` wall time;
- ``floor_seconds``: the same runner, on the same data, executing the same number of
  trivial notebooks in the same stages — kernel starts, papermill, nbconvert and the
  load/validate step: the cost no analysis can avoid;
- ``peak_rss_mb``: the largest resident set of any single process of the run (runner,
  worker, kernel), sampled every 0.1 s, and ``peak_total_rss_mb`` summed over the tree.

Writes ``bench.json`` and ``bench.md`` in ``--out``.

``soe bench --backfill N`` instead times a backfill of the demo's last N complete weeks
(``soe run --from .. --to ..``, :mod:`soe_helpers.run.backfill`): total and per-week seconds, the
one load and validation, the shared snapshot, notebook execution and HTML (summed over notebooks,
which run ``run.max_parallel`` at once), and the peak resident memory; it writes
``backfill_bench.json`` and ``backfill_bench.md``.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat

from soe_helpers.core import paths
from soe_helpers.demo.company import generate

__all__ = ["run_bench", "BASE_ORDER_LINES", "markdown_table", "run_backfill_bench", "backfill_markdown"]

#: Order lines the demo writes at scale 1 (measured); --order-lines N uses scale N / this.
BASE_ORDER_LINES = 49_201


class _RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_single = 0
        self.peak_total = 0
        self._halt = threading.Event()

    def run(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                self.peak_single = max(self.peak_single, rss)
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()


def _run_pack(env: dict, extra: list[str], show_progress: bool = False
              ) -> tuple[float, int, int, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "soe_helpers.cli", "run", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=None if show_progress else subprocess.PIPE, text=True,
                            cwd=paths.repo_root())
    sampler = _RssSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    sampler.stop()
    sampler.join(timeout=2)
    return seconds, sampler.peak_single, sampler.peak_total, subprocess.CompletedProcess(proc.args, proc.returncode,
                                                                                          out, err)


def _trivial_notebooks(dest: Path, like: Path) -> int:
    """One trivial notebook per real notebook, same stage, same standard parameters."""
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for nb_path in sorted(like.glob("*.ipynb")):
        if nb_path.name.startswith(("_", ".")):
            continue
        stage = nbformat.read(str(nb_path), as_version=4).metadata.get("soe", {}).get("stage", 1)
        nb = nbformat.v4.new_notebook()
        nb.metadata = {"kernelspec": {"name": "soe", "display_name": "Python 3 (S&OE suite)", "language": "python"},
                       "soe": {"stage": stage}}
        p = nbformat.v4.new_code_cell('week = ""\nrun_dir = ""')
        p.metadata["tags"] = ["parameters"]
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Floor: {nb_path.stem}"), p,
                    nbformat.v4.new_code_cell("print('nothing to analyse')")]
        nbformat.write(nb, str(dest / nb_path.name))
        n += 1
    return n


def _latest_manifest(outputs: Path) -> dict:
    manifests = sorted(outputs.glob("*/*/manifest.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(manifests[-1].read_text()) if manifests else {}


def run_bench(order_lines: int, out: Path, keep_data: bool = False, progress=print) -> dict:
    """Benchmark the pack at ``order_lines``; returns the record also written to ``out/bench.json``."""

    out = Path(out).resolve()
    data = out / f"data_{order_lines}"
    outputs = out / f"outputs_{order_lines}"
    shutil.rmtree(outputs, ignore_errors=True)
    scale = order_lines / BASE_ORDER_LINES
    t0 = time.perf_counter()
    if not (data / "erp_sales_order_lines.csv").exists():
        progress(f"Generating the demo company at scale {scale:.2f} ...")
        generate(data, scale=scale)
    gen_seconds = time.perf_counter() - t0
    with open(data / "erp_sales_order_lines.csv", "rb") as f:
        actual_lines = sum(1 for _ in f) - 1
    env = {**os.environ, "SOE_DATA_DIR": str(data), "SOE_OUTPUTS": str(outputs), "SOE_STORE_URL": ""}

    progress(f"Running the pack on {actual_lines:,} order lines ...")
    pack_s, peak1, peak_tot, res = _run_pack(env, [])
    if res.returncode != 0:
        raise RuntimeError(f"the pack failed at {actual_lines:,} order lines:\n{res.stderr[-3000:]}")
    man = _latest_manifest(outputs)

    progress("Running the floor (same runner, same data, trivial notebooks) ...")
    floor_nb = out / "floor_notebooks"
    shutil.rmtree(floor_nb, ignore_errors=True)
    n_trivial = _trivial_notebooks(floor_nb, paths.notebooks_dir())
    floor_out = out / f"floor_outputs_{order_lines}"
    shutil.rmtree(floor_out, ignore_errors=True)
    floor_s, _, _, fres = _run_pack({**env, "SOE_OUTPUTS": str(floor_out)}, ["--notebooks-dir", str(floor_nb)])
    if fres.returncode != 0:
        raise RuntimeError(f"the floor run failed:\n{fres.stderr[-3000:]}")
    floor_man = _latest_manifest(floor_out)

    record = {
        "order_lines": actual_lines,
        "scale": round(scale, 4),
        "input_rows": {k: v["rows"] for k, v in man.get("inputs", {}).items()},
        "input_mb": round(sum((v.get("bytes") or 0) for v in man.get("inputs", {}).values()) / 1e6, 1),
        "generate_seconds": round(gen_seconds, 2),
        "load_validate_seconds": man.get("timings", {}).get("load_validate_seconds"),
        "snapshot_seconds": man.get("timings", {}).get("snapshot_seconds"),
        "aggregate_seconds": man.get("timings", {}).get("aggregate_seconds"),
        "aggregate_engines": {n: a.get("engine") for n, a in man.get("aggregates", {}).items()},
        "notebooks": {nb["name"]: {"seconds": nb.get("seconds"), "execute_seconds": nb.get("execute_seconds"),
                                   "html_seconds": nb.get("html_seconds"), "status": nb.get("status")}
                      for nb in man.get("notebooks", [])},
        "email_seconds": man.get("timings", {}).get("email_seconds"),
        "pack_seconds": round(pack_s, 2),
        "floor_seconds": round(floor_s, 2),
        "floor_notebooks": n_trivial,
        "floor_load_validate_seconds": floor_man.get("timings", {}).get("load_validate_seconds"),
        "pack_over_floor": round(pack_s / floor_s, 2) if floor_s else None,
        "peak_rss_mb": round(peak1 / 2**20, 1),
        "peak_total_rss_mb": round(peak_tot / 2**20, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / "bench.json"
    records = json.loads(records_path.read_text()) if records_path.exists() else []
    records = [r for r in records if r.get("order_lines") != actual_lines] + [record]
    records.sort(key=lambda r: r["order_lines"])
    records_path.write_text(json.dumps(records, indent=2))
    (out / "bench.md").write_text(markdown_table(records))
    if not keep_data:
        shutil.rmtree(outputs, ignore_errors=True)
        shutil.rmtree(floor_out, ignore_errors=True)
    return record


def markdown_table(records: list[dict]) -> str:
    """The benchmark records as a Markdown table (one row per volume)."""
    nb_names = sorted({n for r in records for n in r.get("notebooks", {})})
    head = ["order lines", "load+validate s", "aggregate s"] + [f"{n} s" for n in nb_names] + [
        "pack s", "floor s", "pack/floor", "peak RSS MB (largest process)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        cells = [f"{r['order_lines']:,}", f"{r['load_validate_seconds']}", f"{r.get('aggregate_seconds') or '–'}"]
        cells += [f"{r['notebooks'].get(n, {}).get('seconds', '–')}" for n in nb_names]
        cells += [f"{r['pack_seconds']}", f"{r['floor_seconds']}", f"{r['pack_over_floor']}", f"{r['peak_rss_mb']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_backfill_bench(weeks: int, out: Path, order_lines: int | None = None, html: bool = True,
                       fresh_kernels: bool = False, keep: bool = False, progress=print) -> dict:
    """Time a backfill of the demo's last ``weeks`` complete weeks; the record also goes to ``out/backfill_bench.json``.

    ``order_lines`` None = the demo as ``soe demo`` writes it (scale 1). The weeks' outputs are removed
    afterwards unless ``keep``.
    """
    from soe_helpers.core.calendar import latest_complete_week, week_add  # only this mode needs them
    from soe_helpers.core.params import load_params  # only this mode needs it
    from soe_helpers.run.runner import validate_inputs  # only this mode needs it

    out = Path(out).resolve()
    scale = (order_lines / BASE_ORDER_LINES) if order_lines else 1.0
    data = out / (f"data_{order_lines}" if order_lines else "data_demo")
    if not (data / "erp_sales_order_lines.csv").exists():
        progress(f"Generating the demo company at scale {scale:.2f} ...")
        generate(data, scale=scale)
    _, as_of = validate_inputs(load_params([], [], data))
    last = latest_complete_week(as_of)
    first = week_add(last, -(weeks - 1))
    outputs = out / f"backfill_outputs_{weeks}"
    shutil.rmtree(outputs, ignore_errors=True)
    summary_path = out / f"backfill_summary_{weeks}.json"
    env = {**os.environ, "SOE_DATA_DIR": str(data), "SOE_OUTPUTS": str(outputs), "SOE_STORE_URL": ""}
    args = ["--from", first, "--to", last, "--summary", str(summary_path)] + (["--no-html"] if not html else []) + (
        ["--fresh-kernels"] if fresh_kernels else [])
    progress(f"Backfilling {weeks} week(s) of the demo, {first} .. {last} ...")
    cpu0 = _children_cpu_seconds()
    seconds, peak1, peak_tot, res = _run_pack(env, args, show_progress=True)
    cpu = _children_cpu_seconds() - cpu0  # every process of the backfill: runner, warm workers, kernels
    if res.returncode != 0:
        raise RuntimeError(f"the backfill failed (exit {res.returncode}); its outputs are in {outputs}")
    s = json.loads(summary_path.read_text())
    record = {
        "weeks": weeks, "first": first, "last": last, "html": html, "warm_kernels": not fresh_kernels,
        "order_lines": sum(1 for _ in open(data / "erp_sales_order_lines.csv", "rb")) - 1,
        "total_seconds": round(seconds, 1),
        "seconds_per_week": round(s["weeks_seconds"] / max(s["ran"], 1), 2),
        "load_validate_seconds": s["load_validate_seconds"],
        "snapshot_seconds": s["snapshot_seconds"],
        "snapshot_link_seconds": s["snapshot_link_seconds"],
        "aggregate_seconds": s["aggregate_seconds"],
        "execute_seconds": s["execute_seconds"],
        "html_seconds": s["html_seconds"],
        "execute_seconds_per_week": round(s["execute_seconds"] / max(s["ran"], 1), 2),
        "html_seconds_per_week": round(s["html_seconds"] / max(s["ran"], 1), 3),
        "peak_rss_mb": round(peak1 / 2**20, 1),
        "peak_total_rss_mb": round(peak_tot / 2**20, 1),
        # CPU seconds of the whole process tree: on a machine shared with other work the wall time
        # overstates the cost; CPU seconds / cores is what the backfill needs of an idle machine
        "cpu_seconds": round(cpu, 1),
        "cpu_seconds_per_week": round(cpu / max(s["ran"], 1), 2),
        "cpus": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / "backfill_bench.json"
    records = json.loads(path.read_text()) if path.exists() else []
    records.append(record)
    path.write_text(json.dumps(records, indent=2))
    (out / "backfill_bench.md").write_text(backfill_markdown(records))
    if not keep:
        shutil.rmtree(outputs, ignore_errors=True)
    return record


def _children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished (and waited-for) descendants."""
    import resource  # POSIX only; only the backfill mode needs it

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def backfill_markdown(records: list[dict]) -> str:
    """The backfill benchmark records as a Markdown table (one row per backfill)."""
    head = ["weeks", "HTML", "kernels", "total s", "s per week", "load+validate s (once)", "snapshot s (once)",
            "notebook execution s (sum)", "HTML s (sum)", "CPU s per week", "peak RSS MB (largest process)",
            "peak RSS MB (all)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        cells = [r["weeks"], "yes" if r["html"] else "no", "kept" if r["warm_kernels"] else "new each notebook",
                 r["total_seconds"], r["seconds_per_week"], r["load_validate_seconds"], r["snapshot_seconds"],
                 r["execute_seconds"], r["html_seconds"], r.get("cpu_seconds_per_week", "–"), r["peak_rss_mb"],
                 r["peak_total_rss_mb"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
