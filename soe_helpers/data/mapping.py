"""Propose how a folder of exports maps onto the canonical tables (``soe init``).

For each file: its headers are read (CSV, Excel, Parquet), the table it most likely holds is proposed
from its name and headers, and each canonical column is matched to a header by, in order:

- ``exact``: the canonical name itself, ignoring case, spaces, punctuation (``Order Date`` = ``order_date``);
- ``synonym``: a common export header for it (QuickBooks, NetSuite, Odoo, SAP Business One, Dynamics, and
  the usual ERP/CRM spellings: ``SO Number``, ``Document Number``, ``DocNum``, ``Item No.`` ...);
- ``guess``: a close spelling (difflib ratio >= 0.85) of the name or a synonym: marked as a guess for the
  analyst to confirm.

A header is used for one column at most; required columns no header matched are listed as missing.
Nothing here reads the data's values (the mapping is checked by ``soe validate``), except the plan's periods:
when ``--year-start`` is not given, :func:`propose_calendar` reads them to propose the month the fiscal year
starts in (a plan whose 12 months start in July, or that names ``FY2027``), written as a guess.
"""
from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from soe_helpers.core.calendar import MONTH_NAMES, FiscalCalendar, month_number
from soe_helpers.data.schemas import SCHEMAS
from soe_helpers.data.needs import NEEDS, plan_reports, turns_on_text

__all__ = ["SYNONYMS", "ColumnMatch", "FileProposal", "norm", "read_headers", "match_columns", "propose_table",
           "propose_folder", "EXPORT_SUFFIXES"]

EXPORT_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".parquet")

