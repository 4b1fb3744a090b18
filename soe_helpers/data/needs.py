"""Tables by need: what each report of the pack reads, in one registry.

A company starts with what it has: orders, products and customers (:data:`~soe_helpers.data.schemas.MINIMUM_TABLES`).
Each report declares here the canonical tables it cannot run without (``requires``) and the optional ones
that turn on more of it (``turns_on``); a report whose required tables are not all present is not run
("not run — needs cash, bills"), never crashed or filled in. The runner, ``soe validate``, ``--only`` (load
only what the report needs) and the README's table (:func:`markdown_table`) all read this one registry.

Keyed by notebook stem. The executive summary and the action tracker read only the results other reports
recorded in the same run, never a table.

    >>> not_run_reason("forecast_feedback", {"orders", "products", "customers"})
    'needs forecasts, plan'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from soe_helpers.data.schemas import MINIMUM_TABLES, SCHEMAS

__all__ = ["ReportNeeds", "NEEDS", "needs", "missing_tables", "not_run_reason", "tables_for", "plan_reports",
           "markdown_table", "turns_on_text", "TABLE_README_START", "TABLE_README_END"]


@dataclass(frozen=True)
class ReportNeeds:
    """What one report reads.

    Attributes:
        notebook: the notebook's stem (``cash_impact``).
        title: the report's title as leadership reads it.
        requires: canonical tables without which the report is not run.
        turns_on: ``(table, what it adds)`` for each optional table the report reads when present.
        results_of: the reports whose recorded results it reads (stage 2 and 3 notebooks).
    """

    notebook: str
    title: str
    requires: tuple[str, ...] = ()
    turns_on: tuple[tuple[str, str], ...] = ()
    results_of: tuple[str, ...] = ()

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(t for t, _ in self.turns_on)

    @property
    def tables(self) -> tuple[str, ...]:
        """Every canonical table the report may read, required first."""
        return self.requires + tuple(t for t in self.optional if t not in self.requires)


_STAGE1 = ("demand_reconciliation", "cash_impact", "forecast_feedback", "execution_kpis", "data_accuracy")

#: The one registry: notebook stem -> what it needs. Read every notebook's ``wk.table(...)`` calls to change it
#: (``tests/test_needs.py`` checks that no notebook reads a table it does not declare).
NEEDS: dict[str, ReportNeeds] = {n.notebook: n for n in [
    ReportNeeds(
        "demand_reconciliation", "Demand reconciliation", ("orders", "products", "customers"),
        (("plan", "variances against the S&OP plan and the quarter landing against plan"),
         ("forecasts", "orders against the forecast, demand not yet booked in the landing, its bias correction"),
         ("shipments", "shipped revenue, the price/volume/mix bridge and the landing's shipped to date"))),
    ReportNeeds(
        "cash_impact", "Cash impact",
        # the 13-week forecast starts from the bank balance, open receivables and payables and the order book
        # (analysis.cash.REQUIRED_TABLES); each optional table adds its part (cash_forecast.left_out_notes)
        ("orders", "products", "customers", "invoices", "bills", "cash"),
        (("suppliers", "supplier names, payment terms and lead times (without it: terms read from the bills)"),
         ("forecasts", "receipts from sales not yet booked, and demand spikes"),
         ("plan", "receipts from sales not yet booked (where no forecast covers a week) and working capital at plan"),
         ("shipments", "what is already shipped of the open orders (without it: open lines are wholly unshipped)"),
         ("purchase_orders", "payments for goods ordered but not yet billed, and late suppliers"),
         ("inventory", "orders short of stock, purchases planned to replenish stock, inventory in working "
                       "capital"))),
    ReportNeeds(
        "forecast_feedback", "Forecast feedback", ("forecasts", "orders", "products", "plan")),
    ReportNeeds(
        "execution_kpis", "Execution KPIs",
        # OTIF needs the shipments (or the orders' own ship columns: data.completion); without invoices, bills or
        # inventory the working-capital KPIs they measure are "not measured" (analysis.kpis.not_measured)
        ("orders", "products", "customers", "shipments"),
        (("invoices", "DSO and the receivables ageing"), ("bills", "DPO"),
         ("inventory", "DIO and inventory turns (all three: the cash conversion cycle)"))),
    ReportNeeds(
        "data_accuracy", "Data accuracy",
        ("orders", "products", "shipments", "invoices", "bills", "inventory", "plan"),
        (("customers", "nothing more (read with the masters)"),
         ("forecasts", "forecast coverage of the SKUs ordered and the forecasts' freshness"),
         ("purchase_orders", "supplier bills checked against purchase orders, the purchase orders' freshness"),
         ("cash", "the treasury balance's freshness"),
         ("crm_bookings", "CRM bookings tied out to ERP orders"),
         ("mrp_inventory", "MRP on-hand units tied out to ERP inventory"),
         ("gl_balances", "GL receivables, payables and inventory tied out to the detail"))),
    ReportNeeds("action_tracker", "Action tracker", (),
                (("customers", "customer names beside their ids"), ("suppliers", "supplier names beside their ids")),
                results_of=_STAGE1),
    ReportNeeds("executive_summary", "Executive summary", results_of=(*_STAGE1, "action_tracker")),
]}


def needs(notebook: str) -> ReportNeeds:
    """The needs of ``notebook``; a notebook the registry does not know (a company's own report) needs the
    minimum tables and may read any other."""
    return NEEDS.get(notebook) or ReportNeeds(notebook, notebook.replace("_", " ").capitalize(), MINIMUM_TABLES,
                                              tuple((t, "") for t in SCHEMAS if t not in MINIMUM_TABLES))


def missing_tables(notebook: str, present: Iterable[str]) -> list[str]:
    """The tables ``notebook`` requires that are not in ``present``, in the registry's order."""
    have = set(present)
    return [t for t in needs(notebook).requires if t not in have]


def not_run_reason(notebook: str, present: Iterable[str]) -> str | None:
    """``"needs cash, bills"`` when ``notebook`` cannot run on the ``present`` tables, else None."""
    miss = missing_tables(notebook, present)
    return f"needs {', '.join(miss)}" if miss else None


def tables_for(notebooks: Iterable[str]) -> list[str]:
    """Every canonical table the ``notebooks`` may read (what ``--only`` loads), in the schemas' order."""
    want = {t for n in notebooks for t in needs(n).tables}
    return [t for t in SCHEMAS if t in want]


def plan_reports(notebooks: Iterable[str], present: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``notebooks`` into those that run on the ``present`` tables and those that do not.

    Returns ``(to_run, not_run)`` where ``not_run`` maps notebook -> reason (``"needs cash, bills"``).
    """
    have = set(present)
    run, skip = [], {}
    for n in notebooks:
        why = not_run_reason(n, have)
        if why:
            skip[n] = why
        else:
            run.append(n)
    return run, skip


# ---------------------------------------------------------------- the README's table

TABLE_README_START = "<!-- tables-by-need: generated by `python -m soe_helpers.data.needs`; do not edit -->"
TABLE_README_END = "<!-- /tables-by-need -->"


def _required_columns(table: str) -> str:
    return ", ".join(f"`{c.name}`" for c in SCHEMAS[table].columns if c.required)


def turns_on_text(table: str) -> str:
    """What adding ``table`` turns on, report by report (the README's table and ``soe init`` say it)."""
    if table in MINIMUM_TABLES:
        return "required: every company starts with it"
    parts = []
    for n in NEEDS.values():
        what = dict(n.turns_on).get(table)
        if what and not what.startswith("nothing"):
            parts.append(f"{n.title}: {what}")
    needed_by = [n.title for n in NEEDS.values() if table in n.requires]
    if needed_by:
        parts.append(f"needed by {', '.join(needed_by)} (with the tables each lists below)")
    return "; ".join(parts) or "–"


def markdown_table() -> str:
    """The README's "tables by need" tables: the minimum tables with their required columns, then every
    other table with its required columns and what it turns on, report by report (from :data:`NEEDS`)."""
    lines = ["| minimum table | required columns |", "|---|---|"]
    lines += [f"| `{t}` | {_required_columns(t)} |" for t in MINIMUM_TABLES]
    lines += ["", "| add this table | required columns | turns on |", "|---|---|---|"]
    for t in SCHEMAS:
        if t not in MINIMUM_TABLES:
            lines.append(f"| `{t}` | {_required_columns(t)} | {turns_on_text(t)} |")
    lines += ["", "| report | runs with | more with |", "|---|---|---|"]
    for n in NEEDS.values():
        if not n.requires:
            lines.append(f"| {n.title} | the results of the other reports | – |")
            continue
        more = ", ".join(f"`{t}`" for t in n.optional if t not in MINIMUM_TABLES) or "–"
        lines.append(f"| {n.title} | {', '.join(f'`{t}`' for t in n.requires)} | {more} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m soe_helpers.data.needs: print the README's table
    print(TABLE_README_START)
    print(markdown_table(), end="")
    print(TABLE_README_END)
