"""The quarter landing: what the quarter's shipped revenue will be if nothing changes.

One definition, used by the demand reconciliation, its record and the summary:

    landing = shipped quarter-to-date
            + open backlog expected to ship inside the quarter
            + demand not yet booked that is expected to be booked and shipped inside it

- *Open backlog* (:func:`open_backlog`): order lines booked by the cutoff, not cancelled, with units
  not yet shipped by it, valued at the line's net price. Each is expected to ship on its scheduled date,
  else its promised date, else its requested date; a line already past that date is expected in the first
  week after the cutoff (it is late, not lost). Lines expected after the quarter's last day are the
  backlog *after* the quarter.
- *Unbooked demand* (:func:`unbooked_demand`): the latest forecast of bookings for each remaining week
  of the quarter, less what is already booked for that week (forecast consumption), valued at plan price.
  Only the part expected to ship by quarter end counts: a week's bookings ship after the company's
  observed order-to-ship lead times (:func:`lead_times`, the last 13 weeks of shipments), so late-quarter
  bookings mostly land in the next quarter. Weeks without a forecast use the plan's revenue.
- *Corrected landing*: the same, with each product line's unbooked demand corrected by the forecast
  feedback's bias correction at its lag (negative = the forecast runs high).
- *Slip risk*: backlog expected inside the quarter that could still slip past its end: lines already
  past due, rescheduled after their promise, or expected in the quarter's last week.

Sign convention: amounts in the company currency; gap = landing - plan (negative = behind plan).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import to_week, week_end, week_start

__all__ = ["BACKLOG_COLUMNS", "open_backlog", "lead_times", "ship_share_by", "unbooked_demand",
           "quarter_landing", "corrected_unbooked", "slip_risk"]

BACKLOG_COLUMNS = ["order_id", "line", "customer_id", "sku", "qty", "unit_price", "value", "order_date",
                   "requested_date", "promised_date", "scheduled_date", "expected_date", "past_due", "rescheduled"]


def open_backlog(orders: pd.DataFrame, shipments: pd.DataFrame | None, cutoff) -> pd.DataFrame:
    """Order lines open at the end of ``cutoff`` (a date), one row each, with :data:`BACKLOG_COLUMNS`.

    ``qty`` = ordered units - units shipped by the cutoff (> 0); ``value`` = qty x net unit price;
    ``expected_date`` = scheduled, else promised, else requested date, moved to the day after the cutoff
    when already past (``past_due``); ``rescheduled`` = scheduled after the promise.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    o = orders[orders["order_date"] <= cutoff]
    if "status" in o:
        o = o[o["status"].fillna("open") != "cancelled"]
    shipped = pd.Series(0.0, index=o.index)
    shipped_ever = pd.Series(0.0, index=o.index)
    if shipments is not None and len(shipments):
        keys = pd.MultiIndex.from_arrays([o["order_id"], o["line"]])
        sh = shipments[shipments["ship_date"] <= cutoff].groupby(["order_id", "line"])["quantity"].sum()
        shipped = pd.Series(sh.reindex(keys).fillna(0.0).to_numpy(), index=o.index)
        ever = shipments.groupby(["order_id", "line"])["quantity"].sum()
        shipped_ever = pd.Series(ever.reindex(keys).fillna(0.0).to_numpy(), index=o.index)
    owed = o["quantity"].astype(float)
    if "status" in o:
        # A line the ERP has closed owes nothing beyond what it shipped in the end: at a cutoff before its last
        # shipment (a past week, as a backfill runs it) it was open by what shipped after; closed short, the rest
        # was never owed. The status is today's, so dropping closed lines would empty every past week's backlog.
        closed = o["status"].fillna("open").to_numpy() == "closed"
        owed = owed.where(~closed, np.minimum(owed, shipped_ever))
    qty = owed - shipped
    keep = qty > 1e-9
    o, qty = o[keep], qty[keep]
    nat = pd.Series(pd.NaT, index=o.index, dtype="datetime64[ns]")
    sched = o["scheduled_date"] if "scheduled_date" in o else nat
    promised = o["promised_date"] if "promised_date" in o else nat
    requested = o["requested_date"] if "requested_date" in o else nat
    planned = sched.where(sched.notna(), promised.where(promised.notna(), requested))
    past_due = (planned <= cutoff).to_numpy()
    expected = planned.where(planned > cutoff, cutoff + pd.Timedelta(days=1))
    out = pd.DataFrame({
        "order_id": o["order_id"].astype(str).to_numpy(), "line": o["line"].astype(int).to_numpy(),
        "customer_id": o["customer_id"].astype(str).to_numpy(), "sku": o["sku"].astype(str).to_numpy(),
        "qty": qty.to_numpy(dtype=float), "unit_price": o["unit_price"].astype(float).to_numpy(),
        "order_date": o["order_date"].to_numpy(), "requested_date": requested.to_numpy(),
        "promised_date": promised.to_numpy(), "scheduled_date": sched.to_numpy(),
        "expected_date": expected.to_numpy(), "past_due": past_due,
        "rescheduled": (sched.notna() & promised.notna() & (sched > promised)).to_numpy(),
    })
    out["value"] = out["qty"] * out["unit_price"]
    return out[BACKLOG_COLUMNS].reset_index(drop=True)