#: canonical column (optionally ``table.column``) -> common export headers
SYNONYMS: dict[str, tuple[str, ...]] = {
    "sku": ("item", "item number", "item no", "item code", "itemcode", "item id", "product", "product code",
            "product id", "part number", "part no", "material", "article", "model", "internal reference",
            "default code", "product/service", "product service", "no.",
            "product number", "article number", "material number"),
    "description": ("item description", "item name", "product name", "itemname", "memo/description", "display name",
                    "memo", "dscription", "line description", "product description", "item desc"),
    "product_line": ("product line", "category", "item group", "itmsgrpnam", "product category", "family",
                     "product family", "class", "item class", "line", "segment",
                     "product group", "item category", "category name", "itemsgroupcode"),
    "unit_cost": ("std cost", "standard cost", "cost", "unit cost", "purchase cost", "avg cost", "average cost",
                  "cost price", "last purchase price",
                  "avgprice", "lastpurprc", "cost per unit", "item cost"),
    "list_price": ("list price", "sales price", "price", "unit price", "base price", "sale price",
                   "msrp", "price list", "base sales price"),
    "supplier_id": ("vendor", "vendor id", "vendor no", "supplier", "supplier code", "cardcode", "primary vendor",
                    "preferred vendor",
                    "vendor account", "vendor code", "vendor number", "supplier id", "supplier no"),
    "customer_id": ("customer", "customer id", "customer no", "customer number", "customer code", "account id",
                    "account", "cardcode", "bill to", "sold to", "client", "partner", "customer:job", "shop",
                    "store", "customer shop",
                    "customer account", "invoice account", "customer/project", "customer ref", "partner id"),
    "name": ("customer name", "account name", "company", "company name", "display name", "cardname", "vendor name",
             "supplier name", "partner name",
             "full name", "customer full name"),
    "region": ("sales region", "territory", "state", "country", "market", "area", "sales territory"),
    "payment_terms_days": ("payment terms", "terms", "terms days", "payment terms days", "net days", "due days",
                           "terms of payment", "payment term", "credit terms", "payment conditions", "terms code"),
    "order_id": ("so number", "sales order", "order number", "order no", "order", "document number", "docnum",
                 "num", "order reference", "so", "so no", "sales order number", "invoice number",
                 "sales order id", "document no", "doc no", "sales id", "transaction number", "ref number",
                 "order ref"),
    "line": ("line", "ln", "line no", "line number", "linenum", "line id", "item line", "seq",
             "line item", "line #", "line nbr", "position"),
    "order_date": ("date", "order date", "document date", "docdate", "transaction date", "created", "txn date",
                   "order created",
                   "created date", "date ordered", "creation date", "order created date"),
    "quantity": ("qty", "quantity", "qty ordered", "ordered qty", "units", "quantity ordered", "order qty",
                 "qty shipped", "shipped qty", "forecast qty", "forecast",
                 "ordered quantity", "quantity shipped", "shipped quantity", "delivered quantity", "qty delivered",
                 "quantity delivered"),
    "unit_price": ("unit price", "price", "sales price", "rate", "net price", "price each", "unit selling price",
                   "price unit", "sales price per unit", "net unit price"),
    "requested_date": ("requested date", "request date", "requested ship date", "need by", "customer date",
                       "requested delivery date",
                       "requested receipt date", "customer requested date", "req date", "requested delivery"),
    "promised_date": ("promised date", "promise date", "commit date", "due date", "delivery date", "ship by",
                      "expected ship date", "docduedate",
                      "commitment date", "confirmed ship date", "confirmed delivery date", "promised ship date",
                      "confirmed receipt date"),
    "scheduled_date": ("scheduled ship date", "scheduled date", "planned ship date", "schedule date",
                       "planned delivery date", "scheduled delivery date"),
    "status": ("status", "line status", "order status", "state"),
    "shipment_id": ("shipment no", "shipment", "shipment id", "delivery", "delivery no", "packing slip",
                    "fulfillment", "item fulfillment",
                    "delivery note", "delivery number", "picking", "shipment number"),
    "ship_date": ("ship date", "shipped date", "delivery date", "date shipped", "actual ship date",
                  "shipdate", "date delivered", "effective date", "date done"),
    "invoice_id": ("invoice no", "invoice", "invoice number", "invoice id", "num", "document number", "docnum",
                   "number", "invoice #", "document no", "doc no"),
    "invoice_date": ("invoice date", "date", "docdate", "transaction date",
                     "posting date", "date invoiced", "invoice/bill date", "txn date"),
    "due_date": ("due date", "docduedate", "payment due",
                 "date due", "net due date", "payment due date", "due"),
    "amount": ("amount", "total", "invoice amount", "doctotal", "amount total", "open balance", "balance",
               "net amount", "amount (transaction total)", "total amount", "invoice total", "amount due", "doc total"),
    "paid_date": ("paid date", "payment date", "date paid", "closed date",
                  "last payment date", "date of payment", "cleared date"),
    "paid_amount": ("amount paid", "paid amount", "paid", "payment amount",
                    "paidtodate", "paid to date", "amount received", "payment received"),
    "snapshot_week": ("snapshot week", "forecast week", "version week", "as of week"),
    "target_week": ("target week", "week", "period", "demand week"),
    "week": ("week", "period", "plan week", "fiscal week"),
    "revenue": ("plan revenue", "revenue", "sales", "net sales", "amount", "budget", "budget revenue",
                "budgeted revenue", "planned revenue", "revenue budget", "sales budget", "budget sales"),
    "month": ("month", "period", "fiscal month", "budget month", "plan month"),
    "quarter": ("quarter", "fiscal quarter", "qtr"),
    "shipped_quantity": ("qty shipped", "quantity shipped", "shipped qty", "shipped quantity", "delivered qty",
                         "quantity delivered"),
    "units": ("plan units", "units", "quantity", "qty"),
    "cogs": ("plan cogs", "cogs", "cost of sales", "cost of goods sold"),
    "po_id": ("po number", "po", "purchase order", "po no", "document number", "docnum",
              "purchase order number", "purchase order id", "po id"),
    "expected_date": ("expected date", "latest expected date", "eta", "expected receipt",
                      "expected receipt date", "receive by", "due date/receive by", "expected delivery date"),
    "bill_id": ("bill no", "bill", "vendor bill", "bill number", "invoice no",
                "vendor invoice", "vendor invoice no", "supplier invoice", "bill #"),
    "bill_date": ("bill date", "date", "invoice date",
                  "posting date", "vendor invoice date"),
    "location": ("location", "warehouse", "site", "whscode", "bin",
                 "warehouse code", "inventory site", "stock location", "whs code"),
    "on_hand_qty": ("on hand", "on hand qty", "qty on hand", "onhand", "quantity on hand", "available",
                    "in stock", "physical inventory", "available physical", "qty in stock", "stock qty"),
    "received_date": ("received date", "receipt date", "date received", "received on"),
    "received_qty": ("qty received", "quantity received", "received quantity"),
    # transaction reports name the customer or vendor "Name" (QuickBooks); a delivery's own number is its
    # DocNum and its order the base document (SAP Business One), its origin in Odoo
    "orders.customer_id": ("name", "customer name"),
    "invoices.customer_id": ("name", "customer name"),
    "bills.supplier_id": ("name", "vendor name"),
    "purchase_orders.supplier_id": ("name", "vendor name"),
    "shipments.shipment_id": ("docnum", "document number", "num", "reference"),
    "shipments.order_id": ("baseref", "base ref", "base document", "created from", "source document", "origin",
                           "sales order"),
    "bills.bill_id": ("docnum", "num", "document number", "reference"),
    "shipments.ship_date": ("docdate", "date", "posting date"),
    "orders.unit_price": ("item rate", "rate"),
    "orders.order_date": ("created date and time", "created on"),
    "purchase_orders.promised_date": ("confirmed delivery date", "confirmed receipt date", "promised receipt date",
                                      "docduedate"),
    "purchase_orders.expected_date": ("delivery date", "expected receipt date", "receive by", "shipdate"),
    "purchase_orders.unit_cost": ("unit price", "price", "purchase price", "rate", "item rate"),
    "lead_time_days": ("lead time", "lead time days", "lead time (days)",
                       "leadtime", "delivery lead time", "lead days", "purchase lead time"),
}

