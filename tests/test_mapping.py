"""soe init's proposals: which table a file holds and which header is which canonical column."""
from __future__ import annotations

import yaml

import pytest

from soe_helpers.data.mapping import (calendar_choice, match_columns, norm, params_text, propose_calendar,
                                     propose_folder, propose_table)


def test_norm_ignores_case_spaces_and_punctuation():
    assert norm(" QTY ORDERED ") == norm("Qty-Ordered") == "qtyordered"


def test_columns_matched_exactly_by_synonym_and_by_guess():
    m, missing = match_columns("orders", ["Document Number", "Line", "Order Date", "Customer", "Item No.",
                                          "Quantity", "Unit Price", "Requested Date", "Promissed Date"])
    got = {x.column: (x.header, x.how) for x in m}
    assert got["order_id"] == ("Document Number", "synonym") and got["line"] == ("Line", "exact")
    assert got["sku"] == ("Item No.", "synonym") and got["customer_id"] == ("Customer", "synonym")
    assert got["promised_date"] == ("Promissed Date", "guess")      # a misspelling: proposed, marked
    assert missing == []
    assert len({h for h, _ in got.values()}) == len(got)            # a header serves one column at most


def test_a_bicycle_makers_three_exports(tmp_path):
    (tmp_path / "order_lines.csv").write_text("Order ID,Line,Order Date,Quantity,Unit Price,Model,Customer Shop,"
                                              "Requested Date\nB-1,1,2026-11-02,2,1299,Trail 5,Ithaca Bikes,2026-11-09\n")
    (tmp_path / "items.csv").write_text("Model,Category,Frame,Std Cost,List Price\nTrail 5,Mountain,Alu,700,1299\n")
    (tmp_path / "shops.csv").write_text("Customer Shop;City;State;Payment Terms\nIthaca Bikes;Ithaca;NY;Net 30\n")
    (tmp_path / "notes.csv").write_text("Whatever,Else\n1,2\n")
    props = {p.file: p for p in propose_folder(tmp_path)}
    assert props["order_lines.csv"].table == "orders" and props["items.csv"].table == "products"
    assert props["shops.csv"].table == "customers" and props["notes.csv"].table is None
    assert props["order_lines.csv"].missing == []   # promised_date is optional: the requested date stands in
    assert props["items.csv"].columns == {"sku": "Model", "product_line": "Category", "unit_cost": "Std Cost",
                                          "list_price": "List Price"}
    text = params_text(list(props.values()), tmp_path, 'Finger "Lakes" Cycles')
    doc = yaml.safe_load(text)
    assert doc["company"]["name"] == 'Finger "Lakes" Cycles'
    assert set(doc["data"]["sources"]) == {"orders", "products", "customers"}
    assert doc["data"]["sources"]["customers"]["columns"]["region"] == "State"
    assert "promised_date: ???" not in text and "Kestrel" not in text and "Hannah" not in text


def test_propose_table_needs_half_of_the_required_columns():
    assert propose_table("export.csv", ["a", "b"]) == (None, 0.0)
    assert propose_table("vendors.csv", ["Vendor ID", "Vendor Name", "Terms (days)", "Lead Time (days)"])[0] == \
        "suppliers"


def _mapped(table, headers):
    m, missing = match_columns(table, headers)
    return {x.column: x.header for x in m}, {x.column for x in m if x.how == "guess"}, missing


