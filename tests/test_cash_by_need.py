"""The cash forecast of a company with an accounting export: orders, products, customers, open invoices, open bills
and a bank balance, none of the six optional tables (suppliers, forecasts, plan, shipments, purchase orders,
inventory). Every figure below can be worked out on paper.

Run week 2026-W47: the cutoff is Sunday 2026-11-22, the forecast covers 2026-W48 (Monday 2026-11-23) to 2027-W07.
2026 has 53 ISO weeks: Friday 2027-01-01 is in 2026-W53.
"""
import numpy as np
import pandas as pd
import pytest
import yaml

from soe_helpers.analysis import cash
from soe_helpers.analysis.cash_forecast import (OPTIONAL_TABLES, REQUIRED_TABLES, build_inputs, fill_absent,
                                                left_out_notes, plan_bookings, project, suppliers_from_bills,
                                                weekly_cash)
from soe_helpers.core.calendar import FiscalCalendar
from soe_helpers.core.params import load_params
from soe_helpers.data import needs
from test_cash_forecast import _df  # the same small-frame builder

WEEK = "2026-W47"
T = pd.Timestamp


def accounting_company() -> dict:
    """Product A (cost 100, list 200). Customers C1 (terms 30) and C2 (terms 45), no paid invoice in the export: both
    pay on their terms. One open order line O1: 10 A at 200 for C1, promised Wednesday 2026-12-02 (W49), nothing
    shipped. Open invoices: I1 (C1, 2026-11-01, 1,000) and I2 (C2, 2026-11-15, 500); I0 was paid before the cutoff.
    Open bills: B1 (V1, due Thursday 2026-12-10, W50, 300) and B2 (V2, overdue since 2026-11-15, 200); B0 paid.
    Bank balance 10,000 on the cutoff."""
    products = _df([("A", "L1", 100.0, 200.0)], ["sku", "product_line", "unit_cost", "list_price"])
    customers = _df([("C1", "Cust One", "R1", 30), ("C2", "Cust Two", "R1", 45)],
                    ["customer_id", "name", "region", "payment_terms_days"])
    orders = _df([("H1", 1, "2026-10-05", "C1", "A", 5.0, 200.0, "2026-10-12", "closed"),
                  ("O1", 1, "2026-11-16", "C1", "A", 10.0, 200.0, "2026-12-02", "open")],
                 ["order_id", "line", "order_date", "customer_id", "sku", "quantity", "unit_price", "promised_date",
                  "status"], ["order_date", "promised_date"])
    invoices = _df([("I0", "C1", "2026-10-12", "2026-11-11", 1000.0, "2026-11-10"),
                    ("I1", "C1", "2026-11-01", "2026-12-01", 1000.0, None),
                    ("I2", "C2", "2026-11-15", "2026-12-30", 500.0, None)],
                   ["invoice_id", "customer_id", "invoice_date", "due_date", "amount", "paid_date"],
                   ["invoice_date", "due_date", "paid_date"])
    bills = _df([("B0", "V1", "2026-10-01", "2026-10-31", 700.0, "2026-10-30"),
                 ("B1", "V1", "2026-11-10", "2026-12-10", 300.0, None),
                 ("B2", "V2", "2026-10-01", "2026-11-15", 200.0, None)],
                ["bill_id", "supplier_id", "bill_date", "due_date", "amount", "paid_date"],
                ["bill_date", "due_date", "paid_date"])
    bank = _df([("Bank", "opening_balance", 10_000.0, "2026-11-22")], ["item", "kind", "amount", "date"], ["date"])
    return {"products": products, "customers": customers, "orders": orders, "invoices": invoices, "bills": bills,
            "cash": bank}


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    """Neutral defaults plus two scenarios: a supplier delay (needs purchase orders: skipped) and a production
    delay of O1 by 14 days (orders only: applied)."""
    f = tmp_path_factory.mktemp("acct") / "acct.yaml"
    sources = {t: {"file": f"{t}.csv"} for t in REQUIRED_TABLES}
    f.write_text(yaml.safe_dump({"company": {"name": "Ledger Co"}, "data": {"sources": sources}, "cash": {"scenarios": [
        {"name": "V1 slips", "kind": "supplier_delay", "supplier_id": "V1", "days": 14},
        {"name": "O1 two weeks late", "kind": "production_delay", "order_id": "O1", "days": 14}]}}))
    return load_params([str(f)])


