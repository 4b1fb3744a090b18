"""Cash impact: the week's operational events in dollars of P&L and cash, the 13-week cash forecast,
what-if scenarios, decisions and the bridges between them.

:func:`cash_week` does everything the ``cash_impact`` notebook shows:

1. builds the direct-method forecast inputs as of the end of the run week
   (:func:`soe_helpers.analysis.cash_forecast.build_inputs`) and the *baseline* = the data as it is
   plus detected demand spikes continuing (:func:`soe_helpers.analysis.cash_events.apply_spikes`);
2. detects the events and measures each one against the baseline without it; the
   *undisrupted* line removes them all, and the bridge from undisrupted to baseline week-13
   closing cash is each event alone plus their overlap (so it closes to the cent);
3. applies each analyst scenario on top of the baseline, and all scenarios marked
   ``combine`` one after the other ("all scenarios"), with a bridge by scenario (each step
   measured after the ones before it, so it closes to the cent);
4. lays scenarios sharing a ``decision`` label side by side.

Sign conventions: cash flows + in / - out; impacts = with - without the event
(negative = less profit or cash); closing = opening + receipts - payments.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import FiscalCalendar, week_add, week_ordinal
from soe_helpers.analysis import plan_grain as PG
from soe_helpers.data.aggregates import from_frames
from soe_helpers.analysis.cash_events import (EVENT_COLUMNS, Event, Impact, apply_scenario, apply_spikes,
                          detect_demand_spikes, detect_orders_at_risk, detect_production_delays, group_small_lines,
                          detect_supplier_delays, event_sentence, measure_events, measure_many, pnl_window,
                          scenario_sentence, slice_projection, without_events)
from soe_helpers.analysis.cash_forecast import (OPTIONAL_TABLES, REQUIRED_TABLES, Assumptions, CashInputs, Projection,
                                                build_inputs, cash_summary, fill_absent, project, weekly_cash,
                                                working_capital)
from soe_helpers.core.formats import fmt_money, fmt_pct
from soe_helpers.analysis.materiality import is_material

__all__ = [
    "CashImpact",
    "cash_week",
    "line_event_min_value",
    "assumption_lines",
    "events_table",
    "forecast_export",
    "decision_table",
    "bridge_steps",
    "event_label",
    "close_check",
    "cash_events_table",
    "cash_forecast_table",
    "store_rows",
    "compare_history",
    "FORECAST_LAGS",
    "forecast_vs_actual",
    "forecast_accuracy",
    "forecast_accuracy_sentences",
    "UNDISRUPTED",
    "BASELINE",
    "ALL_SCENARIOS",
]

BASELINE = "baseline"
UNDISRUPTED = "without detected events"
ALL_SCENARIOS = "all scenarios"


@dataclass
class CashImpact:
    """Everything the cash impact report shows for one week (see :func:`cash_week`).

    Attributes:
        week, quarter: run week and the P&L quarter (quarter of the first forecast week).
        inputs: baseline :class:`CashInputs`; baseline: its full :class:`Projection`.
        weekly: the weekly cash table of every line (scenario column: baseline, each
            scenario, all scenarios, without detected events), see :func:`weekly_cash`.
        events: one row per detected event (EVENT_COLUMNS + details), ranked by
            dollars_at_stake; ``impacts`` maps event_id -> :class:`Impact`.
        scenarios: one row per scenario (name, kind, combine, decision, sentence, pnl_impact_quarter,
            cash_impact_13w, week13_closing, lowest_week, lowest_cash, ...).
        detected_bridge / scenario_bridge: steps (step, amount, kind total/delta) of week-13
            closing cash: without detected events -> baseline, and baseline -> all scenarios.
        summary: headline figures per line (see :func:`cash_summary`), keyed by line name.
        working_capital: AR / inventory / AP now, at plan, projected.
        notes: data notes (stated in the report); warnings: scenario problems (shown loudly).
    """

    week: str
    quarter: str
    quarter_weeks: list[str]
    inputs: CashInputs
    baseline: Projection
    weekly: pd.DataFrame
    events: pd.DataFrame
    impacts: dict[str, Impact]
    scenarios: pd.DataFrame
    scenario_impacts: dict[str, Impact]
    detected_bridge: pd.DataFrame
    scenario_bridge: pd.DataFrame
    detected_total: Impact
    summary: dict[str, dict]
    working_capital: pd.DataFrame
    min_cash: float
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    material_abs: float = 5000.0

    def line(self, name: str) -> pd.DataFrame:
        """The weekly table of one line (baseline, a scenario name, ...)."""
        return self.weekly[self.weekly["scenario"] == name].reset_index(drop=True)


def _replace_skus(base_flows: pd.DataFrame, old: Projection, new: Projection) -> pd.DataFrame:
    """Full flows of a variant: the baseline's, minus the SKUs' old part, plus their new part."""
    return pd.concat([base_flows, old.flows.assign(amount=-old.flows["amount"]), new.flows], ignore_index=True)


def _slice_with_costs(full: Projection, inp: CashInputs, skus) -> Projection:
    """What ``project(inp, skus, static=False)`` gives, cut from the full projection ``full`` of ``inp``
    (SKUs are projected independently; event costs are added back)."""
    part = slice_projection(full, skus)
    if len(inp.costs):
        c = full.flows[full.flows["flow"] == "One-off costs"]
        k = full.pnl[full.pnl["kind"] == "one_off"]
        part = Projection(pd.concat([part.flows, c], ignore_index=True), pd.concat([part.pnl, k], ignore_index=True),
                          part.shipments, part.inventory, part.receipts_in)
    return part


def line_event_min_value(params) -> float:
    """Order lines worth less than this (currency) are measured together per SKU and type
    (``params.cash.line_event_min_value``; default half of ``materiality.abs``)."""
    v = params.cash.line_event_min_value
    return float(v) if v is not None else float(params.materiality.abs) / 2.0


def cash_week(tables: dict[str, pd.DataFrame], week: str, params, cal: FiscalCalendar, as_of=None,
              suppliers: pd.DataFrame | None = None) -> CashImpact:
    """Run the whole cash impact analysis for ``week``.

    Args:
        tables: the canonical tables: :data:`REQUIRED_TABLES`, and any of :data:`OPTIONAL_TABLES` the company has
            (None = not given: its part of the forecast is empty, the notes say what it leaves out, and a scenario
            that needs it is skipped with a note; see :func:`soe_helpers.analysis.cash_forecast.build_inputs`).
        week: the run week; the forecast covers the ``params.cash.horizon_weeks`` weeks after it.
        params: the validated :class:`soe_helpers.core.params.Params` (uses ``cash`` and ``materiality``).
        cal: the fiscal calendar.
        as_of: the data's as-of date (for a note when it ends before the week).
        suppliers: supplier master for names (default ``tables["suppliers"]``).
    Returns:
        :class:`CashImpact`.
    Raises:
        ScenarioError: a scenario names an id that is not in the data.
    """
    cp = params.cash
    a = Assumptions.from_params(cp)
    sym = params.company.currency_symbol
    tables, absent = fill_absent(tables)
    if tables.get("plan") is not None:  # the plan at its own grain (months, quarters) filled to weeks once
        history = None
        if params.plan.fill == "last_year":  # the same weekly aggregates the reconciliation reads, from the lines
            aggs = from_frames(orders=tables["orders"], shipments=tables.get("shipments"))
            history = PG.fill_history(params.plan, aggs.get("booked_weekly"), aggs.get("shipped_weekly"))
        tables = {**tables, "plan": PG.weekly_plan(tables["plan"], cal, tables["products"], tables.get("customers"),
                                                   fill=params.plan.fill, history=history)}
    raw = build_inputs(tables, week, a, as_of=as_of, absent=absent)
    quarter, _q0, _q1, q_weeks = pnl_window(cal, raw.weeks[0])
    known = {"supplier_id": set(tables["suppliers"]["supplier_id"]), "po_id": set(tables["purchase_orders"]["po_id"]),
             "sku": set(tables["products"]["sku"]), "product_line": set(tables["products"]["product_line"]),
             "order_id": set(tables["orders"]["order_id"])}
    if "suppliers" in absent:  # the ids the bills and purchase orders name are all the suppliers known
        known.pop("supplier_id")
    min_value = cp.spike_min_value if cp.spike_min_value is not None else params.materiality.abs
    spikes = [] if "forecasts" in absent else detect_demand_spikes(
        tables["orders"], tables["forecasts"], tables["products"], week, raw.weeks, cp.spike_lookback_weeks,
        cp.spike_min_weeks, cp.spike_min_pct, min_value, cp.spike_persist_weeks)
    base = apply_spikes(raw, spikes)
    full = project(base)
    if suppliers is None and "suppliers" not in absent:
        suppliers = tables["suppliers"]
    sups = detect_supplier_delays(base, cp.supplier_delay_min_days, suppliers)
    prods = detect_production_delays(base, cp.production_delay_min_days)
    # orders at risk other than through a supplier: look at a projection without the supplier delays
    sup_skus = sorted({x for ev in sups for x in ev.skus})
    p_no_sup = project(without_events(base, sups), skus=sup_skus, static=False)
    ship_no_sup = pd.concat([full.shipments[~full.shipments["sku"].isin(sup_skus)], p_no_sup.shipments],
                            ignore_index=True)
    # short of stock: only where stock is known (without it every line ships on its planned date)
    risks = detect_orders_at_risk(base, Projection(full.flows.iloc[:0], full.pnl.iloc[:0], ship_no_sup,
                                                   full.inventory.iloc[:0], full.receipts_in.iloc[:0])) \
        if base.supply_known else []
    events = sups + group_small_lines(prods + risks, line_event_min_value(params)) + spikes

    # -- each detected event alone
    impacts = measure_events(base, full, events, q_weeks)
    rows = [_event_row(ev, impacts[ev.event_id], sym, params.materiality) for ev in events]
    ev_df = pd.DataFrame(rows, columns=EVENT_COLUMNS + _EVENT_EXTRA)
    if ev_df.empty:  # typed even with no event, so that a mask on "material" selects rows, not columns
        ev_df = ev_df.astype({"material": bool, **{c: float for c in _EVENT_MONEY}})
    ev_df = ev_df.sort_values(["dollars_at_stake", "event_id"], ascending=[False, True], kind="stable")
    ev_df = ev_df.reset_index(drop=True)

    # -- lines: baseline, without detected events
    lines = {BASELINE: weekly_cash(full.flows, base.weeks, base.opening_cash, BASELINE)}
    all_skus = sorted({s for ev in events for s in ev.skus})
    undisrupted = without_events(base, events)
    old = _slice_with_costs(full, base, all_skus)
    new = project(undisrupted, skus=all_skus, static=False)
    lines[UNDISRUPTED] = weekly_cash(_replace_skus(full.flows, old, new), base.weeks, base.opening_cash, UNDISRUPTED)
    total = measure_many(old, new, None, base.weeks, q_weeks, a.carrying_cost_rate)["all"]
    detected_bridge = _detected_bridge(lines, ev_df, impacts, full, base, events, sym)

    # -- scenarios, alone and combined
    sc_rows, sc_imps, warns = [], {}, []
    combined, combined_flows, steps = base, full.flows, []
    prev_close = float(lines[BASELINE]["closing_cash"].iloc[-1])
    touched: set = set()          # SKUs changed by the combined scenarios so far
    skipped = []
    for sc in cp.scenarios:
        why = scenario_skip_reason(sc.kind, absent)
        if why:
            skipped.append(f"Scenario '{sc.name}' ({sc.kind.replace('_', ' ')}) is skipped: it needs {why}, not "
                           "given.")
            continue
        inp_s, sev, w = apply_scenario(base, sc, known)
        warns += w
        p0 = _slice_with_costs(full, base, sev.skus)
        p1 = project(inp_s, skus=sev.skus, static=False)
        imp = measure_many(p1, p0, None, base.weeks, q_weeks, a.carrying_cost_rate)["all"]
        sc_imps[sc.name] = imp
        wk = weekly_cash(_replace_skus(full.flows, p0, p1), base.weeks, base.opening_cash, sc.name)
        lines[sc.name] = wk
        s = cash_summary(wk, cp.min_cash)
        sc_rows.append({"name": sc.name, "kind": sc.kind, "decision": sc.decision or "", "combine": sc.combine,
                        "target": scenario_target(sc),
                        "sentence": scenario_sentence(sc.name, sev, imp, sym),
                        "pnl_impact_quarter": imp.pnl_impact_quarter, "cash_impact_13w": imp.cash_impact_13w,
                        "revenue_in_quarter": imp.revenue_in_quarter, "receipts_delayed": imp.receipts_delayed,
                        "cash_low_point": imp.cash_low_point, "one_off_costs": -imp.pnl.get("one_off", 0.0),
                        **s})
        if sc.combine:
            c_inp, cev, _ = apply_scenario(combined, sc, known)
            if touched.isdisjoint(cev.skus) and not len(combined.costs):
                q0, q1 = p0, p1         # its SKUs are still as in the baseline: same projections as alone
            else:
                q0 = project(combined, skus=cev.skus, static=False)
                q1 = project(c_inp, skus=cev.skus, static=False)
            touched.update(cev.skus)
            combined_flows = _replace_skus(combined_flows, q0, q1)
            combined = c_inp
            close = float(weekly_cash(combined_flows, base.weeks, base.opening_cash)["closing_cash"].iloc[-1])
            steps.append((sc.name, close - prev_close))
            prev_close = close
    sc_df = pd.DataFrame(sc_rows)
    if steps:
        lines[ALL_SCENARIOS] = weekly_cash(combined_flows, base.weeks, base.opening_cash, ALL_SCENARIOS)
    scenario_bridge = bridge_steps(float(lines[BASELINE]["closing_cash"].iloc[-1]), steps,
                                   float(lines[ALL_SCENARIOS]["closing_cash"].iloc[-1]) if steps else None,
                                   "Baseline", "All scenarios")

    weekly = pd.concat(list(lines.values()), ignore_index=True)
    summary = {k: cash_summary(v, cp.min_cash) for k, v in lines.items()}
    wc = working_capital(base, full, tables, cal, cp.plan_inventory_weeks)
    notes = list(base.notes) + skipped
    n_terms = int((base.dtp["basis"] == "terms").sum())
    if n_terms:
        notes.append(f"{n_terms} customer(s) with fewer than {a.dtp_min_invoices} paid invoices in the last "
                     f"{a.dtp_lookback_days} days are expected to pay on their nominal terms")
    if base.doubtful_ar is not None and len(base.doubtful_ar):
        notes.append(f"{len(base.doubtful_ar)} invoice(s) more than {a.ar_doubtful_after_days} days past due "
                     f"({fmt_money(base.doubtful_ar['amount'].sum(), sym)}) are left out of receipts as doubtful")
    return CashImpact(week=week, quarter=quarter, quarter_weeks=q_weeks, inputs=base, baseline=full, weekly=weekly,
                      events=ev_df, impacts=impacts, scenarios=sc_df, scenario_impacts=sc_imps,
                      detected_bridge=detected_bridge, scenario_bridge=scenario_bridge, detected_total=total,
                      summary=summary, working_capital=wc, min_cash=float(cp.min_cash), notes=notes, warnings=warns,
                      material_abs=float(params.materiality.abs))


#: the optional tables a scenario kind changes: it is skipped when none of them is given
SCENARIO_NEEDS = {"supplier_delay": ("purchase_orders",), "vendor_switch": ("purchase_orders",),
                  "demand_spike": ("forecasts", "plan"), "production_delay": ()}


def scenario_skip_reason(kind: str, absent) -> str | None:
    """``"purchase_orders"`` (what to give) when a scenario of ``kind`` has nothing to change without the ``absent``
    tables, else None: a supplier delay or vendor switch moves purchase orders, a demand spike the forecast or
    plan demand; a production delay moves open orders (always given)."""
    need = SCENARIO_NEEDS.get(kind, ())
    if need and all(t in set(absent) for t in need):
        return " or ".join(t.replace("_", " ") for t in need)
    return None


_EVENT_MONEY = ["pnl_impact_quarter", "cash_impact_13w", "dollars_at_stake", "cash_low_point", "receipts_delayed",
                "exposure", "revenue_in_quarter", "penalty", "expedite", "overtime", "carrying_cost"]
_EVENT_EXTRA = ["material", "cash_low_point", "receipts_delayed", "exposure", "revenue_in_quarter", "penalty",
                "expedite", "overtime", "carrying_cost", "worst_week"]


def _event_row(ev: Event, imp: Impact, sym: str, materiality) -> dict:
    worst = imp.weekly.loc[imp.weekly["net"].idxmin(), "week"] if len(imp.weekly) and imp.weekly["net"].min() < 0 else ""
    return {
        "event_id": ev.event_id, "type": ev.type, "sentence": event_sentence(ev, imp, sym),
        "product_line": ev.product_line, "region": ev.region, "supplier_id": ev.supplier_id,
        "customer_id": ev.customer_id, "sku": ev.sku, "order_id": ev.order_id,
        "pnl_impact_quarter": imp.pnl_impact_quarter, "cash_impact_13w": imp.cash_impact_13w,
        "dollars_at_stake": imp.dollars_at_stake, "material": is_material(imp.dollars_at_stake, None, materiality),
        "cash_low_point": imp.cash_low_point, "receipts_delayed": imp.receipts_delayed, "exposure": imp.exposure,
        "revenue_in_quarter": imp.revenue_in_quarter, "penalty": -imp.pnl.get("penalty", 0.0),
        "expedite": -imp.pnl.get("expedite", 0.0), "overtime": -imp.pnl.get("overtime", 0.0),
        "carrying_cost": -imp.pnl.get("carrying", 0.0), "worst_week": worst,
    }


def _detected_bridge(lines, ev_df, impacts, full, base, events, sym) -> pd.DataFrame:
    """Without detected events -> baseline week-13 closing: the material events one by one (each alone),
    the other events together, and their overlap, so that it closes to the cent."""
    start = float(lines[UNDISRUPTED]["closing_cash"].iloc[-1])
    end = float(lines[BASELINE]["closing_cash"].iloc[-1])
    steps = []
    mat = ev_df[ev_df["material"]]
    for r in mat.itertuples(index=False):
        c = impacts[r.event_id].cash_impact_13w
        if abs(c) >= 0.005:
            steps.append((event_label(r.event_id), c))
    rest = ev_df.loc[~ev_df["material"], "cash_impact_13w"].sum()
    if abs(rest) >= 0.005:
        steps.append((f"{int((~ev_df['material']).sum())} smaller events", float(rest)))
    return bridge_steps(start, steps, end, "Without detected events", "Baseline", residual_label="Overlap between events")


def event_label(event_id: str) -> str:
    """A short label of an event for charts and bridges: ``supplier_delay:S-017 -> 'Supplier S-017'``."""
    kind, _, key = event_id.partition(":")
    return {"supplier_delay": "Supplier", "production_delay": "Late order", "order_at_risk": "At risk",
            "demand_spike": "Spike"}.get(kind, kind) + " " + key


def bridge_steps(start: float, steps: list[tuple[str, float]], end: float | None, start_label: str, end_label: str,
                 residual_label: str = "Other") -> pd.DataFrame:
    """A bridge from ``start`` to ``end``: step, amount, kind ('total' or 'delta').

    Amounts are rounded to the cent; a residual step (``residual_label``) is added when the steps
    do not reach ``end`` exactly, so ``start + sum(deltas) == end`` to the cent. ``end`` None =
    start + the steps.
    """
    out = [(start_label, round(float(start), 2), "total")]
    acc = round(float(start), 2)
    for label, amt in steps:
        a = round(float(amt), 2)
        out.append((label, a, "delta"))
        acc = round(acc + a, 2)
    if end is None:
        end = acc
    resid = round(round(float(end), 2) - acc, 2)
    if abs(resid) >= 0.005:
        out.append((residual_label, resid, "delta"))
    out.append((end_label, round(float(end), 2), "total"))
    return pd.DataFrame(out, columns=["step", "amount", "kind"])


def close_check(steps: pd.DataFrame) -> bool:
    """True when first total + deltas = last total, to the cent."""
    tot = steps[steps["kind"] == "total"]["amount"]
    return bool(abs(round(tot.iloc[0] + steps.loc[steps["kind"] == "delta", "amount"].sum() - tot.iloc[-1], 2)) < 0.005)


# ---------------------------------------------------------------- tables for the report and exports


def events_table(ci: CashImpact, material_only: bool = True, top: int | None = None) -> pd.DataFrame:
    """Events ranked by dollars at stake, for display."""
    e = ci.events[ci.events["material"]] if material_only else ci.events
    e = e[["event_id", "type", "sentence", "dollars_at_stake", "pnl_impact_quarter", "cash_impact_13w",
           "cash_low_point"]]
    return e.head(top) if top else e


def cash_events_table(ci: CashImpact) -> pd.DataFrame:
    """The ``cash_events.csv`` export: one row per detected event (EVENT_COLUMNS first, then details),
    money rounded to the cent, empty strings where a column does not apply."""
    e = ci.events.copy()
    for c in ("pnl_impact_quarter", "cash_impact_13w", "dollars_at_stake", "cash_low_point", "receipts_delayed",
              "exposure", "revenue_in_quarter", "penalty", "expedite", "overtime", "carrying_cost"):
        e[c] = e[c].astype(float).round(2)
    e.insert(0, "week", ci.week)
    return e


def forecast_export(ci: CashImpact) -> pd.DataFrame:
    """The ``cash_forecast_13w.csv`` export: one row per line (scenario) and week with opening_cash,
    receipts, payments, closing_cash and the flow categories; cents exact."""
    w = ci.weekly.copy()
    w.insert(1, "run_week", ci.week)
    w["min_cash"] = ci.min_cash
    return w


def scenario_target(sc) -> str | None:
    """What a scenario is about, in the form the action tracker's roots use: ``supplier:<id>``, ``po:<id>``,
    ``order:<id>``, ``sku:<id>`` or ``product_line:<name>`` (None when it names none)."""
    for attr, prefix in (("supplier_id", "supplier"), ("po_id", "po"), ("order_id", "order"), ("sku", "sku"),
                         ("product_line", "product_line")):
        v = getattr(sc, attr, None)
        if v:
            return f"{prefix}:{v}"
    return None


def decision_table(ci: CashImpact) -> dict[str, pd.DataFrame]:
    """Scenarios sharing a ``decision`` label, side by side with the baseline: decision -> table.

    Columns: option, pnl_impact_quarter, cash_impact_13w, one_off_costs, revenue_in_quarter (change),
    receipts_delayed, week13_closing, lowest_week, lowest_cash, runway_weeks. Impacts vs baseline.
    """
    out = {}
    if ci.scenarios.empty:
        return out
    base = ci.summary[BASELINE]
    for label, g in ci.scenarios[ci.scenarios["decision"] != ""].groupby("decision", sort=False):
        rows = [{"option": "Baseline (no action)", "pnl_impact_quarter": 0.0, "cash_impact_13w": 0.0,
                 "one_off_costs": 0.0, "revenue_in_quarter": 0.0, "receipts_delayed": 0.0,
                 "week13_closing": base["week13_closing"], "lowest_week": base["lowest_week"],
                 "lowest_cash": base["lowest_cash"], "runway_weeks": base["runway_weeks"]}]
        for r in g.itertuples(index=False):
            rows.append({"option": r.name, "pnl_impact_quarter": r.pnl_impact_quarter,
                         "cash_impact_13w": r.cash_impact_13w, "one_off_costs": r.one_off_costs,
                         "revenue_in_quarter": r.revenue_in_quarter, "receipts_delayed": r.receipts_delayed,
                         "week13_closing": r.week13_closing, "lowest_week": r.lowest_week,
                         "lowest_cash": r.lowest_cash, "runway_weeks": r.runway_weeks})
        t = pd.DataFrame(rows)
        t["runway_weeks"] = pd.array([None if pd.isna(v) else int(v) for v in t["runway_weeks"]], dtype="Int64")
        out[label] = t
    return out


def decision_sentence(label: str, table: pd.DataFrame, sym: str) -> str:
    """Which option is best on P&L this quarter and which on cash, and by how much."""
    opts = table.iloc[1:]
    if opts.empty:
        return f"{label.rstrip('?:')}: no options."
    best_p = opts.loc[opts["pnl_impact_quarter"].idxmax()]
    best_c = opts.loc[opts["cash_impact_13w"].idxmax()]
    other_p = opts[opts["option"] != best_p["option"]]
    gap = best_p["pnl_impact_quarter"] - other_p["pnl_impact_quarter"].max() if len(other_p) else 0.0
    head = label if label.rstrip().endswith(("?", ".", "!")) else f"{label}:"  # a question needs no colon after it
    txt = (f"{head} '{best_p['option']}' is best for this quarter's P&L"
           + (f" by {fmt_money(gap, sym)}" if len(other_p) else ""))
    if best_c["option"] == best_p["option"]:
        return txt + f" and for cash over the forecast ({fmt_money(best_c['cash_impact_13w'], sym)} vs baseline)."
    return txt + f"; '{best_c['option']}' leaves more cash at week 13 ({fmt_money(best_c['cash_impact_13w'], sym)} vs baseline)."


__all__ += ["decision_sentence", "scenario_target"]


def assumption_lines(params, ci: CashImpact | None = None) -> list[str]:
    """Every assumption the report uses, as plain sentences (from ``params.cash``)."""
    cp = params.cash
    sym = params.company.currency_symbol
    a = []
    a.append(f"Forecast horizon: {cp.horizon_weeks} weeks after the run week; minimum cash {fmt_money(cp.min_cash, sym)}.")
    a.append(f"Customers pay after their observed average days-to-pay on invoices of the last {cp.dtp_lookback_days} "
             f"days (nominal terms when fewer than {cp.dtp_min_invoices} paid invoices); open invoices more than "
             f"{cp.ar_doubtful_after_days} days past due are treated as doubtful and left out.")
    if ci is not None:
        a.append(f"Forecast bookings are valued at each SKU's net price of the last {cp.price_lookback_weeks} weeks and "
                 f"collected after {ci.inputs.forecast_dtp:.0f} days (the revenue-weighted average).")
    a.append("Suppliers are paid on their terms after receipt (open bills on their due date); goods arrive on the PO's "
             "latest expected date; planned purchases arrive no earlier than the supplier's lead time.")
    cover = ("its current weeks of cover" if cp.target_cover_weeks is None else f"{cp.target_cover_weeks:g} weeks of cover")
    if ci is None or ci.inputs.supply_known:  # else the data notes say stock is not modelled
        a.append(f"Each SKU is replenished to {cover} (at most {cp.max_cover_weeks:g} weeks); stock is allocated to "
                 "orders first come, first served; lines the ERP has rescheduled ship on that date.")
    a.append(f"A customer order line shipping {cp.expedite_min_days_late} or more days late incurs expedited freight of "
             f"{fmt_pct(cp.expedite_freight_pct)} of its value, paid when it ships"
             + (f"; production-delayed lines add overtime of {fmt_pct(cp.overtime_pct)} of their value." if cp.overtime_pct
                else "; no overtime is assumed."))
    a.append("Late-delivery penalties follow each customer's contract (% of the line's value per week late, "
             + ("each week started counts" if cp.penalty_rounding == "week_started" else "pro rata")
             + (f", after {cp.penalty_grace_days} days' grace" if cp.penalty_grace_days else "")
             + ", up to its cap), deducted from the customer's payment.")
    a.append(f"Inventory carrying cost: {fmt_pct(cp.carrying_cost_rate)} a year of the extra (or saved) stock value; "
             "an economic P&L cost, not a cash flow.")
    if ci is None or "forecasts" not in ci.inputs.absent:  # else no forecast to compare orders with
        a.append(f"Demand spikes: orders at least {fmt_pct(cp.spike_min_pct)} above the lag-1 forecast in "
                 f"{cp.spike_min_weeks} of the last {cp.spike_lookback_weeks} weeks; the baseline assumes the spike "
                 f"continues {cp.spike_persist_weeks} more weeks at the same ratio.")
    a.append(f"Supplier delays count from {cp.supplier_delay_min_days} days past the promised date; an event is listed "
             f"when its dollars at stake are material: {fmt_money(params.materiality.abs, sym)} or more.")
    a.append(f"Late order lines (rescheduled by the ERP, or short of stock) worth {fmt_money(line_event_min_value(params), sym)} "
             "or more are events of their own; two or more smaller ones of the same SKU are one event, measured together.")
    return a


# ---------------------------------------------------------------- week-over-week history (kept by store.history)


def store_rows(ci: CashImpact) -> tuple[list[dict], list[dict]]:
    """This week's events and forecast lines as store rows: (``soe_cash_events``, ``soe_cash_forecast``)."""
    ev = [{"week": ci.week, "event_id": r.event_id, "type": r.type, "dollars_at_stake": float(r.dollars_at_stake),
           "pnl_impact_quarter": float(r.pnl_impact_quarter), "cash_impact_13w": float(r.cash_impact_13w),
           "material": bool(r.material), "sentence": r.sentence} for r in ci.events.itertuples(index=False)]
    fc = [{"week": ci.week, "scenario": r.scenario, "forecast_week": r.week, "opening_cash": float(r.opening_cash),
           "receipts": float(r.receipts), "payments": float(r.payments), "closing_cash": float(r.closing_cash)}
          for r in ci.weekly.itertuples(index=False)]
    return ev, fc