def test_headers_of_common_accounting_exports():
    # QuickBooks: Num, Name, Customer:Job, Terms, Open Balance
    cols, guesses, missing = _mapped("invoices", ["Type", "Date", "Num", "Name", "Memo", "Terms", "Due Date",
                                                  "Amount", "Open Balance"])
    assert cols == {"invoice_id": "Num", "customer_id": "Name", "invoice_date": "Date", "due_date": "Due Date",
                    "amount": "Amount"} and not guesses and missing == []
    cols, _, _ = _mapped("orders", ["Date", "Num", "Customer:Job", "Item", "Qty", "Sales Price", "Due Date"])
    assert cols == {"order_id": "Num", "order_date": "Date", "customer_id": "Customer:Job", "sku": "Item",
                    "quantity": "Qty", "unit_price": "Sales Price", "promised_date": "Due Date"}
    # SAP Business One: DocNum, LineNum, CardCode, ItemCode, DocDate, DocDueDate; a delivery's BaseRef
    cols, _, missing = _mapped("orders", ["DocNum", "LineNum", "DocDate", "CardCode", "ItemCode", "Dscription",
                                          "Quantity", "Price", "DocDueDate"])
    assert cols == {"order_id": "DocNum", "line": "LineNum", "order_date": "DocDate", "customer_id": "CardCode",
                    "sku": "ItemCode", "quantity": "Quantity", "unit_price": "Price", "promised_date": "DocDueDate"}
    assert missing == []  # requested and promised dates are optional (data.completion infers them)
    cols, _, missing = _mapped("shipments", ["DocNum", "BaseRef", "LineNum", "DocDate", "Quantity"])
    assert cols == {"shipment_id": "DocNum", "order_id": "BaseRef", "line": "LineNum", "ship_date": "DocDate",
                    "quantity": "Quantity"} and missing == []
    assert _mapped("products", ["ItemCode", "ItemName", "ItmsGrpNam", "AvgPrice", "Price"])[0] == {
        "sku": "ItemCode", "description": "ItemName", "product_line": "ItmsGrpNam", "unit_cost": "AvgPrice",
        "list_price": "Price"}
    # NetSuite: Document Number, Name, Item Rate; Odoo: Order Reference, Commitment Date, Number, Partner
    cols, _, _ = _mapped("orders", ["Document Number", "Line ID", "Date", "Name", "Item", "Quantity", "Item Rate",
                                    "Expected Ship Date"])
    assert cols["order_id"] == "Document Number" and cols["customer_id"] == "Name" and cols["unit_price"] == "Item Rate"
    cols, _, _ = _mapped("orders", ["Order Reference", "Customer", "Order Date", "Product", "Quantity", "Unit Price",
                                    "Commitment Date"])
    assert cols["order_id"] == "Order Reference" and cols["promised_date"] == "Commitment Date"
    assert _mapped("invoices", ["Number", "Partner", "Invoice Date", "Due Date", "Total"])[0]["invoice_id"] == "Number"
    # Dynamics 365: Sales order, Customer account, Confirmed ship date; a PO's confirmed vs expected delivery
    cols, _, _ = _mapped("orders", ["Sales order", "Line number", "Created date and time", "Customer account",
                                    "Item number", "Quantity", "Unit price", "Requested ship date", "Confirmed ship date"])
    assert (cols["customer_id"], cols["order_date"], cols["promised_date"]) == (
        "Customer account", "Created date and time", "Confirmed ship date")
    cols, _, missing = _mapped("purchase_orders", ["Purchase order", "Line number", "Vendor account", "Item number",
                                                   "Order date", "Confirmed delivery date", "Delivery date",
                                                   "Quantity", "Unit price"])
    assert (cols["promised_date"], cols["expected_date"], cols["unit_cost"]) == (
        "Confirmed delivery date", "Delivery date", "Unit price") and missing == []
    # a close spelling is proposed as a guess, never silently
    cols, guesses, _ = _mapped("customers", ["Customer", "Customer Nme", "Terms", "State"])
    assert cols["name"] == "Customer Nme" and guesses == {"name"}


def test_init_says_how_to_give_a_missing_column_one_value(tmp_path):
    (tmp_path / "customers.csv").write_text("Customer,Full Name,Terms\nC1,Acme,Net 30\n")
    props = propose_folder(tmp_path)
    text = params_text(props, tmp_path, "One Region Co")
    assert '# region: ???   required, no header matched: name its header, or give every row one value, ' \
           'region: {value: "US"}' in text
    # the line uncommented is a valid mapping, and the constant reaches the loaded table
    text = text.replace('        # region: ???', '        region: {value: "US"}  #')
    (tmp_path / "p.yaml").write_text(text)
    from soe_helpers.core.params import load_params
    from soe_helpers.data.loaders import coerce_table, read_source
    from soe_helpers.data.schemas import SCHEMAS

    params = load_params([tmp_path / "p.yaml"], data_dir=tmp_path)  # only customers: validated on its own
    src = params.data.sources["customers"]
    assert src.constant("region").value == "US"
    frame, problems = coerce_table(read_source("customers", src, tmp_path), SCHEMAS["customers"], src, params.company)
    assert problems == []
    assert frame["region"].tolist() == ["US"] and frame["payment_terms_days"].tolist() == [30]


def test_a_title_row_above_an_excel_header_is_passed_over():
    from soe_helpers.data.mapping import _header_row

    rows = [["Harbor Valve Co. budget by month (USD)", "", ""], ["", "", ""], ["Month", "Product Line", "Revenue"],
            ["2026-07", "Valves", 1000.0]]
    assert _header_row(rows) == ["Month", "Product Line", "Revenue"]
    assert _header_row([["Sku", "Qty"], ["A", 1]]) == ["Sku", "Qty"]
    assert _header_row([["Only"]]) == ["Only"] and _header_row([]) == []


# ---------------------------------------------------------------- the fiscal year start (soe init --year-start)


