"""Execute one notebook with papermill and convert it to HTML: the runner's worker process.

Run as ``python -m soe_helpers.run.execute SPEC.json``; writes ``<name>.status.json`` beside
the executed notebook. A separate process per notebook lets the runner run several
at once and stop one that passes its time limit (the kernel exits with its parent).
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from soe_helpers.core.secrets import redact

__all__ = ["execute_one", "to_html", "INLINE_BACKEND"]

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def to_html(ipynb: Path, html: Path, header: dict | None = None) -> None:
    """Render an executed notebook as a report: no code, no prompts, no parameter cells, no stderr."""
    from soe_helpers.run.html import notebook_to_html  # start-up cost: nbconvert loads only once a notebook ran

    html.write_text(notebook_to_html(ipynb, header or {}), encoding="utf-8")


def execute_one(spec: dict) -> dict:
    import papermill as pm

    # A cron environment may carry MPLBACKEND=Agg, which makes charts vanish from reports.
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    out_nb = Path(spec["output"])
    status = {"name": spec["name"], "status": "running", "error": None}
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            spec["input"],
            str(out_nb),
            parameters=spec["parameters"],
            kernel_name=spec["kernel"],
            cwd=spec.get("cwd"),
            progress_bar=False,
            log_output=spec.get("log_output", False),
            request_save_on_cell_execute=True,
            start_timeout=120,
        )
        status["execute_seconds"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        to_html(out_nb, Path(spec["html"]), spec.get("header"))
        status["html_seconds"] = round(time.perf_counter() - t1, 3)
        status["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - every failure is reported to the runner, not raised
        status["execute_seconds"] = round(time.perf_counter() - t0, 3)
        status["status"] = "failed"
        ename = getattr(e, "ename", type(e).__name__)
        evalue = getattr(e, "evalue", str(e))
        status["error"] = redact(f"{ename}: {evalue}".strip())  # a URL in an error goes to the manifest masked
        cell = getattr(e, "cell_index", None) if hasattr(e, "cell_index") else None
        status["cell"] = cell
        if not hasattr(e, "ename"):
            status["traceback"] = redact(traceback.format_exc(limit=5))
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    status = execute_one(spec)
    Path(spec["status"]).write_text(json.dumps(status, indent=2))
    return 0 if status["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