#: words in a file name that point at a table
_TABLE_WORDS = {
    "orders": ("order", "sales", "so_", "salesorder", "lines"),
    "products": ("item", "product", "sku", "material", "article", "catalog"),
    "customers": ("customer", "account", "client", "crm", "shop", "store"),
    "suppliers": ("vendor", "supplier"),
    "plan": ("plan", "budget"),
    "forecasts": ("forecast",),
    "shipments": ("shipment", "delivery", "fulfil"),
    "invoices": ("invoice", "receivable", "ar_"),
    "purchase_orders": ("purchase", "po_"),
    "bills": ("bill", "payable", "ap_"),
    "inventory": ("inventory", "stock", "on_hand", "onhand"),
    "cash": ("cash", "treasury", "bank"),
}


def norm(text: str) -> str:
    """Header as compared: lower case, letters and digits only (``'Qty Ordered '`` -> ``'qtyordered'``)."""
    return re.sub(r"[^0-9a-z]+", "", str(text).lower())


@dataclass
class ColumnMatch:
    column: str
    header: str
    how: str            # exact | synonym | guess


@dataclass
class FileProposal:
    file: str
    table: str | None
    score: float
    headers: list[str]
    matches: list[ColumnMatch] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)      # required canonical columns not matched
    sheet: str | None = None

    @property
    def columns(self) -> dict[str, str]:
        return {m.column: m.header for m in self.matches}


