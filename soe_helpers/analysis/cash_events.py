"""Operational events in dollars: detected disruptions and analyst what-if scenarios.

An *event* changes the inputs of the cash forecast (:mod:`soe_helpers.analysis.cash_forecast`):
a purchase order arrives later, an order line ships later, demand runs above forecast.
Its impact is measured by projecting the affected SKUs twice, with and without it:

    impact = projection with the event - projection without it

so a negative number always means *less profit / less cash because of the event*.

Detected every week from the data (they are already in the baseline forecast):

- ``supplier_delay:<supplier>``: open PO lines whose latest expected date is at least
  ``min_days`` past their promised date. Without it: the lines arrive as promised.
  Its *exposure* is the value of the open customer order lines that would ship late if
  those receipts did not come at all (the orders the late goods are meant for).
- ``production_delay:<order>/<line>``: open order lines the ERP has rescheduled after
  their promised date. Without it: they ship as promised.
- ``<type>:sku=<sku>``: two or more production delays (or orders at risk) of one SKU, each
  worth less than ``line_event_min_value`` (default half the materiality threshold), measured
  together as one event (see :func:`group_small_lines`): at volume there are thousands of small
  rescheduled lines, and a SKU's are one conversation with operations.
- ``order_at_risk:<order>/<line>``: open order lines that miss their promised date
  because stock on hand plus incoming supply does not cover them (or that are overdue
  and unscheduled), other than through a detected supplier delay. Without it: they ship as
  promised, as if their own stock were there (the lines queued behind them do not move).
- ``demand_spike:<sku>``: SKUs whose booked units ran at least ``min_pct`` above the lag-1
  forecast in each of ``min_weeks`` of the last ``lookback_weeks`` weeks, by a material
  amount. The baseline assumes the spike continues at the observed ratio for
  ``persist_weeks`` forecast weeks; without it: the forecast as made.

Entered by an analyst (``params.cash.scenarios``), applied on top of the baseline:
``supplier_delay``, ``demand_spike``, ``production_delay``, ``vendor_switch``.

Per event, in the company currency:

- ``pnl_impact_quarter``: change in the P&L quarter's profit (the quarter of the first
  forecast week): revenue - COGS - penalties - expedite - overtime - one-off costs -
  purchase price variance - inventory carrying cost (annual rate x change in average
  inventory value x the share of the year in the quarter's forecast weeks).
- ``cash_impact_13w``: change in week-13 closing cash.
- ``cash_low_point``: the most the event lowers cumulative cash at any week's end (<= 0).
- ``receipts_delayed``: value of customer shipments whose collection moves later.
- ``dollars_at_stake`` (>= 0, for ranking and escalation): the largest of |P&L impact|,
  the cash low point, the receipts delayed and the exposure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from soe_helpers.core.calendar import FiscalCalendar, week_add, week_end, week_ordinal, week_range, week_start, to_week
from soe_helpers.analysis.cash_forecast import PAYMENT_FLOWS, RECEIPT_FLOWS, CashInputs, Projection, project
from soe_helpers.core.formats import fmt_money, fmt_pct, name_with_id
from soe_helpers.analysis.reconcile import forecast_for_weeks

__all__ = [
    "Event",
    "Impact",
    "ScenarioError",
    "detect_supplier_delays",
    "detect_production_delays",
    "detect_orders_at_risk",
    "group_small_lines",
    "detect_demand_spikes",
    "apply_spikes",
    "without_event",
    "without_events",
    "apply_scenario",
    "measure",
    "pnl_window",
    "event_sentence",
    "scenario_sentence",
    "EVENT_COLUMNS",
]

EVENT_COLUMNS = ["event_id", "type", "sentence", "product_line", "region", "supplier_id", "customer_id", "sku",
                 "order_id", "pnl_impact_quarter", "cash_impact_13w", "dollars_at_stake"]


class ScenarioError(ValueError):
    """A scenario in params names something the data does not have."""


@dataclass(frozen=True)
class Event:
    """One detected event or scenario.

    Attributes:
        event_id: stable id across weeks (``type:key``).
        type: supplier_delay, production_delay, order_at_risk, demand_spike (scenarios add
            vendor_switch).
        skus: SKUs whose supply or demand it changes.
        refs: the PO lines (``PO/line``) or order lines (``SO/line``) it concerns.
        facts: what the sentence needs (counts, dates, days, values).
    """

    event_id: str
    type: str
    skus: tuple[str, ...]
    refs: tuple[str, ...] = ()
    product_line: str = ""
    region: str = ""
    supplier_id: str = ""
    customer_id: str = ""
    sku: str = ""
    order_id: str = ""
    facts: dict = field(default_factory=dict)


@dataclass
class Impact:
    """The effect of one event (with - without), see the module docstring for definitions.

    ``weekly`` has week, receipts, payments, net (signed change of the week's net cash flow),
    cumulative (change of closing cash). ``pnl`` is the change by P&L kind in the quarter.
    """

    pnl_impact_quarter: float
    cash_impact_13w: float
    cash_low_point: float
    receipts_delayed: float
    exposure: float
    revenue_in_quarter: float
    weekly: pd.DataFrame
    pnl: pd.Series
    moved: pd.DataFrame

    @property
    def dollars_at_stake(self) -> float:
        return float(max(abs(self.pnl_impact_quarter), -self.cash_low_point, self.receipts_delayed, self.exposure))


# ---------------------------------------------------------------- detection


def detect_supplier_delays(inp: CashInputs, min_days: int = 3, suppliers: pd.DataFrame | None = None) -> list[Event]:
    """One event per supplier with open PO lines expected ``min_days`` or more after their promise.

    Facts: supplier name, lines, pos, po_value (currency at PO cost), max/avg delay days (value
    weighted), first promised and last expected date, SKUs.
    """
    p = inp.pos
    days = (p["expected_date"] - p["promised_date"]).dt.days
    late = p[days >= max(min_days, 1)].assign(days=days)
    names = suppliers.set_index("supplier_id")["name"] if suppliers is not None else pd.Series(dtype=object)
    lines = inp.skus.set_index("sku")["product_line"]
    out = []
    for sid, g in late.groupby("supplier_id", sort=True):
        value = g["qty"] * g["unit_cost"]
        skus = tuple(sorted(g["sku"].unique()))
        pl = sorted(set(lines.reindex(list(skus)).dropna()))
        out.append(Event(
            event_id=f"supplier_delay:{sid}", type="supplier_delay", skus=skus, refs=tuple(g["ref"]),
            supplier_id=str(sid), product_line=pl[0] if len(pl) == 1 else "; ".join(pl),
            sku=skus[0] if len(skus) == 1 else "",
            facts={"name": str(names.get(sid, sid)), "lines": int(len(g)), "pos": int(g["po_id"].nunique()),
                   "po_value": float(value.sum()), "max_days": int(g["days"].max()),
                   "avg_days": float((g["days"] * value).sum() / value.sum()) if value.sum() > 0 else
                   float(g["days"].mean()),
                   "first_promised": g["promised_date"].min(), "last_expected": g["expected_date"].max(),
                   "skus": list(skus)},
        ))
    return out


def detect_production_delays(inp: CashInputs, min_days: int = 1) -> list[Event]:
    """One event per open order line the ERP has scheduled ``min_days`` or more after its promise."""
    o = inp.orders
    # The days are assigned before filtering: ``.assign`` of a Series on an empty frame would
    # take the Series' index and invent rows of NaN (phantom ``production_delay:nan`` events).
    late = o.assign(days=(o["date"] - o["promised_date"]).dt.days)
    late = late[late["erp_late"].astype(bool) & (late["days"] >= max(min_days, 1))]
    return [_order_event("production_delay", r) for r in late.itertuples(index=False)]


def detect_orders_at_risk(inp: CashInputs, proj_without_supplier_delays: Projection,
                          detected_refs: Iterable[str] = ()) -> list[Event]:
    """One event per open order line that misses its promise for lack of stock (or is overdue
    and unscheduled), in a projection where every detected supplier delay is removed, so
    that lines starved by a supplier delay count under that supplier's event instead."""
    sh = proj_without_supplier_delays.shipments
    skip = set(detected_refs)
    at_risk = sh[(sh["kind"] == "order") & ~sh["erp_late"].astype(bool) & ~sh["ref"].isin(skip)
                 & ((sh["days_late"] >= 1) | sh["ship_date"].isna())]
    o = inp.orders.set_index("ref")
    out = []
    for r in at_risk.itertuples(index=False):
        row = o.loc[r.ref]
        days = int(r.days_late) if pd.notna(r.days_late) else None
        ev = _order_event("order_at_risk", row, ref=r.ref, days=days)
        ev.facts["projected_ship"] = r.ship_date
        out.append(ev)
    return out


def _order_event(kind: str, r, ref: str | None = None, days: int | None = None) -> Event:
    get = (lambda k: getattr(r, k)) if not isinstance(r, pd.Series) else (lambda k: r[k])
    ref = ref or get("ref")
    value = float(get("qty") * get("unit_price"))
    return Event(
        event_id=f"{kind}:{ref}", type=kind, skus=(str(get("sku")),), refs=(ref,),
        product_line=str(get("product_line") or ""), region=str(get("region") or ""),
        customer_id=str(get("customer_id")), sku=str(get("sku")), order_id=str(get("order_id")),
        facts={"value": value, "qty": float(get("qty")), "promised": get("promised_date"), "scheduled": get("date"),
               "days": int(days if days is not None else get("days")),
               "penalty_pct": float(get("penalty_pct")), "penalty_cap": float(get("penalty_cap")),
               "customer": name_with_id(get("customer_id"), {str(get("customer_id")): _opt(r, "customer_name")})},
    )


def _opt(r, k):
    """A field of a row (Series or itertuples row) that may be absent: None then."""
    return r.get(k) if isinstance(r, pd.Series) else getattr(r, k, None)


def group_small_lines(events: list[Event], min_value: float) -> list[Event]:
    """Merge the small order-line events of each type and SKU into one event, measured together.

    A production delay or order at risk concerns one order line; at volume there are thousands
    of them, mostly small. Lines worth ``min_value`` or more stay events of their own (their
    dollars at stake are about their value: a line under half the materiality threshold cannot be
    material alone unless its costs exceed its value). Two or more smaller lines of the same type
    and SKU become one event ``<type>:sku=<sku>`` (e.g. ``production_delay:sku=PWR-5020``), stable
    from week to week, whose impact is all of them together; a SKU with a single small line keeps
    that line's own event. Other events pass through unchanged. Order: the big lines and other
    events as given, then the groups by type and SKU.
    """
    kinds = ("production_delay", "order_at_risk")
    small: dict[tuple[str, str], list[Event]] = {}
    keep = []
    for ev in events:
        if ev.type in kinds and len(ev.refs) == 1 and ev.facts.get("value", 0.0) < min_value:
            small.setdefault((ev.type, ev.sku), []).append(ev)
        else:
            keep.append(ev)
    groups = []
    for (kind, sku), evs in sorted(small.items()):
        if len(evs) == 1:
            keep.append(evs[0])
            continue
        f = [e.facts for e in evs]
        regions = {e.region for e in evs}
        days = [x["days"] for x in f]
        facts = {"grouped": True, "lines": len(evs), "value": float(sum(x["value"] for x in f)),
                 "qty": float(sum(x["qty"] for x in f)), "min_days": int(min(days)), "max_days": int(max(days)),
                 "customers": len({e.customer_id for e in evs}), "below": float(min_value),
                 "promised_first": min(x["promised"] for x in f), "promised_last": max(x["promised"] for x in f)}
        groups.append(Event(event_id=f"{kind}:sku={sku}", type=kind, skus=(sku,), refs=tuple(r for e in evs for r in e.refs),
                            product_line=evs[0].product_line, region=regions.pop() if len(regions) == 1 else "",
                            sku=sku, facts=facts))
    return keep + groups


def detect_demand_spikes(orders: pd.DataFrame, forecasts: pd.DataFrame, products: pd.DataFrame, week: str,
                         forecast_weeks: list[str], lookback_weeks: int = 4, min_weeks: int = 4,
                         min_pct: float = 0.20, min_value: float = 5000.0, persist_weeks: int = 4) -> list[Event]:
    """SKUs whose bookings ran at least ``min_pct`` above the lag-1 forecast in ``min_weeks`` of the
    last ``lookback_weeks`` weeks (up to and including ``week``), with the excess over the window
    worth more than ``min_value`` at the SKU's booked price.

    Facts: weeks (window), booked and forecast units, ratio (booked / forecast over the window),
    excess_units, excess_value (currency), weeks_above, continue_weeks (the first
    ``persist_weeks`` of ``forecast_weeks``, where the baseline assumes the ratio holds).
    """

    win = week_range(week_add(week, -(lookback_weeks - 1)), week)
    o = orders[orders["order_date"].between(week_start(win[0]), week_end(win[-1]))]
    if "status" in o:
        o = o[o["status"].fillna("open") != "cancelled"]
    o = o.assign(week=to_week(o["order_date"]), value=o["quantity"] * o["unit_price"])
    booked = o.groupby(["sku", "week"]).agg(units=("quantity", "sum"), value=("value", "sum"))
    fc = forecast_for_weeks(forecasts, win, lag=1).set_index(["sku", "week"])["units"].astype(float)
    df = booked.join(fc.rename("forecast"), how="outer").fillna(0.0).reset_index()
    df["above"] = df["units"] >= df["forecast"] * (1 + min_pct) + 1e-9
    df["above"] &= df["forecast"] > 0
    g = df.groupby("sku").agg(units=("units", "sum"), value=("value", "sum"), forecast=("forecast", "sum"),
                              weeks_above=("above", "sum"))
    g = g[(g["weeks_above"] >= min_weeks) & (g["forecast"] > 0)]
    price = g["value"] / g["units"]
    g = g.assign(ratio=g["units"] / g["forecast"], excess_units=g["units"] - g["forecast"])
    g["excess_value"] = g["excess_units"] * price
    g = g[(g["ratio"] >= 1 + min_pct) & (g["excess_value"] > min_value)].sort_values("excess_value", ascending=False)
    lines = products.set_index("sku")["product_line"]
    cont = tuple(forecast_weeks[:max(persist_weeks, 0)])
    return [Event(event_id=f"demand_spike:{sku}", type="demand_spike", skus=(str(sku),), sku=str(sku),
                  product_line=str(lines.get(sku, "")),
                  facts={"weeks": win, "booked_units": float(r.units), "forecast_units": float(r.forecast),
                         "ratio": float(r.ratio), "excess_units": float(r.excess_units),
                         "excess_value": float(r.excess_value), "weeks_above": int(r.weeks_above),
                         "continue_weeks": list(cont)})
            for sku, r in g.iterrows()]


# ---------------------------------------------------------------- with / without


def apply_spikes(inp: CashInputs, spikes: list[Event]) -> CashInputs:
    """Inputs where each detected spike continues: forecast bookings of its SKU in its
    ``continue_weeks`` are its ``ratio`` times the forecast (``base_qty``)."""
    d = inp.demand.copy()
    for ev in spikes:
        m = (d["sku"] == ev.sku) & d["week"].isin(ev.facts["continue_weeks"])
        d.loc[m, "qty"] = d.loc[m, "base_qty"] * ev.facts["ratio"]
    return inp.with_(demand=d)


def without_event(inp: CashInputs, ev: Event) -> CashInputs:
    """The inputs as if the detected event had not happened (see the module docstring)."""
    return without_events(inp, [ev])


def without_events(inp: CashInputs, events: Iterable[Event]) -> CashInputs:
    """The inputs as if none of the detected ``events`` had happened."""
    pos, orders, demand = inp.pos, inp.orders, inp.demand
    refs = {t: set() for t in ("supplier_delay", "production_delay", "order_at_risk")}
    spikes = []
    for ev in events:
        if ev.type == "demand_spike":
            spikes.append(ev)
        elif ev.type in refs:
            refs[ev.type].update(ev.refs)
        else:
            raise ValueError(f"{ev.event_id}: not a detected event type")
    if refs["supplier_delay"]:
        pos = pos.copy()
        m = pos["ref"].isin(refs["supplier_delay"])
        pos.loc[m, "expected_date"] = pos.loc[m, "promised_date"]
    if refs["production_delay"] or refs["order_at_risk"]:
        orders = orders.copy()
        m = orders["ref"].isin(refs["production_delay"])
        orders.loc[m, "date"] = orders.loc[m, "promised_date"]
        orders.loc[m, "erp_late"] = False
        # as promised, still taking its stock at the same place in the queue, so no other line moves
        m = orders["ref"].isin(refs["order_at_risk"])
        orders.loc[m, "date"] = orders.loc[m, "promised_date"]
        orders.loc[m, "fixed"] = True
    if spikes:
        demand = demand.copy()
        for ev in spikes:
            m = (demand["sku"] == ev.sku) & demand["week"].isin(ev.facts["continue_weeks"])
            demand.loc[m, "qty"] = demand.loc[m, "base_qty"]
    return inp.with_(pos=pos, orders=orders, demand=demand)


def apply_scenario(inp: CashInputs, sc, known: dict[str, set] | None = None) -> tuple[CashInputs, Event, list[str]]:
    """Apply one analyst scenario (a ``params.cash.scenarios`` item) on top of ``inp``.

    Args:
        inp: the inputs (usually the baseline).
        sc: a scenario model with ``kind`` supplier_delay, demand_spike, production_delay or
            vendor_switch.
        known: ids in the master data ({"supplier_id", "po_id", "sku", "product_line",
            "order_id"}) to tell a typo from something with no open items this week.
    Returns:
        (new inputs, the scenario as an :class:`Event`, warnings).
    Raises:
        ScenarioError: the scenario names an id the data does not know.
    """
    known = known or {}
    warns: list[str] = []
    kind = sc.kind
    if kind in ("supplier_delay", "vendor_switch"):
        key, val = ("po_id", sc.po_id) if getattr(sc, "po_id", None) else ("supplier_id", sc.supplier_id)
        _check_known(sc, key, val, known)
        pos = inp.pos.copy()
        m = pos[key] == val
        if not m.any():
            warns.append(f"scenario '{sc.name}': no open purchase order lines for {key} {val}; it changes nothing")
        skus = tuple(sorted(pos.loc[m, "sku"].unique()))
        costs = inp.costs
        if kind == "supplier_delay":
            pos.loc[m, "expected_date"] = pos.loc[m, "expected_date"] + pd.Timedelta(days=sc.days)
            facts = {"days": sc.days, "lines": int(m.sum()), "po_value": float((pos.loc[m, "qty"] * pos.loc[m, "unit_cost"]).sum())}
        else:
            ready = inp.start + pd.Timedelta(days=sc.days_to_switch)
            new = pos.loc[m, "promised_date"].clip(lower=ready)
            new = new.where(new < pos.loc[m, "expected_date"], pos.loc[m, "expected_date"])
            recovered = (pos.loc[m, "expected_date"] - new).dt.days
            pos.loc[m, "expected_date"] = new
            pos.loc[m, "cost_change"] = pos.loc[m, "unit_cost"] * sc.unit_cost_change_pct
            if sc.payment_terms_days is not None:
                pos.loc[m, "terms_days"] = float(sc.payment_terms_days)
            costs = pd.concat([costs, pd.DataFrame({"date": [inp.start], "amount": [float(sc.one_off_cost)],
                                                    "kind": ["vendor_switch"], "ref": [sc.name]})],
                              ignore_index=True)
            facts = {"one_off_cost": float(sc.one_off_cost), "lines": int(m.sum()),
                     "days_recovered": int(recovered.max()) if m.any() else 0,
                     "po_value": float((pos.loc[m, "qty"] * pos.loc[m, "unit_cost"]).sum())}
        ev = Event(event_id=f"scenario:{sc.name}", type=kind, skus=skus, refs=tuple(pos.loc[m, "ref"]),
                   supplier_id=str(val) if key == "supplier_id" else str(pos.loc[m, "supplier_id"].iloc[0]) if m.any() else "",
                   facts=facts)
        return inp.with_(pos=pos, costs=costs), ev, warns
    if kind == "demand_spike":
        key, val = ("sku", sc.sku) if sc.sku else ("product_line", sc.product_line)
        _check_known(sc, key, val, known)
        first = sc.start_week or inp.weeks[0]
        if week_ordinal(first) < week_ordinal(inp.weeks[0]):
            warns.append(f"scenario '{sc.name}': start_week {first} is before the forecast; it starts {inp.weeks[0]}")
            first = inp.weeks[0]
        wks = [week_add(first, k) for k in range(sc.weeks)]
        d = inp.demand.copy()
        skus_in = set(inp.skus.loc[inp.skus[key] == val, "sku"]) if key == "product_line" else {val}
        m = d["sku"].isin(skus_in) & d["week"].isin(wks)
        if not m.any():
            warns.append(f"scenario '{sc.name}': no forecast demand for {key} {val} in {wks[0] if wks else first}.."
                         f"{wks[-1] if wks else first}; it changes nothing")
        extra_units = float(d.loc[m, "qty"].sum() * sc.pct)
        extra_value = float((d.loc[m, "qty"] * d.loc[m, "unit_price"]).sum() * sc.pct)
        d.loc[m, "qty"] = d.loc[m, "qty"] * (1 + sc.pct)
        ev = Event(event_id=f"scenario:{sc.name}", type=kind, skus=tuple(sorted(skus_in)),
                   sku=val if key == "sku" else "", product_line=val if key == "product_line" else "",
                   facts={"pct": sc.pct, "weeks": wks, "extra_units": extra_units, "extra_value": extra_value})
        return inp.with_(demand=d), ev, warns
    if kind == "production_delay":
        _check_known(sc, "order_id", sc.order_id, known)
        o = inp.orders.copy()
        m = o["order_id"] == sc.order_id
        if sc.line is not None:
            m &= o["line"] == sc.line
        if not m.any():
            warns.append(f"scenario '{sc.name}': order {sc.order_id}"
                         f"{'' if sc.line is None else f' line {sc.line}'} is not open; it changes nothing")
        o.loc[m, "date"] = o.loc[m, "date"] + pd.Timedelta(days=sc.days)
        o.loc[m, "fixed"] = True
        o.loc[m, "erp_late"] = o.loc[m, "erp_late"] | (o.loc[m, "date"] > o.loc[m, "promised_date"])
        if sc.expedite_cost is not None and m.any():
            share = (o.loc[m, "qty"] * o.loc[m, "unit_price"]) / (o.loc[m, "qty"] * o.loc[m, "unit_price"]).sum()
            o.loc[m, "expedite_cost"] = float(sc.expedite_cost) * share
        if sc.overtime_cost is not None and m.any():
            share = (o.loc[m, "qty"] * o.loc[m, "unit_price"]) / (o.loc[m, "qty"] * o.loc[m, "unit_price"]).sum()
            o.loc[m, "overtime_cost"] = float(sc.overtime_cost) * share
        first = o[m].iloc[0] if m.any() else None
        ev = Event(event_id=f"scenario:{sc.name}", type=kind, skus=tuple(sorted(o.loc[m, "sku"].unique())),
                   refs=tuple(o.loc[m, "ref"]), order_id=sc.order_id,
                   customer_id=str(first["customer_id"]) if first is not None else "",
                   facts={"days": sc.days, "value": float((o.loc[m, "qty"] * o.loc[m, "unit_price"]).sum())})
        return inp.with_(orders=o), ev, warns
    raise ScenarioError(f"scenario '{getattr(sc, 'name', '?')}': unknown kind {kind!r}")


def _check_known(sc, key: str, val, known: dict) -> None:
    if val is None:
        raise ScenarioError(f"scenario '{sc.name}' ({sc.kind}): no {key} given")
    if key in known and val not in known[key]:
        raise ScenarioError(f"scenario '{sc.name}' ({sc.kind}): {key} {val!r} is not in the data "
                            f"(check the spelling in params cash.scenarios)")


# ---------------------------------------------------------------- measuring


def pnl_window(cal: FiscalCalendar, first_forecast_week: str) -> tuple[str, pd.Timestamp, pd.Timestamp, list[str]]:
    """The P&L quarter of a forecast: the quarter of its first week, as (label, first day, last day, weeks)."""
    q = cal.quarter_of(first_forecast_week)
    weeks = cal.quarter_weeks(q)
    return q, week_start(weeks[0]), week_end(weeks[-1]), weeks


def measure(with_inp: CashInputs, without_inp: CashInputs, skus: Iterable[str], quarter_weeks: list[str],
            exposure: float = 0.0, base_with: Projection | None = None) -> Impact:
    """The impact of the difference between two inputs that differ only on ``skus`` (and event costs).

    Args:
        with_inp, without_inp: inputs with and without the event.
        skus: the SKUs the event touches (others are not re-projected).
        quarter_weeks: the weeks of the P&L quarter.
        exposure: the event's exposure (currency), passed through.
        base_with: a projection of ``with_inp`` restricted to ``skus`` (static=False) to reuse.
    Returns:
        :class:`Impact`; all figures are with - without (negative = the event costs money).
    """
    skus = list(skus)
    p1 = base_with if base_with is not None else project(with_inp, skus=skus, static=False)
    p0 = project(without_inp, skus=skus, static=False)
    out = measure_many(p1, p0, None, with_inp.weeks, quarter_weeks, with_inp.assumptions.carrying_cost_rate)
    imp = out["all"]
    imp.exposure = float(exposure)
    return imp


def measure_many(p1: Projection, p0: Projection, key_of_sku: dict[str, str] | None, weeks: list[str],
                 quarter_weeks: list[str], carrying_rate: float) -> dict[str, Impact]:
    """Impacts of several events at once from two projections (with / without all of them).

    Events must touch disjoint SKU sets: every flow, P&L line, stock level and shipment of a SKU
    is attributed to the event ``key_of_sku[sku]`` (rows of other SKUs, and rows without a SKU,
    are ignored). With ``key_of_sku`` None every row counts, under the key "all".

    Returns:
        key -> :class:`Impact` (exposure 0).
    """
    def keyed(df: pd.DataFrame, sign: float, col: str = "amount") -> pd.DataFrame:
        df = df.assign(**{col: sign * df[col]}) if sign != 1 else df
        if key_of_sku is None:
            return df.assign(key="all")
        k = df["sku"].map(key_of_sku)
        return df.assign(key=k.to_numpy())[k.notna().to_numpy()]

    keys = ["all"] if key_of_sku is None else sorted(set(key_of_sku.values()))
    f = pd.concat([keyed(p1.flows, 1.0), keyed(p0.flows, -1.0)], ignore_index=True)
    rec = f[f["flow"].isin(RECEIPT_FLOWS)].pivot_table(index="key", columns="week", values="amount", aggfunc="sum")
    pay = f[f["flow"].isin(PAYMENT_FLOWS)].pivot_table(index="key", columns="week", values="amount", aggfunc="sum")
    rec = rec.reindex(index=keys, columns=weeks).fillna(0.0)
    pay = (-pay).reindex(index=keys, columns=weeks).fillna(0.0)

    q0, q1 = week_start(quarter_weeks[0]), week_end(quarter_weeks[-1])
    pn = pd.concat([keyed(p1.pnl, 1.0), keyed(p0.pnl, -1.0)], ignore_index=True)
    pn = pn[(pn["date"] >= q0) & (pn["date"] <= q1)]
    kinds = ["revenue", "cogs", "penalty", "expedite", "overtime", "one_off", "ppv"]
    by_kind = pn.pivot_table(index="key", columns="kind", values="amount", aggfunc="sum")
    by_kind = by_kind.reindex(index=keys, columns=kinds).fillna(0.0)
    inv = pd.concat([keyed(p1.inventory, 1.0, "value"), keyed(p0.inventory, -1.0, "value")], ignore_index=True)
    inv = inv[inv["week"].isin(quarter_weeks)].groupby("key")["value"].sum().reindex(keys).fillna(0.0)
    by_kind["carrying"] = -carrying_rate * 7.0 / 365.0 * inv

    moved = _moved(keyed(p1.shipments, 1.0, "value"), p0.shipments)
    out = {}
    for k in keys:
        w = pd.DataFrame({"week": weeks, "receipts": rec.loc[k].to_numpy(), "payments": pay.loc[k].to_numpy()})
        w["net"] = w["receipts"] - w["payments"]
        w["cumulative"] = w["net"].cumsum()
        pk = by_kind.loc[k].astype(float)
        mk = moved[moved["key"] == k].drop(columns="key") if len(moved) else moved
        out[k] = Impact(
            pnl_impact_quarter=float(pk.sum()),
            cash_impact_13w=float(w["cumulative"].iloc[-1]) if len(w) else 0.0,
            cash_low_point=float(min(0.0, w["cumulative"].min())) if len(w) else 0.0,
            receipts_delayed=float(mk.loc[mk["days"] > 0, "value"].sum()) if len(mk) else 0.0,
            exposure=0.0, revenue_in_quarter=float(pk["revenue"]), weekly=w, pnl=pk, moved=mk)
    return out


def _moved(s1: pd.DataFrame, s0: pd.DataFrame) -> pd.DataFrame:
    """Shipments whose date differs with vs without: ref, kind, value, ship dates, days (later = +)."""
    cols = ["ref", "kind", "customer_id", "value", "ship_date"] + (["key"] if "key" in s1 else [])
    a = s1[cols]
    b = s0[["ref", "ship_date"]].rename(columns={"ship_date": "ship_without"})
    m = a.merge(b, on="ref", how="inner")
    far = pd.Timestamp("2262-01-01")
    d = (m["ship_date"].fillna(far) - m["ship_without"].fillna(far)).dt.days
    m = m.assign(days=d.to_numpy())
    return m[m["days"] != 0].reset_index(drop=True)


def disjoint_batches(events: list[Event]) -> list[list[Event]]:
    """Split events into batches whose SKU sets do not overlap (greedy, in order), so that each batch
    can be measured with one projection (see :func:`measure_many`)."""
    batches: list[tuple[set, list[Event]]] = []
    for ev in events:
        for used, evs in batches:
            if used.isdisjoint(ev.skus):
                used.update(ev.skus)
                evs.append(ev)
                break
        else:
            batches.append((set(ev.skus), [ev]))
    return [evs for _, evs in batches]


def slice_projection(p: Projection, skus: Iterable[str]) -> Projection:
    """The rows of a projection that belong to ``skus`` (what ``project(..., skus, static=False)``
    would give, without event costs)."""
    s = set(skus)
    return Projection(p.flows[p.flows["sku"].isin(s)], p.pnl[p.pnl["sku"].isin(s)],
                      p.shipments[p.shipments["sku"].isin(s)], p.inventory[p.inventory["sku"].isin(s)],
                      p.receipts_in[p.receipts_in["sku"].isin(s)])


def measure_events(inp: CashInputs, full: Projection, events: list[Event], quarter_weeks: list[str]) -> dict[str, Impact]:
    """Each detected event alone: baseline (``inp``, projected as ``full``) minus the baseline without it.

    Events are measured in batches of disjoint SKU sets, one projection per batch. Supplier delays
    also get their exposure (see :func:`supplier_exposure`). Returns event_id -> :class:`Impact`.
    """
    out: dict[str, Impact] = {}
    rate = inp.assumptions.carrying_cost_rate
    for batch in disjoint_batches(events):
        key = {s: ev.event_id for ev in batch for s in ev.skus}
        skus = list(key)
        p1 = slice_projection(full, skus)
        p0 = project(without_events(inp, batch), skus=skus, static=False)
        out.update(measure_many(p1, p0, key, inp.weeks, quarter_weeks, rate))
    sup = [ev for ev in events if ev.type == "supplier_delay"]
    for ev_id, (value, n) in supplier_exposure(inp, full, sup).items():
        out[ev_id].exposure = value
        next(ev for ev in sup if ev.event_id == ev_id).facts["exposed_lines"] = n
    return out


def supplier_exposure(inp: CashInputs, full: Projection, events: list[Event]) -> dict[str, tuple[float, int]]:
    """Per supplier-delay event: value and count of open order lines that would ship later if its late
    PO lines did not arrive within the horizon (what the late goods are meant for). Currency, count."""
    out = {}
    for batch in disjoint_batches(events):
        key = {s: ev.event_id for ev in batch for s in ev.skus}
        refs = {r for ev in batch for r in ev.refs}
        p_base = slice_projection(full, list(key))
        p_gone = project(inp.with_(pos=inp.pos[~inp.pos["ref"].isin(refs)]), skus=list(key), static=False)
        sh = p_gone.shipments.assign(key=p_gone.shipments["sku"].map(key))
        m = _moved(sh, p_base.shipments)
        m = m[(m["kind"] == "order") & (m["days"] > 0)]
        for ev in batch:
            mk = m[m["key"] == ev.event_id]
            out[ev.event_id] = (float(mk["value"].sum()), int(len(mk)))
    return out


__all__ += ["measure_many", "disjoint_batches", "slice_projection", "measure_events", "supplier_exposure"]





# ---------------------------------------------------------------- words


def _d(ts) -> str:
    return pd.Timestamp(ts).strftime("%d %b %Y").lstrip("0") if pd.notna(ts) else "not in the horizon"


def _pnl_cash(imp: Impact, sym: str) -> str:
    pnl, cash = imp.pnl_impact_quarter, imp.cash_impact_13w
    p = f"P&L {'+' if pnl >= 0 else '-'}{fmt_money(abs(pnl), sym)} this quarter"
    c = f"cash {'+' if cash >= 0 else '-'}{fmt_money(abs(cash), sym)} over {len(imp.weekly)} weeks"
    low = ""
    if imp.cash_low_point < -0.5 and imp.cash_low_point < cash - 0.5:
        w = imp.weekly.loc[imp.weekly["cumulative"].idxmin(), "week"]
        low = f" (-{fmt_money(-imp.cash_low_point, sym)} at the low point, {w})"
    return f"{p}, {c}{low}"


def _receipt_shift(imp: Impact, sym: str) -> str:
    """'$500K of receipts move from 2027-W01 to 2027-W03' from the weekly receipt deltas."""
    w = imp.weekly
    if w.empty or w["receipts"].abs().max() < 1:
        return ""
    lo = w.loc[w["receipts"].idxmin()]
    hi = w.loc[w["receipts"].idxmax()]
    if lo["receipts"] < -1 and hi["receipts"] > 1 and hi["week"] > lo["week"]:
        return (f"{fmt_money(-lo['receipts'], sym)} of customer receipts move out of {lo['week']}, "
                f"{fmt_money(hi['receipts'], sym)} arrive in {hi['week']}")
    if lo["receipts"] < -1 and w["receipts"].sum() < -1:
        return f"{fmt_money(-lo['receipts'], sym)} of customer receipts move from {lo['week']} to after {w['week'].iloc[-1]}"
    if lo["receipts"] < -1:
        return f"{fmt_money(-lo['receipts'], sym)} less customer receipts in {lo['week']}"
    return ""


def event_sentence(ev: Event, imp: Impact, sym: str) -> str:
    """A plain-language sentence for a detected event, with its dollars."""
    f = ev.facts
    costs = []
    for k, label in (("penalty", "penalty"), ("expedite", "expedite freight"), ("overtime", "overtime")):
        v = -imp.pnl.get(k, 0.0)
        if abs(v) >= 0.5:
            costs.append(f"{label} {fmt_money(v, sym)}")
    if imp.revenue_in_quarter < -0.5:
        costs.insert(0, f"{fmt_money(-imp.revenue_in_quarter, sym)} of revenue leaves this quarter")
    cost_txt = f"; {', '.join(costs)}" if costs else ""
    shift = _receipt_shift(imp, sym)
    shift_txt = f"; {shift}" if shift else ""
    if ev.type == "supplier_delay":
        skus = ", ".join(f["skus"][:4]) + (f" +{len(f['skus']) - 4} more" if len(f["skus"]) > 4 else "")
        expo = (f"; {fmt_money(imp.exposure, sym)} of open customer orders ({f.get('exposed_lines', 0)} lines) "
                f"depend on these receipts" if imp.exposure > 0.5 else "")
        starved = (f"; {fmt_money(imp.receipts_delayed, sym)} of shipments slip" if imp.receipts_delayed > 0.5 else "")
        paid_later = -float(imp.weekly["payments"].sum()) if len(imp.weekly) else 0.0
        later = (f"; {fmt_money(paid_later, sym)} of supplier payments move past {imp.weekly['week'].iloc[-1]}"
                 if paid_later > 0.5 else "")
        return (f"Supplier {name_with_id(ev.supplier_id, {str(ev.supplier_id): f['name']})} is late on {f['lines']} open PO line(s) worth "
                f"{fmt_money(f['po_value'], sym)} (up to {f['max_days']} days, SKUs {skus}){expo}{starved}"
                f"{later}{cost_txt}: {_pnl_cash(imp, sym)}.")
    if ev.type in ("production_delay", "order_at_risk") and f.get("grouped"):
        why = ("are scheduled to ship" if ev.type == "production_delay" else "cannot ship (stock short)")
        span = f"{f['min_days']}" if f["min_days"] == f["max_days"] else f"{f['min_days']} to {f['max_days']}"
        return (f"{f['lines']} smaller order lines of {ev.sku} ({ev.product_line}; each under "
                f"{fmt_money(f['below'], sym)}, {fmt_money(f['value'], sym)} in all, {f['customers']} customer(s)) "
                f"{why} {span} days after their promise{cost_txt}{shift_txt}: {_pnl_cash(imp, sym)}.")
    if ev.type in ("production_delay", "order_at_risk"):
        why = ("is scheduled to ship" if ev.type == "production_delay" else "cannot ship (stock short) before")
        when = _d(f["scheduled"] if ev.type == "production_delay" else f.get("projected_ship"))
        return (f"Order {ev.refs[0]} for {f.get('customer') or ev.customer_id} ({fmt_money(f['value'], sym)} of "
                f"{ev.sku}) {why} "
                f"{when}, {f['days']} days after its promise of {_d(f['promised'])}{cost_txt}{shift_txt}: "
                f"{_pnl_cash(imp, sym)}.")
    if ev.type == "demand_spike":
        cont = f["continue_weeks"]
        rev, cogs = imp.pnl.get("revenue", 0.0), -imp.pnl.get("cogs", 0.0)
        tail = (f"; if it continues {len(cont)} more weeks: revenue {fmt_money(rev, sym)} and COGS "
                f"{fmt_money(cogs, sym)} this quarter" if cont else "")
        return (f"{ev.sku} ({ev.product_line}) orders ran {fmt_pct(f['ratio'] - 1)} above forecast in "
                f"{f['weeks'][0]}..{f['weeks'][-1]} (+{f['excess_units']:,.0f} units, {fmt_money(f['excess_value'], sym)})"
                f"{tail}: {_pnl_cash(imp, sym)}.")
    return f"{ev.event_id}: {_pnl_cash(imp, sym)}."


def scenario_sentence(name: str, ev: Event, imp: Impact, sym: str) -> str:
    """A plain-language sentence for an analyst scenario."""
    f = ev.facts
    shift = _receipt_shift(imp, sym)
    shift_txt = f"; {shift}" if shift else ""
    if ev.type == "supplier_delay":
        what = (f"{f['lines']} open PO line(s) ({fmt_money(f['po_value'], sym)}) arrive {f['days']} days later; "
                f"{fmt_money(imp.receipts_delayed, sym)} of shipments slip")
    elif ev.type == "vendor_switch":
        what = (f"switching {f['lines']} open PO line(s) ({fmt_money(f['po_value'], sym)}) costs "
                f"{fmt_money(f['one_off_cost'], sym)} and recovers up to {f['days_recovered']} days")
    elif ev.type == "demand_spike":
        what = (f"demand {fmt_pct(f['pct'], signed=True)} for {len(f['weeks'])} week(s) "
                f"(+{f['extra_units']:,.0f} units, {fmt_money(f['extra_value'], sym)} of bookings)")
    elif ev.type == "production_delay":
        what = f"order {ev.order_id} ({fmt_money(f['value'], sym)}) ships {f['days']} days later"
    else:
        what = ev.type
    return f"{name}: {what}{shift_txt}: {_pnl_cash(imp, sym)}."


def jsonable_facts(facts: dict) -> dict[str, Any]:
    """Facts with dates as ISO strings (for exports)."""
    return {k: (v.strftime("%Y-%m-%d") if isinstance(v, pd.Timestamp) else v) for k, v in facts.items()}


__all__ += ["jsonable_facts"]
