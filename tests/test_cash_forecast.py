"""The direct-method cash forecast on a hand-made company whose answers can be worked out on paper.

Run week 2026-W47: the cutoff is Sunday 2026-11-22, the forecast starts Monday 2026-11-23
and covers 2026-W48 .. 2027-W07 (ends Sunday 2027-02-21).
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soe_helpers.core.calendar import FiscalCalendar, week_add
from soe_helpers.analysis.cash_forecast import (Assumptions, build_inputs, cash_summary, customer_days_to_pay,
                                       expand_cash_items, opening_balance, project, recent_prices, ship_lags,
                                       weekly_cash, working_capital)

WEEK = "2026-W47"
START = pd.Timestamp("2026-11-23")
WEEKS = [week_add(WEEK, k) for k in range(1, 14)]
T = pd.Timestamp


def _df(rows, cols, dates=()):
    df = pd.DataFrame(rows, columns=cols)
    for c in dates:
        df[c] = pd.to_datetime(df[c])
    return df


def world(orders=(), shipments=(), invoices=(), pos=(), bills=(), stock=None, forecast=None, cash=None,
          c2_paid=2) -> dict:
    """A tiny company. Products A (cost 150, list 250, supplier S1), B (cost 500, list 1000, S2), P (cost 75,
    list 100, S1). Customers C1 (terms 30, pays in exactly 30 days: 6 paid invoices) and C2 (terms 45,
    1.5%/week late penalty capped at 7.5%, ``c2_paid`` invoices paid after 40 days: too few, so terms). Suppliers S1 (terms 30,
    lead 14 days), S2 (terms 60, lead 28). Zero forecast unless given; opening cash 1,000,000 on the cutoff."""
    products = _df([("A", "L1", 150.0, 250.0, "S1"), ("B", "L2", 500.0, 1000.0, "S2"), ("P", "L1", 75.0, 100.0, "S1")],
                   ["sku", "product_line", "unit_cost", "list_price", "supplier_id"])
    customers = _df([("C1", "Cust One", "R1", 30, np.nan, np.nan), ("C2", "Cust Two", "R2", 45, 0.015, 0.075)],
                    ["customer_id", "name", "region", "payment_terms_days", "late_penalty_pct_per_week",
                     "penalty_cap_pct"])
    suppliers = _df([("S1", "Sup One", 30, 14), ("S2", "Sup Two", 60, 28)],
                    ["supplier_id", "name", "payment_terms_days", "lead_time_days"])
    # history: C1 bought 1 A at 250 six times (Sep), paid 30 days after invoice; C2 bought c2_paid times
    hist_o, hist_s, hist_i = [], [], []
    for k in range(6 + c2_paid):
        cust = "C1" if k < 6 else "C2"
        d = T("2026-09-07") + pd.Timedelta(days=3 * k)
        hist_o.append((f"H-{k}", 1, d, cust, "A", 1.0, 250.0, d + pd.Timedelta(days=7), d + pd.Timedelta(days=7),
                       pd.NaT, "closed"))
        hist_s.append((f"SH-H{k}", f"H-{k}", 1, d + pd.Timedelta(days=7), 1.0))
        inv_d = d + pd.Timedelta(days=7)
        lag = 30 if cust == "C1" else 40
        hist_i.append((f"IH-{k}", cust, f"H-{k}", inv_d, inv_d + pd.Timedelta(days=30 if cust == "C1" else 45), 250.0,
                       inv_d + pd.Timedelta(days=lag), 250.0))
    ocols = ["order_id", "line", "order_date", "customer_id", "sku", "quantity", "unit_price", "requested_date",
             "promised_date", "scheduled_date", "status"]
    o = _df(hist_o + list(orders), ocols, ["order_date", "requested_date", "promised_date", "scheduled_date"])
    o["line"] = o["line"].astype("Int64")
    s = _df(hist_s + list(shipments), ["shipment_id", "order_id", "line", "ship_date", "quantity"], ["ship_date"])
    i = _df(hist_i + list(invoices), ["invoice_id", "customer_id", "order_id", "invoice_date", "due_date", "amount",
                                      "paid_date", "paid_amount"], ["invoice_date", "due_date", "paid_date"])
    p = _df(list(pos), ["po_id", "line", "supplier_id", "sku", "order_date", "promised_date", "expected_date",
                        "quantity", "unit_cost", "received_date", "received_qty"],
            ["order_date", "promised_date", "expected_date", "received_date"])
    b = _df(list(bills), ["bill_id", "supplier_id", "po_id", "bill_date", "due_date", "amount", "paid_date"],
            ["bill_date", "due_date", "paid_date"])
    stock = stock or {"A": 5000.0, "B": 0.0, "P": 50000.0}
    inv = _df([(WEEK, k, "W1", v, v) for k, v in stock.items()], ["week", "sku", "location", "on_hand_qty",
                                                                   "on_hand_value"])
    fc = forecast or {}
    f = _df([(WEEK, w, sku, float(fc.get(sku, {}).get(w, 0.0))) for w in WEEKS for sku in ("A", "B", "P")],
            ["snapshot_week", "target_week", "sku", "quantity"])
    c = cash if cash is not None else _df([("Bank", "opening_balance", 1_000_000.0, "2026-11-22", None, None, "Bank")],
                                          ["item", "kind", "amount", "date", "frequency", "end_date", "category"],
                                          ["date", "end_date"])
    return {"products": products, "customers": customers, "suppliers": suppliers, "forecasts": f, "orders": o,
            "shipments": s, "invoices": i, "purchase_orders": p, "bills": b, "inventory": inv, "cash": c}


NO_CARRY = Assumptions(carrying_cost_rate=0.0, target_cover_weeks=0.0)


def order(oid, sku, qty, price, promised, scheduled=None, customer="C1", status="open", ordered="2026-10-05"):
    return (oid, 1, T(ordered), customer, sku, float(qty), float(price), T(promised), T(promised),
            T(scheduled) if scheduled else pd.NaT, status)


# ---------------------------------------------------------------- building blocks


def test_days_to_pay_is_amount_weighted_and_falls_back_to_terms():
    inv = _df([("1", "C1", T("2026-01-01"), 100.0, T("2026-01-11")), ("2", "C1", T("2026-02-01"), 300.0, T("2026-03-03")),
               ("3", "C1", T("2026-02-01"), -50.0, T("2026-02-02")),      # credit note: ignored
               ("4", "C1", T("2026-11-01"), 999.0, T("2026-12-30")),      # paid after the cutoff: not known yet
               ("5", "C2", T("2026-01-01"), 100.0, T("2026-01-21"))],
              ["invoice_id", "customer_id", "invoice_date", "amount", "paid_date"])
    cust = _df([("C1", 45), ("C2", 60), ("C3", 30)], ["customer_id", "payment_terms_days"])
    d = customer_days_to_pay(inv, cust, "2026-11-22", lookback_days=400, min_invoices=2).set_index("customer_id")
    assert d.loc["C1", "observed_days"] == pytest.approx((100 * 10 + 300 * 30) / 400)   # 25 days
    assert d.loc["C1", "days_to_pay"] == pytest.approx(25.0) and d.loc["C1", "basis"] == "observed"
    assert d.loc["C2", "n_paid"] == 1 and d.loc["C2", "days_to_pay"] == 60 and d.loc["C2", "basis"] == "terms"
    assert d.loc["C3", "days_to_pay"] == 30 and np.isnan(d.loc["C3", "observed_days"])
    short = customer_days_to_pay(inv, cust, "2026-11-22", lookback_days=300, min_invoices=1).set_index("customer_id")
    assert short.loc["C1", "n_paid"] == 1 and short.loc["C1", "days_to_pay"] == 30   # only the February invoice


def test_cash_items_expand_by_frequency_until_their_end():
    c = _df([("Bank", "opening_balance", 5.0, "2027-01-01", None, None),
             ("Rent", "recurring", -10.0, "2027-01-31", "monthly", None),
             ("Payroll", "recurring", -100.0, "2027-01-08", "biweekly", "2027-02-06"),
             ("Fees", "recurring", -1.0, "2026-12-28", "weekly", None),
             ("Tax", "recurring", -50.0, "2026-12-15", "quarterly", None),
             ("Grant", "one_off", 70.0, "2027-02-15", None, None),
             ("Old", "one_off", 9.0, "2026-01-01", None, None)],
            ["item", "kind", "amount", "date", "frequency", "end_date"], ["date", "end_date"])
    x = expand_cash_items(c, "2027-01-01", "2027-03-31")
    got = {k: list(g["date"].dt.strftime("%m-%d")) for k, g in x.groupby("item")}
    assert got["Rent"] == ["01-31", "02-28", "03-31"]             # month-end clipped, then back to the 31st
    assert got["Payroll"] == ["01-08", "01-22", "02-05"]          # ends 6 Feb
    assert got["Fees"][0] == "01-04" and len(got["Fees"]) == 13
    assert got["Tax"] == ["03-15"] and got["Grant"] == ["02-15"]
    assert "Bank" not in got and "Old" not in got
    assert x["category"].eq(x["item"]).all()                       # no category column -> the item's name
    bad = c.assign(frequency=c["frequency"].where(c["item"] != "Rent", "yearly"))
    with pytest.raises(ValueError, match="Rent.*frequency"):
        expand_cash_items(bad, "2027-01-01", "2027-03-31")


def test_opening_balance_rolls_to_the_cutoff():
    cash = _df([("Bank", "opening_balance", 1000.0, "2026-11-15", None, None),
                ("Rent", "one_off", -100.0, "2026-11-20", None, None)],
               ["item", "kind", "amount", "date", "frequency", "end_date"], ["date", "end_date"])
    inv = _df([("1", T("2026-11-18"), 300.0, 300.0), ("2", T("2026-11-25"), 50.0, 50.0),
               ("3", T("2026-11-12"), 20.0, 20.0)],
              ["invoice_id", "paid_date", "amount", "paid_amount"])
    bills = _df([("b", T("2026-11-19"), 40.0)], ["bill_id", "paid_date", "amount"])
    amt, note = opening_balance(cash, inv, bills, "2026-11-22")
    assert amt == pytest.approx(1000 + 300 - 40 - 100) and "rolled forward" in note
    same, note = opening_balance(cash, inv, bills, "2026-11-15")
    assert same == 1000 and "rolled" not in note
    back, note = opening_balance(cash, inv, bills, "2026-11-08")   # before the balance date: rolled back
    assert back == pytest.approx(1000 - 20) and "rolled back" in note      # less what came in 9-15 Nov
    with pytest.raises(ValueError, match="opening_balance"):
        opening_balance(cash[cash["kind"] != "opening_balance"], inv, bills, "2026-11-22")


def test_ship_lags_and_recent_prices():
    w = world(orders=[order("X", "A", 10, 200, "2026-11-25", ordered="2026-11-11")])
    assert ship_lags(w["orders"], "2026-11-22") == [7, 7, 7, 7]          # eight history lines at 7 days ...
    lags = ship_lags(w["orders"], "2026-11-22", parts=1)
    assert lags == [7]
    price = recent_prices(w["orders"], w["products"], "2026-11-22")
    assert price["A"] == pytest.approx((8 * 250 + 10 * 200) / 18)       # booked value / units
    assert price["B"] == 1000.0                                          # no bookings: list price


# ---------------------------------------------------------------- weekly table


def test_weekly_table_on_paper():
    flows = _df([(T("2026-11-24"), WEEKS[0], "AR collections", 100.0), (T("2026-11-25"), WEEKS[0], "AP bills", -40.0),
                 (T("2026-12-01"), WEEKS[1], "Other payments", -10.005), (T("2026-12-02"), WEEKS[1], "Open orders", 0.004)],
                ["date", "week", "flow", "amount"])
    t = weekly_cash(flows, WEEKS[:3], 1000.0)
    assert t[["opening_cash", "receipts", "payments", "closing_cash"]].values.tolist() == [
        [1000.0, 100.0, 40.0, 1060.0], [1060.0, 0.0, 10.01, 1049.99], [1049.99, 0.0, 0.0, 1049.99]]
    assert t["AP bills"].tolist() == [-40.0, 0.0, 0.0]
    s = cash_summary(t, min_cash=1050.0)
    assert s == {"week13_closing": 1049.99, "lowest_week": WEEKS[1], "lowest_cash": 1049.99,
                 "margin_over_min": pytest.approx(-0.01), "first_breach_week": WEEKS[1], "runway_weeks": 1}
    assert cash_summary(t, min_cash=0.0)["runway_weeks"] is None


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["AR collections", "Open POs", "Other receipts",
                                                                 "Other payments", "Expedite freight"]),
                          st.floats(-1e7, 1e7, allow_nan=False)), max_size=40),
       st.floats(-1e8, 1e8, allow_nan=False))
def test_weekly_table_always_closes_to_the_cent(rows, opening):
    flows = pd.DataFrame([(WEEKS[w], f, a) for w, f, a in rows], columns=["week", "flow", "amount"])
    if flows.empty:
        flows = pd.DataFrame(columns=["week", "flow", "amount"])
    t = weekly_cash(flows, WEEKS, opening)
    c = t["opening_cash"] + t["receipts"] - t["payments"]
    assert np.allclose(c, t["closing_cash"], atol=0.005, rtol=0)
    assert (t["opening_cash"].to_numpy()[1:] == t["closing_cash"].to_numpy()[:-1]).all()
    assert t["closing_cash"].iloc[-1] == pytest.approx(round(opening, 2) + flows["amount"].sum(), abs=0.01 * 14)


# ---------------------------------------------------------------- inputs and projection


def test_inputs_are_taken_as_of_the_end_of_the_week():
    w = world(
        orders=[order("O1", "A", 10, 250, "2026-11-30"),                       # open, 4 shipped before the cutoff
                order("O2", "A", 5, 250, "2026-11-10", status="closed"),       # closed since: 5 shipped after
                order("O3", "A", 7, 250, "2026-12-01", status="cancelled"),
                order("O4", "A", 3, 250, "2026-11-16", scheduled="2026-11-20")],  # scheduled in the past, unshipped
        shipments=[("S1", "O1", 1, T("2026-11-20"), 4.0), ("S2", "O2", 1, T("2026-11-24"), 5.0)],
        invoices=[("I1", "C1", "O1", T("2026-11-20"), T("2026-12-20"), 1000.0, pd.NaT, np.nan),
                  ("I2", "C1", None, T("2026-06-01"), T("2026-07-01"), 70.0, pd.NaT, np.nan),      # doubtful
                  ("I3", "C1", None, T("2026-10-01"), T("2026-10-31"), 80.0, T("2026-11-28"), 80.0)],  # paid later
        pos=[("P1", 1, "S1", "A", T("2026-11-01"), T("2026-11-20"), T("2026-11-27"), 100.0, 150.0, pd.NaT, np.nan),
             ("P2", 1, "S1", "A", T("2026-11-01"), T("2026-11-10"), T("2026-11-10"), 50.0, 150.0, T("2026-11-24"), 50.0)],
        bills=[("V1", "S2", None, T("2026-10-01"), T("2026-11-15"), 500.0, pd.NaT)])
    inp = build_inputs(w, WEEK, NO_CARRY)
    o = inp.orders.set_index("ref")
    assert o.loc["O1/1", "qty"] == 6 and o.loc["O2/1", "qty"] == 5 and "O3/1" not in o.index
    assert o.loc["O4/1", "date"] == START and bool(o.loc["O4/1", "fixed"]) and bool(o.loc["O4/1", "erp_late"])
    assert set(inp.ar["invoice_id"]) == {"I1", "I3"} and list(inp.doubtful_ar["invoice_id"]) == ["I2"]
    ar = inp.ar.set_index("invoice_id")
    assert ar.loc["I1", "collect_date"] == T("2026-12-20")         # invoice date + C1's 30 observed days
    assert ar.loc["I3", "collect_date"] == START                   # already past its expected date: week 1
    assert set(inp.pos["po_id"]) == {"P1", "P2"}                    # P2 was received after the cutoff
    assert inp.ap["pay_date"].tolist() == [START]                   # overdue bill: first day
    assert inp.opening_cash == 1_000_000.0 and inp.weeks == WEEKS


def test_projection_dates_signs_and_allocation():
    w = world(orders=[order("O1", "B", 100, 1000, "2026-12-02"), order("O2", "B", 50, 1000, "2026-12-09", customer="C2")],
              pos=[("P1", 1, "S2", "B", T("2026-11-01"), T("2026-12-07"), T("2026-12-14"), 60.0, 500.0, pd.NaT, np.nan)],
              invoices=[("I1", "C2", None, T("2026-11-16"), T("2026-12-31"), 400.0, pd.NaT, np.nan)],
              stock={"A": 0.0, "B": 60.0, "P": 0.0})
    inp = build_inputs(w, WEEK, NO_CARRY)
    pr = project(inp)
    sh = pr.shipments.set_index("ref")
    # 60 in stock, 60 more arrive 14 Dec (a week late): O1 (100) waits for the PO; O2 (50) is 30 short
    # and waits for a planned purchase, which lands no earlier than S2's 28-day lead time (Monday 21 Dec)
    assert sh.loc["O1/1", "ship_date"] == T("2026-12-14") and sh.loc["O1/1", "days_late"] == 12
    assert sh.loc["O2/1", "ship_date"] == T("2026-12-21") and sh.loc["O2/1", "days_late"] == 12
    assert sh.loc["O2/1", "penalty"] == pytest.approx(50 * 1000 * 0.03)     # 2 weeks begun x 1.5%
    assert sh.loc["O1/1", "penalty"] == 0                                   # C1 has no penalty clause
    f = pr.flows
    o1 = f[(f["ref"] == "O1/1") & (f["flow"] == "Open orders")]
    assert o1["date"].tolist() == [T("2027-01-13")] and o1["amount"].tolist() == [100_000.0]   # 14 Dec + 30 days
    o2 = f[(f["ref"] == "O2/1") & (f["flow"] == "Open orders")]
    assert o2["date"].tolist() == [T("2026-12-21") + pd.Timedelta(days=45)]    # C2: 2 paid invoices -> terms
    assert o2["amount"].tolist() == [50_000.0 - 1_500.0]                       # penalty deducted
    exp = f[f["flow"] == "Expedite freight"].set_index("ref")["amount"]
    assert exp.to_dict() == {"O1/1": -3000.0, "O2/1": -1500.0}                 # 3% of late lines, >= 7 days late
    po = f[f["flow"] == "Open POs"]
    assert po["date"].tolist() == [T("2027-02-12")] and po["amount"].tolist() == [-30_000.0]   # 14 Dec + 60
    planned = f[f["flow"] == "Planned POs"]
    assert planned["date"].tolist() == [T("2027-02-19")] and planned["amount"].tolist() == [-15_000.0]  # 21 Dec + 60
    assert pr.receipts_in.groupby("week")["units"].sum()[WEEKS[4]] == 30      # the planned 30 land in W52
    ar = f[f["flow"] == "AR collections"]
    assert ar["date"].tolist() == [T("2026-12-31")] and ar["amount"].tolist() == [400.0]   # 16 Nov + 45 (terms)
    pnl = pr.pnl.groupby("kind")["amount"].sum()
    assert pnl["revenue"] == 150_000 and pnl["cogs"] == -75_000 and pnl["penalty"] == -1_500
    inv = pr.inventory.set_index(["week", "sku"])["units"]
    assert inv[(WEEKS[0], "B")] == 60 and inv[(WEEKS[3], "B")] == 20 and inv[(WEEKS[4], "B")] == 0


def test_forecast_bookings_ship_at_the_observed_lag_and_are_collected_after_the_average_days():
    w = world(forecast={"P": {WEEKS[0]: 400.0}})
    inp = build_inputs(w, WEEK, NO_CARRY)
    d = inp.demand
    assert d["qty"].sum() == 400 and sorted(d["lag"].unique()) == [7]
    assert (d["date"] == T("2026-11-25") + pd.Timedelta(days=7)).all()         # Wednesday of W48 + 7 days
    # revenue-weighted over the last 13 weeks' invoices: six of C1 (30 days), two of C2 (terms, 45 days)
    assert inp.forecast_dtp == pytest.approx((6 * 30 + 2 * 45) / 8)
    pr = project(inp)
    fs = pr.flows[pr.flows["flow"] == "Forecast sales"]
    assert fs["amount"].sum() == pytest.approx(400 * 100.0)                     # P's list price (no bookings)


def test_working_capital_ties_to_its_parts():
    w = world(orders=[order("O1", "A", 10, 250, "2026-12-02")],
              invoices=[("I1", "C1", None, T("2026-11-16"), T("2026-12-16"), 400.0, pd.NaT, np.nan)],
              bills=[("V1", "S2", None, T("2026-11-01"), T("2026-12-15"), 300.0, pd.NaT)])
    inp = build_inputs(w, WEEK, NO_CARRY)
    wc = working_capital(inp, project(inp), w, FiscalCalendar("iso")).set_index("item")
    assert wc.loc["AR", "now"] == 400 and wc.loc["AP", "now"] == 300
    assert wc.loc["Inventory", "now"] == 5000 * 150 + 50000 * 75
    for col in ("now", "projected"):
        assert wc.loc["Net working capital", col] == pytest.approx(
            wc.loc["AR", col] + wc.loc["Inventory", col] - wc.loc["AP", col])
    assert wc.loc["AR", "projected"] == pytest.approx(400 + 2500 - 400 - 2500)   # all collected in the horizon
    # days now: the one definition (analysis.measures) on the cutoff balance, labelled with its period and basis
    first, last = inp.weeks[0], inp.weeks[-1]
    assert wc.loc["AR", "days_now_label"].startswith("DSO ") and wc.loc["AR", "days_now_label"].endswith(
        f" days (balance at the end of {WEEK}, on forecast sales of {first} to {last})")
    assert wc.loc["AP", "days_now_label"].startswith("DPO ") and "forecast COGS" in wc.loc["AP", "days_now_label"]
    assert wc.loc["Net working capital", "days_now_label"].startswith("Cash conversion cycle ")
