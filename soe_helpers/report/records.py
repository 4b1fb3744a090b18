"""Typed report records: the headline figures each report of the pack records, defined once.

A notebook's last cell builds its record from the analysis results in one call and records it::

    wk.record(records.reconciliation_record(rec, steps))

:meth:`soe_helpers.report.context.Week.record` writes it to ``results/<section>.json``; the runner merges
the sections into ``results.json`` with :data:`SCHEMA_VERSION`. The executive summary and the email read
them back with :func:`load`, as typed objects (attributes, not string keys); a report that is missing,
did not succeed or recorded another week's figures loads as None.

Units and sign of every figure are in its field's description. Conventions: money in the company
currency; shares as fractions (0.05 = 5%); variance = actual - reference (negative = behind);
cash impacts negative = less cash; forecast bias positive = over-forecast. Every field may be None
when the figure cannot be computed this week (a NaN is recorded as null); the builders fill every field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soe_helpers.analysis import actions as _actions
from soe_helpers.analysis import cash as _cash
from soe_helpers.analysis import data_accuracy as _da
from soe_helpers.analysis import feedback as _feedback
from soe_helpers.analysis import kpis as _kpis
from soe_helpers.analysis import reconcile as _reconcile
from soe_helpers.core.calendar import meeting_date
from soe_helpers.report.context import to_jsonable

__all__ = [
    "SCHEMA_VERSION",
    "Record",
    "Variance",
    "CashEvent",
    "MostBiasedLine",
    "KpiException",
    "OpenAction",
    "FailedCheck",
    "SummaryItem",
    "ScenarioFigures",
    "Decision",
    "ReconciliationRecord",
    "CashImpactRecord",
    "ForecastFeedbackRecord",
    "ExecutionKpisRecord",
    "ActionsRecord",
    "DataAccuracyRecord",
    "ExecutiveSummaryRecord",
    "RECORDS",
    "Records",
    "reconciliation_record",
    "cash_record",
    "forecast_feedback_record",
    "execution_kpis_record",
    "actions_record", "AgendaItem",
    "data_accuracy_record",
    "executive_summary_record",
    "parse",
    "load",
]

#: Version of the records' shape in ``results.json``; raise it when a field changes name, unit or sign.
SCHEMA_VERSION = 1

Num = Optional[float]


class _Model(BaseModel):
    # forbid: a misspelt or unplanned figure fails where it is recorded, not silently downstream
    model_config = ConfigDict(extra="forbid")


class Record(_Model):
    """A report's headline figures; ``SECTION`` names its ``results/<section>.json``."""

    SECTION: ClassVar[str] = ""
    week: Optional[str] = Field(None, description="ISO week the figures are for, e.g. 2026-W47")

    def figures(self) -> dict:
        """The record as plain JSON values (NaN -> null), as written to ``results/<section>.json``."""
        return to_jsonable(self.model_dump())


# ---------------------------------------------------------------- parts of records


class Variance(_Model):
    period: Optional[str] = Field(None, description="'week' or 'qtd' (quarter-to-date)")
    level: Optional[str] = Field(None, description="grain of the variance: product_line, region, sku, customer ...")
    key: Optional[str] = Field(None, description="the product line, region, SKU or customer")
    variance: Num = Field(None, description="actual minus reference (plan or forecast), currency; negative = behind")
    sentence: Optional[str] = Field(None, description="the variance in plain words")


class CashEvent(_Model):
    event_id: Optional[str] = Field(None, description="type:key of the disruption, e.g. supplier_delay:S-017")
    sentence: Optional[str] = Field(None, description="the event in plain words")
    dollars_at_stake: Num = Field(None, description="value at stake, currency, unsigned")


class MostBiasedLine(_Model):
    product_line: Optional[str] = None
    bias_pct_lag4: Num = Field(None, description="bias at lag 4, share of demand; positive = over-forecast")
    bias_pct_focus_lag: Num = Field(None, description="bias at the focus lag, share of demand; positive = over")
    correction: Num = Field(None, description="suggested correction, share of forecast; negative = lower it")
    material: Optional[bool] = Field(None, description="bias above the relative materiality threshold")
    backtest_improvement: Num = Field(None, description="backtest SKU WAPE cut by the correction, share of "
                                                        "the raw WAPE; positive = better")
    backtest_improvement_line_grain: Num = Field(None, description="same at line grain, share; positive = better")


class KpiException(_Model):
    exception_id: Optional[str] = Field(None, description="kpi:<kpi> of a KPI off target")
    dollars_at_stake: Num = Field(None, description="value behind the miss, currency, unsigned")


class OpenAction(_Model):
    id: Optional[str] = Field(None, description="action id, e.g. A-0014")
    title: Optional[str] = None
    owner: Optional[str] = None
    dollars_at_stake: Num = Field(None, description="currency, unsigned")
    escalation: Optional[str] = Field(None, description="level escalated to (CFO, Director ...), None = not")
    due: Optional[str] = Field(None, description="due date, YYYY-MM-DD")
    severity: Optional[str] = Field(None, description="high | medium | low (by its own dollars) | opportunity")
    next_step: Optional[str] = Field(None, description="the next step, by rule from the action's kind")
    decision_asked: Optional[str] = Field(None, description="the decision asked of the meeting")


