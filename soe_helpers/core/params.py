"""Company settings and run overrides: load, merge, validate once, with errors that name the key.

A run's params are ``params/company.yaml``, then any ``--params FILE`` deep-merged on
top, then ``--set dotted.key=value`` overrides (values parsed as YAML scalars, so
``--set materiality.abs=10000`` is a number and ``--set email.smtp_starttls=false`` a
boolean). The result is validated against the models below: an unknown key, a wrong
type or a missing value raises :class:`ParamsError` listing every problem with its
dotted key. Secrets never live here: database URLs and passwords are read from the
environment variables that params *name* (``url_env``).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from soe_helpers.core import paths
from soe_helpers.core.calendar import FiscalCalendar

__all__ = [
    "ParamsError",
    "Params",
    "Source",
    "Constant",
    "load_params",
    "apply_sets",
    "deep_merge",
    "params_from_json",
    "is_demo",
    "company_slug",
]


class ParamsError(ValueError):
    """Params are invalid; ``problems`` lists one line per problem, each naming its key."""

    def __init__(self, problems: list[str], origin: str = "params"):
        self.problems = problems
        self.origin = origin
        super().__init__(f"{origin} are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Company(_Strict):
    name: str
    currency: str = "USD"
    currency_symbol: str = "$"   # the one place the currency symbol has a default: the company's params


class CalendarParams(_Strict):
    """The fiscal calendar (:class:`soe_helpers.core.calendar.FiscalCalendar`): ``iso`` = calendar months
    (a week in the month of its Thursday); 4-4-5 / 4-5-4 / 5-4-4 = 52/53-week years. ``year_start_month``:
    the month the fiscal year starts (7 = July); ``year_end``: for 52/53-week years not on the ISO year,
    the last or the nearest Sunday of the month before the start month."""

    type: Literal["iso", "4-4-5", "4-5-4", "5-4-4"] = "iso"
    year_start_month: int = Field(1, ge=1, le=12)
    year_end: Literal["iso", "last", "nearest"] = "iso"

    @model_validator(mode="after")
    def _valid(self):
        FiscalCalendar(self.type, self.year_start_month, self.year_end)  # raises with the reason
        return self


class PlanParams(_Strict):
    """How a monthly or quarterly plan is filled to weeks (:mod:`soe_helpers.analysis.plan_grain`):
    ``working_days`` = each period over its weeks by working days (Monday to Friday); ``last_year`` = by the
    same weeks' ``basis`` (bookings or shipments) a year earlier for the same plan key, working days where
    last year has none (the data notes say how many). A weekly plan is used as it is."""

    fill: Literal["working_days", "last_year"] = "working_days"
    basis: Literal["bookings", "shipments"] = "bookings"


class Materiality(_Strict):
    """One rule (:mod:`soe_helpers.analysis.materiality`): material = |variance| >= abs (currency) AND
    (no reference or |variance| / |reference| >= pct). The percentage narrows, never widens."""

    abs: float = Field(5000.0, ge=0)
    pct: float = Field(0.05, ge=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _no_rule(cls, data):
        if isinstance(data, dict) and "rule" in data:
            raise ValueError(
                f"'materiality.rule' ({data['rule']!r}) is no longer a setting: a variance is material when it is at "
                "least materiality.abs AND at least materiality.pct of its reference (the percentage only narrows "
                "the list); delete the 'rule' line from your params file")
        return data


class Constant(_Strict):
    """One value for every row of a canonical column the export lacks: ``region: {value: "US"}``.

    The value is parsed and checked like the column's own values at load (a constant
    ``payment_terms_days: {value: Net 30}`` is 30 days; a bad one is an error naming the source).
    """

    value: Union[bool, int, float, dt.date, str]


class Source(_Strict):
    """Where one canonical table comes from: a file or a SQL query, plus a column mapping.

    ``columns`` maps canonical column -> the source's own header, or -> ``{value: ...}``, one
    value for every row (:class:`Constant`; e.g. ``region: {value: "US"}`` for a company selling
    in one region). ``url_env`` names the environment variable holding the database URL (the URL
    itself never goes in params).
    Neither a file nor a query (``file: null``, e.g. to drop a table an extended file names) means
    the company does not have the table: it is absent, as if not listed (:attr:`absent`).
    """

    file: str | None = None
    query: str | None = None
    url_env: str | None = None
    sheet: str | int | None = None
    columns: dict[str, Union[str, Constant]] = Field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    date_format: str | None = None
    header_row: int | None = Field(None, ge=1, description="1-based row of the header when title rows sit above it")

    def header(self, column: str) -> str | None:
        """The source's header for canonical ``column`` (its own name when unmapped); None for a constant."""
        h = self.columns.get(column, column)
        return None if isinstance(h, Constant) else h

    def constant(self, column: str) -> "Constant | None":
        """The :class:`Constant` mapped to ``column``, or None when a header holds it."""
        c = self.columns.get(column)
        return c if isinstance(c, Constant) else None

    @property
    def constants(self) -> dict[str, "Constant"]:
        """Canonical column -> its constant, for the columns mapped to one value."""
        return {k: v for k, v in self.columns.items() if isinstance(v, Constant)}

    @model_validator(mode="after")
    def _one_origin(self):
        if self.file and self.query:
            raise ValueError("give exactly one of 'file' or 'query' (or `file: null` for a table you do not have)")
        if self.query and not self.url_env:
            raise ValueError("a 'query' source needs 'url_env', the environment variable holding the database URL")
        return self

    @property
    def absent(self) -> bool:
        """The table has no origin (``file: null`` and no query): the company does not have it."""
        return not self.file and not self.query


