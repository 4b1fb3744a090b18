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
