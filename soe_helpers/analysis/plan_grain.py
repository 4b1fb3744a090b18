"""The plan at the grain the company keeps it, and the same plan filled to weeks.

A company's plan is rarely the demo's week x SKU x region with units, revenue and COGS: finance keeps a
plan by month (or quarter) and product line in Excel, often in dollars only. :func:`plan_grain` reads what
a plan holds; :func:`weekly_plan` fills its periods to weeks so that the quarter-to-date and the landing
can use it; the reconciliation compares actuals with it only at the grain it has (:attr:`PlanGrain.dims`).

- **Period** (one per plan, :data:`PERIOD_KINDS`): ``week`` (ISO week), ``month`` (a calendar month:
  ``YYYY-MM``) or ``quarter`` (a fiscal quarter ``YYYY-Qn`` of the fiscal calendar, labelled by the year it
  ends in, :class:`soe_helpers.core.calendar.FiscalCalendar`).
- **Dimensions** (:data:`PLAN_DIMS`): any of ``sku``, ``product_line``, ``region``, ``customer_id``. A SKU
  names its product line (item master) and a customer its region (customer master), so a plan by SKU is
  also a plan by product line, and a plan by customer one by region; nothing else is implied.
- **Measures**: ``revenue`` always; ``units`` and ``cogs`` when every row has them (a money-only plan has
  no price / volume / mix bridge).

**Weeks from months and quarters: the working-days rule.** A month's (quarter's) plan is spread over the
weeks of its fiscal period in proportion to each week's working days inside the period, Monday to Friday
(no public holidays). A month's fiscal period is its weeks under the fiscal calendar: for an ``iso``
calendar the weeks whose Thursday falls in the month, so a week that starts in the month before counts
only its weekdays inside the month (a week Mon 29 Jun - Sun 5 Jul, placed in July by its Thursday, takes
3 of July's working days). Under a 4-4-5 calendar a month is the fiscal period of the same number
(July = P01 of a July year) and every week of it has 5 working days. A quarter's weeks are its fiscal
weeks, 5 working days each. Every period's plan lands inside its own fiscal quarter, so the filled plan's
quarter total equals the plan's quarter total to the cent.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import FiscalCalendar, is_week, week_label, week_ordinal, week_start

__all__ = ["PERIOD_COLUMNS", "PERIOD_KINDS", "PLAN_DIMS", "PlanGrain", "plan_grain", "period_weeks",
           "weekly_plan", "FILL_RULE"]

PERIOD_COLUMNS = ("week", "month", "quarter", "period")
PERIOD_KINDS = ("week", "month", "quarter")
PLAN_DIMS = ("sku", "product_line", "region", "customer_id")
_DIM_NAMES = {"sku": "SKU", "product_line": "product line", "region": "region", "customer_id": "customer"}
FILL_RULE = ("each {period}'s plan is spread over its weeks by working days (Monday to Friday inside the "
             "{period}, no public holidays)")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_QUARTER = re.compile(r"^\d{4}-Q[1-4]$")


def _kind_of(label: str) -> str | None:
    if is_week(label):
        return "week"
    if _MONTH.match(label):
        return "month"
    if _QUARTER.match(label):
        return "quarter"
    return None


@dataclass(frozen=True)
class PlanGrain:
    """What a plan holds: its period kind, the dimensions given, implied ones and its measures."""

    period: str                 # "week" | "month" | "quarter"
    given: tuple[str, ...]      # dimension columns with a value in the plan's rows
    units: bool
    cogs: bool

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimensions at which actuals can be compared with the plan (given + implied: SKU -> product line,
        customer -> region), in :data:`PLAN_DIMS` order."""
        d = set(self.given)
        if "sku" in d:
            d.add("product_line")
        if "customer_id" in d:
            d.add("region")
        return tuple(x for x in PLAN_DIMS if x in d)

    def has(self, dim: str) -> bool:
        return dim in self.dims

    def describe(self) -> str:
        """'month x product line, revenue only' / 'week x SKU x region, units, revenue and COGS'."""
        grain = " x ".join([self.period] + [_DIM_NAMES[d] for d in self.given]) if self.given else \
            f"{self.period}, company total"
        measures = ["units"] * self.units + ["revenue"] + ["COGS"] * self.cogs
        what = "revenue only" if measures == ["revenue"] else ", ".join(measures[:-1]) + " and " + measures[-1]
        return f"{grain}, {what}"


def plan_grain(plan: pd.DataFrame) -> PlanGrain:
    """The grain of a validated plan (one period column, see the module docstring).

    Raises:
        ValueError: when the plan has no period column, or mixes period kinds (months and quarters).
    """
    cols = [c for c in PERIOD_COLUMNS if c in plan and plan[c].notna().any()]
    if not cols:
        raise ValueError("the plan has no period: expected one column week, month, quarter or period")
    if len(cols) > 1:
        raise ValueError(f"the plan has {len(cols)} period columns ({', '.join(cols)}): expected one")
    col = cols[0]
    if col == "period":
        kinds = {k for k in (_kind_of(str(v)) for v in pd.unique(plan[col].dropna()))}
        if None in kinds or len(kinds) != 1:
            raise ValueError(f"plan column period mixes kinds ({', '.join(sorted(str(k) for k in kinds))}): "
                             "one plan holds weeks, months or quarters, not several")
        kind = kinds.pop()
    else:
        kind = col
    given = tuple(d for d in PLAN_DIMS if d in plan and plan[d].notna().any())
    units = "units" in plan and len(plan) > 0 and bool(plan["units"].notna().all()) and float(plan["units"].sum()) > 0
    cogs = "cogs" in plan and len(plan) > 0 and bool(plan["cogs"].notna().all())
    return PlanGrain(kind, given, bool(units), bool(cogs))


