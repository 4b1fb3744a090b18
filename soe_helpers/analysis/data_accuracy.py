"""The data-accuracy control: do the ERP, CRM, MRP and general ledger tell the same story this week?

Five kinds of check, each with a stable ``check_id`` so a failing one is recognised week
after week (and opens one action, not one a week):

- **Tie-outs** (``tie_out:*``): the same figure from two systems. CRM bookings vs ERP
  orders (per order booked this week), the GL receivables / payables / inventory
  control accounts vs the invoice, bill and inventory detail (at the week end), MRP vs
  ERP on-hand units (per SKU and site, valued at standard cost). A difference is
  *source - book of record* in currency (positive = the other system shows more than
  the ERP detail). Differences up to ``tie_out_tolerance`` (units: ``quantity_tolerance``)
  are rounding.
- **Freshness** (``freshness:<table>``): days from the table's latest record to the end
  of the run week, against a limit per table (``data_accuracy.freshness_days``).
- **Completeness** (``completeness:*``): shipments invoiced within ``invoice_lag_days``,
  inventory for every active SKU, a forecast for every SKU ordered, a plan for every
  week of the quarter, a standard cost and list price for every active product.
- **Duplicates** (``duplicates:*``): the same ERP order booked twice in CRM, AP bills
  with the same supplier, amount and date, AR invoices with the same customer, order,
  amount and date (trailing 13 weeks).
- **Orphans** (``orphans:*``): CRM bookings, invoices and bills that name an order or
  purchase order the ERP does not have (trailing 13 weeks).

**Score** = share of checks passed. Overall, each check counts once; per source
(system), the checks that involve it (a tie-out counts for both its systems). A check
that could not run (an optional export not provided) is listed as *not run* and left out
of the score. Target: ``data_accuracy.target_score`` (95%).

A failing check is **material** when its dollars (differences, or the value of the
failing records) are material under the one rule of :mod:`soe_helpers.analysis.materiality`, or,
for a check with no dollar measure (freshness, coverage), whenever it fails: a stale or
incomplete source makes every report that uses it unreliable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import FiscalCalendar, to_week, week_add, week_end, week_ordinal, week_start
from soe_helpers.core.frames import isin
from soe_helpers.analysis.kpis import ap_balance, ar_balance, inventory_value
from soe_helpers.analysis.materiality import material_mask
from soe_helpers.core.formats import fmt_money, fmt_pct
from soe_helpers.data.needs import NEEDS

__all__ = [
    "DEFAULT_SYSTEMS",
    "DEFAULT_FRESHNESS_DAYS",
    "OPTIONAL_TABLES",
    "CHECK_COLUMNS",
    "EXCEPTION_COLUMNS",
    "load_available",
    "tie_out_bookings",
    "tie_out_gl",
    "tie_out_on_hand",
    "freshness",
    "completeness_checks",
    "duplicate_checks",
    "orphan_checks",
    "source_scores",
    "AccuracyResult",
    "run_checks",
    "history_rows",
    "HISTORY_COLUMNS",
]

#: The system each canonical table comes from (``data_accuracy.systems`` overrides).
DEFAULT_SYSTEMS = {
    "products": "ERP", "customers": "CRM", "suppliers": "ERP", "forecasts": "S&OP", "plan": "S&OP",
    "orders": "ERP", "shipments": "ERP", "invoices": "ERP", "purchase_orders": "MRP", "bills": "ERP",
    "inventory": "ERP", "cash": "Treasury", "crm_bookings": "CRM", "mrp_inventory": "MRP", "gl_balances": "GL",
}
#: Days a table's latest record may lag the end of the run week (``data_accuracy.freshness_days`` overrides).
#: Weekly snapshots (inventory, forecasts, MRP, GL) must include the run week: 0.
DEFAULT_FRESHNESS_DAYS = {
    "orders": 3, "shipments": 3, "invoices": 3, "bills": 7, "purchase_orders": 7, "inventory": 0, "forecasts": 0,
    "cash": 3, "crm_bookings": 3, "mrp_inventory": 0, "gl_balances": 0,
}
#: table -> (column, kind) giving its freshness.
_DATED = {
    "orders": ("order_date", "date"), "shipments": ("ship_date", "date"), "invoices": ("invoice_date", "date"),
    "bills": ("bill_date", "date"), "purchase_orders": ("order_date", "date"), "inventory": ("week", "week"),
    "forecasts": ("snapshot_week", "week"), "cash": ("date", "date"), "crm_bookings": ("booking_date", "date"),
    "mrp_inventory": ("week", "week"), "gl_balances": ("date", "date"),
}
_LABEL = {
    "orders": "Sales orders", "shipments": "Shipments", "invoices": "AR invoices", "bills": "AP bills",
    "purchase_orders": "Purchase orders", "inventory": "ERP inventory", "forecasts": "Demand forecasts",
    "cash": "Treasury balance", "crm_bookings": "CRM bookings", "mrp_inventory": "MRP on-hand",
    "gl_balances": "GL balances", "plan": "S&OP plan", "products": "Item master", "customers": "Customer master",
}
_DETAIL = {"invoices": "invoice detail", "bills": "bill detail", "inventory": "ERP inventory valuation"}
_NOUN = {"crm_bookings": "CRM booking", "bills": "AP bill", "invoices": "AR invoice"}
OPTIONAL_TABLES = ("crm_bookings", "mrp_inventory", "gl_balances")
WINDOW_WEEKS = 13
CHECK_COLUMNS = ["check_id", "category", "name", "source", "system", "status", "records_checked", "records_failed",
                 "difference", "gross_difference", "reference", "dollars_at_stake", "material", "sentence"]
EXCEPTION_COLUMNS = ["check_id", "key", "issue", "source_value", "reference_value", "difference"]


def _n(count: int, singular: str, plural: str | None = None) -> str:
    """'1 order', '3,720 orders'; with a verb pair ('differs', 'differ') the count comes first too."""
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {word}"


def _check(check_id, category, name, systems: list[str], owner_system: str, status: str, checked=0, failed=0,
           difference=float("nan"), gross=float("nan"), reference=float("nan"), dollars=float("nan"),
           sentence="", has_dollars=True) -> dict:
    return {"check_id": check_id, "category": category, "name": name, "source": " vs ".join(dict.fromkeys(systems)),
            "system": owner_system, "status": status, "records_checked": int(checked), "records_failed": int(failed),
            "difference": float(difference), "gross_difference": float(gross), "reference": float(reference),
            "dollars_at_stake": float(dollars), "material": False, "sentence": sentence, "_has_dollars": has_dollars}


def _exceptions(check_id: str, df: pd.DataFrame | None = None) -> pd.DataFrame:
    if df is None or df.empty:
        return pd.DataFrame(columns=EXCEPTION_COLUMNS)
    out = df.assign(check_id=check_id)
    for c in EXCEPTION_COLUMNS:
        if c not in out:
            out[c] = np.nan
    return out[EXCEPTION_COLUMNS].reset_index(drop=True)


def _not_run(check_id, category, name, systems, owner, why) -> tuple[dict, pd.DataFrame]:
    return _check(check_id, category, name, systems, owner, "not_run", sentence=f"Not run: {why}."), _exceptions(
        check_id)


def load_available(wk, names) -> dict[str, pd.DataFrame | None]:
    """The week's validated tables by name; None for an optional table the company did not provide."""
    out = {}
    for n in names:
        try:
            out[n] = wk.table(n)
        except (FileNotFoundError, KeyError):
            out[n] = None
    return out


