"""The store is written by weekly runs that finish ok, and by nothing else.

An analyst's session (a notebook opened in JupyterLab: no ``run_dir``) reads the store and never
writes it; a run that fails after some notebooks wrote leaves the week's history as it was.
Both start from a copy of the session run's store, which holds a run's rows in every table.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import DEMO_WEEK, ROOT

pytestmark = pytest.mark.e2e

HISTORY = ("soe_kpi_history", "soe_data_accuracy_history", "soe_cash_events", "soe_cash_forecast", "soe_actions",
           "soe_action_sightings", "soe_action_history", "soe_results", "soe_forecast_snapshots")


def _copy_store(pack_env, out: Path) -> Path:
    """A copy of the session run's SQLite store (WAL included) as ``out``'s default store."""
    out.mkdir(parents=True)
    src = sqlite3.connect(Path(pack_env["SOE_OUTPUTS"]) / "soe_store.sqlite")
    dst = sqlite3.connect(out / "soe_store.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    return out / "soe_store.sqlite"


def _snapshot(db: Path) -> dict[str, list[str]]:
    """Every table's rows (as text, sorted), by table name."""
    eng = sa.create_engine(f"sqlite:///{db}")
    md = sa.MetaData()
    md.reflect(eng)
    with eng.connect() as c:
        snap = {name: sorted(map(repr, c.execute(sa.select(t)).all())) for name, t in md.tables.items()}
    eng.dispose()
    return snap


def _changes(before: dict, after: dict) -> list[str]:
    out = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, []), after.get(name, [])
        if a != b:
            gone, new = sorted(set(b) - set(a)), sorted(set(a) - set(b))
            out.append(f"{name}: {len(b)} -> {len(a)} rows; removed e.g. {gone[:2]}; added e.g. {new[:2]}")
    return out


def _env(monkeypatch, demo_dir, out: Path) -> None:
    monkeypatch.setenv("SOE_OUTPUTS", str(out))
    monkeypatch.setenv("SOE_DATA_DIR", str(demo_dir))
    monkeypatch.setenv("SOE_STORE_URL", "")


def test_notebooks_opened_by_an_analyst_never_write_the_store(pack_run, pack_env, demo_dir, tmp_path, monkeypatch):
    import papermill as pm

    from soe_helpers.run.execute import INLINE_BACKEND
    from soe_helpers.run.runner import _stage, discover_notebooks

    out = tmp_path / "out"
    db = _copy_store(pack_env, out)
    before = _snapshot(db)
    empty = [t for t in HISTORY if not before.get(t)]
    assert not empty, f"the session run's store should hold rows in every history table; empty: {empty}"
    _env(monkeypatch, demo_dir, out)
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)
    failed = []
    for nb in sorted(discover_notebooks(), key=lambda p: (_stage(p), p.name)):  # as an analyst would: stage order
        try:  # no parameters: week and run_dir stay empty, as in JupyterLab
            pm.execute_notebook(str(nb), str(tmp_path / nb.name), kernel_name="soe", cwd=str(nb.parent),
                                progress_bar=False, start_timeout=120)
        except pm.PapermillExecutionError as e:
            failed.append(f"{nb.name}: {e.ename}: {e.evalue}")
        changed = _changes(before, _snapshot(db))
        assert not changed, f"{nb.name} opened without run_dir changed the store:\n" + "\n".join(changed)
    assert not failed, failed
    written = sorted(p.name for p in out.iterdir())
    assert set(written) <= {"interactive", "soe_store.sqlite", "soe_store.sqlite-wal", "soe_store.sqlite-shm"}, written
    assert "the store is read, not written" in (tmp_path / "execution_kpis.ipynb").read_text()


def test_a_run_failing_after_the_kpis_were_written_leaves_the_weeks_history(pack_run, pack_env, demo_dir, tmp_path,
                                                                            monkeypatch):
    from soe_helpers.run.runner import run_week

    out = tmp_path / "out"
    db = _copy_store(pack_env, out)
    before = _snapshot(db)
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for name in ("execution_kpis", "action_tracker"):  # stages 1 and 2: both write the week's history
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", nb_dir)
    broken = json.loads((ROOT / "tests" / "fixtures" / "notebooks_fail" / "broken.ipynb").read_text())
    broken["metadata"]["soe"] = {"stage": 3}  # fails after the others have written
    (nb_dir / "zz_broken.ipynb").write_text(json.dumps(broken))
    _env(monkeypatch, demo_dir, out)
    # other targets and thresholds than the recorded run's: written, these rows would differ
    res = run_week(DEMO_WEEK, notebooks_dir=nb_dir, sets=["kpis.targets.otif=0.5", "actions.min_dollars_kpi=0"],
                   progress=lambda m: None)
    st = {n["name"]: n["status"] for n in res.notebooks}
    assert res.status == "failed" and st == {"execution_kpis": "ok", "action_tracker": "ok", "zz_broken": "failed"}, st
    kpi_html = (res.run_dir / "execution_kpis.html").read_text()
    assert f"KPI values for {DEMO_WEEK} written to the store" in kpi_html  # the notebook did write (held)
    after = _snapshot(db)
    changed = _changes({t: before.get(t) for t in HISTORY}, {t: after.get(t) for t in HISTORY})
    assert not changed, "the failed run changed the week's history:\n" + "\n".join(changed)
    assert after["soe_pending_writes"] == [], "the failed run's held writes were left in the store"
    eng = sa.create_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        status = c.execute(sa.text("SELECT status FROM soe_runs WHERE run_id = :r"), {"r": res.run_id}).scalar()
    eng.dispose()
    assert status == "failed"
