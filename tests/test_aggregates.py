"""The aggregated layer: each aggregate by hand, DuckDB vs the pandas definitions on the demo, push-down and tie-out."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from soe_helpers.data import aggregates as agg
from soe_helpers.analysis import kpis
from soe_helpers.core.calendar import week_end
from soe_helpers.core.calendar import to_week

from conftest import DEMO_WEEK, ROOT

d = pd.Timestamp


# The pandas definitions over order lines, which the SQL must reproduce.
def booked_lines(orders: pd.DataFrame) -> pd.DataFrame:
    """Order lines booked, by order week (cancelled lines excluded): units and value at the line's price."""
    o = orders[orders["status"].fillna("open") != "cancelled"] if "status" in orders else orders
    return pd.DataFrame({"week": to_week(o["order_date"]), "sku": o["sku"], "customer_id": o["customer_id"],
                         "units": o["quantity"].astype(float), "value": o["quantity"] * o["unit_price"]})


def shipped_lines(orders: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """Shipment lines joined to their order line: units and revenue at the order line's price."""
    s = shipments.merge(orders[["order_id", "line", "customer_id", "sku", "unit_price"]], on=["order_id", "line"])
    return pd.DataFrame({"week": to_week(s["ship_date"]), "sku": s["sku"], "customer_id": s["customer_id"],
                         "units": s["quantity"].astype(float), "revenue": s["quantity"] * s["unit_price"]})


AS_OF = d("2026-11-22")  # Sunday of 2026-W47


def _orders():
    return pd.DataFrame({
        "order_id": ["O1", "O1", "O2", "O3", "O4", "O5"], "line": [1, 2, 1, 1, 1, 1],
        # O1/1 on the Sunday ending W46, O1/2 on the Monday starting W47
        "order_date": [d("2026-11-15"), d("2026-11-16"), d("2026-11-17"), d("2026-11-18"), d("2026-11-19"),
                       d("2026-11-20")],
        "customer_id": ["C1", "C1", "C1", "C2", "C2", "C1"], "sku": ["A", "A", "A", "B", "B", "A"],
        "quantity": [10.0, 5.0, 3.0, 7.0, 100.0, 2.0], "unit_price": [2.0, 2.0, 2.5, 10.0, 10.0, 3.0],
        "status": ["closed", "open", None, "closed", "Cancelled", "cancelled"],
    })


def test_booked_weekly_by_hand():
    b = agg.from_frames(orders=_orders())["booked_weekly"]
    assert b.columns.tolist() == ["week", "sku", "customer_id", "units", "value", "lines"]
    rows = {(r.week, r.sku, r.customer_id): (r.units, r.value, r.lines) for r in b.itertuples()}
    # both cancelled lines (any case) are out; a missing status is open
    assert rows == {("2026-W46", "A", "C1"): (10.0, 20.0, 1),
                    ("2026-W47", "A", "C1"): (8.0, 5 * 2.0 + 3 * 2.5, 2),
                    ("2026-W47", "B", "C2"): (7.0, 70.0, 1)}
    h = agg.from_frames(orders=_orders())["order_history"].iloc[0]
    assert h["first_order_date"] == d("2026-11-15") and h["last_order_date"] == d("2026-11-20")
    assert h["order_lines"] == 6 and h["cancelled_lines"] == 2  # the history counts cancelled lines too


def test_booked_weekly_without_a_status_column_keeps_every_line():
    b = agg.from_frames(orders=_orders().drop(columns=["status"]))["booked_weekly"]
    assert b["lines"].sum() == 6 and b["units"].sum() == 127.0


def test_shipped_weekly_split_shipment_at_the_order_price():
    shipments = pd.DataFrame({
        "shipment_id": ["S1", "S2", "S3", "S4"], "order_id": ["O1", "O1", "O3", "O5"], "line": [1, 1, 1, 1],
        # O1/1 split in two: 6 units on Friday of W46, 4 on Monday of W47
        "ship_date": [d("2026-11-13"), d("2026-11-16"), d("2026-11-19"), d("2026-11-21")],
        "quantity": [6.0, 4.0, 7.0, 2.0],
    })
    s = agg.from_frames(orders=_orders(), shipments=shipments)["shipped_weekly"]
    assert s.columns.tolist() == ["week", "sku", "customer_id", "units", "revenue", "lines"]
    rows = {(r.week, r.sku, r.customer_id): (r.units, r.revenue, r.lines) for r in s.itertuples()}
    # what shipped on a cancelled line (O5) still shipped, at its order price
    assert rows == {("2026-W46", "A", "C1"): (6.0, 12.0, 1),
                    ("2026-W47", "A", "C1"): (4.0 + 2.0, 8.0 + 6.0, 2),
                    ("2026-W47", "B", "C2"): (7.0, 70.0, 1)}
    two = shipments.assign(ship_date=d("2026-11-16"))  # both parts in one week: one row, two lines
    s2 = agg.from_frames(orders=_orders(), shipments=two)["shipped_weekly"]
    a = s2[(s2["sku"] == "A")].iloc[0]
    assert (a["units"], a["revenue"], a["lines"]) == (12.0, 26.0, 3)


def _invoices():
    return pd.DataFrame({
        "invoice_id": ["I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9"],
        "customer_id": ["C1", "C1", "C1", "C2", "C2", "C2", "C2", "C1", "C2"],
        "invoice_date": [d("2026-10-23"), d("2026-09-23"), d("2026-09-22"), d("2026-07-25"), d("2026-10-01"),
                         d("2026-11-23"), d("2026-07-01"), d("2026-11-20"), d("2026-08-01")],
        "due_date": [d("2026-11-22"),   # due on the as-of date: current
                     d("2026-10-23"),   # 30 days past due: 1-30 (boundary)
                     d("2026-10-22"),   # 31 days: 31-60
                     d("2026-08-24"),   # 90 days: 61-90 (boundary), paid only after the as-of date
                     d("2026-10-31"),   # paid before the as-of date: not open
                     d("2026-12-23"),   # issued after the as-of date: not open
                     d("2026-08-23"),   # 91 days: over 90, 40 of 100 paid before the as-of date
                     d("2026-12-20"),   # a credit note, current
                     d("2026-08-31")],  # paid on the as-of date itself: not open
        "amount": [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 100.0, -50.0, 70.0],
        "paid_date": [None, None, None, d("2026-11-23"), d("2026-11-20"), None, d("2026-11-01"), None,
                      d("2026-11-22")],
        "paid_amount": [np.nan, np.nan, np.nan, 400.0, 500.0, np.nan, 40.0, np.nan, np.nan],
    })


def test_ar_ageing_by_hand_and_it_ties_to_the_ar_balance():
    inv = _invoices()
    a = agg.from_frames(invoices=inv, as_of=AS_OF)["ar_ageing"]
    assert a.columns.tolist() == ["as_of", "customer_id", "bucket", "amount", "invoices"]
    assert (a["as_of"] == AS_OF).all()
    rows = {(r.customer_id, r.bucket): (r.amount, r.invoices) for r in a.itertuples()}
    assert rows == {("C1", "current"): (50.0, 2),      # 100 due today + the -50 credit note
                    ("C1", "1-30"): (200.0, 1),
                    ("C1", "31-60"): (300.0, 1),
                    ("C2", "61-90"): (400.0, 1),
                    ("C2", "over 90"): (60.0, 1)}
    assert a["bucket"].tolist() == ["current", "1-30", "31-60", "61-90", "over 90"]  # bucket order
    assert a["amount"].sum() == pytest.approx(kpis.ar_balance(inv, [AS_OF]).iloc[0])
    # the finance view: buckets with shares, the largest overdue customers, the headline
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["One", "Two"], "region": ["EMEA", "APAC"]})
    buckets, overdue, fig = kpis.ar_ageing_summary(a, customers, top_n=5)
    assert buckets["bucket"].tolist() == ["current", "1-30", "31-60", "61-90", "over 90", "Total"]
    assert buckets["amount"].tolist() == [50.0, 200.0, 300.0, 400.0, 60.0, 1010.0]
    assert buckets["share"].iloc[-1] == 1.0 and buckets["invoices"].iloc[-1] == 6
    assert overdue["customer_id"].tolist() == ["C1", "C2"]  # most overdue first: 200 + 300, then 400 + 60
    o = overdue.set_index("customer_id")
    assert o.loc["C1", "overdue"] == 500.0 and o.loc["C2", "overdue"] == 460.0 and o.loc["C2", "oldest"] == "over 90"
    assert o.loc["C2", "over_90"] == 60.0 and o.loc["C1", "customer"] == "One"
    assert fig["open"] == 1010.0 and fig["overdue"] == 960.0 and fig["over_90"] == 60.0
    assert kpis.ar_ageing_headline(fig, symbol="$") == ("Open AR at 2026-11-22 is $1.0K: $960 (95.0%) past due, "
                                            "$60 more than 90 days.")


