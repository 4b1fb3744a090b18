"""soe init's proposals: which table a file holds and which header is which canonical column."""
from __future__ import annotations

import yaml

from soe_helpers.data.mapping import match_columns, norm, params_text, propose_folder, propose_table


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
