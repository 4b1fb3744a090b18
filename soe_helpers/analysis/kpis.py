"""Execution KPIs finance watches each week: order fulfilment, working-capital days and gross margin.

Every KPI is computed for three periods ending with the run week: the **week**, the
**trailing 13 weeks** (``13w``) and the **quarter to date** (``quarter``, under the
company's fiscal calendar), and judged against a target from ``params.kpis.targets``.

Order fulfilment (:func:`line_fulfilment`, :func:`fulfilment_summary`)
    The population is every order line (cancelled lines and zero quantities excluded)
    whose *due date* (the promised date, or the requested date when
    ``kpis.due_date: requested``) falls in the period. Each line is measured at the end
    of the week it fell due, so a week's figure never changes once the week is over and
    the 13-week and quarter figures are exactly the pooled weekly ones.

    - **On time**: at least one unit shipped by the measurement date, and every unit
      shipped by then shipped on or before the due date (+ ``on_time_tolerance_days``).
      A split delivery is on time only if every part is; a line with nothing shipped is late.
    - **In full**: units shipped by the measurement date >= ordered units x
      (1 - ``in_full_tolerance``). The parts of a split delivery add up.
    - **OTIF**: on time and in full.

    Each is reported two ways: the share of *lines* (count) and the share of *value*
    (line value = ordered units x net unit price, in currency).

Working capital (:func:`working_capital`), days = 7 x weeks in the period
    - **DSO** = AR / revenue x days. Revenue is invoiced revenue (credit notes net) by
      invoice date, or shipped revenue when ``kpis.dso_revenue: shipped``.
    - **DIO** = inventory / COGS x days. COGS = shipped units x standard unit cost.
    - **DPO** = AP / COGS x days (the textbook form: payables over cost of sales).
    - **CCC** = DIO + DSO - DPO (days; lower is better, may be negative).
    - **Inventory turns** = COGS x (365 / days) / inventory (times a year) = 365 / DIO.

    Balances are the **average** of the balance at the start of the period (end of the
    week before) and at the end of each of its weeks (``kpis.balance_basis: average``,
    the default: a week uses (opening + closing) / 2), or the **ending** balance
    (``balance_basis: ending``). AR at a date = invoices dated on or before it less the
    payments received on or before it; AP likewise with bills (paid in full on their
    paid date); inventory = the on-hand value at the end of the week (on-hand units x
    standard cost where the export has no value).

Gross margin by product line (:func:`gross_margin_by_line`)
    Shipped revenue (shipped units x net unit price, by ship date) - COGS (shipped units x
    standard unit cost); margin % = gross margin / shipped revenue.

Signs: every ``gap`` is value - target in the KPI's own unit (share or days); whether
that is good depends on the KPI's direction (:data:`KPI_SPECS`). Dollar translations
(:func:`kpi_exceptions`) are positive = money at stake.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from soe_helpers.data.aggregates import BUCKETS, compute
from soe_helpers.core.calendar import FiscalCalendar, to_week, week_add, week_end, week_range, week_start
from soe_helpers.analysis import measures
from soe_helpers.analysis.measures import days_outstanding
from soe_helpers.analysis.reconcile import shipped_facts
from soe_helpers.core.formats import fmt_money, fmt_pct

__all__ = [
    "LIGHT_RULE", "week_break", "kpi_light", "add_lights", "target_conflicts",
    "PERIODS",
    "PERIOD_LABELS",
    "KPI_SPECS",
    "kpi_periods",
    "line_fulfilment",
    "fulfilment_summary",
    "ar_balance",
    "ap_balance",
    "inventory_value",
    "period_balance",
    "working_capital",
    "gross_margin_by_line",
    "kpi_status",
    "scorecard",
    "kpi_exceptions",
    "weekly_trend",
    "history_rows",
    "HISTORY_COLUMNS",
    "TREND_SERIES",
    "trend_length",
    "trend_as_recorded",
    "trend_caption",
    "fmt_kpi",
    "ExecutionKPIs",
    "execution_kpis",
    "ar_ageing_summary",
    "ar_ageing_headline",
]

PERIODS = ("week", "13w", "quarter")
PERIOD_LABELS = {"week": "Week", "13w": "13 weeks", "quarter": "Quarter to date"}
TRAILING_WEEKS = 13
DAYS_IN_YEAR = 365.0

#: kpi -> (label, unit, better, target key in params.kpis.targets)
KPI_SPECS: dict[str, tuple[str, str, str, str]] = {
    "otif": ("OTIF (share of lines)", "pct", "higher", "otif"),
    "otif_value": ("OTIF (share of value)", "pct", "higher", "otif"),
    "on_time": ("On time (lines)", "pct", "higher", "on_time"),
    "on_time_value": ("On time (value)", "pct", "higher", "on_time"),
    "in_full": ("In full (lines)", "pct", "higher", "in_full"),
    "in_full_value": ("In full (value)", "pct", "higher", "in_full"),
    "dso": ("DSO (days sales outstanding)", "days", "lower", "dso"),
    "dio": ("DIO (days inventory outstanding)", "days", "lower", "dio"),
    "dpo": ("DPO (days payables outstanding)", "days", "higher", "dpo"),
    "ccc": ("Cash conversion cycle (DIO + DSO − DPO)", "days", "lower", "ccc"),
    "inventory_turns": ("Inventory turns (a year)", "x", "higher", "inventory_turns"),
    "gross_margin_pct": ("Gross margin %", "pct", "higher", "gross_margin_pct"),
}


def _require(df: pd.DataFrame, cols, name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {', '.join(missing)}; it has: {', '.join(map(str, df.columns))}")


def kpi_periods(week: str, cal: FiscalCalendar) -> dict[str, list[str]]:
    """The weeks of each KPI period ending with ``week``: the week, the trailing 13 weeks, the quarter to date."""
    return {"week": [week], "13w": week_range(week_add(week, -(TRAILING_WEEKS - 1)), week),
            "quarter": cal.quarter_to_date(week)}


# ---------------------------------------------------------------- order fulfilment


def line_fulfilment(orders: pd.DataFrame, shipments: pd.DataFrame, start, end, *, due: str = "promised",
                    on_time_tolerance_days: int = 0, in_full_tolerance: float = 0.0) -> pd.DataFrame:
    """Order lines falling due between ``start`` and ``end`` (dates, inclusive), scored on time / in full / OTIF.

    See the module docstring for the rules (split and partial deliveries included).

    Args:
        orders: order lines (order_id, line, customer_id, sku, quantity, unit_price, the due-date column, status).
        shipments: shipments (order_id, line, ship_date, quantity).
        start, end: first and last due date of the population.
        due: "promised" or "requested": which date a line is due on.
        on_time_tolerance_days: days after the due date still counted on time.
        in_full_tolerance: share of the ordered units that may be missing and still count in full.
    Returns:
        One row per line: order_id, line, customer_id, sku, due_date, due_week, measured_at, quantity,
        unit_price, value (= quantity x unit_price, currency), shipped_qty, on_time_qty, shipments,
        first_ship_date, last_ship_date, on_time, in_full, otif (bool), outcome (OTIF | late | short |
        late and short | not shipped).
    """
    due_col = {"promised": "promised_date", "requested": "requested_date"}.get(due)
    if due_col is None:
        raise ValueError(f"due={due!r}: expected 'promised' or 'requested'")
    _require(orders, ["order_id", "line", "customer_id", "sku", "quantity", "unit_price", due_col], "orders")
    _require(shipments, ["order_id", "line", "ship_date", "quantity"], "shipments")
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    o = orders
    if "status" in o.columns:
        o = o[o["status"].astype(object).fillna("open") != "cancelled"]
    o = o[(o[due_col] >= start) & (o[due_col] <= end) & (o["quantity"] > 0)]
    o = o[["order_id", "line", "customer_id", "sku", "quantity", "unit_price", due_col]].rename(
        columns={due_col: "due_date"}).reset_index(drop=True)
    o["due_week"] = to_week(o["due_date"])
    week_close = o["due_date"] + pd.to_timedelta(6 - o["due_date"].dt.day_of_week, unit="D")
    allowed = o["due_date"] + pd.Timedelta(days=int(on_time_tolerance_days))
    o["measured_at"] = week_close.where(week_close >= allowed, allowed)
    o["value"] = o["quantity"].astype(float) * o["unit_price"].astype(float)

    s = shipments[["order_id", "line", "ship_date", "quantity"]].rename(columns={"quantity": "ship_qty"})
    s = s.merge(o[["order_id", "line", "due_date", "measured_at"]], on=["order_id", "line"], how="inner")
    s = s[s["ship_date"] <= s["measured_at"]]
    s = s.assign(on_time_qty=np.where(s["ship_date"] <= s["due_date"] + pd.Timedelta(days=int(on_time_tolerance_days)),
                                      s["ship_qty"], 0.0))
    agg = s.groupby(["order_id", "line"]).agg(shipped_qty=("ship_qty", "sum"), on_time_qty=("on_time_qty", "sum"),
                                              shipments=("ship_qty", "size"), first_ship_date=("ship_date", "min"),
                                              last_ship_date=("ship_date", "max")).reset_index()
    out = o.merge(agg, on=["order_id", "line"], how="left")
    out[["shipped_qty", "on_time_qty"]] = out[["shipped_qty", "on_time_qty"]].fillna(0.0)
    out["shipments"] = out["shipments"].fillna(0).astype(int)
    eps = 1e-9
    out["on_time"] = (out["shipped_qty"] > 0) & (out["on_time_qty"] >= out["shipped_qty"] - eps)
    out["in_full"] = out["shipped_qty"] >= out["quantity"] * (1.0 - in_full_tolerance) - eps
    out["otif"] = out["on_time"] & out["in_full"]
    out["outcome"] = np.select(
        [out["otif"], out["shipped_qty"] <= 0, out["on_time"], out["in_full"]],
        ["OTIF", "not shipped", "short", "late"], "late and short")
    cols = ["order_id", "line", "customer_id", "sku", "due_date", "due_week", "measured_at", "quantity", "unit_price",
            "value", "shipped_qty", "on_time_qty", "shipments", "first_ship_date", "last_ship_date", "on_time",
            "in_full", "otif", "outcome"]
    return out[cols].sort_values(["due_date", "order_id", "line"], kind="stable").reset_index(drop=True)


def fulfilment_summary(lines: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """On time, in full and OTIF rates of scored lines (from :func:`line_fulfilment`), overall or ``by`` keys.

    Returns:
        [by...], lines, value, on_time_lines, in_full_lines, otif_lines, on_time, in_full, otif (shares of
        lines), on_time_value, in_full_value, otif_value (shares of value), value_not_otif (currency: the value
        of lines that missed OTIF). Rates are NaN when nothing fell due.
    """
    _require(lines, ["value", "on_time", "in_full", "otif"], "lines")
    d = lines.assign(
        _n=1, on_time_lines=lines["on_time"].astype(int), in_full_lines=lines["in_full"].astype(int),
        otif_lines=lines["otif"].astype(int), _v_on_time=lines["value"].where(lines["on_time"], 0.0),
        _v_in_full=lines["value"].where(lines["in_full"], 0.0), _v_otif=lines["value"].where(lines["otif"], 0.0))
    cols = ["_n", "value", "on_time_lines", "in_full_lines", "otif_lines", "_v_on_time", "_v_in_full", "_v_otif"]
    if by:
        g = d.groupby(by, dropna=False)[cols].sum().reset_index()
    else:
        g = pd.DataFrame([d[cols].sum()]) if len(d) else pd.DataFrame([{c: 0.0 for c in cols}])
    g = g.rename(columns={"_n": "lines"})
    n = g["lines"].where(g["lines"] > 0)
    v = g["value"].where(g["value"] > 0)
    for k in ("on_time", "in_full", "otif"):
        g[k] = g[f"{k}_lines"] / n
        g[f"{k}_value"] = g[f"_v_{k}"] / v
    g["value_not_otif"] = g["value"] - g["_v_otif"]
    g[["lines", "on_time_lines", "in_full_lines", "otif_lines"]] = g[
        ["lines", "on_time_lines", "in_full_lines", "otif_lines"]].astype(int)
    keep = (by or []) + ["lines", "value", "on_time_lines", "in_full_lines", "otif_lines", "on_time", "in_full",
                         "otif", "on_time_value", "in_full_value", "otif_value", "value_not_otif"]
    return g[keep]


# ---------------------------------------------------------------- balances


def _balance_at(add_dates, add_amounts, sub_dates, sub_amounts, dates) -> np.ndarray:
    """sum(add where add_date <= d) - sum(sub where sub_date <= d) for each d (vectorised)."""
    def cum(ds, amts):
        ds = pd.to_datetime(pd.Series(ds)).to_numpy(dtype="datetime64[ns]")
        amts = np.asarray(amts, dtype=float)
        ok = ~np.isnat(ds) & ~np.isnan(amts)
        order = np.argsort(ds[ok], kind="stable")
        return ds[ok][order], np.concatenate([[0.0], np.cumsum(amts[ok][order])])

    q = pd.to_datetime(pd.Series(dates)).dt.normalize().to_numpy(dtype="datetime64[ns]")
    ad, ac = cum(add_dates, add_amounts)
    sd, sc = cum(sub_dates, sub_amounts)
    return ac[np.searchsorted(ad, q, side="right")] - sc[np.searchsorted(sd, q, side="right")]


def ar_balance(invoices: pd.DataFrame, dates) -> pd.Series:
    """Open accounts receivable at the end of each date (currency; positive = owed to us).

    AR(d) = invoice amounts dated on or before d (credit notes negative) - payments received on or before d
    (``paid_amount``, or the invoice amount when a paid date has no amount).
    """
    _require(invoices, ["invoice_date", "amount", "paid_date"], "invoices")
    paid = invoices["paid_amount"] if "paid_amount" in invoices else pd.Series(np.nan, index=invoices.index)
    paid = paid.where(paid.notna(), invoices["amount"]).where(invoices["paid_date"].notna(), np.nan)
    vals = _balance_at(invoices["invoice_date"], invoices["amount"], invoices["paid_date"], paid, dates)
    return pd.Series(vals, index=pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dt.normalize()), name="ar")


def ap_balance(bills: pd.DataFrame, dates) -> pd.Series:
    """Open accounts payable at the end of each date (currency; positive = we owe).

    AP(d) = bill amounts dated on or before d - bills paid (in full) on or before d.
    """
    _require(bills, ["bill_date", "amount", "paid_date"], "bills")
    paid = bills["amount"].where(bills["paid_date"].notna(), np.nan)
    vals = _balance_at(bills["bill_date"], bills["amount"], bills["paid_date"], paid, dates)
    return pd.Series(vals, index=pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dt.normalize()), name="ap")


def inventory_value(inventory: pd.DataFrame, products: pd.DataFrame, weeks: list[str]) -> pd.Series:
    """Inventory value at the end of each week (currency); NaN for a week the export does not have.

    Uses ``on_hand_value``; where it is empty, on-hand units x the product's standard unit cost.
    """
    _require(inventory, ["week", "sku", "on_hand_qty"], "inventory")
    inv = inventory[inventory["week"].isin(weeks)]
    val = inv["on_hand_value"] if "on_hand_value" in inv else pd.Series(np.nan, index=inv.index)
    if val.isna().any():
        cost = inv["sku"].map(products.set_index("sku")["unit_cost"])
        val = val.where(val.notna(), inv["on_hand_qty"] * cost)
    s = val.groupby(inv["week"]).sum(min_count=1)
    return s.reindex(weeks).rename("inventory")


def period_balance(opening: float, closings, basis: str = "average") -> float:
    """The balance a KPI uses: mean of the opening and every closing balance ("average"), or the last ("ending").

    NaN when the ending balance is unknown.
    """
    closings = [float(x) for x in closings]
    if not closings or math.isnan(closings[-1]):
        return float("nan")
    if basis == "ending":
        return closings[-1]
    if basis != "average":
        raise ValueError(f"balance basis {basis!r}: expected 'average' or 'ending'")
    pts = [x for x in [float(opening), *closings] if not math.isnan(x)]
    return float(np.mean(pts))


def working_capital(ar: float, ap: float, inventory: float, revenue: float, cogs: float, days: float) -> dict:
    """DSO, DIO, DPO, cash conversion cycle and inventory turns from balances and period flows.

    Args:
        ar, ap, inventory: the balances (average or ending, currency).
        revenue: revenue of the period (invoiced or shipped); cogs: cost of goods shipped in the period.
        days: calendar days in the period.
    Returns:
        dso = ar / revenue x days; dio = inventory / cogs x days; dpo = ap / cogs x days;
        ccc = dio + dso - dpo; inventory_turns = cogs x 365 / days / inventory. NaN where a divisor is <= 0.
    """
    def ratio(a, b):
        return float(a) / float(b) if b and b > 0 and not math.isnan(a) else float("nan")

    # the one definition of each measure (analysis.measures), shared with the cash report
    dso = days_outstanding(ar, revenue, days)
    dio = days_outstanding(inventory, cogs, days)
    dpo = days_outstanding(ap, cogs, days)
    turns = ratio(cogs * DAYS_IN_YEAR / days, inventory) if days else float("nan")
    return {"dso": dso, "dio": dio, "dpo": dpo, "ccc": dio + dso - dpo, "inventory_turns": turns}


# ---------------------------------------------------------------- gross margin


def gross_margin_by_line(shipped: pd.DataFrame, periods: dict[str, list[str]]) -> pd.DataFrame:
    """Shipped revenue, COGS, gross margin and margin % by product line for each period, plus a Total row.

    Args:
        shipped: shipped revenue and cost by week (week, product_line, revenue, cogs) as from :func:`reconcile.shipped_facts`.
        periods: period name -> its weeks.
    Returns:
        period, product_line, revenue, cogs, gross_margin (= revenue - cogs, currency), gross_margin_pct
        (= gross_margin / revenue; NaN without revenue). The Total row is the sum of the lines.
    """
    _require(shipped, ["week", "product_line", "revenue", "cogs"], "shipped")
    lines = sorted(shipped["product_line"].dropna().unique())
    out = []
    for per, weeks in periods.items():
        g = (shipped[shipped["week"].isin(weeks)].groupby("product_line")[["revenue", "cogs"]].sum()
             .reindex(lines, fill_value=0.0).reset_index())
        g = pd.concat([g, pd.DataFrame([{"product_line": "Total", "revenue": g["revenue"].sum(),
                                         "cogs": g["cogs"].sum()}])], ignore_index=True)
        g.insert(0, "period", per)
        out.append(g)
    df = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["period", "product_line", "revenue",
                                                                               "cogs"])
    df["gross_margin"] = df["revenue"] - df["cogs"]
    df["gross_margin_pct"] = df["gross_margin"] / df["revenue"].where(df["revenue"] > 0)
    return df


# ---------------------------------------------------------------- targets


def kpi_status(value: float, target: float, better: str) -> str:
    """"met" when ``value`` is at or beyond ``target`` in the KPI's good direction, "missed" otherwise, "n/a" if unknown."""
    if value is None or target is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = value >= target if better == "higher" else value <= target
    return "met" if ok else "missed"