class AgendaItem(_Model):
    id: Optional[str] = Field(None, description="action id, e.g. A-0014")
    group: Optional[str] = Field(None, description="escalated | overdue | due this week | open | opportunity | "
                                                   "closed this week")
    title: Optional[str] = None
    kind: Optional[str] = Field(None, description="the playbook kind, e.g. supplier_delay, shipments_behind_plan")
    severity: Optional[str] = Field(None, description="high | medium | low (by its own dollars) | opportunity")
    status: Optional[str] = None
    owner: Optional[str] = None
    due: Optional[str] = Field(None, description="due date, YYYY-MM-DD")
    days_overdue: Optional[int] = Field(None, description="days past due at the meeting date")
    dollars_at_stake: Num = Field(None, description="the action's own dollars at stake, currency, unsigned")
    escalation: Optional[str] = Field(None, description="escalation level (the lowest = not escalated)")
    next_step: Optional[str] = None
    decision_asked: Optional[str] = None
    latest_note: Optional[str] = Field(None, description="the last note of the action's log, '' when none")


class FailedCheck(_Model):
    check_id: Optional[str] = Field(None, description="category:name, e.g. tie_out:gl_ar_vs_invoices")
    name: Optional[str] = None
    source: Optional[str] = Field(None, description="the systems compared, e.g. 'CRM vs ERP'")
    sentence: Optional[str] = Field(None, description="the failure in plain words")
    dollars_at_stake: Num = Field(None, description="gross value of the differing records, currency, unsigned")
    material: Optional[bool] = Field(None, description="dollars at stake above materiality")


class Exposure(_Model):
    exposure_id: Optional[str] = None
    root: Optional[str] = Field(None, description="what it is about: an order, a supplier, a product line ...")
    measure: Optional[str] = Field(None, description="revenue, cash and P&L, or data")
    title: Optional[str] = None
    dollars_at_stake: Num = Field(None, description="the largest of its evidence, currency")
    evidence: Optional[list[str]] = Field(None, description="the signals of each report that saw it")
    owner: Optional[str] = None


class ScenarioFigures(_Model):
    name: Optional[str] = None
    kind: Optional[str] = Field(None, description="supplier_delay, vendor_switch, production_delay, demand_spike")
    decision: Optional[str] = Field(None, description="the decision it is an option of (scenarios sharing the label); "
                                                      "None = a what-if alone")
    target: Optional[str] = Field(None, description="what it is about: supplier:<id>, po:<id>, order:<id>, sku:<id> "
                                                    "or product_line:<name>")
    pnl_impact_quarter: Num = Field(None, description="P&L effect this quarter vs baseline, currency; negative = less")
    cash_impact_13w: Num = Field(None, description="cash effect over 13 weeks vs baseline, currency; negative = less")
    one_off_costs: Num = Field(None, description="one-off cost of the option, currency, unsigned")
    week13_closing: Num = Field(None, description="its line's week-13 closing cash, currency")
    lowest_week: Optional[str] = Field(None, description="week of its line's lowest closing cash")
    lowest_cash: Num = Field(None, description="its line's lowest closing cash in 13 weeks, currency")
    first_breach_week: Optional[str] = Field(None, description="first week its line closes below the minimum; "
                                                               "None = none")


class Decision(_Model):
    """One decision the week asks of leadership (see :func:`soe_helpers.report.summary.decisions`)."""

    key: Optional[str] = Field(None, description="what it is about: an exposure id or 'decision:<label>'")
    question: Optional[str] = Field(None, description="the decision asked, in plain words")
    dollars: Num = Field(None, description="the money the decision moves, currency, unsigned; its meaning in "
                                           "dollars_meaning")
    dollars_meaning: Optional[str] = Field(None, description="what the dollars are, e.g. 'at stake' or 'better for "
                                                             "2026-Q4 P&L than the other option'")
    owner: Optional[str] = Field(None, description="owner of its action in the action tracker")
    due: Optional[str] = Field(None, description="due date of its action, ISO date")
    recommendation: Optional[str] = Field(None, description="the option the analysis recommends; None = it computed "
                                                            "no options (see the report)")
    why: Optional[str] = Field(None, description="why, in one clause")
    report: Optional[str] = Field(None, description="notebook of the report holding its options")


class SummaryItem(_Model):
    report: Optional[str] = Field(None, description="notebook of the report the item comes from")
    topic: Optional[str] = None
    light: Optional[str] = Field(None, description="red = act, amber = watch, green = on track, grey = missing")
    sentence: Optional[str] = None




# ---------------------------------------------------------------- one record per report


