"""Compare the figures of two results.json files, value by value, and list every difference with its key path.

Usable by hand::

    python tests/compare_results.py tests/data/demo_w47_results.json outputs/2026-W47/<run>/results.json

Only the figures are compared: run ids, timestamps, durations and paths (see :data:`VOLATILE`) are
dropped from both sides, key order does not matter, and numbers are equal within 1e-6 relative
(1e-9 absolute, for figures that should be zero). Lists are compared item by item, in order (their
order is part of the figure: top-5 lists, largest first). Exit status 1 when anything differs.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["VOLATILE", "figures", "differences", "main"]

#: Keys that are not figures: they change from run to run of the same data.
VOLATILE = frozenset({"run_id", "run_dir", "started_at", "finished_at", "generated", "seconds", "execute_seconds",
                      "duration", "duration_seconds", "baseline_seconds", "path", "ipynb", "html",
                      "schema_version"})


def figures(v: Any) -> Any:
    """``v`` without the :data:`VOLATILE` keys (at any depth)."""
    if isinstance(v, dict):
        return {str(k): figures(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [figures(x) for x in v]
    return v


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def differences(a: Any, b: Any, path: str = "", rel: float = 1e-6, abs_tol: float = 1e-9) -> list[str]:
    """Every difference between ``a`` (expected) and ``b`` (got), one line each, named by its key path
    (``demand_reconciliation.top_variances[2].variance``)."""
    here = path or "<root>"
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else str(k)
            if k not in b:
                out.append(f"{p}: missing (expected {json.dumps(a[k])[:120]})")
            elif k not in a:
                out.append(f"{p}: unexpected (got {json.dumps(b[k])[:120]})")
            else:
                out += differences(a[k], b[k], p, rel, abs_tol)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = [f"{here}: {len(b)} items, expected {len(a)}"] if len(a) != len(b) else []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{path}[{i}]", rel, abs_tol)
        return out
    if _num(a) and _num(b):
        if math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_tol):
            return []
        return [f"{here}: {b!r}, expected {a!r} (difference {float(b) - float(a):+.6g})"]
    if a != b or type(a) is not type(b):
        return [f"{here}: {json.dumps(b)[:200]}, expected {json.dumps(a)[:200]}"]
    return []


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python tests/compare_results.py EXPECTED.json GOT.json", file=sys.stderr)
        return 2
    a, b = (figures(json.loads(Path(p).read_text())) for p in args)
    diffs = differences(a, b)
    for d in diffs:
        print(d)
    print(f"{len(diffs)} difference(s)" if diffs else "same figures")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