class DataParams(_Strict):
    dir: str | None = None      # the exports' folder (relative to the repo, or absolute); --data-dir overrides it
    as_of: dt.date | None = None
    query_timeout_seconds: float = Field(900.0, gt=0, le=86400)  # a SQL source query running longer is cancelled
    # days from order date to the requested date when the orders have none (soe_helpers.data.completion)
    order_lead_time_days: int = Field(14, ge=0, le=365)
    sources: dict[str, Source]

    def present(self) -> dict[str, Source]:
        """The sources of the tables the company has: a table not listed, or listed with ``file: null``, is absent."""
        return {n: s for n, s in self.sources.items() if not s.absent}

    # Table names and column mappings are checked against the canonical schemas one layer up:
    # soe_helpers.data.sources.check_sources (core knows no table).


class StoreParams(_Strict):
    """The week-over-week store. ``url_env`` names an environment variable with a SQLAlchemy URL
    (e.g. a shared PostgreSQL); when it is unset, an embedded SQLite file at ``path`` is used."""

    url_env: str = "SOE_STORE_URL"
    path: str = "soe_store.sqlite"  # relative to the outputs folder


class RunParams(_Strict):
    kernel: str = "soe"
    timeout_seconds: int = Field(1200, ge=10, description="per-notebook time limit")
    max_parallel: int = Field(0, ge=0, description="0 = one per CPU core")
    log_output: bool = False


class ReconciliationParams(_Strict):
    top_n: int = Field(15, ge=1, le=500)


class ChatParams(_Strict):
    """The team's chat: ``soe send --chat`` posts the headline, what needs a decision and a link through an
    incoming webhook (Slack or Microsoft Teams). The webhook URL is a secret: it is read from the
    environment variable named here, never written in params, printed or logged."""

    webhook_url_env: str = "SOE_CHAT_WEBHOOK_URL"
    format: Literal["slack", "teams"] = "slack"
    timeout_seconds: int = Field(20, ge=1, le=300)
    max_items: int = Field(5, ge=1, le=20)     # lines that need action listed in the post