def compare_history(ci: CashImpact, past: pd.DataFrame, fc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What earlier weeks recorded, next to this week: (events, forecast).

    Args:
        past: recorded events, columns week and event_id (every week the store holds).
        fc: recorded baseline forecast lines, columns week, forecast_week and closing_cash.

    events: this week's material events with ``first_week`` (earliest week the event_id was
    recorded, this week if new) and ``weeks_seen``; forecast: last recorded run week before this
    one, its baseline closing cash by forecast week next to this week's (``change`` = now - then).
    """
    me = week_ordinal(ci.week)
    past = past[past["week"].map(week_ordinal) <= me] if len(past) else past
    ev = ci.events.loc[ci.events["material"], ["event_id", "sentence", "dollars_at_stake"]].copy()
    if len(past):
        g = past.groupby("event_id")["week"].agg(first_week=lambda s: min(s, key=week_ordinal), weeks_seen="nunique")
        ev = ev.join(g, on="event_id")
    ev["first_week"] = ev.get("first_week", pd.Series(index=ev.index, dtype=object)).fillna(ci.week)
    ev["weeks_seen"] = ev.get("weeks_seen", pd.Series(index=ev.index, dtype=float)).fillna(1).astype(int)
    prev = fc[fc["week"].map(week_ordinal) < me] if len(fc) else fc
    if prev.empty:
        return ev, pd.DataFrame(columns=["forecast_week", "then", "now", "change", "then_run_week"])
    last = max(pd.unique(prev["week"]), key=week_ordinal)
    then = prev[prev["week"] == last].set_index("forecast_week")["closing_cash"]
    now = ci.line(BASELINE).set_index("week")["closing_cash"]
    both = pd.DataFrame({"then": then, "now": now}).dropna()
    both = both.assign(change=both["now"] - both["then"], then_run_week=last)
    return ev, both.rename_axis("forecast_week").reset_index()


#: How many weeks before a week the forecasts it is compared with were made (the forecast vs actual chart).
FORECAST_LAGS = (1, 4, 13)


def forecast_vs_actual(fc: pd.DataFrame, actual: pd.DataFrame, week: str,
                       lags: tuple[int, ...] = FORECAST_LAGS) -> pd.DataFrame:
    """Each past week's actual closing cash beside what the forecasts made ``lags`` weeks before it said.

    Args:
        fc: the store's baseline forecast lines: ``week`` (the run week that made the forecast), ``forecast_week``,
            ``closing_cash``; forecasts made in ``week`` or later are left out (they could not know the past).
        actual: week, actual_closing (:func:`soe_helpers.analysis.cash_forecast.actual_closing_cash`).
        week: the run week; target weeks up to it.
    Returns:
        One row per target week up to ``week`` that some earlier forecast covered, oldest first: week,
        actual_closing, and ``lag_<n>`` = the closing cash the forecast made ``n`` weeks before said (NaN when no run
        of that week is in the store). Currency.
    """
    cols = ["week", "actual_closing", *[f"lag_{n}" for n in lags]]
    me = week_ordinal(week)
    if fc.empty:
        return pd.DataFrame(columns=cols)
    made, target = fc["week"].map(week_ordinal), fc["forecast_week"].map(week_ordinal)
    f = fc.assign(lag=target - made, _t=target)[(made < me) & (target <= me)]
    f = f[f["lag"].isin(lags)]
    if f.empty:
        return pd.DataFrame(columns=cols)
    wide = f.pivot_table(index="forecast_week", columns="lag", values="closing_cash", aggfunc="last")
    wide = wide.reindex(columns=list(lags)).rename(columns=lambda n: f"lag_{n}")
    out = wide.rename_axis(None, axis=1).reset_index().rename(columns={"forecast_week": "week"})
    out = out.merge(actual[["week", "actual_closing"]], on="week", how="left")
    return out.sort_values("week", key=lambda w: w.map(week_ordinal)).reset_index(drop=True)[cols]


def forecast_accuracy(table: pd.DataFrame, lags: tuple[int, ...] = FORECAST_LAGS) -> pd.DataFrame:
    """Forecast error by lag over the weeks of ``table`` (:func:`forecast_vs_actual`) that have both figures.

    Returns: lag, weeks, mae (mean absolute error, currency), bias (mean of forecast - actual: + = the forecast
    said more cash than there was).
    """
    rows = []
    for n in lags:
        col = f"lag_{n}"
        d = table[[col, "actual_closing"]].dropna() if col in table else pd.DataFrame(columns=[col, "actual_closing"])
        err = d[col].astype(float) - d["actual_closing"].astype(float)
        rows.append({"lag": n, "weeks": len(d), "mae": float(err.abs().mean()) if len(d) else float("nan"),
                     "bias": float(err.mean()) if len(d) else float("nan")})
    return pd.DataFrame(rows, columns=["lag", "weeks", "mae", "bias"])


def _weeks_before(n: int) -> str:
    return "a week before" if n == 1 else f"{n} weeks before"


def forecast_accuracy_sentences(acc: pd.DataFrame, earlier_runs: list[str], symbol: str) -> list[str]:
    """What the forecast vs actual chart says, for a treasurer: the mean absolute error of each lag with its number
    of weeks, or, with fewer than 2 earlier runs in the store (``earlier_runs``), what will show once there are."""
    if len(earlier_runs) < 2:
        held = (f"the store holds one earlier run ({earlier_runs[0]})" if earlier_runs else
                "the store holds no earlier run yet")
        return [f"Forecast against actual cash: {held}. From two earlier weekly runs on, this section charts each past "
                f"week's actual closing cash beside what the forecast made {', '.join(map(str, FORECAST_LAGS[:-1]))} "
                f"and {FORECAST_LAGS[-1]} weeks before said, with its average error."]
    out = []
    for r in acc.itertuples(index=False):
        if r.weeks:
            side = "more" if r.bias > 0 else "less"
            out.append(f"The forecast made {_weeks_before(r.lag)} missed the actual closing cash by "
                       f"{fmt_money(r.mae, symbol)} on average (mean absolute error) over {r.weeks} "
                       f"week{'s' if r.weeks != 1 else ''}; on average it said {fmt_money(abs(r.bias), symbol)} "
                       f"{side} than there was.")
        else:
            first = week_add(earlier_runs[0], int(r.lag))
            out.append(f"The forecast made {_weeks_before(r.lag)}: first measured in {first}, {r.lag} weeks after the "
                       f"store's earliest run ({earlier_runs[0]}).")
    return out


def cash_forecast_table(ci: CashImpact, line: str = BASELINE) -> pd.DataFrame:
    """One line's weekly table for display: week, opening, receipts by source, payments by kind, closing."""
    w = ci.line(line)
    cols = ["week", "opening_cash", "AR collections", "Open orders", "Forecast sales", "Other receipts", "receipts",
            "AP bills", "Open POs", "Planned POs", "Other payments", "Expedite freight", "Overtime", "One-off costs",
            "payments", "closing_cash"]
    out = w[cols].copy()
    for c in ("AP bills", "Open POs", "Planned POs", "Other payments", "Expedite freight", "Overtime", "One-off costs"):
        out[c] = -out[c]
    return out