def _weekdays_in(week: str, first: dt.date, last: dt.date) -> int:
    """Monday-to-Friday days of ``week`` between ``first`` and ``last`` (inclusive)."""
    mon = week_start(week).date()
    return sum(1 for i in range(5) if first <= mon + dt.timedelta(days=i) <= last)


def _month_bounds(label: str) -> tuple[dt.date, dt.date]:
    y, m = int(label[:4]), int(label[5:7])
    first = dt.date(y, m, 1)
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def period_weeks(label: str, kind: str, cal: FiscalCalendar) -> pd.Series:
    """The weeks a plan period is spread over and each one's share (summing to 1), by the working-days rule.

    >>> period_weeks("2026-07", "month", FiscalCalendar("iso", 7)).round(4).to_dict()   # doctest: +NORMALIZE_WHITESPACE
    {'2026-W27': 0.1304, '2026-W28': 0.2174, '2026-W29': 0.2174, '2026-W30': 0.2174, '2026-W31': 0.2174}
    """
    if kind == "week":
        return pd.Series({label: 1.0})
    if kind == "quarter":
        weeks = cal.quarter_weeks(label)
        return pd.Series(1.0 / len(weeks), index=weeks)
    first, last = _month_bounds(label)
    if cal.kind == "iso":
        # the weeks of the fiscal month: those whose Thursday falls in it; each by its weekdays in the month
        cands = sorted({week_label(first + dt.timedelta(days=i)) for i in range(-6, (last - first).days + 7)},
                       key=week_ordinal)
        weeks = [w for w in cands if first <= (week_start(w) + pd.Timedelta(days=3)).date() <= last]
        days = np.array([_weekdays_in(w, first, last) for w in weeks], dtype=float)
    else:
        # 52/53-week years: the calendar month is the fiscal period of its number; whole weeks, 5 days each
        fy = first.year + (1 if cal.start_month != 1 and first.month >= cal.start_month else 0)
        pnum = (first.month - cal.start_month) % 12 + 1
        target = f"{fy}-P{pnum:02d}"
        weeks = [w for w in cal._year_weeks(fy) if cal.period_of(w) == target]
        days = np.full(len(weeks), 5.0)
    if not weeks or days.sum() <= 0:
        raise ValueError(f"plan month {label} has no working day in the fiscal calendar")
    return pd.Series(days / days.sum(), index=weeks)


def weekly_plan(plan: pd.DataFrame, cal: FiscalCalendar, products: pd.DataFrame | None = None,
                customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The plan filled to weeks: one row per week and plan row, at the plan's own dimensions.

    Returns columns ``week``, the dimensions of :attr:`PlanGrain.dims` (``product_line`` from ``products``
    when the plan is by SKU; ``region`` from ``customers`` when by customer), ``revenue``, ``units`` and
    ``cogs`` (NaN when the plan has none), ``plan_period`` (the plan's own period label). The weekly rows
    of each plan period sum to it exactly (working-days rule, module docstring). ``attrs["grain"]`` holds the
    :class:`PlanGrain`.
    """
    grain = plan_grain(plan)
    col = next(c for c in PERIOD_COLUMNS if c in plan and plan[c].notna().any())
    p = plan.copy()
    p["plan_period"] = p[col].astype(str)
    for c in ("units", "cogs"):
        if c not in p:
            p[c] = np.nan
    if "sku" in grain.given and "product_line" not in grain.given and products is not None:
        p = p.drop(columns=["product_line"], errors="ignore").merge(
            products[["sku", "product_line"]], on="sku", how="left")
    if "customer_id" in grain.given and "region" not in grain.given and customers is not None:
        p = p.drop(columns=["region"], errors="ignore").merge(
            customers[["customer_id", "region"]], on="customer_id", how="left")
    dims = [d for d in grain.dims if d in p]
    if grain.period == "week":  # already weekly: the rows as they are
        out = p.assign(week=p["plan_period"])[["week", *dims, "revenue", "units", "cogs", "plan_period"]]
        out = out.reset_index(drop=True)
        out.attrs["grain"] = grain
        return out
    shares = pd.concat([period_weeks(lbl, grain.period, cal).rename("share").rename_axis("week").reset_index()
                        .assign(plan_period=lbl) for lbl in pd.unique(p["plan_period"])], ignore_index=True) \
        if len(p) else pd.DataFrame({"week": pd.Series(dtype=object), "share": pd.Series(dtype=float),
                                     "plan_period": pd.Series(dtype=object)})
    out = p[["plan_period", *dims, "revenue", "units", "cogs"]].merge(shares, on="plan_period", how="inner")
    for c in ("revenue", "units", "cogs"):
        out[c] = out[c].astype(float) * out["share"]
    out = out[["week", *dims, "revenue", "units", "cogs", "plan_period"]].reset_index(drop=True)
    out.attrs["grain"] = grain
    return out