def read_headers(path: Path) -> dict[str | None, list[str]]:
    """Headers of a file: ``{None: [...]}`` for CSV/Parquet, ``{sheet: [...]}`` per Excel sheet."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415 - only when a Parquet export is present (start-up cost)

        return {None: list(pq.read_schema(path).names)}
    if suffix in (".xlsx", ".xlsm", ".xls"):
        from python_calamine import CalamineWorkbook  # noqa: PLC0415 - only for Excel exports (start-up cost)

        wb = CalamineWorkbook.from_path(str(path))
        out = {}
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python(nrows=10)
            if rows:
                out[name] = _header_row(rows)
        return out
    raw = path.read_bytes()[:65536]
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    first = text.splitlines()[0] if text.splitlines() else ""
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t|")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    return {None: [h.strip() for h in next(csv.reader([first], delimiter=delim), []) if h.strip()]}


def _header_row(rows: list[list]) -> list[str]:
    """The header among a sheet's first rows: a title row above it ("Budget by month (USD)") has one filled
    cell, the header the most; the first row holding at least half the widest row's cells is taken (the
    loader finds the same row by the mapped headers)."""
    cells = [[str(x).strip() for x in r if str(x).strip()] for r in rows]
    widest = max((len(c) for c in cells), default=0)
    for c in cells:
        if c and len(c) * 2 >= widest and (len(c) > 1 or widest == 1):
            return c
    return cells[0] if cells else []


def _candidates(table: str, column: str) -> list[str]:
    return [column.replace("_", " "), *SYNONYMS.get(f"{table}.{column}", ()), *SYNONYMS.get(column, ())]


def match_columns(table: str, headers: list[str]) -> tuple[list[ColumnMatch], list[str]]:
    """Match ``table``'s canonical columns to ``headers``: (matches, required columns missing)."""
    schema = SCHEMAS[table]
    by_norm = {}
    for h in headers:
        by_norm.setdefault(norm(h), h)
    used: set[str] = set()
    found: dict[str, ColumnMatch] = {}
    for how in ("exact", "synonym", "guess"):
        for col in schema.columns:
            if col.name in found:
                continue
            if how == "exact":
                options = [norm(col.name)]
            else:
                options = [norm(c) for c in _candidates(table, col.name)]
            hit = None
            for o in options:
                if how != "guess" and o in by_norm and by_norm[o] not in used:
                    hit = by_norm[o]
                    break
                if how == "guess":
                    close = difflib.get_close_matches(o, [n for n, h in by_norm.items() if h not in used], 1, 0.85)
                    if close:
                        hit = by_norm[close[0]]
                        break
            if hit is not None:
                found[col.name] = ColumnMatch(col.name, hit, how)
                used.add(hit)
    matches = [found[c.name] for c in schema.columns if c.name in found]
    missing = [c.name for c in schema.columns if c.required and c.name not in found]
    return matches, missing


def propose_table(filename: str, headers: list[str]) -> tuple[str | None, float]:
    """The canonical table a file most likely holds, and a score (share of its required columns matched,
    plus a bonus when the file name says so); None when nothing fits."""
    name = filename.lower()
    best, best_score = None, 0.0
    for table, schema in SCHEMAS.items():
        matches, missing = match_columns(table, headers)
        req = [c.name for c in schema.columns if c.required]
        strong = sum(m.how != "guess" for m in matches if m.column in req)
        score = strong / len(req) + (0.3 if any(w in name for w in _TABLE_WORDS.get(table, ())) else 0.0)
        if score > best_score:
            best, best_score = table, score
    return (best, round(best_score, 3)) if best_score >= 0.5 else (None, round(best_score, 3))


def propose_folder(folder: Path) -> list[FileProposal]:
    """A proposal for every export in ``folder``; when two files claim a table, the better score keeps it."""
    out: list[FileProposal] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES):
        for sheet, headers in read_headers(path).items():
            table, score = propose_table(path.name, headers)
            fp = FileProposal(path.name, table, score, headers, sheet=sheet)
            if table:
                fp.matches, fp.missing = match_columns(table, headers)
            out.append(fp)
    best: dict[str, FileProposal] = {}
    for fp in out:
        if fp.table and (fp.table not in best or fp.score > best[fp.table].score):
            best[fp.table] = fp
    for fp in out:
        if fp.table and best[fp.table] is not fp:
            fp.table, fp.matches, fp.missing = None, [], []
    return out


#: what each table turns on (``soe init`` prints it; the README's table says the same): from the needs registry
TURNS_ON = {t: turns_on_text(t) for t in SCHEMAS}


# ---------------------------------------------------------------- the fiscal calendar (soe init --year-start)

_CAL_TYPES = ("iso", "4-4-5", "4-5-4", "5-4-4")
_FY = re.compile(r"(?i)(?<![a-z])(?:FY|fiscal\s+year)\s*[-'‘’ ]?\s*(\d{4}|\d{2})(?!\d)")