class ReconciliationRecord(Record):
    """Demand reconciliation: quarter landing vs plan, this week's shipments, the variance register."""

    SECTION: ClassVar[str] = "demand_reconciliation"
    quarter: Optional[str] = Field(None, description="fiscal quarter of the week, e.g. 2026-Q4")
    plan_quarter: Num = Field(None, description="the quarter's plan revenue, currency")
    actual_qtd: Num = Field(None, description="revenue shipped quarter-to-date, currency")
    plan_qtd: Num = Field(None, description="plan revenue quarter-to-date, currency")
    landing: Num = Field(None, description="projected quarter landing: shipped to date + open backlog expected "
                                           "to ship in the quarter + unbooked demand expected to ship in it "
                                           "(analysis.landing), currency")
    backlog_in_quarter: Num = Field(None, description="open order lines expected to ship by quarter end (past-due "
                                                      "ones included), at net price, currency")
    backlog_after_quarter: Num = Field(None, description="open order lines expected after quarter end, currency")
    unbooked_in_quarter: Num = Field(None, description="forecast demand not yet booked that is expected to ship "
                                                       "by quarter end (observed lead times), at plan price, currency")
    landing_corrected: Num = Field(None, description="the landing with the forecast feedback's bias corrections "
                                                     "applied to the unbooked demand, currency")
    slip_risk: Num = Field(None, description="backlog counted in the landing that could slip past quarter end "
                                             "(past due, rescheduled, or due in the last week), currency")
    landing_gap: Num = Field(None, description="projected quarter landing minus quarter plan, currency; "
                                               "negative = behind plan")
    landing_gap_pct: Num = Field(None, description="landing_gap / plan_quarter, share; negative = behind plan")
    week_shipped_revenue: Num = Field(None, description="revenue shipped in the week, currency")
    week_plan_revenue: Num = Field(None, description="plan revenue of the week, currency")
    material_variances: Optional[int] = Field(None, description="material variances of every level, period and "
                                                                "comparison (the register's full detail, folded "
                                                                "rows too: variance_register.csv)")
    register_rows: Optional[int] = Field(None, description="rows of the ranked variance register the team works "
                                                           "through: each material variance once, at its level")
    bridge_closes: Optional[bool] = Field(None, description="plan + volume + mix + price + unplanned = actual, "
                                                            "to the cent")
    bridge: Optional[dict[str, Num]] = Field(None, description="plan-to-actual bridge quarter-to-date, step -> "
                                                               "amount, currency; steps signed (negative = lowers)")
    top_variances: Optional[list[Variance]] = Field(None, description="the five largest material variances")
    lines_behind: Optional[list[str]] = Field(None, description="product lines whose landing is below plan")


class CashImpactRecord(Record):
    """Cash impact: 13-week cash by scenario line, disruptions' P&L and cash effect."""

    SECTION: ClassVar[str] = "cash_impact"
    quarter: Optional[str] = Field(None, description="P&L quarter of the run week")
    forecast_weeks: Optional[list[str]] = Field(None, description="first and last week of the 13-week forecast")
    opening_cash: Num = Field(None, description="cash at the start of the forecast, currency")
    pnl_impact_quarter: Num = Field(None, description="P&L effect of the detected events this quarter, currency; "
                                                      "negative = less profit")
    cash_impact_13w: Num = Field(None, description="cash effect of the detected events over 13 weeks, currency; "
                                                   "negative = less cash")
    baseline_week13_closing: Num = Field(None, description="baseline closing cash of week 13, currency")
    without_events_week13_closing: Num = Field(None, description="week-13 closing cash had no event been "
                                                                 "detected, currency")
    scenario_week13_closing: Optional[dict[str, Num]] = Field(None, description="scenario -> week-13 closing "
                                                                                "cash, currency")
    lowest_week: Optional[str] = Field(None, description="week of the baseline's lowest closing cash")
    lowest_cash: Num = Field(None, description="the baseline's lowest closing cash in 13 weeks, currency")
    min_cash: Num = Field(None, description="minimum cash the company keeps (params), currency")
    margin_over_min: Num = Field(None, description="lowest_cash - min_cash, currency; negative = breach")
    runway_weeks: Optional[int] = Field(None, description="weeks until cash first falls below the minimum; "
                                                          "None = never in 13 weeks")
    first_breach_week: Optional[str] = Field(None, description="first week below the minimum; None = none")
    lowest_cash_any_line: Num = Field(None, description="the lowest week-end cash of ANY line (baseline, without "
                                                        "events, each scenario, all scenarios) in 13 weeks, currency")
    lowest_cash_any_line_week: Optional[str] = Field(None, description="the week of lowest_cash_any_line")
    lowest_cash_any_line_name: Optional[str] = Field(None, description="the line of lowest_cash_any_line")
    margin_any_line: Num = Field(None, description="lowest_cash_any_line - min_cash, currency; negative = below")
    first_breach_any_line_week: Optional[str] = Field(None, description="the first week any line closes below "
                                                                        "the minimum; None = none does")
    first_breach_any_line_name: Optional[str] = Field(None, description="the line that breaches first")
    runway_weeks_any_line: Optional[int] = Field(None, description="whole weeks before the first breach of any "
                                                                   "line; None = none in 13 weeks")
    lines_below_min: Optional[list[str]] = Field(None, description="every line that goes below the minimum")
    cash_walk: Optional[str] = Field(None, description="why baseline cash moves: opening to week-13 close, the "
                                                       "largest payments named (a sentence)")
    events: Optional[int] = Field(None, description="operational disruptions detected")
    material_events: Optional[int] = Field(None, description="of which above materiality")
    events_by_type: Optional[dict[str, int]] = Field(None, description="event type -> count")
    top_events: Optional[list[CashEvent]] = Field(None, description="the five largest material events")
    bridges_close: Optional[bool] = Field(None, description="both week-13 bridges close to the cent")
    forecast_closes: Optional[bool] = Field(None, description="every line's weeks close to the cent")
    warnings: Optional[list[str]] = Field(None, description="scenarios that change nothing this week")
    scenarios: Optional[list[ScenarioFigures]] = Field(None, description="each what-if scenario's figures, options "
                                                                         "of a decision sharing its label")


