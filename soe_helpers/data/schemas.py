"""The canonical tables: one schema per table, the contract with the company's systems.

Every source (CSV, Excel, Parquet or a SQL query) is mapped onto these tables by
the column mapping in ``params/company.yaml``; :mod:`soe_helpers.data.loaders` parses
and validates them once, at load. Nothing downstream re-checks types.

Column kinds (``Column.kind``):

- ``str``    text, stripped; empty -> missing
- ``int``    whole number (pandas ``Int64``)
- ``float``  number (``float64``)
- ``money``  amount in the company currency (``float64``); accepts ``1,234.50``,
             ``$1,234.50``, ``(1,234.50)`` and ``-1,234.50``
- ``date``   calendar date (``datetime64[ns]``, midnight); ISO ``YYYY-MM-DD``, the
             source's ``date_format``, real Excel dates or Excel serial numbers
- ``terms``  payment terms in days (pandas ``Int64``): a number, or the text accounting exports
             write, ``Net 30``, ``N30``, ``2/10 Net 30`` (30; the discount goes to
             ``payment_discount``), ``Due on receipt``/``COD``/``Immediate`` (0), ``EOM`` (15: due at
             the end of the invoice month, 15 days on average) and ``Net 30 EOM`` (30 + 15)
- ``week``   ISO week label ``YYYY-Www``; a date is accepted and mapped to its week
- ``month``  calendar month label ``YYYY-MM``; ``2026-07``, ``Jul 2026``, ``July 2026``, ``2026/07`` or any
             date in the month (an Excel date) are accepted
- ``quarter`` fiscal quarter label ``YYYY-Qn`` (the fiscal year it ends in, :mod:`soe_helpers.core.calendar`);
             ``2027-Q1``, ``FY2027-Q1``, ``2027 Q1``, ``Q1 2027``, ``Q1 FY2027`` are accepted
- ``period`` any of the three (a week, a month or a quarter label, or a date = its month), normalised to
             its own label; one plan uses one kind (:func:`soe_helpers.analysis.plan_grain.plan_grain`)
- ``bool``   true/false, yes/no, y/n, 1/0
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Column", "TableSchema", "SCHEMAS", "FOREIGN_KEYS", "TABLE_ORDER", "MINIMUM_TABLES", "schema"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""
    required: bool = False
    """Every company has it: one of the minimum tables (orders, products, customers). Any other table is
    optional: absent, the reports that need it are not run (:mod:`soe_helpers.data.needs`)."""
    overlap: bool = False
    """Another system's copy of figures the ERP holds (CRM, MRP, GL), for the data-accuracy tie-outs: a
    source whose file is not there is read as not provided, never as an error."""
    checks: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    """Row rules ``(left, op, right)`` between two date/week columns, e.g. ``("due_date", ">=", "invoice_date")``."""
    one_of: tuple[str, ...] = ()
    """Optional columns of which the source must map exactly one, with a value in every row (the plan's period)."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name, kind, required=True, nullable=None, **kw) -> Column:
    # An optional column may also be empty in rows; a required one may not unless nullable=True.
    return Column(name, kind, required, (not required) if nullable is None else nullable, **kw)


SCHEMAS: dict[str, TableSchema] = {
    s.name: s
    for s in [
        TableSchema(
            "products",
            (
                _c("sku", "str", doc="stock-keeping unit, the item number"),
                _c("description", "str", False),
                _c("product_line", "str"),
                _c("unit_cost", "money", min=0, doc="standard cost per unit"),
                _c("list_price", "money", min=0, doc="list price per unit"),
                _c("supplier_id", "str", False, doc="primary supplier"),
                _c("status", "str", False, choices=("active", "discontinued", "new")),
            ),
            key=("sku",),
            doc="Item master (ERP).",
            required=True,
        ),
        TableSchema(
            "customers",
            (
                _c("customer_id", "str"),
                _c("name", "str"),
                _c("region", "str"),
                _c("segment", "str", False),
                _c("payment_terms_days", "terms", min=0, max=365),
                _c("payment_discount", "str", False,
                   doc="early-payment discount of the terms, in words ('2/10 Net 30': 2% if paid within 10 days)"),
                _c("late_penalty_pct_per_week", "float", False, min=0, max=1,
                   doc="contractual late-delivery penalty, share of the late line's value per week late"),
                _c("penalty_cap_pct", "float", False, min=0, max=1,
                   doc="cap on the late-delivery penalty, share of the line's value"),
                _c("credit_limit", "money", False, min=0),
            ),
            key=("customer_id",),
            doc="Customer master (CRM).",
            required=True,
        ),
        TableSchema(
            "suppliers",
            (
                _c("supplier_id", "str"),
                _c("name", "str"),
                _c("payment_terms_days", "terms", min=0, max=365),
                _c("payment_discount", "str", False,
                   doc="early-payment discount of the terms, in words ('2/10 Net 30': 2% if paid within 10 days)"),
                _c("lead_time_days", "int", min=0, max=365),
                _c("country", "str", False),
            ),
            key=("supplier_id",),
            doc="Supplier master (ERP purchasing).",
        ),
        TableSchema(
            "forecasts",
            (
                _c("snapshot_week", "week", False, nullable=False,
                   doc="week the forecast version was made (at its end); an export of the current forecast "
                       "only may leave it out: it is then the data's latest complete week, and the weekly run "
                       "keeps each week's snapshot in the store (soe_helpers.analysis.forecast_history)"),
                _c("target_week", "week", doc="week being forecast"),
                _c("sku", "str"),
                _c("quantity", "float", min=0, doc="forecast demand in units"),
            ),
            key=("snapshot_week", "target_week", "sku"),
            doc="Every weekly S&OP/S&OE demand forecast version, kept (lag = target - snapshot); or only the "
                "current one, the earlier ones then coming from the store's archive.",
            checks=(("target_week", ">", "snapshot_week"),),
        ),
        TableSchema(
            "plan",
            (
                _c("week", "week", False, doc="plan by ISO week"),
                _c("month", "month", False, doc="plan by calendar month of the fiscal calendar, e.g. 2026-07"),
                _c("quarter", "quarter", False, doc="plan by fiscal quarter, e.g. 2027-Q1"),
                _c("period", "period", False, doc="one column holding weeks, months or quarters"),
                _c("sku", "str", False),
                _c("product_line", "str", False, doc="the plan by product line (else from the SKU's item master)"),
                _c("region", "str", False),
                _c("customer_id", "str", False),
                _c("units", "float", False, min=0, doc="planned units; without them the plan is in money only"),
                _c("revenue", "money", min=0),
                _c("cogs", "money", False, min=0),
                _c("version", "str", False),
            ),
            key=("week", "month", "quarter", "period", "sku", "product_line", "region", "customer_id"),
            doc="The approved S&OP financial plan at the grain finance keeps it: one period column (week, month "
                "or quarter) and any of SKU, product line, region and customer; revenue required, units and "
                "COGS optional.",
            one_of=("week", "month", "quarter", "period"),
        ),
        TableSchema(
            "orders",
            (
                _c("order_id", "str"),
                _c("line", "int", min=0),
                _c("order_date", "date"),
                _c("customer_id", "str"),
                _c("sku", "str"),
                _c("quantity", "float", min=0, doc="ordered units"),
                _c("unit_price", "money", min=0, doc="net selling price per unit"),
                _c("requested_date", "date", False,
                   doc="date the customer asked for; empty or absent = order date + data.order_lead_time_days"),
                _c("promised_date", "date", False, doc="date the company committed to; empty or absent = requested"),
                _c("scheduled_date", "date", False,
                   doc="latest scheduled ship date from production/warehouse; empty = as promised"),
                _c("status", "str", False, choices=("open", "closed", "cancelled")),
                _c("ship_date", "date", False,
                   doc="first ship date, for a company without a shipments table (with shipped_quantity)"),
                _c("shipped_quantity", "float", False, min=0, doc="units shipped to date on the line"),
            ),
            key=("order_id", "line"),
            doc="Sales order lines (ERP).",
            required=True,
            checks=(("promised_date", ">=", "order_date"), ("requested_date", ">=", "order_date")),
        ),
        TableSchema(
            "shipments",
            (
                _c("shipment_id", "str"),
                _c("order_id", "str"),
                _c("line", "int", min=0),
                _c("ship_date", "date"),
                _c("quantity", "float", min=0, doc="shipped units"),
            ),
            key=("shipment_id", "order_id", "line"),
            doc="Deliveries against order lines (ERP/WMS); a line may ship in several parts.",
        ),
        TableSchema(
            "invoices",
            (
                _c("invoice_id", "str"),
                _c("customer_id", "str"),
                _c("order_id", "str", False),
                _c("invoice_date", "date"),
                _c("due_date", "date"),
                _c("amount", "money", doc="invoice total; credit notes are negative"),
                _c("paid_date", "date", False),
                _c("paid_amount", "money", False),
            ),
            key=("invoice_id",),
            doc="Accounts receivable: invoices with their payment dates (empty = open).",
            checks=(("due_date", ">=", "invoice_date"),),
        ),
        TableSchema(
            "purchase_orders",
            (
                _c("po_id", "str"),
                _c("line", "int", min=0),
                _c("supplier_id", "str"),
                _c("sku", "str"),
                _c("order_date", "date"),
                _c("promised_date", "date", doc="receipt date the supplier committed to"),
                _c("expected_date", "date", doc="latest expected receipt date"),
                _c("quantity", "float", min=0),
                _c("unit_cost", "money", min=0),
                _c("received_date", "date", False),
                _c("received_qty", "float", False, min=0),
            ),
            key=("po_id", "line"),
            doc="Purchase order lines (MRP/ERP purchasing).",
            checks=(("promised_date", ">=", "order_date"),),
        ),
        TableSchema(
            "bills",
            (
                _c("bill_id", "str"),
                _c("supplier_id", "str"),
                _c("po_id", "str", False),
                _c("bill_date", "date"),
                _c("due_date", "date"),
                _c("amount", "money"),
                _c("paid_date", "date", False),
            ),
            key=("bill_id",),
            doc="Accounts payable: supplier bills with their payment dates (empty = open).",
            checks=(("due_date", ">=", "bill_date"),),
        ),
        TableSchema(
            "inventory",
            (
                _c("week", "week"),
                _c("sku", "str"),
                _c("location", "str"),
                _c("on_hand_qty", "float", min=0),
                _c("on_hand_value", "money", False, min=0),
            ),
            key=("week", "sku", "location"),
            doc="Weekly on-hand inventory at the end of each week, by SKU and location.",
        ),
        TableSchema(
            "cash",
            (
                _c("item", "str"),
                _c("kind", "str", choices=("opening_balance", "recurring", "one_off")),
                _c("amount", "money", doc="signed: positive = cash in, negative = cash out"),
                _c("date", "date", doc="balance date, first occurrence, or the one-off date"),
                _c("frequency", "str", False, choices=("weekly", "biweekly", "monthly", "quarterly")),
                _c("end_date", "date", False),
                _c("category", "str", False),
            ),
            key=("item",),
            doc="Treasury: the opening bank balance and the other known cash flows.",
        ),
        TableSchema(
            "crm_bookings",
            (
                _c("booking_id", "str", doc="the CRM's own id for the won deal / booking"),
                _c("booking_date", "date", doc="date the CRM records the booking (closed-won)"),
                _c("customer_id", "str"),
                _c("order_id", "str", False, doc="the ERP sales order the booking was entered as"),
                _c("amount", "money", doc="booked value in the company currency"),
                _c("sales_rep", "str", False),
            ),
            key=("booking_id",),
            doc="CRM bookings (closed-won deals) beside the ERP's sales orders; optional, for the data-accuracy tie-out.",
            overlap=True,
        ),
        TableSchema(
            "mrp_inventory",
            (
                _c("week", "week"),
                _c("sku", "str"),
                _c("location", "str"),
                _c("on_hand_qty", "float", min=0, doc="on-hand units as the MRP sees them at the end of the week"),
            ),
            key=("week", "sku", "location"),
            doc="MRP on-hand quantities beside the ERP's inventory; optional, for the data-accuracy tie-out.",
            overlap=True,
        ),
        TableSchema(
            "gl_balances",
            (
                _c("date", "date", doc="balance date (end of day)"),
                _c("account", "str", doc="GL account number (params data_accuracy.gl_accounts maps the control accounts)"),
                _c("account_name", "str", False),
                _c("balance", "money", doc="ledger balance, debit positive for assets and credit positive for payables"),
            ),
            key=("date", "account"),
            doc="General-ledger control-account balances; optional, tied out to the AR, AP and inventory detail.",
            overlap=True,
        ),
    ]
}

#: (child table, child columns, parent table, parent columns)
FOREIGN_KEYS: list[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = [
    ("products", ("supplier_id",), "suppliers", ("supplier_id",)),
    ("forecasts", ("sku",), "products", ("sku",)),
    ("plan", ("sku",), "products", ("sku",)),
    ("plan", ("customer_id",), "customers", ("customer_id",)),
    ("orders", ("sku",), "products", ("sku",)),
    ("orders", ("customer_id",), "customers", ("customer_id",)),
    ("shipments", ("order_id", "line"), "orders", ("order_id", "line")),
    ("invoices", ("customer_id",), "customers", ("customer_id",)),
    ("purchase_orders", ("supplier_id",), "suppliers", ("supplier_id",)),
    ("purchase_orders", ("sku",), "products", ("sku",)),
    ("bills", ("supplier_id",), "suppliers", ("supplier_id",)),
    ("inventory", ("sku",), "products", ("sku",)),
    ("crm_bookings", ("customer_id",), "customers", ("customer_id",)),
    ("mrp_inventory", ("sku",), "products", ("sku",)),
]

#: Masters first, so orphan checks read naturally.
TABLE_ORDER = list(SCHEMAS)

#: The tables every company starts with; every other table is optional and turns on more.
MINIMUM_TABLES = tuple(n for n, s in SCHEMAS.items() if s.required)


def schema(name: str) -> TableSchema:
    """Return the schema of canonical table ``name`` (KeyError names the known tables)."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(SCHEMAS)}") from None