def lead_times(orders: pd.DataFrame, shipments: pd.DataFrame | None, cutoff, weeks: int = 13) -> pd.DataFrame:
    """Observed order-to-ship lead times: days from order date to ship date of every shipment in the
    ``weeks`` before ``cutoff``, with the shipped value as weight (columns ``days``, ``weight``).
    Empty when nothing shipped (the caller then assumes the promise lead times)."""
    cutoff = pd.Timestamp(cutoff).normalize()
    if shipments is None or shipments.empty:
        return pd.DataFrame({"days": pd.Series(dtype=float), "weight": pd.Series(dtype=float)})
    sh = shipments[(shipments["ship_date"] <= cutoff) & (shipments["ship_date"] > cutoff - pd.Timedelta(weeks=weeks))]
    m = sh.merge(orders[["order_id", "line", "order_date", "unit_price"]], on=["order_id", "line"], how="inner")
    days = (m["ship_date"] - m["order_date"]).dt.days.clip(lower=0).astype(float)
    return pd.DataFrame({"days": days.to_numpy(), "weight": (m["quantity"] * m["unit_price"]).astype(float).to_numpy()})


def ship_share_by(book_week: str, last_day, lags: pd.DataFrame) -> float:
    """Share of the value booked during ``book_week`` (spread evenly over its 7 days) that ships on or
    before ``last_day``, by the lead-time distribution ``lags`` (:func:`lead_times`); 1.0 without lags."""
    if lags.empty or lags["weight"].sum() <= 0:
        return 1.0
    last_day = pd.Timestamp(last_day).normalize()
    days = lags["days"].to_numpy()
    w = lags["weight"].to_numpy() / lags["weight"].sum()
    start = week_start(book_week)
    shares = [float(w[days <= (last_day - (start + pd.Timedelta(days=d))).days].sum()) for d in range(7)]
    return float(np.mean(shares))


def unbooked_demand(forecast: pd.DataFrame, booked: pd.DataFrame, weeks: list[str], last_day,
                    lags: pd.DataFrame) -> pd.DataFrame:
    """Demand for the remaining ``weeks`` not yet booked, and the part of it expected to ship by ``last_day``.

    Args:
        forecast: rows (week, sku, product_line, revenue) of the latest forecast at plan price; weeks
            the forecast does not cover may be filled by the caller (e.g. with plan revenue).
        booked: order lines already booked with an order date in those weeks (week, sku, revenue at
            plan price): they consume the forecast.
        weeks: the quarter's remaining weeks; last_day: the quarter's last day.
        lags: :func:`lead_times`.
    Returns:
        week, sku, product_line, forecast, consumed, unbooked (= max(forecast - booked, 0)), ship_share,
        in_quarter (= unbooked x ship_share), all in currency.
    """
    f = forecast[forecast["week"].isin(weeks)].groupby(["week", "sku", "product_line"], as_index=False, dropna=False)[
        "revenue"].sum().rename(columns={"revenue": "forecast"})
    b = booked[booked["week"].isin(weeks)].groupby(["week", "sku"], as_index=False)["revenue"].sum()
    f = f.merge(b.rename(columns={"revenue": "consumed"}), on=["week", "sku"], how="left")
    f["consumed"] = f["consumed"].fillna(0.0).clip(upper=f["forecast"])
    f["unbooked"] = (f["forecast"] - f["consumed"]).clip(lower=0.0)
    share = {w: ship_share_by(w, last_day, lags) for w in weeks}
    f["ship_share"] = f["week"].map(share).astype(float)
    f["in_quarter"] = f["unbooked"] * f["ship_share"]
    return f


