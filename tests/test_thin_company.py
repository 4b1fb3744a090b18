"""The Done test of issue 13: a thin company (orders with their ship date and shipped quantity, items, customers,
an Excel budget by month x product line in dollars, a July fiscal year, params written by hand) gets a true,
sensible demand reconciliation and execution KPIs: variances at product line x month, no region rows, no inf,
nothing of the demo's names, and a data note for every inference.

Built from the session's demo exports by :func:`soe_helpers.demo.thin.build_thin_company`.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, soe
from soe_helpers.analysis import kpis
from soe_helpers.analysis.reconcile import bridge_steps, landing_headline, reconcile_week
from soe_helpers.core.calendar import FiscalCalendar
from soe_helpers.core.params import KpiParams, load_params
from soe_helpers.data.aggregates import from_frames
from soe_helpers.data.loaders import _check_foreign_keys, _complete, coerce_table, data_notes, read_source
from soe_helpers.data.schemas import SCHEMAS
from soe_helpers.demo.thin import COMPANY, build_thin_company

WEEK = "2026-W47"


@pytest.fixture(scope="module")
def thin(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("thin")
    return build_thin_company(demo_dir, out), out


@pytest.fixture(scope="module")
def loaded(thin):
    """The four exports through the real loader (read, map, parse, check, foreign keys, completion)."""
    path, _ = thin
    params = load_params([str(path)])
    tables = {}
    for name, src in params.data.sources.items():
        lt = read_source(name, src, params.data_dir())
        lt.frame, problems = coerce_table(lt, SCHEMAS[name], src)
        assert problems == [], [str(p) for p in problems]
        tables[name] = lt
    assert _check_foreign_keys(tables) == []
    _complete(tables, params)
    return params, {n: lt.frame for n, lt in tables.items()}, data_notes(tables)


@pytest.fixture(scope="module")
def rec(loaded):
    params, t, _ = loaded
    aggs = from_frames(orders=t["orders"], shipments=t["shipments"])
    cal = FiscalCalendar.from_params(params.calendar)
    return reconcile_week(aggs["booked_weekly"], aggs["shipped_weekly"], t["products"], t["customers"], t["plan"],
                          None, WEEK, cal, params.materiality, "$", orders=t["orders"], shipments=t["shipments"])


def test_the_load_infers_shipments_and_due_dates_and_says_so(loaded):
    params, t, notes = loaded
    assert params.company.name == COMPANY and params.calendar.year_start_month == 7
    assert set(t) == {"orders", "products", "customers", "plan", "shipments"}
    assert notes == [
        "The orders have no promised date: the requested date is used as the promise.",
        f"No shipments table: shipped is read from the orders' ship date and shipped quantity "
        f"({len(t['shipments']):,} lines shipped; a line shipped in parts counts on its first ship date).",
    ]
    assert t["plan"]["month"].str.match(r"^\d{4}-\d{2}$").all() and t["plan"]["units"].isna().all()


def test_variances_are_at_product_line_by_month_and_nowhere_the_plan_is_not(rec, loaded, demo_dir):
    _, t, _ = loaded
    assert rec.quarter == "2027-Q2" and rec.grain.describe() == "month x product line, revenue only"
    # November 2026 is W45..W48 by Thursdays, 5 working days each: W47 holds a quarter of each line's month
    nov = t["plan"][t["plan"]["month"] == "2026-11"].set_index("product_line")["revenue"]
    wk = rec.week_vs_plan["product_line"].set_index("product_line")
    assert wk["plan_revenue"].to_dict() == pytest.approx((nov / 4).to_dict())
    # the quarter's plan is October to December, the demo's weekly plan for W40-W53 summed (cents rounded per month)
    demo_plan = pd.read_excel(demo_dir / "sop_plan.xlsx", sheet_name="Plan", engine="calamine")
    q = demo_plan[demo_plan["Week"].between("2026-W40", "2026-W53")]["Plan Revenue"].sum()
    assert rec.landing["plan_quarter"] == pytest.approx(q, abs=1.0)
    # product-line rows tie out to the totals; regions and SKUs are never compared with a plan
    q_lines = rec.qtd_vs_plan["product_line"]
    assert q_lines["actual_revenue"].sum() == pytest.approx(rec.landing["actual_qtd"])
    assert q_lines["plan_revenue"].sum() == pytest.approx(rec.landing["plan_qtd"])
    assert "plan_revenue" not in rec.qtd_vs_plan["region"] and "plan_revenue" not in rec.qtd_vs_plan["sku"]
    reg = rec.register
    assert len(reg) and set(reg.loc[reg["basis"] == "plan", "level"]) == {"product_line"}
    assert set(reg["level"]) <= {"product_line", "customer"}  # no action on a SKU or region without a plan
    assert "(all)" not in set(reg["key"]) and not np.isinf(reg["variance_pct"].astype(float)).any()
    assert not reg["sentence"].str.contains("inf|nan", case=False).any()
    assert any(n.startswith("The plan has no SKU or region") for n in rec.notes)
    # money only: plan, difference, actual; it closes
    steps = bridge_steps(rec.bridge)
    assert len(steps) == 3 and steps.attrs["closes"]


def test_the_landing_uses_the_filled_plan_and_the_run_rate_of_bookings(rec):
    land = rec.landing
    assert land["landing"] == pytest.approx(land["actual_qtd"] + land["backlog_in_quarter"]
                                            + land["unbooked_in_quarter"])
    assert land["unbooked_in_quarter"] > 0 and land["landing_corrected"] == pytest.approx(land["landing"])
    assert any("No demand forecast was given" in n and "13 weeks" in n for n in rec.notes)
    text = landing_headline(rec, "$")
    assert text.startswith("2027-Q2 is projected to land at $") and "plan" in text and "bias" not in text
    assert set(rec.landing_by_line["product_line"]) == set(rec.qtd_vs_plan["product_line"]["product_line"])


def test_no_demo_names_reach_the_thin_company(rec, demo_dir):
    crm = pd.read_csv(demo_dir / "crm_accounts.csv", dtype=str, encoding="cp1252")
    text = " ".join(rec.register["sentence"]) + " ".join(rec.notes)
    assert not any(name in text for name in crm["Account Name"]) and "Kestrel" not in text
    assert rec.register.loc[rec.register["level"] == "customer", "name"].str.startswith("Account C-").all()


def test_execution_kpis_measure_fulfilment_and_margin_and_name_what_they_cannot(loaded):
    params, t, _ = loaded
    aggs = from_frames(orders=t["orders"], shipments=t["shipments"])
    k = kpis.execution_kpis(t["orders"], t["shipments"], t["products"], t["customers"], None, None, None, WEEK,
                            FiscalCalendar.from_params(params.calendar), KpiParams(), "$",
                            shipped_weekly=aggs["shipped_weekly"])
    card = k.card.set_index("kpi")
    assert 0 < card.loc["otif", "13w"] <= 1 and 0 < card.loc["gross_margin_pct", "13w"] < 1
    for kpi in ("dso", "dio", "dpo", "ccc", "inventory_turns"):
        assert np.isnan(card.loc[kpi, "13w"]) and card.loc[kpi, "status_13w"] == "n/a"
    assert "Not measured: DSO needs invoices; DIO and inventory turns need inventory; DPO needs bills; the cash " \
           "conversion cycle needs invoices and inventory and bills (no such export was given)." in k.notes
    assert kpis.working_headline(k, KpiParams().targets) == \
        "Working capital is not measured: it needs invoices, inventory and bills."
    assert "cash conversion cycle not measured" in kpis.headline(k)
    _, _, ar = kpis.ar_ageing_summary(None, t["customers"])
    assert kpis.ar_ageing_headline(ar, "$").startswith("Receivables are not measured")
    assert k.exceptions["exception_id"].str.contains("dso|dpo|dio|ccc").sum() == 0


@pytest.mark.e2e
def test_validate_and_run_the_thin_company_end_to_end(thin, pack_env, tmp_path):
    """``soe validate`` and ``soe run`` on the thin company: its two demand-side reports, every other report of
    the first stage "not run — needs ..." (tables by need), the tracker and the summary on what ran."""
    path, data = thin
    env = {**pack_env, "SOE_OUTPUTS": str(tmp_path / "outputs"), "SOE_DATA_DIR": str(data)}
    v = soe("validate", "--params", str(path), "--data-dir", str(data), env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "Not run: cash_impact — needs" in v.stdout and "Not run: forecast_feedback — needs forecasts" in v.stdout
    assert "  ok  shipments" in v.stdout and "Note: No shipments table: shipped is read from the orders'" in v.stdout
    r = soe("run", "--params", str(path), "--data-dir", str(data), "--week", WEEK, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    manifests = sorted((tmp_path / "outputs").glob(f"**/{WEEK}/*/manifest.json"))
    assert manifests, r.stdout
    run_dir = manifests[-1].parent
    status = {n["name"]: n for n in json.loads(manifests[-1].read_text())["notebooks"]}
    assert {n for n, s in status.items() if s["status"] == "ok"} == {
        "demand_reconciliation", "execution_kpis", "action_tracker", "executive_summary"}, status
    for nb in ("cash_impact", "forecast_feedback", "data_accuracy"):
        assert status[nb]["status"] == "not run" and status[nb]["reason"].startswith("needs "), status[nb]
    html = (run_dir / "demand_reconciliation.html").read_text()
    assert "(all)" not in html and "inf%" not in html and "Kestrel" not in html and COMPANY in html
    assert "No shipments table: shipped is read from the orders" in html
    rec = json.loads((run_dir / "results" / "demand_reconciliation.json").read_text())
    assert rec["quarter"] == "2027-Q2" and rec["bridge_closes"] is True
    summary = (run_dir / "executive_summary.html").read_text()
    assert "Kestrel" not in summary and "Lucia Gomez" not in summary


@pytest.fixture(scope="module")
def thin_run(loaded, tmp_path_factory):
    """The thin company's two reports executed as the weekly run executes them (papermill on the ``soe`` kernel)
    over a run folder holding its validated snapshot and aggregates, written here as the runner writes them."""
    import os

    from soe_helpers.core import run_folder
    from soe_helpers.data import aggregates
    from soe_helpers.core.calendar import week_end
    from soe_helpers.run.execute import execute_one

    params, t, notes = loaded
    outputs = tmp_path_factory.mktemp("thin_outputs")
    run_dir = outputs / WEEK / "thin-run"
    data = run_folder.data_dir(run_dir)
    data.mkdir(parents=True)
    for name, frame in t.items():
        frame.to_parquet(run_folder.table_path(run_dir, name), index=False)
    for name, frame in aggregates.compute_files(data, week_end(WEEK)).items():
        frame.to_parquet(data / f"{name}.parquet", index=False)
    run_folder.write_atomic(run_folder.meta_path(run_dir), json.dumps({"as_of": "2026-11-22", "week": WEEK,
                                                                       "data_notes": notes}))
    run_folder.write_atomic(run_folder.params_path(run_dir), params.to_json())
    (run_dir / run_folder.RESULTS_DIRNAME).mkdir()
    old = {k: os.environ.get(k) for k in ("SOE_OUTPUTS", "SOE_STORE_URL")}
    os.environ.update({"SOE_OUTPUTS": str(outputs), "SOE_STORE_URL": ""})
    try:
        status = {nb: execute_one({"name": nb, "input": str(ROOT / "notebooks" / f"{nb}.ipynb"),
                                   "output": str(run_dir / f"{nb}.ipynb"), "html": str(run_dir / f"{nb}.html"),
                                   "parameters": {"week": WEEK, "run_dir": str(run_dir)}, "kernel": "soe",
                                   "cwd": str(ROOT)})
                  for nb in ("demand_reconciliation", "execution_kpis")}
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return run_dir, status


@pytest.mark.parametrize("nb", ["demand_reconciliation", "execution_kpis"])
def test_the_reports_run_true_and_sensible_on_the_thin_company(thin_run, nb):
    import re

    run_dir, status = thin_run
    assert status[nb]["status"] == "ok", status[nb]
    html = (run_dir / f"{nb}.html").read_text()
    text = re.sub(r"<[^>]+>", " ", html)
    assert COMPANY in text and "Kestrel" not in text and "Lucia Gomez" not in text
    assert not re.search(r"\b(nan|inf)\b|\$nan|inf%|\(all\)", text, re.I), re.findall(r".{60}(?:nan|inf).{60}", text)
    assert "No shipments table: shipped is read from the orders' ship date" in text
    if nb == "demand_reconciliation":
        assert "No demand forecast was given" in text and "By region" not in text.replace("By region vs run-rate", "")
        assert "money only" in text and "Orders are not compared" not in text
        rec = json.loads((run_dir / "results" / "demand_reconciliation.json").read_text())
        assert rec["quarter"] == "2027-Q2" and rec["bridge_closes"] is True
    else:
        assert "Working capital is not measured: it needs invoices, inventory and bills." in text
        assert "Receivables are not measured" in text


def test_soe_init_writes_the_file_validate_and_run_use(thin, pack_env, tmp_path):
    """The issue's path for a new company: ``soe init`` on the export folder proposes every table (the Excel
    plan below its title row, the orders' "Ln" and ship columns), says which reports will run, and the file it
    wrote (with the July fiscal year given by ``--year-start 7``) is what ``soe validate`` and ``soe run`` use."""
    _, data = thin
    out_yaml = tmp_path / "company.yaml"
    env = {**pack_env, "SOE_OUTPUTS": str(tmp_path / "outputs")}
    i = soe("init", "--data-dir", str(data), "--out", str(out_yaml), "--year-start", "7", env=env)
    assert i.returncode == 0, i.stdout + i.stderr
    assert "budget.xlsx -> plan: 3 column(s) mapped" in i.stdout and "missing required" not in i.stdout
    assert "shipments: read from the orders' ship date and shipped quantity" in i.stdout
    assert "Reports that will run: Demand reconciliation, Execution KPIs, Action tracker, Executive summary" in i.stdout
    assert "not run: Forecast feedback (needs forecasts)" in i.stdout
    text = out_yaml.read_text()
    assert 'month: "Month"' in text and 'line: "Ln"' in text and 'shipped_quantity: "Qty Shipped"' in text
    assert "Kestrel" not in text and "@" not in text  # no demo name, owner or recipient
    assert "Fiscal year: starts in July, calendar months (given: --year-start 7)" in i.stdout
    assert "  year_start_month: 7    # July: given to soe init" in text
    v = soe("validate", "--params", str(out_yaml), "--data-dir", str(data), env=env)
    assert v.returncode == 0 and "Not run: forecast_feedback — needs forecasts." in v.stdout, v.stdout + v.stderr
    r = soe("run", "--params", str(out_yaml), "--data-dir", str(data), "--week", WEEK, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    manifest = sorted((tmp_path / "outputs").glob(f"**/{WEEK}/*/manifest.json"))[-1]
    status = {n["name"]: n["status"] for n in json.loads(manifest.read_text())["notebooks"]}
    assert status["demand_reconciliation"] == "ok" and status["execution_kpis"] == "ok"
    assert status["cash_impact"] == "not run"
    rec = json.loads((manifest.parent / "results" / "demand_reconciliation.json").read_text())
    assert rec["quarter"] == "2027-Q2"  # the July fiscal year: W47 of 2026 is in its second quarter


# ---------------------------------------------------------------- with the accounting export: the cash forecast


@pytest.fixture(scope="module")
def thin_accounting(demo_dir, tmp_path_factory):
    """The thin company with its accounting system's open invoices, open bills and bank balance (QuickBooks-style
    headers): orders, items, customers, the budget, AR, AP and the bank; no suppliers, forecasts, purchase orders or
    inventory."""
    out = tmp_path_factory.mktemp("thin_accounting")
    return build_thin_company(demo_dir, out, accounting=True), out


@pytest.mark.e2e
def test_the_accounting_export_gets_a_13_week_cash_forecast_that_names_what_it_leaves_out(thin_accounting, pack_env,
                                                                                           tmp_path, demo_dir):
    """``soe validate`` and ``soe run --only cash_impact``: the forecast starts at the bank balance, closes week by
    week and in its bridges, and its data notes name every part left out for want of a table."""
    import re

    path, data = thin_accounting
    env = {**pack_env, "SOE_OUTPUTS": str(tmp_path / "outputs"), "SOE_DATA_DIR": str(data)}
    v = soe("validate", "--params", str(path), "--data-dir", str(data), env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "Not run: cash_impact" not in v.stdout and "Not run: forecast_feedback — needs forecasts" in v.stdout
    r = soe("run", "--params", str(path), "--data-dir", str(data), "--week", WEEK, "--only", "cash_impact", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run_dir = sorted((tmp_path / "outputs").glob(f"**/{WEEK}/*/manifest.json"))[-1].parent
    status = {n["name"]: n for n in json.loads((run_dir / "manifest.json").read_text())["notebooks"]}
    assert status["cash_impact"]["status"] == "ok", status["cash_impact"]

    bank = pd.read_csv(data / "bank_balance.csv")
    rec = json.loads((run_dir / "results" / "cash_impact.json").read_text())
    assert rec["opening_cash"] == pytest.approx(float(bank["Balance"].iloc[0]), abs=0.005)
    assert rec["forecast_weeks"] == ["2026-W48", "2027-W07"]
    assert rec["forecast_closes"] is True and rec["bridges_close"] is True
    fc = pd.read_csv(run_dir / "cash_forecast_13w.csv")
    base = fc[fc["scenario"] == "baseline"].reset_index(drop=True)
    assert len(base) == 13 and base["opening_cash"].iloc[0] == pytest.approx(rec["opening_cash"], abs=0.005)
    assert (base["opening_cash"] + base["receipts"] - base["payments"] - base["closing_cash"]).abs().max() < 0.005
    # receipts of the open invoices and payments of the open bills: at most what is open, and nothing else is paid
    # (no purchase orders, no stock to replenish, no treasury items: only the open bills and late-order freight)
    def open_total(name):
        return pd.to_numeric(pd.read_csv(data / name, dtype=str)["Open Balance"].str.replace(",", "")).sum()

    assert 0 < base["AR collections"].sum() <= open_total("open_invoices.csv") + 0.01
    assert 0 < -base["AP bills"].sum() <= open_total("open_bills.csv") + 0.01
    assert (base[["Open POs", "Planned POs", "Other payments"]] == 0).all().all()
    assert rec["baseline_week13_closing"] == pytest.approx(base["closing_cash"].iloc[-1])

    text = " ".join(re.sub(r"<[^>]+>", " ", (run_dir / "cash_impact.html").read_text()).split())
    for note in ("No purchase orders: payments for goods ordered but not yet billed are not in the forecast",
                 "No inventory: stock is not known", "No forecasts: sales not yet booked come from the S&amp;OP plan",
                 "No suppliers table: each supplier's payment terms are read from its bills",
                 "The cash table holds only the bank balance", "No shipments table: shipped is read from the orders"):
        assert note.replace("'", "&#x27;") in text or note in text, note
    assert COMPANY in text and "Kestrel" not in text
    vendors = pd.read_csv(demo_dir / "erp_vendors.csv", dtype=str)["Vendor Name"]
    assert not any(name in text for name in vendors)
    assert not re.search(r"\b(nan|inf)\b|\$nan|inf%", text, re.I), re.findall(r".{60}(?:nan|inf).{60}", text)