def scorecard(values: dict[str, dict[str, float]], targets) -> pd.DataFrame:
    """One row per KPI: its value in each period, the target and the status per period.

    Args:
        values: period -> {kpi: value} (periods from :data:`PERIODS`).
        targets: an object with one attribute per target key (``params.kpis.targets``).
    Returns:
        kpi, label, unit, better, week, 13w, quarter, target, status_week, status_13w, status_quarter,
        gap_13w (= 13-week value - target, in the KPI's unit).
    """
    rows = []
    for kpi, (label, unit, better, tkey) in KPI_SPECS.items():
        target = float(getattr(targets, tkey))
        r = {"kpi": kpi, "label": label, "unit": unit, "better": better}
        for per in PERIODS:
            r[per] = float(values.get(per, {}).get(kpi, float("nan")))
        r["target"] = target
        for per in PERIODS:
            r[f"status_{per}"] = kpi_status(r[per], target, better)
        r["gap_13w"] = r["13w"] - target
        rows.append(r)
    return pd.DataFrame(rows)


#: How a KPI's light is set (printed under the scorecard)
LIGHT_RULE = ("Green: this week and the 13-week figure both meet the target. Amber: one of them misses it, or this "
              "week breaks sharply from its trend for the worse (further than 3 robust standard deviations from the median of the "
              "13 weeks before, and at least 5% of the target away from it). Red: this week misses the target and "
              "the 13-week figure misses it too or this week breaks from its trend.")


