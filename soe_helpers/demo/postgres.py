"""Put the demo company into a SQL database laid out like an ERP schema, to try the SQL source path.

The weekly pack reads each canonical table either from a file or from a SQL query on
a database whose SQLAlchemy URL is held in an environment variable (``url_env`` in
params). This module builds such a database from the demo company's exports: every
export is read and validated with the pack's own loaders, then written to a typed
table named and shaped the way an ERP keeps it (``sales_order_lines.so_number``,
``ar_invoices.invoice_amount NUMERIC(18,2)``, ``DATE`` columns, primary keys).
``params/examples/postgres.yaml`` maps those tables back onto the canonical ones.

    >>> from soe_helpers.demo.postgres import load_demo_into
    >>> load_demo_into(os.environ["SOE_ERP_ADMIN_URL"], "data/demo")   # doctest: +SKIP
    {'item_master': 150, 'customer_accounts': 300, ...}

or from the command line: ``SOE_ERP_URL=postgresql+psycopg://... soe demo --sql-url-env SOE_ERP_URL``.

On PostgreSQL the rows go in with ``COPY`` (about a million rows in seconds); other
databases (SQLite, DuckDB, a warehouse) get batched ``INSERT``s. The whole load is
one transaction where the database allows transactional DDL (PostgreSQL, SQLite):
a failed load leaves the database as it was.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import sqlalchemy as sa

from soe_helpers.data.schemas import SCHEMAS, TableSchema
from soe_helpers.data.loaders import load_tables
from soe_helpers.core.params import load_params

__all__ = ["ErpTable", "ERP_TABLES", "erp_table_for", "erp_frame", "sql_table", "load_demo_into"]

_BATCH = 50_000  # rows per COPY chunk / INSERT batch: bounded memory at millions of rows


@dataclass(frozen=True)
class ErpTable:
    """Where one canonical table lives in the demo ERP database.

    ``columns`` maps canonical column -> the ERP table's column (snake_case, as an ERP
    names them). A canonical column not listed keeps its canonical name.
    """

    name: str
    columns: Mapping[str, str]

    def column(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)


#: canonical table -> its table in the demo ERP database (params/examples/postgres.yaml mirrors this).
ERP_TABLES: dict[str, ErpTable] = {
    "products": ErpTable("item_master", {
        "sku": "item_number", "description": "item_description", "unit_cost": "std_cost",
        "supplier_id": "primary_vendor", "status": "item_status"}),
    "customers": ErpTable("customer_accounts", {
        "customer_id": "account_id", "name": "account_name", "region": "sales_region",
        "late_penalty_pct_per_week": "late_penalty_pct_wk"}),
    "suppliers": ErpTable("vendors", {
        "supplier_id": "vendor_id", "name": "vendor_name", "payment_terms_days": "terms_days"}),
    "forecasts": ErpTable("forecast_snapshots", {"sku": "item_number", "quantity": "forecast_qty"}),
    "plan": ErpTable("sop_plan", {
        "week": "plan_week", "sku": "item_number", "units": "plan_units", "revenue": "plan_revenue",
        "cogs": "plan_cogs", "version": "plan_version"}),
    "orders": ErpTable("sales_order_lines", {
        "order_id": "so_number", "line": "line_no", "customer_id": "account_id", "sku": "item_number",
        "quantity": "qty_ordered", "scheduled_date": "scheduled_ship_date", "status": "line_status"}),
    "shipments": ErpTable("shipment_lines", {
        "shipment_id": "shipment_no", "order_id": "so_number", "line": "line_no", "quantity": "qty_shipped"}),
    "invoices": ErpTable("ar_invoices", {
        "invoice_id": "invoice_no", "customer_id": "account_id", "order_id": "so_number",
        "amount": "invoice_amount", "paid_amount": "amount_paid"}),
    "purchase_orders": ErpTable("po_lines", {
        "po_id": "po_number", "line": "po_line", "supplier_id": "vendor_id", "sku": "item_number",
        "order_date": "po_date", "quantity": "qty_ordered", "received_qty": "qty_received"}),
    "bills": ErpTable("ap_bills", {
        "bill_id": "bill_no", "supplier_id": "vendor_id", "po_id": "po_number", "amount": "bill_amount"}),
    "inventory": ErpTable("inventory_weekly", {
        "week": "fiscal_week", "sku": "item_number", "location": "warehouse"}),
    "cash": ErpTable("treasury_cash_flows", {"kind": "flow_type", "date": "flow_date"}),
    "crm_bookings": ErpTable("crm_bookings", {"customer_id": "account_id", "order_id": "so_number"}),
    "mrp_inventory": ErpTable("mrp_on_hand", {"week": "fiscal_week", "sku": "item_number",
                                              "location": "warehouse"}),
    "gl_balances": ErpTable("gl_control_balances", {"date": "balance_date"}),
}


def erp_table_for(name: str) -> ErpTable:
    """The ERP table of canonical table ``name`` (a table not in :data:`ERP_TABLES` keeps its names)."""
    if name not in SCHEMAS:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(SCHEMAS)}")
    return ERP_TABLES.get(name, ErpTable(name, {}))


def erp_frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A validated canonical frame renamed to its ERP table's columns (a new frame; input untouched).

    Args:
        name: canonical table name (``orders`` ...).
        frame: the table as :func:`soe_helpers.data.loaders.load_tables` returns it (canonical columns).
    Returns:
        The same rows and values with the ERP column names, in schema order; canonical
        columns the frame lacks (optional ones not exported) are left out.
    """
    erp = erp_table_for(name)
    cols = [c.name for c in SCHEMAS[name].columns if c.name in frame.columns]
    return frame[cols].rename(columns={c: erp.column(c) for c in cols})


