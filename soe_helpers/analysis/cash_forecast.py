"""Direct-method 13-week cash forecast: every receipt and payment dated, then bucketed by ISO week.

The forecast starts the Monday after the run week (the *start*) and covers
``horizon_weeks`` ISO weeks (13 by default). It is built from the canonical tables as
they stood at the end of the run week (the *cutoff*):

Receipts (positive amounts)
    - open AR invoices, collected ``days_to_pay`` after the invoice date, where
      ``days_to_pay`` is the customer's *observed* amount-weighted average from paid
      invoices (fallback: its nominal terms when it has fewer than ``dtp_min_invoices``
      paid invoices in the look-back). Invoices already past that date are collected in
      the first week; invoices more than ``ar_doubtful_after_days`` past due are left out
      (shown separately as doubtful);
    - open customer order lines, shipped on their ERP scheduled date (or promised date),
      unless stock runs out first (see *supply* below), invoiced at shipment and collected
      after the customer's ``days_to_pay``, less any contractual late-delivery penalty;
    - forecast bookings not yet ordered (the latest forecast snapshot, valued at each
      SKU's recent net selling price), shipped ``order_to_ship_days`` after the middle of
      their booking week and collected after the average ``days_to_pay``;
    - positive items of the treasury ``cash`` table.

Payments (negative amounts)
    - open AP bills on their due date (overdue ones in the first week);
    - open purchase orders: received on their latest expected date, billed at receipt and
      paid after the supplier's terms;
    - planned purchase orders: what each SKU must buy, beyond its stock and open purchase
      orders, to serve its demand and keep its target weeks of cover, received no earlier
      than the supplier's lead time from the start, paid after the supplier's terms;
    - negative items of the ``cash`` table (payroll, rent, tax ...), recurring ones expanded
      by frequency;
    - event costs: expedite freight and overtime (paid when incurred, at shipment) and
      one-off costs (e.g. switching vendor).

Supply: per SKU, stock on hand at the cutoff plus open and planned receipts is allocated
to demand first come, first served by planned ship date (open orders before forecast
bookings on the same day). An order line without an ERP reschedule ships when the
cumulative supply covers it, so a late purchase order starves the customer orders behind
it. Lines with an ERP scheduled date ship on that date (the ERP knows production) but
still take stock.

Sign convention: cash amounts are signed (+ = cash in, - = cash out) in the company
currency; a weekly table has ``receipts`` and ``payments`` as positive totals and
``closing_cash = opening_cash + receipts - payments``, rounded to the cent so that it
closes exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np
import pandas as pd

from soe_helpers.analysis import measures
from soe_helpers.core.calendar import FiscalCalendar, to_week, week_add, week_end, week_start
from soe_helpers.core.calendar import week_ordinal
from soe_helpers.data.loaders import empty_table

__all__ = [
    "Assumptions",
    "CashInputs",
    "Projection",
    "RECEIPT_FLOWS",
    "PAYMENT_FLOWS",
    "REQUIRED_TABLES",
    "OPTIONAL_TABLES",
    "fill_absent",
    "suppliers_from_bills",
    "left_out_notes",
    "plan_bookings",
    "customer_days_to_pay",
    "expand_cash_items",
    "opening_balance",
    "recent_prices",
    "ship_lags",
    "build_inputs",
    "project",
    "weekly_cash",
    "cash_summary",
    "pnl_in_window",
    "working_capital",
]

DAY = pd.Timedelta(days=1)

#: flow categories counted as receipts / payments in the weekly table (others never occur)
RECEIPT_FLOWS = ("AR collections", "Open orders", "Forecast sales", "Other receipts")
PAYMENT_FLOWS = ("AP bills", "Open POs", "Planned POs", "Other payments", "Expedite freight", "Overtime",
                 "One-off costs")

#: the tables the forecast cannot start without: the opening bank balance, open receivables and payables, and
#: the order book with its products and customers (what an accounting export and a basic ERP hold)
REQUIRED_TABLES = ("products", "customers", "orders", "invoices", "bills", "cash")
#: the tables that add a part of the forecast when given (:func:`left_out_notes` says what each one's absence
#: leaves out; ``soe_helpers.data.needs`` declares the same split for the runner)
OPTIONAL_TABLES = ("suppliers", "forecasts", "plan", "shipments", "purchase_orders", "inventory")

_FLOW_COLS = ["date", "week", "flow", "amount", "ref", "sku", "customer_id", "supplier_id"]
_PNL_COLS = ["date", "kind", "amount", "ref", "sku"]


@dataclass(frozen=True)
class Assumptions:
    """The forecast's assumptions (from ``params.cash``), all stated in the report.

    Attributes:
        horizon_weeks: weeks forecast after the run week.
        carrying_cost_rate: annual inventory carrying cost as a share of inventory value
            (capital, storage, obsolescence); a P&L (economic) cost, not a cash flow.
        expedite_freight_pct: share of a late customer order line's value spent on
            expedited freight when it ships ``expedite_min_days_late`` or more days late.
        overtime_pct: share of a production-delayed line's value spent on overtime to
            recover it (0 = not assumed).
        penalty_rounding: ``"week_started"`` (each week or part of it counts) or ``"exact"``
            (days / 7) when applying a customer's late-delivery penalty per week.
        penalty_grace_days: days late before any penalty applies.
        target_cover_weeks: weeks of forward demand each SKU keeps in stock after
            replenishment; None = its current cover (stock / average weekly forecast),
            capped at ``max_cover_weeks``.
    """

    horizon_weeks: int = 13
    carrying_cost_rate: float = 0.25
    expedite_freight_pct: float = 0.03
    expedite_min_days_late: int = 7
    overtime_pct: float = 0.0
    penalty_rounding: str = "week_started"
    penalty_grace_days: int = 0
    dtp_lookback_days: int = 365
    dtp_min_invoices: int = 5
    ar_doubtful_after_days: int = 90
    target_cover_weeks: float | None = None
    max_cover_weeks: float = 12.0
    order_to_ship_days: int | None = None
    price_lookback_weeks: int = 13

    @classmethod
    def from_params(cls, cash_params) -> "Assumptions":
        """Build from a ``CashParams`` model (fields with the same names)."""
        names = cls.__dataclass_fields__
        return cls(**{k: getattr(cash_params, k) for k in names if hasattr(cash_params, k)})


@dataclass(frozen=True)
class CashInputs:
    """Everything the projection needs, as of the end of the run week.

    Frames (one row each):
        ar: open invoice - invoice_id, customer_id, amount, collect_date (not before start).
        ap: open bill - bill_id, supplier_id, amount, pay_date (not before start).
        orders: open order line - order_id, line, ref ("SO-1/2"), customer_id, region, sku, qty,
            unit_price, unit_cost, promised_date, date (planned ship date), fixed (ship on
            ``date`` whatever the stock), consumes (takes stock), erp_late (ERP rescheduled it
            after its promise), days_to_pay, penalty_pct, penalty_cap, expedite_cost and
            overtime_cost (explicit amounts, NaN = by rule).
        demand: forecast booking, split in parts shipped at different lags - sku, week (booking
            week), part, lag (days), qty, base_qty (before event uplifts), unit_price, unit_cost,
            date (planned ship date), source (forecast, plan or run_rate).
        pos: open purchase order line - po_id, line, ref, supplier_id, sku, qty, unit_cost,
            promised_date, expected_date, terms_days, cost_change (extra cost per unit, PPV).
        stock: sku, on_hand (units at the cutoff).
        skus: sku, product_line, unit_cost, supplier_id, lead_days, terms_days, cover_weeks.
        other: date, amount (signed), item, category - treasury items in the horizon.
        costs: date, amount (positive cost), kind, ref - one-off event costs.
    """

    week: str
    start: pd.Timestamp
    weeks: list[str]
    opening_cash: float
    ar: pd.DataFrame
    ap: pd.DataFrame
    orders: pd.DataFrame
    demand: pd.DataFrame
    pos: pd.DataFrame
    stock: pd.DataFrame
    skus: pd.DataFrame
    other: pd.DataFrame
    costs: pd.DataFrame
    assumptions: Assumptions = field(default_factory=Assumptions)
    forecast_dtp: float = 45.0
    notes: tuple[str, ...] = ()
    doubtful_ar: pd.DataFrame | None = None
    dtp: pd.DataFrame | None = None
    #: False when stock or supplier lead times are not known (no inventory table, or no suppliers and no purchase
    #: orders to read lead times from): demand then ships on its planned date and no purchases are planned
    supply_known: bool = True
    #: the optional tables (:data:`OPTIONAL_TABLES`) the company has not given
    absent: tuple[str, ...] = ()

    @property
    def end(self) -> pd.Timestamp:
        """Sunday of the last forecast week."""
        return week_end(self.weeks[-1])

    def with_(self, **changes) -> "CashInputs":
        """A copy with some fields replaced (frames are never mutated in place)."""
        return replace(self, **changes)


@dataclass
class Projection:
    """Output of :func:`project`.

    Attributes:
        flows: dated cash flows: date, week, flow, amount (+ in / - out), ref, sku,
            customer_id, supplier_id. Only flows inside the horizon.
        pnl: dated P&L lines: date, kind (revenue, cogs, penalty, expedite, overtime, one_off,
            ppv), amount (+ = adds to profit), ref, sku. Includes dates outside the horizon.
        shipments: order lines and forecast bookings with their ship date (``ship_date`` NaT =
            not within the horizon's supply), ``days_late`` vs promise, value, penalty.
        inventory: week, sku, units, value: projected stock at each week's end.
        receipts_in: week, sku, units, value of goods received (open POs at their cost, planned ones at
            standard cost): what suppliers bill.
    """

    flows: pd.DataFrame
    pnl: pd.DataFrame
    shipments: pd.DataFrame
    inventory: pd.DataFrame
    receipts_in: pd.DataFrame


# ---------------------------------------------------------------- tables by need


def suppliers_from_bills(bills: pd.DataFrame, purchase_orders: pd.DataFrame) -> pd.DataFrame:
    """A supplier master read from the transactions, for a company without a suppliers table.

    Each supplier's payment terms are the median days from bill date to due date of its bills; its lead time the
    median days from order date to promised date of its purchase order lines (NaN without any). Names are the ids.

    Returns:
        supplier_id, name, payment_terms_days, lead_time_days (days, float).
    """
    terms = (bills["due_date"] - bills["bill_date"]).dt.days.astype(float).groupby(bills["supplier_id"]).median()
    po = purchase_orders
    lead = (po["promised_date"] - po["order_date"]).dt.days.astype(float).groupby(po["supplier_id"]).median()
    ids = sorted(set(terms.index) | set(lead.index), key=str)
    return pd.DataFrame({"supplier_id": ids, "name": ids,
                         "payment_terms_days": terms.reindex(ids).to_numpy(dtype=float),
                         "lead_time_days": lead.reindex(ids).to_numpy(dtype=float)})


def fill_absent(tables: dict[str, pd.DataFrame | None]) -> tuple[dict[str, pd.DataFrame | None], tuple[str, ...]]:
    """The canonical tables with every absent optional one filled in, and which ones were absent.

    An absent table (missing from ``tables`` or None) becomes an empty frame of its canonical columns, so that
    its part of the forecast is empty; the plan stays None (no plan); the suppliers become
    :func:`suppliers_from_bills`. What each absence leaves out is said by :func:`left_out_notes`.

    Raises:
        ValueError: a table of :data:`REQUIRED_TABLES` is absent (the runner does not run the report then).
    """
    miss = [n for n in REQUIRED_TABLES if tables.get(n) is None]
    if miss:
        raise ValueError(f"the cash forecast needs the tables {', '.join(miss)} (not given)")
    absent = tuple(n for n in OPTIONAL_TABLES if tables.get(n) is None)
    out = dict(tables)
    for n in absent:
        if n not in ("plan", "suppliers"):
            out[n] = empty_table(n)
    out.setdefault("plan", None)
    if "suppliers" in absent:
        out["suppliers"] = suppliers_from_bills(out["bills"], out["purchase_orders"])
    return out, absent


def left_out_notes(absent: Iterable[str], supply_known: bool = True) -> list[str]:
    """One sentence per absent optional table saying what the forecast leaves out (or reads elsewhere) without it."""
    a = set(absent)
    notes = []
    if "forecasts" in a and "plan" in a:
        notes.append("No forecasts or plan: receipts from sales not yet booked are not in the forecast, and demand "
                     "spikes are not detected.")
    elif "forecasts" in a:
        notes.append("No forecasts: sales not yet booked come from the S&OP plan, and demand spikes are not detected.")
    elif "plan" in a:
        notes.append("No plan: working capital at plan is not shown.")
    if "shipments" in a:
        notes.append("No shipments: every open order line is taken as not yet shipped (its whole quantity is still to "
                     "ship, invoice and collect).")
    if "purchase_orders" in a:
        notes.append("No purchase orders: payments for goods ordered but not yet billed are not in the forecast, and "
                     "late suppliers are not detected.")
    if "inventory" in a:
        notes.append("No inventory: stock is not known, so orders ship on their planned dates (no shortage is "
                     "detected) and purchases to replenish stock are not in the forecast.")
    elif not supply_known:
        notes.append("No supplier lead times (no suppliers or purchase orders): purchases to replenish stock are not "
                     "in the forecast, and orders ship on their planned dates.")
    if "suppliers" in a:
        lead = "" if "purchase_orders" in a else " and its lead time from its purchase orders"
        notes.append("No suppliers table: each supplier's payment terms are read from its bills (bill date to due "
                     f"date){lead}; suppliers are named by their ids.")
    return notes


def plan_bookings(plan: pd.DataFrame, orders: pd.DataFrame, products: pd.DataFrame, price: pd.Series, cutoff,
                  weeks: list[str], lookback_weeks: int = 13) -> tuple[pd.DataFrame, str]:
    """Units booked per (week, SKU) that the weekly plan implies over ``weeks``.

    A plan by SKU in units gives its units. A plan in revenue only, or by product line (or coarser), is spread over
    the SKUs by their share of the booked value of the ``lookback_weeks`` before ``cutoff`` within the plan's row
    (its SKU, its product line, or the whole company) and turned into units at each SKU's recent net ``price``.

    Returns:
        (frame of week, sku, qty; the sentence saying how the plan was read).
    """
    p = plan[plan["week"].isin(weeks)]
    if "sku" in p and p["units"].notna().any():
        out = p.groupby(["week", "sku"], as_index=False)["units"].sum().rename(columns={"units": "qty"})
        return out, "the S&OP plan's units"
    key = "sku" if "sku" in p else "product_line" if "product_line" in p else None
    cutoff = pd.Timestamp(cutoff)
    o = orders[(orders["order_date"] <= cutoff) & (orders["order_date"] > cutoff - pd.Timedelta(weeks=lookback_weeks))]
    if "status" in o:
        o = o[o["status"].fillna("open") != "cancelled"]
    mix = (o["quantity"] * o["unit_price"]).groupby(o["sku"]).sum().rename("value").reset_index()
    mix = mix.merge(products[["sku", "product_line"]], on="sku", how="left")
    k = key or "_all"
    if key is None:
        mix["_all"], p = "all", p.assign(_all="all")
    mix["share"] = mix["value"] / mix.groupby(k)["value"].transform("sum").where(lambda v: v > 0)
    rev = p.groupby(["week", k], as_index=False)["revenue"].sum()
    out = rev.assign(share=1.0) if k == "sku" else rev.merge(mix[[k, "sku", "share"]], on=k, how="inner")
    out["qty"] = out["revenue"] * out["share"] / out["sku"].map(price).astype(float)
    out = out.replace([np.inf, -np.inf], np.nan).dropna(subset=["qty"])
    how = {"sku": "revenue by SKU", "product_line": "revenue by product line, spread over its SKUs"}.get(
        key, "revenue, spread over the SKUs")
    how = f"the S&OP plan's {how}" + ("" if key == "sku" else f" by their bookings of the last {lookback_weeks} "
                                      "weeks") + ", at their recent prices"
    return out[["week", "sku", "qty"]].reset_index(drop=True), how


# ---------------------------------------------------------------- building blocks


def customer_days_to_pay(invoices: pd.DataFrame, customers: pd.DataFrame, as_of, lookback_days: int = 365,
                         min_invoices: int = 5) -> pd.DataFrame:
    """Each customer's observed days from invoice to payment, with a fallback to nominal terms.

    Observed days-to-pay = sum(amount x (paid_date - invoice_date)) / sum(amount) over the
    customer's invoices (credit notes excluded) invoiced within ``lookback_days`` before
    ``as_of`` and paid on or before it.

    Args:
        invoices: canonical invoices.
        customers: canonical customers (payment_terms_days).
        as_of: the cutoff date; later payments are not known yet.
        lookback_days: invoice-date window of the history used.
        min_invoices: fewer paid invoices than this -> nominal terms are used.
    Returns:
        customer_id, terms_days, observed_days (NaN without history), n_paid, days_to_pay
        (days, what the forecast uses), basis ("observed" or "terms").
    """
    as_of = pd.Timestamp(as_of)
    inv = invoices[(invoices["amount"] > 0) & invoices["paid_date"].notna() & (invoices["paid_date"] <= as_of)
                   & (invoices["invoice_date"] >= as_of - pd.Timedelta(days=lookback_days))]
    days = (inv["paid_date"] - inv["invoice_date"]).dt.days.astype(float)
    g = pd.DataFrame({"customer_id": inv["customer_id"], "w": inv["amount"], "wd": inv["amount"] * days})
    agg = g.groupby("customer_id").agg(n_paid=("w", "size"), w=("w", "sum"), wd=("wd", "sum"))
    out = customers[["customer_id", "payment_terms_days"]].rename(columns={"payment_terms_days": "terms_days"})
    out = out.merge(agg.reset_index(), on="customer_id", how="left")
    out["n_paid"] = out["n_paid"].fillna(0).astype(int)
    out["observed_days"] = out["wd"] / out["w"].where(out["w"] > 0)
    enough = out["n_paid"] >= min_invoices
    out["days_to_pay"] = np.where(enough, out["observed_days"], out["terms_days"].astype(float))
    out["basis"] = np.where(enough, "observed", "terms")
    return out[["customer_id", "terms_days", "observed_days", "n_paid", "days_to_pay", "basis"]]


_FREQ = {"weekly": ("D", 7), "biweekly": ("D", 14), "monthly": ("M", 1), "quarterly": ("M", 3)}


def expand_cash_items(cash: pd.DataFrame, start, end) -> pd.DataFrame:
    """Dated occurrences of the treasury items between ``start`` and ``end`` (inclusive).

    One-off items fall on their date; recurring ones repeat from their first date by
    frequency (weekly, biweekly, monthly and quarterly on the same day of the month, or the
    month's last day) until ``end_date``. Opening balances are not flows and are skipped.

    Returns:
        date, amount (signed: + in, - out), item, category; sorted by date.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    rows = []
    for r in cash.itertuples(index=False):
        if r.kind == "opening_balance":
            continue
        first = pd.Timestamp(r.date)
        stop = min(end, pd.Timestamp(r.end_date)) if _present(getattr(r, "end_date", None)) else end
        cat = r.category if _present(getattr(r, "category", None)) else r.item
        if r.kind == "one_off":
            dates = [first] if start <= first <= stop else []
        else:
            freq = getattr(r, "frequency", None)
            if not _present(freq) or freq not in _FREQ:
                raise ValueError(f"cash item {r.item!r}: a recurring item needs a frequency "
                                 f"({', '.join(_FREQ)}), got {freq!r}")
            unit, n = _FREQ[freq]
            dates, k = [], 0
            while True:
                d = first + pd.Timedelta(days=n * k) if unit == "D" else first + pd.DateOffset(months=n * k)
                if d > stop:
                    break
                if d >= start:
                    dates.append(pd.Timestamp(d))
                k += 1
        rows += [(d, float(r.amount), r.item, cat) for d in dates]
    out = pd.DataFrame(rows, columns=["date", "amount", "item", "category"])
    out["date"] = pd.to_datetime(out["date"])
    return out.sort_values(["date", "item"], kind="stable").reset_index(drop=True)


def _present(v) -> bool:
    return v is not None and v is not pd.NaT and not (isinstance(v, float) and math.isnan(v)) and v is not pd.NA


def opening_balance(cash: pd.DataFrame, invoices: pd.DataFrame, bills: pd.DataFrame, cutoff) -> tuple[float, str]:
    """Cash at the end of ``cutoff``: the bank balance rolled to that date.

    The balance is the sum of the ``opening_balance`` rows on their latest date on or
    before the cutoff (or, if none, the earliest date after it). When that date is not the
    cutoff, the balance is rolled forward (or back) by the cash that moved in between:
    customer payments (``paid_amount`` at ``paid_date``), bills paid, and the treasury items
    dated in the gap.

    Returns:
        (amount, note): the note says which balance was used and how it was rolled.
    Raises:
        ValueError: when the cash table has no opening balance.
    """
    cutoff = pd.Timestamp(cutoff)
    bal = cash[cash["kind"] == "opening_balance"]
    if bal.empty:
        raise ValueError("cash: no row of kind 'opening_balance' (the bank balance the forecast starts from)")
    before = bal[bal["date"] <= cutoff]
    when = before["date"].max() if len(before) else bal["date"].min()
    amount = float(bal.loc[bal["date"] == when, "amount"].sum())
    if when == cutoff:
        return amount, f"bank balance of {when:%Y-%m-%d}"
    lo, hi = (when, cutoff) if when < cutoff else (cutoff, when)
    sign = 1.0 if when < cutoff else -1.0
    paid_in = invoices[(invoices["paid_date"] > lo) & (invoices["paid_date"] <= hi)]
    got = paid_in["paid_amount"].fillna(paid_in["amount"]).sum() if "paid_amount" in paid_in else paid_in["amount"].sum()
    paid_out = bills.loc[(bills["paid_date"] > lo) & (bills["paid_date"] <= hi), "amount"].sum()
    items = expand_cash_items(cash, lo + DAY, hi)["amount"].sum()
    moved = float(got - paid_out + items)
    direction = "forward" if sign > 0 else "back"
    return amount + sign * moved, (f"bank balance of {when:%Y-%m-%d} rolled {direction} to {cutoff:%Y-%m-%d} by the "
                                   f"customer receipts, bill payments and treasury items in between")


def actual_closing_cash(cash: pd.DataFrame, invoices: pd.DataFrame, bills: pd.DataFrame, weeks) -> pd.DataFrame:
    """The cash each week actually closed at: :func:`opening_balance` at each week's end (the bank balance rolled by
    the receipts, bill payments and treasury items in between), the figure a forecast of that week is judged by.

    Returns: week, actual_closing (currency).
    """
    return pd.DataFrame({"week": list(weeks),
                         "actual_closing": [opening_balance(cash, invoices, bills, week_end(w))[0] for w in weeks]})


def recent_prices(orders: pd.DataFrame, products: pd.DataFrame, as_of, weeks: int = 13) -> pd.Series:
    """Net selling price per SKU: booked value / units over the ``weeks`` before ``as_of`` (list price
    where the SKU had no bookings). Cancelled lines excluded. Currency per unit."""
    as_of = pd.Timestamp(as_of)
    o = orders[(orders["order_date"] <= as_of) & (orders["order_date"] > as_of - pd.Timedelta(weeks=weeks))]
    if "status" in o:
        o = o[o["status"].fillna("open") != "cancelled"]
    g = pd.DataFrame({"sku": o["sku"], "u": o["quantity"], "v": o["quantity"] * o["unit_price"]}).groupby("sku").sum()
    price = (g["v"] / g["u"].where(g["u"] > 0)).dropna()
    lp = products.set_index("sku")["list_price"].astype(float)
    return price.reindex(lp.index).fillna(lp).rename("price")


def ship_lags(orders: pd.DataFrame, as_of, weeks: int = 13, parts: int = 4) -> list[int]:
    """How many days after booking an order ships: the lags (promised date - order date) at the
    middle quantiles of ``parts`` equal shares of the lines booked in the ``weeks`` before ``as_of``
    (e.g. 4 parts -> the 12.5%, 37.5%, 62.5% and 87.5% quantiles). A forecast week's bookings are
    split into ``parts`` equal parts shipped at these lags. ``[7]`` when there is no history."""
    as_of = pd.Timestamp(as_of)
    o = orders[(orders["order_date"] <= as_of) & (orders["order_date"] > as_of - pd.Timedelta(weeks=weeks))]
    if o.empty:
        return [7]
    lag = (o["promised_date"] - o["order_date"]).dt.days.to_numpy(dtype=float)
    qs = (np.arange(parts) + 0.5) / parts
    return [int(round(x)) for x in np.quantile(lag, qs)]


def _forecast_bookings(forecasts: pd.DataFrame | None, orders: pd.DataFrame, plan: pd.DataFrame | None, week: str,
                       weeks: list[str], products: pd.DataFrame | None = None,
                       price: pd.Series | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Units booked per (week, sku) over ``weeks``: the latest snapshot made on or before ``week``;
    weeks it does not cover fall back to the plan (:func:`plan_bookings`), then to the last 13 weeks' average
    bookings. Without forecasts (None) and plan there is no such demand: nothing is assumed.
    Returns the frame (week, sku, qty, source) and notes."""

    notes = []
    f = pd.DataFrame(columns=["week", "sku", "qty"])
    if forecasts is None and (plan is None or not len(plan)):
        return pd.DataFrame({"week": pd.Series(dtype=object), "sku": pd.Series(dtype=object),
                             "qty": pd.Series(dtype=float), "source": pd.Series(dtype=object)}), notes
    snaps = f
    if forecasts is not None:
        uniq = pd.unique(forecasts["snapshot_week"])
        ordv = forecasts["snapshot_week"].map({u: week_ordinal(u) for u in uniq})
        snaps = forecasts[ordv <= week_ordinal(week)]
    if len(snaps):
        latest = max(pd.unique(snaps["snapshot_week"]), key=week_ordinal)
        f = snaps[(snaps["snapshot_week"] == latest) & snaps["target_week"].isin(weeks)]
        f = f.rename(columns={"target_week": "week", "quantity": "qty"})[["week", "sku", "qty"]]
        if latest != week:
            notes.append(f"the latest demand forecast is snapshot {latest}, older than the run week {week}")
    covered = set(f["week"])
    missing = [w for w in weeks if w not in covered]
    parts = [f.assign(source="forecast")]
    if missing and plan is not None and len(plan):
        p, how = plan_bookings(plan, orders, products, price, week_end(week), missing)
        parts.append(p.assign(source="plan"))
        missing = [w for w in missing if w not in set(p["week"])]
        if len(p):
            plain = how == "the S&OP plan's units"  # the demo's wording, kept for a plan by SKU in units
            notes.append(f"weeks without a forecast use the S&OP plan: {', '.join(sorted(set(p['week'])))}"
                         if plain else f"weeks without a forecast use {how}: {', '.join(sorted(set(p['week'])))}")
    if missing:
        end = week_end(week)
        o = orders[(orders["order_date"] <= end) & (orders["order_date"] > end - pd.Timedelta(weeks=13))]
        if "status" in o:
            o = o[o["status"].fillna("open") != "cancelled"]
        rate = o.groupby("sku")["quantity"].sum() / 13.0
        parts.append(pd.DataFrame([(w, s, q) for w in missing for s, q in rate.items()],
                                  columns=["week", "sku", "qty"]).assign(source="run_rate"))
        notes.append(f"weeks without forecast or plan use the last 13 weeks' average bookings: {', '.join(missing)}")
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=["week", "sku", "qty", "source"])
    out["qty"] = out["qty"].astype(float)
    return out[out["qty"] > 0].reset_index(drop=True), notes


def build_inputs(tables: dict[str, pd.DataFrame | None], week: str, assumptions: Assumptions | None = None,
                 as_of=None, absent: tuple[str, ...] | None = None) -> CashInputs:
    """Assemble the forecast's inputs from the canonical tables, as they stood at the end of ``week``.

    Args:
        tables: canonical tables by name: :data:`REQUIRED_TABLES` (products, customers, orders, invoices, bills,
            cash) and any of :data:`OPTIONAL_TABLES` (None or left out = not given: that part of the forecast is
            empty and a note says what it leaves out, :func:`left_out_notes`).
        week: the run week (ISO); the forecast starts the Monday after it.
        assumptions: forecast assumptions (defaults when None).
        as_of: the data's as-of date, for a note when it is before the week's end.
        absent: the optional tables not given when ``tables`` was already through :func:`fill_absent`.
    Returns:
        :class:`CashInputs`.
    """
    a = assumptions or Assumptions()
    t, absent = fill_absent(tables) if absent is None else (tables, tuple(absent))
    cutoff = week_end(week)
    start = cutoff + DAY
    weeks = [week_add(week, k) for k in range(1, a.horizon_weeks + 1)]
    notes: list[str] = []
    if as_of is not None and pd.Timestamp(as_of) < cutoff:
        notes.append(f"the data runs to {pd.Timestamp(as_of):%Y-%m-%d}, before the end of {week}")

    products, customers, suppliers = t["products"], t["customers"], t["suppliers"]
    # SKU master: cost, supplier lead time and terms (median when the SKU has no known supplier)
    sup = suppliers.set_index("supplier_id")
    skus = products[["sku", "product_line", "unit_cost"]].copy()
    skus["supplier_id"] = products["supplier_id"] if "supplier_id" in products else None
    skus["lead_days"] = skus["supplier_id"].map(sup["lead_time_days"]).astype(float)
    skus["terms_days"] = skus["supplier_id"].map(sup["payment_terms_days"]).astype(float)
    no_sup = skus["lead_days"].isna()
    if no_sup.any() and "suppliers" not in absent:
        notes.append(f"{int(no_sup.sum())} SKU(s) without a known supplier use the median lead time and terms")
    skus["lead_days"] = skus["lead_days"].fillna(float(sup["lead_time_days"].median()))
    skus["terms_days"] = skus["terms_days"].fillna(float(sup["payment_terms_days"].median()))
    # stock and lead times known: supply constrains shipments and purchases are planned; else neither is modelled
    supply_known = "inventory" not in absent and bool(skus["lead_days"].notna().all()) and len(skus) > 0

    # customers: observed days-to-pay
    dtp = customer_days_to_pay(t["invoices"], customers, cutoff, a.dtp_lookback_days, a.dtp_min_invoices)
    cust = customers.set_index("customer_id")
    dtp_map = dtp.set_index("customer_id")["days_to_pay"]

    # AR open at the cutoff
    inv = t["invoices"]
    inv = inv[(inv["invoice_date"] <= cutoff) & (inv["paid_date"].isna() | (inv["paid_date"] > cutoff))]
    collect = inv["invoice_date"] + pd.to_timedelta(inv["customer_id"].map(dtp_map).fillna(
        inv["customer_id"].map(cust["payment_terms_days"])).astype(float).round(), unit="D")
    doubtful = (inv["due_date"] + pd.Timedelta(days=a.ar_doubtful_after_days)) < start
    ar = pd.DataFrame({"invoice_id": inv["invoice_id"], "customer_id": inv["customer_id"], "amount": inv["amount"],
                       "invoice_date": inv["invoice_date"], "due_date": inv["due_date"],
                       "collect_date": collect.clip(lower=start)})
    doubtful_ar = ar[doubtful.to_numpy()].reset_index(drop=True)
    ar = ar[~doubtful.to_numpy()].reset_index(drop=True)

    # AP open at the cutoff
    b = t["bills"]
    b = b[(b["bill_date"] <= cutoff) & (b["paid_date"].isna() | (b["paid_date"] > cutoff))]
    ap = pd.DataFrame({"bill_id": b["bill_id"], "supplier_id": b["supplier_id"], "amount": b["amount"],
                       "due_date": b["due_date"], "pay_date": b["due_date"].clip(lower=start)}).reset_index(drop=True)

    orders = _open_orders(t["orders"], t["shipments"], cutoff, start)
    orders = orders.merge(skus[["sku", "product_line", "unit_cost"]], on="sku", how="left")
    orders["region"] = orders["customer_id"].map(cust["region"])
    if "name" in cust:  # sentences show "Name (ID)", never a bare id
        orders["customer_name"] = orders["customer_id"].map(cust["name"])
    orders["days_to_pay"] = orders["customer_id"].map(dtp_map).astype(float)
    pen = cust["late_penalty_pct_per_week"] if "late_penalty_pct_per_week" in cust else pd.Series(dtype=float)
    cap = cust["penalty_cap_pct"] if "penalty_cap_pct" in cust else pd.Series(dtype=float)
    orders["penalty_pct"] = orders["customer_id"].map(pen).astype(float).fillna(0.0)
    orders["penalty_cap"] = orders["customer_id"].map(cap).astype(float)
    orders["expedite_cost"] = np.nan
    orders["overtime_cost"] = np.nan

    # forecast bookings, valued at recent net prices, collected after the average days-to-pay
    price = recent_prices(t["orders"], products, cutoff, a.price_lookback_weeks)
    book, fnotes = _forecast_bookings(None if "forecasts" in absent else t["forecasts"], t["orders"], t.get("plan"),
                                      week, weeks, products, price)
    notes += fnotes
    lags = [a.order_to_ship_days] if a.order_to_ship_days is not None else ship_lags(t["orders"], cutoff)
    demand = pd.concat([book.assign(part=i, lag=lag, qty=book["qty"] / len(lags)) for i, lag in enumerate(lags)],
                       ignore_index=True)
    demand["base_qty"] = demand["qty"]
    demand["unit_price"] = demand["sku"].map(price).astype(float)
    demand = demand.merge(skus[["sku", "unit_cost"]], on="sku", how="left")
    mid = {w: week_start(w) + pd.Timedelta(days=2) for w in weeks}  # bookings counted mid-week
    demand["date"] = demand["week"].map(mid) + pd.to_timedelta(demand["lag"], unit="D")
    recent_inv = t["invoices"][(t["invoices"]["invoice_date"] > cutoff - pd.Timedelta(weeks=13))
                               & (t["invoices"]["invoice_date"] <= cutoff) & (t["invoices"]["amount"] > 0)]
    w = recent_inv.groupby("customer_id")["amount"].sum()
    d = dtp_map.reindex(w.index)
    forecast_dtp = float((w * d).sum() / w.sum()) if w.sum() > 0 else float(dtp["days_to_pay"].mean())

    pos = _open_pos(t["purchase_orders"], cutoff)
    pos["terms_days"] = pos["supplier_id"].map(sup["payment_terms_days"]).astype(float).fillna(
        float(sup["payment_terms_days"].median()))
    if pos["terms_days"].isna().any():  # no bill of any supplier to read terms from: paid on receipt, said so
        notes.append(f"{int(pos['terms_days'].isna().sum())} open purchase order line(s) of suppliers with no known "
                     "terms are paid on receipt")
        pos["terms_days"] = pos["terms_days"].fillna(0.0)
    pos["cost_change"] = 0.0

    inv_t = t["inventory"]
    inv_t = inv_t[inv_t["week"] <= week] if len(inv_t) else inv_t  # ISO labels sort as text
    if len(inv_t):
        last = inv_t["week"].max()
        if last != week:
            notes.append(f"stock on hand is from {last}, the latest inventory week on or before {week}")
        stock = inv_t[inv_t["week"] == last].groupby("sku", as_index=False)["on_hand_qty"].sum()
    else:
        if "inventory" not in absent:
            notes.append("no inventory on or before the run week: stock on hand taken as zero")
        stock = pd.DataFrame({"sku": [], "on_hand_qty": []})
    stock = skus[["sku"]].merge(stock.rename(columns={"on_hand_qty": "on_hand"}), on="sku", how="left").fillna(
        {"on_hand": 0.0})

    # cover: weeks of average forecast demand the SKU holds now (or the fixed target)
    rate = demand.groupby("sku")["qty"].sum() / len(weeks)
    if a.target_cover_weeks is None:
        cur = stock.set_index("sku")["on_hand"] / rate.reindex(stock["sku"]).to_numpy()
        cover = cur.replace([np.inf, -np.inf], np.nan).fillna(0.0).clip(0, a.max_cover_weeks)
    else:
        cover = pd.Series(float(a.target_cover_weeks), index=stock["sku"])
    skus["cover_weeks"] = skus["sku"].map(cover).fillna(0.0)

    opening, onote = opening_balance(t["cash"], t["invoices"], t["bills"], cutoff)
    notes.append(f"opening cash: {onote}")
    other = expand_cash_items(t["cash"], start, week_end(weeks[-1]))
    if not (t["cash"]["kind"] != "opening_balance").any():
        notes.append("The cash table holds only the bank balance: payroll, rent, taxes and other payments that are "
                     "neither bills nor purchases are not in the forecast.")
    notes += left_out_notes(absent, supply_known)
    costs = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "amount": pd.Series(dtype=float),
                          "kind": pd.Series(dtype=object), "ref": pd.Series(dtype=object)})
    frames = {k: _plain(v) for k, v in dict(ar=ar, ap=ap, orders=orders, demand=demand, pos=pos, stock=stock,
                                            skus=skus, other=other, costs=costs).items()}
    return CashInputs(week=week, start=start, weeks=weeks, opening_cash=opening, **frames, assumptions=a,
                      forecast_dtp=forecast_dtp, notes=tuple(notes), doubtful_ar=doubtful_ar, dtp=dtp,
                      supply_known=supply_known, absent=absent)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain Python objects: the projection filters these small frames many times, and
    numpy object arrays are much faster to index than Arrow-backed strings."""
    out = df.reset_index(drop=True).copy()
    for c in out.columns:
        if pd.api.types.is_string_dtype(out[c].dtype) and not pd.api.types.is_object_dtype(out[c].dtype):
            out[c] = out[c].astype(object)
    return out


def _open_orders(orders: pd.DataFrame, shipments: pd.DataFrame, cutoff, start) -> pd.DataFrame:
    """Order lines open at the cutoff with their remaining units and planned ship date."""
    o = orders[orders["order_date"] <= cutoff]
    status = o["status"].fillna("open") if "status" in o else pd.Series("open", index=o.index)
    o = o[status != "cancelled"]
    status = status[o.index]
    sh = shipments[["order_id", "line", "ship_date", "quantity"]]
    before = sh[sh["ship_date"] <= cutoff].groupby(["order_id", "line"])["quantity"].sum().rename("shipped")
    after = sh[sh["ship_date"] > cutoff].groupby(["order_id", "line"])["quantity"].sum().rename("later")
    o = o.join(before, on=["order_id", "line"]).join(after, on=["order_id", "line"])
    shipped = o["shipped"].fillna(0.0)
    # an open line still owes its remainder; a line closed since the cutoff owed what shipped after it
    remaining = np.where(status == "open", o["quantity"] - shipped, o["later"].fillna(0.0))
    o = o.assign(qty=remaining)
    o = o[o["qty"] > 1e-9]
    sched = o["scheduled_date"] if "scheduled_date" in o else pd.Series(pd.NaT, index=o.index)
    planned = sched.where(sched.notna(), o["promised_date"])
    out = pd.DataFrame({
        "order_id": o["order_id"].astype(str), "line": o["line"].astype(int),
        "customer_id": o["customer_id"], "sku": o["sku"], "qty": o["qty"].astype(float),
        "unit_price": o["unit_price"].astype(float), "promised_date": o["promised_date"],
        "date": planned.clip(lower=start), "fixed": sched.notna().to_numpy(), "consumes": True,
        "erp_late": (sched.notna() & (sched > o["promised_date"])).to_numpy(),
    })
    out["ref"] = out["order_id"] + "/" + out["line"].astype(str)
    return out.reset_index(drop=True)


def _open_pos(pos: pd.DataFrame, cutoff) -> pd.DataFrame:
    """Purchase order lines open (not received) at the cutoff."""
    p = pos[(pos["order_date"] <= cutoff) & (pos["received_date"].isna() | (pos["received_date"] > cutoff))]
    out = pd.DataFrame({"po_id": p["po_id"].astype(str), "line": p["line"].astype(int),
                        "supplier_id": p["supplier_id"], "sku": p["sku"], "qty": p["quantity"].astype(float),
                        "unit_cost": p["unit_cost"].astype(float), "promised_date": p["promised_date"],
                        "expected_date": p["expected_date"]}).reset_index(drop=True)
    out["ref"] = out["po_id"] + "/" + out["line"].astype(str)
    return out


# ---------------------------------------------------------------- projection


def project(inp: CashInputs, skus: Iterable[str] | None = None, static: bool = True) -> Projection:
    """Project dated cash flows and P&L lines from :class:`CashInputs`.

    Args:
        inp: the inputs.
        skus: only these SKUs' supply and demand (for the effect of an event on a few
            SKUs); None = all.
        static: include the flows that depend neither on SKUs nor on events (AR, AP, treasury
            items). Set False with ``skus`` to get only the SKUs' part (plus event costs).
    Returns:
        :class:`Projection`.
    """
    a = inp.assumptions
    start, end = inp.start, inp.end
    H = len(inp.weeks)
    keep = None if skus is None else set(skus)
    sel = (lambda df: df) if keep is None else (lambda df: df[df["sku"].isin(keep)])
    orders, demand, pos = sel(inp.orders), sel(inp.demand), sel(inp.pos)
    sk = sel(inp.skus).set_index("sku")
    stock = sel(inp.stock).set_index("sku")["on_hand"].reindex(sk.index).fillna(0.0)
    idx = {s: i for i, s in enumerate(sk.index)}
    S = len(sk)

    # -- demand items: open order lines, then forecast bookings
    od = orders.assign(kind="order", prio=0)
    fd = demand.assign(kind="forecast", prio=1, ref=demand["sku"] + "@" + demand["week"] + "#" +
                       demand["part"].astype(str), order_id=None, line=0,
                       customer_id=None, promised_date=pd.NaT, fixed=False, consumes=True, erp_late=False,
                       days_to_pay=inp.forecast_dtp, penalty_pct=0.0, penalty_cap=np.nan,
                       expedite_cost=np.nan, overtime_cost=np.nan, region=None)
    cols = ["kind", "prio", "ref", "order_id", "line", "customer_id", "region", "sku", "qty", "unit_price",
            "unit_cost", "promised_date", "date", "fixed", "consumes", "erp_late", "days_to_pay", "penalty_pct",
            "penalty_cap", "expedite_cost", "overtime_cost"]
    items = pd.concat([od[cols], fd[cols]], ignore_index=True) if len(fd) else od[cols].copy()
    items = items[items["qty"] > 0].reset_index(drop=True)
    items["alloc_date"] = items["date"].where(items["fixed"], items["date"].clip(lower=start))
    items["alloc_date"] = items["alloc_date"].clip(lower=start)

    # -- open PO receipts
    po = pos.assign(receipt_date=pos["expected_date"].clip(lower=start))

    # -- planned receipts: weekly lot-for-lot to the target cover, not before the lead time
    week_starts = pd.DatetimeIndex([start + pd.Timedelta(weeks=k) for k in range(H)])
    dem_w = np.zeros((S, H))
    rec_w = np.zeros((S, H))
    if len(items):
        wi = np.clip(((items["alloc_date"] - start).dt.days // 7).to_numpy(), 0, None)
        ok = (wi < H) & items["consumes"].to_numpy()
        np.add.at(dem_w, (items["sku"].map(idx).to_numpy()[ok], wi[ok].astype(int)), items["qty"].to_numpy()[ok])
    if len(po):
        wi = ((po["receipt_date"] - start).dt.days // 7).to_numpy()
        ok = wi < H
        np.add.at(rec_w, (po["sku"].map(idx).to_numpy()[ok], wi[ok].astype(int)), po["qty"].to_numpy()[ok])
    fc_rate = np.zeros(S)
    if len(demand):
        r = demand.groupby("sku")["qty"].sum() / H
        fc_rate = r.reindex(sk.index).fillna(0.0).to_numpy()
    target = sk["cover_weeks"].to_numpy() * fc_rate
    earliest = np.ceil(sk["lead_days"].to_numpy() / 7.0)
    planned = np.zeros((S, H))
    # netting counts every open PO as supply already bought, whenever it arrives: a late PO makes orders
    # wait (the S&OE question), it does not trigger a second purchase of the same goods
    proj = stock.to_numpy().astype(float) + rec_w.sum(axis=1)
    for w in range(H if inp.supply_known else 0):  # stock or lead times unknown: no purchase is planned
        proj = proj - dem_w[:, w]
        can = w >= earliest
        q = np.where(can, np.maximum(0.0, target - proj), 0.0)
        planned[:, w] = q
        proj = proj + q
    pl = pd.DataFrame({"sku": np.repeat(sk.index.to_numpy(), H), "w": np.tile(np.arange(H), S),
                       "qty": planned.ravel()})
    pl = pl[pl["qty"] > 1e-9].copy()
    pl["receipt_date"] = week_starts[pl["w"].to_numpy()]
    pl["unit_cost"] = pl["sku"].map(sk["unit_cost"]).astype(float)
    pl["terms_days"] = pl["sku"].map(sk["terms_days"]).astype(float)
    pl["supplier_id"] = pl["sku"].map(sk["supplier_id"])

    # -- allocation: first come, first served by planned date
    supply = pd.concat([
        pd.DataFrame({"sku": stock.index, "date": start, "qty": stock.to_numpy()}),
        po[["sku", "receipt_date", "qty"]].rename(columns={"receipt_date": "date"}),
        pl[["sku", "receipt_date", "qty"]].rename(columns={"receipt_date": "date"}),
    ], ignore_index=True)
    supply = supply[supply["qty"] > 1e-9].sort_values(["sku", "date"], kind="stable")
    supply["cum"] = supply.groupby("sku")["qty"].cumsum()
    items = items.sort_values(["sku", "alloc_date", "prio", "ref"], kind="stable").reset_index(drop=True)
    cons = items["qty"].where(items["consumes"], 0.0)
    items["need"] = cons.groupby(items["sku"]).cumsum() - 1e-6
    free = items[~items["fixed"]].reset_index()
    if not inp.supply_known:  # stock unknown: every item ships on its planned date, none waits for supply
        items["supply_date"] = items["alloc_date"]
    elif len(free) and len(supply):
        sup = supply[["sku", "cum", "date"]].rename(columns={"date": "supply_date"}).sort_values("cum")
        sup["sku"] = sup["sku"].astype(object)  # merge_asof wants one dtype; sources differ (str vs object)
        left = free[["index", "sku", "need"]].assign(sku=free["sku"].astype(object)).sort_values("need")
        m = pd.merge_asof(left, sup,
                          left_on="need", right_on="cum", by="sku", direction="forward")
        avail = pd.Series(m["supply_date"].to_numpy(), index=m["index"].to_numpy())
        items.loc[avail.index, "supply_date"] = avail
    else:
        items["supply_date"] = pd.NaT
    items["supply_date"] = pd.to_datetime(items.get("supply_date"))
    ship = items["alloc_date"].where(items["fixed"], np.maximum(items["alloc_date"], items["supply_date"]))
    ship = ship.where(items["fixed"] | items["supply_date"].notna())
    items["ship_date"] = ship.where(items["fixed"], ship)
    # fixed items keep their own date, even when it is before the start (a counterfactual "as promised")
    items.loc[items["fixed"], "ship_date"] = items.loc[items["fixed"], "date"]

    items["value"] = items["qty"] * items["unit_price"]
    items["cost"] = items["qty"] * items["unit_cost"]
    late = (items["ship_date"] - items["promised_date"]).dt.days
    items["days_late"] = late.where(items["kind"] == "order")
    dl = items["days_late"].fillna(0).clip(lower=0).to_numpy()
    items["penalty"] = _penalty(items["value"].to_numpy(), dl, items["penalty_pct"].to_numpy(),
                                items["penalty_cap"].to_numpy(), a)
    rule_exp = np.where(dl >= max(a.expedite_min_days_late, 1), a.expedite_freight_pct * items["value"], 0.0)
    items["expedite"] = np.where(items["expedite_cost"].notna(), items["expedite_cost"].fillna(0.0), rule_exp)
    rule_ot = np.where(items["erp_late"].astype(bool) & (dl > 0), a.overtime_pct * items["value"], 0.0)
    items["overtime"] = np.where(items["overtime_cost"].notna(), items["overtime_cost"].fillna(0.0), rule_ot)
    shipped = items[items["ship_date"].notna()]

    # -- cash flows
    flows = []
    collect = shipped["ship_date"] + pd.to_timedelta(shipped["days_to_pay"].astype(float).round(), unit="D")
    flows.append(_flows(collect, shipped["value"] - shipped["penalty"],
                        np.where(shipped["kind"] == "order", "Open orders", "Forecast sales"), shipped["ref"],
                        shipped["sku"], shipped["customer_id"], None))
    ex = shipped[shipped["expedite"] > 0]
    flows.append(_flows(ex["ship_date"], -ex["expedite"], "Expedite freight", ex["ref"], ex["sku"],
                        ex["customer_id"], None))
    ot = shipped[shipped["overtime"] > 0]
    flows.append(_flows(ot["ship_date"], -ot["overtime"], "Overtime", ot["ref"], ot["sku"], ot["customer_id"], None))
    po_pay = po["receipt_date"] + pd.to_timedelta(po["terms_days"].round(), unit="D")
    flows.append(_flows(po_pay, -po["qty"] * (po["unit_cost"] + po["cost_change"]), "Open POs", po["ref"], po["sku"],
                        None, po["supplier_id"]))
    pl_pay = pl["receipt_date"] + pd.to_timedelta(pl["terms_days"].round(), unit="D")
    flows.append(_flows(pl_pay, -pl["qty"] * pl["unit_cost"], "Planned POs", "planned:" + pl["sku"], pl["sku"],
                        None, pl["supplier_id"]))
    if static:
        flows.append(_flows(inp.ar["collect_date"], inp.ar["amount"], "AR collections", inp.ar["invoice_id"], None,
                            inp.ar["customer_id"], None))
        flows.append(_flows(inp.ap["pay_date"], -inp.ap["amount"], "AP bills", inp.ap["bill_id"], None, None,
                            inp.ap["supplier_id"]))
        o = inp.other
        flows.append(_flows(o["date"], o["amount"], np.where(o["amount"] >= 0, "Other receipts", "Other payments"),
                            o["item"], None, None, None))
    c = inp.costs  # event costs are not SKU flows but always included, so with - without isolates them
    flows.append(_flows(c["date"].clip(lower=start), -c["amount"], "One-off costs", c["ref"], None, None, None))
    fl = pd.concat([f for f in flows if len(f)], ignore_index=True) if any(len(f) for f in flows) else \
        pd.DataFrame(columns=_FLOW_COLS)
    fl["date"] = pd.to_datetime(fl["date"]).clip(lower=start)
    fl = fl[fl["date"] <= end].copy()
    fl["week"] = to_week(fl["date"])
    fl = fl[_FLOW_COLS].reset_index(drop=True)

    # -- P&L lines (revenue at shipment, standard COGS, penalties as contra-revenue, costs when incurred)
    pnl = [
        _pnl(shipped["ship_date"], shipped["value"], "revenue", shipped["ref"], shipped["sku"]),
        _pnl(shipped["ship_date"], -shipped["cost"], "cogs", shipped["ref"], shipped["sku"]),
        _pnl(shipped["ship_date"], -shipped["penalty"], "penalty", shipped["ref"], shipped["sku"]),
        _pnl(ex["ship_date"], -ex["expedite"], "expedite", ex["ref"], ex["sku"]),
        _pnl(ot["ship_date"], -ot["overtime"], "overtime", ot["ref"], ot["sku"]),
        _pnl(po["receipt_date"], -po["qty"] * po["cost_change"], "ppv", po["ref"], po["sku"]),
    ]
    pnl.append(_pnl(inp.costs["date"].clip(lower=start), -inp.costs["amount"], "one_off", inp.costs["ref"], None))
    pn = pd.concat([p for p in pnl if len(p)], ignore_index=True) if any(len(p) for p in pnl) else \
        pd.DataFrame(columns=_PNL_COLS)
    pn = pn[pn["amount"] != 0].reset_index(drop=True)

    # -- inventory at each week's end and goods received
    rec_all = pd.concat([po[["sku", "receipt_date", "qty"]].assign(val=po["qty"] * (po["unit_cost"] + po["cost_change"])),
                         pl[["sku", "receipt_date", "qty"]].assign(val=pl["qty"] * pl["unit_cost"])], ignore_index=True)
    out_all = shipped.loc[shipped["consumes"] & (shipped["ship_date"] <= end), ["sku", "ship_date", "qty"]]
    rec_wk = np.zeros((S, H))
    rec_val = np.zeros((S, H))      # at what the supplier bills: PO cost for open POs, standard for planned
    out_wk = np.zeros((S, H))
    if len(rec_all):
        wi = ((rec_all["receipt_date"] - start).dt.days // 7).to_numpy()
        ok = wi < H
        at = (rec_all["sku"].map(idx).to_numpy()[ok], wi[ok].astype(int))
        np.add.at(rec_wk, at, rec_all["qty"].to_numpy()[ok])
        np.add.at(rec_val, at, rec_all["val"].to_numpy()[ok])
    if len(out_all):
        wi = np.clip(((out_all["ship_date"] - start).dt.days // 7).to_numpy(), 0, None)
        np.add.at(out_wk, (out_all["sku"].map(idx).to_numpy(), wi.astype(int)), out_all["qty"].to_numpy())
    units = np.maximum(stock.to_numpy()[:, None] + np.cumsum(rec_wk - out_wk, axis=1), 0.0)
    cost = sk["unit_cost"].to_numpy()[:, None]
    inv_rows = pd.DataFrame({"week": np.tile(np.array(inp.weeks), S), "sku": np.repeat(sk.index.to_numpy(), H),
                             "units": units.ravel(), "value": (units * cost).ravel()})
    rec_rows = pd.DataFrame({"week": np.tile(np.array(inp.weeks), S), "sku": np.repeat(sk.index.to_numpy(), H),
                             "units": rec_wk.ravel(), "value": rec_val.ravel()})
    shipments = items.drop(columns=["need", "alloc_date"])
    return Projection(fl, pn, shipments.reset_index(drop=True), inv_rows, rec_rows)


def _penalty(value, days_late, pct, cap, a: Assumptions) -> np.ndarray:
    """Late-delivery penalty: value x min(cap, pct x weeks late) (no cap when cap is NaN)."""
    d = np.maximum(np.asarray(days_late, dtype=float) - a.penalty_grace_days, 0.0)
    weeks = np.ceil(d / 7.0 - 1e-9) if a.penalty_rounding == "week_started" else d / 7.0
    share = np.asarray(pct, dtype=float) * weeks
    cap = np.asarray(cap, dtype=float)
    share = np.where(np.isnan(cap), share, np.minimum(share, cap))
    return np.asarray(value, dtype=float) * np.nan_to_num(share)


def _flows(date, amount, flow, ref, sku, customer, supplier) -> pd.DataFrame:
    n = len(date)
    if n == 0:
        return pd.DataFrame(columns=_FLOW_COLS)

    def col(v):
        return np.asarray(v) if v is not None and not isinstance(v, str) else np.full(n, v, dtype=object)

    return pd.DataFrame({"date": pd.to_datetime(np.asarray(date)), "week": None,
                         "flow": col(flow), "amount": np.asarray(amount, dtype=float), "ref": col(ref),
                         "sku": col(sku), "customer_id": col(customer), "supplier_id": col(supplier)})


def _pnl(date, amount, kind, ref, sku) -> pd.DataFrame:
    n = len(date)
    if n == 0:
        return pd.DataFrame(columns=_PNL_COLS)
    return pd.DataFrame({"date": pd.to_datetime(np.asarray(date)), "kind": kind,
                         "amount": np.asarray(amount, dtype=float),
                         "ref": np.asarray(ref) if ref is not None and not isinstance(ref, str) else ref,
                         "sku": np.asarray(sku) if sku is not None else None})


# ---------------------------------------------------------------- tables


def weekly_cash(flows: pd.DataFrame, weeks: list[str], opening_cash: float, scenario: str = "baseline") -> pd.DataFrame:
    """The weekly direct-method table: one row per week.

    Args:
        flows: dated flows (week, flow, amount signed).
        weeks: the forecast weeks, in order.
        opening_cash: cash at the start of the first week.
        scenario: label put in the ``scenario`` column.
    Returns:
        scenario, week, opening_cash, receipts, payments, closing_cash (currency, rounded to
        the cent; closing = opening + receipts - payments and next opening = this closing,
        exactly), then one column per flow category (signed).
    """
    f = flows[flows["week"].isin(weeks)]
    by = f.pivot_table(index="week", columns="flow", values="amount", aggfunc="sum", fill_value=0.0)
    by = by.reindex(index=weeks, columns=list(RECEIPT_FLOWS + PAYMENT_FLOWS), fill_value=0.0).fillna(0.0)
    receipts = by[list(RECEIPT_FLOWS)].sum(axis=1).round(2)
    payments = (-by[list(PAYMENT_FLOWS)].sum(axis=1)).round(2)
    opening, rows = round(float(opening_cash), 2), []
    for w in weeks:
        closing = round(opening + float(receipts[w]) - float(payments[w]), 2)
        rows.append((scenario, w, opening, float(receipts[w]), float(payments[w]), closing))
        opening = closing
    out = pd.DataFrame(rows, columns=["scenario", "week", "opening_cash", "receipts", "payments", "closing_cash"])
    detail = by.reset_index(drop=True).round(2)
    detail.columns = [c for c in detail.columns]
    return pd.concat([out, detail], axis=1)


def cash_summary(weekly: pd.DataFrame, min_cash: float) -> dict:
    """Headline figures of one weekly table.

    Returns:
        dict with week13_closing (closing cash of the last week), lowest_week, lowest_cash,
        margin_over_min (lowest - min_cash; negative = below the minimum), first_breach_week
        (first week closing below ``min_cash``, or None) and runway_weeks (whole weeks before
        that breach, or None when cash stays above the minimum over the horizon).
    """
    i = int(weekly["closing_cash"].to_numpy().argmin())
    below = np.flatnonzero(weekly["closing_cash"].to_numpy() < min_cash)
    return {
        "week13_closing": float(weekly["closing_cash"].iloc[-1]),
        "lowest_week": str(weekly["week"].iloc[i]),
        "lowest_cash": float(weekly["closing_cash"].iloc[i]),
        "margin_over_min": float(weekly["closing_cash"].iloc[i] - min_cash),
        "first_breach_week": str(weekly["week"].iloc[below[0]]) if len(below) else None,
        "runway_weeks": int(below[0]) if len(below) else None,
    }


def pnl_in_window(pnl: pd.DataFrame, first, last) -> pd.Series:
    """P&L lines between two dates (inclusive) summed by kind (+ = adds to profit), currency."""
    p = pnl[(pnl["date"] >= pd.Timestamp(first)) & (pnl["date"] <= pd.Timestamp(last))]
    return p.groupby("kind")["amount"].sum()


def working_capital(inp: CashInputs, proj: Projection, tables: dict[str, pd.DataFrame], cal: FiscalCalendar,
                    plan_inventory_weeks: float | None = None) -> pd.DataFrame:
    """AR, inventory and AP now, at the level the plan implies, and projected at the horizon's end.

    - *Now*: open AR (incl. doubtful), stock at standard cost, open AP bills, at the cutoff.
    - *Plan*: the S&OP plan's revenue and COGS of the run week's quarter, per day, times the
      customers' and suppliers' nominal terms (revenue-/spend-weighted): what AR and AP would
      be if everyone paid on terms at plan volume; inventory = plan weekly COGS x
      ``plan_inventory_weeks`` (default: the company's current weeks of cover).
    - *Projected*: AR + shipped value - collections, stock after projected receipts and
      shipments, AP + goods received - payments, at the end of the horizon.

    Returns:
        item (AR, Inventory, AP, Net working capital), now, plan, projected, and the days
        (DSO / DIO / DPO) for now and plan, with ``days_now_label`` naming the measure, its period and
        basis (:mod:`soe_helpers.analysis.measures`). Net working capital = AR + Inventory - AP.
    """
    t = tables
    start, end = inp.start, inp.end
    ar_now = float(inp.ar["amount"].sum() + (inp.doubtful_ar["amount"].sum() if inp.doubtful_ar is not None else 0))
    cost = inp.skus.set_index("sku")["unit_cost"]
    inv_now = float((inp.stock.set_index("sku")["on_hand"] * cost.reindex(inp.stock["sku"]).to_numpy()).sum())
    if "inventory" in inp.absent:  # stock not known: not a zero balance
        inv_now = np.nan
    ap_now = float(inp.ap["amount"].sum())

    f = proj.flows
    sh = proj.shipments
    shipped_val = float((sh.loc[sh["ship_date"].between(start, end), "value"]
                         - sh.loc[sh["ship_date"].between(start, end), "penalty"]).sum())
    collected = float(f.loc[f["flow"].isin(["AR collections", "Open orders", "Forecast sales"]), "amount"].sum())
    received = float(proj.receipts_in["value"].sum())
    paid = float(-f.loc[f["flow"].isin(["AP bills", "Open POs", "Planned POs"]), "amount"].sum())
    last = inp.weeks[-1]
    inv_end = float(proj.inventory.loc[proj.inventory["week"] == last, "value"].sum()) if inp.supply_known else np.nan
    ar_end = ar_now + shipped_val - collected
    ap_end = ap_now + received - paid
    if not inp.supply_known and not len(inp.pos):  # no goods received are modelled: the bills to come are unknown
        ap_end = np.nan

    q = cal.quarter_of(inp.week)
    plan = t.get("plan")
    rev_day = cogs_day = np.nan
    if plan is not None and len(plan):
        pq = plan[plan["week"].isin(cal.quarter_weeks(q))]
        nd = 7 * len(cal.quarter_weeks(q))
        # a plan in revenue only has no COGS: AP and inventory at plan are not known (NaN), never zero
        rev_day, cogs_day = pq["revenue"].sum(min_count=1) / nd, pq["cogs"].sum(min_count=1) / nd
    inv = t["invoices"]
    w = inv[(inv["amount"] > 0) & (inv["invoice_date"] > start - pd.Timedelta(days=365))].groupby("customer_id")[
        "amount"].sum()
    terms = t["customers"].set_index("customer_id")["payment_terms_days"].reindex(w.index).astype(float)
    dso_plan = float((w * terms).sum() / w.sum()) if w.sum() > 0 else np.nan
    bl = t["bills"]
    ws = bl[bl["bill_date"] > start - pd.Timedelta(days=365)].groupby("supplier_id")["amount"].sum()
    sterms = t["suppliers"].set_index("supplier_id")["payment_terms_days"].reindex(ws.index).astype(float)
    dpo_plan = float((ws * sterms).sum() / ws.sum()) if ws.sum() > 0 else np.nan
    cogs_rate = float(inp.demand["qty"].mul(inp.demand["unit_cost"]).sum()) / (7 * len(inp.weeks)) if len(inp.demand) else np.nan
    dio_now = inv_now / cogs_rate if cogs_rate and cogs_rate > 0 else np.nan  # NaN without inventory
    dio_plan = (plan_inventory_weeks * 7) if plan_inventory_weeks is not None else dio_now
    rev_rate = float(inp.demand["qty"].mul(inp.demand["unit_price"]).sum()) / (7 * len(inp.weeks)) if len(inp.demand) else np.nan
    # days now: the one definition of each measure (analysis.measures), on the balance at the cutoff and the
    # horizon's forecast flows; the label says so beside the number (the KPI report's are 13-week averages)
    nd = 7 * len(inp.weeks)
    per = measures.period_label("now", inp.week)
    fwd = f"{inp.weeks[0]} to {inp.weeks[-1]}"
    m_dso = measures.dso(ar_now, rev_rate * nd, nd, period=per, basis=f"on forecast sales of {fwd}")
    m_dio = measures.dio(inv_now, cogs_rate * nd, nd, period=per, basis=f"on forecast COGS of {fwd}")
    m_dpo = measures.dpo(ap_now, cogs_rate * nd, nd, period=per, basis=f"on forecast COGS of {fwd}")
    rows = [
        ("AR", ar_now, rev_day * dso_plan, ar_end, m_dso.value, dso_plan, m_dso.label),
        ("Inventory", inv_now, cogs_day * dio_plan, inv_end, m_dio.value, dio_plan, m_dio.label),
        ("AP", ap_now, cogs_day * dpo_plan, ap_end, m_dpo.value, dpo_plan, m_dpo.label),
    ]
    out = pd.DataFrame(rows, columns=["item", "now", "plan", "projected", "days_now", "days_plan", "days_now_label"])
    nwc = out.loc[0, ["now", "plan", "projected"]] + out.loc[1, ["now", "plan", "projected"]] - \
        out.loc[2, ["now", "plan", "projected"]]
    ccc_now = out.loc[0, "days_now"] + out.loc[1, "days_now"] - out.loc[2, "days_now"]
    ccc_plan = out.loc[0, "days_plan"] + out.loc[1, "days_plan"] - out.loc[2, "days_plan"]
    out.loc[3] = ["Net working capital", nwc["now"], nwc["plan"], nwc["projected"], ccc_now, ccc_plan,
                  measures.ccc(m_dso, m_dio, m_dpo).label]
    return out
