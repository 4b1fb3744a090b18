"""The weekly runner end to end: CLI exit codes, reports without code, manifest, re-runs, failures."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import DEMO_WEEK, copy_demo, private_outputs, soe
from soe_helpers.store.engine import results

pytestmark = pytest.mark.e2e
CODE_MARKERS = ["open_week(", "import ", "wk.record", "show_table(", "jp-CodeMirrorEditor", "hl-ipython3", 'class="highlight',
                "In&nbsp;[", "Traceback", "run_dir = ", "jp-InputPrompt"]


def visible(html: str) -> str:
    """The report without its <style> and <script> blocks (CSS names classes it never uses)."""
    html = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"<script.*?</script>", "", html, flags=re.S)


def test_pack_runs_and_says_where_reports_are(pack_run):
    proc = pack_run["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all" in proc.stdout and "report(s) ok" in proc.stdout
    assert str(pack_run["run_dir"]) in proc.stdout


def test_reports_have_no_code_no_traceback_and_real_figures(pack_run):
    html = visible((pack_run["run_dir"] / "demand_reconciliation.html").read_text())
    for marker in CODE_MARKERS:
        assert marker not in html, marker
    assert "<img" in html and "image/png" in html  # charts rendered
    assert "Demand reconciliation" in html and "Kestrel Components" in html and DEMO_WEEK in html
    assert re.search(r"projected to land at \$[\d.]+[MK]", html)
    assert "Text(" not in html and "&lt;Figure" not in html


def test_no_report_prints_a_python_value(pack_run):
    """Plain words for leadership: no 'closes: True', no None or nan in the text of any report."""
    for page in sorted(pack_run["run_dir"].glob("*.html")):
        text = re.sub(r"<[^>]+>", " ", visible(page.read_text()))
        for raw in (": True", ": False", " True.", " False.", " None.", " nan ", "NaN"):
            assert raw not in text, (page.name, raw, text[max(0, text.find(raw) - 120):text.find(raw) + 60])


def test_manifest_is_complete(pack_run):
    m = pack_run["manifest"]
    assert m["status"] == "ok" and m["week"] == DEMO_WEEK and m["quarter"] == "2026-Q4"
    for key in ("run_id", "params", "inputs", "code", "packages", "notebooks", "started_at", "finished_at",
                "data_as_of", "timings", "python"):
        assert key in m, key
    assert set(m["inputs"]) >= {"orders", "shipments", "products", "customers", "plan", "forecasts"}
    assert all(len(v["sha256"]) == 64 for v in m["inputs"].values())
    nb = {n["name"]: n for n in m["notebooks"]}
    assert nb["demand_reconciliation"]["status"] == "ok" and nb["demand_reconciliation"]["seconds"] > 0
    assert m["packages"]["pandas"] and m["code"]["soe_version"]


def test_results_record_the_headlines(pack_run):
    r = pack_run["results"]["demand_reconciliation"]
    assert r["week"] == DEMO_WEEK and r["quarter"] == "2026-Q4"
    assert r["bridge_closes"] is True
    assert abs(r["landing"] - (r["plan_quarter"] + r["landing_gap"])) < 0.01
    # the landing counts the open backlog: SO-500000 ($500K, promised 20 Nov, scheduled 4 Dec) ships inside Q4
    assert r["backlog_in_quarter"] >= 500_000
    assert abs(r["landing"] - (r["actual_qtd"] + r["backlog_in_quarter"] + r["unbooked_in_quarter"])) < 0.01
    assert "Controllers" in r["lines_behind"]  # the demo's optimistic Controllers plan
    assert r["material_variances"] > 0
    b = r["bridge"]
    assert abs(b["Plan revenue"] + b["Volume"] + b.get("Line mix", 0.0) + b["Mix"] + b["Price"] + b["Unplanned items"]
               - b["Actual revenue"]) < 0.01
    reg = pack_run["run_dir"] / "variance_register.csv"
    assert reg.exists() and (pack_run["run_dir"] / "variance_register.xlsx").exists()


def test_validated_tables_and_store_record(pack_run, pack_env):
    from soe_helpers.store.engine import Store

    assert (pack_run["run_dir"] / "data" / "orders.parquet").exists()
    store = Store(f"sqlite:///{Path(pack_env['SOE_OUTPUTS']) / 'soe_store.sqlite'}")
    runs = store.list_runs(DEMO_WEEK)
    assert any(r["status"] == "ok" and r["run_id"] == pack_run["manifest"]["run_id"] for r in runs)
    assert store.results_for(DEMO_WEEK)["demand_reconciliation"]["week"] == DEMO_WEEK


def test_rerun_keeps_the_earlier_run(pack_run, pack_env, tmp_path):
    pack_run, pack_env = private_outputs(pack_run, pack_env, tmp_path / "outputs")  # the shared ones are read-only
    first = pack_run["run_dir"]
    res = soe("run", "--week", DEMO_WEEK, "--only", "demand_reconciliation", env=pack_env)
    assert res.returncode == 0, res.stderr
    runs = sorted(p for p in pack_run["week_dir"].iterdir() if p.is_dir() and p.name[0].isdigit())
    assert first in runs and len(runs) >= 2
    assert (first / "demand_reconciliation.html").exists()


def test_a_partial_run_adds_to_the_week_records_and_keeps_latest(pack_run, pack_env, tmp_path):
    import shutil

    from soe_helpers.core import run_folder
    from soe_helpers.store.engine import Store

    # a copy of the session's outputs and store: other tests run the same week in the shared ones
    out = tmp_path / "outputs"
    shutil.copytree(pack_run["outputs"], out, symlinks=True)
    pack_env = {**pack_env, "SOE_OUTPUTS": str(out)}
    week_dir = out / DEMO_WEEK
    pack_run = {**pack_run, "week_dir": week_dir,
                "manifest": {"run_id": run_folder.latest_full_run(week_dir).run_id}}
    store = Store(f"sqlite:///{out / 'soe_store.sqlite'}")

    def rows() -> dict[str, set]:
        with store.engine.connect() as c:
            got = c.execute(sa.select(results.c.section, results.c.key, results.c.run_id)
                            .where(results.c.week == DEMO_WEEK)).all()
        out: dict[str, set] = {}
        for section, key, run_id in got:
            out.setdefault(section, set()).add((key, run_id))
        return out

    full = pack_run["manifest"]["run_id"]
    before = rows()  # other tests of the session may have run the week before: whatever the records are, they stay
    latest_before = json.loads((pack_run["week_dir"] / "latest.json").read_text())
    assert latest_before["run_dir"] == latest_before["run_id"]  # relative to the week folder
    res = soe("run", "--week", DEMO_WEEK, "--only", "data_accuracy", env=pack_env)
    assert res.returncode == 0, res.stdout + res.stderr
    part = run_folder.latest_run(pack_run["week_dir"])
    assert (part.state, part.partial) == ("partial", True), part
    after = rows()
    assert set(after) == set(before), f"sections of the week's soe_results changed: {set(before) ^ set(after)}"
    for section in before:
        if section == "data_accuracy":
            assert {r for _, r in after[section]} == {part.run_id}, after[section]
            assert {k for k, _ in after[section]} == {k for k, _ in before[section]}
        else:
            assert after[section] == before[section], f"soe_results of {section} changed by a data_accuracy run"
    assert sum(map(len, after.values())) == sum(map(len, before.values()))
    assert json.loads((pack_run["week_dir"] / "latest.json").read_text()) == latest_before
    assert run_folder.latest_full_run(pack_run["week_dir"]).run_id == full


def test_unknown_param_fails_before_anything_runs(pack_env, tmp_path):
    env = {**pack_env, "SOE_OUTPUTS": str(tmp_path / "out")}
    res = soe("run", "--week", DEMO_WEEK, "--set", "bogus_param=1", env=env)
    assert res.returncode == 2
    assert "bogus_param" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_notebook_parameter_is_an_error(pack_env, tmp_path):
    env = {**pack_env, "SOE_OUTPUTS": str(tmp_path / "out")}
    res = soe("run", "--set", "notebooks.demand_reconciliation.colour=red", env=env)
    assert res.returncode == 2
    assert "notebooks.demand_reconciliation.colour" in res.stderr and "declares no parameter" in res.stderr
    res = soe("run", "--set", "notebooks.no_such_report.x=1", env=env)
    assert res.returncode == 2 and "no notebook no_such_report" in res.stderr


def test_incomplete_week_is_refused(pack_env, tmp_path):
    res = soe("run", "--week", "2026-W49", env={**pack_env, "SOE_OUTPUTS": str(tmp_path / "o")})
    assert res.returncode == 2 and "not complete in the data" in res.stderr and "2026-W47" in res.stderr


def test_validate_names_file_and_column_of_text_in_quantity(demo_dir, tmp_path):
    bad = copy_demo(demo_dir, tmp_path / "bad")
    f = bad / "erp_sales_order_lines.csv"
    lines = f.read_text().splitlines()
    header = lines[0].split(",")
    qi = header.index("Qty Ordered")
    row = lines[5].split(",")
    row[qi] = "twelve"
    lines[5] = ",".join(row)
    f.write_text("\n".join(lines) + "\n")
    res = soe("validate", "--data-dir", str(bad))
    assert res.returncode == 2
    assert "erp_sales_order_lines.csv" in res.stderr and "'Qty Ordered' (quantity)" in res.stderr
    assert "line 6: 'twelve'" in res.stderr and "Traceback" not in res.stderr
    ok = soe("validate", "--data-dir", str(demo_dir))
    assert ok.returncode == 0 and "Inputs valid" in ok.stdout


def _run_fixture(monkeypatch, tmp_path, demo_dir, folder, sets=()):
    from soe_helpers.run.runner import run_week

    monkeypatch.setenv("SOE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("SOE_DATA_DIR", str(demo_dir))
    nb_dir = Path(__file__).parent / "fixtures" / folder
    return run_week(DEMO_WEEK, notebooks_dir=nb_dir, sets=list(sets), progress=lambda m: None)


def test_failing_notebook_is_reported_others_still_run(monkeypatch, tmp_path, demo_dir):
    res = _run_fixture(monkeypatch, tmp_path, demo_dir, "notebooks_fail")
    assert res.status == "failed"
    st = {n["name"]: n for n in res.notebooks}
    assert st["good"]["status"] == "ok" and (res.run_dir / "good.html").exists()
    assert st["broken"]["status"] == "failed" and "planted failure" in st["broken"]["error"]
    assert (res.run_dir / "broken.ipynb").exists() and not (res.run_dir / "broken.html").exists()
    executed = json.loads((res.run_dir / "broken.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", []))
    assert json.loads((res.run_dir / "manifest.json").read_text())["status"] == "failed"
    assert (res.run_dir / "FAILED").exists()
    assert not (res.run_dir.parent / "latest.json").exists()  # nothing marks the run as good
    assert json.loads((res.run_dir / "results.json").read_text())["good"]["label"] == "fine"


def test_hanging_notebook_is_stopped_at_its_time_limit(monkeypatch, tmp_path, demo_dir):
    res = _run_fixture(monkeypatch, tmp_path, demo_dir, "notebooks_hang", ["run.timeout_seconds=15"])
    (nb,) = res.notebooks
    assert res.status == "failed" and "timed out after 15s" in nb["error"] and nb["seconds"] < 60


def test_notebook_without_standard_parameters_is_refused(monkeypatch, tmp_path, demo_dir):
    from soe_helpers.run.runner import RunError

    with pytest.raises(RunError, match="must declare week, run_dir"):
        _run_fixture(monkeypatch, tmp_path, demo_dir, "notebooks_noparams")


def test_second_run_of_the_same_week_is_refused_while_locked(tmp_path):
    import os

    from soe_helpers.run.runner import RunError, WeekLock

    with WeekLock(tmp_path):
        with pytest.raises(RunError, match="another run of this week is in progress"):
            with WeekLock(tmp_path):
                pass
    (tmp_path / ".lock").write_text("999999999\n")  # stale lock of a killed run
    with WeekLock(tmp_path):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


def test_worker_env_one_rule_for_a_run_and_a_backfill(monkeypatch):
    """The notebook workers' environment (soe run and a backfill share it): charts inline even under a cron's
    MPLBACKEND=Agg, one BLAS thread per kernel unless the user set one, the lifeline pipe named."""
    from soe_helpers.run.execute import INLINE_BACKEND, RUNNER_FD_ENV, worker_env

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = worker_env(7)
    assert env["MPLBACKEND"] == INLINE_BACKEND and env[RUNNER_FD_ENV] == "7"
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "3"
