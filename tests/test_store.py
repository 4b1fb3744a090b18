import pytest
import sqlalchemy as sa

from soe_helpers.store.engine import Store, metadata

kpi = sa.Table("test_kpi_history", metadata, sa.Column("week", sa.String(8)), sa.Column("kpi", sa.String(32)),
               sa.Column("value", sa.Float), sa.UniqueConstraint("week", "kpi"))


@pytest.fixture()
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'store.sqlite'}")


def _rows(store, week=None):
    with store.engine.connect() as c:
        q = sa.select(kpi).order_by(kpi.c.week, kpi.c.kpi)
        if week:
            q = q.where(kpi.c.week == week)
        return [tuple(r) for r in c.execute(q)]


def test_replacing_a_week_touches_only_that_week(store):
    store.replace_week_rows(kpi, "2026-W46", [{"week": "2026-W46", "kpi": "otif", "value": 0.9}])
    store.replace_week_rows(kpi, "2026-W47", [{"week": "2026-W47", "kpi": "otif", "value": 0.8},
                                              {"week": "2026-W47", "kpi": "dso", "value": 41.0}])
    store.replace_week_rows(kpi, "2026-W47", [{"week": "2026-W47", "kpi": "otif", "value": 0.85}])
    assert _rows(store) == [("2026-W46", "otif", 0.9), ("2026-W47", "otif", 0.85)]


def test_a_failed_write_leaves_the_week_as_it_was(store):
    store.replace_week_rows(kpi, "2026-W47", [{"week": "2026-W47", "kpi": "otif", "value": 0.8}])
    with pytest.raises(sa.exc.IntegrityError):  # duplicate (week, kpi) mid-insert
        store.replace_week_rows(kpi, "2026-W47", [{"week": "2026-W47", "kpi": "dso", "value": 1.0},
                                                  {"week": "2026-W47", "kpi": "dso", "value": 2.0}])
    assert _rows(store) == [("2026-W47", "otif", 0.8)]


def test_rows_of_another_week_are_refused(store):
    with pytest.raises(ValueError, match="belong to another week"):
        store.replace_week_rows(kpi, "2026-W47", [{"week": "2026-W46", "kpi": "otif", "value": 0.8}])


def test_runs_and_results(store, tmp_path):
    store.start_run("r1", "2026-W47", tmp_path)
    store.finish_run("r1", "ok", {"notebooks": []})
    store.replace_results("2026-W47", "r1", {"demand": {"gap": -1.5, "lines": ["A"]}})
    store.replace_results("2026-W46", "r0", {"demand": {"gap": 2.0}})
    store.replace_results("2026-W47", "r2", {"demand": {"gap": -2.5}})
    assert store.results_for("2026-W47") == {"demand": {"gap": -2.5}}
    assert store.results_for("2026-W46") == {"demand": {"gap": 2.0}}
    assert [r["status"] for r in store.list_runs("2026-W47")] == ["ok"]
    assert store.weeks_with_results() == ["2026-W46", "2026-W47"]


def test_display_url_masks_password():
    s = Store.__new__(Store)
    s.engine = sa.create_engine("sqlite://")
    assert "sqlite" in s.display_url
    e = sa.engine.make_url("postgresql://soe:s3cret@db.example/soe")
    assert "s3cret" not in e.render_as_string(hide_password=True)


# ---------------------------------------------------------------- who writes: the one rule, and held writes

W46 = [{"week": "2026-W46", "kpi": "otif", "value": 0.9}]
W47_OLD = [{"week": "2026-W47", "kpi": "otif", "value": 0.8}, {"week": "2026-W47", "kpi": "dso", "value": 41.0}]
W47_NEW = [{"week": "2026-W47", "kpi": "otif", "value": 0.7}]


def _with_history(store):
    store.replace_week_rows(kpi, "2026-W46", W46)
    store.replace_week_rows(kpi, "2026-W47", W47_OLD)
    return _rows(store)


def test_write_mode_is_one_rule(store, tmp_path):
    from soe_helpers.store.engine import NOW, SKIP, STAGE, StoreError

    store.start_run("r1", "2026-W47", tmp_path)
    assert (store.write_mode(None), store.write_mode(""), store.write_mode("r1"), store.write_mode("script")) == (
        SKIP, SKIP, STAGE, NOW)
    store.finish_run("r1", "ok", {})
    with pytest.raises(StoreError, match="run r1 is recorded as ok"):
        store.write_mode("r1")


def test_an_analysts_session_writes_nothing(store):
    before = _with_history(store)
    assert store.write_week(kpi, "2026-W47", W47_NEW, run_id=None) == 0
    assert _rows(store) == before


def test_a_runs_writes_take_effect_only_when_it_finishes_ok(store, tmp_path):
    before = _with_history(store)
    store.start_run("r2", "2026-W47", tmp_path)
    assert store.write_week(kpi, "2026-W47", W47_NEW, run_id="r2") == 1
    assert _rows(store) == before, "soe kpi rows changed while the run was still running"
    # the running run reads its own week as it wrote it, other weeks as recorded; others see the store
    mine = sorted((r["week"], r["kpi"], r["value"]) for r in store.read_weeks(kpi, ["2026-W46", "2026-W47"], "r2"))
    assert mine == [("2026-W46", "otif", 0.9), ("2026-W47", "otif", 0.7)]
    assert len(store.read_weeks(kpi, ["2026-W47"])) == 2
    store.finish_run("r2", "ok", {}, figures={"kpis": {"otif": 0.7}})
    assert _rows(store) == [("2026-W46", "otif", 0.9), ("2026-W47", "otif", 0.7)]  # W47 replaced, W46 kept
    assert store.results_for("2026-W47") == {"kpis": {"otif": 0.7}}
    assert store.held("r2", "week_rows", kpi) == {}


@pytest.mark.parametrize("end", ["failed", "killed"])
def test_a_failed_or_killed_run_leaves_the_history_as_it_was(store, tmp_path, end):
    before = _with_history(store)
    store.replace_results("2026-W47", "r0", {"kpis": {"otif": 0.8}})
    store.start_run("r3", "2026-W47", tmp_path)
    store.write_week(kpi, "2026-W47", W47_NEW, run_id="r3")
    if end == "failed":
        store.finish_run("r3", "failed", {"notebooks": [{"name": "broken", "status": "failed"}]})
    else:  # the next run of the week finds it still "running"
        assert store.mark_aborted("2026-W47") == 1
    assert _rows(store) == before
    assert store.results_for("2026-W47") == {"kpis": {"otif": 0.8}}
    assert store.held("r3", "week_rows", kpi) == {}, "a run that did not finish ok left held writes behind"


def test_held_rows_of_another_week_are_refused(store, tmp_path):
    store.start_run("r4", "2026-W47", tmp_path)
    with pytest.raises(ValueError, match="belong to another week"):
        store.write_week(kpi, "2026-W47", W46, run_id="r4")


def test_held_writes_that_cannot_be_applied_fail_the_run_and_change_nothing(store, tmp_path):
    from soe_helpers.store.engine import StoreError

    before = _with_history(store)
    store.start_run("r5", "2026-W47", tmp_path)
    store.write_week(kpi, "2026-W47", W47_NEW * 2, run_id="r5")  # the same (week, kpi) twice: refused at apply
    with pytest.raises(StoreError, match="run r5 finished but its store writes could not be applied"):
        store.finish_run("r5", "ok", {"notebooks": []})
    assert _rows(store) == before
    assert [r["status"] for r in store.list_runs("2026-W47")] == ["failed"]
    assert store.held("r5", "week_rows", kpi) == {}
