"""``soe run --from W --to W``: every week of a range in order, resumable, on kept kernels that behave as new ones."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from compare_results import differences, figures
from conftest import soe, soe_once

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks_backfill"
WEEKS = ["2026-W45", "2026-W46", "2026-W47"]


# ---------------------------------------------------------------- the range and the progress (no run)


def test_a_range_across_the_53rd_week_of_2026_lists_every_iso_week():
    from soe_helpers.run.backfill import backfill_weeks

    assert backfill_weeks("2026-W51", "2027-W02") == ["2026-W51", "2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert backfill_weeks("2025-W52", "2026-W01") == ["2025-W52", "2026-W01"]  # 2025 has 52 weeks
    assert backfill_weeks("2026-W47", "2026-W47") == ["2026-W47"]
    assert len(backfill_weeks("2025-W48", "2026-W47")) == 52


def test_to_before_from_or_a_bad_week_is_refused_naming_the_flag():
    from soe_helpers.run.backfill import backfill_weeks
    from soe_helpers.run.runner import RunError

    with pytest.raises(RunError, match="--to 2026-W45 is before --from 2026-W47"):
        backfill_weeks("2026-W47", "2026-W45")
    with pytest.raises(RunError, match="--from"):
        backfill_weeks("2026-47", "2026-W47")
    with pytest.raises(RunError, match="--to"):
        backfill_weeks("2026-W47", "2026-W54")  # 2026 has 53 weeks, not 54


def test_progress_off_a_terminal_is_one_plain_line_per_week_with_the_eta():
    from soe_helpers.run.backfill import Progress

    t = [0.0]
    buf = io.StringIO()  # not a TTY: a cron log
    p = Progress(4, buf, clock=lambda: t[0])
    p.week("2026-W44", "skipped", note="run X has the same inputs and params")
    p.status("  2026-W45: started cash_impact")  # shown in place on a terminal only
    t[0] = 10.0
    p.week("2026-W45", "ok", 10.0)
    t[0] = 40.0
    p.week("2026-W46", "ok", 30.0)
    t[0] = 60.0
    p.week("2026-W47", "ok", 20.0)
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue() and "\033" not in buf.getvalue()
    assert lines == [
        "[1/4] 2026-W44 skipped (run X has the same inputs and params) · elapsed 0:00:00",
        "[2/4] 2026-W45 ok in 10.0s · elapsed 0:00:10, ETA 0:00:20",   # 2 weeks left x 10 s
        "[3/4] 2026-W46 ok in 30.0s · elapsed 0:00:40, ETA 0:00:20",   # 1 week left x mean(10, 30)
        "[4/4] 2026-W47 ok in 20.0s · elapsed 0:01:00",
    ]


# ---------------------------------------------------------------- resuming, on quick fixture notebooks


def _backfill(pack_env: dict, outputs: Path, *args: str, env: dict | None = None, nb_dir: Path = FIXTURES):
    return soe("run", "--from", WEEKS[0], "--to", WEEKS[-1], "--notebooks-dir", str(nb_dir), *args,
               env={**pack_env, "SOE_OUTPUTS": str(outputs), **(env or {})})


def _week_runs(outputs: Path, week: str) -> list[Path]:
    return sorted(p for p in (outputs / week).iterdir() if not p.is_symlink() and (p / "manifest.json").exists())


def test_an_interrupted_backfill_resumes_where_it_stopped(pack_env, tmp_path):
    out = tmp_path / "out"
    first = _backfill(pack_env, out, "--no-html", env={"SOE_TEST_FAIL_WEEK": WEEKS[1]})
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"[1/3] {WEEKS[0]} ok" in first.stderr
    assert f"[2/3] {WEEKS[1]} FAILED" in first.stderr and "planted failure" in first.stderr
    assert f"Stopped at {WEEKS[1]}" in first.stderr and "1 week(s) after it were not run" in first.stderr
    assert not (out / WEEKS[2]).exists()  # nothing is built on a history missing a week
    assert not (out / WEEKS[1] / "latest.json").exists()

    again = _backfill(pack_env, out, "--no-html")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"[1/3] {WEEKS[0]} skipped (run " in again.stderr and "has the same inputs and params" in again.stderr
    assert f"[2/3] {WEEKS[1]} ok" in again.stderr and f"[3/3] {WEEKS[2]} ok" in again.stderr
    assert len(_week_runs(out, WEEKS[0])) == 1  # the week done before the interruption was not run again
    for w in WEEKS:
        assert (out / w / "latest.json").exists()
        run = out / w / json.loads((out / w / "latest.json").read_text())["run_dir"]
        assert not list(run.glob("*.html"))  # --no-html
        assert json.loads((run / "results.json").read_text())["flaky"]["week"] == w

    changed = _backfill(pack_env, out, "--no-html", "--set", "materiality.abs=6000")
    assert changed.returncode == 0 and "3 week(s) run, 0 skipped" in changed.stderr  # new params: none skipped
    assert f"[1/3] {WEEKS[0]} ok" in changed.stderr and len(_week_runs(out, WEEKS[0])) == 2
    forced = _backfill(pack_env, out, "--no-html", "--set", "materiality.abs=6000", "--force")
    assert forced.returncode == 0 and "3 week(s) run, 0 skipped" in forced.stderr
    assert len(_week_runs(out, WEEKS[0])) == 3
    assert not (out / ".backfill").exists()  # the shared snapshot goes with the backfill


def test_a_kept_kernel_starts_every_week_as_a_new_one(pack_env, tmp_path):
    """No variable, module state of the suite or matplotlib setting of one week reaches the next."""
    out = tmp_path / "out"
    res = _backfill(pack_env, out)
    assert res.returncode == 0, res.stdout + res.stderr
    for w in WEEKS:
        run = out / w / json.loads((out / w / "latest.json").read_text())["run_dir"]
        fresh = json.loads((run / "results.json").read_text())["fresh"]
        assert fresh == {"week": w, "leftovers": []}, (w, fresh)
        assert (run / "fresh.html").exists() and (run / "flaky.html").exists()
        m = json.loads((run / "manifest.json").read_text())
        assert m["timings"]["inputs_shared"] is True and m["status"] == "ok"


def test_refused_ranges_write_nothing(pack_env, tmp_path):
    out = tmp_path / "out"
    env = {**pack_env, "SOE_OUTPUTS": str(out)}
    backwards = soe("run", "--from", "2026-W47", "--to", "2026-W45", env=env)
    assert backwards.returncode == 2 and "--to 2026-W45 is before --from 2026-W47" in backwards.stderr
    future = soe("run", "--from", "2026-W47", "--to", "2026-W49", env=env)
    assert future.returncode == 2 and "--to 2026-W49 is not complete in the data" in future.stderr
    assert "latest complete week is 2026-W47" in future.stderr
    mixed = soe("run", "--from", "2026-W46", "--to", "2026-W47", "--week", "2026-W47", env=env)
    assert mixed.returncode == 2 and "--week and --only do not go with --from/--to" in mixed.stderr
    lone = soe("run", "--no-html", env=env)
    assert lone.returncode == 2 and "--no-html is an option of a backfill" in lone.stderr
    assert not out.exists() or not [p for p in out.iterdir() if p.name.startswith("20")]


# ---------------------------------------------------------------- the pack, three weeks


@pytest.fixture(scope="module")
def pack_backfill(pack_env, tmp_path_factory) -> dict:
    """The whole pack for 3 weeks of the demo on kept kernels, with HTML (once per session: read it only)."""
    out, (res,) = soe_once(tmp_path_factory, "backfill", pack_env,
                           ["run", "--from", WEEKS[0], "--to", WEEKS[-1], "--summary", "{out}/summary.json"],
                           timeout=1800)
    summary = out / "summary.json"
    return {"proc": res, "out": out, "summary": json.loads(summary.read_text()) if summary.exists() else None}


def _latest(out: Path, week: str) -> Path:
    return out / week / json.loads((out / week / "latest.json").read_text())["run_dir"]


@pytest.mark.e2e
def test_a_backfill_of_three_weeks_leaves_each_week_its_reports_history_and_index(pack_backfill):
    res, out = pack_backfill["proc"], pack_backfill["out"]
    assert res.returncode == 0, res.stdout + res.stderr
    for i, w in enumerate(WEEKS, 1):
        assert f"[{i}/3] {w} ok in " in res.stderr
        run = _latest(out, w)
        m = json.loads((run / "manifest.json").read_text())
        assert m["status"] == "ok" and m["week"] == w and len(m["notebooks"]) == 7
        assert all((run / f"{n['name']}.html").exists() for n in m["notebooks"])
        assert json.loads((run / "results.json").read_text())["demand_reconciliation"]["week"] == w
        assert (run / "email" / "leadership.eml").exists()
        # every run folder holds its own data: links to one snapshot written once
        orders = run / "data" / "orders.parquet"
        assert orders.exists() and os.stat(orders).st_nlink == len(WEEKS)
    engine = sa.create_engine(f"sqlite:///{out / 'soe_store.sqlite'}")
    with engine.connect() as c:
        kpi_weeks = [r[0] for r in c.execute(sa.text("select distinct week from soe_kpi_history order by week"))]
        run_weeks = {r[0] for r in c.execute(sa.text("select week from soe_runs where status = 'ok'"))}
    assert kpi_weeks == WEEKS and run_weeks == set(WEEKS)
    index = (out / "index.html").read_text()
    assert all(f"<td>{w}</td>" in index for w in WEEKS)
    s = pack_backfill["summary"]
    assert s["ran"] == 3 and s["skipped"] == 0 and s["warm_kernels"] is True and s["warm_workers_started"] == 7
    assert s["execute_seconds"] > 0 and s["html_seconds"] > 0 and s["load_validate_seconds"] > 0


@pytest.mark.e2e
def test_weeks_run_on_kept_kernels_record_the_same_figures_as_on_new_kernels(pack_backfill, pack_env, tmp_path):
    """The same two first weeks, each notebook in a new kernel as ``soe run`` does: results.json equal.

    Without HTML: the comparison is of the recorded figures, which the notebooks write before (and
    whether or not) their HTML is made; the warm run's HTML is checked by the test above."""
    assert pack_backfill["proc"].returncode == 0, pack_backfill["proc"].stderr
    out = tmp_path / "fresh"
    res = soe("run", "--from", WEEKS[0], "--to", WEEKS[1], "--fresh-kernels", "--no-html",
              env={**pack_env, "SOE_OUTPUTS": str(out)}, timeout=1800)
    assert res.returncode == 0, res.stdout + res.stderr
    for w in WEEKS[:2]:
        fresh = json.loads((_latest(out, w) / "results.json").read_text())
        warm = json.loads((_latest(pack_backfill["out"], w) / "results.json").read_text())
        assert differences(figures(fresh), figures(warm)) == [], w


