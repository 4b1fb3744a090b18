"""Tables by need: the registry, absent and empty tables, reports not run, per-company outputs, the README table."""
from __future__ import annotations

import email
import json
import re
from email import policy
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from conftest import DEMO_WEEK, ROOT, soe_once
from soe_helpers.core import paths, run_folder
from soe_helpers.core.params import ParamsError, Source, company_slug, load_params
from soe_helpers.data import aggregates, needs
from soe_helpers.data.loaders import DataError, empty_table, load_tables
from soe_helpers.data.schemas import MINIMUM_TABLES, SCHEMAS
from soe_helpers.data.sources import check_sources
from soe_helpers.report import summary as sm
from soe_helpers.report.history import week_rows

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.startswith(("_", ".")))


# ---------------------------------------------------------------- the registry


def test_every_notebook_declares_its_needs_and_only_known_tables():
    assert sorted(needs.NEEDS) == NOTEBOOKS
    assert MINIMUM_TABLES == ("products", "customers", "orders")
    for n in needs.NEEDS.values():
        assert set(n.tables) <= set(SCHEMAS), n.notebook
        assert not set(n.requires) & set(n.optional), n.notebook
        assert set(n.results_of) <= set(needs.NEEDS), n.notebook
    # stage 2 and 3 read only the results of others
    assert needs.NEEDS["action_tracker"].requires == () and needs.NEEDS["executive_summary"].requires == ()