# ---------------------------------------------------------------- tie-outs


def tie_out_bookings(bookings: pd.DataFrame, orders: pd.DataFrame, week: str, *, tolerance: float = 1.0,
                     systems: dict | None = None, symbol: str) -> tuple[dict, pd.DataFrame]:
    """CRM bookings vs ERP orders for every order booked in either system during ``week``.

    Each order's CRM amount (all its bookings) is compared with its ERP value (non-cancelled lines,
    quantity x unit price), whatever week each system dates it, so a booking dated a day apart is
    not a mismatch. Difference = CRM - ERP (currency; positive = CRM shows more).

    Returns:
        (check row, exceptions: key = order (or booking id without an order), issue =
        amount differs | not in CRM | not in ERP, source_value = CRM, reference_value = ERP).
    """
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    cid, name = "tie_out:crm_bookings_vs_erp_orders", "CRM bookings tie to ERP sales orders"
    o = orders
    if "status" in o:
        o = o[o["status"].astype(object).fillna("open") != "cancelled"]
    erp = (o["quantity"] * o["unit_price"]).groupby(o["order_id"]).sum()
    erp_week = set(o.loc[to_week(o["order_date"]).to_numpy() == week, "order_id"])
    b = bookings.assign(_key=bookings["order_id"].where(bookings["order_id"].notna(),
                                                        "no ERP ref: " + bookings["booking_id"].astype(str)))
    crm = b.groupby("_key")["amount"].sum()
    crm_week = set(b.loc[to_week(b["booking_date"]).to_numpy() == week, "_key"])
    keys = sorted(erp_week | crm_week)
    d = pd.DataFrame({"key": keys})
    d["source_value"] = d["key"].map(crm)
    d["reference_value"] = d["key"].map(erp)
    d["difference"] = d["source_value"].fillna(0.0) - d["reference_value"].fillna(0.0)
    d["issue"] = np.select([d["source_value"].isna(), d["reference_value"].isna()], ["not in CRM", "not in ERP"],
                           "amount differs")
    bad = d[d["difference"].abs() > tolerance].sort_values("difference", key=np.abs, ascending=False)
    ref = float(d["reference_value"].sum())
    gross = float(bad["difference"].abs().sum())
    st = "fail" if len(bad) else "pass"
    sent = (f"{_n(len(keys), 'order')} booked in {week}: CRM {fmt_money(d['source_value'].sum(), symbol)} vs ERP "
            f"{fmt_money(ref, symbol)}; " + (
                f"{_n(len(bad), 'differs', 'differ')} ({', '.join(f'{n} {i}' for i, n in bad['issue'].value_counts().items())}), "
                f"{fmt_money(gross, symbol)} gross." if len(bad) else "every order ties."))
    row = _check(cid, "tie_out", name, [sy["crm_bookings"], sy["orders"]], sy["crm_bookings"], st, len(keys),
                 len(bad), float(d["difference"].sum()), gross, ref, gross, sent)
    return row, _exceptions(cid, bad)