def test_the_split_is_one_rule_for_the_report_and_the_registry():
    n = needs.NEEDS["cash_impact"]
    assert set(n.requires) == set(REQUIRED_TABLES) == {"orders", "products", "customers", "invoices", "bills", "cash"}
    assert n.optional == OPTIONAL_TABLES and cash.TABLES == REQUIRED_TABLES + OPTIONAL_TABLES
    assert needs.not_run_reason("cash_impact", {"orders", "products", "customers", "invoices"}) == "needs bills, cash"
    with pytest.raises(ValueError, match="needs the tables bills"):
        fill_absent({k: v for k, v in accounting_company().items() if k != "bills"})


def test_open_invoices_and_bills_on_their_dates_and_the_order_on_its_promise():
    inp = build_inputs(accounting_company(), WEEK)
    assert inp.absent == OPTIONAL_TABLES and not inp.supply_known and inp.opening_cash == 10_000.0
    # no paid history: each customer pays on its terms, i.e. invoice date + 30 / 45 days = the due date
    assert inp.dtp.set_index("customer_id")["basis"].to_dict() == {"C1": "terms", "C2": "terms"}
    assert dict(zip(inp.ar["invoice_id"], inp.ar["collect_date"])) == {"I1": T("2026-12-01"), "I2": T("2026-12-30")}
    # overdue B2 is paid in the first week
    assert dict(zip(inp.ap["bill_id"], inp.ap["pay_date"])) == {"B1": T("2026-12-10"), "B2": T("2026-11-23")}
    assert inp.pos.empty and inp.demand.empty
    p = project(inp)
    # stock unknown: O1 ships on its promise (not starved), nothing is bought for it
    o1 = p.shipments.set_index("ref").loc["O1/1"]
    assert o1["ship_date"] == T("2026-12-02") and o1["value"] == 2000.0
    assert set(p.flows["flow"]) == {"AR collections", "Open orders", "AP bills"}
    w = weekly_cash(p.flows, inp.weeks, inp.opening_cash).set_index("week")
    # W48: -200 (B2); W49: +1,000 (I1); W50: -300 (B1); W53: +500 (I2) +2,000 (O1, collected 2027-01-01)
    assert w.loc["2026-W48", "closing_cash"] == 9_800.0 and w.loc["2026-W49", "closing_cash"] == 10_800.0
    assert w.loc["2026-W50", "closing_cash"] == 10_500.0 and w.loc["2026-W53", "receipts"] == 2_500.0
    assert w.loc["2027-W07", "closing_cash"] == 13_000.0
    assert w[["Forecast sales", "Open POs", "Planned POs", "Other payments"]].abs().sum().sum() == 0.0


def test_each_absent_table_is_named_in_one_note(params):
    ci = cash.cash_week(accounting_company(), WEEK, params, FiscalCalendar.from_params(params.calendar))
    left = left_out_notes(OPTIONAL_TABLES, supply_known=False)
    assert len(left) == 5 and all(n in ci.notes for n in left)  # forecasts and plan share one sentence
    assert "No purchase orders: payments for goods ordered but not yet billed are not in the forecast, and late " \
           "suppliers are not detected." in ci.notes
    assert any(n.startswith("No forecasts or plan: receipts from sales not yet booked are not in") for n in ci.notes)
    assert any(n.startswith("The cash table holds only the bank balance") for n in ci.notes)
    assert "Scenario 'V1 slips' (supplier delay) is skipped: it needs purchase orders, not given." in ci.notes
    # the production delay is applied: O1 ships on 2026-12-16 (W51), 14 days late, so expedited freight of 3% of
    # 2,000 = 60 is paid that week, and it is collected 2027-01-15 (2027-W02) instead of W53
    assert list(ci.scenarios["name"]) == ["O1 two weeks late"] and "V1 slips" not in set(ci.weekly["scenario"])
    late = ci.line("O1 two weeks late").set_index("week")
    assert late.loc["2026-W53", "receipts"] == 500.0 and late.loc["2027-W02", "receipts"] == 2_000.0
    assert late.loc["2026-W51", "Expedite freight"] == -60.0 and late.loc["2027-W07", "closing_cash"] == 12_940.0
    base = ci.line(cash.BASELINE)
    assert base["closing_cash"].iloc[-1] == 13_000.0 and cash.forecast_closes(ci.weekly)
    assert ci.events.empty  # no purchase orders, no stock, no ERP reschedule: nothing detected
    # working capital: AR 1,500 and AP 500 now; inventory not known, not zero
    wc = ci.working_capital.set_index("item")
    assert wc.loc["AR", "now"] == 1_500.0 and wc.loc["AP", "now"] == 500.0
    assert np.isnan(wc.loc["Inventory", "now"]) and np.isnan(wc.loc["Net working capital", "now"])
    lines = cash.assumption_lines(params, ci)
    assert not any("replenished" in a or "Demand spikes" in a for a in lines)