class ForecastFeedbackRecord(Record):
    """Forecast feedback: S&OP forecast error by lag, bias, value added, corrections and their backtest."""

    SECTION: ClassVar[str] = "forecast_feedback"
    focus_lag: Optional[int] = Field(None, description="lag (weeks) the corrections are for")
    wape_lag1: Num = Field(None, description="WAPE one week out, SKU level, share of demand")
    wape_lag4: Num = Field(None, description="WAPE four weeks out, share of demand")
    bias_lag1: Num = Field(None, description="bias one week out, (forecast - demand) / demand; positive = over")
    bias_lag4: Num = Field(None, description="bias four weeks out, share; positive = over-forecast")
    mase_lag1: Num = Field(None, description="MASE one week out (below 1 = better than seasonal naive)")
    mase_lag4: Num = Field(None, description="MASE four weeks out")
    fva_vs_naive: Num = Field(None, description="naive WAPE - S&OP WAPE at the focus lag, share; positive = "
                                                "S&OP better")
    fva_vs_seasonal_naive: Num = Field(None, description="same vs seasonal naive, share; positive = S&OP better")
    fva_vs_ets: Num = Field(None, description="same vs the statistical (ETS) baseline, share; positive = better")
    backtest_wape_raw: Num = Field(None, description="backtest SKU WAPE of the forecast as made, share")
    backtest_wape_corrected: Num = Field(None, description="backtest SKU WAPE with corrections applied, share")
    backtest_improvement_pct: Num = Field(None, description="(raw - corrected) / raw, share; positive = better")
    backtest_wape_raw_line_grain: Num = Field(None, description="backtest line-total WAPE as made, share")
    backtest_wape_corrected_line_grain: Num = Field(None, description="backtest line-total WAPE corrected, share")
    backtest_improvement_line_grain: Num = Field(None, description="(raw - corrected) / raw at line grain, share")
    backtest_by_line: Optional[dict[str, dict[str, Num]]] = Field(None, description="line -> backtest WAPEs "
                                                                                    "and improvements, shares")
    ts_alert_lines: Optional[list[str]] = Field(None, description="lines with a tracking-signal bias alert")
    baseline_seconds: Num = Field(None, description="seconds the statistical baselines took (not a figure)")
    most_biased_line: Optional[MostBiasedLine] = Field(None, description="the line with the largest supported "
                                                                         "bias; None without lines")
    accuracy_window: Optional[list[str]] = Field(None, description="first and last target week scored")
    backtest_window: Optional[list[str]] = Field(None, description="first and last week of the backtest")
    latest_snapshot: Optional[str] = Field(None, description="week of the latest forecast snapshot")
    wape_by_lag: Optional[dict[int, Num]] = Field(None, description="lag -> WAPE, share")
    bias_by_lag: Optional[dict[int, Num]] = Field(None, description="lag -> bias, share; positive = over")
    fva_by_line: Optional[dict[str, dict[str, Num]]] = Field(None, description="line -> {naive, seasonal_naive, "
                                                                               "ets} FVA, share; positive = better")
    line_corrections: Optional[dict[str, Num]] = Field(None, description="line -> correction at the focus lag, "
                                                                         "share; negative = lower the forecast")
    feedback_rows: Optional[int] = Field(None, description="rows of sop_feedback.csv")
    ets_methods: Optional[dict[str, int]] = Field(None, description="statistical method -> series fitted")
    forecast_history: Optional[dict[str, Any]] = Field(None, description="the forecast evidence: snapshots kept, "
                                                       "first/last snapshot, weeks of known error by lag, ready "
                                                       "(enough for the full report) and the sentence saying so")


PeriodValues = Optional[dict[str, Num]]
_KPI = "KPI by period (week, 13w, quarter)"