@dataclass(frozen=True)
class CalendarChoice:
    """The ``calendar:`` section ``soe init`` writes, and how it was chosen.

    ``how``: ``flag`` (``--year-start`` / ``--calendar`` given), ``guess`` (proposed from the plan's periods:
    marked GUESS in the file) or ``default`` (January: nothing said otherwise); ``why`` says it in words.
    """

    type: str = "iso"
    start_month: int = 1
    year_end: str = "iso"
    how: str = "default"
    why: str = "nothing says otherwise"

    def __post_init__(self):
        FiscalCalendar(self.type, self.start_month, self.year_end)  # raises ValueError with the reason

    def yaml_lines(self) -> list[str]:
        month = MONTH_NAMES[self.start_month - 1]
        note = {"flag": f"{month}: given to soe init",
                "guess": f"GUESS: confirm ({month}: {self.why})",
                "default": "the month your fiscal year starts (7 = July)"}[self.how]
        lines = ["calendar:",
                 f"  type: {self.type:<16} # iso (calendar months) | 4-4-5 | 4-5-4 | 5-4-4",
                 f"  year_start_month: {self.start_month:<4} # {note}"]
        if self.type != "iso":
            lines.append(f"  year_end: {self.year_end:<12} # the Sunday a 52/53-week year ends on: iso | last | nearest")
        return lines

    def describe(self) -> str:
        """What ``soe init`` prints: 'Fiscal year: starts in July (given: --year-start) ...'."""
        month = MONTH_NAMES[self.start_month - 1]
        kind = "calendar months" if self.type == "iso" else f"{self.type} periods, years ending on the " \
            + {"iso": "ISO week-year", "last": "last Sunday", "nearest": "nearest Sunday"}[self.year_end]
        if self.how == "flag":
            return f"Fiscal year: starts in {month}, {kind} ({self.why})"
        if self.how == "guess":
            return (f"Fiscal year: starts in {month}, {kind}: a GUESS, {self.why}; confirm calendar.year_start_month, "
                    "or give soe init --year-start MONTH")
        return f"Fiscal year: starts in January, {kind} (the default: {self.why}; give --year-start MONTH otherwise)"


def _fy_year(text: str) -> int:
    y = int(text)
    return y + 2000 if y < 100 else y


def _month_text(label: str) -> str:
    return f"{MONTH_NAMES[int(label[5:7]) - 1]} {label[:4]}"


def _plan_periods(fp: FileProposal, folder: Path):
    """The plan's rows as read (strings), its month labels per row (None where not a month) and the texts
    around its header (title rows, headers) where a fiscal year may be named."""
    # pandas-backed loader: only when soe init reads the plan's periods (the rest of init reads headers only)
    from soe_helpers.core.params import Source  # noqa: PLC0415
    from soe_helpers.data.loaders import DataError, parse_periods, read_source  # noqa: PLC0415

    col = next((m for m in fp.matches if m.column in ("month", "period")), None)
    src = Source(file=fp.file, sheet=fp.sheet, columns=fp.columns)
    try:
        frame = read_source("plan", src, folder).frame
    except DataError:
        return None, None, []
    texts = list(fp.headers) + [str(c) for c in frame.columns]
    if fp.file.lower().endswith((".xlsx", ".xlsm", ".xls")):
        from python_calamine import CalamineWorkbook  # noqa: PLC0415 - Excel only: the title rows above the header

        wb = CalamineWorkbook.from_path(str(folder / fp.file))
        sheet = fp.sheet if fp.sheet is not None else wb.sheet_names[0]
        texts += [str(x) for r in wb.get_sheet_by_name(sheet).to_python(nrows=10) for x in r if str(x).strip()]
    texts.append(fp.file)
    if col is None or col.header not in frame:
        return frame, None, texts
    labels, _ = parse_periods(frame[col.header], col.column)
    months = labels.where(labels.astype(str).str.match(r"^\d{4}-\d{2}$"), None)
    return frame, months, texts