def _reads(notebook: str) -> tuple[set[str], set[str]]:
    """(tables read with wk.table, tables read with wk.table_or_empty, wk.optional or da.load_available), aggregates
    resolved."""
    nb = nbformat.read(str(ROOT / "notebooks" / f"{notebook}.ipynb"), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    hard = set(re.findall(r'wk\.table\("(\w+)"\)', code))
    soft = set(re.findall(r'wk\.(?:table_or_empty|optional)\("(\w+)"\)', code))  # optional: None when absent
    if "load_available(wk, names)" in code:  # data_accuracy: every name of its list, None when absent
        line = re.search(r"names = \[(.*?)\]", code, re.S).group(1)
        from soe_helpers.analysis import data_accuracy as da

        soft |= set(re.findall(r'"(\w+)"', line)) | set(da.OPTIONAL_TABLES)
    if "for name in cash.REQUIRED_TABLES" in code:  # cash_impact: its required tables hard, the optional ones soft
        from soe_helpers.analysis import cash

        hard |= set(cash.REQUIRED_TABLES)
        if "wk.optional(name) for name in cash.OPTIONAL_TABLES" in code:
            soft |= set(cash.OPTIONAL_TABLES)

    def resolve(names: set[str]) -> set[str]:
        out = set()
        for t in names:
            out |= set(aggregates.AGGREGATES[t].sources) if t in aggregates.AGGREGATES else {t}
        return out

    return resolve(hard), resolve(soft)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_notebook_reads_no_table_beyond_what_it_declares(notebook):
    n = needs.NEEDS[notebook]
    hard, soft = _reads(notebook)
    # a hard read of a table the report may run without would crash the report when it is absent
    assert hard <= set(n.requires), f"{notebook} reads {sorted(hard - set(n.requires))} without requiring them"
    assert soft <= set(n.tables), f"{notebook} reads {sorted(soft - set(n.tables))} it does not declare"


def test_data_accuracy_requires_what_its_checks_cannot_do_without():
    from soe_helpers.analysis import data_accuracy as da
    from soe_helpers.core.calendar import FiscalCalendar

    p = load_params()
    with pytest.raises(ValueError, match="needs the tables bills, inventory"):
        da.run_checks({t: None for t in SCHEMAS} | {"orders": empty_table("orders"), "products": empty_table("products"),
                                                      "shipments": empty_table("shipments"),
                                                      "invoices": empty_table("invoices"), "plan": empty_table("plan")},
                      DEMO_WEEK, FiscalCalendar.from_params(p.calendar), p.data_accuracy, p.materiality, "$")


def test_not_run_reason_plan_and_tables_for_only():
    have = {"orders", "products", "customers", "shipments", "plan", "invoices", "bills", "inventory"}
    assert needs.not_run_reason("demand_reconciliation", {"orders", "products", "customers"}) is None
    assert needs.not_run_reason("forecast_feedback", have) == "needs forecasts"
    assert needs.not_run_reason("cash_impact", have) == "needs cash"
    run, skip = needs.plan_reports(NOTEBOOKS, have)
    assert skip == {"cash_impact": "needs cash",
                    "forecast_feedback": "needs forecasts"}
    assert run == [n for n in NOTEBOOKS if n not in skip]
    # --only demand_reconciliation loads its tables, not the treasury's or the purchasing ones
    assert needs.tables_for(["demand_reconciliation"]) == ["products", "customers", "forecasts", "plan", "orders",
                                                           "shipments"]
    assert needs.tables_for(["executive_summary"]) == []
    # a company's own notebook: the minimum tables, and any other it finds
    assert needs.needs("my_report").requires == MINIMUM_TABLES


# ---------------------------------------------------------------- params and loading


def test_absent_sources_and_the_minimum_tables():
    assert Source(file=None).absent and Source().absent and not Source(file="x.csv").absent
    with pytest.raises(ValueError, match="exactly one of 'file' or 'query'"):
        Source(file="x.csv", query="select 1", url_env="X")
    p = load_params(sets=["data.sources.cash.file=null", "data.sources.bills.file=null"])
    assert "cash" not in p.data.present() and "bills" not in p.data.present() and "orders" in p.data.present()
    check_sources(p)  # absent optional tables are fine
    with pytest.raises(ParamsError, match=r"missing source\(s\) for required table\(s\): orders \(every company"):
        check_sources(load_params(sets=["data.sources.orders.file=null"]))


PRODUCTS = "sku,product_line,unit_cost,list_price,supplier_id\nA-1,Sensors,5,10,S-1\nB-2,Sensors,6,12,S-9\n"
CUSTOMERS = "customer_id,name,region,payment_terms_days\nC1,Alpha,East,30\nC2,Beta,West,45\n"
ORDERS = ("order_id,line,order_date,customer_id,sku,quantity,unit_price,requested_date,promised_date\n"
          "S1,1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20\n")


def _company(tmp_path: Path, extra: dict[str, str] | None = None, sets: list[str] | None = None):
    files = {"products.csv": PRODUCTS, "customers.csv": CUSTOMERS, "orders.csv": ORDERS, **(extra or {})}
    for f, text in files.items():
        (tmp_path / f).write_text(text)
    sources = {Path(f).stem: {"file": f} for f in files}
    cfg = tmp_path / "thin.yaml"
    cfg.write_text(yaml.safe_dump({"company": {"name": "Thin Co"}, "data": {"dir": str(tmp_path), "sources": sources}}))
    return load_params([cfg], sets)


def test_a_company_with_only_the_minimum_tables_loads_them_and_nothing_else(tmp_path):
    p = _company(tmp_path)
    loaded = load_tables(p)
    assert sorted(loaded) == ["customers", "orders", "products"]
    # products.supplier_id names S-1 and S-9 but there are no suppliers: no foreign key is checked against them
    assert loaded["orders"].frame["quantity"].tolist() == [5.0]


def test_foreign_keys_are_checked_between_present_tables_only(tmp_path):
    p = _company(tmp_path, {"suppliers.csv": "supplier_id,name,payment_terms_days,lead_time_days\nS-1,One,30,14\n"})
    with pytest.raises(DataError) as e:
        load_tables(p)
    msg = str(e.value)
    assert "1 problem" in msg and "products.csv [products]" in msg and "supplier_id not found in suppliers" in msg
    assert "'S-9'" in msg


def test_a_header_only_file_is_a_present_empty_table_with_its_columns_checked(tmp_path):
    p = _company(tmp_path, {"cash.csv": "item,kind,amount,date\n"})
    cash = load_tables(p)["cash"]
    assert cash.rows == 0 and list(cash.frame.columns) == SCHEMAS["cash"].column_names
    assert str(cash.frame["amount"].dtype) == "float64" and str(cash.frame["date"].dtype) == "datetime64[ns]"
    p = _company(tmp_path, {"cash.csv": "item,kind,amount\n"})
    with pytest.raises(DataError, match=r"cash.csv \[cash\]: required column 'date' not found"):
        load_tables(p)


def test_the_bad_exports_header_only_orders_load_as_an_empty_table():
    corpus = ROOT / "tests" / "data" / "bad_exports"
    p = load_params(sets=["data.sources.orders.file=orders_header_only.csv"], data_dir=corpus)
    orders = load_tables(p, ["orders"])["orders"]
    assert orders.rows == 0 and list(orders.frame.columns) == SCHEMAS["orders"].column_names


def test_empty_table_is_typed_as_a_load_types_it():
    f = empty_table("orders")
    assert len(f) == 0 and list(f.columns) == SCHEMAS["orders"].column_names
    assert str(f["line"].dtype) == "Int64" and str(f["order_date"].dtype) == "datetime64[ns]"


def test_a_notebook_reading_an_absent_table_is_told_so(tmp_path):
    from soe_helpers.report.context import TableNotProvided, Week

    p = _company(tmp_path)
    run_dir = tmp_path / "run"
    run_folder.data_dir(run_dir).mkdir(parents=True)
    empty_table("orders").to_parquet(run_folder.table_path(run_dir, "orders"))
    wk = Week(DEMO_WEEK, p, run_dir, interactive=False)
    with pytest.raises(TableNotProvided, match="'forecasts' is not provided"):
        wk.table("forecasts")
    assert not wk.has("forecasts") and wk.has("orders")
    assert list(wk.table_or_empty("forecasts").columns) == SCHEMAS["forecasts"].column_names
    shipped = wk.table_or_empty("shipped_weekly")  # an aggregate over an absent table: empty, with its columns
    assert len(shipped) == 0 and {"week", "sku", "revenue"} <= set(shipped.columns)


# ---------------------------------------------------------------- per-company outputs and store


def test_a_company_run_has_its_own_outputs_and_store(tmp_path, monkeypatch):
    from soe_helpers.store.engine import store_url

    monkeypatch.setenv("SOE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("SOE_STORE_URL", "")
    demo = load_params()
    assert demo.outputs_dir() == tmp_path / "out"
    assert store_url(demo) == f"sqlite:///{tmp_path / 'out' / 'soe_store.sqlite'}"
    p = _company(tmp_path)
    assert company_slug("Finger Lakes Cycles, Inc.") == "finger-lakes-cycles-inc" and company_slug("") == "company"
    assert p.outputs == "thin-co" and p.outputs_dir() == tmp_path / "out" / "thin-co"
    assert store_url(p) == f"sqlite:///{tmp_path / 'out' / 'thin-co' / 'soe_store.sqlite'}"
    assert run_folder.week_dir(DEMO_WEEK, p.outputs_dir()) == tmp_path / "out" / "thin-co" / DEMO_WEEK
    # an explicit setting wins; a file that extends the demo's is the demo company (e.g. the postgres example)
    assert _company(tmp_path, sets=["outputs=/srv/soe/acme"]).outputs_dir() == Path("/srv/soe/acme")
    ext = tmp_path / "on_demo.yaml"
    ext.write_text(f"extends: {paths.params_dir() / 'company.yaml'}\nmateriality: {{abs: 9000}}\n")
    assert load_params([ext]).outputs_dir() == tmp_path / "out"
    # the resolved folder travels with the run's params, so its notebooks open the same store
    from soe_helpers.core.params import params_from_json

    (tmp_path / "params.json").write_text(p.to_json())
    assert params_from_json(tmp_path / "params.json").outputs_dir() == p.outputs_dir()


# ---------------------------------------------------------------- the summary, the email, the history page


def test_a_report_not_run_by_design_is_named_with_its_needs_in_the_summary(tmp_path):
    run_dir = tmp_path / DEMO_WEEK / "r1"
    run_folder.data_dir(run_dir).mkdir(parents=True)
    run_folder.write_meta(run_dir, "2026-11-22", DEMO_WEEK, {"cash_impact": "needs cash, bills"})
    statuses = sm.read_run_statuses(run_dir)
    assert statuses["cash_impact"]["status"] == run_folder.NOT_RUN == "not run"
    assert statuses["cash_impact"]["reason"] == "needs cash, bills"
    p = load_params()
    items = sm.build_items({}, statuses, week=DEMO_WEEK, materiality=p.materiality, rules=p.executive_summary,
                           symbol="$")
    cash = items[items["section"] == "cash_impact"].iloc[0]
    assert (cash["topic"], cash["sentence"], cash["light"], cash["link"]) == \
        ("Cash impact", "not run — needs cash, bills.", "grey", "")
    assert sm.status_word(statuses["cash_impact"]) == "not run — needs cash, bills"
    table = sm.status_table(statuses).set_index("report")
    assert table.loc["Cash impact", "status"] == "not run — needs cash, bills"
    assert table.loc["Demand reconciliation", "status"] == "not run"  # not part of this run at all
    assert run_folder.counts_as_done(statuses["cash_impact"]) and not run_folder.counts_as_done({"status": "failed"})


def _parse(path: Path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_the_email_of_a_run_with_a_report_not_run_by_design_goes_to_leadership(tmp_path):
    from test_email_pack import RESULTS, make_run

    from soe_helpers.deliver import mail

    results = {k: v for k, v in RESULTS.items() if k != "cash_impact"}
    run_dir, manifest = make_run(tmp_path, results=results)
    for n in manifest["notebooks"]:
        if n["name"] == "cash_impact":
            n.update(run_folder.not_run_status("cash_impact", "needs cash, bills"))
            (run_dir / "cash_impact.html").unlink()
    assert run_folder.run_state(run_dir).state == "ok"
    rec = mail.build_run_email(run_dir, manifest, load_params(), expected=[n["name"] for n in manifest["notebooks"]],
                               previous={})
    assert rec["kind"] == "leadership", rec
    msg = _parse(run_dir / rec["file"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Cash impact: not run — needs cash, bills." in text
    assert "Cash impact: not run — needs cash, bills" in text.split("REPORTS")[1]
    assert "not run — needs cash, bills" in html and "cash_impact.html" not in html
    parts = list(msg.iter_attachments())   # the weekly pack bundle: a section per report that ran
    assert [part.get_filename() for part in parts] == ["weekly_pack_2026-W47.html"]
    bundle = parts[0].get_content()
    assert '<section class="soe-part" id="demand_reconciliation">' in bundle
    assert 'id="cash_impact"' not in bundle


def test_the_history_page_does_not_link_a_report_not_run(tmp_path):
    from test_email_pack import make_run

    run_dir, manifest = make_run(tmp_path)
    (run_dir / "cash_impact.html").unlink()  # not run: the runner publishes no HTML for it
    run_folder.point_latest(run_dir.parent, run_dir.name)
    (row,) = week_rows(tmp_path)
    assert "cash_impact" not in row.reports and "demand_reconciliation" in row.reports


# ---------------------------------------------------------------- README


def test_the_readme_table_is_the_generated_one():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.index(needs.TABLE_README_START), text.index(needs.TABLE_README_END)
    assert text[start + len(needs.TABLE_README_START):end].strip() == needs.markdown_table().strip(), \
        "README's tables-by-need table is stale: paste the output of `python -m soe_helpers.data.needs`"
    table = needs.markdown_table()
    # requested and promised dates are optional (data.completion infers them)
    assert "| `orders` | `order_id`, `line`, `order_date`, `customer_id`, `sku`, `quantity`, `unit_price` |" in table
    assert "| `cash` |" in table and "needed by Cash impact" in table


# ---------------------------------------------------------------- a thin company through `soe run`


THIN_DROPPED = ("cash", "purchase_orders", "suppliers", "forecasts")


@pytest.fixture(scope="module")
def thin_run(tmp_path_factory, demo_dir, pack_env):
    """The demo's exports run as another company whose params leave out the treasury, purchasing and forecasts
    (validated and run once per session: read its outputs only)."""
    tmp = tmp_path_factory.mktemp("thin")
    demo = yaml.safe_load((ROOT / "params" / "company.yaml").read_text())
    sources = {t: s for t, s in demo["data"]["sources"].items() if t not in THIN_DROPPED}
    sources["suppliers"] = {"file": None}  # listed with file: null is absent too
    cfg = tmp / "thin.yaml"
    cfg.write_text(yaml.safe_dump({"company": {"name": "Thin Components Co"},
                                   "calendar": demo.get("calendar", {}), "data": {"sources": sources}}))
    out, (validate, run) = soe_once(tmp_path_factory, "thin_company_outputs", pack_env,
                                    ["validate", "--params", str(cfg)], ["run", "--week", DEMO_WEEK, "--params", str(cfg)])
    company = out / "thin-components-co"
    week_dir = company / DEMO_WEEK
    latest = run_folder.read_latest(week_dir)
    return {"validate": validate, "run": run, "out": out, "company": company, "run_dir": latest}


@pytest.mark.e2e
def test_soe_validate_says_which_reports_will_run(thin_run):
    v = thin_run["validate"]
    assert v.returncode == 0, v.stderr
    assert "cash             not provided (no source in params)" in v.stdout
    assert "Reports that will run: action_tracker, data_accuracy, demand_reconciliation, execution_kpis, " \
           "executive_summary." in v.stdout
    assert "Not run: cash_impact — needs cash." in v.stdout
    assert "Not run: forecast_feedback — needs forecasts." in v.stdout


@pytest.mark.e2e
def test_a_thin_company_runs_to_a_full_ok_run_with_two_reports_not_run(thin_run):
    res = thin_run["run"]
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run_dir = thin_run["run_dir"]
    assert run_dir is not None, "latest was not moved: the run is not a full ok run"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["partial"] is False
    status = {n["name"]: n for n in manifest["notebooks"]}
    assert status["cash_impact"]["status"] == "not run"
    assert status["cash_impact"]["reason"] == "needs cash"
    assert status["forecast_feedback"]["reason"] == "needs forecasts"
    ran = {n for n, s in status.items() if s["status"] == "ok"}
    assert ran == {"demand_reconciliation", "execution_kpis", "data_accuracy", "action_tracker", "executive_summary"}
    assert not (run_dir / "cash_impact.html").exists() and not (run_dir / "cash_impact.ipynb").exists()
    assert set(manifest["inputs"]) & set(THIN_DROPPED) == set()
    assert not (run_dir / "data" / "cash.parquet").exists()
    assert "cash_impact: not run — needs cash" in res.stdout
    assert run_folder.run_state(run_dir).state == "ok"

    summary = (run_dir / "executive_summary.html").read_text()
    assert "Cash impact" in summary and "not run — needs cash" in summary
    assert "not run — needs forecasts" in summary
    assert manifest["email"]["kind"] == "leadership", manifest["email"]
    msg = _parse(run_dir / manifest["email"]["file"])
    text = msg.get_body(("plain",)).get_content()
    assert "Cash impact: not run — needs cash." in " ".join(text.split())
    assert "Forecast feedback: not run — needs forecasts" in " ".join(text.split())
    html = msg.get_body(("html",)).get_content()
    assert "not run — needs forecasts" in html

    index = (thin_run["company"] / "index.html").read_text()
    assert "demand_reconciliation.html" in index and "cash_impact.html" not in index
    assert "forecast_feedback.html" not in index


@pytest.mark.e2e
def test_a_company_run_neither_reads_nor_writes_the_demos_outputs_or_store(thin_run):
    out, company = thin_run["out"], thin_run["company"]
    assert (company / "soe_store.sqlite").exists()
    assert sorted(p.name for p in out.iterdir()) == ["thin-components-co"]  # no demo week folder, store or index
    import sqlalchemy as sa

    eng = sa.create_engine(f"sqlite:///{company / 'soe_store.sqlite'}")
    with eng.connect() as c:
        runs = c.execute(sa.text("select week, status from soe_runs")).fetchall()
    eng.dispose()
    assert runs == [(DEMO_WEEK, "ok")]
    # the demo's owners and settings never reach it
    demo = load_params()
    owners = {o for o in demo.actions.owners.values() if isinstance(o, str)} if isinstance(demo.actions.owners, dict) \
        else set()
    text = "".join(p.read_text(errors="ignore") for p in thin_run["run_dir"].glob("*.html"))
    for owner in owners:
        assert owner not in text, owner


def test_only_loads_what_the_report_needs_and_the_tables_that_date_the_data(demo_dir):
    from soe_helpers.run.runner import validate_inputs

    p = load_params(data_dir=demo_dir)
    tables, as_of = validate_inputs(p, ["demand_reconciliation"])
    assert sorted(tables) == ["customers", "forecasts", "invoices", "orders", "plan", "products", "shipments"]
    assert as_of == validate_inputs(p)[1]  # the same as-of date as the whole pack's load


def test_the_action_tracker_names_a_report_not_run_by_design(tmp_path):
    from soe_helpers.analysis import actions

    run_folder.write_meta(tmp_path, "2026-11-22", DEMO_WEEK, {"cash_impact": "needs cash"})
    frames, notes = actions.read_inputs(tmp_path)
    assert frames["cash_events.csv"] is None
    assert "cash_events.csv is not there: the cash_impact report was not run (needs cash), so no actions were " \
           "proposed from it." in notes
    assert any(n.startswith("variance_register.csv is missing: the demand_reconciliation report did not run") for n in notes)


def test_without_forecasts_orders_are_not_compared_with_a_zero_forecast(demo_dir):
    from soe_helpers.analysis import reconcile
    from soe_helpers.core.calendar import FiscalCalendar, week_end

    p = load_params(data_dir=demo_dir)
    t = {n: lt.frame for n, lt in load_tables(p, ["products", "customers", "orders", "shipments", "plan"]).items()}
    t.update(aggregates.compute(t, week_end(DEMO_WEEK)))
    rec = reconcile.reconcile_week(t["booked_weekly"], t["shipped_weekly"], t["products"], t["customers"], t["plan"],
                                   empty_table("forecasts"), DEMO_WEEK, FiscalCalendar.from_params(p.calendar),
                                   p.materiality, "$", orders=t["orders"], shipments=t["shipments"])
    assert all(df.empty for dims in (rec.week_vs_forecast, rec.qtd_vs_forecast) for df in dims.values())
    assert not (rec.register["basis"] == "the forecast made a week before").any() and len(rec.register)
    assert "No forecast snapshots were provided: orders are not compared with a forecast." in rec.notes


def test_soe_init_says_what_each_missing_table_turns_on_from_the_registry():
    from soe_helpers.data.mapping import TURNS_ON, init_report

    assert TURNS_ON["cash"] == needs.turns_on_text("cash") and "needed by Cash impact" in TURNS_ON["cash"]
    lines = init_report([])
    assert "  orders not found: it is required (every company starts with orders, products, customers)" in lines
    assert f"  add forecasts to turn on {needs.turns_on_text('forecasts')}" in lines