class ExecutionKpisRecord(Record):
    """Execution KPIs: fulfilment, working capital and margin by period, against targets."""

    SECTION: ClassVar[str] = "execution_kpis"
    quarter: Optional[str] = None
    periods: Optional[dict[str, list[str]]] = Field(None, description="period -> [first week, last week]")
    otif: PeriodValues = Field(None, description=f"{_KPI}: on time in full, share of lines")
    otif_value: PeriodValues = Field(None, description=f"{_KPI}: on time in full, share of value")
    on_time: PeriodValues = Field(None, description=f"{_KPI}: share of lines on time")
    on_time_value: PeriodValues = Field(None, description=f"{_KPI}: share of value on time")
    in_full: PeriodValues = Field(None, description=f"{_KPI}: share of lines in full")
    in_full_value: PeriodValues = Field(None, description=f"{_KPI}: share of value in full")
    dso: PeriodValues = Field(None, description=f"{_KPI}: days sales outstanding, days; lower = better")
    dio: PeriodValues = Field(None, description=f"{_KPI}: days inventory outstanding, days; lower = better")
    dpo: PeriodValues = Field(None, description=f"{_KPI}: days payables outstanding, days; higher = better")
    ccc: PeriodValues = Field(None, description=f"{_KPI}: cash conversion cycle DIO + DSO - DPO, days")
    inventory_turns: PeriodValues = Field(None, description=f"{_KPI}: COGS x 365 / days / inventory, turns")
    gross_margin_pct: PeriodValues = Field(None, description=f"{_KPI}: gross margin, share of revenue")
    gross_margin_by_line: Optional[dict[str, dict[str, Num]]] = Field(None, description="line -> period -> "
                                                                                        "gross margin, share")
    targets: Optional[dict[str, Num]] = Field(None, description="KPI -> target, in the KPI's unit")
    status: Optional[dict[str, dict[str, Optional[str]]]] = Field(None, description="KPI -> period -> "
                                                                                    "'met' | 'missed'")
    off_target_13w: Optional[list[str]] = Field(None, description="KPIs that missed their target over 13 weeks")
    lights: Optional[dict[str, str]] = Field(None, description="KPI -> green | amber | red | grey: this week and "
                                                               "the 13 weeks against the target (kpis.LIGHT_RULE)")
    working_capital: Optional[dict[str, dict[str, Num]]] = Field(None, description="period -> days, revenue, "
                                                                 "cogs, ar, ap, inventory (currency)")
    exceptions: Optional[list[KpiException]] = Field(None, description="KPIs off target with dollars at stake")
    ar_ageing: Optional[dict[str, Any]] = Field(None, description="open AR as of the week's end: open, overdue, "
                                                "over_90 (currency), overdue_share, buckets (days -> currency)")


class ActionsRecord(Record):
    """Action tracker: open actions, their owners and escalations after this run's sync."""

    SECTION: ClassVar[str] = "actions"
    open: Optional[int] = Field(None, description="open actions")
    overdue: Optional[int] = Field(None, description="open actions past their due date")
    escalated: Optional[int] = Field(None, description="open actions escalated")
    new_this_week: Optional[int] = Field(None, description="actions opened this week")
    closed_this_week: Optional[int] = Field(None, description="actions closed since the week began")
    resurfacing: Optional[int] = Field(None, description="open issues seen in more than one week")
    dollars_at_stake_open: Num = Field(None, description="dollars at stake of the open actions, currency")
    by_owner: Optional[dict[str, Num]] = Field(None, description="owner -> dollars at stake open, currency")
    escalated_to: Optional[dict[str, int]] = Field(None, description="escalation level -> open actions")
    inputs_missing: Optional[list[str]] = Field(None, description="report exports the tracker could not read")
    top_open: Optional[list[OpenAction]] = Field(None, description="the five largest open actions")
    run_changes: Optional[dict[str, int]] = Field(None, description="this run: opened, updated, resurfaced, "
                                                                    "escalated, reopened")
    at_stake_total: Num = Field(None, description="dollars at stake of the week's distinct exposures (one per root "
                                                  "cause: analysis.exposures), currency; never adds a signal twice")
    exposures: Optional[list[Exposure]] = Field(None, description="the distinct exposures, largest first")
    opportunities: Optional[list[Exposure]] = Field(None, description="favourable variances, listed apart")
    meeting_date: Optional[str] = Field(None, description="the meeting on the week's figures (YYYY-MM-DD): due "
                                                          "dates and overdue count from it")
    agenda: Optional[list[AgendaItem]] = Field(None, description="the meeting's list: every open action (and those "
                                                                 "closed this week) once, in meeting order")