def tie_out_gl(gl: pd.DataFrame, account: str, accounts: list[str], detail_name: str, detail_value,
               week: str, *, tolerance: float = 1.0, systems: dict | None = None,
               symbol: str) -> tuple[dict, pd.DataFrame]:
    """A GL control account vs its detail at the run week's end (or the latest GL date before it).

    Args:
        gl: GL balances (date, account, balance).
        account: accounts_receivable | accounts_payable | inventory; accounts: its GL account numbers (summed).
        detail_name: the detail table (invoices, bills, inventory); detail_value: function date -> detail balance.
    Returns:
        (check row, one exception row when it does not tie). Difference = GL - detail (currency).
    """
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    short = {"accounts_receivable": ("ar", "receivables", "invoices"), "accounts_payable": ("ap", "payables", "bills"),
             "inventory": ("inventory", "inventory", "erp_inventory")}[account]
    cid = f"tie_out:gl_{short[0]}_vs_{short[2]}"
    name = f"GL {short[1]} control account ties to the {_DETAIL[detail_name]}"
    systs = [sy["gl_balances"], sy[detail_name]]
    g = gl[gl["account"].astype(str).isin([str(a) for a in accounts])]
    if g.empty:
        have = ", ".join(sorted(gl["account"].astype(str).unique())[:12])
        return _not_run(cid, "tie_out", name, systs, sy["gl_balances"],
                        f"the GL export has no account {', '.join(accounts)} (data_accuracy.gl_accounts.{account}); "
                        f"it has {have}")
    end = week_end(week)
    dates = g.loc[g["date"] <= end, "date"]
    if dates.empty:
        return _not_run(cid, "tie_out", name, systs, sy["gl_balances"],
                        f"the GL export has no {short[1]} balance on or before {end.date()}")
    at = dates.max()
    gl_bal = float(g.loc[g["date"] == at, "balance"].sum())
    detail = float(detail_value(at))
    if math.isnan(detail):
        return _not_run(cid, "tie_out", name, systs, sy["gl_balances"],
                        f"the {_DETAIL[detail_name]} has no balance for {at.date()}")
    diff = gl_bal - detail
    ok = abs(diff) <= tolerance
    when = f"at {at.date()}" + ("" if at == end else f" (the GL's latest balance before the week end {end.date()})")
    sent = (f"GL {short[1]} {fmt_money(gl_bal, symbol, exact=True)} vs detail {fmt_money(detail, symbol, exact=True)} "
            f"{when}: " + ("ties." if ok else f"differs by {fmt_money(diff, symbol, exact=True)}."))
    row = _check(cid, "tie_out", name, systs, sy["gl_balances"], "pass" if ok else "fail", 1, 0 if ok else 1, diff,
                 abs(diff), detail, 0.0 if ok else abs(diff), sent)
    exc = None if ok else pd.DataFrame([{"key": f"{short[1]} at {at.date()}", "issue": "balance differs",
                                         "source_value": gl_bal, "reference_value": detail, "difference": diff}])
    return row, _exceptions(cid, exc)


def tie_out_on_hand(mrp: pd.DataFrame, inventory: pd.DataFrame, products: pd.DataFrame, week: str, *,
                    quantity_tolerance: float = 0.0, systems: dict | None = None,
                    symbol: str) -> tuple[dict, pd.DataFrame]:
    """MRP vs ERP on-hand units for ``week`` per SKU and site; differences valued at standard cost.

    Difference = MRP - ERP (units x unit cost, currency; negative = the MRP shows fewer). A SKU/site in
    one system only counts as a difference of its whole quantity.
    """
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    cid, name = "tie_out:mrp_vs_erp_on_hand", "MRP on-hand units tie to ERP inventory"
    systs = [sy["mrp_inventory"], sy["inventory"]]
    m = mrp[mrp["week"] == week].groupby(["sku", "location"])["on_hand_qty"].sum().rename("mrp")
    e = inventory[inventory["week"] == week].groupby(["sku", "location"])["on_hand_qty"].sum().rename("erp")
    if m.empty and e.empty:
        return _not_run(cid, "tie_out", name, systs, sy["mrp_inventory"], f"neither system has on-hand rows for {week}")
    if m.empty:
        return _not_run(cid, "tie_out", name, systs, sy["mrp_inventory"], f"the MRP export has no rows for {week}")
    d = pd.concat([m, e], axis=1).reset_index()
    cost = d["sku"].map(products.set_index("sku")["unit_cost"]).fillna(0.0)
    d["diff_qty"] = d["mrp"].fillna(0.0) - d["erp"].fillna(0.0)
    d["difference"] = d["diff_qty"] * cost
    d["issue"] = np.select([d["mrp"].isna(), d["erp"].isna()], ["not in MRP", "not in ERP"], "units differ")
    d["key"] = d["sku"] + " @ " + d["location"].astype(str)
    d["source_value"], d["reference_value"] = d["mrp"] * cost, d["erp"] * cost  # at standard cost
    bad = d[d["diff_qty"].abs() > quantity_tolerance].sort_values("difference", key=np.abs, ascending=False)
    units = [f" ({q:+,.0f} units: MRP {m:,.0f}, ERP {e:,.0f})" for q, m, e in
             zip(bad["diff_qty"], bad["mrp"].fillna(0.0), bad["erp"].fillna(0.0))]
    bad = bad.assign(issue=bad["issue"] + pd.Series(units, index=bad.index, dtype=object))
    ref = float((d["erp"].fillna(0.0) * cost).sum())
    gross = float(bad["difference"].abs().sum())
    sent = (f"{_n(len(d), 'SKU/site position')} in {week}: " + (
        f"{_n(len(bad), 'differs', 'differ')} by {fmt_money(gross, symbol)} at standard cost (largest {bad['key'].iloc[0]})."
        if len(bad) else "every position ties."))
    row = _check(cid, "tie_out", name, systs, sy["mrp_inventory"], "fail" if len(bad) else "pass", len(d), len(bad),
                 float(d["difference"].sum()), gross, ref, gross, sent)
    return row, _exceptions(cid, bad)


