"""Weeks and quarters: ISO weeks by default, or a 4-4-5 style fiscal calendar.

Weeks are ISO weeks labelled ``YYYY-Www`` (Monday start). Quarters:

- ``iso``: a week belongs to the calendar quarter of its Thursday (the same rule
  ISO uses to place a week in a year), so a quarter has 13 or 14 weeks
  (e.g. 2026-Q4 = 2026-W40 .. 2026-W53, 14 weeks).
- ``4-4-5`` / ``4-5-4`` / ``5-4-4``: the fiscal year is the ISO week-year; each
  quarter is 13 weeks split into periods of that pattern; week 53, when a year has
  one, is added to the last period of Q4.

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


_PATTERNS = {"4-4-5": (4, 4, 5), "4-5-4": (4, 5, 4), "5-4-4": (5, 4, 4)}


@dataclass(frozen=True)
class FiscalCalendar:
    """Maps ISO weeks to fiscal quarters (and periods) for ``kind`` in iso, 4-4-5, 4-5-4, 5-4-4."""

    kind: str = "iso"

    def __post_init__(self):
        if self.kind != "iso" and self.kind not in _PATTERNS:
            raise ValueError(f"calendar type {self.kind!r} is not one of iso, 4-4-5, 4-5-4, 5-4-4")

    def quarter_of(self, week: str) -> str:
        """Quarter label ``YYYY-Qn`` of a week under this calendar."""
        y, w = parse_week(week)
        if self.kind == "iso":
            thursday = dt.date.fromisocalendar(y, w, 4)
            return f"{thursday.year}-Q{(thursday.month - 1) // 3 + 1}"
        return f"{y}-Q{min((w - 1) // 13 + 1, 4)}"

    def quarter_weeks(self, quarter: str) -> list[str]:
        """All week labels of quarter ``YYYY-Qn``, in order."""
        m = re.match(r"^(\d{4})-Q([1-4])$", str(quarter))
        if not m:
            raise ValueError(f"quarter {quarter!r} is not like '2026-Q4'")
        y, q = int(m.group(1)), int(m.group(2))
        if self.kind == "iso":
            first = dt.date(y, 3 * (q - 1) + 1, 1)
            last = (dt.date(y + (q == 4), 1 if q == 4 else 3 * q + 1, 1)) - dt.timedelta(days=1)
            # first week whose Thursday is in the quarter .. last such week
            wk = [week_label(first + dt.timedelta(days=i)) for i in range(0, (last - first).days + 1)]
            weeks = sorted({w for w in wk if self.quarter_of(w) == quarter}, key=week_ordinal)
            return weeks
        start = (q - 1) * 13 + 1
        end = q * 13 if q < 4 else weeks_in_year(y)
        return [f"{y}-W{i:02d}" for i in range(start, end + 1)]

    def quarter_to_date(self, week: str) -> list[str]:
        """Weeks of ``week``'s quarter up to and including ``week``."""
        weeks = self.quarter_weeks(self.quarter_of(week))
        return weeks[: weeks.index(week) + 1]

    def quarter_remaining(self, week: str) -> list[str]:
        """Weeks of ``week``'s quarter after ``week``."""
        weeks = self.quarter_weeks(self.quarter_of(week))
        return weeks[weeks.index(week) + 1 :]

    def period_of(self, week: str) -> str:
        """Fiscal period (month) label ``YYYY-Pnn``; for iso, the calendar month of the Thursday."""
        y, w = parse_week(week)
        if self.kind == "iso":
            thursday = dt.date.fromisocalendar(y, w, 4)
            return f"{thursday.year}-P{thursday.month:02d}"
        q = min((w - 1) // 13, 3)
        offset = w - 1 - q * 13
        pattern = _PATTERNS[self.kind]
        p = 0
        while p < 2 and offset >= pattern[p]:
            offset -= pattern[p]
            p += 1
        return f"{y}-P{q * 3 + p + 1:02d}"

    def quarters(self, weeks: pd.Series) -> pd.Series:
        """Vectorised :meth:`quarter_of` over a Series of week labels."""
        uniq = pd.unique(weeks.dropna())
        return weeks.map({u: self.quarter_of(u) for u in uniq})