class DataAccuracyRecord(Record):
    """Data accuracy: checks across the source systems, scored against a target."""

    SECTION: ClassVar[str] = "data_accuracy"
    score: Num = Field(None, description="checks passed / checks run, share")
    target: Num = Field(None, description="target score, share")
    status: Optional[str] = Field(None, description="score vs target, e.g. 'below'")
    by_source: Optional[dict[str, Num]] = Field(None, description="source system -> score, share")
    failed_checks: Optional[list[FailedCheck]] = None
    material_failed_checks: Optional[list[str]] = Field(None, description="check ids of failed checks above "
                                                                          "materiality")
    checks_run: Optional[int] = None
    checks_not_run: Optional[list[str]] = Field(None, description="check ids not run (their inputs are missing)")
    tie_out_differences: Optional[dict[str, Num]] = Field(None, description="tie-out check -> net difference, "
                                                          "other system minus ERP, currency")
    not_provided: Optional[list[str]] = Field(None, description="optional tables the company does not export")
    tie_out_gross: Num = Field(None, description="failing tie-outs' differences summed gross (every differing "
                                                 "record at its size, either direction), currency")
    tie_out_basis: Optional[str] = Field(None, description="the basis of tie_out_gross in words")
    largest_difference: Optional[FailedCheck] = Field(None, description="the failing check with the largest "
                                                                        "dollars at stake")


class ExecutiveSummaryRecord(Record):
    """Executive summary: the headline, lights and items of the week."""

    SECTION: ClassVar[str] = "executive_summary"
    quarter: Optional[str] = None
    headline: Optional[str] = None
    subject: Optional[str] = Field(None, description="the leadership email's subject")
    lights: Optional[dict[str, int]] = Field(None, description="light -> items")
    run_id: Optional[str] = Field(None, description="run whose figures are summarised")
    reports_without_figures: Optional[list[str]] = None
    items: Optional[list[SummaryItem]] = None
    decisions: Optional[list[Decision]] = Field(None, description="the decisions the week asks of leadership")


#: section -> its record type
RECORDS: dict[str, type[Record]] = {r.SECTION: r for r in (
    ReconciliationRecord, CashImpactRecord, ForecastFeedbackRecord, ExecutionKpisRecord, ActionsRecord,
    DataAccuracyRecord, ExecutiveSummaryRecord)}


# ---------------------------------------------------------------- builders: analysis results -> record


def _build(model: type[Record], figures: Mapping[str, Any]) -> Record:
    # numpy/pandas scalars -> plain values, NaN -> None, before validation
    return model.model_validate(to_jsonable(dict(figures)))


def reconciliation_record(rec, steps) -> ReconciliationRecord:
    """The demand reconciliation's record from :func:`reconcile.reconcile_week`'s result and its
    :func:`reconcile.bridge_steps`."""
    land, t, reg = rec.landing, rec.totals, rec.register
    return _build(ReconciliationRecord, dict(
        week=rec.week, quarter=rec.quarter,
        plan_quarter=land["plan_quarter"], actual_qtd=land["actual_qtd"], plan_qtd=land["plan_qtd"],
        landing=land["landing"], landing_gap=land["gap"], landing_gap_pct=land["gap_pct"],
        backlog_in_quarter=land["backlog_in_quarter"], backlog_after_quarter=land["backlog_after_quarter"],
        unbooked_in_quarter=land["unbooked_in_quarter"], landing_corrected=land["landing_corrected"],
        slip_risk=land["slip_risk"],
        week_shipped_revenue=t["week_shipped_revenue"], week_plan_revenue=t["week_plan_revenue"],
        material_variances=int(len(reg)), register_rows=int(len(_reconcile.ranked_register(reg))),
        bridge_closes=bool(steps.attrs["closes"]),
        bridge={s: float(a) for s, a in zip(steps["step"], steps["amount"])},
        top_variances=_reconcile.ranked_register(reg).head(5)[["period", "level", "key", "variance", "sentence"]]
        .to_dict("records"),
        lines_behind=rec.landing_by_line.loc[rec.landing_by_line["gap"] < 0, "product_line"].tolist(),
    ))


def cash_record(ci, symbol: str) -> CashImpactRecord:
    """The cash impact's record from :func:`cash.cash_week`'s result (``symbol``: the company's currency)."""
    b = ci.summary[_cash.BASELINE]
    d = _cash.detected_figures(ci)
    top = ci.events[ci.events["material"]].head(5)
    return _build(CashImpactRecord, dict(
        week=ci.week, quarter=ci.quarter, forecast_weeks=[ci.inputs.weeks[0], ci.inputs.weeks[-1]],
        opening_cash=float(ci.inputs.opening_cash),
        pnl_impact_quarter=d["pnl_impact_quarter"], cash_impact_13w=d["cash_impact_13w"],
        baseline_week13_closing=b["week13_closing"],
        without_events_week13_closing=ci.summary[_cash.UNDISRUPTED]["week13_closing"],
        scenario_week13_closing={k: v["week13_closing"] for k, v in ci.summary.items()
                                 if k not in (_cash.BASELINE, _cash.UNDISRUPTED)},
        lowest_week=b["lowest_week"], lowest_cash=b["lowest_cash"], min_cash=ci.min_cash,
        margin_over_min=b["margin_over_min"], runway_weeks=b["runway_weeks"],
        first_breach_week=b["first_breach_week"],
        **{k: v for k, v in _cash.cash_risk(ci).items() if k != "lines"},
        cash_walk=_cash.cash_walk_sentence(ci, symbol),
        events=int(len(ci.events)), material_events=int(ci.events["material"].sum()),
        events_by_type={k: int(v) for k, v in ci.events["type"].value_counts().items()},
        top_events=[{"event_id": r.event_id, "sentence": r.sentence, "dollars_at_stake": float(r.dollars_at_stake)}
                    for r in top.itertuples(index=False)],
        bridges_close=bool(_cash.close_check(ci.detected_bridge) and _cash.close_check(ci.scenario_bridge)),
        forecast_closes=bool(_cash.forecast_closes(ci.weekly)),
        warnings=list(ci.warnings),
        scenarios=[{**{k: r.get(k) for k in ScenarioFigures.model_fields}, "decision": r.get("decision") or None}
                   for r in ci.scenarios.to_dict("records")],
    ))