# ---------------------------------------------------------------- freshness


def freshness(tables: dict[str, pd.DataFrame | None], week: str, *, limits: dict | None = None,
              systems: dict | None = None) -> list[dict]:
    """One freshness check per dated table present: days from its latest record to the run week's end.

    Lag (days) = week end - latest date (0 when the data runs past the week); a weekly snapshot's latest
    date is the Sunday of its latest week. Passes when lag <= the table's limit.
    """
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    lim = {**DEFAULT_FRESHNESS_DAYS, **(limits or {})}
    end = week_end(week)
    rows = []
    for t, (col, kind) in _DATED.items():
        df = tables.get(t)
        cid, name = f"freshness:{t}", f"{_LABEL[t]}: up to date for the week"
        if df is None:  # a table the company does not have: its freshness is unknown, not passed
            rows.append(_not_run(cid, "freshness", name, [sy[t]], sy[t], f"no {t} export was provided")[0])
            continue
        d = df
        if t == "cash" and "kind" in d:
            d = d[d["kind"].astype(object) == "opening_balance"]
        vals = d[col].dropna()
        if vals.empty:
            rows.append(_check(cid, "freshness", name, [sy[t]], sy[t], "fail", 1, 1,
                               sentence=f"{_LABEL[t]}: no dated records at all.", has_dollars=False))
            continue
        latest = max(vals.unique(), key=week_ordinal) if kind == "week" else vals.max()
        latest_d = week_end(latest) if kind == "week" else pd.Timestamp(latest)
        lag = max(0, int((end - latest_d).days))
        ok = lag <= lim.get(t, 7)
        shown = f"{latest} (week ending {latest_d.date()})" if kind == "week" else str(latest_d.date())
        rows.append(_check(cid, "freshness", name, [sy[t]], sy[t], "pass" if ok else "fail", 1, 0 if ok else 1,
                           sentence=f"{_LABEL[t]} ({sy[t]}): latest {shown}, {lag} day{'s' if lag != 1 else ''} "
                                    f"before the end of {week} (limit {lim.get(t, 7)}).", has_dollars=False))
    return rows


# ---------------------------------------------------------------- completeness


