"""Display helpers for notebooks: money and percentages formatted for finance, tables escaped.

Every data value that reaches HTML goes through :func:`html.escape` here (a customer
named ``<script>`` shows as text). Money is shown in the company's currency as ``$1.2M`` /
``€212K`` / ``$950`` with negatives as ``-$212K`` and marked red in tables; percentages with
one decimal. A table with money columns needs the symbol: ``show_table(t, money=[...], symbol=cur)``
with ``cur = p.company.currency_symbol`` (there is no "$" default: a euro company gets euros).
"""
from __future__ import annotations

import html
import math
import re
from typing import Iterable

import pandas as pd

from soe_helpers.core.formats import fmt_money, fmt_pct, fmt_units, is_blank, name_with_id, with_names

__all__ = ["fmt_money", "fmt_pct", "fmt_units", "html_table", "show_table", "headline", "show_headline",
           "LABELS", "name_with_id", "with_names", "party_names", "grouped_tables", "show_grouped"]


#: Readable headers for the column names the helpers return (a table's ``rename`` wins).
LABELS = {
    "product_line": "Product line", "sku": "SKU", "region": "Region", "customer": "Customer",
    "customer_id": "Customer ID", "week": "Week",
    "actual_units": "Units shipped", "actual_revenue": "Shipped revenue",
    "plan_units": "Plan units", "plan_revenue": "Plan revenue",
    "run_rate_revenue": "Run-rate revenue", "run_rate_units": "Run-rate units",
    "orders_units": "Units ordered", "orders_revenue": "Orders at plan price",
    "forecast_units": "Forecast units", "forecast_revenue": "Forecast at plan price",
    "variance": "Variance", "variance_units": "Variance (units)", "variance_pct": "Variance %",
}