def test_changes_since_a_week_without_tracked_figures_select_no_row_and_keep_their_columns():
    """Found by a backfill of a company's own reports: the second week's email failed on an empty comparison."""
    from soe_helpers.core.params import Materiality
    from soe_helpers.report.summary import changes_since

    ch = changes_since({"own_report": {"x": 1}}, {"own_report": {"x": 2}}, previous_week="2026-W45",
                       materiality=Materiality(), symbol="$")
    moved = ch[ch["changed"]]
    assert ch.empty and list(moved["sentence"]) == []


def test_the_backfill_benchmark_table_has_one_row_per_backfill():
    from soe_helpers.demo.bench import backfill_markdown

    rec = {"weeks": 52, "html": True, "warm_kernels": True, "total_seconds": 600.0, "seconds_per_week": 11.3,
           "load_validate_seconds": 2.0, "snapshot_seconds": 0.2, "execute_seconds": 900.0, "html_seconds": 12.0,
           "cpu_seconds_per_week": 20.5, "peak_rss_mb": 500.0, "peak_total_rss_mb": 3000.0}
    lines = backfill_markdown([rec, {**rec, "html": False, "warm_kernels": False}]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| weeks | HTML | kernels | total s | s per week |")
    assert lines[2] == "| 52 | yes | kept | 600.0 | 11.3 | 2.0 | 0.2 | 900.0 | 12.0 | 20.5 | 500.0 | 3000.0 |"
    assert "| no | new each notebook |" in lines[3]