class EmailParams(_Strict):
    """The weekly email (built by every run) and its delivery with ``soe send``.

    The SMTP password is never a setting: ``soe send`` reads it from the environment
    variable ``SOE_SMTP_PASSWORD`` only (no password set = no SMTP login).
    """

    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = True      # upgrade with STARTTLS; fails rather than sending in clear if refused
    smtp_ssl: bool = False          # implicit TLS from the first byte (usually port 465)
    smtp_username: str | None = None  # default: the sender's address
    smtp_timeout_seconds: int = Field(60, ge=1, le=600)
    sender: str = "S&OE weekly pack <soe@example.com>"
    reply_to: str | None = None
    leadership: list[str] = Field(default_factory=list)
    analysts: list[str] = Field(default_factory=list)
    copy_analysts: bool = True      # analysts in Cc of the leadership email
    subject_prefix: str = "S&OE"
    # How the full reports reach leadership: "link" (email.report_url, nothing attached), "bundle" (one
    # attachment: every report in one page, weekly_pack_<week>.html) or "none". Default: link when
    # report_url is set, else bundle. The older ``attach_reports: true/false`` still reads as bundle / link-or-none.
    reports: Literal["link", "bundle", "none"] | None = None
    report_url: str | None = None   # e.g. https://reports.example.com/{week}/{run_id}/{report}.html
    max_html_kb: int = Field(100, ge=10, le=1000)
    # The whole message, attachments and charts included: a bundle that would take the email above it is
    # left out (the email says where the reports are). Phone mail apps preview messages up to ~500 KB.
    max_email_kb: int = Field(500, ge=50, le=50_000)

    @field_validator("sender", "reply_to", "leadership", "analysts")
    @classmethod
    def _addresses(cls, v):
        from email.utils import parseaddr

        for a in [v] if isinstance(v, str) else (v or []):
            if any(ch in a for ch in "\r\n\x00"):  # a header injection, and a raw traceback in smtplib before
                raise ValueError(f"{a!r} holds a line break or NUL: one address per list item, on one line")
            addr = parseaddr(a)[1]
            if not addr or "@" not in addr or addr.startswith("@") or addr.endswith("@") or " " in addr:
                raise ValueError(f"{a!r} is not an email address like 'Name <name@example.com>'")
        return v

    @field_validator("report_url")
    @classmethod
    def _url(cls, v):
        if v and (not v.startswith(("https://", "http://")) or "{report}" not in v):
            raise ValueError("expected an http(s) URL containing {report} (and optionally {week}, {run_id}), "
                             "e.g. https://reports.example.com/{week}/{run_id}/{report}.html")
        return v

    @model_validator(mode="before")
    @classmethod
    def _older_names(cls, data):
        """``attach_reports`` (a bool) and ``max_attachments_mb`` are the older names of ``reports`` and
        ``max_email_kb``: read them, refuse a value that means nothing or contradicts the new key."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "attach_reports" in data:
            old = data.pop("attach_reports")
            if not isinstance(old, bool):
                raise ValueError(f"attach_reports: {old!r} is not true or false; better, set "
                                 "reports: link | bundle | none")
            if old:
                new = "bundle"
            else:
                new = "link" if data.get("report_url") else "none"
            if data.get("reports") not in (None, new):
                raise ValueError(f"attach_reports: {str(old).lower()} (the older setting, meaning reports: {new}) "
                                 f"contradicts reports: {data['reports']}; keep only reports")
            data["reports"] = new
        if "max_attachments_mb" in data:
            old = data.pop("max_attachments_mb")
            if isinstance(old, bool) or not isinstance(old, (int, float)) or old <= 0:
                raise ValueError(f"max_attachments_mb: {old!r} is not a size in MB; better, set max_email_kb "
                                 "(the whole message, default 500)")
            if "max_email_kb" in data:
                raise ValueError("max_attachments_mb (the older setting) and max_email_kb are both set; keep only "
                                 "max_email_kb (the whole message, in KB)")
            data["max_email_kb"] = int(old * 1024)
        return data

    @model_validator(mode="after")
    def _reports_mode(self):
        if self.reports is None:
            self.reports = "link" if self.report_url else "bundle"
        elif self.reports == "link" and not self.report_url:
            raise ValueError("reports: link needs report_url (e.g. https://reports.example.com/{week}/{run_id}/"
                             "{report}.html); without one, use reports: bundle (one attachment) or none")
        return self

    @model_validator(mode="after")
    def _one_tls_mode(self):
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError("smtp_ssl (implicit TLS) and smtp_starttls exclude each other: set one to false")
        return self


class ExecutiveSummaryParams(_Strict):
    """Rules the executive summary uses for its traffic lights (each stated in the report)."""

    top_variances: int = Field(3, ge=0, le=20)       # material variances named in the summary and email
    cash_watch_margin: float = Field(0.25, ge=0, le=10)  # amber when the low point is within this share above min cash
    accuracy_watch_points: float = Field(0.02, ge=0, le=1)  # amber when the score is this close below target


class KpiTargets(_Strict):
    """Targets the execution KPIs are judged against (shares as fractions, days as days)."""

    otif: float = Field(0.95, ge=0, le=1)            # on time in full, share of lines (and of value)
    on_time: float = Field(0.95, ge=0, le=1)
    in_full: float = Field(0.97, ge=0, le=1)
    dso: float = Field(45.0, ge=0)                    # days; lower is better
    dio: float = Field(60.0, ge=0)                    # days; lower is better
    dpo: float = Field(45.0, ge=0)                    # days; higher is better
    ccc: float = Field(60.0)                          # days; lower is better (may be negative)
    inventory_turns: float = Field(6.0, ge=0)         # times a year; higher is better
    gross_margin_pct: float = Field(0.40, ge=-1, le=1)  # share of shipped revenue; higher is better


class KpiParams(_Strict):
    """How the execution KPIs are measured (every rule is stated in the report)."""

    targets: KpiTargets = Field(default_factory=KpiTargets)
    gross_margin_targets: dict[str, float] = Field(default_factory=dict)  # by product line; others: targets.gross_margin_pct
    due_date: Literal["promised", "requested"] = "promised"   # the date a line is due for on-time
    on_time_tolerance_days: int = Field(0, ge=0, le=60)        # days late still counted on time
    in_full_tolerance: float = Field(0.0, ge=0, le=0.5)        # share of the line that may be short and still in full
    balance_basis: Literal["average", "ending"] = "average"    # AR/AP/inventory balance in DSO/DPO/DIO
    dso_revenue: Literal["invoiced", "shipped"] = "invoiced"   # revenue DSO divides by
    trend_weeks: int = Field(13, ge=2, le=104)                 # weeks shown in the trend charts
    history_weeks: int = Field(52, ge=2, le=104)               # up to this many when the store holds them
    top_n: int = Field(15, ge=1, le=500)                       # rows in ranked tables

    @field_validator("gross_margin_targets")
    @classmethod
    def _gm_range(cls, v: dict[str, float]):
        bad = [k for k, x in v.items() if not -1 <= x <= 1]
        if bad:
            raise ValueError(f"gross margin targets are shares between -1 and 1 (0.40 = 40%); check {', '.join(bad)}")
        return v


_OWNER_FIELDS = ("supplier_id", "customer_id", "type", "system", "sku", "product_line", "region")


class EscalationRule(_Strict):
    """Escalate to ``level`` when every condition given holds (rules are OR'ed; the highest level wins)."""

    level: str
    dollars_over: float | None = Field(None, ge=0)        # dollars at stake above this
    weeks_overdue_over: int | None = Field(None, ge=0)    # overdue by more than this many weeks
    weeks_resurfaced_over: int | None = Field(None, ge=0)  # the issue came back in more than this many weeks

    @model_validator(mode="after")
    def _has_condition(self):
        if self.dollars_over is None and self.weeks_overdue_over is None and self.weeks_resurfaced_over is None:
            raise ValueError("an escalation rule needs at least one of dollars_over, weeks_overdue_over, "
                             "weeks_resurfaced_over")
        return self


class SeverityRule(_Strict):
    """An action's severity from its own dollars at stake, and the working days it gets from the meeting."""

    high_dollars: float = Field(100000.0, ge=0)    # at stake at or above this: high
    medium_dollars: float = Field(25000.0, ge=0)   # at or above this (and below high): medium; else low
    high_days: int = Field(3, ge=1, le=120)        # working days from the meeting date to the due date
    medium_days: int = Field(5, ge=1, le=120)
    low_days: int = Field(10, ge=1, le=120)

    @model_validator(mode="after")
    def _ordered(self):
        if self.medium_dollars > self.high_dollars:
            raise ValueError(f"severity: medium_dollars ({self.medium_dollars:,.0f}) is above high_dollars "
                             f"({self.high_dollars:,.0f})")
        return self


class ActionsParams(_Strict):
    """The action tracker: who owns what, what opens an action, when it escalates."""

    default_owner: str = "FP&A lead"
    owners: dict[str, dict[str, str]] = Field(default_factory=dict)  # field -> value -> owner
    owner_order: list[str] = Field(default_factory=lambda: list(_OWNER_FIELDS))
    min_dollars_variance: float = Field(50000.0, ge=0)   # a material variance opens an action above this
    min_dollars_event: float = Field(10000.0, ge=0)      # a detected event (cash_events.csv) above this
    min_dollars_kpi: float = Field(25000.0, ge=0)        # a KPI off target worth more than this
    variance_periods: list[Literal["week", "qtd"]] = Field(default_factory=lambda: ["week", "qtd"])
    variance_levels: list[Literal["product_line", "sku", "region", "customer"]] = Field(
        default_factory=lambda: ["product_line", "sku", "region"])
    # due dates count from the meeting on the week's figures: the first meeting_weekday after the week ends
    meeting_weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    severity: SeverityRule = Field(default_factory=lambda: SeverityRule())
    reopen_closed: bool = False                          # reopen a done/dropped action when its issue is seen again later
    levels: list[str] = Field(default_factory=lambda: ["Owner", "Director", "CFO"])
    escalation: list[EscalationRule] = Field(default_factory=lambda: [
        EscalationRule(level="Director", dollars_over=100000),
        EscalationRule(level="Director", weeks_resurfaced_over=1),
        EscalationRule(level="CFO", dollars_over=250000),
        EscalationRule(level="CFO", weeks_overdue_over=2),
    ])
    top_n: int = Field(20, ge=1, le=500)

    @model_validator(mode="after")
    def _consistent(self):
        problems = []
        bad = sorted(set(self.owners) - set(_OWNER_FIELDS))
        if bad:
            problems.append(f"owners: unknown field(s) {', '.join(bad)}; use {', '.join(_OWNER_FIELDS)}")
        bad = [f for f in self.owner_order if f not in _OWNER_FIELDS]
        if bad:
            problems.append(f"owner_order: unknown field(s) {', '.join(bad)}; use {', '.join(_OWNER_FIELDS)}")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            problems.append("levels: give at least one level, each once, lowest first")
        bad = [r.level for r in self.escalation if r.level not in self.levels]
        if bad:
            problems.append(f"escalation: level(s) {', '.join(bad)} not in levels ({', '.join(self.levels)})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class DataAccuracyParams(_Strict):
    """The data-accuracy control: cross-system tie-outs, freshness, completeness, duplicates, orphans."""

    target_score: float = Field(0.95, ge=0, le=1)
    tie_out_tolerance: float = Field(1.0, ge=0)        # currency: differences up to this are rounding
    quantity_tolerance: float = Field(0.0, ge=0)       # units: MRP vs ERP on-hand differences up to this pass
    freshness_days: dict[str, int] = Field(default_factory=dict)  # table -> days its latest record may lag the week end
    invoice_lag_days: int = Field(3, ge=0, le=60)       # a shipment must be invoiced within this many days
    systems: dict[str, str] = Field(default_factory=dict)  # table -> system name (ERP, CRM, MRP, GL ...)
    gl_accounts: dict[Literal["accounts_receivable", "accounts_payable", "inventory"], list[str]] = Field(
        default_factory=lambda: {"accounts_receivable": ["1200"], "accounts_payable": ["2100"],
                                 "inventory": ["1400"]})   # control account -> GL account numbers summed
    top_n: int = Field(15, ge=1, le=500)

    # table names in freshness_days/systems: soe_helpers.data.sources.check_sources


class _ScenarioBase(_Strict):
    name: str = Field(min_length=1)
    combine: bool = True                 # include in the "all scenarios" line
    decision: str | None = None          # scenarios sharing this label are shown side by side as options


class SupplierDelayScenario(_ScenarioBase):
    """Open PO lines of a supplier (or one PO) arrive ``days`` later than now expected."""

    kind: Literal["supplier_delay"]
    supplier_id: str | None = None
    po_id: str | None = None
    days: int = Field(ge=0, le=365)

    @model_validator(mode="after")
    def _one_target(self):
        if bool(self.supplier_id) == bool(self.po_id):
            raise ValueError("give exactly one of supplier_id or po_id")
        return self


class DemandSpikeScenario(_ScenarioBase):
    """Forecast bookings of a SKU (or a whole product line) change by ``pct`` for ``weeks`` weeks."""

    kind: Literal["demand_spike"]
    sku: str | None = None
    product_line: str | None = None
    pct: float = Field(gt=-1, le=10)                # 0.10 = +10%, -0.2 = a 20% drop
    weeks: int = Field(ge=0, le=52)
    start_week: str | None = None                   # ISO week; default the first forecast week

    @model_validator(mode="after")
    def _one_target(self):
        if bool(self.sku) == bool(self.product_line):
            raise ValueError("give exactly one of sku or product_line")
        if self.start_week is not None:
            from soe_helpers.core.calendar import parse_week  # pandas-backed: loaded only when a scenario names a week
            parse_week(self.start_week)
        return self


class ProductionDelayScenario(_ScenarioBase):
    """An open order (or one line of it) ships ``days`` later than now scheduled."""

    kind: Literal["production_delay"]
    order_id: str
    line: int | None = Field(None, ge=0)
    days: int = Field(ge=0, le=365)
    expedite_cost: float | None = Field(None, ge=0)  # currency; None = the expedite rule (cash.expedite_*)
    overtime_cost: float | None = Field(None, ge=0)  # currency; None = the overtime rule (cash.overtime_pct)


class VendorSwitchScenario(_ScenarioBase):
    """Move a supplier's (or one PO's) open lines to another vendor at a one-off cost: they arrive on
    their promised date, or ``days_to_switch`` after the forecast starts if later."""

    kind: Literal["vendor_switch"]
    supplier_id: str | None = None
    po_id: str | None = None
    one_off_cost: float = Field(ge=0)
    days_to_switch: int = Field(7, ge=0, le=365)
    unit_cost_change_pct: float = Field(0.0, gt=-1, le=10)   # new vendor's price vs the PO's (purchase price variance)
    payment_terms_days: int | None = Field(None, ge=0, le=365)  # None = the current supplier's terms

    @model_validator(mode="after")
    def _one_target(self):
        if bool(self.supplier_id) == bool(self.po_id):
            raise ValueError("give exactly one of supplier_id or po_id")
        return self


Scenario = Annotated[Union[SupplierDelayScenario, DemandSpikeScenario, ProductionDelayScenario,
                           VendorSwitchScenario], Field(discriminator="kind")]


class CashParams(_Strict):
    """Cash impact report: 13-week direct cash forecast, impact rules and what-if scenarios."""

    horizon_weeks: int = Field(13, ge=4, le=26)
    min_cash: float = Field(0.0, ge=0)                  # currency: the lowest balance treasury accepts
    carrying_cost_rate: float = Field(0.25, ge=0, le=2)  # annual share of inventory value (P&L, not cash)
    expedite_freight_pct: float = Field(0.03, ge=0, le=1)  # share of a late line's value, paid when it ships
    expedite_min_days_late: int = Field(7, ge=1, le=365)
    overtime_pct: float = Field(0.0, ge=0, le=1)         # share of a production-delayed line's value; 0 = none
    penalty_rounding: Literal["week_started", "exact"] = "week_started"
    penalty_grace_days: int = Field(0, ge=0, le=90)
    dtp_lookback_days: int = Field(365, ge=30, le=1500)  # paid-invoice history behind each customer's days-to-pay
    dtp_min_invoices: int = Field(5, ge=1, le=1000)      # fewer -> the customer's nominal terms
    ar_doubtful_after_days: int = Field(90, ge=0, le=3650)
    target_cover_weeks: float | None = Field(None, ge=0, le=52)  # None = each SKU's current cover
    max_cover_weeks: float = Field(12.0, ge=0, le=52)
    order_to_ship_days: int | None = Field(None, ge=0, le=365)  # None = the lags seen in recent orders
    price_lookback_weeks: int = Field(13, ge=1, le=104)
    plan_inventory_weeks: float | None = Field(None, ge=0, le=104)  # None = current days of inventory
    supplier_delay_min_days: int = Field(3, ge=1, le=365)
    production_delay_min_days: int = Field(1, ge=1, le=365)
    # order lines (production delays, orders at risk) worth less than this are measured together per SKU
    line_event_min_value: float | None = Field(None, ge=0)  # None = half of materiality.abs
    spike_lookback_weeks: int = Field(4, ge=1, le=26)
    spike_min_weeks: int = Field(4, ge=1, le=26)
    spike_min_pct: float = Field(0.20, ge=0, le=10)
    spike_min_value: float | None = Field(None, ge=0)    # None = materiality.abs
    spike_persist_weeks: int = Field(4, ge=0, le=26)
    top_n: int = Field(15, ge=1, le=500)
    scenarios: list[Scenario] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self):
        if self.spike_min_weeks > self.spike_lookback_weeks:
            raise ValueError("spike_min_weeks cannot exceed spike_lookback_weeks")
        names = [s.name for s in self.scenarios]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"scenario names must be unique; repeated: {', '.join(dup)}")
        reserved = {"baseline", "all scenarios", "without detected events"} & {n.lower() for n in names}
        if reserved:
            raise ValueError(f"scenario name(s) {', '.join(sorted(reserved))} are reserved for the report's own lines")
        return self