def forecast_feedback_record(fb, lag: int) -> ForecastFeedbackRecord:
    """The forecast feedback's record from :func:`feedback.forecast_feedback`'s result; ``lag`` = the focus lag
    whose line corrections are recorded."""
    last_fit = fb.ets_fits.sort_values("calibration_week").groupby(["level", "key"]).tail(1)
    return _build(ForecastFeedbackRecord, dict(
        **fb.figures,
        accuracy_window=list(fb.window), backtest_window=list(fb.backtest_window), latest_snapshot=fb.latest_snapshot,
        wape_by_lag={int(r.lag): r.wape for r in fb.by_lag.itertuples()},
        bias_by_lag={int(r.lag): r.bias_pct for r in fb.by_lag.itertuples()},
        fva_by_line={r.product_line: {"naive": r.fva_naive, "seasonal_naive": r.fva_seasonal_naive, "ets": r.fva_ets}
                     for r in fb.fva_lines.itertuples()},
        line_corrections=_feedback.line_corrections(fb, lag),
        feedback_rows=int(len(fb.feedback)),
        ets_methods=last_fit["method"].value_counts().to_dict(),
    ))


def execution_kpis_record(k, ar: Mapping[str, Any], buckets) -> ExecutionKpisRecord:
    """The execution KPIs' record from :func:`kpis.execution_kpis`'s result and the AR ageing of
    :func:`kpis.ar_ageing_summary` (its summary ``ar`` and ``buckets`` table)."""
    card = k.card.set_index("kpi")
    per = {x: {kpi: card.loc[kpi, x] for kpi in card.index} for x in _kpis.PERIODS}
    return _build(ExecutionKpisRecord, dict(
        week=k.week, quarter=k.quarter, periods={x: [w[0], w[-1]] for x, w in k.periods.items()},
        **{kpi: {x: per[x][kpi] for x in _kpis.PERIODS} for kpi in card.index},
        gross_margin_by_line={r["product_line"]: {x: r[f"pct_{x}"] for x in _kpis.PERIODS}
                              for r in _kpis.margin_display(k.gross_margin).to_dict("records")},
        targets={kpi: card.loc[kpi, "target"] for kpi in card.index},
        status={kpi: {x: card.loc[kpi, f"status_{x}"] for x in _kpis.PERIODS} for kpi in card.index},
        off_target_13w=card.index[card["status_13w"] == "missed"].tolist(),
        lights={kpi: card.loc[kpi, "light"] for kpi in card.index} if "light" in card.columns else None,
        working_capital={r["period"]: {c: r[c] for c in ("days", "revenue", "cogs", "ar", "ap", "inventory")}
                         for r in k.working.to_dict("records")},
        exceptions=k.exceptions[["exception_id", "dollars_at_stake"]].to_dict("records"),
        ar_ageing={**ar, "buckets": dict(zip(buckets["bucket"], buckets["amount"]))},
    ))


def actions_record(week: str, view, sync, inputs: Mapping[str, Any], exposures=None, meeting=None,
                   meeting_weekday: str = "monday") -> ActionsRecord:
    """The action tracker's record from its :func:`actions.tracker_view` after this run's
    :func:`actions.sync_week`, the report exports it read (``inputs``: file -> frame or None), the week's
    :func:`soe_helpers.analysis.exposures.exposures` and its :func:`actions.meeting_view` (``meeting``)."""
    s = _actions.summary(view)
    top = _actions.display(view, view["is_open"], 5)[["id", "title", "owner", "dollars_at_stake", "escalation",
                                                      "due"]]
    ag = {}
    if meeting is not None:
        m = meeting.set_index("id")
        top = top.assign(**{c: [m.at[i, c] if i in m.index else None for i in top["id"]]
                            for c in ("severity", "next_step", "decision_asked")})
        a = _actions.agenda(meeting)
        extra = m.loc[a["id"], ["status", "kind", "days_overdue", "escalation_level"]].reset_index(drop=True)
        a = a.assign(status=extra["status"], kind=extra["kind"], days_overdue=extra["days_overdue"].astype(int),
                     escalation=extra["escalation_level"])  # the plain status: group and flags say the rest
        ag = dict(agenda=a.to_dict("records"), meeting_date=meeting_date(week, meeting_weekday).isoformat())
    cols = ["exposure_id", "root", "measure", "title", "dollars_at_stake", "evidence", "owner"]
    ex = {} if exposures is None else dict(
        at_stake_total=exposures.at_stake_total, exposures=exposures.risks[cols].to_dict("records"),
        opportunities=exposures.opportunities[cols].to_dict("records"))
    return _build(ActionsRecord, dict(
        week=week, **s, **ex, **ag,
        inputs_missing=[f for f, df in inputs.items() if df is None],
        top_open=top.to_dict("records"),
        run_changes={"opened": len(sync.created), "updated": len(sync.updated), "resurfaced": len(sync.resurfaced),
                     "escalated": len(sync.escalated), "reopened": len(sync.reopened)},
    ))