def week_break(value: float, history: list[float], target: float, z: float = 3.0, min_share: float = 0.05) -> bool:
    """True when ``value`` (this week) lies further than ``z`` robust standard deviations (1.4826 x MAD)
    from the median of ``history`` (the weeks before) and at least ``min_share`` of ``target`` away from it."""
    h = np.asarray([x for x in history if x is not None and np.isfinite(x)], dtype=float)
    if value is None or not np.isfinite(value) or len(h) < 4:
        return False
    med = float(np.median(h))
    sd = 1.4826 * float(np.median(np.abs(h - med)))
    return abs(value - med) > max(z * sd, min_share * abs(target) if target else 0.0)


def kpi_light(week_status: str, status_13w: str, broke: bool) -> str:
    """green / amber / red / grey by :data:`LIGHT_RULE`."""
    if week_status == "n/a" and status_13w == "n/a":
        return "grey"
    missed_week, missed_13w = week_status == "missed", status_13w == "missed"
    if missed_week and (missed_13w or broke):
        return "red"
    if missed_week or missed_13w or broke:
        return "amber"
    return "green"


def add_lights(card: pd.DataFrame, trend: pd.DataFrame) -> pd.DataFrame:
    """``card`` with ``trend_median`` (the 13 weeks before this one), ``week_break`` (this week breaks from
    its trend in the bad direction) and ``light`` (:func:`kpi_light`)."""
    out = card.copy()
    meds, breaks, lights = [], [], []
    for r in out.itertuples(index=False):
        hist = trend[r.kpi].iloc[:-1].tail(13).tolist() if r.kpi in trend else []
        finite = [x for x in hist if np.isfinite(x)]
        med = float(np.median(finite)) if finite else float("nan")
        worse = r.week < med if r.better == "higher" else r.week > med
        broke = bool(week_break(r.week, hist, r.target) and worse)   # a sharp improvement is not an alarm
        meds.append(med)
        breaks.append(broke)
        lights.append(kpi_light(r.status_week, r.status_13w, broke))
    out["trend_median"], out["week_break"], out["light"] = meds, breaks, lights
    return out


