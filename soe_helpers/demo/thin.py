"""A thin company made from the demo's exports: what a real company has on its first day.

:func:`build_thin_company` reads the folder :func:`soe_helpers.demo.company.generate` (``soe demo``) wrote and
writes, under other headers and names, only:

- ``sales_order_lines.csv``: the order lines with their first ship date and the quantity shipped to date
  merged in as order columns (``Order No``, ``Ln``, ``Order Date``, ``Customer``, ``Item``, ``Qty``,
  ``Unit Price``, ``Request Date``, ``Status``, ``Ship Date``, ``Qty Shipped``): no promised date, no
  shipments table;
- ``items.csv`` (``Item No``, ``Description``, ``Product Line``, ``Std Cost``, ``List Price``);
- ``customers.csv`` (``Customer No``, ``Customer Name``, ``Region``, ``Terms``), the names neutral
  (``Account C-0001``): none of the demo's;
- ``budget.xlsx``: the plan by calendar month x product line in dollars only (the demo's weekly plan summed
  to the month of each week's Thursday), with a title row above the header;
- ``thin_company.yaml``: the params, written by hand as an analyst would: company, a July fiscal year start,
  the four sources and their column mappings; nothing else (neutral defaults).

No forecast snapshots, shipments, invoices, purchase orders, bills, inventory or cash.

With ``accounting=True`` the company also exports from its accounting system, as a QuickBooks user would, what is
open at the bank balance's date (the demo treasury's, the end of 2026-W47):

- ``open_invoices.csv`` (``Num``, ``Customer``, ``Invoice Date``, ``Due Date``, ``Amount``, ``Open Balance``): the
  receivables open at that date, no payment history;
- ``open_bills.csv`` (``Num``, ``Vendor``, ``Bill Date``, ``Due Date``, ``Amount``, ``Open Balance``): the payables
  open at that date, the vendors by id and no vendor list;
- ``bank_balance.csv`` (``Account``, ``As Of``, ``Balance``): the bank balance alone, mapped with a constant kind.

Enough for the 13-week cash forecast (``cash_impact``); still no suppliers, forecasts, purchase orders or inventory.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

__all__ = ["build_thin_company", "COMPANY", "ACCOUNTING_SOURCES"]

COMPANY = "Harbor Valve Co."

PARAMS = """\
# {company}: orders, items, customers and the budget by month and product line; nothing else yet.
company:
  name: {company}
calendar:
  type: iso
  year_start_month: 7
data:
  dir: {data_dir}
  order_lead_time_days: 10
  sources:
    orders:
      file: sales_order_lines.csv
      columns: {{order_id: Order No, line: Ln, order_date: Order Date, customer_id: Customer, sku: Item,
                quantity: Qty, unit_price: Unit Price, requested_date: Request Date, status: Status,
                ship_date: Ship Date, shipped_quantity: Qty Shipped}}
    products:
      file: items.csv
      columns: {{sku: Item No, description: Description, product_line: Product Line, unit_cost: Std Cost,
                list_price: List Price}}
    customers:
      file: customers.csv
      columns: {{customer_id: Customer No, name: Customer Name, region: Region, payment_terms_days: Terms}}
    plan:
      file: budget.xlsx
      sheet: Budget
      header_row: 3
      columns: {{month: Month, product_line: Product Line, revenue: Budget Revenue}}
"""

#: the accounting export's sources, appended to :data:`PARAMS` by ``accounting=True``
ACCOUNTING_SOURCES = """    invoices:
      file: open_invoices.csv
      columns: {{invoice_id: Num, customer_id: Customer, invoice_date: Invoice Date, due_date: Due Date,
                amount: Open Balance}}
    bills:
      file: open_bills.csv
      columns: {{bill_id: Num, supplier_id: Vendor, bill_date: Bill Date, due_date: Due Date, amount: Open Balance}}
    cash:
      file: bank_balance.csv
      columns: {{item: Account, date: As Of, amount: Balance, kind: {{value: opening_balance}}}}