def _plan_folder(tmp_path, months, extra_header="", extra=lambda m: "", name="budget.csv"):
    rows = "".join(f"{m},Sensors,{1000 + i}{extra(m)}\n" for i, m in enumerate(months))
    (tmp_path / name).write_text(f"Month,Product Line,Budget Revenue{extra_header}\n{rows}")
    return propose_folder(tmp_path)


def _months(first_year, first_month, n):
    return [f"{first_year + (first_month - 1 + i) // 12}-{(first_month - 1 + i) % 12 + 1:02d}" for i in range(n)]


def test_twelve_plan_months_from_july_propose_a_july_year_as_a_guess(tmp_path):
    props = _plan_folder(tmp_path, _months(2026, 7, 12))
    cal = propose_calendar(props, tmp_path)
    assert (cal.start_month, cal.how) == (7, "guess")
    assert cal.why == "the months of budget.csv run July 2026 to June 2027 (12 months: whole years from July)"
    doc = yaml.safe_load(params_text(props, tmp_path, "Co", cal))
    assert doc["calendar"] == {"type": "iso", "year_start_month": 7}
    assert "year_start_month: 7    # GUESS: confirm (July: the months of budget.csv" in params_text(props, tmp_path,
                                                                                                   "Co", cal)
    assert "a GUESS" in cal.describe() and "--year-start" in cal.describe()


def test_a_fiscal_year_column_names_the_start_even_for_part_of_a_year(tmp_path):
    # FY2027 = July 2026 .. June 2027 (the suite's label: the year it ends in); six months of it, then FY2028
    months = _months(2026, 7, 6) + ["2027-07"]
    props = _plan_folder(tmp_path, months, ",Fiscal Year", lambda m: ",FY2028" if m == "2027-07" else ",FY2027")
    cal = propose_calendar(props, tmp_path)
    assert (cal.start_month, cal.how, cal.why) == (7, "guess", "in budget.csv FY2027 starts in July 2026")


def test_a_fiscal_year_labelled_by_its_first_year_is_noted(tmp_path):
    props = _plan_folder(tmp_path, _months(2026, 4, 5), ",FY", lambda m: ",FY26")
    cal = propose_calendar(props, tmp_path)
    assert cal.start_month == 4
    assert cal.why == ("in budget.csv FY2026 starts in April 2026 (the suite labels that year FY2027, by the "
                       "calendar year it ends in)")


def test_a_fiscal_year_in_the_file_name_with_its_first_month(tmp_path):
    props = _plan_folder(tmp_path, _months(2026, 10, 3), name="budget_FY2027.csv")
    cal = propose_calendar(props, tmp_path)
    assert (cal.start_month, cal.why) == (10, "budget_FY2027.csv names FY2027 and its first month is October 2026")


def test_months_that_are_not_whole_years_keep_january_and_say_why(tmp_path):
    props = _plan_folder(tmp_path, _months(2024, 10, 27))
    cal = propose_calendar(props, tmp_path)
    assert (cal.start_month, cal.how) == (1, "default")
    assert "start in October 2024 and run 27 months, not whole years" in cal.why
    assert "year_start_month: 1    # the month your fiscal year starts" in params_text(props, tmp_path, "Co", cal)
    assert propose_calendar(_plan_folder(tmp_path, _months(2026, 1, 12)), tmp_path).how == "default"
    assert propose_calendar([], tmp_path).why == "no plan file to read the fiscal year from"


def test_the_flags_win_over_the_plan_and_a_pattern_needs_its_year_end(tmp_path):
    props = _plan_folder(tmp_path, _months(2026, 7, 12))
    cal = calendar_choice(props, tmp_path, "Feb")
    assert (cal.start_month, cal.how, cal.type) == (2, "flag", "iso")
    assert "year_start_month: 2    # February: given to soe init" in params_text(props, tmp_path, "Co", cal)
    cal = calendar_choice(props, tmp_path, "7", "4-4-5", "nearest")
    assert yaml.safe_load(params_text(props, tmp_path, "Co", cal))["calendar"] == {
        "type": "4-4-5", "year_start_month": 7, "year_end": "nearest"}
    with pytest.raises(ValueError, match="a 5-4-4 year starting in July ends on the last or the nearest Sunday of "
                                         "June: give --year-end last or --year-end nearest"):
        calendar_choice(props, tmp_path, "July", "5-4-4")
    with pytest.raises(ValueError, match="'13' is not a month"):
        calendar_choice(props, tmp_path, "13")
    with pytest.raises(ValueError, match="--year-end is for the 52/53-week calendars"):
        calendar_choice(props, tmp_path, "7", None, "last")
    cal = calendar_choice(props, tmp_path, None, "4-5-4", "last")  # the month still proposed from the plan
    assert (cal.type, cal.start_month, cal.year_end, cal.how) == ("4-5-4", 7, "last", "guess")