# ---------------------------------------------------------------- report helpers

#: canonical tables the analysis reads: those it cannot run without, then the optional ones (None when absent)
TABLES = REQUIRED_TABLES + OPTIONAL_TABLES


def headline(ci: CashImpact, symbol: str) -> list[str]:
    """The report's opening sentences: where baseline cash bottoms out vs the minimum, week-13 cash, and
    what the detected disruptions cost this quarter and over 13 weeks."""
    b = ci.summary[BASELINE]
    gap = b["margin_over_min"]
    pos = "above" if gap >= 0 else "below"
    first = (f"Baseline cash bottoms out at {fmt_money(b['lowest_cash'], symbol)} in {b['lowest_week']}, "
             f"{fmt_money(abs(gap), symbol)} {pos} the {fmt_money(ci.min_cash, symbol)} minimum; "
             f"{fmt_money(b['week13_closing'], symbol)} at the end of {ci.inputs.weeks[-1]}.")
    if b["first_breach_week"]:
        first += f" Cash first falls below the minimum in {b['first_breach_week']} ({b['runway_weeks']} weeks of runway)."
    d = detected_figures(ci)
    n = int(ci.events["material"].sum())
    second = (f"{len(ci.events)} disruptions detected ({n} material) change this quarter's profit by "
              f"{_signed(d['pnl_impact_quarter'], symbol)} and week-{len(ci.inputs.weeks)} cash by "
              f"{_signed(d['cash_impact_13w'], symbol)}.")
    out = [first, second]
    if len(ci.events):
        top = ci.events.iloc[0]
        out.append(f"Largest: {top['sentence']}")
    return out