def html_table(
    df: pd.DataFrame,
    money: Iterable[str] = (),
    pct: Iterable[str] = (),
    units: Iterable[str] = (),
    signed_pct: Iterable[str] = (),
    symbol: str | None = None,
    exact_money: bool = False,
    rename: dict[str, str] | None = None,
    max_rows: int | None = None,
) -> str:
    """An escaped HTML table with finance formatting; negatives get class ``neg``.

    Args:
        money, pct, units, signed_pct: the columns shown as money, percentages, units, signed percentages.
        symbol: the company's currency symbol (``params.company.currency_symbol``); required when
            ``money`` names a column of ``df``.
    Raises:
        ValueError: money columns without a symbol.
    """
    money, pct, units, signed_pct = set(money), set(pct), set(units), set(signed_pct)
    if symbol is None and money & set(df.columns):
        raise ValueError(f"html_table: money columns {sorted(money & set(df.columns))} need the company's currency "
                         "symbol: pass symbol=p.company.currency_symbol")
    rename = {**LABELS, **(rename or {})}
    if max_rows is not None:
        df = df.head(max_rows)
    numeric = money | pct | units | signed_pct
    head = "".join(
        f'<th class="{"num" if c in numeric else ""}">{html.escape(str(rename.get(c, c)))}</th>' for c in df.columns
    )
    rows = []
    for rec in df.itertuples(index=False, name=None):
        cells = []
        for c, v in zip(df.columns, rec):
            if c in money:
                txt, num = fmt_money(v, symbol, exact_money), True
            elif c in pct or c in signed_pct:
                txt, num = fmt_pct(v, signed=c in signed_pct), True
            elif c in units:
                txt, num = fmt_units(v), True
            else:
                txt, num = ("" if is_blank(v) else str(v)), False
            neg = num and not is_blank(v) and isinstance(v, (int, float)) and v < 0
            code = not num and _ID.fullmatch(txt) is not None  # an id or date never breaks at a hyphen ('C-/0203')
            cls = " ".join(x for x in ("num" if num else "", "neg" if neg else "", "code" if code else "") if x)
            cells.append(f'<td class="{cls}">{html.escape(txt)}</td>' if cls else f"<td>{html.escape(txt)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="soe-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


#: What never breaks at its hyphen in a table cell: an id as exports write them, a short letter prefix, a hyphen,
#: then digits or letters (C-0203, PWR-5024, SO-500000/1), an ISO date (2026-11-20) and an ISO week (2026-W47).
_ID = re.compile(r"[A-Za-z]{1,6}-[A-Za-z0-9][A-Za-z0-9/_.-]{0,16}|\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}")


def show_table(df: pd.DataFrame, **kw):
    """Display :func:`html_table` in a notebook."""
    from IPython.display import HTML, display

    display(HTML(html_table(df, **kw)))


def headline(text: str) -> str:
    return f'<div class="soe-headline">{html.escape(text)}</div>'


def show_headline(text: str):
    from IPython.display import HTML, display

    display(HTML(headline(text)))


def show_heading(text: str, level: int = 2):
    """A data-driven heading (escaped) — markdown cells cannot hold this week's numbers."""
    from IPython.display import HTML, display

    display(HTML(f"<h{level}>{html.escape(text)}</h{level}>"))


def show_figure(fig):
    """Display a chart (a matplotlib ``Figure`` from :mod:`soe_helpers.report.charts`) where it is not a
    cell's last value, e.g. inside an ``if``."""
    from IPython.display import display

    display(fig)


def show_text(text: str):
    """A plain paragraph (escaped)."""
    from IPython.display import HTML, display

    display(HTML(f"<p>{html.escape(text)}</p>"))


def show_list(items):
    """A bulleted list of plain sentences (escaped)."""
    from IPython.display import HTML, display

    display(HTML("<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in items) + "</ul>"))


#: what ``raise SystemExit(0)`` leaves in an executed notebook: papermill stops there without failing the run, and
#: the HTML report ends at that cell (soe_helpers.run.html.notebook_to_html)
END_OF_REPORT = ("SystemExit", "0")


def end_report(text: str = ""):
    """End the report here, cleanly: show ``text`` (what it will show later, say) and stop the notebook.

    For a report that has nothing more to show this week (a forecast history still too short): one check near
    the top instead of an ``if`` around every later cell. In the weekly run papermill stops at the
    ``SystemExit(0)`` without an error and the HTML leaves out every cell after this one; in JupyterLab, Run
    All stops here. Record the report's figures before calling it: the cells after it do not run.
    """
    if text:
        show_text(text)
    raise SystemExit(int(END_OF_REPORT[1]))


__all__ += ["show_heading", "show_text", "show_list", "END_OF_REPORT", "end_report"]


def party_names(customers: pd.DataFrame | None = None, suppliers: pd.DataFrame | None = None) -> dict[str, str]:
    """id -> name of every customer and supplier given (either may be None), for :func:`name_with_id` /
    :func:`with_names`: reports show ``'Silverline Controls Inc. (C-0205)'``, never a bare id."""
    out: dict[str, str] = {}
    for df, key in ((suppliers, "supplier_id"), (customers, "customer_id")):
        if df is not None and key in df.columns and "name" in df.columns:
            out.update({str(k): str(v) for k, v in zip(df[key], df["name"]) if not is_blank(k) and not is_blank(v)})
    return out


def grouped_tables(df: pd.DataFrame, group_col: str, groups: Iterable[str], open_groups: Iterable[str] = (),
                   labels: dict[str, str] | None = None, **table_kw) -> str:
    """One table split into collapsible ``<details>`` groups (no script: works in reports and mail clients that
    show ``<details>``; others show every group open). Groups in ``groups`` order, empty ones left out; the
    summary line reads "Escalated: 3"; ``open_groups`` start expanded. ``table_kw`` go to :func:`html_table`."""
    open_groups, labels = set(open_groups), labels or {}
    parts = []
    for g in groups:
        part = df[df[group_col] == g].drop(columns=[group_col])
        if part.empty:
            continue
        title = f"{labels.get(g, str(g)[:1].upper() + str(g)[1:])}: {len(part)}"
        parts.append(f'<details class="soe-group"{" open" if g in open_groups else ""}><summary>'
                     f"{html.escape(title)}</summary>{html_table(part, **table_kw)}</details>")
    return "".join(parts)


def show_grouped(df: pd.DataFrame, group_col: str, groups: Iterable[str], **kw):
    """Display :func:`grouped_tables` in a notebook."""
    from IPython.display import HTML, display  # notebooks only: the module stays importable without IPython

    display(HTML(grouped_tables(df, group_col, groups, **kw)))