def data_accuracy_record(week: str, res) -> DataAccuracyRecord:
    """The data accuracy report's record from :func:`data_accuracy.run_checks`'s result."""
    f, c = res.failed, res.checks
    big = _da.largest_difference(c)
    return _build(DataAccuracyRecord, dict(
        week=week, score=res.score, target=res.target, status=res.status,
        by_source={r.source: r.score for r in res.by_source.itertuples(index=False)},
        failed_checks=f[["check_id", "name", "source", "sentence", "dollars_at_stake", "material"]].to_dict("records"),
        material_failed_checks=f.loc[f["material"], "check_id"].tolist(),
        checks_run=int((c["status"] != "not_run").sum()),
        checks_not_run=c.loc[c["status"] == "not_run", "check_id"].tolist(),
        tie_out_differences={r.check_id: r.difference for r in c.itertuples(index=False)
                             if r.category == "tie_out" and r.status != "not_run"},
        not_provided=res.not_provided,
        tie_out_gross=_da.tie_out_total(c)["gross"], tie_out_basis=_da.TIE_OUT_BASIS,
        largest_difference=None if big is None else {
            "check_id": big["check_id"], "name": big["name"], "sentence": big["sentence"],
            "dollars_at_stake": big["dollars"], "source": f.set_index("check_id").at[big["check_id"], "source"],
            "material": bool(f.set_index("check_id").at[big["check_id"], "material"])},
    ))


def executive_summary_record(week: str, quarter: str, headline: str, subject: str, items, lights: Mapping[str, int],
                             run_id: str, decisions=None) -> ExecutiveSummaryRecord:
    """The executive summary's record from its items (:func:`summary.build_items`), headline, subject and
    decisions (:func:`summary.decisions`)."""
    return _build(ExecutiveSummaryRecord, dict(
        week=week, quarter=quarter, headline=headline, subject=subject, lights=lights, run_id=run_id,
        reports_without_figures=sorted(set(items.loc[items["light"] == "grey", "report"])),
        items=items[["report", "topic", "light", "sentence"]].to_dict("records"),
        decisions=None if decisions is None else [d.model_dump() if isinstance(d, Decision) else d for d in decisions],
    ))


# ---------------------------------------------------------------- reading records back


@dataclass(frozen=True)
class Records:
    """The typed records of one run; a report that is missing, unreadable, did not succeed or recorded
    another week's figures is None."""

    demand_reconciliation: ReconciliationRecord | None = None
    cash_impact: CashImpactRecord | None = None
    forecast_feedback: ForecastFeedbackRecord | None = None
    execution_kpis: ExecutionKpisRecord | None = None
    actions: ActionsRecord | None = None
    data_accuracy: DataAccuracyRecord | None = None
    executive_summary: ExecutiveSummaryRecord | None = None

    def get(self, section: str) -> Record | None:
        return getattr(self, section, None)


def parse(section: str, figures: Any) -> Record | None:
    """``figures`` (a section of results.json, or already a record) as its typed record; None when empty,
    of an unknown section or not of the record's shape."""
    model = RECORDS.get(section)
    if model is None or not figures:
        return None
    if isinstance(figures, model):
        return figures
    try:
        return model.model_validate(figures)
    except ValidationError:
        return None


def load(results: Mapping[str, Any] | None, ok: Any = None, week: str | None = None) -> Records:
    """Typed records from ``results`` (results.json, or ``{section: figures}``).

    Args:
        results: the run's figures; ``schema_version`` and unknown sections are ignored.
        ok: if given, only these sections are loaded (e.g. :func:`summary.ok_sections`: their notebook ran
            and succeeded); the others are None.
        week: if given, a section recording another week is None.
    """
    results = results or {}
    keep = set(ok) if ok is not None else set(RECORDS)
    out = {}
    for section in RECORDS:
        r = parse(section, results.get(section)) if section in keep else None
        if r is not None and week is not None and r.week not in (None, week):
            r = None
        out[section] = r
    return Records(**out)
