"""Formats for finance: money as ``$1.2M`` / ``$212K``, shares as percentages, units with separators.

The currency symbol is never assumed: every money format takes the company's symbol, which travels
from params in one object, :class:`Presentation` (``Presentation.from_params(params)``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

__all__ = ["Presentation", "fmt_money", "fmt_money_headline", "fmt_money_pair", "fmt_pct", "fmt_units", "is_blank"]


def is_blank(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def fmt_money(x, symbol: str, exact: bool = False) -> str:
    """``1234567 -> '$1.23M'``, ``-212400 -> '-$212K'``, ``950.4 -> '$950'``; exact=True -> ``$1,234,567.00``."""
    if is_blank(x):
        return "–"
    x = float(x)
    sign = "-" if x < 0 else ""
    a = abs(x)
    if exact:
        return f"{sign}{symbol}{a:,.2f}"
    return _scaled(a, sign, symbol, _READING_STEPS)


#: (from, divisor, decimals, suffix), largest first: money rounded for reading
_READING_STEPS = ((1e9, 1e9, 2, "B"), (1e6, 1e6, 2, "M"), (1e4, 1e3, 0, "K"), (1e3, 1e3, 1, "K"), (0, 1, 0, ""))
#: ... and for a subject line: one decimal of millions, hundreds of thousands as $0.48M
_HEADLINE_STEPS = ((1e9, 1e9, 1, "B"), (1e6, 1e6, 1, "M"), (1e5, 1e6, 2, "M"))


def _scaled(a: float, sign: str, symbol: str, steps) -> str | None:
    """``a`` (unsigned) at the first step it reaches; None below them all."""
    for start, div, decimals, suffix in steps:
        if a >= start:
            return f"{sign}{symbol}{a / div:.{decimals}f}{suffix}"
    return None


def fmt_pct(x, signed: bool = False, digits: int = 1) -> str:
    """A share as a percentage: ``0.0412 -> '4.1%'`` (``'+4.1%'`` when signed)."""
    if is_blank(x) or (isinstance(x, float) and math.isinf(x)):
        return "–"
    return f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"


def fmt_units(x) -> str:
    return "–" if is_blank(x) else f"{float(x):,.0f}"



def fmt_money_headline(x, symbol: str) -> str:
    """Money for a subject line: ``475697 -> '$0.48M'``, ``1234567 -> '$1.2M'``, ``48200 -> '$48K'``.

    Unsigned magnitudes read best in a headline ("$0.48M behind plan"); the sign goes in words.
    """
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(v):
        return "–"
    return _scaled(abs(v), "-" if v < 0 else "", symbol, _HEADLINE_STEPS) or fmt_money(v, symbol)


def fmt_money_pair(a, b, symbol: str) -> tuple[str, str]:
    """Two amounts compared in a headline (a landing and its plan), rounded alike and never hiding their gap.

    ``fmt_money_headline`` rules for both; when the two would read the same although they differ, more
    digits (in the larger amount's unit) until they do not: ``(10_526_180, 10_017_136) -> ('$10.5M', '$10.0M')``,
    ``(10_030_000, 10_000_000) -> ('$10.03M', '$10.00M')``.
    """
    sa, sb = fmt_money_headline(a, symbol), fmt_money_headline(b, symbol)
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return sa, sb
    if math.isnan(x) or math.isnan(y):
        return sa, sb
    big = max(abs(x), abs(y))
    if big < 1e5:  # fmt_money's K and units read fine side by side
        unit, suffix, digits = (1e3, "K", 0) if big >= 1e4 else (1e3, "K", 1) if big >= 1e3 else (1, "", 0)
    else:          # both in the larger one's unit, so that they compare at a glance
        unit, suffix, digits = (1e9, "B", 1) if big >= 1e9 else (1e6, "M", 1 if big >= 1e6 else 2)
    sa, sb = (f"{'-' if v < 0 else ''}{symbol}{abs(v) / unit:.{digits}f}{suffix}" for v in (x, y))
    while sa == sb and x != y and digits < 4:
        digits += 1
        sa, sb = (f"{'-' if v < 0 else ''}{symbol}{abs(v) / unit:.{digits}f}{suffix}" for v in (x, y))
    return sa, sb


@dataclass(frozen=True)
class Presentation:
    """How figures are shown for one company: the currency symbol (from ``company.currency_symbol``)."""

    symbol: str

    @classmethod
    def from_params(cls, params) -> "Presentation":
        return cls(symbol=params.company.currency_symbol)

    def money(self, x, exact: bool = False) -> str:
        """``fmt_money`` in this company's currency."""
        return fmt_money(x, self.symbol, exact)


def name_with_id(key, names=None) -> str:
    """A customer or supplier as people read it: ``'Silverline Controls Inc. (C-0205)'``.

    ``names`` maps id -> name (e.g. ``customers.set_index("customer_id")["name"]``); an id without a
    name, or a blank name, shows as the id alone; a blank id as ``''``.
    """
    if is_blank(key) or str(key).strip() == "":
        return ""
    k = str(key).strip()
    name = None if names is None else names.get(k)
    if is_blank(name) or not str(name).strip() or str(name).strip() == k:
        return k
    return f"{str(name).strip()} ({k})"


def with_names(text, names=None) -> str:
    """``text`` with every id of ``names`` that appears as a whole word shown as :func:`name_with_id`
    (``'Supplier delay: S-017'`` -> ``'Supplier delay: Northwind Metals (S-017)'``); an id already followed by
    its name in brackets or preceded by it is left alone."""
    if is_blank(text) or not names:
        return "" if is_blank(text) else str(text)
    keys = sorted((str(k) for k in names if not is_blank(k) and str(k).strip()), key=len, reverse=True)
    if not keys:
        return str(text)
    pat = re.compile(r"(?<![\w(-])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w-])(?!\))")
    return pat.sub(lambda m: name_with_id(m.group(1), names), str(text))


__all__ += ["name_with_id", "with_names"]


def bridge_closes_text(steps: pd.DataFrame, start: str, end: str, symbol: str = "") -> str:
    """A bridge's tie-out as a plain sentence, one rule for every report (never 'closes: True').

    ``steps``: step, amount, kind ('total' first and last, 'delta' between). ``start``/``end``: what the first and
    last totals are ('Plan revenue', 'week-13 closing cash without detected events'), capitalised as they open and
    end the sentence.

    >>> s = pd.DataFrame({"step": ["a", "d", "b"], "amount": [10.0, 2.5, 12.5], "kind": ["total", "delta", "total"]})
    >>> bridge_closes_text(s, "Plan", "actual")
    'Plan plus these steps equals actual to the cent.'
    >>> bridge_closes_text(s.assign(amount=[10.0, 2.5, 13.0]), "Plan", "actual", "$")
    'Plan plus these steps misses actual by $0.50: the bridge does not close (a defect: please report it).'
    """
    tot = steps.loc[steps["kind"] == "total", "amount"]
    gap = float(tot.iloc[-1] - tot.iloc[0] - steps.loc[steps["kind"] == "delta", "amount"].sum())
    if abs(round(gap, 2)) < 0.005:
        return f"{start} plus these steps equals {end} to the cent."
    return (f"{start} plus these steps misses {end} by {symbol}{abs(gap):,.2f}: the bridge does not close "
            "(a defect: please report it).")