def completeness_checks(tables: dict[str, pd.DataFrame | None], week: str, cal: FiscalCalendar, *,
                        invoice_lag_days: int = 3, tolerance: float = 1.0, systems: dict | None = None,
                        symbol: str) -> tuple[list[dict], pd.DataFrame]:
    """Shipments invoiced, inventory and forecast coverage, the quarter's plan, product costs. See the module doc."""
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    rows, excs = [], []
    end = week_end(week)
    o, s, inv = tables["orders"], tables["shipments"], tables["invoices"]
    products = tables["products"]

    # shipments of the week (old enough to be invoiced) vs invoices of their orders
    cid, name = "completeness:shipments_invoiced", "Shipments are invoiced"
    cutoff = end - pd.Timedelta(days=invoice_lag_days)
    sv = s.merge(o[["order_id", "line", "unit_price"]], on=["order_id", "line"], how="left")
    sv = sv[sv["ship_date"] <= cutoff].assign(value=lambda x: x["quantity"] * x["unit_price"])
    week_orders = sv.loc[sv["ship_date"] >= week_start(week), "order_id"].unique()
    shipped = sv[sv["order_id"].isin(week_orders)].groupby("order_id")["value"].sum()
    billed = inv[(inv["amount"] > 0) & (inv["invoice_date"] <= end) & inv["order_id"].isin(week_orders)]
    billed = billed.groupby("order_id")["amount"].sum().reindex(shipped.index, fill_value=0.0)
    gap = (shipped - billed)
    bad = gap[gap > tolerance].sort_values(ascending=False)
    dollars = float(bad.sum())
    rows.append(_check(cid, "completeness", name, [sy["shipments"], sy["invoices"]], sy["invoices"],
                       "fail" if len(bad) else "pass", len(shipped), len(bad), dollars, dollars,
                       float(shipped.sum()), dollars,
                       f"{_n(len(shipped), 'order')} shipped in {week} by {cutoff.date()}: " + (
                           f"{len(bad)} not fully invoiced, {fmt_money(dollars, symbol)} shipped but not billed."
                           if len(bad) else f"all invoiced within {invoice_lag_days} days.")))
    excs.append(_exceptions(cid, pd.DataFrame({"key": bad.index, "issue": "shipped, not invoiced",
                                               "source_value": billed.reindex(bad.index).to_numpy(),
                                               "reference_value": shipped.reindex(bad.index).to_numpy(),
                                               "difference": -bad.to_numpy()})))

    active = products[products["status"].astype(object).fillna("active") != "discontinued"] \
        if "status" in products else products
    # inventory rows for every active SKU this week
    cid, name = "completeness:inventory_covers_active_skus", "ERP inventory covers every active SKU"
    have = set(tables["inventory"].loc[tables["inventory"]["week"] == week, "sku"])
    miss = sorted(set(active["sku"]) - have)
    rows.append(_check(cid, "completeness", name, [sy["inventory"], sy["products"]], sy["inventory"],
                       "fail" if miss else "pass", len(active), len(miss),
                       sentence=f"{_n(len(active), 'active SKU')}: " + (f"{len(miss)} have no inventory row for {week} "
                                                                 f"(e.g. {', '.join(miss[:3])})." if miss else
                                                                 f"all have an inventory row for {week}."),
                       has_dollars=False))
    excs.append(_exceptions(cid, pd.DataFrame({"key": miss, "issue": f"no inventory row for {week}"})))

    # a forecast for every SKU ordered this week
    cid, name = "completeness:forecast_covers_ordered_skus", "Every SKU ordered has a forecast"
    ow = o[to_week(o["order_date"]).to_numpy() == week]
    if "status" in ow:
        ow = ow[ow["status"].astype(object).fillna("open") != "cancelled"]  # a cancelled line is not demand
    val = (ow["quantity"] * ow["unit_price"]).groupby(ow["sku"]).sum()
    f = tables.get("forecasts")
    if f is None:  # a company without forecast snapshots: the coverage check cannot run
        rows.append(_not_run(cid, "completeness", name, [sy["forecasts"], sy["orders"]], sy["forecasts"],
                             "no forecasts export was provided")[0])
    fc = set(f.loc[f["target_week"] == week, "sku"]) if f is not None else set()
    miss_v = val[~val.index.isin(fc)].sort_values(ascending=False)
    if f is not None:
        rows.append(_check(cid, "completeness", name, [sy["forecasts"], sy["orders"]], sy["forecasts"],
                           "fail" if len(miss_v) else "pass", len(val), len(miss_v), float(miss_v.sum()),
                           float(miss_v.sum()), float(val.sum()), float(miss_v.sum()),
                           f"{_n(len(val), 'SKU')} ordered in {week}: " + (
                               f"{len(miss_v)} had no forecast for the week ({fmt_money(miss_v.sum(), symbol)} ordered)."
                               if len(miss_v) else "all had a forecast.")))
        excs.append(_exceptions(cid, pd.DataFrame({"key": miss_v.index, "issue": f"no forecast for {week}",
                                                   "reference_value": miss_v.to_numpy()})))

    # a plan for every week of the quarter
    cid, name = "completeness:plan_covers_quarter", "The S&OP plan covers every week of the quarter"
    q_weeks = cal.quarter_weeks(cal.quarter_of(week))
    planned = set(tables["plan"]["week"])
    miss_w = [w for w in q_weeks if w not in planned]
    rows.append(_check(cid, "completeness", name, [sy["plan"]], sy["plan"], "fail" if miss_w else "pass",
                       len(q_weeks), len(miss_w),
                       sentence=f"{cal.quarter_of(week)} has {len(q_weeks)} weeks: " + (
                           f"no plan for {', '.join(miss_w)}." if miss_w else "all planned."), has_dollars=False))
    excs.append(_exceptions(cid, pd.DataFrame({"key": miss_w, "issue": "no plan rows"})))

    # standard cost and list price for every active product
    cid, name = "completeness:product_costs", "Every active product has a standard cost and list price"
    badp = active[(active["unit_cost"] <= 0) | (active["list_price"] <= 0)]
    rows.append(_check(cid, "completeness", name, [sy["products"]], sy["products"], "fail" if len(badp) else "pass",
                       len(active), len(badp),
                       sentence=f"{_n(len(active), 'active product')}: " + (
                           f"{len(badp)} with a zero cost or price (margins and inventory values are wrong for them)."
                           if len(badp) else "all costed and priced."), has_dollars=False))
    excs.append(_exceptions(cid, pd.DataFrame({"key": badp["sku"], "issue": "zero standard cost or list price"})))
    return rows, pd.concat(excs, ignore_index=True)


# ---------------------------------------------------------------- duplicates and orphans


def _describe(table: str, r: dict) -> str:
    if table == "crm_bookings":
        return f"order {r['order_id']}"
    if table == "bills":
        return f"supplier {r['supplier_id']}, {r['bill_date']:%Y-%m-%d}"
    return f"customer {r['customer_id']}, order {r['order_id']}, {r['invoice_date']:%Y-%m-%d}"