"""


def _thursday_month(week: str) -> str:
    y, w = int(week[:4]), int(week[6:8])
    return dt.date.fromisocalendar(y, w, 4).strftime("%Y-%m")


def build_thin_company(demo_dir: str | Path, out_dir: str | Path, accounting: bool = False) -> Path:
    """Write the thin company (module docstring) from the demo exports in ``demo_dir``; returns its params file.
    ``accounting``: also its open invoices, open bills and bank balance (the accounting export)."""
    demo, out = Path(demo_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    orders = pd.read_csv(demo / "erp_sales_order_lines.csv", dtype=str, keep_default_na=False)
    ships = pd.read_csv(demo / "erp_shipments.csv", dtype=str, keep_default_na=False)
    ships["qty"] = pd.to_numeric(ships["Qty Shipped"])
    per_line = ships.groupby(["SO Number", "Line"]).agg(first=("Ship Date", "min"), qty=("qty", "sum")).reset_index()
    o = orders.merge(per_line, on=["SO Number", "Line"], how="left")
    pd.DataFrame({
        "Order No": o["SO Number"], "Ln": o["Line"], "Order Date": o["Order Date"], "Customer": o["Account ID"],
        "Item": o["Item Number"], "Qty": o["Qty Ordered"], "Unit Price": o["Unit Price"],
        "Request Date": o["Requested Date"], "Status": o["Line Status"], "Ship Date": o["first"].fillna(""),
        "Qty Shipped": o["qty"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
    }).to_csv(out / "sales_order_lines.csv", index=False)

    items = pd.read_csv(demo / "erp_item_master.csv", dtype=str, keep_default_na=False)
    pd.DataFrame({"Item No": items["Item Number"], "Description": items["Item Description"],
                  "Product Line": items["Product Line"], "Std Cost": items["Std Cost"],
                  "List Price": items["List Price"]}).to_csv(out / "items.csv", index=False)

    crm = pd.read_csv(demo / "crm_accounts.csv", dtype=str, keep_default_na=False, encoding="cp1252")
    pd.DataFrame({"Customer No": crm["Account ID"], "Customer Name": "Account " + crm["Account ID"],
                  "Region": crm["Sales Region"], "Terms": crm["Payment Terms (days)"]}).to_csv(
        out / "customers.csv", index=False)

    plan = pd.read_excel(demo / "sop_plan.xlsx", sheet_name="Plan", engine="calamine")
    line = items.set_index("Item Number")["Product Line"]
    plan = plan.assign(month=plan["Week"].map(_thursday_month), line=plan["Item Number"].map(line))
    budget = plan.groupby(["month", "line"], as_index=False)["Plan Revenue"].sum()
    budget = pd.DataFrame({"Month": pd.to_datetime(budget["month"] + "-01"), "Product Line": budget["line"],
                           "Budget Revenue": budget["Plan Revenue"].round(2)})
    with pd.ExcelWriter(out / "budget.xlsx") as xw:
        pd.DataFrame([[f"{COMPANY} budget by month and product line (USD)"], [""]]).to_excel(
            xw, sheet_name="Budget", index=False, header=False)
        budget.to_excel(xw, sheet_name="Budget", index=False, startrow=2)

    text = PARAMS.format(company=COMPANY, data_dir=str(out))
    if accounting:
        _write_accounting_export(demo, out)
        text = text.replace("; nothing else yet.", ", and the accounting system's open invoices, open bills and "
                            "bank balance.") + ACCOUNTING_SOURCES.format()
    params = out / "thin_company.yaml"
    params.write_text(text)
    return params


def _open_at(frame: pd.DataFrame, date_col: str, paid_col: str, at: str) -> pd.DataFrame:
    """The rows dated on or before ``at`` and not paid by then (ISO date text compares as dates)."""
    return frame[(frame[date_col] <= at) & ((frame[paid_col] == "") | (frame[paid_col] > at))]


def _write_accounting_export(demo: Path, out: Path) -> None:
    """The open invoices, open bills and bank balance at the demo treasury's balance date (module docstring)."""
    cash = pd.read_csv(demo / "treasury_cash.csv", dtype=str, keep_default_na=False)
    bank = cash[cash["Type"] == "opening_balance"]
    at = bank["Date"].max()
    pd.DataFrame({"Account": "Operating account", "As Of": at,
                  "Balance": f"{pd.to_numeric(bank.loc[bank['Date'] == at, 'Amount']).sum():.2f}"}, index=[0]).to_csv(
        out / "bank_balance.csv", index=False)
    inv = pd.read_csv(demo / "erp_ar_invoices.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    inv = _open_at(inv, "Invoice Date", "Paid Date", at)
    pd.DataFrame({"Num": inv["Invoice No"], "Customer": inv["Account ID"], "Invoice Date": inv["Invoice Date"],
                  "Due Date": inv["Due Date"], "Amount": inv["Invoice Amount"],
                  "Open Balance": inv["Invoice Amount"]}).to_csv(out / "open_invoices.csv", index=False)
    bills = pd.read_csv(demo / "erp_ap_bills.csv", dtype=str, keep_default_na=False)
    bills = _open_at(bills, "Bill Date", "Paid Date", at)
    pd.DataFrame({"Num": bills["Bill No"], "Vendor": bills["Vendor ID"], "Bill Date": bills["Bill Date"],
                  "Due Date": bills["Due Date"], "Amount": bills["Bill Amount"],
                  "Open Balance": bills["Bill Amount"]}).to_csv(out / "open_bills.csv", index=False)
