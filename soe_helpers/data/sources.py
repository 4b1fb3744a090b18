"""Params checked against the canonical schemas: the tables and columns a company's sources name.

:mod:`soe_helpers.core.params` validates settings on their own (types, ranges, one origin per
source) and knows nothing of the canonical tables, which live one layer up in
:mod:`soe_helpers.data.schemas`. :func:`check_sources` adds the checks that need them: every
source, freshness or system entry names a known table, every column mapping names a canonical
column of its table, and every minimum table (orders, products, customers) has a source; any other
table may be absent (not listed, or ``file: null``). It runs wherever inputs are read for a
run (``load_tables``, the runner's check before anything runs, ``soe validate``) and raises the
same :class:`~soe_helpers.core.params.ParamsError` (exit code 2) with the same lines as before.
"""
from __future__ import annotations

from soe_helpers.core.params import Params, ParamsError
from soe_helpers.data.schemas import SCHEMAS

__all__ = ["check_sources", "source_problems"]


def _unknown_tables(names) -> str | None:
    unknown = sorted(set(names) - set(SCHEMAS))
    if unknown:
        return f"unknown table(s) {', '.join(unknown)}; known tables: {', '.join(SCHEMAS)}"
    return None


def source_problems(params: Params) -> list[str]:
    """One line per problem, each naming its dotted key (empty when the sources fit the schemas)."""
    problems = []
    sources = params.data.sources
    msg = _unknown_tables(sources)
    if msg is None:
        for name, src in sources.items():
            bad = sorted(set(src.columns) - set(SCHEMAS[name].column_names))
            if bad:
                msg = (f"{name}.columns maps unknown canonical column(s) {', '.join(bad)}; "
                       f"{name} has: {', '.join(SCHEMAS[name].column_names)}")
                break
    if msg is None:
        present = params.data.present()
        missing = [n for n, s in SCHEMAS.items() if s.required and n not in present]
        if missing:
            msg = (f"missing source(s) for required table(s): {', '.join(missing)} (every company starts with "
                   f"{', '.join(n for n, s in SCHEMAS.items() if s.required)}; any other table is optional)")
    if msg:  # worded as pydantic worded it when core held this check, so messages stay the same
        problems.append(f"'data.sources': Value error, {msg}")
    for key in ("freshness_days", "systems"):
        msg = _unknown_tables(getattr(params.data_accuracy, key))
        if msg:
            problems.append(f"'data_accuracy.{key}': Value error, {msg}")
    return problems


def check_sources(params: Params) -> Params:
    """``params`` when its sources, column mappings and table names fit the canonical schemas.

    Raises:
        ParamsError: listing every problem with its dotted key, e.g. ``'data.sources': Value error,
            orders.columns maps unknown canonical column(s) qty; orders has: ...``.
    """
    problems = source_problems(params)
    if problems:
        raise ParamsError(problems)
    return params
