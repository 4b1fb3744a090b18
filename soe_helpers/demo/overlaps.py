"""The demo company's overlapping exports: what the CRM, the MRP and the general ledger say beside the ERP.

Real systems overlap, and the overlaps disagree. :func:`add_overlaps` reads the ERP
exports :func:`soe_helpers.demo.company.generate` has written and adds three more, shaped
like real ones:

- ``crm_bookings.csv`` (CRM): one closed-won booking per ERP sales order (its
  non-cancelled lines' value), with the CRM's own opportunity id and the sales rep.
- ``mrp_on_hand.csv`` (MRP): end-of-week on-hand units by part and site, as the MRP
  sees them.
- ``gl_balances.csv`` (general ledger): week-end balances of the receivables,
  payables and inventory control accounts (accounts 1200, 2100 and 1400).

and plants a few mismatches in the run week (the data's last week) and the weeks
before it, listed in ``planted_mismatches.json`` with the check expected to find
each one:

1. ``crm_amount_mismatch``: a CRM booking $7,480.00 above its ERP order (a line
   booked in CRM that was never entered in the ERP).
2. ``crm_missing_booking``: an ERP order of the last week with no CRM booking.
3. ``crm_duplicate_booking``: an order of the week before booked twice in CRM.
4. ``crm_orphan_booking``: a CRM booking two weeks earlier naming an ERP order
   that does not exist.
5. ``gl_ar_difference``: at the last week end the GL receivables control account
   is $27,350.00 below the invoice detail (a customer receipt posted to the
   ledger but not applied to invoices).
6. ``mrp_on_hand_mismatch``: the MRP shows 40% fewer units than the ERP for the
   SKU and site with the largest on-hand value in the last week (a cycle count
   posted in the MRP only).

Everything else ties out exactly, so the data-accuracy report should find these
and only these. The same ``rng_seed`` gives byte-identical files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import to_week, week_add, week_end, week_start
from soe_helpers.analysis.kpis import ap_balance, ar_balance

__all__ = ["add_overlaps", "OVERLAP_FILES", "AMOUNT_MISMATCH", "AR_DIFFERENCE", "MRP_SHARE_MISSING",
           "GL_ACCOUNTS"]

OVERLAP_FILES = {
    "crm_bookings.csv": ["Opportunity ID", "Close Date", "Account ID", "ERP Order Ref", "Booked Amount", "Sales Rep"],
    "mrp_on_hand.csv": ["Week", "Part Number", "Site", "On Hand"],
    "gl_balances.csv": ["Period End", "GL Account", "Account Name", "Balance"],
}
GL_ACCOUNTS = {"accounts_receivable": ("1200", "Trade receivables"),
               "accounts_payable": ("2100", "Trade payables"),
               "inventory": ("1400", "Inventory - finished goods")}
AMOUNT_MISMATCH = 7480.00
AR_DIFFERENCE = 27350.00
MRP_SHARE_MISSING = 0.40
ORPHAN_ORDER = "SO-599001"
ORPHAN_AMOUNT = 12600.00
_REPS = {"Americas": ["Jordan Ellis", "Maria Ortiz", "Sam Whitaker"],
         "EMEA": ["Lena Vogel", "Tom Brennan", "Chiara Russo"],
         "APAC": ["Kenji Sato", "Priya Nair"]}


def _read(out: Path, name: str, **kw) -> pd.DataFrame:
    path = out / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run soe_helpers.demo.company.generate({str(out)!r}) first")
    return pd.read_csv(path, low_memory=False, **kw)


def _money(x) -> pd.Series:
    return pd.Series(np.round(np.asarray(x, dtype=float), 2)).map(lambda v: f"{v:.2f}")


def add_overlaps(out_dir: str | Path, rng_seed: int = 20261122) -> dict:
    """Write the CRM, MRP and GL overlap exports beside the demo's ERP exports, with planted mismatches.

    Args:
        out_dir: the folder :func:`soe_helpers.demo.company.generate` wrote.
        rng_seed: seed for the sales-rep assignment and booking ids (same seed, same files).
    Returns:
        {"files": [...], "rows": {file: rows}, "planted_mismatches": [...]} (also written to
        ``planted_mismatches.json``).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(rng_seed)
    orders = _read(out, "erp_sales_order_lines.csv", dtype={"SO Number": str, "Account ID": str},
                   parse_dates=["Order Date"])
    customers = _read(out, "crm_accounts.csv", encoding="cp1252", dtype=str)
    products = _read(out, "erp_item_master.csv", dtype={"Item Number": str})
    invoices = _read(out, "erp_ar_invoices.csv", encoding="utf-8-sig", thousands=",",
                     parse_dates=["Invoice Date", "Paid Date"])
    bills = _read(out, "erp_ap_bills.csv", thousands=",", parse_dates=["Bill Date", "Paid Date"])
    inventory = _read(out, "erp_inventory_weekly.csv", dtype={"Item Number": str})

    last_week = str(inventory["Week"].max())
    prev_week = _shift(last_week, -1)
    prev2_week = _shift(last_week, -2)
    planted: list[dict] = []

    # ---- CRM bookings: one per ERP order (its non-cancelled lines), dated the order date
    live = orders[orders["Line Status"].fillna("open") != "cancelled"]
    live = live.assign(value=live["Qty Ordered"].astype(float) * live["Unit Price"].astype(float))
    book = (live.groupby("SO Number").agg(date=("Order Date", "min"), customer=("Account ID", "first"),
                                          amount=("value", "sum")).reset_index().sort_values(["date", "SO Number"],
                                                                                            kind="stable"))
    book["amount"] = book["amount"].round(2)
    book["week"] = to_week(book["date"])
    region = customers.set_index("Account ID")["Sales Region"]
    reps = book["customer"].map(region).map(lambda r: _REPS.get(r, ["House account"]))
    book["rep"] = [r[int(rng.integers(len(r)))] for r in reps]
    # planted 1 and 2: the two largest orders of the last week (not the production-delay order)
    wk = book[book["week"] == last_week].sort_values("amount", ascending=False, kind="stable")
    mism, missing = wk.iloc[0], wk.iloc[1]
    book.loc[book["SO Number"] == mism["SO Number"], "amount"] = round(mism["amount"] + AMOUNT_MISMATCH, 2)
    planted.append({"id": "crm_amount_mismatch", "check_id": "tie_out:crm_bookings_vs_erp_orders",
                    "week": last_week, "order_id": mism["SO Number"], "erp_amount": float(mism["amount"]),
                    "crm_amount": round(float(mism["amount"]) + AMOUNT_MISMATCH, 2), "difference": AMOUNT_MISMATCH,
                    "what": "CRM booking includes a line never entered in the ERP order"})
    book = book[book["SO Number"] != missing["SO Number"]]
    planted.append({"id": "crm_missing_booking", "check_id": "tie_out:crm_bookings_vs_erp_orders",
                    "week": last_week, "order_id": missing["SO Number"], "erp_amount": float(missing["amount"]),
                    "difference": -float(missing["amount"]), "what": "ERP order with no CRM booking"})
    # planted 3: the largest order of the week before, booked twice
    dup = book[book["week"] == prev_week].sort_values("amount", ascending=False, kind="stable").iloc[0]
    book = pd.concat([book, dup.to_frame().T], ignore_index=True)
    planted.append({"id": "crm_duplicate_booking", "check_id": "duplicates:crm_bookings_same_order",
                    "week": prev_week, "order_id": dup["SO Number"], "amount": float(dup["amount"]),
                    "what": "the same ERP order booked twice in CRM"})
    # planted 4: a booking two weeks back naming an order the ERP does not have
    orphan_day = week_start(prev2_week) + pd.Timedelta(days=2)
    cust = str(wk.iloc[2]["customer"]) if len(wk) > 2 else str(book["customer"].iloc[0])
    book = pd.concat([book, pd.DataFrame([{"SO Number": ORPHAN_ORDER, "date": orphan_day, "customer": cust,
                                           "amount": ORPHAN_AMOUNT, "week": prev2_week,
                                           "rep": _REPS.get(region.get(cust), ["House account"])[0]}])],
                     ignore_index=True)
    planted.append({"id": "crm_orphan_booking", "check_id": "orphans:crm_bookings_order", "week": prev2_week,
                    "order_id": ORPHAN_ORDER, "amount": ORPHAN_AMOUNT,
                    "what": "CRM booking naming an ERP order that does not exist"})
    book = book.sort_values(["date", "SO Number"], kind="stable").reset_index(drop=True)
    book["opp"] = [f"OPP-{600001 + i}" for i in range(len(book))]
    crm = pd.DataFrame({"Opportunity ID": book["opp"], "Close Date": pd.to_datetime(book["date"]).dt.strftime("%Y-%m-%d"),
                        "Account ID": book["customer"], "ERP Order Ref": book["SO Number"],
                        "Booked Amount": _money(book["amount"]), "Sales Rep": book["rep"]})
    crm.to_csv(out / "crm_bookings.csv", index=False, lineterminator="\n")

    # ---- MRP on hand: the ERP's units, except one cycle count posted in the MRP only
    mrp = inventory[["Week", "Item Number", "Warehouse", "On Hand Qty"]].copy()
    last = inventory[inventory["Week"] == last_week]
    top = last.sort_values("On Hand Value", ascending=False, kind="stable").iloc[0]
    hit = (mrp["Week"] == last_week) & (mrp["Item Number"] == top["Item Number"]) & (mrp["Warehouse"] == top["Warehouse"])
    erp_qty = float(top["On Hand Qty"])
    mrp_qty = float(np.floor(erp_qty * (1 - MRP_SHARE_MISSING)))
    mrp.loc[hit, "On Hand Qty"] = mrp_qty
    cost = float(products.set_index("Item Number").loc[top["Item Number"], "Std Cost"])
    planted.append({"id": "mrp_on_hand_mismatch", "check_id": "tie_out:mrp_vs_erp_on_hand", "week": last_week,
                    "sku": top["Item Number"], "location": top["Warehouse"], "erp_qty": erp_qty, "mrp_qty": mrp_qty,
                    "difference_units": mrp_qty - erp_qty, "difference_value": round((mrp_qty - erp_qty) * cost, 2),
                    "what": "cycle count posted in the MRP but not in the ERP"})
    mrp.columns = OVERLAP_FILES["mrp_on_hand.csv"]
    mrp["On Hand"] = mrp["On Hand"].map(lambda v: f"{float(v):.0f}")
    mrp.to_csv(out / "mrp_on_hand.csv", index=False, lineterminator="\n")

    # ---- GL control accounts at every week end: the subledgers, except the planted AR difference
    weeks = sorted(inventory["Week"].unique())
    ends = [week_end(w) for w in weeks]
    ar = ar_balance(invoices.rename(columns={"Invoice Date": "invoice_date", "Invoice Amount": "amount",
                                             "Paid Date": "paid_date", "Amount Paid": "paid_amount"}), ends).to_numpy()
    ap = ap_balance(bills.rename(columns={"Bill Date": "bill_date", "Bill Amount": "amount", "Paid Date": "paid_date"}),
                    ends).to_numpy()
    inv = inventory.groupby("Week")["On Hand Value"].sum().reindex(weeks).to_numpy()
    ar = np.round(ar, 2)
    ar[-1] = round(ar[-1] - AR_DIFFERENCE, 2)
    planted.append({"id": "gl_ar_difference", "check_id": "tie_out:gl_ar_vs_invoices", "week": last_week,
                    "date": str(ends[-1].date()), "gl_balance": float(ar[-1]),
                    "subledger": round(float(ar[-1]) + AR_DIFFERENCE, 2), "difference": -AR_DIFFERENCE,
                    "what": "customer receipt posted to the GL but not applied to invoices"})
    rows = []
    for key, vals in (("accounts_receivable", ar), ("accounts_payable", np.round(ap, 2)),
                      ("inventory", np.round(inv, 2))):
        acct, name = GL_ACCOUNTS[key]
        rows += [{"Period End": d.strftime("%Y-%m-%d"), "GL Account": acct, "Account Name": name,
                  "Balance": f"{v:.2f}"} for d, v in zip(ends, vals)]
    gl = pd.DataFrame(rows, columns=OVERLAP_FILES["gl_balances.csv"]).sort_values(["Period End", "GL Account"],
                                                                                  kind="stable")
    gl.to_csv(out / "gl_balances.csv", index=False, lineterminator="\n")

    summary = {"files": list(OVERLAP_FILES),
               "rows": {"crm_bookings.csv": len(crm), "mrp_on_hand.csv": len(mrp), "gl_balances.csv": len(gl)},
               "run_week": last_week, "planted_mismatches": planted}
    (out / "planted_mismatches.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    _readme(out, summary)
    return summary


_MARK = "Overlapping exports (data-accuracy control)"


def _readme(out: Path, summary: dict) -> None:
    """Add (or replace) the overlap section of the demo's README.txt."""
    path = out / "README.txt"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = text.split("\n" + _MARK)[0].rstrip("\n")
    lines = ["", _MARK, "-" * len(_MARK),
             "- crm_bookings.csv ({:,} rows): CRM closed-won bookings with the ERP order each became".format(
                 summary["rows"]["crm_bookings.csv"]),
             "- mrp_on_hand.csv ({:,} rows): MRP end-of-week on-hand units by part and site".format(
                 summary["rows"]["mrp_on_hand.csv"]),
             "- gl_balances.csv ({:,} rows): GL control accounts 1200 receivables, 2100 payables, 1400 "
             "inventory at each week end".format(summary["rows"]["gl_balances.csv"]),
             "- planted_mismatches.json: the mismatches planted in them, each with the check that finds it:"]
    lines += [f"  - {p['id']} ({p['week']}): {p['what']}" for p in summary["planted_mismatches"]]
    path.write_text((text + "\n" if text else "") + "\n".join(lines) + "\n", encoding="utf-8")


def _shift(week: str, n: int) -> str:
    return week_add(week, n)