class ForecastFeedbackParams(_Strict):
    """Forecast-error feedback (notebooks/forecast_feedback.ipynb): accuracy by lag, value added, bias corrections."""

    max_lag: int = Field(13, ge=1, le=52)                  # longest forecast lag measured, weeks
    focus_lag: int = Field(4, ge=1, le=52)                 # the lag the headline, FVA tables and alerts speak of
    trailing_weeks: int = Field(26, ge=4, le=260)          # target weeks in the accuracy window
    seasonal_period: int = Field(52, ge=2, le=104)         # weeks: seasonal naive, MASE scale, Holt-Winters
    ts_window_weeks: int = Field(13, ge=2, le=104)         # target weeks in the tracking signal
    ts_threshold: float = Field(4.0, gt=0, le=100)         # |TS| above this = alert
    correction_window_weeks: int = Field(26, ge=4, le=260)  # weeks of known errors a correction learns from
    min_evidence_weeks: int = Field(8, ge=2, le=260)       # fewer weeks of evidence = no correction (nor bias shown)
    min_accuracy_weeks: int = Field(4, ge=1, le=260)       # target weeks of a lag before its error is shown
    prior_bias_sd: float = Field(0.10, gt=0, le=2)         # shrinkage: typical size of a real line bias (share)
    prior_bias_sd_sku: float = Field(0.10, gt=0, le=2)     # ... of a SKU's bias beyond its line's
    prior_biased_share: float = Field(0.5, gt=0, le=1)     # ... prior probability that a bias is real
    prior_large_bias_sd: float | None = Field(0.50, gt=0, le=5)  # ... a large real bias (half of real ones); None = off
    max_correction: float = Field(0.5, gt=0, le=0.95)      # cap on |correction| (share of the forecast)
    outlier_z: float | None = Field(3.0, ge=1, le=20)      # one-off line weeks capped at this many robust sd; None = off
    backtest_weeks: int = Field(26, ge=4, le=260)          # target weeks scored in the rolling-origin backtest
    ets_min_weeks: int = Field(16, ge=4, le=520)           # shorter history -> naive fallback instead of ETS
    ets_refit_weeks: int = Field(13, ge=1, le=104)         # ETS parameters re-estimated every this many weeks
    top_n: int = Field(10, ge=1, le=500)                   # rows in the ranked SKU tables

    @model_validator(mode="after")
    def _consistent(self):
        if self.focus_lag > self.max_lag:
            raise ValueError(f"focus_lag ({self.focus_lag}) cannot exceed max_lag ({self.max_lag})")
        if self.min_evidence_weeks > self.correction_window_weeks:
            raise ValueError("min_evidence_weeks cannot exceed correction_window_weeks")
        return self