def propose_calendar(proposals: list[FileProposal], folder: Path) -> CalendarChoice:
    """The fiscal year start the plan's periods point at, as a guess, or January (the default) with why.

    In order: a column naming each row's fiscal year (``FY2027``) -> the first month of the earliest
    fiscal year; a fiscal year named in the plan's title rows, headers or file name -> the plan's first
    month; months that run whole years (12, 24 ...) from a month other than January -> that month.
    Otherwise January: a plan of 27 months from October says nothing about the year's start.
    """
    fp = next((p for p in proposals if p.table == "plan"), None)
    if fp is None:
        return CalendarChoice(why="no plan file to read the fiscal year from")
    frame, months, texts = _plan_periods(fp, folder)
    if months is None or not months.notna().any():
        return CalendarChoice(why=f"{fp.file} has no months (weeks or quarters do not say when the year starts)")
    first = min(months.dropna())
    row_fy = None
    for c in frame.columns:
        vals = frame[c].astype(str).str.strip()
        found = vals.str.extract(_FY.pattern, expand=False)
        if found.notna().mean() >= 0.9:
            row_fy = found
            break
    if row_fy is not None:
        fy = min(_fy_year(v) for v in row_fy.dropna())
        first = min(months[(row_fy.map(lambda v: _fy_year(v) if isinstance(v, str) else None) == fy)].dropna())
        why = f"in {fp.file} FY{fy} starts in {_month_text(first)}"
    else:
        named = sorted({_fy_year(m.group(1)) for t in texts for m in _FY.finditer(str(t))})
        ordinals = sorted({int(m[:4]) * 12 + int(m[5:7]) - 1 for m in months.dropna()})
        span = ordinals[-1] - ordinals[0] + 1
        if named:
            fy = named[0]
            why = f"{fp.file} names FY{fy} and its first month is {_month_text(first)}"
        elif span % 12 == 0 and first[5:7] != "01":
            fy = None
            last = f"{(ordinals[-1]) // 12}-{ordinals[-1] % 12 + 1:02d}"
            why = (f"the months of {fp.file} run {_month_text(first)} to {_month_text(last)} "
                   f"({span} months: whole years from {MONTH_NAMES[int(first[5:7]) - 1]})")
        elif first[5:7] == "01":
            return CalendarChoice(why=f"the months of {fp.file} start in January ({_month_text(first)})")
        else:
            return CalendarChoice(why=f"the months of {fp.file} start in {_month_text(first)} and run {span} months, "
                                      "not whole years: they do not say when your fiscal year starts")
    start = int(first[5:7])
    if fy is not None:
        ends = int(first[:4]) + (1 if start != 1 else 0)  # the suite labels a fiscal year by the year it ends in
        if ends != fy:
            why += f" (the suite labels that year FY{ends}, by the calendar year it ends in)"
    if start == 1:
        return CalendarChoice(why=why)
    return CalendarChoice("iso", start, "iso", "guess", why)


def calendar_choice(proposals: list[FileProposal], folder: Path, year_start: str | int | None = None,
                    kind: str | None = None, year_end: str | None = None) -> CalendarChoice:
    """The calendar ``soe init`` writes: the flags when given (``--year-start 7`` / ``July``, ``--calendar
    4-4-5``, ``--year-end nearest``), else :func:`propose_calendar`'s guess from the plan.

    Raises:
        ValueError: a month that is not one, a pattern unknown, ``--year-end`` on calendar months, or a
            52/53-week year starting after January without ``--year-end`` (the message says which to give).
    """
    if kind is not None and kind not in _CAL_TYPES:
        raise ValueError(f"--calendar {kind!r} is not one of {', '.join(_CAL_TYPES)}")
    kind = kind or "iso"
    if kind == "iso" and year_end is not None:
        raise ValueError("--year-end is for the 52/53-week calendars (--calendar 4-4-5, 4-5-4 or 5-4-4); "
                         "a calendar-month year ends with its last month")
    if year_start is None:
        base = propose_calendar(proposals, folder)
        if kind == "iso":
            return base
        start, how, why = base.start_month, base.how, base.why
        if how == "default":
            how, why = "flag", f"given: --calendar {kind}"
        else:
            why += f"; --calendar {kind}"
    else:
        start, how, why = month_number(year_start), "flag", f"given: --year-start {year_start}"
        if kind != "iso":
            why += f", --calendar {kind}"
    end = "iso" if kind == "iso" else year_end or ("iso" if start == 1 else None)
    if end is None:
        raise ValueError(f"a {kind} year starting in {MONTH_NAMES[start - 1]} ends on the last or the nearest Sunday "
                         f"of {MONTH_NAMES[start - 2]}: give --year-end last or --year-end nearest")
    if year_end:
        why += f", --year-end {year_end}"
    return CalendarChoice(kind, start, end, how, why)


#: what a constant looks like in the line ``soe init`` writes for a required column no header matched
_CONSTANT_EXAMPLE = {"region": '"US"', "payment_terms_days": '"Net 30"', "line": "1", "status": "open",
                     "location": '"Main"', "lead_time_days": "30"}


