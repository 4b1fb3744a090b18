"""Weeks and quarters: ISO weeks, grouped into fiscal months or a 4-4-5 style fiscal calendar.

Weeks are ISO weeks labelled ``YYYY-Www`` (Monday start). Quarters (:class:`FiscalCalendar`):

- ``iso``: a week belongs to the calendar month, and so the quarter, of its Thursday (the same rule
  ISO uses to place a week in a year), so a quarter has 13 or 14 weeks
  (e.g. 2026-Q4 = 2026-W40 .. 2026-W53, 14 weeks). The fiscal year may start in any month.
- ``4-4-5`` / ``4-5-4`` / ``5-4-4``: 52/53-week years (the ISO week-year, or years ending on the last
  or nearest Sunday of a month); each quarter is 13 weeks split into periods of that pattern; week 53,
  when a year has one, is added to the last period of Q4.

A fiscal year is labelled by the calendar year it ends in (FY2027 = July 2026 .. June 2027).

Example:
    >>> cal = FiscalCalendar("iso")
    >>> cal.quarter_of("2026-W47")
    '2026-Q4'
    >>> cal.quarter_weeks("2026-Q4")[0], len(cal.quarter_weeks("2026-Q4"))
    ('2026-W40', 14)
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "WEEK_RE",
    "FiscalCalendar",
    "is_week",
    "parse_week",
    "week_label",
    "week_start",
    "week_end",
    "week_add",
    "week_diff",
    "week_range",
    "weeks_in_year",
    "to_week",
    "week_ordinal",
    "from_ordinal",
    "latest_complete_week",
    "WEEKDAYS",
    "meeting_date",
    "add_working_days",
    "MONTH_NAMES",
    "month_number",
]

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_EPOCH = pd.Timestamp("1970-01-05")  # a Monday: week ordinal 0


def is_week(label: object) -> bool:
    """True when ``label`` is a valid ISO week label such as ``2026-W47``."""
    if not isinstance(label, str):
        return False
    m = WEEK_RE.match(label)
    return bool(m) and 1 <= int(m.group(2)) <= weeks_in_year(int(m.group(1)))


def parse_week(label: str) -> tuple[int, int]:
    """Return ``(iso_year, iso_week)`` or raise ValueError with the expected format."""
    m = WEEK_RE.match(str(label).strip()) if label is not None else None
    if not m:
        raise ValueError(f"week {label!r} is not an ISO week label like '2026-W47'")
    year, week = int(m.group(1)), int(m.group(2))
    if not 1 <= week <= weeks_in_year(year):
        raise ValueError(f"week {label!r} does not exist: {year} has {weeks_in_year(year)} ISO weeks")
    return year, week


def weeks_in_year(year: int) -> int:
    """52 or 53: the ISO week number of 28 December."""
    return dt.date(year, 12, 28).isocalendar()[1]


def week_label(d) -> str:
    """ISO week label of a date: ``week_label(date(2026, 11, 25)) == '2026-W48'``."""
    iso = pd.Timestamp(d).isocalendar()
    return f"{iso[0]:04d}-W{iso[1]:02d}"


def week_start(label: str) -> pd.Timestamp:
    """Monday of the week."""
    y, w = parse_week(label)
    return pd.Timestamp(dt.date.fromisocalendar(y, w, 1))


def week_end(label: str) -> pd.Timestamp:
    """Sunday of the week (the last day it covers)."""
    return week_start(label) + pd.Timedelta(days=6)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def meeting_date(label: str, weekday: str | int = "monday") -> dt.date:
    """The first ``weekday`` after the week ends: the day the team meets on the week's figures.

    ``meeting_date("2026-W47")`` is Monday 2026-11-23 (the week ends Sunday 2026-11-22);
    ``meeting_date("2026-W47", "tuesday")`` is 2026-11-24.
    """
    wd = WEEKDAYS.index(str(weekday).strip().lower()) if isinstance(weekday, str) else int(weekday)
    end = week_end(label).date()
    return end + dt.timedelta(days=(wd - end.weekday() - 1) % 7 + 1)


def add_working_days(day: dt.date, n: int) -> dt.date:
    """``day`` plus ``n`` working days (Monday to Friday; no holiday calendar): Monday + 3 = Thursday,
    Friday + 1 = Monday."""
    d = day
    for _ in range(int(n)):
        d += dt.timedelta(days=1)
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
    return d


def week_ordinal(label: str) -> int:
    """Weeks since 1970-01-05: makes week arithmetic plain integer arithmetic."""
    return int((week_start(label) - _EPOCH).days // 7)


def from_ordinal(n: int) -> str:
    return week_label(_EPOCH + pd.Timedelta(weeks=int(n)))


def week_add(label: str, n: int) -> str:
    """The week ``n`` weeks after ``label`` (negative for before)."""
    return from_ordinal(week_ordinal(label) + n)


def week_diff(later: str, earlier: str) -> int:
    """Number of weeks from ``earlier`` to ``later`` (the forecast lag when snapshot -> target)."""
    return week_ordinal(later) - week_ordinal(earlier)


def week_range(first: str, last: str) -> list[str]:
    """Inclusive list of week labels from ``first`` to ``last``."""
    a, b = week_ordinal(first), week_ordinal(last)
    return [from_ordinal(i) for i in range(a, b + 1)]


def to_week(dates: pd.Series) -> pd.Series:
    """Vectorised ISO week labels of a datetime Series (missing stays missing)."""
    d = pd.to_datetime(dates)
    codes, uniq = pd.factorize(d)  # a million lines hold a few hundred distinct dates: label those once
    iso = pd.DatetimeIndex(uniq).isocalendar()
    labels = np.array([f"{y:04d}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])] + [None], dtype=object)
    return pd.Series(labels[codes], index=d.index, name=getattr(dates, "name", None), dtype=object)


def _ordinals(labels: pd.Series) -> np.ndarray:
    uniq = pd.unique(labels)
    m = {u: week_ordinal(u) for u in uniq}
    return labels.map(m).to_numpy()


def latest_complete_week(as_of) -> str:
    """The latest week whose Sunday is on or before ``as_of`` (the data's last date)."""
    as_of = pd.Timestamp(as_of).normalize()
    label = week_label(as_of)
    return label if as_of >= week_end(label) else week_add(label, -1)


MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")


def month_number(text: str | int) -> int:
    """The month 1-12 of ``7``, ``"07"``, ``"July"``, ``"jul"`` or ``"Jul."`` (any case; English names).

    Raises:
        ValueError: naming what was given and what is expected.
    """
    t = str(text).strip().rstrip(".").lower()
    if t.isdigit() and 1 <= int(t) <= 12:
        return int(t)
    for i, name in enumerate(MONTH_NAMES, start=1):
        if len(t) >= 3 and name.lower().startswith(t):
            return i
    raise ValueError(f"{text!r} is not a month: expected a number 1-12 or a month name (July, Jul)")


_PATTERNS = {"4-4-5": (4, 4, 5), "4-5-4": (4, 5, 4), "5-4-4": (5, 4, 4)}
_YEAR_ENDS = ("iso", "last", "nearest")


@dataclass(frozen=True)
class FiscalCalendar:
    """Maps ISO weeks to fiscal years, quarters and periods.

    Args:
        kind: ``iso`` (periods are calendar months: a week belongs to the month of its Thursday) or a
            52/53-week pattern ``4-4-5`` / ``4-5-4`` / ``5-4-4`` (13-week quarters split into periods of
            that many weeks; a 53rd week joins the last period of Q4).
        start_month: the calendar month the fiscal year starts in (1 = January, 7 = July ...). A fiscal
            year is labelled by the calendar year it ends in: with ``start_month=7``, FY2027 runs July 2026
            to June 2027 and its first quarter is ``2027-Q1``.
        year_end: for the 52/53-week patterns, the Sunday the year ends on: ``last`` = the last Sunday of
            the month before ``start_month``, ``nearest`` = the Sunday nearest that month's last day (the
            retail calendar; pandas' ``FY5253`` with ``variation="last" / "nearest"``), ``iso`` = the ISO
            week-year (``start_month`` 1 only).
    """

    kind: str = "iso"
    start_month: int = 1
    year_end: str = "iso"

    def __post_init__(self):
        if self.kind != "iso" and self.kind not in _PATTERNS:
            raise ValueError(f"calendar type {self.kind!r} is not one of iso, 4-4-5, 4-5-4, 5-4-4")
        if not 1 <= int(self.start_month) <= 12:
            raise ValueError(f"calendar start month {self.start_month!r} is not a month number 1-12")
        if self.year_end not in _YEAR_ENDS:
            raise ValueError(f"calendar year_end {self.year_end!r} is not one of {', '.join(_YEAR_ENDS)}")
        if self.kind != "iso" and self.year_end == "iso" and self.start_month != 1:
            raise ValueError(f"a {self.kind} year starting in month {self.start_month} needs year_end 'last' or "
                             "'nearest' (the Sunday its year ends on); 'iso' years start in January")

    @classmethod
    def from_params(cls, cp) -> "FiscalCalendar":
        """From ``params.calendar`` (type, year_start_month, year_end)."""
        return cls(cp.type, int(getattr(cp, "year_start_month", 1) or 1), getattr(cp, "year_end", "iso") or "iso")

    # ---------------------------------------------------------------- month calendars (kind iso)

    def _month_fy(self, week: str) -> tuple[int, int]:
        """(fiscal year, fiscal month 0-11) of a week by its Thursday."""
        y, w = parse_week(week)
        th = dt.date.fromisocalendar(y, w, 4)
        fm = (th.month - self.start_month) % 12
        fy = th.year + (1 if self.start_month != 1 and th.month >= self.start_month else 0)
        return fy, fm

    def _month_start(self, fy: int, fm: int) -> dt.date:
        first_year = fy - (1 if self.start_month != 1 else 0)
        k = self.start_month - 1 + fm
        return dt.date(first_year + k // 12, k % 12 + 1, 1)

    # ---------------------------------------------------------------- 52/53-week years

    def year_end_date(self, fy: int) -> pd.Timestamp:
        """The Sunday fiscal year ``fy`` ends on (52/53-week patterns)."""
        if self.year_end == "iso":
            return week_end(f"{fy}-W{weeks_in_year(fy):02d}")
        end_month = (self.start_month - 2) % 12 + 1
        last = pd.Timestamp(dt.date(fy, end_month, 1)) + pd.offsets.MonthEnd(0)
        back = (last.weekday() - 6) % 7          # days back to the Sunday on or before the month's last day
        if self.year_end == "last" or back <= 3:
            return last - pd.Timedelta(days=back)
        return last + pd.Timedelta(days=7 - back)

    def _week_fy(self, week: str) -> tuple[int, int, int]:
        """(fiscal year, 0-based week of the year, weeks in the year) for the 52/53-week patterns."""
        sunday = week_end(week)
        fy = sunday.year   # the year-end Sunday can fall a few days into the next calendar year (ISO, nearest)
        if sunday <= self.year_end_date(fy - 1):
            fy -= 1
        elif sunday > self.year_end_date(fy):
            fy += 1
        start = self.year_end_date(fy - 1) + pd.Timedelta(days=1)
        n = int((self.year_end_date(fy) - self.year_end_date(fy - 1)).days // 7)
        return fy, int((week_start(week) - start).days // 7), n

    def _year_weeks(self, fy: int) -> list[str]:
        first = week_label(self.year_end_date(fy - 1) + pd.Timedelta(days=1))
        return week_range(first, week_label(self.year_end_date(fy)))

    # ---------------------------------------------------------------- quarters and periods

    def year_of(self, week: str) -> int:
        """The fiscal year (the calendar year it ends in) of a week."""
        return self._month_fy(week)[0] if self.kind == "iso" else self._week_fy(week)[0]

    def quarter_of(self, week: str) -> str:
        """Quarter label ``YYYY-Qn`` (fiscal year, quarter) of a week under this calendar."""
        if self.kind == "iso":
            fy, fm = self._month_fy(week)
            return f"{fy}-Q{fm // 3 + 1}"
        fy, i, _ = self._week_fy(week)
        return f"{fy}-Q{min(i // 13 + 1, 4)}"

    def quarter_weeks(self, quarter: str) -> list[str]:
        """All week labels of quarter ``YYYY-Qn``, in order."""
        m = re.match(r"^(\d{4})-Q([1-4])$", str(quarter))
        if not m:
            raise ValueError(f"quarter {quarter!r} is not like '2026-Q4'")
        fy, q = int(m.group(1)), int(m.group(2))
        if self.kind == "iso":
            first = self._month_start(fy, 3 * (q - 1))
            nxt = self._month_start(fy + 1, 0) if q == 4 else self._month_start(fy, 3 * q)
            wk = {week_label(first + dt.timedelta(days=i)) for i in range((nxt - first).days)}
            # the weeks whose Thursday falls in the quarter's months
            return sorted((w for w in wk if self.quarter_of(w) == quarter), key=week_ordinal)
        weeks = self._year_weeks(fy)
        return weeks[(q - 1) * 13: q * 13] if q < 4 else weeks[39:]

    def quarter_to_date(self, week: str) -> list[str]:
        """Weeks of ``week``'s quarter up to and including ``week``."""
        weeks = self.quarter_weeks(self.quarter_of(week))
        return weeks[: weeks.index(week) + 1]

    def quarter_remaining(self, week: str) -> list[str]:
        """Weeks of ``week``'s quarter after ``week``."""
        weeks = self.quarter_weeks(self.quarter_of(week))
        return weeks[weeks.index(week) + 1 :]

    def period_of(self, week: str) -> str:
        """Fiscal period label ``YYYY-Pnn`` (fiscal year, period 1-12); for iso, the month of the Thursday."""
        if self.kind == "iso":
            fy, fm = self._month_fy(week)
            return f"{fy}-P{fm + 1:02d}"
        fy, i, _ = self._week_fy(week)
        q = min(i // 13, 3)
        offset = i - q * 13
        pattern = _PATTERNS[self.kind]
        p = 0
        while p < 2 and offset >= pattern[p]:
            offset -= pattern[p]
            p += 1
        return f"{fy}-P{q * 3 + p + 1:02d}"

    def quarters(self, weeks: pd.Series) -> pd.Series:
        """Vectorised :meth:`quarter_of` over a Series of week labels."""
        uniq = pd.unique(weeks.dropna())
        return weeks.map({u: self.quarter_of(u) for u in uniq})
