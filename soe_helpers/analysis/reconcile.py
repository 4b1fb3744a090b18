"""Demand reconciliation: orders and shipments vs the S&OP plan and the latest forecast.

Sign convention everywhere in this module: **variance = actual - reference**, in the
company currency (or units); positive = actual above plan/forecast (favourable for
revenue), negative = behind. Percentages are shares of the reference
(``variance / reference``; infinite when the reference is zero and actual is not).

Definitions:

- *Shipped revenue* of a week: shipped units x the order line's net unit price, by ship
  date (revenue recognised at shipment). *COGS*: shipped units x standard unit cost.
- *Booked orders* of a week: ordered units (cancelled lines excluded) by order date.
- *Plan*: the approved S&OP plan (units, revenue, COGS by week, SKU and region).
- *Plan price* of a SKU: plan revenue / plan units over the plan rows given (list price
  when the SKU has no planned units). Forecast units are valued at plan price, and so
  are booked units when compared with the forecast (a pure demand-volume variance).
- *Forecast for a week* (``forecast_for_weeks``): the demand forecast made ``lag`` weeks
  before it (default lag 1: the latest view before the week happened); when that
  snapshot is missing, the latest earlier one.
- *Quarter landing*: shipped quarter-to-date + open backlog expected to ship in the quarter +
  demand not yet booked that is expected to be booked and shipped in it, raw and corrected by the
  forecast feedback's bias corrections (the one definition: :mod:`soe_helpers.analysis.landing`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from soe_helpers.analysis import landing as LD
from soe_helpers.analysis import plan_grain as PG
from soe_helpers.core.calendar import FiscalCalendar, week_add, week_end, week_ordinal
from soe_helpers.core.formats import bridge_closes_text, fmt_money, fmt_pct, fmt_units, name_with_id
from soe_helpers.analysis.materiality import material_mask

__all__ = [
    "shipped_facts",
    "booked_facts",
    "plan_prices",
    "forecast_for_weeks",
    "latest_forecast",
    "compare",
    "flag_material",
    "pvm_bridge",
    "bridge_steps",
    "customer_run_rate",
    "customer_plan",
    "run_rate",
    "booking_run_rate",
    "money_bridge",
    "variance_sentence",
    "variance_register",
    "fold_register",
    "ranked_register",
    "customer_tie_out",
    "register_sentence",
    "register_table",
    "customer_tie_out_text",
    "customer_tie_out_table",
    "COMPARISON",
    "Reconciliation",
    "reconcile_week",
    "DIMENSIONS",
]

DIMENSIONS = ("product_line", "sku", "region", "customer")


# ---------------------------------------------------------------- facts


def shipped_facts(shipped_weekly: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Shipped revenue by week, SKU and customer from the ``shipped_weekly`` aggregate
    (:mod:`soe_helpers.data.aggregates`), labelled: week, sku, product_line, customer_id, customer, region,
    units, revenue, cogs (= units x standard unit cost)."""
    s = _enrich(shipped_weekly[["week", "sku", "customer_id", "units", "revenue"]], products, customers)
    s["units"] = s["units"].astype(float)
    s["cogs"] = s["units"] * s["unit_cost"]
    return s[["week", "sku", "product_line", "customer_id", "customer", "region", "units", "revenue", "cogs"]]