class Params(_Strict):
    company: Company
    calendar: CalendarParams = Field(default_factory=CalendarParams)
    materiality: Materiality = Field(default_factory=Materiality)
    plan: PlanParams = Field(default_factory=PlanParams)
    data: DataParams
    store: StoreParams = Field(default_factory=StoreParams)
    run: RunParams = Field(default_factory=RunParams)
    reconciliation: ReconciliationParams = Field(default_factory=ReconciliationParams)
    email: EmailParams = Field(default_factory=EmailParams)
    chat: ChatParams = Field(default_factory=ChatParams)
    executive_summary: ExecutiveSummaryParams = Field(default_factory=ExecutiveSummaryParams)
    kpis: KpiParams = Field(default_factory=KpiParams)
    actions: ActionsParams = Field(default_factory=ActionsParams)
    data_accuracy: DataAccuracyParams = Field(default_factory=DataAccuracyParams)
    cash: CashParams = Field(default_factory=CashParams)
    forecast_feedback: ForecastFeedbackParams = Field(default_factory=ForecastFeedbackParams)
    notebooks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-notebook papermill parameters; keys are checked against each notebook's parameters cell",
    )
    outputs: str | None = Field(
        None, description="this company's folder of runs, history page and SQLite store, relative to the outputs "
                          "folder (outputs/, or $SOE_OUTPUTS) or absolute; default for a --params company: its "
                          "name as a slug (outputs/finger-lakes-cycles/), for the demo company: outputs/ itself")

    def outputs_dir(self) -> Path:
        """The folder this company's runs (``<week>/<run_id>/``), ``index.html`` and SQLite store live in."""
        base = paths.outputs_dir()
        return paths.resolve(self.outputs, base) if self.outputs else base

    def data_dir(self) -> Path:
        if not self.data.dir:
            raise ParamsError(["data.dir is not set: give --data-dir DIR, or data.dir in your params file "
                               "(the folder holding your exports)"])
        return paths.resolve(self.data.dir)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