def _window(week: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    return week_start(week_add(week, -(WINDOW_WEEKS - 1))), week_end(week)


def duplicate_checks(tables: dict[str, pd.DataFrame | None], week: str, *, systems: dict | None = None,
                     symbol: str) -> tuple[list[dict], pd.DataFrame]:
    """Records entered twice over the trailing 13 weeks; dollars = the value of the extra copies."""
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    lo, hi = _window(week)
    rows, excs = [], []
    specs = [
        ("duplicates:crm_bookings_same_order", "No ERP order is booked twice in CRM", "crm_bookings", "booking_date",
         ["order_id"], "booking_id", "booked again"),
        ("duplicates:ap_bills", "No supplier bill is entered twice", "bills", "bill_date",
         ["supplier_id", "amount", "bill_date"], "bill_id", "same supplier, amount and date"),
        ("duplicates:ar_invoices", "No customer invoice is entered twice", "invoices", "invoice_date",
         ["customer_id", "order_id", "amount", "invoice_date"], "invoice_id", "same customer, order, amount and date"),
    ]
    for cid, name, t, dcol, keys, idcol, what in specs:
        df = tables.get(t)
        if df is None:
            row, exc = _not_run(cid, "duplicates", name, [sy[t]], sy[t], f"no {t} export was provided")
            rows.append(row)
            continue
        d = df[(df[dcol] >= lo) & (df[dcol] <= hi)].dropna(subset=[k for k in keys])
        dup = d[d.duplicated(keys, keep="first")]
        amt = "amount"
        dollars = float(dup[amt].abs().sum())
        ref = float(d[amt].abs().sum())
        first_id = {}
        for k, i in zip(d[keys].itertuples(index=False, name=None), d[idcol]):
            first_id.setdefault(tuple(k), i)
        exc = pd.DataFrame({
            "key": [f"{i} duplicates {first_id[tuple(k)]}" for i, k in
                    zip(dup[idcol], dup[keys].itertuples(index=False, name=None))],
            "issue": [f"{what} ({_describe(t, r)})" for r in dup.to_dict("records")],
            "source_value": dup[amt].to_numpy(), "difference": dup[amt].to_numpy()})
        rows.append(_check(cid, "duplicates", name, [sy[t]], sy[t], "fail" if len(dup) else "pass", len(d), len(dup),
                           dollars, dollars, ref, dollars,
                           f"{_n(len(d), _NOUN[t])} in the last {WINDOW_WEEKS} weeks: " + (
                               f"{_n(len(dup), 'looks', 'look')} entered twice ({what}), {fmt_money(dollars, symbol)}."
                               if len(dup) else "no duplicates.")))
        excs.append(_exceptions(cid, exc))
    return rows, (pd.concat(excs, ignore_index=True) if excs else _exceptions(""))


def orphan_checks(tables: dict[str, pd.DataFrame | None], week: str, *, systems: dict | None = None,
                  symbol: str) -> tuple[list[dict], pd.DataFrame]:
    """Records over the trailing 13 weeks that name an order or PO the ERP does not have."""
    sy = {**DEFAULT_SYSTEMS, **(systems or {})}
    lo, hi = _window(week)
    rows, excs = [], []
    specs = [
        ("orphans:crm_bookings_order", "CRM bookings name ERP orders that exist", "crm_bookings", "booking_date",
         "order_id", "orders", "order_id", "booking_id"),
        ("orphans:invoices_order", "Invoices name ERP orders that exist", "invoices", "invoice_date", "order_id",
         "orders", "order_id", "invoice_id"),
        ("orphans:bills_po", "Supplier bills name purchase orders that exist", "bills", "bill_date", "po_id",
         "purchase_orders", "po_id", "bill_id"),
    ]
    for cid, name, t, dcol, ref_col, parent, pcol, idcol in specs:
        df, par = tables.get(t), tables.get(parent)
        if df is None or par is None:
            missing = t if df is None else parent
            rows.append(_not_run(cid, "orphans", name, [sy[t], sy[parent]], sy[t],
                                 f"no {missing} export was provided")[0])
            continue
        d = df[(df[dcol] >= lo) & (df[dcol] <= hi) & df[ref_col].notna()]
        orph = d[~isin(d[ref_col], par[pcol])]
        dollars = float(orph["amount"].abs().sum())
        rows.append(_check(cid, "orphans", name, [sy[t], sy[parent]], sy[t], "fail" if len(orph) else "pass",
                           len(d), len(orph), dollars, dollars, float(d["amount"].abs().sum()), dollars,
                           f"{_n(len(d), _NOUN[t])} in the last {WINDOW_WEEKS} weeks: " + (
                               f"{_n(len(orph), 'names', 'name')} "
                               f"{'a purchase order' if t == 'bills' else 'an order'}"
                               f" the ERP does not have ({fmt_money(dollars, symbol)})." if len(orph) else
                               "every reference resolves.")))
        excs.append(_exceptions(cid, pd.DataFrame({"key": orph[idcol].astype(str) + " → " + orph[ref_col].astype(str),
                                                   "issue": f"{'purchase order' if t == 'bills' else 'order'} "
                                                            f"not in the ERP",
                                                   "source_value": orph["amount"].to_numpy(),
                                                   "difference": orph["amount"].to_numpy()})))
    return rows, (pd.concat(excs, ignore_index=True) if excs else _exceptions(""))


# ---------------------------------------------------------------- scores


def source_scores(checks: pd.DataFrame, target: float) -> pd.DataFrame:
    """Score per source system: share of the checks involving it that passed (not-run checks left out).

    Returns source, checks, passed, failed, not_run, score (NaN when none ran), status (met | below | n/a),
    sorted worst first.
    """
    rows = {}
    for r in checks.itertuples(index=False):
        for src in str(r.source).split(" vs "):
            x = rows.setdefault(src, {"source": src, "checks": 0, "passed": 0, "failed": 0, "not_run": 0})
            x["checks"] += 1
            x[{"pass": "passed", "fail": "failed"}.get(r.status, "not_run")] += 1
    out = pd.DataFrame(list(rows.values()), columns=["source", "checks", "passed", "failed", "not_run"])
    ran = out["passed"] + out["failed"]
    out["score"] = out["passed"] / ran.where(ran > 0)
    out["status"] = np.where(out["score"].isna(), "n/a", np.where(out["score"] >= target - 1e-12, "met", "below"))
    return out.sort_values(["score", "source"], na_position="last", kind="stable").reset_index(drop=True)


@dataclass
class AccuracyResult:
    week: str
    checks: pd.DataFrame
    exceptions: pd.DataFrame
    by_source: pd.DataFrame
    score: float
    target: float
    not_provided: list[str] = field(default_factory=list)

    @property
    def failed(self) -> pd.DataFrame:
        """The failing checks, largest dollar difference first (checks without dollars last, in check order)."""
        return largest_first(self.checks[self.checks["status"] == "fail"])

    @property
    def status(self) -> str:
        return "n/a" if math.isnan(self.score) else ("met" if self.score >= self.target - 1e-12 else "below")

    def headline(self, symbol: str) -> str:
        ran = int((self.checks["status"] != "not_run").sum())
        f = self.failed
        if math.isnan(self.score):
            return "Data accuracy could not be scored: no check could run."
        verdict = "meets" if self.status == "met" else "is below"
        t = tie_out_total(self.checks)
        big = largest_difference(self.checks)
        return (f"Data accuracy {fmt_pct(self.score)} {verdict} the {fmt_pct(self.target, digits=0)} target: "
                f"{len(f)} of {ran} checks failed" + (
                    f"; tie-outs off by {fmt_money(t['gross'], symbol)} gross across {_n(t['checks'], 'check')} "
                    f"({TIE_OUT_BASIS})" if t["gross"] > 0 else "") + (
                    f"; largest difference: {big['name']}, {fmt_money(big['dollars'], symbol)}"
                    if big is not None else "") + ".")


#: the one basis of every tie-out dollar figure summed or compared across checks
TIE_OUT_BASIS = ("gross: every differing order, SKU position or balance at its size, either direction; "
                 "offsetting differences do not cancel")


def tie_out_total(checks: pd.DataFrame) -> dict:
    """The failing tie-outs' dollars on one basis, gross (:data:`TIE_OUT_BASIS`): {"gross", "checks"}.

    Each check's ``gross_difference`` is the sum of |difference| over its differing records (for a GL
    control account, one balance: gross = |net|), so the sum never adds a net figure to gross ones.
    """
    t = checks[(checks["category"] == "tie_out") & (checks["status"] == "fail")]
    return {"gross": float(t["gross_difference"].fillna(0.0).sum()), "checks": int(len(t))}


def largest_first(checks: pd.DataFrame) -> pd.DataFrame:
    """``checks`` ordered by their dollars at stake, largest first (no dollars: last, order kept)."""
    return checks.assign(_d=checks["dollars_at_stake"].fillna(-1.0)).sort_values(
        "_d", ascending=False, kind="stable").drop(columns="_d")


def largest_difference(checks: pd.DataFrame) -> dict | None:
    """The failing check with the largest dollars at stake (a tie-out's gross difference, a duplicate's or
    orphan's value): {check_id, name, dollars, sentence}; None when no failing check has dollars."""
    f = checks[(checks["status"] == "fail") & (checks["dollars_at_stake"].fillna(0.0) > 0)]
    if f.empty:
        return None
    r = largest_first(f).iloc[0]
    return {"check_id": r["check_id"], "name": r["name"], "dollars": float(r["dollars_at_stake"]),
            "sentence": r["sentence"]}


def run_checks(tables: dict[str, pd.DataFrame | None], week: str, cal: FiscalCalendar, settings, materiality,
               symbol: str) -> AccuracyResult:
    """Every check for ``week`` (see the module docstring); ``settings`` is ``params.data_accuracy``.

    ``tables`` maps table name -> frame, None for a table the company did not provide. Required tables:
    the report's needs (:data:`soe_helpers.data.needs.NEEDS`); the checks of any other table are not run
    without it.
    """
    need = list(NEEDS["data_accuracy"].requires)
    missing = [n for n in need if tables.get(n) is None]
    if missing:
        raise ValueError(f"data accuracy needs the tables {', '.join(missing)}")
    sy = {**DEFAULT_SYSTEMS, **settings.systems}
    tol = settings.tie_out_tolerance
    rows, excs = [], []

    def add(result):
        rows.append(result[0])
        excs.append(result[1])

    bk, mrp, gl = tables.get("crm_bookings"), tables.get("mrp_inventory"), tables.get("gl_balances")
    if bk is not None:
        add(tie_out_bookings(bk, tables["orders"], week, tolerance=tol, systems=sy, symbol=symbol))
    else:
        add(_not_run("tie_out:crm_bookings_vs_erp_orders", "tie_out", "CRM bookings tie to ERP sales orders",
                     [sy["crm_bookings"], sy["orders"]], sy["crm_bookings"], "no crm_bookings export was provided"))
    detail = {
        "accounts_receivable": ("invoices", lambda d: float(ar_balance(tables["invoices"], [d]).iloc[0])),
        "accounts_payable": ("bills", lambda d: float(ap_balance(tables["bills"], [d]).iloc[0])),
        "inventory": ("inventory", lambda d: float(inventory_value(tables["inventory"], tables["products"],
                                                                   [to_week(pd.Series([d])).iloc[0]]).iloc[0])),
    }
    short_name = {"accounts_receivable": "receivables", "accounts_payable": "payables", "inventory": "inventory"}
    for account, (dname, fn) in detail.items():
        accts = settings.gl_accounts.get(account, [])
        if gl is not None and accts:
            add(tie_out_gl(gl, account, accts, dname, fn, week, tolerance=tol, systems=sy, symbol=symbol))
        else:
            short = {"accounts_receivable": "ar", "accounts_payable": "ap", "inventory": "inventory"}[account]
            tail = {"invoices": "invoices", "bills": "bills", "inventory": "erp_inventory"}[dname]
            why = "no gl_balances export was provided" if gl is None else \
                f"no GL account is set for {account} (data_accuracy.gl_accounts)"
            add(_not_run(f"tie_out:gl_{short}_vs_{tail}", "tie_out",
                         f"GL {short_name[account]} control account ties to the {_DETAIL[dname]}",
                         [sy["gl_balances"], sy[dname]], sy["gl_balances"], why))
    if mrp is not None:
        add(tie_out_on_hand(mrp, tables["inventory"], tables["products"], week,
                            quantity_tolerance=settings.quantity_tolerance, systems=sy, symbol=symbol))
    else:
        add(_not_run("tie_out:mrp_vs_erp_on_hand", "tie_out", "MRP on-hand units tie to ERP inventory",
                     [sy["mrp_inventory"], sy["inventory"]], sy["mrp_inventory"], "no mrp_inventory export was provided"))
    rows += freshness(tables, week, limits=settings.freshness_days, systems=sy)
    for fn in (completeness_checks,):
        r, e = fn(tables, week, cal, invoice_lag_days=settings.invoice_lag_days, tolerance=tol, systems=sy,
                  symbol=symbol)
        rows += r
        excs.append(e)
    for fn in (duplicate_checks, orphan_checks):
        r, e = fn(tables, week, systems=sy, symbol=symbol)
        rows += r
        excs.append(e)

    checks = pd.DataFrame(rows)
    has_dollars = checks.pop("_has_dollars").astype(bool)
    money_material = material_mask(checks["dollars_at_stake"].fillna(0.0), checks["reference"], materiality)
    checks["material"] = (checks["status"] == "fail") & (~has_dollars | money_material)
    money = ["difference", "gross_difference", "reference", "dollars_at_stake"]
    checks[money] = checks[money].round(2) + 0.0  # cents; no "-0.00" from float noise
    checks = checks[CHECK_COLUMNS]
    ran = checks[checks["status"] != "not_run"]
    score = float((ran["status"] == "pass").mean()) if len(ran) else float("nan")
    exc = pd.concat([e for e in excs if len(e)], ignore_index=True) if any(len(e) for e in excs) else _exceptions("")
    not_provided = [t for t in OPTIONAL_TABLES if tables.get(t) is None]
    return AccuracyResult(week, checks, exc, source_scores(checks, settings.target_score), score,
                          settings.target_score, not_provided)


# ---------------------------------------------------------------- history rows (the store keeps them: store.history)

#: columns of a week's score history (``soe_data_accuracy_history``)
HISTORY_COLUMNS = ["week", "source", "score", "checks", "failed", "run_id"]


def history_rows(res: AccuracyResult, run_id: str | None = None) -> list[dict]:
    """The week's scores as store rows: overall and one per source (score None when nothing was checked)."""
    ran = res.checks[res.checks["status"] != "not_run"]
    rows = [{"week": res.week, "source": "overall", "score": None if math.isnan(res.score) else res.score,
             "checks": int(len(ran)), "failed": int((ran["status"] == "fail").sum()), "run_id": run_id}]
    for r in res.by_source.itertuples(index=False):
        rows.append({"week": res.week, "source": str(r.source)[:32],
                     "score": None if math.isnan(r.score) else float(r.score), "checks": int(r.passed + r.failed),
                     "failed": int(r.failed), "run_id": run_id})
    return rows


# ---------------------------------------------------------------- report views

_CATEGORY = {"tie_out": "Tie-out", "freshness": "Freshness", "completeness": "Completeness",
             "duplicates": "Duplicates", "orphans": "Orphans"}


def display_checks(checks: pd.DataFrame, categories) -> pd.DataFrame:
    """Checks of ``categories`` for a table: check, kind, systems, status, records checked / failed,
    difference (currency), detail sentence. Failures first."""
    d = checks[checks["category"].isin(list(categories))].copy()
    d["_o"] = d["status"].map({"fail": 0, "not_run": 1, "pass": 2})
    d = d.sort_values(["_o", "dollars_at_stake"], ascending=[True, False], kind="stable")
    return pd.DataFrame({"check": d["name"], "kind": d["category"].map(_CATEGORY), "systems": d["source"],
                         "status": d["status"].str.replace("_", " "), "records": d["records_checked"],
                         "failed": d["records_failed"], "difference": d["difference"],
                         "detail": d["sentence"]}).reset_index(drop=True)


def display_exceptions(exceptions: pd.DataFrame, checks: pd.DataFrame, categories, top_n: int = 15) -> pd.DataFrame:
    """The listed differences behind failing checks of ``categories``, largest |difference| first, ``top_n`` per check."""
    names = checks.set_index("check_id")["name"]
    cats = checks.set_index("check_id")["category"]
    e = exceptions[exceptions["check_id"].map(cats).isin(list(categories))].copy()
    e["_abs"] = e["difference"].abs().fillna(0.0)
    e = e.sort_values(["check_id", "_abs"], ascending=[True, False], kind="stable").groupby("check_id").head(top_n)
    return pd.DataFrame({"check": e["check_id"].map(names), "record": e["key"], "issue": e["issue"],
                         "source_value": e["source_value"], "reference_value": e["reference_value"],
                         "difference": e["difference"]}).reset_index(drop=True)


def scoring_text(res: AccuracyResult) -> str:
    """How the score is computed, with this week's counts."""
    ran = res.checks[res.checks["status"] != "not_run"]
    return (f"Score = share of checks passed: {int((ran['status'] == 'pass').sum())} of {len(ran)} this week. "
            "Overall each check counts once; a source's score counts the checks that involve it (a tie-out counts "
            "for both systems). Checks that could not run are listed below and left out of the score.")


__all__ += ["display_checks", "display_exceptions", "scoring_text"]
