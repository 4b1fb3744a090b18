"""``soe``: the suite's command line.

    soe run [--week YYYY-Www] [--data-dir DIR] [--params FILE] [--set k=v]... [--only NOTEBOOK]
    soe run --from YYYY-Www --to YYYY-Www [--no-html] [--force] [--fresh-kernels]   backfill every week of a range
    soe validate [--data-dir DIR] [--params FILE] [--set k=v]...
    soe init --data-dir DIR --out FILE.yaml [--company NAME] [--year-start MONTH] [--calendar 4-4-5] [--year-end last]
    soe demo [--out DIR] [--scale X] [--if-missing] [--sql-url-env VAR]
    soe kernel                      register the named Jupyter kernel in this environment
    soe runs [--week YYYY-Www]      list recorded runs
    soe actions list [--all] [--status S] [--owner TEXT] [--format table|csv]
    soe actions update ID [--status S] [--owner NAME] [--due YYYY-MM-DD] [--note TEXT] [--by NAME]
    soe actions export FILE.xlsx|FILE.csv [--all]  /  soe actions import FILE [--dry-run]  /  soe actions history ID
    soe send [--week YYYY-Www] [--run RUN_ID] [--dry-run] [--force]   deliver the week's email over SMTP

Exit codes: 0 success; 1 a notebook failed; 2 invalid params, data or usage (nothing ran).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soe_helpers.core import paths
from soe_helpers.core.secrets import mask_url, redact, url_secrets

__all__ = ["main", "build_parser"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder of exports laid out like the demo's (overrides data.dir)")
    p.add_argument("--params", action="append", default=[], metavar="FILE",
                   help="your company's params YAML (default params/company.yaml, the demo); each stands on neutral "
                        "defaults unless it says extends: OTHER.yaml; a second file overrides the first")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override one setting by dotted key, e.g. --set materiality.abs=10000 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="soe", description="S&OE weekly pack for finance teams")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the weekly pack for one ISO week")
    p.add_argument("--week", help="ISO week like 2026-W47 (default: the latest complete week in the data)")
    p.add_argument("--only", action="append", metavar="NOTEBOOK", help="run only this notebook (repeatable)")
    p.add_argument("--notebooks-dir", help="run the notebooks of this folder instead of notebooks/")
    b = p.add_argument_group("backfill: every week of a range, in order, as if the pack had run each Monday")
    b.add_argument("--from", dest="from_week", metavar="YYYY-Www", help="first week of the range")
    b.add_argument("--to", dest="to_week", metavar="YYYY-Www", help="last week of the range (included)")
    b.add_argument("--no-html", action="store_true", help="write no HTML reports for the weeks (faster)")
    b.add_argument("--force", action="store_true",
                   help="run again the weeks whose latest full run already has the same inputs (else skipped)")
    b.add_argument("--fresh-kernels", action="store_true",
                   help="a new kernel for every notebook of every week, as a single run does (slower)")
    b.add_argument("--summary", metavar="FILE", help="write the backfill's figures (seconds per step) as JSON")
    _common(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("bench", help="time the pack (and its floor) at a given number of order lines")
    p.add_argument("--order-lines", type=int, action="append", default=None, metavar="N",
                   help="order lines to generate (repeatable; default 1000000)")
    p.add_argument("--out", default=str(paths.outputs_dir() / "bench"), help="folder for data and bench.json/.md")
    p.add_argument("--keep", action="store_true", help="keep the runs' output folders")
    p.add_argument("--backfill", type=int, metavar="WEEKS",
                   help="instead: time a backfill of the demo's last WEEKS complete weeks (soe run --from .. --to ..)")
    p.add_argument("--no-html", action="store_true", help="with --backfill: no HTML reports")
    p.add_argument("--fresh-kernels", action="store_true", help="with --backfill: a new kernel per notebook")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("init", help="propose a params file for a folder of exports (tables and column mapping)")
    p.add_argument("--data-dir", required=True, help="the folder of your exports (CSV, Excel, Parquet)")
    p.add_argument("--out", required=True, help="the params file to write (YAML); an existing file is kept")
    p.add_argument("--company", default="Your company", help="company name for the reports")
    p.add_argument("--year-start", metavar="MONTH",
                   help="the month your fiscal year starts: 1-12 or a name (7, July); default: proposed from the "
                        "plan's periods (a GUESS to confirm), else January")
    p.add_argument("--calendar", choices=("iso", "4-4-5", "4-5-4", "5-4-4"),
                   help="iso = calendar months (default); or 52/53-week years in 13-week quarters of that pattern")
    p.add_argument("--year-end", choices=("last", "nearest"),
                   help="with --calendar 4-4-5 etc. and a year not starting in January: the year ends on the last "
                        "or the nearest Sunday of the month before --year-start")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("validate", help="check params and inputs only")
    _common(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("demo", help="write the built-in demo company's exports")
    p.add_argument("--out", default=None, help=f"folder (default {paths.default_data_dir()})")
    p.add_argument("--scale", type=float, default=1.0, help="multiply order-line volume (benchmarks)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--if-missing", action="store_true", help="do nothing when the folder already has the data")
    p.add_argument("--sql-url-env", metavar="VAR",
                   help="also load it into the database whose SQLAlchemy URL is in environment variable VAR, "
                        "as ERP-like tables (to try params/examples/postgres.yaml)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("kernel", help="register the suite's Jupyter kernel in this environment")
    p.add_argument("--name", default="soe")
    p.set_defaults(func=_cmd_kernel)

    p = sub.add_parser("send", help="deliver the week's email over SMTP (password from SOE_SMTP_PASSWORD)")
    p.add_argument("--week", help="ISO week like 2026-W47 (default: the latest week that has a run)")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID",
                   help="send this run's email (default: the week's latest full run; refused when the week's "
                   "latest run did not finish)")
    p.add_argument("--dry-run", action="store_true", help="show what would be sent, to whom and how; send nothing")
    p.add_argument("--force", action="store_true", help="send again a week that was already sent")
    p.add_argument("--chat", action="store_true",
                   help="post the headline and what needs action to the team's chat (Slack or Teams incoming webhook "
                        "whose URL is in the environment variable chat.webhook_url_env) instead of emailing")
    _common(p)
    p.set_defaults(func=_cmd_send)

    p = sub.add_parser("runs", help="list recorded runs")
    p.add_argument("--week")
    _common(p)
    p.set_defaults(func=_cmd_runs)
    _add_actions_parser(sub)
    return ap


def _cmd_init(args) -> int:
    from soe_helpers.data.mapping import (calendar_choice, init_report, params_text,  # start-up cost: only for init
                                          propose_folder)

    folder, out = Path(args.data_dir).expanduser().resolve(), Path(args.out).expanduser()
    if not folder.is_dir():
        print(f"error: {folder} is not a folder of exports", file=sys.stderr)
        return 2
    if out.exists():
        print(f"error: {out} exists; give another --out (nothing was overwritten)", file=sys.stderr)
        return 2
    proposals = propose_folder(folder)
    try:
        cal = calendar_choice(proposals, folder, args.year_start, args.calendar, args.year_end)
    except ValueError as e:
        print(f"error: {e} (nothing was written)", file=sys.stderr)
        return 2
    out.write_text(params_text(proposals, folder, args.company, cal), encoding="utf-8")
    print("\n".join(init_report(proposals)))
    print(cal.describe())
    print(f"Wrote {out}: check the lines marked GUESS, then: soe validate --params {out}")
    return 0


def _cmd_run(args) -> int:
    from soe_helpers.deliver.mail import build_run_email  # start-up cost: only the commands that need it
    from soe_helpers.run.runner import RunError, run_week  # start-up cost: papermill and nbconvert load with it

    if args.from_week or args.to_week:
        return _cmd_backfill(args)
    for flag, given in (("--no-html", args.no_html), ("--force", args.force), ("--fresh-kernels", args.fresh_kernels),
                        ("--summary", args.summary)):
        if given:
            raise RunError(f"{flag} is an option of a backfill (--from WEEK --to WEEK)")

    res = run_week(week=args.week, data_dir=args.data_dir, param_files=args.params, sets=args.sets,
                   only=args.only, argv=sys.argv[1:], build_email=build_run_email,
                   notebooks_dir=Path(args.notebooks_dir).resolve() if args.notebooks_dir else None)
    if res.ok:
        skipped = [nb for nb in res.notebooks if not nb.get("html")]
        print(f"\nWeek {res.week}: all {len(res.notebooks) - len(skipped)} report(s) ok"
              + (f"; {len(skipped)} not run (this company lacks tables they need)." if skipped else "."))
        print(f"Reports: {res.run_dir}")
        for nb in res.notebooks:
            print(f"  {res.run_dir / nb['html']}" if nb.get("html") else f"  {nb['name']}: not run — {nb.get('reason')}")
        em = res.manifest.get("email") or {}
        if em.get("kind") == "leadership":
            print(f"Email for leadership: {res.run_dir / em['file']} ({em.get('bytes', 0) / 1024:,.0f} KB)\n"
                  f"  send it with: soe send --week {res.week}")
            rep = em.get("reports") or {}
            if rep.get("bundle"):
                print(f"Every report in one page: {res.run_dir / rep['bundle']}"
                      + (" (attached to the email)" if rep.get("attached") else ""))
            if rep.get("note"):
                print(f"Note: {rep['note']}")
        elif em.get("file"):
            print(f"No leadership email: this run did not include every report of the pack; the analysts' notice "
                  f"is {res.run_dir / em['file']}")
        return 0
    print(f"\nWeek {res.week}: run FAILED; nothing was published as the week's latest.", file=sys.stderr)
    em = res.manifest.get("email") or {}
    if em.get("error"):
        print(f"  email: {em['error']}", file=sys.stderr)
    if em.get("kind") == "failure_notice":
        print(f"  failure notice for the analysts: {res.run_dir / em['file']} (soe send --week {res.week})",
              file=sys.stderr)
    for nb in res.notebooks:
        if nb["status"] != "ok":
            print(f"  {nb['name']}: {nb.get('error')}", file=sys.stderr)
            if nb.get("ipynb"):
                print(f"    executed notebook with the error: {res.run_dir / nb['ipynb']}", file=sys.stderr)
    return 1


def _cmd_backfill(args) -> int:
    import json

    from soe_helpers.deliver.mail import build_run_email  # start-up cost: only the commands that need it
    from soe_helpers.run.backfill import backfill  # start-up cost: papermill and nbconvert load with it
    from soe_helpers.run.runner import RunError  # start-up cost: soe --help stays fast

    if not (args.from_week and args.to_week):
        raise RunError("a backfill needs both --from WEEK and --to WEEK")
    if args.week or args.only:
        raise RunError("--week and --only do not go with --from/--to: a backfill runs the whole pack for every week "
                       "of the range")
    res = backfill(args.from_week, args.to_week, data_dir=args.data_dir, param_files=args.params, sets=args.sets,
                   notebooks_dir=Path(args.notebooks_dir).resolve() if args.notebooks_dir else None,
                   html=not args.no_html, force=args.force, warm=not args.fresh_kernels, argv=sys.argv[1:],
                   build_email=build_run_email)
    if args.summary:
        Path(args.summary).write_text(json.dumps(res.summary, indent=2))
    done = [w for w in res.weeks if w.status == "ok"]
    if done:
        print(f"Reports of {len(done)} week(s) under {paths.outputs_dir()}; history page: "
              f"{paths.outputs_dir() / 'index.html'}")
    return 0 if res.ok else 1


def _cmd_bench(args) -> int:
    from soe_helpers.demo.bench import run_backfill_bench, run_bench  # start-up cost: soe --help stays fast

    if args.backfill:
        rec = run_backfill_bench(args.backfill, Path(args.out), order_lines=(args.order_lines or [None])[0],
                                 html=not args.no_html, fresh_kernels=args.fresh_kernels, keep=args.keep)
        print(f"Backfill of {rec['weeks']} week(s) ({rec['first']} .. {rec['last']}, {rec['order_lines']:,} order lines, "
              f"HTML {'yes' if rec['html'] else 'no'}): {rec['total_seconds']}s in all, {rec['seconds_per_week']}s per "
              f"week; load+validate {rec['load_validate_seconds']}s once, snapshot {rec['snapshot_seconds']}s once; "
              f"notebook execution {rec['execute_seconds']}s and HTML {rec['html_seconds']}s (summed over notebooks); "
              f"peak RSS {rec['peak_rss_mb']} MB (largest process), {rec['peak_total_rss_mb']} MB (all)")
        print(f"Results: {Path(args.out) / 'backfill_bench.json'} and backfill_bench.md")
        return 0
    for n in args.order_lines or [1_000_000]:
        rec = run_bench(n, Path(args.out), keep_data=args.keep)
        print(f"{rec['order_lines']:,} order lines: pack {rec['pack_seconds']}s, floor {rec['floor_seconds']}s "
              f"({rec['pack_over_floor']}x), peak RSS {rec['peak_rss_mb']} MB")
    print(f"Results: {Path(args.out) / 'bench.json'} and bench.md")
    return 0


def _cmd_validate(args) -> int:
    from soe_helpers.core.calendar import latest_complete_week  # start-up cost: soe --help stays fast
    from soe_helpers.core.params import load_params  # start-up cost: soe --help stays fast
    from soe_helpers.data.needs import plan_reports  # start-up cost: soe --help stays fast
    from soe_helpers.data.schemas import SCHEMAS  # start-up cost: soe --help stays fast
    from soe_helpers.run.runner import discover_notebooks, validate_inputs  # start-up cost: soe --help stays fast

    params = load_params(args.params, args.sets, args.data_dir)
    tables, as_of = validate_inputs(params)
    for name, lt in tables.items():
        print(f"  ok  {name:16s} {lt.rows:>10,} rows  {lt.origin}")
        if name == "forecasts" and len(lt.frame) and lt.frame["snapshot_week"].isna().all():
            print(f"      {'':16s} no snapshot week: the current forecast, made in {latest_complete_week(as_of)}; "
                  "each weekly run keeps its week's snapshot, so forecast error builds up from the first run")
    present = params.data.present()
    for name in SCHEMAS:
        if name in tables:
            continue
        if name in present:  # an optional overlap export whose file is absent: its checks will not run
            print(f"  --  {name:16s} not provided (optional; {present[name].file} not found)")
        else:
            print(f"  --  {name:16s} not provided (no source in params)")
    print(f"Inputs valid. Data as of {as_of}; latest complete week {latest_complete_week(as_of)}.")
    for note in (n for lt in tables.values() for n in lt.notes):  # what the load inferred (data.completion)
        print(f"Note: {note}")
    to_run, not_run = plan_reports([p.stem for p in discover_notebooks()], tables)
    print(f"Reports that will run: {', '.join(to_run) or 'none'}.")
    for name, why in not_run.items():
        print(f"Not run: {name} — {why}.")
    return 0


def _cmd_demo(args) -> int:
    from soe_helpers.demo.company import generate  # start-up cost: soe --help stays fast

    out = Path(args.out).resolve() if args.out else paths.default_data_dir()
    if args.if_missing and (out / "erp_sales_order_lines.csv").exists():
        print(f"Demo data already present in {out}")
    else:
        kw = {"scale": args.scale}
        if args.seed is not None:
            kw["seed"] = args.seed
        summary = generate(out, **kw)
        rows = summary.get("rows", {})
        print(f"Demo company written to {out}" + (f" ({sum(rows.values()):,} rows)" if rows else ""))
    if args.sql_url_env:
        _demo_into_sql(args.sql_url_env, out)
    return 0


def _demo_into_sql(var: str, data_dir: Path) -> None:
    """Load the demo into the database at $VAR; the URL (and its password) is never printed."""
    import os

    import sqlalchemy as sa

    from soe_helpers.demo.postgres import load_demo_into  # start-up cost: soe --help stays fast
    from soe_helpers.run.runner import RunError  # start-up cost: soe --help stays fast

    url = os.environ.get(var, "")
    if not url:
        raise RunError(f"--sql-url-env: environment variable {var} is not set; it must hold the SQLAlchemy URL "
                       "of the database to load, e.g. postgresql+psycopg://user:password@host:5432/erp")
    try:
        shown = mask_url(sa.engine.make_url(url).render_as_string(hide_password=False))
    except sa.exc.ArgumentError:
        raise RunError(f"--sql-url-env: ${var} is not a SQLAlchemy URL (dialect+driver://user:password@host/db)") from None
    try:
        written = load_demo_into(url, data_dir)
    except sa.exc.SQLAlchemyError as e:
        first = redact((str(e).splitlines() or [type(e).__name__])[0].replace(url, "<url>"), url_secrets(url))
        raise RunError(f"loading the demo into {shown} failed; nothing was written: {first}") from None
    except ImportError as e:
        raise RunError(f"the database driver for {shown} is not installed ({e}); "
                       "e.g. pip install 'psycopg[binary]' for PostgreSQL") from None
    print(f"Demo loaded into {shown}: " + ", ".join(f"{t} ({n:,})" for t, n in written.items()))


def _cmd_kernel(args) -> int:
    from ipykernel.kernelspec import install

    from soe_helpers.run.execute import INLINE_BACKEND  # start-up cost: soe --help stays fast

    path = install(kernel_name=args.name, display_name="Python 3 (S&OE suite)", prefix=sys.prefix,
                   env={"MPLBACKEND": INLINE_BACKEND})
    print(f"Kernel {args.name!r} registered at {path}")
    return 0


def _cmd_runs(args) -> int:
    from soe_helpers.core.params import load_params  # start-up cost: soe --help stays fast
    from soe_helpers.store.engine import open_store  # start-up cost: soe --help stays fast

    params = load_params(args.params, args.sets, args.data_dir)
    for r in open_store(params).list_runs(args.week):
        print(f"{r['week']}  {r['run_id']:32s}  {r['status']:8s}  {r['run_dir']}")
    return 0


def _cmd_send(args) -> int:
    from soe_helpers.core.params import load_params  # start-up cost: soe --help stays fast
    from soe_helpers.deliver.send import SendError, send_week  # start-up cost: soe --help stays fast

    params = load_params(args.params, args.sets, args.data_dir)
    try:
        if args.chat:
            from soe_helpers.deliver.chat import post_chat_week  # start-up cost: only for --chat

            return post_chat_week(params, week=args.week, run_id=args.run_id, dry_run=args.dry_run, force=args.force)
        return send_week(params, week=args.week, run_id=args.run_id, dry_run=args.dry_run, force=args.force)
    except SendError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code


def _add_actions_parser(sub) -> None:
    p = sub.add_parser("actions", help="the action tracker: list, update, export, import")
    asub = p.add_subparsers(dest="actions_command", required=True)
    q = asub.add_parser("list", help="list actions (open and in progress unless --all or --status)")
    q.add_argument("--status", action="append", choices=["open", "in progress", "done", "dropped"],
                   help="only this status (repeatable)")
    q.add_argument("--all", action="store_true", help="every action, closed ones too")
    q.add_argument("--owner", help="only actions whose owner contains this text")
    q.add_argument("--format", choices=["table", "csv"], default="table")
    _common(q)
    q = asub.add_parser("update", help="change an action's status, owner or due date, or add a note")
    q.add_argument("id", help="action id, e.g. A-0007")
    q.add_argument("--status", choices=["open", "in progress", "done", "dropped"])
    q.add_argument("--owner")
    q.add_argument("--due", metavar="YYYY-MM-DD")
    q.add_argument("--note")
    q.add_argument("--by", help="who is making the change (default: $USER)")
    _common(q)
    q = asub.add_parser("export", help="write the tracker to a spreadsheet to edit (.xlsx or .csv)")
    q.add_argument("file")
    q.add_argument("--all", action="store_true", help="include done and dropped actions")
    _common(q)
    q = asub.add_parser("import", help="read an edited export back (validated; all or nothing)")
    q.add_argument("file")
    q.add_argument("--by", help="who is making the changes (default: $USER)")
    q.add_argument("--dry-run", action="store_true", help="validate and show the changes without applying them")
    _common(q)
    q = asub.add_parser("history", help="every change to one action")
    q.add_argument("id")
    _common(q)
    p.set_defaults(func=_cmd_actions)


def _cmd_actions(args) -> int:
    """``soe actions ...``: exit 0 on success, 2 with a clear message on bad input (nothing changed)."""
    from soe_helpers.analysis import actions as A  # start-up cost: soe --help stays fast
    from soe_helpers.core.params import load_params  # start-up cost: soe --help stays fast
    from soe_helpers.core.formats import fmt_money  # start-up cost: soe --help stays fast
    from soe_helpers.store import actions as tracker  # start-up cost: soe --help stays fast
    from soe_helpers.store.engine import open_store  # start-up cost: soe --help stays fast

    params = load_params(args.params, args.sets, args.data_dir)
    store = open_store(params)
    cur = params.company.currency_symbol
    try:
        cmd = args.actions_command
        if cmd == "list":
            acts = tracker.load_actions(store)
            statuses = args.status or (list(A.STATUSES) if args.all else list(A.OPEN_STATUSES))
            acts = acts[acts["status"].isin(statuses)]
            if args.owner:
                acts = acts[acts["owner"].str.contains(args.owner, case=False, regex=False)]
            t = A.list_table(acts).join(A.playbook(acts, params.actions, cur)[["severity", "next_step",
                                                                               "decision_asked"]])
            if args.format == "csv":
                from soe_helpers.core.exports import neutralise  # pandas-backed: kept out of the CLI start-up

                neutralise(t).to_csv(sys.stdout, index=False)  # often redirected into a spreadsheet
                return 0
            if t.empty:
                print(f"No {' or '.join(statuses)} actions in the store ({store.display_url}).")
                return 0
            for r in t.itertuples(index=False):
                late = f" OVERDUE {r.overdue_days}d" if r.overdue_days else ""
                print(f"{r.id}  {r.status:11s} {fmt_money(r.dollars_at_stake, cur):>8s}  {r.escalation_level or '':8s} "
                      f"due {r.due_date}{late}  seen {r.weeks_seen}w  {r.owner}\n        {r.title}\n"
                      f"        next: {r.next_step}\n        decide: {r.decision_asked}")
            print(f"{len(t)} action(s); {fmt_money(t['dollars_at_stake'].sum(), cur)} at stake.")
            return 0
        if cmd == "update":
            res = tracker.update_action(store, args.id, status=args.status, owner=args.owner, due=args.due,
                                        note=args.note, actor=args.by, source="cli")
            a = res["action"]
            if not res["changed"]:
                print(f"{res['id']}: already so; nothing changed.")
            else:
                print(f"{res['id']} updated ({', '.join(res['changed'])}): {a['status']}, owner {a['owner']}, "
                      f"due {a['due_date']}.")
            return 0
        if cmd == "export":
            n = tracker.export_actions(store, args.file, statuses=None if args.all else list(A.OPEN_STATUSES),
                                       settings=params.actions, symbol=cur)
            print(f"{n} action(s) written to {args.file}. Edit owner, due_date, status or add_note, then: "
                  f"soe actions import {args.file}")
            return 0
        if cmd == "import":
            res = tracker.import_actions(store, args.file, actor=args.by, dry_run=args.dry_run)
            for w in res.warnings:
                print(f"warning: {w}", file=sys.stderr)
            verb = "would change" if res.dry_run else "changed"
            print(f"{args.file}: {verb} {len(res.changed)} action(s), {res.unchanged} unchanged.")
            for aid, fields in res.changed.items():
                print(f"  {aid}: {', '.join(fields)}")
            return 0
        if cmd == "history":
            aid = A.parse_id(args.id)
            h = tracker.load_history(store, aid)
            if h.empty:
                raise A.ActionError(f"no action {A.format_id(aid)} in the store")
            for r in h.itertuples(index=False):
                print(f"{r.at:%Y-%m-%d %H:%M}  {r.source:6s} {r.actor or '':24s} {r.field}: "
                      f"{r.old_value if isinstance(r.old_value, str) else '–'} -> {r.new_value}")
            return 0
    except A.ActionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 2


def main(argv: list[str] | None = None) -> int:
    from soe_helpers.data.loaders import DataError  # start-up cost: soe --help stays fast
    from soe_helpers.core.params import ParamsError  # start-up cost: soe --help stays fast
    from soe_helpers.run.runner import RunError  # start-up cost: soe --help stays fast
    from soe_helpers.store.engine import StoreError  # start-up cost: soe --help stays fast

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ParamsError, DataError, RunError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