def test_an_as_of_date_is_needed_for_the_ageing():
    assert "ar_ageing" not in agg.from_frames(invoices=_invoices())
    with pytest.raises(ValueError, match="ar_ageing needs an as-of date"):
        agg._params(agg.AGGREGATES["ar_ageing"], None, agg._duckdb_flavor())


def test_strip_order_by():
    assert agg.strip_order_by("select a from t order by a, b;") == "select a from t"
    assert agg.strip_order_by("select a from t ORDER\n BY a") == "select a from t"
    kept = ["select a from t order by a limit 10", "select a from t", "select * from (select a from t order by a) x",
            "select row_number() over (order by a) from t"]
    for q in kept:
        assert agg.strip_order_by(q) == q


# ---------------------------------------------------------------- the demo: DuckDB == the pandas definitions


@pytest.fixture(scope="module")
def demo_tables(demo_dir):
    from soe_helpers.data.loaders import load_tables
    from soe_helpers.core.params import load_params

    return {n: lt.frame for n, lt in load_tables(load_params(data_dir=demo_dir),
                                                 ["products", "customers", "orders", "shipments", "invoices"]).items()}


def test_duckdb_equals_the_pandas_definitions_on_the_demo(demo_tables, tmp_path):
    t = demo_tables
    as_of = week_end(DEMO_WEEK)
    for name in ("orders", "shipments", "invoices"):
        t[name].to_parquet(tmp_path / f"{name}.parquet", index=False)
    from_files = agg.compute_files(tmp_path, as_of)
    from_frames = agg.from_frames(t["orders"], t["shipments"], t["invoices"], as_of)
    for name in agg.AGGREGATES:
        pd.testing.assert_frame_equal(from_files[name], from_frames[name], check_dtype=False, obj=name)

    keys = ["week", "sku", "customer_id"]
    ref = (booked_lines(t["orders"])
           .groupby(keys).agg(units=("units", "sum"), value=("value", "sum"), lines=("units", "size")))
    got = from_files["booked_weekly"].set_index(keys)
    assert len(got) == len(ref) and got.index.sort_values().equals(ref.index.sort_values())
    got = got.reindex(ref.index)
    np.testing.assert_allclose(got["units"], ref["units"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["value"], ref["value"], rtol=0, atol=1e-6)
    assert (got["lines"] == ref["lines"]).all()

    ref = (shipped_lines(t["orders"], t["shipments"])
           .groupby(keys).agg(units=("units", "sum"), revenue=("revenue", "sum"), lines=("units", "size")))
    got = from_files["shipped_weekly"].set_index(keys)
    assert len(got) == len(ref)
    got = got.reindex(ref.index)
    np.testing.assert_allclose(got["revenue"], ref["revenue"], rtol=0, atol=1e-6)
    assert (got["lines"] == ref["lines"]).all() and got["units"].sum() == ref["units"].sum()

    inv = t["invoices"]
    paid = inv["paid_amount"].where(inv["paid_amount"].notna(), inv["amount"])
    open_amt = inv["amount"] - np.where(inv["paid_date"].notna() & (inv["paid_date"] <= as_of), paid, 0.0)
    days = (as_of - inv["due_date"]).dt.days
    bucket = pd.cut(days, [-np.inf, 0, 30, 60, 90, np.inf], labels=list(agg.BUCKETS)).astype(str)
    keep = (inv["invoice_date"] <= as_of) & (open_amt != 0)
    ref = pd.DataFrame({"customer_id": inv["customer_id"], "bucket": bucket, "amount": open_amt})[keep] \
        .groupby(["customer_id", "bucket"]).agg(amount=("amount", "sum"), invoices=("amount", "size"))
    got = from_files["ar_ageing"].set_index(["customer_id", "bucket"]).reindex(ref.index)
    np.testing.assert_allclose(got["amount"], ref["amount"], rtol=0, atol=1e-6)
    assert (got["invoices"] == ref["invoices"]).all() and len(from_files["ar_ageing"]) == len(ref)
    assert from_files["ar_ageing"]["amount"].sum() == pytest.approx(kpis.ar_balance(inv, [as_of]).iloc[0], abs=0.005)

    h = from_files["order_history"].iloc[0]
    assert h["first_order_date"] == t["orders"]["order_date"].min() and h["order_lines"] == len(t["orders"])


# ---------------------------------------------------------------- push-down (SQLite: the portable day-grain path)


def _sql_params(tmp: Path, demo_dir: Path, env: str):
    """Params reading orders, shipments and invoices by SQL (the postgres example's queries) on ``$env``."""
    from soe_helpers.core.params import load_params

    pg = yaml.safe_load((ROOT / "params" / "examples" / "postgres.yaml").read_text())
    sub = {"data": {"sources": {t: {**pg["data"]["sources"][t], "url_env": env}
                                for t in ("orders", "shipments", "invoices")}}}
    path = tmp / "sql_sources.yaml"
    path.write_text(yaml.safe_dump({"extends": str(ROOT / "params" / "company.yaml"), **sub}))
    return path, load_params([path], data_dir=demo_dir)


@pytest.fixture(scope="module")
def sqlite_erp(demo_dir, tmp_path_factory):
    from soe_helpers.demo.postgres import load_demo_into

    tmp = tmp_path_factory.mktemp("sqlite_erp")
    url = f"sqlite:///{tmp / 'erp.sqlite'}"
    load_demo_into(url, demo_dir, tables=["orders", "shipments", "invoices"])
    return tmp, url


def test_pushdown_to_sqlite_groups_by_day_buckets_in_pandas_and_ties_out(sqlite_erp, demo_dir, tmp_path,
                                                                         monkeypatch):
    from soe_helpers.data.loaders import load_tables

    _, url = sqlite_erp
    monkeypatch.setenv("SOE_TEST_ERP_URL", url)
    _, params = _sql_params(tmp_path, demo_dir, "SOE_TEST_ERP_URL")
    assert set(agg.pushdown_plan(params, {})) == set(agg.AGGREGATES)
    tables = load_tables(params)
    data = tmp_path / "data"
    data.mkdir()
    for n, lt in tables.items():
        lt.frame.to_parquet(data / f"{n}.parquet", index=False)
    reference = agg.compute_files(data, week_end(DEMO_WEEK))
    info = agg.build(data, params, {n: lt.headers for n, lt in tables.items()}, week_end(DEMO_WEEK))
    for name in agg.AGGREGATES:
        assert info[name]["engine"] == "sqlite" and info[name]["tie_out"].startswith("ties out"), info[name]
        assert info[name]["url_env"] == "SOE_TEST_ERP_URL" and url not in json.dumps(info)
        written = pd.read_parquet(data / f"{name}.parquet")
        pd.testing.assert_frame_equal(written, reference[name], check_dtype=False, check_exact=False, atol=1e-6,
                                      obj=name)


def test_tie_out_names_table_column_week_and_difference():
    orders = _orders()
    local = agg.from_frames(orders=orders)["booked_weekly"]
    pushed = local.copy()
    pushed.loc[pushed["week"] == "2026-W47", "value"] += [1.25, 0.0]
    assert agg.tie_out("booked_weekly", local, local) == []
    (p,) = agg.tie_out("booked_weekly", pushed, local, "postgresql")
    assert p == "booked_weekly: column value, week 2026-W47: postgresql 88.75 vs the snapshot 87.50 (difference +1.25)"
    # a sub-cent difference is rounding; the same totals on other keys are not
    assert agg.tie_out("booked_weekly", local.assign(value=local["value"] + 0.002), local) == []
    moved = local.copy()
    moved.loc[moved["sku"] == "B", "sku"] = "A2"
    (p,) = [x for x in agg.tie_out("booked_weekly", moved, local, "postgresql") if "column units" in x]
    assert p.startswith("booked_weekly: column units, week 2026-W47: 2 row(s) differ at the week x sku x "
                        "customer_id grain, e.g. sku A2, customer_id C2: postgresql 7.00 vs the snapshot 0.00")
    extra = pd.concat([local, local.tail(1).assign(customer_id="C9")], ignore_index=True)
    assert any("column rows, week 2026-W47: the source database 3 vs the snapshot 2" in x
               for x in agg.tie_out("booked_weekly", extra, local))


# ---------------------------------------------------------------- the runner


def _good_notebook_dir(tmp: Path) -> Path:
    nb = tmp / "nbs"
    nb.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "fixtures" / "notebooks_fail" / "good.ipynb", nb / "good.ipynb")
    return nb