def _money_scale(values: pd.Series | None) -> int:
    """2 (cents, as an ERP stores amounts) unless some amount has finer decimals: then 6, losing nothing."""
    if values is None:
        return 2
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    return 2 if not len(v) or np.allclose(np.round(v, 2), v, rtol=0, atol=1e-9) else 6


def sql_table(name: str, metadata: sa.MetaData, frame: pd.DataFrame | None = None,
              schema: str | None = None) -> sa.Table:
    """The typed ERP table for canonical table ``name``, defined on ``metadata``.

    Types follow the canonical kinds: text -> TEXT, int -> INTEGER, float -> DOUBLE
    PRECISION, money -> NUMERIC(18,2) (NUMERIC(24,6) when ``frame`` holds sub-cent
    amounts), date -> DATE, week -> VARCHAR(8) (``2026-W47``), bool -> BOOLEAN; the
    canonical key is the primary key. Only columns present in ``frame`` (canonical
    names) are created when it is given.
    """
    ts: TableSchema = SCHEMAS[name]
    erp = erp_table_for(name)
    types = {"str": sa.Text, "int": sa.Integer, "terms": sa.Integer, "float": sa.Double, "date": sa.Date, "bool": sa.Boolean,
             "week": lambda: sa.String(8), "month": lambda: sa.String(10), "quarter": lambda: sa.String(12),
             "period": lambda: sa.String(12)}
    # the key: the plan's is its own grain (the key columns the frame fills); other tables' keys are whole
    key = [k for k in ts.key if (k in frame.columns and frame[k].notna().any() if frame is not None
                                 else ts.column(k).required)]
    cols = []
    for c in ts.columns:
        if frame is not None and c.name not in frame.columns:
            continue
        if c.kind == "money":
            scale = _money_scale(frame[c.name] if frame is not None else None)
            typ = sa.Numeric(18, 2) if scale == 2 else sa.Numeric(24, 6)
        else:
            typ = types[c.kind]()
        cols.append(sa.Column(erp.column(c.name), typ, nullable=c.nullable and c.name not in key))
    cols.append(sa.PrimaryKeyConstraint(*[erp.column(k) for k in key], name=f"{erp.name}_pkey"))
    return sa.Table(erp.name, metadata, *cols, schema=schema,
                    comment=f"demo ERP table for the canonical '{name}' table of the S&OE pack")


# ---------------------------------------------------------------- writing


def _copy_rows(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """PostgreSQL: stream the rows with COPY ... FROM STDIN (CSV), in chunks."""
    cols = ", ".join(conn.dialect.identifier_preparer.quote(c.name) for c in table.columns)
    target = conn.dialect.identifier_preparer.format_table(table)
    dbapi = conn.connection.dbapi_connection
    with dbapi.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
        for start in range(0, len(frame), _BATCH):
            buf = io.StringIO()
            # Unquoted empty fields are NULL in COPY's CSV; floats are written in their shortest exact form.
            frame.iloc[start:start + _BATCH].to_csv(buf, index=False, header=False, date_format="%Y-%m-%d",
                                                   na_rep="", lineterminator="\n")
            cp.write(buf.getvalue())


def _insert_rows(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Any other database: batched INSERTs of plain Python values (NULL for missing)."""
    date_cols = [c.name for c in table.columns if isinstance(c.type, sa.Date)]
    for start in range(0, len(frame), _BATCH):
        part = frame.iloc[start:start + _BATCH]
        data = {}
        for col in part.columns:
            s = part[col]
            if col in date_cols:
                data[col] = [None if pd.isna(v) else v.date() for v in s]
            else:
                data[col] = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
                             for v in s.astype(object)]
        rows = [dict(zip(data, vals)) for vals in zip(*data.values())]
        if rows:
            conn.execute(table.insert(), rows)


def load_demo_into(url: str, data_dir: str | Path, *, params=None, schema: str | None = None,
                   tables: list[str] | None = None) -> dict[str, int]:
    """Load the demo company's exports into the database at ``url`` as typed ERP tables.

    The exports are read and validated with the pack's loaders first (the same
    checks as ``soe validate``), so the database holds exactly what the file run reads.
    Tables of the same names are dropped and re-created; nothing else is touched.

    Args:
        url: SQLAlchemy URL with rights to create tables (e.g. ``postgresql+psycopg://admin:...@host/erp``).
            Pass it from the environment; it is never printed.
        data_dir: folder of the demo exports (``soe demo --out DIR``).
        params: params whose ``data.sources`` describe those exports; default
            ``params/company.yaml`` (which maps the demo's export headers) read over ``data_dir``.
        schema: database schema for the tables (created if missing); default the user's default schema.
        tables: canonical tables to load; default every file source present.
    Returns:
        ERP table name -> rows written, in load order.
    Raises:
        soe_helpers.data.loaders.DataError: the exports are invalid (nothing is written).
    """

    params = params if params is not None else load_params(data_dir=data_dir)
    names = tables or [n for n, s in params.data.sources.items() if s.file]
    loaded = load_tables(params, names)  # raises DataError before the database is touched
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    plan = [(n, sql_table(n, meta, loaded[n].frame, schema=schema)) for n in SCHEMAS if n in loaded]
    written: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            if schema:
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            for _, table in reversed(plan):
                table.drop(conn, checkfirst=True)
            for name, table in plan:
                table.create(conn)
                frame = erp_frame(name, loaded[name].frame)
                if conn.dialect.name == "postgresql":
                    _copy_rows(conn, table, frame)
                else:
                    _insert_rows(conn, table, frame)
                written[table.name] = len(frame)
            if conn.dialect.name == "postgresql":
                for _, table in plan:  # planner statistics, so the pack's queries plan well at once
                    conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}"))
    finally:
        engine.dispose()
    return written