def _signed(x: float, symbol: str) -> str:
    return ("+" if x >= 0 else "-") + fmt_money(abs(x), symbol)


def detected_figures(ci: CashImpact) -> dict:
    """Totals of the detected events: pnl_impact_quarter (baseline vs without them, P&L quarter) and
    cash_impact_13w (baseline - without, week-13 closing cash, to the cent)."""
    return {"pnl_impact_quarter": float(ci.detected_total.pnl_impact_quarter),
            "cash_impact_13w": round(ci.summary[BASELINE]["week13_closing"] - ci.summary[UNDISRUPTED]["week13_closing"], 2)}


def lines_table(ci: CashImpact) -> pd.DataFrame:
    """One row per forecast line: line, week13_closing, vs_baseline, lowest_week, lowest_cash,
    margin_over_min, first_breach_week, runway_weeks."""
    base = ci.summary[BASELINE]["week13_closing"]
    rows = [{"line": k, **v, "vs_baseline": v["week13_closing"] - base} for k, v in ci.summary.items()]
    cols = ["line", "week13_closing", "vs_baseline", "lowest_week", "lowest_cash", "margin_over_min",
            "first_breach_week", "runway_weeks"]
    out = pd.DataFrame(rows)[cols]
    out["runway_weeks"] = out["runway_weeks"].astype("Int64")
    return out