@pytest.mark.e2e
def test_runner_pushes_down_ties_out_and_records_the_engine(sqlite_erp, demo_dir, tmp_path, monkeypatch):
    from soe_helpers.run.runner import run_week

    _, url = sqlite_erp
    monkeypatch.setenv("SOE_TEST_ERP_URL", url)
    monkeypatch.setenv("SOE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("SOE_STORE_URL", "")
    path, _ = _sql_params(tmp_path, demo_dir, "SOE_TEST_ERP_URL")
    res = run_week(DEMO_WEEK, data_dir=demo_dir, param_files=[path], notebooks_dir=_good_notebook_dir(tmp_path),
                   progress=lambda m: None)
    assert res.ok
    man = json.loads((res.run_dir / "manifest.json").read_text())
    assert {n: a["engine"] for n, a in man["aggregates"].items()} == {n: "sqlite" for n in agg.AGGREGATES}
    assert man["timings"]["aggregate_seconds"] > 0
    assert url not in (res.run_dir / "manifest.json").read_text()
    for name in agg.AGGREGATES:
        assert (res.run_dir / "data" / f"{name}.parquet").exists()


@pytest.mark.e2e
def test_a_pushdown_that_does_not_tie_out_stops_the_run_before_any_notebook(sqlite_erp, demo_dir, tmp_path,
                                                                           monkeypatch):
    from soe_helpers.run.runner import RunError, run_week

    _, url = sqlite_erp
    monkeypatch.setenv("SOE_TEST_ERP_URL", url)
    monkeypatch.setenv("SOE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("SOE_STORE_URL", "")
    path, _ = _sql_params(tmp_path, demo_dir, "SOE_TEST_ERP_URL")
    real = agg.compute_pushdown

    def drifted(name, entry, as_of=None):  # the source changed between the load and the push-down
        frame, dialect = real(name, entry, as_of)
        if name == "shipped_weekly":
            frame = frame.copy()
            frame.loc[frame["week"] == DEMO_WEEK, "revenue"] *= 1.01
        return frame, dialect

    monkeypatch.setattr(agg, "compute_pushdown", drifted)
    with pytest.raises(RunError) as e:
        run_week(DEMO_WEEK, data_dir=demo_dir, param_files=[path], notebooks_dir=_good_notebook_dir(tmp_path),
                 progress=lambda m: None)
    msg = str(e.value)
    assert "do not tie out with the validated snapshot" in msg and "no report was run" in msg
    assert f"shipped_weekly: column revenue, week {DEMO_WEEK}: sqlite " in msg and "(difference +" in msg
    assert url not in msg
    (run_dir,) = [p for p in (tmp_path / "out" / DEMO_WEEK).iterdir() if p.is_dir()]
    assert (run_dir / "FAILED").exists() and not (run_dir / "good.ipynb").exists()
    assert not (run_dir / "data" / "shipped_weekly.parquet").exists()
    assert not (tmp_path / "out" / DEMO_WEEK / "latest.json").exists()
    from soe_helpers.cli import main

    monkeypatch.setattr("sys.argv", ["soe"])
    assert main(["run", "--week", DEMO_WEEK, "--data-dir", str(demo_dir), "--params", str(path),
                 "--notebooks-dir", str(_good_notebook_dir(tmp_path / "again"))]) == 2


@pytest.mark.e2e
def test_the_pack_run_writes_the_aggregates_with_duckdb(pack_run):
    from conftest import notebook_run

    run_dir, results = notebook_run(pack_run, "demand_reconciliation")
    man = json.loads((run_dir / "manifest.json").read_text())
    assert {n: a["engine"] for n, a in man["aggregates"].items()} == {n: "duckdb" for n in agg.AGGREGATES}
    assert man["timings"]["aggregate_seconds"] > 0
    booked = pd.read_parquet(run_dir / "data" / "booked_weekly.parquet")
    orders = pd.read_parquet(run_dir / "data" / "orders.parquet")
    live = orders["status"].fillna("open") != "cancelled"
    assert booked["lines"].sum() == live.sum()
    assert booked["value"].sum() == pytest.approx((orders["quantity"] * orders["unit_price"])[live].sum())
    ek = results["execution_kpis"]["ar_ageing"]
    assert ek["open"] == pytest.approx(sum(v for k, v in ek["buckets"].items() if k != "Total"))


def test_an_aggregate_reading_a_constant_column_is_not_pushed_down():
    from soe_helpers.core.params import load_params

    sets = []
    for t in ("orders", "shipments", "invoices"):
        sets += [f"data.sources.{t}.file=", f"data.sources.{t}.query=select * from {t}", f"data.sources.{t}.url_env=ERP"]
    plain = agg.pushdown_plan(load_params(sets=sets), {})
    with_constant = agg.pushdown_plan(load_params(sets=sets + ["data.sources.orders.columns.status={value: open}"]), {})
    readers = {n for n, a in agg.AGGREGATES.items() if "status" in a.sources.get("orders", ())}
    assert readers and set(plain) == set(agg.AGGREGATES)
    assert set(with_constant) == set(agg.AGGREGATES) - readers  # DuckDB over the snapshot, which has the constant
