"""What a thin company's exports leave out, inferred in one place, each inference stated.

A company starting out exports orders, products and customers; the demo's shipments table, its requested
and promised dates may be missing. :func:`complete_tables` runs at the end of every load
(:func:`soe_helpers.data.loaders.load_tables`: the weekly run, ``soe validate`` and an analyst's notebook), so
every report reads the same completed tables, and returns one short sentence per inference (the *data
notes* the reports print):

- **Due dates.** ``requested_date`` absent (or empty on a line) -> the order date + ``lead_time_days``
  (``data.order_lead_time_days``); ``promised_date`` absent or empty -> the requested date.
- **Shipments.** No shipments table -> from the orders' own ``ship_date`` and ``shipped_quantity`` columns
  (one shipment per line, on its first ship date, of the units shipped to date: a line shipped in parts is
  counted as shipped in full on its first date); else from invoices that name their order (each line of
  an invoiced order shipped in full on the invoice date); else none (nothing shipped can be measured).
"""
from __future__ import annotations

import pandas as pd

__all__ = ["complete_orders", "shipments_from_orders", "shipments_from_invoices", "complete_frames"]


def _n(k: int, what: str) -> str:
    return f"{k:,} {what}{'s' if k != 1 else ''}"


def _have(k: int) -> str:
    return "has" if k == 1 else "have"


def complete_orders(orders: pd.DataFrame, lead_time_days: int, given: set[str] | None = None
                    ) -> tuple[pd.DataFrame, list[str]]:
    """``orders`` with every requested and promised date filled (rule in the module docstring), and notes.

    Args:
        orders: validated order lines (``order_date`` required; ``requested_date``/``promised_date`` may be
            absent or hold empty values).
        lead_time_days: days from order date to the requested date when none is given.
        given: the columns the source mapped (None = those present in ``orders``); decides whether a note
            says the column was absent or only some lines were empty.
    Returns:
        (a new frame, one sentence per inference).
    """
    out = orders.copy()
    given = set(out.columns) if given is None else given
    notes = []
    nat = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    req = out["requested_date"] if "requested_date" in out else nat
    miss = req.isna()
    if miss.any():
        req = req.where(~miss, out["order_date"] + pd.Timedelta(days=int(lead_time_days)))
        notes.append(("The orders have no requested date" if "requested_date" not in given or miss.all() else
                      f"{_n(int(miss.sum()), 'order line')} {_have(int(miss.sum()))} no requested date")
                     + f": the order date + {lead_time_days} days (data.order_lead_time_days) is used.")
    out["requested_date"] = req.astype("datetime64[ns]")
    prom = out["promised_date"] if "promised_date" in out else nat
    miss = prom.isna()
    if miss.any():
        prom = prom.where(~miss, out["requested_date"])
        notes.append(("The orders have no promised date" if "promised_date" not in given or miss.all() else
                      f"{_n(int(miss.sum()), 'order line')} {_have(int(miss.sum()))} no promised date")
                     + ": the requested date is used as the promise.")
    out["promised_date"] = prom.astype("datetime64[ns]")
    return out, notes


def shipments_from_orders(orders: pd.DataFrame) -> pd.DataFrame | None:
    """Shipments (the canonical table's columns) from the orders' ``ship_date`` and ``shipped_quantity``;
    None when the orders carry neither. A line with a quantity but no date, or nothing shipped, has none."""
    if "ship_date" not in orders or "shipped_quantity" not in orders or \
            (orders["ship_date"].isna().all() and orders["shipped_quantity"].isna().all()):
        return None
    o = orders[orders["ship_date"].notna() & (orders["shipped_quantity"].fillna(0) > 0)]
    return pd.DataFrame({
        "shipment_id": (o["order_id"].astype(str) + "/" + o["line"].astype(str)).to_numpy(),
        "order_id": o["order_id"].astype(str).to_numpy(), "line": o["line"].to_numpy(),
        "ship_date": o["ship_date"].to_numpy(), "quantity": o["shipped_quantity"].astype(float).to_numpy(),
    }).astype({"line": "Int64"})


def shipments_from_invoices(orders: pd.DataFrame, invoices: pd.DataFrame | None) -> pd.DataFrame | None:
    """Shipments inferred from invoices naming their order: each line of an invoiced order (cancelled lines
    excepted) shipped in full on the order's first invoice date. None when no invoice names an order."""
    if invoices is None or "order_id" not in invoices or invoices["order_id"].isna().all():
        return None
    first = invoices.dropna(subset=["order_id"]).groupby("order_id")["invoice_date"].min()
    o = orders[orders["order_id"].isin(first.index)]
    if "status" in o:
        o = o[o["status"].fillna("open") != "cancelled"]
    return pd.DataFrame({
        "shipment_id": ("INV/" + o["order_id"].astype(str) + "/" + o["line"].astype(str)).to_numpy(),
        "order_id": o["order_id"].astype(str).to_numpy(), "line": o["line"].to_numpy(),
        "ship_date": o["order_id"].map(first).to_numpy(), "quantity": o["quantity"].astype(float).to_numpy(),
    }).astype({"line": "Int64"})


def complete_frames(frames: dict[str, pd.DataFrame], lead_time_days: int,
                    given: dict[str, set[str]] | None = None) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The tables with the inferences of the module docstring applied, and their data notes.

    Args:
        frames: canonical name -> validated frame (``orders`` needed for anything to be inferred).
        lead_time_days: ``data.order_lead_time_days``.
        given: canonical name -> the columns its source mapped (the load's headers).
    Returns:
        (a new dict: ``orders`` completed, ``shipments`` added when inferred; the other frames as given,
        the notes in the order of the inferences).
    """
    out = dict(frames)
    notes: list[str] = []
    orders = frames.get("orders")
    if orders is None:
        return out, notes
    out["orders"], n = complete_orders(orders, lead_time_days, (given or {}).get("orders"))
    notes += n
    if "shipments" not in frames:
        sh = shipments_from_orders(orders)
        if sh is not None:
            notes.append("No shipments table: shipped is read from the orders' ship date and shipped quantity "
                         f"({_n(len(sh), 'line')} shipped; a line shipped in parts counts on its first ship date).")
        else:
            sh = shipments_from_invoices(orders, frames.get("invoices"))
            if sh is not None:
                notes.append("No shipments table and no ship dates on the orders: an invoiced order's lines are "
                             f"taken as shipped in full on its first invoice date ({_n(len(sh), 'line')}).")
            else:
                notes.append("No shipments table, no ship dates on the orders and no invoices naming their "
                             "order: nothing shipped can be measured.")
        if sh is not None:
            out["shipments"] = sh
    return out, notes