def target_conflicts(gm: pd.DataFrame, company_target: float, tolerance: float = 0.005) -> list[str]:
    """Targets that contradict each other: the product lines' margin targets, weighted by each line's
    13-week revenue, against the company's margin target (more than ``tolerance`` apart)."""
    g = gm[(gm["period"] == "13w") & (gm["revenue"] > 0) & (gm["product_line"] != "Total")] if "period" in gm else gm.iloc[:0]
    if g.empty or g["revenue"].sum() <= 0:
        return []
    weighted = float((g["target"] * g["revenue"]).sum() / g["revenue"].sum())
    if abs(weighted - company_target) <= tolerance:
        return []
    return [f"The product lines' margin targets, weighted by their 13-week revenue, add up to {fmt_pct(weighted)}, "
            f"not the company's {fmt_pct(company_target)}: the company margin light uses {fmt_pct(company_target)}; "
            "align the two targets in params (kpis.targets.gross_margin_pct, kpis.gross_margin_targets)."]


def fmt_kpi(value: float, unit: str, day_digits: int = 1) -> str:
    """A KPI value for display: shares as %, days with ``day_digits`` decimals, turns as 6.2x."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "pct":
        return fmt_pct(value)
    if unit == "days":
        return f"{value:.{day_digits}f} days"
    return f"{value:.1f}x"


def kpi_exceptions(card: pd.DataFrame, context: dict, gm: pd.DataFrame, gm_targets: dict[str, float],
                   default_gm_target: float, period: str = "13w", *, symbol: str) -> pd.DataFrame:
    """KPIs off target over ``period``, each translated into dollars at stake (for the action tracker).

    Dollar translations (positive = money at stake, currency):

    - OTIF (by value): (target - OTIF value share) x value of the lines due = value that missed the target.
    - DSO: (DSO - target) x revenue / days = receivables above target (cash tied up).
    - DIO: (DIO - target) x COGS / days = inventory above target.
    - DPO: (target - DPO) x COGS / days = payables paid earlier than target.
    - Gross margin % by product line: (target - margin %) x shipped revenue = margin short of target.

    CCC and turns are left out (they restate DSO/DIO/DPO); so are the line-count fulfilment rates.

    Args:
        card: :func:`scorecard` output; context: period -> working-capital context (revenue, cogs, days,
            value_due) from :func:`execution_kpis`; gm: :func:`gross_margin_by_line` output.
    Returns:
        exception_id (stable: kpi:<kpi>[:<product line>]), kpi, product_line, label, value, target, gap,
        dollars_at_stake, sentence. Only KPIs that missed target with dollars > 0.
    """
    rows = []
    c = card.set_index("kpi")
    ctx = context.get(period, {})
    per_txt = PERIOD_LABELS[period].lower()

    def add(kpi, value, target, dollars, sentence, product_line=None):
        if value is None or math.isnan(value) or not (dollars > 0):
            return
        rows.append({"exception_id": f"kpi:{kpi}" + (f":{product_line}" if product_line else ""), "kpi": kpi,
                     "product_line": product_line, "label": KPI_SPECS[kpi][0], "value": value, "target": target,
                     "gap": value - target, "dollars_at_stake": float(dollars), "sentence": sentence})

    days = ctx.get("days") or float("nan")
    v, t = c.loc["otif_value", period], c.loc["otif_value", "target"]
    add("otif_value", v, t, (t - v) * ctx.get("value_due", 0.0),
        f"OTIF by value was {fmt_pct(v)} over the {per_txt} against a {fmt_pct(t)} target: "
        f"{fmt_money((t - v) * ctx.get('value_due', 0.0), symbol)} of deliveries short of the target.")
    for kpi, flow, sign, what in (("dso", "revenue", 1, "receivables above target"),
                                  ("dio", "cogs", 1, "inventory above target"),
                                  ("dpo", "cogs", -1, "paid to suppliers earlier than the target")):
        v, t = c.loc[kpi, period], c.loc[kpi, "target"]
        per_day = ctx.get(flow, float("nan")) / days if days == days else float("nan")
        dollars = sign * (v - t) * per_day
        add(kpi, v, t, dollars, f"{kpi.upper()} was {v:.1f} days over the {per_txt} against a {t:.0f}-day target: "
                                f"{fmt_money(dollars, symbol)} {what}.")
    g = gm[(gm["period"] == period) & (gm["product_line"] != "Total")]
    for r in g.itertuples(index=False):
        t = float(gm_targets.get(r.product_line, default_gm_target))
        dollars = (t - r.gross_margin_pct) * r.revenue if r.revenue > 0 else 0.0
        add("gross_margin_pct", r.gross_margin_pct, t, dollars,
            f"{r.product_line} gross margin was {fmt_pct(r.gross_margin_pct)} over the {per_txt} against a "
            f"{fmt_pct(t)} target: {fmt_money(dollars, symbol)} of margin short on "
            f"{fmt_money(r.revenue, symbol)} shipped.", r.product_line)
    cols = ["exception_id", "kpi", "product_line", "label", "value", "target", "gap", "dollars_at_stake", "sentence"]
    return pd.DataFrame(rows, columns=cols).sort_values("dollars_at_stake", ascending=False).reset_index(drop=True)


# ---------------------------------------------------------------- the week's KPIs


@dataclass
class ExecutionKPIs:
    week: str
    quarter: str
    periods: dict[str, list[str]]
    values: dict[str, dict[str, float]]
    card: pd.DataFrame
    lines: pd.DataFrame             # scored order lines due in the 13 weeks (superset of week and quarter)
    fulfilment: pd.DataFrame        # period, lines, value, rates ...
    working: pd.DataFrame           # period, days, revenue, cogs, ar/ap/inventory used and ending, KPIs
    gross_margin: pd.DataFrame
    trend: pd.DataFrame             # week x kpi, recomputed from today's data
    exceptions: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _flows(shipped: pd.DataFrame, invoices: pd.DataFrame, weeks: list[str], dso_revenue: str) -> tuple[float, float]:
    s = shipped[shipped["week"].isin(weeks)]
    cogs = float(s["cogs"].sum())
    if dso_revenue == "shipped":
        return float(s["revenue"].sum()), cogs
    inv_w = to_week(invoices["invoice_date"])
    return float(invoices.loc[inv_w.isin(weeks).to_numpy(), "amount"].sum()), cogs


def _working_for(weeks, shipped, invoices, bills, inv_values: pd.Series, ar_s: pd.Series, ap_s: pd.Series,
                 settings) -> dict:
    ends = [week_end(w) for w in weeks]
    opening_date = week_start(weeks[0]) - pd.Timedelta(days=1)
    prev = week_add(weeks[0], -1)
    basis = settings.balance_basis
    ar = period_balance(ar_s.get(opening_date, np.nan), [ar_s.get(d, np.nan) for d in ends], basis)
    ap = period_balance(ap_s.get(opening_date, np.nan), [ap_s.get(d, np.nan) for d in ends], basis)
    inv = period_balance(inv_values.get(prev, np.nan), [inv_values.get(w, np.nan) for w in weeks], basis)
    revenue, cogs = _flows(shipped, invoices, weeks, settings.dso_revenue)
    days = 7.0 * len(weeks)
    k = working_capital(ar, ap, inv, revenue, cogs, days)
    return {"days": days, "revenue": revenue, "cogs": cogs, "ar": ar, "ap": ap, "inventory": inv,
            "ar_end": float(ar_s.get(ends[-1], np.nan)), "ap_end": float(ap_s.get(ends[-1], np.nan)),
            "inventory_end": float(inv_values.get(weeks[-1], np.nan)), **k}


def weekly_trend(lines: pd.DataFrame, shipped: pd.DataFrame, invoices: pd.DataFrame, bills: pd.DataFrame,
                 inv_values: pd.Series, ar_s: pd.Series, ap_s: pd.Series, weeks: list[str], settings) -> pd.DataFrame:
    """KPIs per week for a trend chart: fulfilment and margin of each week, working-capital days on a
    trailing-13-week basis ending that week (one week's DSO is too noisy to read). Columns: week + KPI names."""
    f = fulfilment_summary(lines[lines["due_week"].isin(weeks)], by=["due_week"]).set_index("due_week")
    rows = []
    for w in weeks:
        r = {"week": w}
        for k in ("otif", "otif_value", "on_time", "on_time_value", "in_full", "in_full_value"):
            r[k] = float(f.loc[w, k]) if w in f.index else float("nan")
        trailing = week_range(week_add(w, -(TRAILING_WEEKS - 1)), w)
        wc = _working_for(trailing, shipped, invoices, bills, inv_values, ar_s, ap_s, settings)
        r.update({k: wc[k] for k in ("dso", "dio", "dpo", "ccc", "inventory_turns")})
        s = shipped[shipped["week"] == w]
        rev = float(s["revenue"].sum())
        r["gross_margin_pct"] = (rev - float(s["cogs"].sum())) / rev if rev > 0 else float("nan")
        rows.append(r)
    return pd.DataFrame(rows)


def execution_kpis(orders, shipments, products, customers, invoices, bills, inventory, week: str,
                   cal: FiscalCalendar, settings, symbol: str,
                   shipped_weekly: pd.DataFrame | None = None, trend_weeks: int | None = None) -> ExecutionKPIs:
    """Everything the execution-KPI report shows for ``week`` (see the module docstring for every formula).

    ``settings`` is ``params.kpis`` (targets, due-date basis, tolerances, balance basis, DSO revenue basis).
    ``shipped_weekly`` is the run's aggregate (``wk.table("shipped_weekly")``, revenue and margin); when
    not given it is computed from ``orders`` and ``shipments`` with the same definition. Fulfilment
    needs the order and shipment lines themselves. ``trend_weeks`` (default ``settings.trend_weeks``)
    lengthens the trend, e.g. to the weeks the store holds (:func:`trend_length`); it never shortens it,
    and every other figure stays the same.
    """
    periods = kpi_periods(week, cal)
    n_trend = max(settings.trend_weeks, trend_weeks or 0)
    trend_weeks = week_range(week_add(week, -(n_trend - 1)), week)
    default_first = week_add(week, -(settings.trend_weeks - 1))
    first = min([periods["13w"][0], periods["quarter"][0], default_first], key=lambda w: week_start(w))
    lines = line_fulfilment(orders, shipments, week_start(first), week_end(week), due=settings.due_date,
                            on_time_tolerance_days=settings.on_time_tolerance_days,
                            in_full_tolerance=settings.in_full_tolerance)
    trend_lines = lines
    if week_start(trend_weeks[0]) < week_start(first):  # a longer trend scores the earlier lines for the trend only
        earlier = line_fulfilment(orders, shipments, week_start(trend_weeks[0]), week_start(first) - pd.Timedelta(days=1),
                                  due=settings.due_date, on_time_tolerance_days=settings.on_time_tolerance_days,
                                  in_full_tolerance=settings.in_full_tolerance)
        trend_lines = pd.concat([earlier, lines], ignore_index=True)
        first_balance = trend_weeks[0]
    else:
        first_balance = first
    if shipped_weekly is None:
        shipped_weekly = compute({"orders": orders, "shipments": shipments}, names=["shipped_weekly"])["shipped_weekly"]
    shipped = shipped_facts(shipped_weekly, products, customers)
    # balances at every week end from 13 weeks before the earliest trend window to the run week
    all_weeks = week_range(week_add(first_balance, -TRAILING_WEEKS), week)
    dates = [week_end(w) for w in all_weeks]
    unknown = pd.Series(np.nan, index=pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dt.normalize()))
    absent = [n for n, t in (("invoices", invoices), ("bills", bills), ("inventory", inventory)) if t is None]
    if invoices is None:  # not measured, never zero: the balances stay unknown
        invoices = pd.DataFrame({"invoice_date": pd.Series(dtype="datetime64[ns]"), "amount": pd.Series(dtype=float),
                                 "paid_date": pd.Series(dtype="datetime64[ns]")})
    ar_s = unknown.rename("ar") if "invoices" in absent else ar_balance(invoices, dates)
    ap_s = unknown.rename("ap") if bills is None else ap_balance(bills, dates)
    inv_values = pd.Series(np.nan, index=all_weeks, name="inventory") if inventory is None else \
        inventory_value(inventory, products, all_weeks)

    values, fulfil_rows, wc_rows, context = {}, [], [], {}
    for per, weeks in periods.items():
        f = fulfilment_summary(lines[lines["due_week"].isin(weeks)]).iloc[0].to_dict()
        wc = _working_for(weeks, shipped, invoices, bills, inv_values, ar_s, ap_s, settings)
        s = shipped[shipped["week"].isin(weeks)]
        rev = float(s["revenue"].sum())
        gm_pct = (rev - float(s["cogs"].sum())) / rev if rev > 0 else float("nan")
        values[per] = {**{k: float(f[k]) for k in ("otif", "otif_value", "on_time", "on_time_value", "in_full",
                                                   "in_full_value")},
                       **{k: wc[k] for k in ("dso", "dio", "dpo", "ccc", "inventory_turns")},
                       "gross_margin_pct": gm_pct}
        fulfil_rows.append({"period": per, **f})
        wc_rows.append({"period": per, **wc})
        context[per] = {**wc, "value_due": float(f["value"])}
    card = scorecard(values, settings.targets)
    gm = gross_margin_by_line(shipped, periods)
    gm["target"] = gm["product_line"].map(settings.gross_margin_targets).fillna(settings.targets.gross_margin_pct)
    gm["status"] = [kpi_status(v, t, "higher") for v, t in zip(gm["gross_margin_pct"], gm["target"])]
    exc = kpi_exceptions(card, context, gm, settings.gross_margin_targets, settings.targets.gross_margin_pct,
                         symbol=symbol)
    trend = weekly_trend(trend_lines, shipped, invoices, bills, inv_values, ar_s, ap_s, trend_weeks, settings)
    card = add_lights(card, trend)
    notes = _notes(settings, inv_values if inventory is not None else inv_values.iloc[:0], periods) + \
        target_conflicts(gm, settings.targets.gross_margin_pct) + not_measured(absent)
    return ExecutionKPIs(week, cal.quarter_of(week), periods, values, card, lines, pd.DataFrame(fulfil_rows),
                         pd.DataFrame(wc_rows), gm, trend, exc, notes)