def _yaml_str(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def params_text(proposals: list[FileProposal], data_dir: Path, company: str = "Your company",
                calendar: "CalendarChoice | None" = None) -> str:
    """A commented params file holding only the company's own settings: name, currency, calendar,
    materiality and one source per recognised export, with its column mapping (guesses marked)."""
    cal = calendar or CalendarChoice()
    lines = [
        "# S&OE params written by `soe init`: check every line marked GUESS, then run",
        "#   soe validate --params THIS_FILE   and   soe run --params THIS_FILE",
        "company:",
        f"  name: {_yaml_str(company)}",
        "  currency: USD",
        '  currency_symbol: "$"',
        *cal.yaml_lines(),
        "materiality:             # a variance below abs is never material; pct narrows the list further",
        "  abs: 5000",
        "  pct: 0.05",
        *(["plan:                    # a monthly or quarterly plan, filled to weeks by:",
           "  fill: working_days      # working_days | last_year (last year's weekly bookings per plan key)"]
          if any(p.table == "plan" for p in proposals) else []),
        "data:",
        f"  dir: {_yaml_str(data_dir)}",
        "  sources:",
    ]
    for fp in sorted((p for p in proposals if p.table), key=lambda p: list(SCHEMAS).index(p.table)):
        lines.append(f"    {fp.table}:")
        lines.append(f"      file: {_yaml_str(fp.file)}")
        if fp.sheet is not None:
            lines.append(f"      sheet: {_yaml_str(fp.sheet)}")
        lines.append("      columns:")
        for m in fp.matches:
            note = "  # GUESS: confirm" if m.how == "guess" else ""
            lines.append(f"        {m.column}: {_yaml_str(m.header)}{note}")
        for col in fp.missing:
            lines.append(f"        # {col}: ???   required, no header matched: name its header, or give every row "
                         f"one value, {col}: {{value: {_CONSTANT_EXAMPLE.get(col, '...')}}}")
    unknown = [p.file for p in proposals if not p.table]
    if unknown:
        lines.append("# Files not recognised as a table: " + ", ".join(unknown))
    return "\n".join(lines) + "\n"


def init_report(proposals: list[FileProposal]) -> list[str]:
    """What ``soe init`` prints: each file's table and mapping, what is missing, and what each table turns on."""
    out = []
    for fp in proposals:
        if not fp.table:
            out.append(f"{fp.file}{' [' + str(fp.sheet) + ']' if fp.sheet else ''}: not recognised "
                       f"(headers: {', '.join(fp.headers[:8])}{' ...' if len(fp.headers) > 8 else ''})")
            continue
        guesses = [m for m in fp.matches if m.how == "guess"]
        out.append(f"{fp.file} -> {fp.table}: {len(fp.matches)} column(s) mapped"
                   + (f", {len(guesses)} guessed ({', '.join(f'{m.column} = {m.header!r}' for m in guesses)})"
                      if guesses else "")
                   + (f"; missing required: {', '.join(fp.missing)}" if fp.missing else ""))
    have = {fp.table for fp in proposals if fp.table}
    out.append("Tables found: " + (", ".join(t for t in SCHEMAS if t in have) or "none"))
    orders = next((fp for fp in proposals if fp.table == "orders"), None)
    if "shipments" not in have and orders and "ship_date" in {m.column for m in orders.matches}:
        have.add("shipments")  # data.completion reads shipped lines from the orders' own ship columns
        out.append("  shipments: read from the orders' ship date and shipped quantity (no shipments file)")
    to_run, not_run = plan_reports(list(NEEDS), have)
    out.append("Reports that will run: " + ", ".join(NEEDS[n].title for n in to_run))
    for n, why in not_run.items():
        out.append(f"  not run: {NEEDS[n].title} ({why})")
    for t, what in TURNS_ON.items():
        if t not in have and SCHEMAS[t].required:
            out.append(f"  {t} not found: it is required (every company starts with orders, products, customers)")
        elif t not in have:
            out.append(f"  add {t} to turn on {what}")
    return out


__all__ += ["TURNS_ON", "params_text", "init_report", "CalendarChoice", "propose_calendar", "calendar_choice"]