def test_suppliers_from_the_bills_give_terms_and_purchase_orders_are_paid_on_them():
    t = accounting_company()
    po = _df([("P1", 1, "V1", "A", "2026-11-02", "2026-11-30", "2026-11-30", 4.0, 100.0, None, None)],
             ["po_id", "line", "supplier_id", "sku", "order_date", "promised_date", "expected_date", "quantity",
              "unit_cost", "received_date", "received_qty"],
             ["order_date", "promised_date", "expected_date", "received_date"])
    sup = suppliers_from_bills(t["bills"], po).set_index("supplier_id")
    # V1: bills of 30 days (B0: Oct 1 -> Oct 31; B1: Nov 10 -> Dec 10); V2: 45 days; lead time of V1 28 days
    assert sup["payment_terms_days"].to_dict() == {"V1": 30.0, "V2": 45.0}
    assert sup.loc["V1", "lead_time_days"] == 28.0 and np.isnan(sup.loc["V2", "lead_time_days"])
    inp = build_inputs({**t, "purchase_orders": po}, WEEK)
    p = project(inp)
    # P1 received 2026-11-30, paid 30 days later: 2026-12-30 (W53), 400
    f = p.flows[p.flows["flow"] == "Open POs"]
    assert list(f["date"]) == [T("2026-12-30")] and list(f["amount"]) == [-400.0]
    assert not any(n.startswith("No purchase orders") for n in inp.notes)


def test_a_revenue_plan_by_product_line_is_spread_over_the_skus_by_their_bookings():
    # L1 booked 3 A at 100 (300) and 1 B at 300 (300) in the last 13 weeks: half each; plan 1,200 in W48
    products = _df([("A", "L1", 50.0, 100.0), ("B", "L1", 150.0, 300.0)], ["sku", "product_line", "unit_cost",
                                                                            "list_price"])
    orders = _df([("O1", 1, "2026-11-02", "C1", "A", 3.0, 100.0), ("O2", 1, "2026-11-09", "C1", "B", 1.0, 300.0)],
                 ["order_id", "line", "order_date", "customer_id", "sku", "quantity", "unit_price"], ["order_date"])
    plan = pd.DataFrame({"week": ["2026-W48"], "product_line": ["L1"], "revenue": [1200.0], "units": [np.nan]})
    price = pd.Series({"A": 100.0, "B": 300.0})
    out, how = plan_bookings(plan, orders, products, price, T("2026-11-22"), ["2026-W48"])
    assert out.set_index("sku")["qty"].to_dict() == {"A": 6.0, "B": 2.0}  # 600 / 100 and 600 / 300
    assert how == ("the S&OP plan's revenue by product line, spread over its SKUs by their bookings of the last 13 "
                   "weeks, at their recent prices")


def test_the_forecast_tie_out_is_a_sentence():
    w = pd.DataFrame({"scenario": ["baseline"] * 2, "opening_cash": [10.0, 12.0], "receipts": [5.0, 0.0],
                      "payments": [3.0, 2.0], "closing_cash": [12.0, 10.0]})
    assert cash.forecast_closes_text(w).startswith("Every line's weeks close to the cent")
    assert "do NOT close" in cash.forecast_closes_text(w.assign(closing_cash=[12.0, 11.0]))
