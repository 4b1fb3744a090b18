"""``soe``: the suite's command line.

    soe run [--week YYYY-Www] [--data-dir DIR] [--params FILE] [--set k=v]... [--only NOTEBOOK]
    soe validate [--data-dir DIR] [--params FILE] [--set k=v]...
    soe demo [--out DIR] [--scale X] [--if-missing]
    soe kernel                      register the named Jupyter kernel in this environment
    soe runs [--week YYYY-Www]      list recorded runs

Exit codes: 0 success; 1 a notebook failed; 2 invalid params, data or usage (nothing ran).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import paths

__all__ = ["main", "build_parser"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder of exports laid out like the demo's (overrides data.dir)")
    p.add_argument("--params", action="append", default=[], metavar="FILE",
                   help="YAML merged on top of params/company.yaml (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override one setting by dotted key, e.g. --set materiality.abs=10000 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="soe", description="S&OE weekly pack for finance teams")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the weekly pack for one ISO week")
    p.add_argument("--week", help="ISO week like 2026-W47 (default: the latest complete week in the data)")
    p.add_argument("--only", action="append", metavar="NOTEBOOK", help="run only this notebook (repeatable)")
    p.add_argument("--notebooks-dir", help="run the notebooks of this folder instead of notebooks/")
    _common(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("bench", help="time the pack (and its floor) at a given number of order lines")
    p.add_argument("--order-lines", type=int, action="append", default=None, metavar="N",
                   help="order lines to generate (repeatable; default 1000000)")
    p.add_argument("--out", default=str(paths.outputs_dir() / "bench"), help="folder for data and bench.json/.md")
    p.add_argument("--keep", action="store_true", help="keep the runs' output folders")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("validate", help="check params and inputs only")
    _common(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("demo", help="write the built-in demo company's exports")
    p.add_argument("--out", default=None, help=f"folder (default {paths.default_data_dir()})")
    p.add_argument("--scale", type=float, default=1.0, help="multiply order-line volume (benchmarks)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--if-missing", action="store_true", help="do nothing when the folder already has the data")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("kernel", help="register the suite's Jupyter kernel in this environment")
    p.add_argument("--name", default="soe")
    p.set_defaults(func=_cmd_kernel)

    p = sub.add_parser("runs", help="list recorded runs")
    p.add_argument("--week")
    _common(p)
    p.set_defaults(func=_cmd_runs)
    return ap


def _cmd_run(args) -> int:
    from .runner import run_week

    res = run_week(week=args.week, data_dir=args.data_dir, param_files=args.params, sets=args.sets,
                   only=args.only, argv=sys.argv[1:],
                   notebooks_dir=Path(args.notebooks_dir).resolve() if args.notebooks_dir else None)
    if res.ok:
        print(f"\nWeek {res.week}: all {len(res.notebooks)} report(s) ok.")
        print(f"Reports: {res.run_dir}")
        for nb in res.notebooks:
            print(f"  {res.run_dir / nb['html']}")
        return 0
    print(f"\nWeek {res.week}: run FAILED; nothing was published as the week's latest.", file=sys.stderr)
    for nb in res.notebooks:
        if nb["status"] != "ok":
            print(f"  {nb['name']}: {nb.get('error')}", file=sys.stderr)
            if nb.get("ipynb"):
                print(f"    executed notebook with the error: {res.run_dir / nb['ipynb']}", file=sys.stderr)
    return 1


def _cmd_bench(args) -> int:
    from .bench import run_bench

    for n in args.order_lines or [1_000_000]:
        rec = run_bench(n, Path(args.out), keep_data=args.keep)
        print(f"{rec['order_lines']:,} order lines: pack {rec['pack_seconds']}s, floor {rec['floor_seconds']}s "
              f"({rec['pack_over_floor']}x), peak RSS {rec['peak_rss_mb']} MB")
    print(f"Results: {Path(args.out) / 'bench.json'} and bench.md")
    return 0


def _cmd_validate(args) -> int:
    from .calendar import latest_complete_week
    from .params import load_params
    from .runner import validate_inputs

    params = load_params([paths.params_dir() / "company.yaml", *args.params], args.sets, args.data_dir)
    tables, as_of = validate_inputs(params)
    for name, lt in tables.items():
        print(f"  ok  {name:16s} {lt.rows:>10,} rows  {lt.origin}")
    print(f"Inputs valid. Data as of {as_of}; latest complete week {latest_complete_week(as_of)}.")
    return 0


def _cmd_demo(args) -> int:
    from .demo import generate

    out = Path(args.out).resolve() if args.out else paths.default_data_dir()
    if args.if_missing and (out / "erp_sales_order_lines.csv").exists():
        print(f"Demo data already present in {out}")
        return 0
    kw = {"scale": args.scale}
    if args.seed is not None:
        kw["seed"] = args.seed
    summary = generate(out, **kw)
    rows = summary.get("rows", {})
    print(f"Demo company written to {out}" + (f" ({sum(rows.values()):,} rows)" if rows else ""))
    return 0


def _cmd_kernel(args) -> int:
    from ipykernel.kernelspec import install

    from .execute import INLINE_BACKEND

    path = install(kernel_name=args.name, display_name="Python 3 (S&OE suite)", prefix=sys.prefix,
                   env={"MPLBACKEND": INLINE_BACKEND})
    print(f"Kernel {args.name!r} registered at {path}")
    return 0


def _cmd_runs(args) -> int:
    from .params import load_params
    from .store import open_store

    params = load_params([paths.params_dir() / "company.yaml", *args.params], args.sets, args.data_dir)
    for r in open_store(params).list_runs(args.week):
        print(f"{r['week']}  {r['run_id']:22s}  {r['status']:8s}  {r['run_dir']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .loaders import DataError
    from .params import ParamsError
    from .runner import RunError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ParamsError, DataError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