_NEEDS = (("DSO needs", ("invoices",)), ("DIO and inventory turns need", ("inventory",)), ("DPO needs", ("bills",)),
          ("the cash conversion cycle needs", ("invoices", "inventory", "bills")))


def not_measured(absent: list[str]) -> list[str]:
    """One sentence naming the working-capital KPIs a company's exports cannot measure and the table each needs
    (``absent``: the tables not given among invoices, bills, inventory); empty when all are given."""
    if not absent:
        return []
    parts = [f"{k} {' and '.join(t for t in need if t in absent)}" for k, need in _NEEDS
             if any(t in absent for t in need)]
    return [f"Not measured: {'; '.join(parts)} (no such export was given)."]


def working_headline(k: "ExecutionKPIs", targets) -> str:
    """The working-capital headline: the 13-week cash conversion cycle and its parts, or what is not measured."""
    w = k.working.set_index("period").loc["13w"]
    if all(math.isnan(float(w[c])) for c in ("dso", "dio", "dpo")):
        return "Working capital is not measured: it needs invoices, inventory and bills."
    if math.isnan(float(w["ccc"])):
        have = [f"{c.upper()} {float(w[c]):.1f} days" for c in ("dso", "dio", "dpo") if not math.isnan(float(w[c]))]
        return f"Over 13 weeks: {', '.join(have)}; the cash conversion cycle needs DSO, DIO and DPO."
    return (f"Cash conversion cycle {w['ccc']:.1f} days over 13 weeks = DIO {w['dio']:.1f} + DSO {w['dso']:.1f} "
            f"− DPO {w['dpo']:.1f} (target {targets.ccc:.0f} days).")