def quarter_landing(shipped: pd.DataFrame, plan: pd.DataFrame, backlog: pd.DataFrame, unbooked: pd.DataFrame,
                    quarter_weeks: list[str], week: str) -> tuple[dict, pd.DataFrame]:
    """The quarter landing and its weekly path (see the module docstring).

    Args:
        shipped: shipped revenue rows (week, revenue); plan: plan rows (week, revenue).
        backlog: :func:`open_backlog` rows; unbooked: :func:`unbooked_demand` rows, with
            ``in_quarter_corrected`` when bias corrections are known (:func:`corrected_unbooked`).
        quarter_weeks: the quarter's weeks; week: the run week (last week with actuals).
    Returns:
        (figures, weekly). figures: quarter_weeks, weeks_elapsed, plan_quarter, plan_qtd, actual_qtd,
        backlog_in_quarter, backlog_after_quarter, backlog_past_due, unbooked_in_quarter, unbooked_total,
        landing, gap, gap_pct, landing_corrected, gap_corrected, weeks_without_forecast (filled by the caller).
        weekly: week, plan, actual, backlog, unbooked, cum_plan, cum_outlook.
    """
    i = quarter_weeks.index(week)
    qtd, rest = quarter_weeks[: i + 1], quarter_weeks[i + 1:]
    last_day = week_end(quarter_weeks[-1]).normalize()
    pw = plan[plan["week"].isin(quarter_weeks)].groupby("week")["revenue"].sum().reindex(quarter_weeks, fill_value=0.0)
    aw = shipped[shipped["week"].isin(qtd)].groupby("week")["revenue"].sum().reindex(qtd, fill_value=0.0)
    bl = backlog.assign(week=to_week(backlog["expected_date"]))
    inq = bl[bl["expected_date"] <= last_day] if rest else bl.iloc[:0]
    bw = inq.groupby("week")["value"].sum()
    uw = unbooked.groupby("week")["in_quarter"].sum() if len(unbooked) else pd.Series(dtype=float)
    weekly = pd.DataFrame({"week": quarter_weeks, "plan": pw.to_numpy()})
    weekly["actual"] = weekly["week"].map(aw)
    weekly["backlog"] = weekly["week"].map(bw).where(weekly["week"].isin(rest))
    weekly["unbooked"] = weekly["week"].map(uw).where(weekly["week"].isin(rest))
    weekly["cum_plan"] = weekly["plan"].cumsum()
    weekly["cum_outlook"] = weekly[["actual", "backlog", "unbooked"]].fillna(0.0).sum(axis=1).cumsum()
    unbooked_corrected = float(unbooked["in_quarter_corrected"].sum()) if "in_quarter_corrected" in unbooked \
        else float(unbooked["in_quarter"].sum()) if len(unbooked) else 0.0
    actual, b_in, u_in = float(aw.sum()), float(inq["value"].sum()), float(uw.sum())
    plan_q = float(pw.sum())
    landing = actual + b_in + u_in
    landing_c = actual + b_in + unbooked_corrected
    figures = {
        "quarter_weeks": len(quarter_weeks), "weeks_elapsed": len(qtd),
        "plan_quarter": plan_q, "plan_qtd": float(pw.reindex(qtd).sum()), "actual_qtd": actual,
        "backlog_in_quarter": b_in, "backlog_after_quarter": float(bl["value"].sum()) - b_in,
        "backlog_past_due": float(bl.loc[bl["past_due"].astype(bool), "value"].sum()) if len(bl) else 0.0,
        "unbooked_in_quarter": u_in, "unbooked_total": float(unbooked["unbooked"].sum()) if len(unbooked) else 0.0,
        "landing": landing, "gap": landing - plan_q, "gap_pct": (landing - plan_q) / plan_q if plan_q else float("nan"),
        "landing_corrected": landing_c, "gap_corrected": landing_c - plan_q,
    }
    return figures, weekly


def corrected_unbooked(unbooked: pd.DataFrame, corrections: pd.DataFrame | None, lags: pd.Series) -> pd.DataFrame:
    """``unbooked`` with ``correction_pct`` and ``in_quarter_corrected`` (= in_quarter x (1 + correction)).

    Args:
        corrections: the forecast feedback's product-line corrections (level, key, lag, correction_pct;
            negative = the forecast runs high), None = none known (no change).
        lags: the forecast lag of each unbooked row (target week - snapshot week), aligned with ``unbooked``;
            a lag beyond the corrections' longest takes the longest's correction.
    """
    out = unbooked.copy()
    pct = pd.Series(0.0, index=out.index)
    if corrections is not None and len(corrections) and len(out):
        c = corrections[corrections["level"] == "product_line"]
        top = int(c["lag"].max()) if len(c) else 0
        look = {(str(k), int(lg)): float(v) for k, lg, v in zip(c["key"], c["lag"], c["correction_pct"])}
        pct = pd.Series([look.get((str(pl), min(int(lg), top)), 0.0) for pl, lg in zip(out["product_line"], lags)],
                        index=out.index)
    out["correction_pct"] = pct
    out["in_quarter_corrected"] = out["in_quarter"] * (1.0 + pct)
    return out


def slip_risk(backlog: pd.DataFrame, quarter_weeks: list[str], week: str) -> pd.DataFrame:
    """Backlog expected inside the quarter that could slip past its end, largest first: lines already past
    due, rescheduled after their promise, or expected in the quarter's last week (``reason`` says which)."""
    last_day = week_end(quarter_weeks[-1]).normalize()
    if quarter_weeks[-1] == week or backlog.empty:
        return backlog.iloc[:0].assign(reason=pd.Series(dtype=str))
    inq = backlog[backlog["expected_date"] <= last_day]
    last_week = inq["expected_date"] >= week_start(quarter_weeks[-1])
    reason = np.select([inq["past_due"].astype(bool), inq["rescheduled"].astype(bool), last_week],
                       ["past due", "rescheduled after its promise", "expected in the quarter's last week"], "")
    out = inq.assign(reason=reason)
    out = out[out["reason"] != ""]
    return out.sort_values(["value", "order_id", "line"], ascending=[False, True, True], kind="stable").reset_index(drop=True)

