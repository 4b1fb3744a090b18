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

**Or last year's weekly shape** (``plan.fill: last_year``): each period's plan is spread over the same weeks
in proportion to that plan key's bookings (``plan.basis: shipments``: shipments) in the weeks 52 weeks
earlier, the same season of the year before (a plan by product line: that product line's; a company-total
plan: the company's), each week's weight scaled by its share of the period's working days as above, so a
week half in the month counts half its bookings. A plan key and period whose weeks a year earlier hold no
positive bookings (a new product line, the first year of data) falls back to working days; the data notes
say how many did. Either way a period's weeks add exactly to the period. Example: July's $100 over four
whole weeks whose bookings a year earlier were $10, $30, $30 and $30 -> $10, $30, $30, $30.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import FiscalCalendar, is_week, week_add, week_label, week_ordinal, week_start

__all__ = ["PERIOD_COLUMNS", "PERIOD_KINDS", "PLAN_DIMS", "PlanGrain", "plan_grain", "period_weeks",
           "weekly_plan", "FILL_RULE", "FILL_RULES", "fill_note", "last_year_shares", "fill_history"]

PERIOD_COLUMNS = ("week", "month", "quarter", "period")
PERIOD_KINDS = ("week", "month", "quarter")
PLAN_DIMS = ("sku", "product_line", "region", "customer_id")
_DIM_NAMES = {"sku": "SKU", "product_line": "product line", "region": "region", "customer_id": "customer"}
FILL_RULE = ("each {period}'s plan is spread over its weeks by working days (Monday to Friday inside the "
             "{period}, no public holidays)")
FILL_RULES = ("working_days", "last_year")
_YEAR_BEFORE = -52  # weeks: the same weeks a year earlier (the same season; a 53-week year shifts by one)
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


def _history_by_key(history: pd.DataFrame, dims: list[str], products: pd.DataFrame | None,
                    customers: pd.DataFrame | None) -> pd.Series:
    """Weekly actual value per plan key: a Series indexed by (week, *dims)."""
    h = history
    value = "value" if "value" in h else "revenue"
    if "product_line" in dims and "product_line" not in h:
        if products is None:
            raise ValueError("the last_year fill of a plan by product line needs the products (SKU -> product line)")
        h = h.merge(products[["sku", "product_line"]], on="sku", how="left")
    if "region" in dims and "region" not in h:
        if customers is None:
            raise ValueError("the last_year fill of a plan by region needs the customers (customer -> region)")
        h = h.merge(customers[["customer_id", "region"]], on="customer_id", how="left")
    return h.groupby(["week", *dims], dropna=False)[value].sum().astype(float)


def last_year_shares(days: pd.DataFrame, key_dims: list[str], ly: pd.Series) -> pd.DataFrame:
    """Each (plan period, key)'s weekly shares by last year's shape, working days where last year has none.

    Args:
        days: one row per plan period, key and week: ``plan_period``, the ``key_dims``, ``week`` and
            ``share``, the working-days share (:func:`period_weeks`).
        ly: weekly actual value per key (index ``(week, *key_dims)``, :func:`_history_by_key`).
    Returns:
        ``days`` with ``share`` = working-days share x the key's value 52 weeks before the week (negatives
        as 0), normalised within each period and key; ``fell_back`` True where that sum was 0 (the
        working-days shares kept).
    """
    d = days.copy()
    d["ly_week"] = d["week"].map({w: week_add(w, _YEAR_BEFORE) for w in pd.unique(d["week"])})
    hist = ly.rename("ly").rename_axis(["ly_week", *key_dims]).reset_index()
    d = d.merge(hist, on=["ly_week", *key_dims], how="left")
    d["weight"] = d["share"] * d["ly"].fillna(0.0).clip(lower=0.0)
    group = ["plan_period", *key_dims]
    total = d.groupby(group, dropna=False)["weight"].transform("sum")
    d["fell_back"] = ~(total > 0)
    d["share"] = np.where(d["fell_back"], d["share"], d["weight"] / total.where(total > 0, 1.0))
    return d.drop(columns=["ly_week", "ly", "weight"])


def weekly_plan(plan: pd.DataFrame, cal: FiscalCalendar, products: pd.DataFrame | None = None,
                customers: pd.DataFrame | None = None, *, fill: str = "working_days",
                history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The plan filled to weeks: one row per week and plan row, at the plan's own dimensions.

    Returns columns ``week``, the dimensions of :attr:`PlanGrain.dims` (``product_line`` from ``products``
    when the plan is by SKU; ``region`` from ``customers`` when by customer), ``revenue``, ``units`` and
    ``cogs`` (NaN when the plan has none), ``plan_period`` (the plan's own period label). The weekly rows
    of each plan period sum to it exactly (working-days rule, or ``fill="last_year"``: last year's weekly
    shape, module docstring). ``attrs["grain"]`` holds the :class:`PlanGrain`; ``attrs["fill"]`` the rule
    and, for ``last_year``, how many plan keys and key-periods fell back to working days.

    Args:
        fill: ``working_days`` or ``last_year``.
        history: for ``last_year``: weekly actuals, columns ``week``, ``sku``, ``customer_id`` and ``value``
            (bookings: the ``booked_weekly`` aggregate) or ``revenue`` (``shipped_weekly``).
    Raises:
        ValueError: an unknown ``fill``, or ``last_year`` without ``history``.
    """
    if fill not in FILL_RULES:
        raise ValueError(f"plan fill {fill!r} is not one of {', '.join(FILL_RULES)}")
    if fill == "last_year" and history is None:
        raise ValueError("plan fill last_year needs last year's weekly bookings (or shipments) as history")
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
        out.attrs["fill"] = {"rule": "week"}
        return out
    days = {lbl: period_weeks(lbl, grain.period, cal) for lbl in pd.unique(p["plan_period"])}
    empty = pd.DataFrame({"week": pd.Series(dtype=object), "share": pd.Series(dtype=float),
                          "plan_period": pd.Series(dtype=object)})
    info: dict = {"rule": fill}
    if fill == "working_days":
        shares = pd.concat([d.rename("share").rename_axis("week").reset_index().assign(plan_period=lbl)
                            for lbl, d in days.items()], ignore_index=True) if len(p) else empty
        out = p[["plan_period", *dims, "revenue", "units", "cogs"]].merge(shares, on="plan_period", how="inner")
    else:
        # the plan's own key: the dimensions it gives (a plan by SKU is shaped by each SKU's history)
        key_dims = list(grain.given)
        pairs = p[["plan_period", *key_dims]].drop_duplicates()
        wd = pd.concat([d.rename("share").rename_axis("week").reset_index().assign(plan_period=lbl)
                        for lbl, d in days.items()], ignore_index=True) if len(p) else empty
        shares = last_year_shares(pairs.merge(wd, on="plan_period"), key_dims,
                                  _history_by_key(history, key_dims, products, customers))
        fell = shares.loc[shares["fell_back"], ["plan_period", *key_dims]].drop_duplicates()
        out = p[["plan_period", *dims, "revenue", "units", "cogs"]].merge(
            shares.drop(columns="fell_back"), on=["plan_period", *key_dims], how="inner")
        info.update(periods=int(len(pairs)), periods_fell_back=int(len(fell)),
                    keys=int(len(pairs[key_dims].drop_duplicates())) if key_dims else 1,
                    keys_fell_back=int(len(fell[key_dims].drop_duplicates())) if key_dims else int(len(fell) > 0),
                    basis="value" if "value" in history else "revenue")
    for c in ("revenue", "units", "cogs"):
        out[c] = out[c].astype(float) * out["share"]
    out = out[["week", *dims, "revenue", "units", "cogs", "plan_period"]].reset_index(drop=True)
    out.attrs["grain"] = grain
    out.attrs["fill"] = info
    return out


def fill_note(wp: pd.DataFrame) -> str:
    """The data note's clause on how a filled plan (:func:`weekly_plan`) spread its periods over weeks.

    ``working_days``: :data:`FILL_RULE`. ``last_year``: "each month's plan is spread over its weeks by last
    year's bookings in the same weeks (52 weeks earlier) for its product line; 2 of 5 product lines (3 of 45
    months x product line) had none a year earlier and were spread by working days".
    """
    grain, info = wp.attrs["grain"], wp.attrs.get("fill") or {"rule": "working_days"}
    period = grain.period
    if info["rule"] != "last_year":
        return FILL_RULE.format(period=period)
    what = "bookings" if info.get("basis") == "value" else "shipments"
    key = " x ".join(_DIM_NAMES[d] for d in grain.given)
    whose = f"for its {key}" if key else "for the company"
    text = f"each {period}'s plan is spread over its weeks by last year's {what} in the same weeks (52 weeks " \
           f"earlier) {whose}"
    if not info["periods_fell_back"]:
        return text + "; every one had " + what + " a year earlier"
    tail = f" had no {what} a year earlier and were spread by working days"
    if not key:
        return text + f"; {info['periods_fell_back']} of {info['periods']} {period}s" + tail
    return (text + f"; {info['keys_fell_back']} of {info['keys']} {key}s ({info['periods_fell_back']} of "
            f"{info['periods']} {period}s x {key})" + tail)


def fill_history(plan_params, booked_weekly: pd.DataFrame | None, shipped_weekly: pd.DataFrame | None
                 ) -> pd.DataFrame | None:
    """The weekly actuals the ``last_year`` fill reads (``params.plan``: ``basis`` bookings -> the
    ``booked_weekly`` aggregate, shipments -> ``shipped_weekly``); None for the working-days rule."""
    if plan_params is None or plan_params.fill != "last_year":
        return None
    h = booked_weekly if plan_params.basis == "bookings" else shipped_weekly
    if h is None:
        raise ValueError(f"plan.fill last_year with basis {plan_params.basis} needs the weekly "
                         f"{'bookings' if plan_params.basis == 'bookings' else 'shipments'}")
    return h