def _notes(settings, inv_values: pd.Series, periods: dict) -> list[str]:
    notes = [
        f"A line is due on its {settings.due_date} date and measured at the end of the week it fell due; "
        f"on time = every unit shipped by then shipped by the due date"
        + (f" + {settings.on_time_tolerance_days} days" if settings.on_time_tolerance_days else "")
        + " (a split delivery is on time only if every part is); in full = shipped units ≥ ordered units"
        + (f" less {fmt_pct(settings.in_full_tolerance)}" if settings.in_full_tolerance else "")
        + "; OTIF = both. Cancelled lines are excluded.",
        f"Balances are {'the average of the opening and each week-end balance' if settings.balance_basis == 'average' else 'week-end (ending) balances'}; "
        f"DSO uses {settings.dso_revenue} revenue; DIO and DPO use COGS at standard cost; days = 7 × weeks; "
        "turns are annualised on 365 days.",
    ]
    weeks = sorted({w for ws in periods.values() for w in ws})
    missing = [w for w in weeks if w in inv_values.index and math.isnan(inv_values.get(w, np.nan))]
    if missing:
        notes.append(f"The inventory export has no rows for {', '.join(missing)}: DIO and turns for periods "
                     "ending there are not shown, and averages use the weeks available.")
    return notes


# ---------------------------------------------------------------- history rows (the store keeps them: store.history)

#: columns of a week's KPI history (``soe_kpi_history``)
HISTORY_COLUMNS = ["week", "kpi", "period", "value", "target", "status", "run_id"]


def history_rows(k: ExecutionKPIs, run_id: str | None = None) -> list[dict]:
    """The week's KPI values as store rows (one per KPI and period, plus gross margin % per product line)."""
    rows = []
    for r in k.card.to_dict("records"):
        for per in PERIODS:
            v = r[per]
            rows.append({"week": k.week, "kpi": r["kpi"], "period": per, "value": None if math.isnan(v) else float(v),
                         "target": float(r["target"]), "status": r[f"status_{per}"], "run_id": run_id})
    for r in k.gross_margin[k.gross_margin["product_line"] != "Total"].itertuples(index=False):
        v = r.gross_margin_pct
        rows.append({"week": k.week, "kpi": f"gross_margin_pct:{r.product_line}"[:48], "period": r.period,
                     "value": None if math.isnan(v) else float(v), "target": float(r.target), "status": r.status,
                     "run_id": run_id})
    return rows




# ---------------------------------------------------------------- the trend as each week recorded it

#: The KPIs of the trend chart and the period each is drawn over: (kpi, period).
TREND_SERIES: tuple[tuple[str, str], ...] = (
    ("otif_value", "week"), ("otif", "week"), ("dso", "13w"), ("dio", "13w"), ("dpo", "13w"), ("ccc", "13w"),
    ("gross_margin_pct", "week"))
#: A recorded value further than this from today's recomputation counts as restated (shares / days).
_RESTATED = {"pct": 0.001, "days": 0.1}