# ---------------------------------------------------------------- loading


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict: ``override`` merged into ``base`` recursively (override wins on leaves)."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_sets(raw: dict, sets: list[str]) -> dict:
    """Apply ``dotted.key=value`` overrides; the value is parsed as a YAML scalar."""
    out = copy.deepcopy(raw)
    problems = []
    for s in sets or []:
        if "=" not in s:
            problems.append(f"--set {s!r}: expected key=value, e.g. materiality.abs=10000")
            continue
        key, _, value = s.partition("=")
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            problems.append(f"--set {s!r}: the key is empty or has an empty part")
            continue
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = parsed
    if problems:
        raise ParamsError(problems, "overrides")
    return out


class _DuplicateKey(yaml.constructor.ConstructorError):
    def __init__(self, key, first_line: int, line: int):
        self.key, self.first_line, self.line = key, first_line, line
        super().__init__(None, None, f"key {key!r} appears twice (lines {first_line} and {line})")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping key given twice, where PyYAML keeps the last silently
    (``abs: 5000`` then ``abs: 50000`` further down would quietly change materiality). Keys brought
    in by a ``<<`` merge may be overridden: that is what a merge is for."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: construct_mapping reports it
                    continue
                if first != key_node.start_mark.line + 1:
                    raise _DuplicateKey(key, first, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> dict:
    """The settings in one YAML file; a key given twice in one mapping is a ParamsError naming it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParamsError([f"file not found: {path}"], "params") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except _DuplicateKey as e:
        raise ParamsError([f"{path}: key {e.key!r} is given twice (lines {e.first_line} and {e.line}); "
                           "YAML would silently keep the last: keep one"], "params") from None
    except yaml.YAMLError as e:
        raise ParamsError([f"{path}: not valid YAML: {e}"], "params") from None
    if not isinstance(data, dict):
        raise ParamsError([f"{path}: expected a mapping of settings at the top level"], "params")
    return data


def _format_errors(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}': not a setting (check the spelling; see params/company.yaml)")
        elif e["type"] == "missing":
            lines.append(f"missing value for '{key}'")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            lines.append(f"'{key}': {e['msg']}{shown}" if key else f"{e['msg']}")
    return lines


DEMO_PARAMS = "company.yaml"   # the built-in demo company's settings, in params/


def param_files(files: list[str | Path] | None = None) -> list[Path]:
    """The YAML files a run's params are merged from, in order: the one rule for every command.

    No file given: ``params/company.yaml`` (the demo company's settings, what ``make report`` runs).
    Files given: each stands on the neutral defaults of :class:`Params`, not on the demo's settings; a file
    that says ``extends: OTHER.yaml`` (relative to itself) is merged on top of that file first, and a later
    file is merged on top of the earlier ones (a run's overrides).
    """
    out: list[Path] = []

    def add(path: Path, seen: tuple[Path, ...]) -> None:
        if path in seen:
            raise ParamsError([f"{path}: 'extends' loops back to itself ({' -> '.join(str(s) for s in (*seen, path))})"])
        base = _read_yaml(path).get("extends")
        if base:
            add(paths.resolve(str(base), path.parent), (*seen, path))
        out.append(path)

    for f in (list(files) if files else [paths.params_dir() / DEMO_PARAMS]):
        add(paths.resolve(f), ())
    return out


def is_demo(chain: list[Path]) -> bool:
    """Params merged from ``chain`` are the built-in demo company's: they stand on ``params/company.yaml``."""
    demo = (paths.params_dir() / DEMO_PARAMS).resolve()
    return any(Path(f).resolve() == demo for f in chain)


def company_slug(name: str | None) -> str:
    """A company's folder name: ``"Finger Lakes Cycles, Inc."`` -> ``finger-lakes-cycles-inc``."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(name or "").casefold()).strip("-")
    return slug[:60].strip("-") or "company"


def load_params(
    files: list[str | Path] | None = None,
    sets: list[str] | None = None,
    data_dir: str | Path | None = None,
) -> Params:
    """Resolve and validate a run's params.

    Args:
        files: the run's ``--params`` files (see :func:`param_files`: each stands on neutral defaults
            unless it ``extends`` another); none = ``params/company.yaml``, the demo company.
        sets: ``dotted.key=value`` overrides applied last.
        data_dir: ``--data-dir``: read every file source from this folder (default: the
            ``SOE_DATA_DIR`` environment variable, then ``data.dir``).
    Returns:
        The validated :class:`Params`.
    Raises:
        ParamsError: listing every unknown key, wrong type or missing value, or a key given twice
            in one file. Table names and column mappings are checked against the canonical schemas
            by :func:`soe_helpers.data.sources.check_sources` (the data layer), run before any input
            is read.
    """
    raw: dict = {}
    chain = param_files(files)
    for f in chain:
        doc = _read_yaml(f)
        doc.pop("extends", None)
        raw = deep_merge(raw, doc)
    raw = apply_sets(raw, sets or [])
    if raw.get("outputs") is None and not is_demo(chain):
        raw["outputs"] = company_slug((raw.get("company") or {}).get("name") if isinstance(raw.get("company"), dict)
                                      else None)
    if data_dir is None and os.environ.get("SOE_DATA_DIR"):
        data_dir = os.environ["SOE_DATA_DIR"]  # lets an interactive kernel or a test point at other exports
    if data_dir is not None:
        raw.setdefault("data", {})["dir"] = str(Path(data_dir).expanduser().resolve())
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise ParamsError(_format_errors(e)) from None


def params_from_json(path: str | Path) -> Params:
    """Reload params a run resolved and saved (``params.json`` in the run folder)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    (data.get("materiality") or {}).pop("rule", None)  # a run recorded before the one materiality rule
    return Params.model_validate(data)