def booked_facts(booked_weekly: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Booked orders by week, SKU and customer from the ``booked_weekly`` aggregate (cancelled lines already
    excluded), labelled: week, sku, product_line, customer_id, customer, region, units, value."""
    o = _enrich(booked_weekly[["week", "sku", "customer_id", "units", "value"]], products, customers)
    o["units"] = o["units"].astype(float)
    return o[["week", "sku", "product_line", "customer_id", "customer", "region", "units", "value"]]


def _enrich(df: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    p = products[["sku", "product_line", "unit_cost"]]
    c = customers[["customer_id", "name", "region"]].rename(columns={"name": "customer"})
    return df.merge(p, on="sku", how="left").merge(c, on="customer_id", how="left")


def plan_prices(plan: pd.DataFrame, products: pd.DataFrame) -> pd.Series:
    """Plan price per SKU (plan revenue / plan units); list price where the SKU has no planned units."""
    g = plan.groupby("sku")[["units", "revenue"]].sum()
    price = (g["revenue"] / g["units"].where(g["units"] > 0)).dropna()
    lp = products.set_index("sku")["list_price"].astype(float)
    return price.reindex(lp.index).fillna(lp).combine_first(price).rename("plan_price")


def forecast_for_weeks(forecasts: pd.DataFrame, weeks: list[str], lag: int = 1) -> pd.DataFrame:
    """Forecast units per (target week, sku) from the snapshot made ``lag`` weeks before the target
    (or the latest earlier snapshot when that one is missing). Columns: week, sku, snapshot_week, units."""
    f = forecasts[forecasts["target_week"].isin(weeks)]
    if f.empty:
        return pd.DataFrame(columns=["week", "sku", "snapshot_week", "units"])
    ordmap = {w: week_ordinal(w) for w in pd.unique(pd.concat([f["target_week"], f["snapshot_week"]]))}
    lagv = f["target_week"].map(ordmap) - f["snapshot_week"].map(ordmap)
    f = f.assign(_lag=lagv.to_numpy())[lagv.to_numpy() >= lag]
    f = f.sort_values("_lag", kind="stable").drop_duplicates(["target_week", "sku"], keep="first")
    return (f.rename(columns={"target_week": "week", "quantity": "units"})[["week", "sku", "snapshot_week", "units"]]
            .reset_index(drop=True))


def at_plan_price(df: pd.DataFrame, price: pd.Series) -> pd.Series:
    """``units`` x the SKU's plan price (a float Series, also on an empty frame; unpriced SKU -> NaN)."""
    return df["units"].astype(float) * df["sku"].map(price).astype(float)


def latest_forecast(forecasts: pd.DataFrame, as_of_week: str, weeks: list[str]) -> pd.DataFrame:
    """Forecast units for ``weeks`` from the latest snapshot made on or before ``as_of_week``."""
    snaps = forecasts.loc[forecasts["snapshot_week"].map(week_ordinal) <= week_ordinal(as_of_week), "snapshot_week"]
    if snaps.empty or not weeks:  # typed, so that ``units * price`` stays numeric (none left at quarter end)
        return pd.DataFrame({"week": pd.Series(dtype=str), "sku": pd.Series(dtype=str),
                             "snapshot_week": pd.Series(dtype=str), "units": pd.Series(dtype=float)})
    latest = max(pd.unique(snaps), key=week_ordinal)
    f = forecasts[(forecasts["snapshot_week"] == latest) & forecasts["target_week"].isin(weeks)]
    return (f.rename(columns={"target_week": "week", "quantity": "units"})[["week", "sku", "snapshot_week", "units"]]
            .reset_index(drop=True))


# ---------------------------------------------------------------- comparison


def compare(actual: pd.DataFrame, reference: pd.DataFrame, by: list[str], value: str = "revenue",
            units: str = "units", actual_prefix: str = "actual", ref_prefix: str = "plan") -> pd.DataFrame:
    """Actual vs reference aggregated ``by`` keys, outer-joined (missing -> 0).

    Returns columns: by..., ``{actual}_units``, ``{actual}_{value}``, ``{ref}_units``, ``{ref}_{value}``,
    ``variance`` (= actual - reference, currency), ``variance_pct`` (= variance / reference),
    ``variance_units``. Rows sorted by |variance| descending.
    """
    a = actual.groupby(by, dropna=False)[[units, value]].sum()
    r = reference.groupby(by, dropna=False)[[units, value]].sum()
    a.columns = [f"{actual_prefix}_units", f"{actual_prefix}_{value}"]
    r.columns = [f"{ref_prefix}_units", f"{ref_prefix}_{value}"]
    out = a.join(r, how="outer").fillna(0.0).reset_index()
    out["variance"] = out[f"{actual_prefix}_{value}"] - out[f"{ref_prefix}_{value}"]
    out["variance_units"] = out[f"{actual_prefix}_units"] - out[f"{ref_prefix}_units"]
    ref = out[f"{ref_prefix}_{value}"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(ref != 0, out["variance"] / ref.where(ref != 0, np.nan),
                       np.where(out["variance"] != 0, np.sign(out["variance"]) * np.inf, 0.0))
    out["variance_pct"] = pct
    return out.sort_values("variance", key=np.abs, ascending=False, kind="stable").reset_index(drop=True)


def flag_material(df: pd.DataFrame, materiality, reference_col: str, variance_col: str = "variance") -> pd.DataFrame:
    """A copy of ``df`` with a boolean ``material`` column: the one rule of :mod:`soe_helpers.analysis.materiality`."""
    return df.assign(material=material_mask(df[variance_col], df[reference_col], materiality))


# ---------------------------------------------------------------- price / volume / mix


def pvm_bridge(actual: pd.DataFrame, plan: pd.DataFrame, key: str = "sku", group: str | None = None) -> pd.DataFrame:
    """Per-item price / volume / mix effects from plan revenue to actual revenue; closes exactly.

    With AQ, AP actual units and price, PQ, PP plan units and price, over planned items (PQ > 0); with
    ``group`` (the product line) the volume and mix are measured *within* each group, so a line's own
    unit shortfall is its volume, and the mix is among its items only. For item i of group L with
    group totals AQ_L, PQ_L and company totals AQt, PQt:

    - volume_i    = (AQ_L * PQ_i / PQ_L - PQ_i) * PP_i   (the line's unit change at its plan mix and price)
    - line_mix_i  = (AQ_L * PQ_i / PQ_L - AQt * PQ_i / PQt) * PP_i   (the part of volume_i that is the
                    company's mix between lines: volume_i - line_mix_i is the company-wide unit change)
    - mix_i       = (AQ_i - AQ_L * PQ_i / PQ_L) * PP_i   (shift between the line's items at plan price)
    - price_i     = AQ_i * (AP_i - PP_i)
    - unplanned_i = actual revenue - plan revenue of items with no planned units

    so that for every item ``plan_revenue + volume + mix + price + unplanned = actual_revenue``
    (``line_mix`` is inside ``volume``; without ``group`` it is 0 and volume is company-wide).

    Args:
        actual, plan: frames with ``key``, ``units``, ``revenue`` (and ``group`` if given).
    Returns:
        one row per item: key, [group], plan_units, plan_revenue, actual_units, actual_revenue,
        volume, line_mix, mix, price, unplanned (currency; positive = raises revenue vs plan).
    """
    cols = [key] + ([group] if group else [])
    a = actual.groupby(cols, dropna=False)[["units", "revenue"]].sum().add_prefix("actual_")
    p = plan.groupby(cols, dropna=False)[["units", "revenue"]].sum().add_prefix("plan_")
    df = p.join(a, how="outer").fillna(0.0).reset_index()
    planned = (df["plan_units"] > 0).to_numpy()
    pq, aq = df["plan_units"].where(planned, 0.0), df["actual_units"].where(planned, 0.0)
    pp = np.where(planned, df["plan_revenue"] / df["plan_units"].where(planned, 1.0), 0.0)
    pq_t, aq_t = pq.sum(), aq.sum()
    if group:
        g = df[group].fillna("").astype(str)
        pq_g, aq_g = pq.groupby(g).transform("sum"), aq.groupby(g).transform("sum")
    else:
        pq_g, aq_g = pd.Series(pq_t, index=df.index), pd.Series(aq_t, index=df.index)
    share_g = np.where(planned & (pq_g > 0), pq / pq_g.where(pq_g > 0, 1.0), 0.0)
    share_t = np.where(planned, pq / pq_t if pq_t else 0.0, 0.0)
    expected_g, expected_t = aq_g * share_g, aq_t * share_t
    df["volume"] = np.where(planned, (expected_g - df["plan_units"]) * pp, 0.0)
    df["line_mix"] = np.where(planned, (expected_g - expected_t) * pp, 0.0)
    df["mix"] = np.where(planned, (df["actual_units"] - expected_g) * pp, 0.0)
    df["price"] = np.where(planned, df["actual_revenue"] - df["actual_units"] * pp, 0.0)
    df["unplanned"] = np.where(planned, 0.0, df["actual_revenue"] - df["plan_revenue"])
    return df


def bridge_steps(bridge: pd.DataFrame) -> pd.DataFrame:
    """The company bridge as steps for a waterfall: Plan, Volume (the company's units at plan mix), Line mix
    (between product lines), Mix (within lines), Price, Unplanned items, Actual; ``attrs["closes"]``."""
    plan_total = bridge["plan_revenue"].sum()
    if "difference" in bridge:  # a plan without units: money only
        out = pd.DataFrame([("Plan revenue", plan_total, "total"),
                            ("Difference (money only: the plan has no units)", bridge["difference"].sum(), "delta"),
                            ("Actual revenue", bridge["actual_revenue"].sum(), "total")],
                           columns=["step", "amount", "kind"])
        out.attrs["closes"] = bool(np.isclose(plan_total + out["amount"].iloc[1], out["amount"].iloc[2], atol=0.005))
        return out
    line_mix = bridge["line_mix"].sum() if "line_mix" in bridge else 0.0
    steps = [("Plan revenue", plan_total, "total"), ("Volume", bridge["volume"].sum() - line_mix, "delta")]
    if "line_mix" in bridge and bool((bridge["line_mix"].abs() > 0.005).any()):  # only a bridge by line has one
        steps.append(("Line mix", line_mix, "delta"))
    for col, label in (("mix", "Mix"), ("price", "Price"), ("unplanned", "Unplanned items")):
        steps.append((label, bridge[col].sum(), "delta"))
    steps.append(("Actual revenue", bridge["actual_revenue"].sum(), "total"))
    out = pd.DataFrame(steps, columns=["step", "amount", "kind"])
    out.attrs["closes"] = bool(np.isclose(plan_total + out.loc[out.kind == "delta", "amount"].sum(),
                                          out["amount"].iloc[-1], atol=0.005))
    return out


# ---------------------------------------------------------------- landing


def customer_run_rate(shipped: pd.DataFrame, before_week: str, n_weeks: int = 13) -> pd.Series:
    """Average weekly shipped revenue per customer over the ``n_weeks`` before ``before_week``."""
    window = {week_add(before_week, -k) for k in range(1, n_weeks + 1)}
    s = shipped[shipped["week"].isin(window)]
    return (s.groupby(["customer_id", "customer", "region"], dropna=False)["revenue"].sum() / n_weeks).rename("run_rate")


def customer_plan(plan: pd.DataFrame, shipped: pd.DataFrame, customers: pd.DataFrame, before_week: str,
                  keys: list[str], n_weeks: int = 13) -> pd.DataFrame:
    """The plan shared among customers, for a plan that has no customers: its units and revenue of each cell of
    ``keys`` (the plan's region and/or product line; none: the whole plan) go to the customers by their share
    of that cell's shipped revenue over the ``n_weeks`` before ``before_week`` (the run-rate window); a cell
    no customer shipped in is shared by the customers' shares of all those shipments.

    So the customers' plan adds up to the plan and their variances to the company's; with nothing shipped in
    the window no customer can take a share, and ``attrs["unallocated"]`` holds the plan revenue left over.

    Args:
        plan: the plan of the period (columns ``keys``, units, revenue); shipped: :func:`shipped_facts` rows
            (week, customer_id, ``keys``, revenue).
    Returns:
        columns customer_id, customer, region, units, revenue (currency).

    >>> plan = pd.DataFrame({"region": ["EU"], "units": [10.0], "revenue": [1000.0]})
    >>> shp = pd.DataFrame({"week": ["2026-W38"] * 2, "customer_id": ["C1", "C2"], "region": ["EU"] * 2,
    ...                     "revenue": [300.0, 100.0]})
    >>> cus = pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["One", "Two"], "region": ["EU", "EU"]})
    >>> customer_plan(plan, shp, cus, "2026-W40", ["region"])["revenue"].tolist()
    [750.0, 250.0]
    """
    window = {week_add(before_week, -k) for k in range(1, n_weeks + 1)}
    s = shipped[shipped["week"].isin(window)]
    s = s[s["revenue"] > 0]
    cols = ["customer_id", "units", "revenue"]
    k = list(keys) or ["_all"]
    p = plan.assign(_all=1) if not keys else plan
    cells = p.groupby(k, dropna=False)[["units", "revenue"]].sum().reset_index()
    hist = s.assign(_all=1).groupby(k + ["customer_id"], dropna=False)["revenue"].sum().rename("w").reset_index()
    hist["share"] = hist["w"] / hist.groupby(k, dropna=False)["w"].transform("sum")
    covered = cells.merge(hist, on=k, how="inner")
    rest = cells.merge(hist[k].drop_duplicates(), on=k, how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"]
    overall = s.groupby("customer_id")["revenue"].sum()
    parts = [covered.assign(units=covered["units"] * covered["share"], revenue=covered["revenue"] * covered["share"])[cols]]
    unallocated = 0.0
    if len(rest) and len(overall):
        share = (overall / overall.sum()).rename("share").reset_index()
        spread = share.assign(units=share["share"] * rest["units"].sum(), revenue=share["share"] * rest["revenue"].sum())
        parts.append(spread[cols])
    elif len(rest):
        unallocated = float(rest["revenue"].sum())
    out = pd.concat(parts, ignore_index=True).groupby("customer_id", as_index=False)[["units", "revenue"]].sum()
    names = customers[["customer_id", "name", "region"]].rename(columns={"name": "customer"})
    out = out.merge(names, on="customer_id", how="left")[["customer_id", "customer", "region", "units", "revenue"]]
    out.attrs["unallocated"] = unallocated
    return out


# ---------------------------------------------------------------- words


def variance_sentence(name: str, variance: float, pct: float, actual: float, reference: float, basis: str,
                      period: str, what: str = "shipped", *, symbol: str) -> str:
    """Plain-language line: 'Controllers is $412K (14.2%) behind plan quarter-to-date: shipped $2.49M vs $2.90M.'"""
    direction = "ahead of" if variance >= 0 else "behind"
    pct_txt = "" if not np.isfinite(pct) else f" ({fmt_pct(abs(pct))})"
    return (f"{name} is {fmt_money(abs(variance), symbol)}{pct_txt} {direction} {basis} {period}: "
            f"{what} {fmt_money(actual, symbol)} vs {fmt_money(reference, symbol)}.")


# ---------------------------------------------------------------- the week's reconciliation


@dataclass
class Reconciliation:
    week: str
    quarter: str
    week_vs_plan: dict[str, pd.DataFrame]
    qtd_vs_plan: dict[str, pd.DataFrame]
    week_vs_forecast: dict[str, pd.DataFrame]
    qtd_vs_forecast: dict[str, pd.DataFrame]
    bridge: pd.DataFrame
    landing: dict
    landing_weekly: pd.DataFrame
    landing_by_line: pd.DataFrame
    register: pd.DataFrame
    totals: dict
    backlog: pd.DataFrame = None      # open order lines at the week's end (landing.open_backlog + product_line)
    slip_risk: pd.DataFrame = None    # backlog expected in the quarter that could slip past its end
    notes: list = None                # what the landing assumed or could not count
    grain: object = None              # the plan's grain (plan_grain.PlanGrain), None without a plan


def _label_sku(df: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    return df.merge(products[["sku", "product_line"]], on="sku", how="left")


def reconcile_week(booked_weekly, shipped_weekly, products, customers, plan, forecasts, week: str,
                   cal: FiscalCalendar, materiality, symbol: str, *, orders: pd.DataFrame | None = None,
                   shipments: pd.DataFrame | None = None, corrections: pd.DataFrame | None = None,
                   plan_fill=None) -> Reconciliation:
    """Everything the demand reconciliation report shows for ``week`` (see the module docstring).

    ``booked_weekly`` and ``shipped_weekly`` are the aggregates of :mod:`soe_helpers.data.aggregates`
    (``wk.table("booked_weekly")``), not order lines: the heavy grouping ran in DuckDB or the source database.
    ``orders`` and ``shipments`` (order lines) give the open backlog of the landing; without them the
    landing counts no backlog and says so in ``notes``. ``corrections`` (the forecast feedback's,
    :func:`soe_helpers.analysis.feedback.current_corrections`) give the corrected landing.

    The plan is used at its own grain (:mod:`soe_helpers.analysis.plan_grain`): months and quarters are
    filled to weeks by working days (or, ``plan_fill`` = ``params.plan`` with ``fill: last_year``, by last
    year's weekly bookings or shipments, :func:`soe_helpers.analysis.plan_grain.weekly_plan`); actuals are
    compared with it only at the dimensions it has; product lines, SKUs, regions and customers it lacks are
    compared with their run-rate (average weekly shipments over the 13 weeks before the quarter); a single
    region is the company and gets no table; a plan without units has no price / volume / mix bridge (money
    only). ``plan`` None: everything against run-rate, no
    landing gap. ``forecasts`` None: the not-yet-booked demand of the landing is the run-rate of bookings
    (:func:`booking_run_rate`). Each of these is said in ``notes``.
    """
    quarter = cal.quarter_of(week)
    q_weeks = cal.quarter_weeks(quarter)
    qtd = cal.quarter_to_date(week)
    rest = cal.quarter_remaining(week)
    ship = shipped_facts(shipped_weekly, products, customers)
    book = booked_facts(booked_weekly, products, customers)
    notes: list[str] = []
    plan = None if plan is not None and plan.empty else plan  # an absent table may come as an empty frame
    forecasts = None if forecasts is not None and forecasts.empty else forecasts
    if forecasts is None:  # tables by need: nothing to compare orders with, not a zero forecast
        notes.append("No forecast snapshots were provided: orders are not compared with a forecast.")
    if plan is not None:
        history = PG.fill_history(plan_fill, booked_weekly, shipped_weekly)
        wp = PG.weekly_plan(plan, cal, products, customers, fill="last_year" if history is not None else
                            "working_days", history=history)
        grain = wp.attrs["grain"]
        plan_q = wp[wp["week"].isin(q_weeks)].drop(columns=["plan_period"])
        if "product_line" not in plan_q:
            plan_q = plan_q.assign(product_line=np.nan)
        if "sku" not in plan_q:
            plan_q = plan_q.assign(sku=np.nan)
        if grain.period != "week":
            notes.append(f"The plan is by {grain.describe()}: {PG.fill_note(wp)}.")
        elif grain.given != ("sku", "region") or not grain.units:
            notes.append(f"The plan is by {grain.describe()}.")
    else:
        grain = None
        plan_q = pd.DataFrame({"week": pd.Series(dtype=object), "sku": pd.Series(dtype=object),
                               "product_line": pd.Series(dtype=object), "units": pd.Series(dtype=float),
                               "revenue": pd.Series(dtype=float), "cogs": pd.Series(dtype=float)})
        notes.append("No plan was given: shipments are compared with their run-rate (average weekly shipments "
                     "over the 13 weeks before the quarter), and the landing has no plan to be measured against.")
    price = plan_prices(plan_q.dropna(subset=["sku"]), products) if grain is not None and grain.has("sku") and \
        grain.units else products.set_index("sku")["list_price"].astype(float).rename("plan_price")

    have_fc = forecasts is not None
    fc = forecast_for_weeks(forecasts, qtd, lag=1) if have_fc else \
        pd.DataFrame({"week": pd.Series(dtype=object), "sku": pd.Series(dtype=object),
                      "snapshot_week": pd.Series(dtype=object), "units": pd.Series(dtype=float)})
    fc = _label_sku(fc, products)
    fc["revenue"] = at_plan_price(fc, price)
    book_q = book[book["week"].isin(qtd)].copy()
    book_q["revenue"] = at_plan_price(book_q, price)  # valued at plan price vs forecast

    def periods(df, weeks_now):
        return {"week": df[df["week"] == week], "qtd": df[df["week"].isin(weeks_now)]}

    ship_p = periods(ship, qtd)
    plan_p = periods(plan_q, qtd)
    book_p = periods(book_q, qtd)
    fc_p = periods(fc, qtd)

    regions = set(customers["region"].dropna())
    plan_dims = [d for d in ("product_line", "sku", "region") if grain is not None and grain.has(d)]
    rr_dims = [d for d in ("product_line", "sku", "region") if d not in plan_dims]
    if len(regions) <= 1:  # one region is the company: its table would repeat the total
        plan_dims = [d for d in plan_dims if d != "region"]
        rr_dims = [d for d in rr_dims if d != "region"]
        notes.append(f"The customers are in {'one region' if regions else 'no region'}: the region is the "
                     "company, so there is no view by region.")
    if grain is not None:
        lacking = [_DIM_LABEL[d] for d in rr_dims]
        if lacking:
            notes.append(f"The plan has no {' or '.join(lacking)}: by {' and by '.join(lacking)} shipments are compared "
                         "with their run-rate (average weekly shipments over the 13 weeks before the quarter), "
                         "not with the plan.")
    vs_plan = {}
    for per, n in (("week", 1), ("qtd", len(qtd))):
        vs_plan[per] = {dim: compare(ship_p[per], plan_p[per], _dim_cols(dim), actual_prefix="actual",
                                     ref_prefix="plan") for dim in plan_dims}
        for dim in rr_dims:
            rr_d = run_rate(ship, q_weeks[0], _dim_cols(dim))
            vs_plan[per][dim] = compare(ship_p[per], rr_d.assign(units=rr_d["units"] * n, revenue=rr_d["revenue"] * n),
                                        _dim_cols(dim), actual_prefix="actual", ref_prefix="run_rate")
        if "sku" in vs_plan[per]:
            vs_plan[per]["sku"] = _fill_line(vs_plan[per]["sku"], products)
    if grain is not None and grain.has("customer_id"):  # a plan by customer: customers vs plan
        names = customers[["customer_id", "name"]].rename(columns={"name": "customer"})
        for per in ("week", "qtd"):
            pc = plan_p[per].drop(columns=["customer"], errors="ignore").merge(names, on="customer_id", how="left")
            vs_plan[per]["customer"] = compare(ship_p[per], pc, _dim_cols("customer"), actual_prefix="actual",
                                               ref_prefix="plan")
    elif grain is not None:
        # no plan by customer: each customer's share of the plan, so that customers add up to the company's variance
        keys = [d for d in ("region", "product_line") if grain.has(d)]
        for per in ("week", "qtd"):
            cp = customer_plan(plan_p[per], ship, customers, q_weeks[0], keys)
            vs_plan[per]["customer"] = compare(ship_p[per], cp, _dim_cols("customer"), actual_prefix="actual",
                                               ref_prefix="plan")
            vs_plan[per]["customer"].attrs.update(shared_plan=True, unallocated=cp.attrs["unallocated"])
    else:
        # customers without a plan: the reference is the customer's run-rate before the quarter
        rr = customer_run_rate(ship, q_weeks[0]).reset_index()
        for per, n in (("week", 1), ("qtd", len(qtd))):
            ref = rr.assign(units=0.0, revenue=rr["run_rate"] * n)
            vs_plan[per]["customer"] = compare(ship_p[per], ref, ["customer_id", "customer", "region"],
                                               actual_prefix="actual", ref_prefix="run_rate")

    vs_fc = {}
    for per in ("week", "qtd"):
        vs_fc[per] = {
            dim: compare(book_p[per], fc_p[per], _dim_cols(dim), actual_prefix="orders", ref_prefix="forecast")
            for dim in (("product_line", "sku") if have_fc else ())
        }
        if "sku" in vs_fc[per]:
            vs_fc[per]["sku"] = _fill_line(vs_fc[per]["sku"], products)

    # bridge and landing
    if grain is not None and grain.units and grain.has("sku"):
        bridge = pvm_bridge(ship_p["qtd"], plan_p["qtd"], key="sku", group="product_line")
    else:
        bridge = money_bridge(ship_p["qtd"], plan_p["qtd"], "product_line")
        if grain is not None:
            notes.append("The plan has no units by SKU: the bridge from plan to actual is in money only "
                         "(no price, volume or mix split).")
    if have_fc:
        lf = latest_forecast(forecasts, week, rest)
        lf = _label_sku(lf, products)
        lf["revenue"] = at_plan_price(lf, price)
    else:
        lf = booking_run_rate(book, week, rest)
        notes.append("No demand forecast was given: demand not yet booked for the quarter's remaining weeks is the "
                     "run-rate of bookings, each product line's average weekly booked value (net prices) over the 13 "
                     f"weeks to {week}, a week above twice the line's median booking week counted at twice that "
                     "median (a one-off large order does not repeat).")
    parts = _landing_parts(lf, plan_q if have_fc else plan_q.iloc[:0], book, products, customers, orders, shipments,
                           corrections, week, q_weeks, rest, price if have_fc else None)
    backlog, unbooked = parts["backlog"], parts["unbooked"]
    notes = parts["notes"] + notes
    landing, weekly = LD.quarter_landing(ship, plan_q, backlog, unbooked, q_weeks, week)
    landing["weeks_without_forecast"] = parts["uncovered"] if have_fc else []
    slip = LD.slip_risk(backlog, q_weeks, week)
    landing["slip_risk"] = float(slip["value"].sum())
    by_line = []
    line_plan = plan_q if grain is not None and grain.has("product_line") else plan_q.iloc[:0]
    for line in sorted(set(line_plan["product_line"].dropna()) | set(backlog["product_line"].dropna())
                       | set(ship.loc[ship["week"].isin(qtd), "product_line"].dropna())):
        f, _ = LD.quarter_landing(ship[ship["product_line"] == line], line_plan[line_plan["product_line"] == line],
                                  backlog[backlog["product_line"] == line], unbooked[unbooked["product_line"] == line],
                                  q_weeks, week)
        by_line.append({"product_line": line, **{k: f[k] for k in (
            "plan_quarter", "actual_qtd", "backlog_in_quarter", "unbooked_in_quarter", "landing", "gap", "gap_pct",
            "landing_corrected")}})
    landing_by_line = pd.DataFrame(by_line, columns=[
        "product_line", "plan_quarter", "actual_qtd", "backlog_in_quarter", "unbooked_in_quarter", "landing", "gap",
        "gap_pct", "landing_corrected"]).sort_values("gap", key=np.abs, ascending=False).reset_index(drop=True)
    if grain is None or not grain.has("product_line"):  # no plan by line: the gap by line is not a gap
        landing_by_line[["plan_quarter", "gap", "gap_pct"]] = np.nan

    register = variance_register(vs_plan, vs_fc, materiality, week, symbol)
    totals = {
        "week_shipped_revenue": float(ship_p["week"]["revenue"].sum()),
        "week_plan_revenue": float(plan_p["week"]["revenue"].sum()),
        "qtd_shipped_revenue": float(ship_p["qtd"]["revenue"].sum()),
        "qtd_plan_revenue": float(plan_p["qtd"]["revenue"].sum()),
        "qtd_shipped_cogs": float(ship_p["qtd"]["cogs"].sum()),
        "qtd_plan_cogs": float(plan_p["qtd"]["cogs"].sum()) if grain is not None and grain.cogs else float("nan"),
        "week_booked_units": float(book_p["week"]["units"].sum()),
        "week_forecast_units": float(fc_p["week"]["units"].sum()) if have_fc else float("nan"),
        "qtd_booked_at_plan_price": float(book_p["qtd"]["revenue"].sum()),
        "qtd_forecast_at_plan_price": float(fc_p["qtd"]["revenue"].sum()) if have_fc else float("nan"),
    }
    return Reconciliation(week, quarter, vs_plan["week"], vs_plan["qtd"], vs_fc["week"], vs_fc["qtd"], bridge,
                          landing, weekly, landing_by_line, register, totals, backlog, slip, notes, grain)


_DIM_LABEL = {"product_line": "product line", "sku": "SKU", "region": "region"}


def run_rate(shipped: pd.DataFrame, before_week: str, by: list[str], n_weeks: int = 13) -> pd.DataFrame:
    """Average weekly shipped units and revenue ``by`` keys over the ``n_weeks`` before ``before_week``
    (columns: by..., units, revenue): the reference where the plan has no such dimension."""
    window = {week_add(before_week, -k) for k in range(1, n_weeks + 1)}
    s = shipped[shipped["week"].isin(window)]
    out = s.groupby(by, dropna=False)[["units", "revenue"]].sum() / n_weeks
    return out.reset_index()


def booking_run_rate(booked: pd.DataFrame, week: str, weeks: list[str], n_weeks: int = 13,
                     cap: float = 2.0) -> pd.DataFrame:
    """The run-rate of bookings as the demand of ``weeks`` when there is no forecast: each product line's average
    weekly booked value (net prices) over the ``n_weeks`` to ``week`` (inclusive), a week above ``cap`` times the
    line's median booking week (of the weeks with bookings) counted at that cap, so that a one-off large order
    is not expected to repeat every week.

    Columns: week, sku (empty: the run-rate is by line), product_line, snapshot_week (= ``week``), units, revenue.
    """
    window = [week_add(week, -k) for k in range(0, n_weeks)]
    b = booked[booked["week"].isin(window)]
    g = b.groupby(["product_line", "week"], dropna=False)[["units", "value"]].sum().reset_index()
    if len(g):
        med = g.groupby("product_line", dropna=False)["value"].transform("median")
        ratio = (np.minimum(g["value"], cap * med) / g["value"].where(g["value"] > 0)).fillna(1.0)
        g = g.assign(value=g["value"] * ratio, units=g["units"] * ratio)
    rr = (g.groupby("product_line", dropna=False)[["units", "value"]].sum() / n_weeks).reset_index()
    rows = [rr.assign(week=w) for w in weeks]
    out = pd.concat(rows, ignore_index=True) if rows and len(rr) else pd.DataFrame(
        {"week": pd.Series(dtype=object), "product_line": pd.Series(dtype=object),
         "units": pd.Series(dtype=float), "value": pd.Series(dtype=float)})
    out = out.rename(columns={"value": "revenue"}).assign(snapshot_week=week, sku=None)
    return out[["week", "sku", "product_line", "snapshot_week", "units", "revenue"]]


def money_bridge(actual: pd.DataFrame, plan: pd.DataFrame, group: str = "product_line") -> pd.DataFrame:
    """The plan-to-actual bridge of a plan without units: per ``group``, plan revenue, actual revenue and their
    ``difference`` (actual - plan, currency), with the price / volume / mix columns at 0 (not measured)."""
    a = actual.groupby(group, dropna=False)["revenue"].sum().rename("actual_revenue")
    p = plan.groupby(group, dropna=False)["revenue"].sum().rename("plan_revenue") if len(plan) else \
        pd.Series(dtype=float, name="plan_revenue")
    df = pd.concat([p, a], axis=1).fillna(0.0).rename_axis(group).reset_index()
    for c in ("plan_units", "actual_units", "volume", "line_mix", "mix", "price", "unplanned"):
        df[c] = 0.0
    df["difference"] = df["actual_revenue"] - df["plan_revenue"]
    return df


def _landing_parts(lf, plan_q, book, products, customers, orders, shipments, corrections, week, q_weeks, rest, price) -> dict:
    """The landing's inputs: the open backlog and the unbooked demand of the remaining weeks (landing module)."""
    notes = []
    cutoff = week_end(week)
    if orders is None:
        backlog = pd.DataFrame(columns=LD.BACKLOG_COLUMNS)
        notes.append("No order lines were given: the landing counts no open backlog.")
        lags = LD.lead_times(pd.DataFrame(columns=["order_id", "line", "order_date", "unit_price"]), None, cutoff)
    else:
        backlog = LD.open_backlog(orders, shipments, cutoff)
        lags = LD.lead_times(orders, shipments, cutoff)
        if lags.empty:
            notes.append("Nothing shipped in the last 13 weeks: unbooked demand is assumed to ship in the quarter.")
    backlog = backlog.merge(products[["sku", "product_line"]], on="sku", how="left")
    backlog = backlog.merge(customers[["customer_id", "name"]].rename(columns={"name": "customer"}), on="customer_id",
                            how="left")
    covered = set(lf["week"])
    uncovered = [w for w in rest if w not in covered]
    fill = plan_q[plan_q["week"].isin(uncovered)].groupby(["week", "sku", "product_line"], as_index=False,
                                                            dropna=False)["revenue"].sum()
    if uncovered:
        notes.append(f"Weeks without a forecast use the plan's revenue as unbooked demand: {', '.join(uncovered)}.")
    fc = pd.concat([lf[["week", "sku", "product_line", "revenue"]], fill], ignore_index=True)
    # forecast consumption at the forecast's valuation: plan price, or net price for the bookings' run-rate
    # only what was booked by the run week's end consumes: a past week run later (a backfill, or re-run) must not
    # see the orders of the weeks after it, which are neither in its backlog nor yet booked when it ran
    booked = book[book["week"].isin(rest) & (book["week"] <= week)].assign(
        revenue=lambda d: at_plan_price(d, price) if price is not None else d["value"].astype(float))
    unbooked = LD.unbooked_demand(fc, booked, rest, week_end(q_weeks[-1]), lags)
    snap = lf["snapshot_week"].iloc[0] if len(lf) else week
    # built from a list: an empty frame's text column stays text after .map and would not subtract
    lag = pd.Series([week_ordinal(w) - week_ordinal(snap) for w in unbooked["week"]], index=unbooked.index, dtype=int)
    unbooked = LD.corrected_unbooked(unbooked, corrections, lag)
    return {"backlog": backlog, "unbooked": unbooked, "notes": notes, "uncovered": uncovered}


def _dim_cols(dim: str) -> list[str]:
    return {"product_line": ["product_line"], "sku": ["sku"], "region": ["region"],
            "customer": ["customer_id", "customer", "region"]}[dim]


def _fill_line(df: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    out = df.merge(products[["sku", "product_line"]], on="sku", how="left")
    return out[["sku", "product_line"] + [c for c in out.columns if c not in ("sku", "product_line")]]


_BASIS = {"plan": "plan", "run_rate": "its run-rate", "forecast": "the forecast made a week before",
          "customer_plan": "its share of plan"}
#: the comparison a register row belongs to, as the report names it
COMPARISON = {"plan": "plan", "run_rate": "run-rate", "forecast": "forecast made a week before",
              "customer_plan": "plan"}
#: child level -> the level it rolls up into (a customer into its region, where the company has regions)
PARENT_LEVEL = {"sku": "product_line", "customer": "region"}
#: a child explains "most" of its parent's variance above this share of it (same sign)
MOST = 0.5
_CHILD_LABEL = {"sku": "SKU", "customer": "customer"}
#: the child levels that stand in for a parent they explain most of (a customer stays inside its region's row,
#: so that the region's shortfall keeps its action; the region names the customer as its largest part)
STANDS_IN = ("sku",)
REGISTER_COLUMNS = ["period", "level", "key", "name", "product_line", "region", "comparison", "basis", "measure",
                    "actual", "reference", "variance", "variance_pct", "sentence", "rank", "folded_into",
                    "largest_part"]


def variance_register(vs_plan: dict, vs_fc: dict, materiality, week: str, symbol: str, names=None) -> pd.DataFrame:
    """Every material variance, each level, period and comparison, marked with the ranked list a team works.

    The full detail (what the report exports as ``variance_register.csv``): one row per material variance of a
    product line, SKU, region or customer, in the week or quarter-to-date, against the plan (a customer: its share
    of plan, :func:`customer_plan`; a level the plan lacks: its run-rate, customers only) or against the forecast
    made a week before (orders). No row below ``materiality.abs``: the one rule of
    :mod:`soe_helpers.analysis.materiality`.

    The ranked list (``rank`` 1, 2, ... by |variance|; :func:`ranked_register`) holds each variance once, at the
    level where it belongs (:func:`fold_register`): a SKU within its line and a customer within its region roll up
    rather than add, and the week's variance is part of the quarter-to-date one. A folded row has no rank and says
    where its dollars are (``folded_into``); a parent row names its ``largest_part``.

    Columns: :data:`REGISTER_COLUMNS`. Variance = actual - reference (currency; + = above the reference,
    favourable for revenue); variance_pct = variance / reference, empty when the reference is 0.
    """
    rows = []
    period_txt = {"week": f"in {week}", "qtd": "quarter-to-date"}
    for source, table in (("plan", vs_plan), ("forecast", vs_fc)):
        for per, dims in table.items():
            for dim, df in dims.items():
                if source == "plan":  # a dimension the plan lacks is compared with its run-rate
                    ref_prefix = "plan" if "plan_revenue" in df else "run_rate"
                    a_col, r_col, measure, what = "actual_revenue", f"{ref_prefix}_revenue", "shipped revenue", "shipped"
                else:
                    ref_prefix = "forecast"
                    a_col, r_col, measure, what = ("orders_revenue", "forecast_revenue",
                                                   "booked orders at plan price", "booked")
                if ref_prefix == "run_rate" and dim != "customer":
                    continue  # a level the plan lacks: shown against run-rate in the report, no variance to act on
                kind = "customer_plan" if df.attrs.get("shared_plan") else ref_prefix
                flagged = flag_material(df, materiality, r_col)
                flagged = flagged[flagged["material"]]
                for r in flagged.itertuples(index=False):
                    rd = r._asdict()
                    if dim == "customer":
                        key, name = rd["customer_id"], name_with_id(rd["customer_id"], names or {
                            str(rd["customer_id"]): rd["customer"]})
                    elif dim == "sku":
                        key, name = rd["sku"], f"{rd['sku']} ({rd.get('product_line')})"
                    else:
                        key = name = rd[dim]
                    basis = _BASIS[kind]
                    rows.append({
                        "period": per, "level": dim, "key": key, "name": name,
                        "product_line": rd.get("product_line"), "region": rd.get("region"),
                        "comparison": COMPARISON[kind], "basis": basis, "measure": measure,
                        "actual": rd[a_col], "reference": rd[r_col], "variance": rd["variance"],
                        "variance_pct": rd["variance_pct"],
                        "sentence": variance_sentence(name, rd["variance"], rd["variance_pct"], rd[a_col], rd[r_col],
                                                      basis, period_txt[per], what, symbol=symbol),
                    })
    reg = pd.DataFrame(rows, columns=REGISTER_COLUMNS[:14])
    # a variance on a zero reference has no percentage: empty, never infinite, in the register and its exports
    reg["variance_pct"] = reg["variance_pct"].astype(float).where(np.isfinite(reg["variance_pct"].astype(float)))
    reg = reg.sort_values("variance", key=np.abs, ascending=False, kind="stable").reset_index(drop=True)
    return fold_register(reg, materiality, week, symbol)


def fold_register(reg: pd.DataFrame, materiality, week: str, symbol: str) -> pd.DataFrame:
    """``reg`` (material rows, largest |variance| first) with ``rank``, ``folded_into`` and ``largest_part``.

    Within one comparison (the measure and its basis) and period:

    - a SKU of a material product line (a customer of a material region) is folded into it, whichever way it goes
      (the parent's variance is the net of its children), and the parent names its largest part (the child of the
      same sign with the largest variance);
    - but a SKU that explains most of its line (same sign, more than :data:`MOST` of the line's variance) stands
      in for it when it explains all of it (its variance at least the line's) or when the rest of the line is
      material: the line is folded into the SKU, whose row names the line it explains (:data:`STANDS_IN`), and
      the rest of the line (its variance less the SKU's) is a row of its own, "<line>, other SKUs", when
      material. So no material dollars drop out: otherwise the line keeps its row and names the SKU, with its
      share, as its largest part;
    - a child whose parent is not material stands alone.

    Then a week's row is folded into the same item's quarter-to-date row when that one is material: the week's
    dollars are part of it. What is left is ranked by |variance| (rank 1 = largest).
    """
    out = reg.copy()
    out["rank"] = pd.Series(np.nan, index=out.index, dtype=float)
    out["folded_into"] = pd.Series(None, index=out.index, dtype=object)
    out["largest_part"] = pd.Series(None, index=out.index, dtype=object)
    if out.empty:
        return out
    extra, period_txt = [], {"week": f"in {week}", "qtd": "quarter-to-date"}
    group = out["comparison"].astype(str) + "|" + out["measure"].astype(str)
    for (_g, per), idx in out.groupby([group, out["period"]], sort=False).groups.items():
        part = out.loc[idx]
        for child, parent in PARENT_LEVEL.items():
            parents = part[part["level"] == parent].set_index("key")
            kids = part[part["level"] == child]
            for j, kid in kids.iterrows():
                pk = kid["product_line"] if parent == "product_line" else kid["region"]
                if pk not in parents.index:
                    continue  # its parent is not material: the child stands alone
                pv = float(parents.loc[pk, "variance"])
                sibs = kids[(kids["product_line"] if parent == "product_line" else kids["region"]) == pk]
                largest = sibs["variance"].abs().idxmax() == j  # one SKU at most stands in for its line
                share = kid["variance"] / pv if pv else 0.0
                rest_v = pv - float(kid["variance"])
                rest_r = float(parents.loc[pk, "reference"]) - float(kid["reference"])
                rest_material = bool(material_mask([rest_v], [rest_r], materiality)[0])
                if child in STANDS_IN and largest and share > MOST and (share >= 1.0 or rest_material):
                    out.loc[part.index[(part["level"] == parent) & (part["key"] == pk)], "folded_into"] = kid["name"]
                    out.loc[j, "largest_part"] = (f"{pk}: {fmt_money(pv, symbol)} in all, "
                                                  f"{fmt_pct(kid['variance'] / pv)} of it this {_CHILD_LABEL[child]}")
                else:
                    out.loc[j, "folded_into"] = str(pk)
            for pk, prow in parents.iterrows():  # a line stood in for by its SKU(s): the rest of it, if material
                pi = part.index[(part["level"] == parent) & (part["key"] == pk)]
                ins = out.loc[kids.index][out.loc[kids.index, "largest_part"].fillna("").str.startswith(f"{pk}: ")]
                if not len(ins) or out.loc[pi, "folded_into"].isna().all():
                    continue
                rest = {c: float(prow[c]) - float(ins[c].sum()) for c in ("actual", "reference", "variance")}
                if material_mask([rest["variance"]], [rest["reference"]], materiality)[0]:
                    pct = rest["variance"] / rest["reference"] if rest["reference"] else np.nan
                    name = f"{pk}, other {_CHILD_LABEL[child]}s"
                    what = "booked" if "orders" in str(prow["measure"]) else "shipped"
                    extra.append({**prow.to_dict(), "key": pk, "name": name, **rest, "variance_pct": pct,
                                  "folded_into": None, "largest_part": f"{pk} without {', '.join(ins['key'].astype(str))}",
                                  "sentence": variance_sentence(name, rest["variance"], pct, rest["actual"],
                                                                rest["reference"], prow["basis"], period_txt[per],
                                                                what, symbol=symbol)})
            for pk, prow in parents.iterrows():
                same = kids[((kids["product_line"] if parent == "product_line" else kids["region"]) == pk)
                            & (np.sign(kids["variance"]) == np.sign(prow["variance"]))]
                pi = part.index[(part["level"] == parent) & (part["key"] == pk)]
                if len(same) and out.loc[pi, "folded_into"].isna().all():
                    top = same.iloc[0]  # largest first
                    out.loc[pi, "largest_part"] = (f"{top['name']}: {fmt_money(top['variance'], symbol)}, "
                                                   f"{fmt_pct(top['variance'] / prow['variance'])} of it")
    if extra:
        out = pd.concat([out, pd.DataFrame(extra, columns=out.columns)], ignore_index=True)
        group = out["comparison"].astype(str) + "|" + out["measure"].astype(str)
    # the week's variance is part of the quarter-to-date one of the same item and comparison
    qtd = set(zip(group[out["period"] == "qtd"], out.loc[out["period"] == "qtd", "level"],
                  out.loc[out["period"] == "qtd", "key"].astype(str)))
    wk = (out["period"] == "week") & out["folded_into"].isna()
    inq = pd.Series([(g, lv, str(k)) in qtd for g, lv, k in zip(group, out["level"], out["key"])], index=out.index)
    out.loc[wk & inq, "folded_into"] = "quarter-to-date"
    shown = out["folded_into"].isna()
    order = out.loc[shown, "variance"].abs().sort_values(ascending=False, kind="stable").index
    out.loc[order, "rank"] = np.arange(1, len(order) + 1, dtype=float)
    return out


def ranked_register(reg: pd.DataFrame) -> pd.DataFrame:
    """The register's ranked list (rows with a rank), rank 1 first: what the report shows and the tracker acts on."""
    if "rank" not in reg:
        return reg
    return reg[reg["rank"].notna()].sort_values("rank", kind="stable").reset_index(drop=True)


def customer_tie_out(rec: "Reconciliation", materiality, period: str = "qtd") -> dict:
    """The customers' variances added up to the company's, for ``period`` (week or qtd) vs plan (or run-rate).

    Returns {"table": the material customers, then one "Other customers" row for the immaterial rest (and one
    "Plan not shared to a customer" row when some plan could not be shared, :func:`customer_plan`), with
    columns customer_id, customer, region, actual_revenue, reference, variance, variance_pct; "customers":
    the sum of those rows' variances; "company": shipped revenue less the plan (or run-rate) of the period;
    "closes": whether they agree to the cent; "basis"}. Variance = actual - reference (currency).
    """
    src = rec.week_vs_plan if period == "week" else rec.qtd_vs_plan
    c = src["customer"]
    ref = "plan_revenue" if "plan_revenue" in c else "run_rate_revenue"
    t = flag_material(c, materiality, ref)
    keep = t[t["material"]]
    rest = t[~t["material"]]
    rows = keep[["customer_id", "customer", "region", "actual_revenue", ref, "variance", "variance_pct"]].rename(
        columns={ref: "reference"})
    extra = [{"customer_id": "", "customer": f"Other customers ({len(rest)}, each immaterial)", "region": "",
              "actual_revenue": float(rest["actual_revenue"].sum()), "reference": float(rest[ref].sum()),
              "variance": float(rest["variance"].sum())}]
    lines = src["product_line"]
    lref = "plan_revenue" if ref == "plan_revenue" and "plan_revenue" in lines else "run_rate_revenue"
    company = float(lines["variance"].sum()) if lref in lines else float(c["variance"].sum())
    gap = company - float(c["variance"].sum())
    if abs(gap) >= 0.005:  # plan no customer could take (nothing shipped in the run-rate window)
        extra.append({"customer_id": "", "customer": "Plan not shared to a customer", "region": "",
                      "actual_revenue": 0.0, "reference": -gap, "variance": gap})
    ex = pd.DataFrame(extra)
    ex["variance_pct"] = np.where(ex["reference"] != 0, ex["variance"] / ex["reference"].where(ex["reference"] != 0), np.nan)
    table = pd.concat([rows, ex], ignore_index=True) if len(rows) else ex
    total = float(table["variance"].sum())
    return {"table": table, "customers": total, "company": company, "closes": bool(abs(total - company) < 0.005),
            "basis": "its share of plan" if c.attrs.get("shared_plan") else ("plan" if ref == "plan_revenue"
                                                                              else "its run-rate"),
            "material": int(len(keep)), "other": int(len(rest))}


def customer_tie_out_table(tie: dict, top_n: int) -> pd.DataFrame:
    """:func:`customer_tie_out`'s table for the report: the ``top_n`` largest material customers, then one row for the
    rest of the material ones, then the others: its rows still add up to the company's variance."""
    t = tie["table"]
    mat = t.iloc[: tie["material"]]
    if len(mat) <= top_n:
        return t
    more = mat.iloc[top_n:]
    row = pd.DataFrame([{"customer_id": "", "customer": f"{len(more)} more material customers", "region": "",
                         "actual_revenue": float(more["actual_revenue"].sum()),
                         "reference": float(more["reference"].sum()), "variance": float(more["variance"].sum())}])
    row["variance_pct"] = row["variance"] / row["reference"].where(row["reference"] != 0)
    return pd.concat([mat.iloc[:top_n], row, t.iloc[tie["material"]:]], ignore_index=True)


def customer_tie_out_text(tie: dict, symbol: str, period_txt: str = "quarter-to-date") -> str:
    """The tie-out as a plain sentence: 'The 12 material customers (-$310K) and the 280 others (-$92K) add up to the
    company's -$402K vs plan quarter-to-date.' (or says by how much they do not)."""
    mat = float(tie["table"]["variance"].iloc[: tie["material"]].sum())
    others = tie["customers"] - mat
    ref = "plan" if "plan" in tie["basis"] else "run-rate"
    head = (f"The {tie['material']} material customer{'s' if tie['material'] != 1 else ''} "
            f"({fmt_money(mat, symbol)}) and the other {tie['other']} ({fmt_money(others, symbol)})")
    if tie["closes"]:
        return f"{head} add up to the company's {fmt_money(tie['company'], symbol)} vs {ref} {period_txt}."
    return (f"{head} add up to {fmt_money(tie['customers'], symbol)}, not the company's "
            f"{fmt_money(tie['company'], symbol)} vs {ref} {period_txt}: a difference of "
            f"{fmt_money(tie['customers'] - tie['company'], symbol, exact=True)}.")


_LEVEL_WORD = {"product_line": "product line", "sku": "SKU", "region": "region", "customer": "customer"}


def register_table(reg: pd.DataFrame, week: str, owner_status: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ranked register as the report shows it: rank, level, item (name beside id), comparison, period, variance
    (actual - reference, currency: + = ahead, - = behind), reference, variance_pct, owner, status, largest_part.

    ``owner_status``: :func:`soe_helpers.analysis.actions.register_owner_status` on ``reg`` (same index); without
    it owner and status are left empty."""
    r = reg[reg["rank"].notna()] if "rank" in reg else reg
    if owner_status is not None:
        r = r.join(owner_status[["owner", "status"]])
    r = r.sort_values("rank", kind="stable")
    return pd.DataFrame({
        "rank": r["rank"].astype(int), "level": r["level"].map(_LEVEL_WORD).fillna(r["level"]), "item": r["name"],
        "comparison": r["comparison"], "period": r["period"].map({"week": week, "qtd": "quarter-to-date"}),
        "variance": r["variance"], "reference": r["reference"], "variance_pct": r["variance_pct"],
        "owner": r["owner"] if "owner" in r else None, "status": r["status"] if "status" in r else None,
        "largest_part": r["largest_part"].fillna(""),
    }).reset_index(drop=True)


def register_sentence(reg: pd.DataFrame, symbol: str) -> str:
    """What the ranked register holds, in one sentence: its rows, their dollars (absolute, the sign apart) and what
    was folded into them."""
    ranked = ranked_register(reg)
    folded = reg[reg["folded_into"].notna()] if "folded_into" in reg else reg.iloc[:0]
    into_qtd = int((folded["folded_into"] == "quarter-to-date").sum())
    into_parent = len(folded) - into_qtd
    up = float(ranked.loc[ranked["variance"] > 0, "variance"].sum())
    down = float(ranked.loc[ranked["variance"] < 0, "variance"].sum())
    return (f"{len(ranked)} material variance{'s' if len(ranked) != 1 else ''}, each counted once at the level where "
            f"it belongs, ranked by dollars: {fmt_money(-down, symbol)} behind and {fmt_money(up, symbol)} ahead "
            f"(comparisons and levels overlap, so these are not one total). Folded in: {into_parent} SKU, customer "
            f"or line row{'s' if into_parent != 1 else ''} whose dollars are inside another row (its largest part "
            f"is named), and {into_qtd} week row{'s' if into_qtd != 1 else ''} inside the same item's "
            f"quarter-to-date. Every row, folded ones too, is in variance_register.csv.")


__all__ += ["fmt_units"]


# ---------------------------------------------------------------- report views (what the notebook shows)


def landing_headline(rec: Reconciliation, symbol: str) -> str:
    """The landing in one sentence: vs the quarter plan when there is one, with the bias-corrected landing when
    the forecast feedback corrected it."""
    land = rec.landing
    head = f"{rec.quarter} is projected to land at {fmt_money(land['landing'], symbol)}"
    if rec.grain is None or not land["plan_quarter"]:
        return head + " (no plan for the quarter to compare it with)."
    behind = "behind" if land["gap"] < 0 else "ahead of"
    head += (f": {fmt_money(abs(land['gap']), symbol)} {behind} the {fmt_money(land['plan_quarter'], symbol)} plan "
             f"({fmt_pct(land['gap_pct'], signed=True)})")
    if not rec.week_vs_forecast:  # no forecast: no bias to correct
        return head + "."
    return head + f"; {fmt_money(land['landing_corrected'], symbol)} with the forecast's known bias corrected."


def _closes_text(steps: pd.DataFrame) -> str:
    """The bridge's tie-out as a plain sentence (:func:`soe_helpers.core.formats.bridge_closes_text`)."""
    return bridge_closes_text(steps, "Plan revenue", "actual revenue")


def bridge_text(rec: Reconciliation, steps: pd.DataFrame) -> str:
    """What the bridge shows, and whether it closes."""
    if "difference" in rec.bridge:
        return ("Quarter-to-date shipped revenue against plan to date. The plan is in money only (no units by SKU), "
                "so the difference is not split into price, volume and mix; by product line below where the plan "
                f"has lines. {_closes_text(steps)}")
    return ("Quarter-to-date shipped revenue against plan to date, split into volume (more or fewer units company-wide, "
            "at plan mix and price), line mix (units shifting between product lines), mix (which items sold within each "
            "line), price (net price vs plan price) and items shipped without a plan. By line below, volume is the "
            "line's own unit change at its plan prices. "
            f"{_closes_text(steps)}")


_BRIDGE_RENAME = {"product_line": "Product line", "plan_revenue": "Plan", "volume": "Volume", "mix": "Mix",
                  "price": "Price", "unplanned": "Unplanned", "difference": "Difference", "actual_revenue": "Actual"}


def bridge_by_line(bridge: pd.DataFrame) -> pd.DataFrame:
    """The bridge by product line (plan, its steps, actual), the columns named for the report."""
    steps = ["difference"] if "difference" in bridge else ["volume", "mix", "price", "unplanned"]
    cols = ["plan_revenue", *steps, "actual_revenue"]
    return bridge.groupby("product_line")[cols].sum().reset_index().rename(columns=_BRIDGE_RENAME)


_VIEW_LABEL = {"product_line": "Product line", "region": "Region", "sku": "SKU"}


def vs_plan_views(rec: Reconciliation, materiality, top_n: int) -> list[dict]:
    """The quarter-to-date tables by product line, region and SKU, each vs plan where the plan has that
    dimension, else vs run-rate: dicts of heading, table (material rows, ``top_n``), money, units, rename."""
    out = []
    for dim, label in _VIEW_LABEL.items():
        if dim not in rec.qtd_vs_plan:
            continue
        t = rec.qtd_vs_plan[dim]
        ref = "plan" if "plan_revenue" in t else "run_rate"
        t = flag_material(t, materiality, f"{ref}_revenue")
        t = t[t["material"]].drop(columns=["material"]).head(top_n)
        if ref == "plan" and not rec.grain.units:  # a money-only plan: no planned units to compare
            t = t.drop(columns=["plan_units", "variance_units"])
        basis = "" if ref == "plan" else " vs run-rate (no plan at this level)"
        out.append({"heading": f"By {label.lower()}{basis}: {len(t)} material", "table": t,
                    "money": ["actual_revenue", f"{ref}_revenue", "variance"],
                    "units": [c for c in ("actual_units", f"{ref}_units", "variance_units") if c in t],
                    "rename": {dim: label, "variance_pct": "%", "run_rate_revenue": "Run-rate revenue",
                               "run_rate_units": "Run-rate units"}})
    return out


__all__ += ["landing_headline", "bridge_text", "bridge_by_line", "vs_plan_views"]