def trend_length(week: str, recorded_weeks, settings) -> int:
    """Weeks the trend chart shows for ``week``: ``settings.trend_weeks`` (13 by default), longer when the store
    holds earlier weeks, back to the earliest recorded week but never more than ``settings.history_weeks``.

    >>> from types import SimpleNamespace as S
    >>> trend_length("2026-W47", ["2026-W20", "2026-W46"], S(trend_weeks=13, history_weeks=52))
    28
    """
    me = week_start(week)
    cap = max(settings.trend_weeks, settings.history_weeks)
    first = week_start(week_add(week, -(cap - 1)))
    held = [week_start(w) for w in recorded_weeks if first <= week_start(w) <= me]
    n = int((me - min(held)).days // 7) + 1 if held else 0
    return max(settings.trend_weeks, min(n, cap))


def trend_as_recorded(trend: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The trend as each week's run recorded it: one row per week of ``trend`` (from :func:`weekly_trend`).

    Args:
        trend: week + one column per KPI, recomputed from today's data.
        history: the store's rows (:data:`HISTORY_COLUMNS`); the value of ``(week, kpi, period)`` is the one
            that week's run recorded (the period of each KPI as :data:`TREND_SERIES` says).
    Returns:
        week, ``recorded`` (the store holds the week), for each KPI of :data:`TREND_SERIES` the value drawn
        (the recorded one where the store holds the week, a recorded "not measured" staying NaN; else today's
        recomputation) and ``<kpi>_now`` (today's recomputation, to show restatements).
    """
    h = history.set_index(["week", "kpi", "period"])["value"] if len(history) else pd.Series(dtype=float)
    held = set(history["week"]) if len(history) else set()
    out = pd.DataFrame({"week": trend["week"].to_numpy(), "recorded": trend["week"].isin(held).to_numpy()})
    for kpi, period in TREND_SERIES:
        now = trend[kpi].astype(float).to_numpy() if kpi in trend else np.full(len(trend), np.nan)
        rec = np.array([h.get((w, kpi, period), np.nan) for w in out["week"]], dtype=float)
        out[kpi] = np.where(out["recorded"], rec, now)
        out[f"{kpi}_now"] = now
    return out


def _span(weeks: list[str]) -> str:
    """Weeks as runs: '2026-W35 to 2026-W44, 2026-W46'."""
    runs, out = [], []
    for w in weeks:
        if runs and week_add(runs[-1][-1], 1) == w:
            runs[-1].append(w)
        else:
            runs.append([w])
    for r in runs:
        out.append(r[0] if len(r) == 1 else f"{r[0]} to {r[-1]}")
    return ", ".join(out)


def trend_caption(shown: pd.DataFrame, targets, max_restated: int = 3) -> list[str]:
    """The sentences under the trend chart: where each point comes from, the rule and target of each KPI,
    and the recorded values today's data restates (``shown`` from :func:`trend_as_recorded`)."""
    n, rec = len(shown), int(shown["recorded"].sum())
    absent = shown.loc[~shown["recorded"], "week"].tolist()
    if not absent:
        src = f"Every point is the value that week's run recorded in the store ({n} weeks)."
    elif rec == 0:
        src = (f"The store holds none of these {n} weeks yet: every point is computed from today's data (hollow "
               "markers, dashed lines); from the next run on, each week shows what its run recorded.")
    else:
        src = (f"Filled markers on solid lines: the value each week's run recorded in the store ({rec} of {n} weeks). "
               f"Hollow markers on dashed lines: computed from today's data for the weeks the store does not hold "
               f"({_span(absent)}).")
    rules = (f"OTIF: order lines due in the week shipped on time and in full, as a share of lines and of their value "
             f"(target {fmt_pct(targets.otif, digits=0)}). DSO, DIO and DPO: days over the 13 weeks ending each week "
             f"(targets {targets.dso:.0f}, {targets.dio:.0f} and {targets.dpo:.0f} days, dotted). Cash conversion cycle "
             f"= DIO + DSO − DPO (target {targets.ccc:.0f} days). Gross margin: shipped revenue less COGS at standard "
             f"cost, as a share of shipped revenue, in the week (target {fmt_pct(targets.gross_margin_pct, digits=0)}).")
    out = [src, rules]
    moved = []
    for r in shown[shown["recorded"]].itertuples(index=False):
        for kpi, _period in TREND_SERIES:
            then, now = getattr(r, kpi), getattr(r, f"{kpi}_now")
            unit = KPI_SPECS[kpi][1]
            if np.isfinite(then) and np.isfinite(now) and abs(then - now) > _RESTATED[unit]:
                moved.append(f"{KPI_SPECS[kpi][0]} in {r.week} (recorded {fmt_kpi(then, unit)}, now {fmt_kpi(now, unit)})")
    if moved:
        more = f" and {len(moved) - max_restated} more" if len(moved) > max_restated else ""
        out.append(f"Today's data restates {len(moved)} recorded value{'s' if len(moved) != 1 else ''}: "
                   f"{'; '.join(moved[:max_restated])}{more}.")
    return out


# ---------------------------------------------------------------- report views


def headline(k: ExecutionKPIs) -> str:
    """One sentence for leadership: OTIF this week and over 13 weeks, and the cash conversion cycle."""
    c = k.card.set_index("kpi")
    o, ov, ccc = c.loc["otif"], c.loc["otif_value"], c.loc["ccc"]
    cycle = (f"cash conversion cycle {ccc['13w']:.1f} days over 13 weeks (target {ccc['target']:.0f})"
             if not math.isnan(float(ccc["13w"])) else "cash conversion cycle not measured")
    return (f"OTIF {fmt_pct(o['week'])} of lines ({fmt_pct(ov['week'])} of value) in {k.week} and "
            f"{fmt_pct(o['13w'])} over 13 weeks, against a {fmt_pct(o['target'], digits=0)} target; {cycle}.")


def scorecard_display(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as text for a table: KPI, week, 13 weeks, quarter, target, status per period."""
    rows = []
    for r in card.to_dict("records"):
        arrow = "higher is better" if r["better"] == "higher" else "lower is better"
        rows.append({"KPI": r["label"], "Week": fmt_kpi(r["week"], r["unit"]), "13 weeks": fmt_kpi(r["13w"], r["unit"]),
                     "Quarter to date": fmt_kpi(r["quarter"], r["unit"]),
                     "Target": f"{fmt_kpi(r['target'], r['unit'])} ({arrow})",
                     "Status (week / 13w / QTD)": " / ".join(r[f"status_{p}"] for p in PERIODS),
                     **({"Light": r["light"] + (" (breaks from trend)" if r.get("week_break") else "")}
                        if "light" in r else {})})
    return pd.DataFrame(rows)


def fulfilment_by(lines: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame, weeks: list[str],
                  by: str = "product_line") -> pd.DataFrame:
    """Fulfilment rates of the lines due in ``weeks`` by product line, region or customer; worst value-OTIF first."""
    d = lines[lines["due_week"].isin(weeks)].merge(products[["sku", "product_line"]], on="sku", how="left")
    d = d.merge(customers[["customer_id", "name", "region"]].rename(columns={"name": "customer"}), on="customer_id",
                how="left")
    out = fulfilment_summary(d, by=[by])
    return out.sort_values("otif_value", kind="stable").reset_index(drop=True)


def missed_lines(lines: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame, weeks: list[str],
                 top_n: int = 15) -> pd.DataFrame:
    """Lines due in ``weeks`` that missed OTIF, largest value first: order, customer, SKU, due, units, outcome."""
    d = lines[lines["due_week"].isin(weeks) & ~lines["otif"]]
    d = d.merge(products[["sku", "product_line"]], on="sku", how="left").merge(
        customers[["customer_id", "name"]].rename(columns={"name": "customer"}), on="customer_id", how="left")
    d = d.sort_values("value", ascending=False, kind="stable").head(top_n)
    return pd.DataFrame({"order": d["order_id"] + "/" + d["line"].astype(str), "customer": d["customer"],
                         "sku": d["sku"], "product_line": d["product_line"],
                         "due": d["due_date"].dt.strftime("%Y-%m-%d"), "quantity": d["quantity"],
                         "shipped_by_week_end": d["shipped_qty"], "shipped_on_time": d["on_time_qty"],
                         "value": d["value"], "outcome": d["outcome"]}).reset_index(drop=True)


def ar_ageing_summary(ageing: pd.DataFrame, customers: pd.DataFrame, top_n: int = 10
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Open AR by ageing bucket and the customers with the most overdue, from the ``ar_ageing`` aggregate.

    Args:
        ageing: :mod:`soe_helpers.data.aggregates` ``ar_ageing`` (customer_id, bucket, amount, invoices);
            None when the company gives no invoices (empty tables, figures NaN: not measured).
        customers: the canonical customers (customer_id, name, region).
        top_n: how many overdue customers to list.
    Returns:
        (buckets, overdue, figures). ``buckets``: every bucket in order (current, 1-30, 31-60, 61-90,
        over 90) then Total: amount (currency, positive = owed to us), share (of open AR), invoices,
        customers. ``overdue``: the ``top_n`` customers by amount past due (every bucket but
        current): customer_id, customer, region, overdue, over_90, open (all buckets), share (of all
        overdue AR), oldest (their oldest bucket with money). ``figures``: as_of (the ageing date),
        open, overdue, over_90, overdue_share. The buckets' total equals :func:`ar_balance` at the ageing date.
    """
    if ageing is None:  # no invoices: receivables are not measured (never shown as zero)
        return (pd.DataFrame(columns=["bucket", "amount", "share", "invoices", "customers"]),
                pd.DataFrame(columns=["customer_id", "customer", "region", "overdue", "over_90", "open", "share",
                                      "oldest"]),
                {"as_of": None, "open": float("nan"), "overdue": float("nan"), "over_90": float("nan"),
                 "overdue_share": float("nan")})
    g = ageing.groupby("bucket").agg(amount=("amount", "sum"), invoices=("invoices", "sum"),
                                     customers=("customer_id", "nunique"))
    g = g.reindex(list(BUCKETS)).fillna(0.0)
    total = float(g["amount"].sum())
    buckets = g.reset_index()
    buckets.loc[len(buckets)] = {"bucket": "Total", "amount": total, "invoices": g["invoices"].sum(),
                                 "customers": ageing["customer_id"].nunique()}
    buckets["share"] = buckets["amount"] / total if total else np.nan
    buckets[["invoices", "customers"]] = buckets[["invoices", "customers"]].astype("int64")
    buckets = buckets[["bucket", "amount", "share", "invoices", "customers"]]

    past = ageing[ageing["bucket"] != "current"]
    wide = ageing.pivot_table(index="customer_id", columns="bucket", values="amount", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=list(BUCKETS), fill_value=0.0)
    overdue_total = float(past["amount"].sum())
    cust = pd.DataFrame({"overdue": wide[list(BUCKETS[1:])].sum(axis=1), "over_90": wide["over 90"],
                         "open": wide.sum(axis=1)})
    cust["oldest"] = [next((b for b in reversed(BUCKETS) if row[b] > 0), "current")
                      for _, row in wide.iterrows()] if len(wide) else []
    cust = cust[cust["overdue"] > 0].sort_values("overdue", ascending=False, kind="stable").head(top_n)
    cust["share"] = cust["overdue"] / overdue_total if overdue_total else np.nan
    names = customers.set_index("customer_id")
    cust = cust.reset_index()
    cust.insert(1, "customer", cust["customer_id"].map(names["name"]))
    cust.insert(2, "region", cust["customer_id"].map(names["region"]))
    figures = {"as_of": str(pd.Timestamp(ageing["as_of"].iloc[0]).date()) if len(ageing) else None,
               "open": total, "overdue": overdue_total, "over_90": float(g.loc["over 90", "amount"]),
               "overdue_share": overdue_total / total if total else float("nan")}
    return buckets, cust[["customer_id", "customer", "region", "overdue", "over_90", "open", "share", "oldest"]], \
        figures


def ar_ageing_headline(figures: dict, symbol: str) -> str:
    """'Open AR at 2026-11-22 is $5.07M: $984K (19.4%) past due, $0 more than 90 days.'"""
    if figures["as_of"] is None and math.isnan(figures["open"]):
        return "Receivables are not measured: the AR ageing needs invoices (no such export was given)."
    return (f"Open AR at {figures['as_of']} is {fmt_money(figures['open'], symbol)}: "
            f"{fmt_money(figures['overdue'], symbol)} ({fmt_pct(figures['overdue_share'])}) past due, "
            f"{fmt_money(figures['over_90'], symbol)} more than 90 days.")


def working_measures(working: pd.DataFrame, week: str, quarter: str, settings) -> dict[str, dict]:
    """period -> {"dso", "dio", "dpo", "ccc"} as :class:`soe_helpers.analysis.measures.Measure` (value, period and
    basis: ``m["13w"]["dso"].label`` = 'DSO 46 days (13-week average to 2026-W47, on invoiced sales)') from the
    working-capital rows of :func:`execution_kpis` (``k.working``); ``settings`` is ``params.kpis``."""
    out = {}
    for r in working.to_dict("records"):
        per = measures.period_label(r["period"], week, settings.balance_basis, quarter=quarter)
        s = measures.dso(r["ar"], r["revenue"], r["days"], period=per,
                         basis=measures.REVENUE_BASIS[settings.dso_revenue])
        i = measures.dio(r["inventory"], r["cogs"], r["days"], period=per)
        p = measures.dpo(r["ap"], r["cogs"], r["days"], period=per)
        out[r["period"]] = {"dso": s, "dio": i, "dpo": p, "ccc": measures.ccc(s, i, p)}
    return out


def working_display(working: pd.DataFrame) -> pd.DataFrame:
    """Working-capital inputs and days per period, for a table (money columns stay numeric)."""
    w = working.copy()
    w["period"] = w["period"].map(PERIOD_LABELS)
    for c in ("dso", "dio", "dpo", "ccc"):
        w[c] = w[c].map(lambda v: fmt_kpi(v, "days"))
    w["inventory_turns"] = w["inventory_turns"].map(lambda v: fmt_kpi(v, "x"))
    w["days"] = w["days"].map(lambda v: f"{v:.0f}")
    return w[["period", "days", "revenue", "cogs", "ar", "inventory", "ap", "dso", "dio", "dpo", "ccc",
              "inventory_turns"]]


def margin_display(gm: pd.DataFrame) -> pd.DataFrame:
    """Gross margin by product line, one row per line: revenue, gross margin and margin % for 13 weeks and
    the quarter, margin % for the week, the target and the 13-week status."""
    def per(p):
        return gm[gm["period"] == p].set_index("product_line")

    w, t, q = per("week"), per("13w"), per("quarter")
    out = pd.DataFrame({"product_line": t.index, "revenue_13w": t["revenue"].to_numpy(),
                        "gross_margin_13w": t["gross_margin"].to_numpy(), "pct_13w": t["gross_margin_pct"].to_numpy(),
                        "pct_quarter": q["gross_margin_pct"].reindex(t.index).to_numpy(),
                        "pct_week": w["gross_margin_pct"].reindex(t.index).to_numpy(),
                        "target": t["target"].to_numpy(), "status_13w": t["status"].to_numpy()})
    return out


__all__ += ["not_measured", "working_headline", "headline", "scorecard_display", "fulfilment_by", "missed_lines",
            "working_display", "margin_display", "working_measures"]