def customer_dtp_table(ci: CashImpact, customers: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The customers with the most open AR: open AR, nominal terms, observed days-to-pay, paid invoices
    behind it and the basis the forecast uses ('observed' or 'terms')."""
    ar = ci.inputs.ar.groupby("customer_id")["amount"].sum().rename("open_ar")
    d = ci.inputs.dtp.set_index("customer_id")
    out = d.join(ar, how="inner").join(customers.set_index("customer_id")["name"])
    out = out.sort_values("open_ar", ascending=False).head(top).reset_index()
    return out[["customer_id", "name", "open_ar", "terms_days", "observed_days", "n_paid", "basis"]]


def forecast_closes(weekly: pd.DataFrame) -> bool:
    """True when every line's weeks close to the cent: closing = opening + receipts - payments and the
    next week's opening = this week's closing."""
    for _, g in weekly.groupby("scenario", sort=False):
        c = (g["opening_cash"] + g["receipts"] - g["payments"] - g["closing_cash"]).abs()
        chain = (g["opening_cash"].to_numpy()[1:] - g["closing_cash"].to_numpy()[:-1])
        if (c > 0.005).any() or (np.abs(chain) > 0.005).any():
            return False
    return True


def forecast_closes_text(weekly: pd.DataFrame) -> str:
    """:func:`forecast_closes` as a plain sentence for the report (never 'closes: True')."""
    if forecast_closes(weekly):
        return "Every line's weeks close to the cent (opening + receipts - payments = closing)."
    return "A line's weeks do NOT close (opening + receipts - payments differs from closing): a defect, please report it."


__all__ += ["TABLES", "REQUIRED_TABLES", "OPTIONAL_TABLES", "SCENARIO_NEEDS", "scenario_skip_reason", "headline", "detected_figures", "lines_table", "customer_dtp_table", "forecast_closes",
           "forecast_closes_text"]


def cash_risk(ci: CashImpact) -> dict:
    """Cash risk over every line of the forecast (baseline, without detected events, each scenario, all
    scenarios) and every one of its weeks, never the baseline's week 13 only.

    Returns:
        lowest_cash_any_line, lowest_cash_any_line_week, lowest_cash_any_line_name (the lowest week-end cash
        of any line, ties to the first line listed), margin_any_line (that low minus the minimum cash;
        negative = below it), first_breach_any_line_week / first_breach_any_line_name (the earliest week
        any line closes below the minimum, None when none does), runway_weeks_any_line (whole weeks before
        that breach), lines_below_min (names of the lines that go below), lines (how many lines).
    """
    rows = list(ci.summary.items())
    name, low = min(rows, key=lambda r: r[1]["lowest_cash"])
    breaches = [(week_ordinal(s["first_breach_week"]), n, s) for n, s in rows if s["first_breach_week"]]
    first = min(breaches, key=lambda b: b[0]) if breaches else None
    return {
        "lowest_cash_any_line": float(low["lowest_cash"]), "lowest_cash_any_line_week": low["lowest_week"],
        "lowest_cash_any_line_name": name, "margin_any_line": float(low["lowest_cash"] - ci.min_cash),
        "first_breach_any_line_week": first[2]["first_breach_week"] if first else None,
        "first_breach_any_line_name": first[1] if first else None,
        "runway_weeks_any_line": first[2]["runway_weeks"] if first else None,
        "lines_below_min": [n for n, s in rows if s["first_breach_week"]], "lines": len(rows),
    }


def cash_walk(ci: CashImpact, top: int = 3) -> pd.DataFrame:
    """Why baseline cash moves from the opening to the week-13 close: receipts and payments by category,
    each with its largest items named (e.g. "Other payments: Payroll and payroll taxes $1.06M, ...").
    ``largest`` is a list of (item, amount, week of a one-off item or None for a recurring one).

    Returns rows (step, category, amount, largest) from ``Opening cash`` through each category (receipts
    positive, payments negative, largest first within each sign) to ``Closing cash``; the amounts add up
    from the opening to the closing to the cent.
    """
    f = ci.baseline.flows
    by = f.groupby("flow")["amount"].sum()
    rows = [{"step": "Opening cash", "category": "", "amount": float(ci.inputs.opening_cash), "largest": ""}]
    for flow in sorted(by.index, key=lambda k: (by[k] < 0, -abs(by[k]))):
        g = f[f["flow"] == flow].groupby("ref").agg(amount=("amount", "sum"), n=("amount", "size"), week=("week", "first"))
        g = g.reindex(g["amount"].abs().sort_values(ascending=False).index).head(top)
        named = [(str(k).replace("planned:", "planned purchases of "), float(r.amount), r.week if r.n == 1 else None)
                 for k, r in g.iterrows() if str(k) and str(k) != "nan"]
        rows.append({"step": "Receipts" if by[flow] >= 0 else "Payments", "category": flow, "amount": float(by[flow]),
                     "largest": named})
    closing = float(ci.summary[BASELINE]["week13_closing"])
    rows.append({"step": "Closing cash", "category": ci.inputs.weeks[-1], "amount": closing, "largest": ""})
    return pd.DataFrame(rows)


__all__ += ["cash_risk", "cash_walk"]


def cash_walk_sentence(ci: CashImpact, symbol: str, top: int = 3) -> str:
    """One sentence on why baseline cash moves: 'Cash goes from $4.51M to $1.03M by 2027-W07: receipts $X,
    payments $Y, the largest Payroll and payroll taxes $1.06M (7 payments), Federal estimated income tax Q4
    $1.15M (2026-W51), ...'."""
    w = cash_walk(ci, top)
    op, cl = w.iloc[0], w.iloc[-1]
    rec = w.loc[w["step"] == "Receipts", "amount"].sum()
    pay = w.loc[w["step"] == "Payments", "amount"].sum()
    items = [it for r in w[w["step"] == "Payments"].itertuples() for it in (r.largest or [])]
    items = sorted(items, key=lambda it: it[1])[:top]
    named = ", ".join(f"{n} {fmt_money(abs(a), symbol)}" + (f" ({wk})" if wk else "") for n, a, wk in items)
    verb = "falls" if cl["amount"] < op["amount"] else "rises"
    return (f"Baseline cash {verb} from {fmt_money(op['amount'], symbol)} to {fmt_money(cl['amount'], symbol)} by "
            f"{cl['category']}: receipts {fmt_money(rec, symbol)}, payments {fmt_money(abs(pay), symbol)}"
            + (f"; the largest payments: {named}." if named else "."))


__all__ += ["cash_walk_sentence"]
