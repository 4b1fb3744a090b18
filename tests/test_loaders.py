"""Each validation error and its message, on tiny hand-made exports."""
import pandas as pd
import pytest

from soe_helpers.data.loaders import DataError, coerce_table, load_tables, parse_dates, parse_money, read_source
from soe_helpers.core.params import Source, load_params
from soe_helpers.data.schemas import SCHEMAS

PRODUCTS = "sku,product_line,unit_cost,list_price\nA-1,Sensors,10,20\nB-2,Controllers,30,50\n"
CUSTOMERS = "customer_id,name,region,payment_terms_days\nC1,Acme,EMEA,30\nC2,Bolt,APAC,45\n"


def _load(tmp_path, name, text, encoding="utf-8", **src):
    path = tmp_path / f"{name}.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding=encoding, newline="")
    source = Source(file=path.name, **src)
    lt = read_source(name, source, tmp_path)
    return coerce_table(lt, SCHEMAS[name], source)


def test_money_formats():
    vals, bad = parse_money(pd.Series(["1,234.50", "$1,234.50", "(1,234.50)", "-12", "1234.5-", "USD 99", "",
                                       "1.234,50", "12 units", "1,23"]))
    assert vals.iloc[:6].tolist() == [1234.5, 1234.5, -1234.5, -12.0, -1234.5, 99.0]
    assert pd.isna(vals.iloc[6]) and not bad.iloc[6]
    assert bad.iloc[7:].tolist() == [True, True, True]


def test_dates_iso_excel_serial_and_impossible():
    d, bad = parse_dates(pd.Series(["2026-11-22", "46348", "2026-02-30", "11/22/2026", "", "2026-11-22 13:45:00"]))
    assert d.iloc[0] == pd.Timestamp("2026-11-22")
    assert d.iloc[1] == pd.Timestamp("2026-11-22")  # Excel serial 46348
    assert bad.tolist() == [False, False, True, True, False, False]
    assert d.iloc[5] == pd.Timestamp("2026-11-22")
    d, bad = parse_dates(pd.Series(["11/22/2026"]), "%m/%d/%Y")
    assert d.iloc[0] == pd.Timestamp("2026-11-22") and not bad.any()


def test_text_in_quantity_names_file_column_rows_and_expectation(tmp_path):
    text = ("SO,Ln,Date,Cust,Item,Qty,Price,Req,Prom\n"
            "S1,1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20\n"
            "S1,2,2026-11-16,C1,A-1,ten,20,2026-11-20,2026-11-20\n"
            "S2,1,2026-11-17,C2,B-2,n/a,50,2026-11-20,2026-11-20\n")
    cols = dict(order_id="SO", line="Ln", order_date="Date", customer_id="Cust", sku="Item", quantity="Qty",
                unit_price="Price", requested_date="Req", promised_date="Prom")
    _, problems = _load(tmp_path, "orders", text, columns=cols)
    assert len(problems) == 1
    msg = str(problems[0])
    assert msg.startswith("orders.csv [orders]: column 'Qty' (quantity)")
    assert "2 values not understood" in msg and "expected a number >= 0" in msg
    assert "lines 3, 4: 'ten', 'n/a'" in msg


def test_missing_column_lists_what_the_file_has(tmp_path):
    _, problems = _load(tmp_path, "products", "sku,line,cost,price\nA,S,1,2\n")
    msgs = [str(p) for p in problems]
    assert any("required column 'product_line' not found; the source has: sku, line, cost, price" in m for m in msgs)
    assert any("'unit_cost'" in m for m in msgs) and any("'list_price'" in m for m in msgs)


def test_bom_crlf_and_thousands(tmp_path):
    text = ("\ufeffinvoice_id,customer_id,invoice_date,due_date,amount\r\n"
            'I1,C1,2026-11-01,2026-12-01,"1,234.50"\r\nI2,C2,2026-11-02,2026-12-02,"(50.00)"\r\n')
    df, problems = _load(tmp_path, "invoices", text.encode("utf-8"))
    assert problems == []
    assert df["invoice_id"].tolist() == ["I1", "I2"] and df["amount"].tolist() == [1234.5, -50.0]


def test_windows_1252_text(tmp_path):
    text = "customer_id,name,region,payment_terms_days\nC1,Société Générale d'Équipement,EMEA,30\n"
    df, problems = _load(tmp_path, "customers", text, encoding="cp1252")
    assert problems == [] and df["name"].iloc[0] == "Société Générale d'Équipement"


def test_semicolon_delimiter_sniffed(tmp_path):
    df, problems = _load(tmp_path, "customers", "customer_id;name;region;payment_terms_days\nC1;Acme;EMEA;30\n")
    assert problems == [] and df["payment_terms_days"].tolist() == [30]


def test_duplicate_keys_range_choices_and_row_rules(tmp_path):
    text = ("customer_id,name,region,payment_terms_days,late_penalty_pct_per_week\n"
            "C1,A,EMEA,30,0.01\nC1,B,EMEA,400,\nC3,,EMEA,2.5,3\n")
    _, problems = _load(tmp_path, "customers", text)
    msgs = "\n".join(map(str, problems))
    assert "duplicate key" in msgs and "customer_id must be unique" in msgs and "lines 2, 3" in msgs
    assert "'payment_terms_days'" in msgs and "out of range" in msgs and "between 0 and 365" in msgs
    assert "whole number" in msgs  # 2.5 days
    assert "'name'" in msgs and "empty value" in msgs and "line 4" in msgs
    assert "'late_penalty_pct_per_week'" in msgs and "between 0 and 1" in msgs

    inv = "invoice_id,customer_id,invoice_date,due_date,amount\nI1,C1,2026-11-10,2026-11-01,5\n"
    _, problems = _load(tmp_path, "invoices", inv)
    assert "where due_date is not >= invoice_date" in str(problems[0]) and "line 2" in str(problems[0])


def test_choices_are_case_insensitive(tmp_path):
    text = "item,kind,amount,date\nBank,Opening_Balance,100,2026-11-22\nX,weekly,5,2026-11-22\n"
    df, problems = _load(tmp_path, "cash", text)
    assert df["kind"].iloc[0] == "opening_balance"
    assert len(problems) == 1 and "not allowed; expected one of opening_balance, recurring, one_off" in str(problems[0])


def test_weeks_accept_labels_and_dates(tmp_path):
    text = "snapshot_week,target_week,sku,quantity\n2026-W46,2026-11-18,A-1,10\n2026-W46,2026-W99,A-1,1\n"
    df, problems = _load(tmp_path, "forecasts", text)
    assert df["target_week"].iloc[0] == "2026-W47"
    assert len(problems) == 1 and "ISO week like 2026-W47" in str(problems[0])


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_source("products", Source(file="e.csv"), tmp_path)
    df, problems = _load(tmp_path, "products", "sku,product_line,unit_cost,list_price\n")
    assert problems == [] and len(df) == 0
    with pytest.raises(DataError, match="file not found"):
        read_source("products", Source(file="nope.csv"), tmp_path)


def _write_minimal(tmp_path, orders_rows):
    (tmp_path / "products.csv").write_text(PRODUCTS)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(
        "order_id,line,order_date,customer_id,sku,quantity,unit_price,requested_date,promised_date\n" + orders_rows)
    tables = ["products", "customers", "orders"]
    sets = [f"data.sources.{t}.file={t}.csv" for t in tables] + [f"data.sources.{t}.columns={{}}" for t in tables]
    return load_params(sets=sets, data_dir=tmp_path), tables


def test_orphans_are_reported_with_all_other_problems_together(tmp_path):
    params, tables = _write_minimal(
        tmp_path,
        "S1,1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20\n"
        "S1,2,2026-11-16,C9,Z-9,5,20,2026-11-20,2026-11-20\n"
        "S2,1,2026-11-16,C2,B-2,x,20,2026-11-20,2026-11-10\n")
    with pytest.raises(DataError) as e:
        load_tables(params, tables)
    msg = str(e.value)
    assert "4 problems" in msg and "not understood" in msg and "nothing was run" in msg
    assert "1 orphan row: sku not found in products (products.csv); line 3: 'Z-9'" in msg
    assert "1 orphan row: customer_id not found in customers" in msg
    assert "where promised_date is not >= order_date" in msg


def test_valid_minimal_load(tmp_path):
    params, tables = _write_minimal(tmp_path, "S1,1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20\n")
    loaded = load_tables(params, tables)
    o = loaded["orders"].frame
    assert o["quantity"].dtype == "float64" and str(o["order_date"].dtype).startswith("datetime64")
    assert loaded["orders"].sha256 and loaded["orders"].rows == 1


def test_excel_source_with_real_dates_and_serials(tmp_path):
    df = pd.DataFrame({"Week": ["2026-W47", "2026-W48"], "Item": ["A-1", "B-2"], "Units": [10, 5],
                       "Revenue": [200.0, "$250.00"], "COGS": [100, 150]})
    df.to_excel(tmp_path / "plan.xlsx", index=False, sheet_name="Plan")
    src = Source(file="plan.xlsx", sheet="Plan", columns={"week": "Week", "sku": "Item", "units": "Units",
                                                          "revenue": "Revenue", "cogs": "COGS"})
    lt = read_source("plan", src, tmp_path)
    frame, problems = coerce_table(lt, SCHEMAS["plan"], src)
    assert problems == [] and frame["revenue"].tolist() == [200.0, 250.0]


def test_sql_source_reads_url_from_environment(tmp_path, monkeypatch):
    import sqlalchemy as sa

    db = tmp_path / "erp.sqlite"
    eng = sa.create_engine(f"sqlite:///{db}")
    with eng.begin() as c:
        c.execute(sa.text("create table items (sku text, line text, cost real, price real)"))
        c.execute(sa.text("insert into items values ('A-1','Sensors',10,20)"))
    src = Source(query="select sku, line, cost, price from items", url_env="ERP_URL",
                 columns={"product_line": "line", "unit_cost": "cost", "list_price": "price"})
    with pytest.raises(DataError, match="environment variable ERP_URL is not set"):
        read_source("products", src, tmp_path)
    monkeypatch.setenv("ERP_URL", f"sqlite:///{db}")
    lt = read_source("products", src, tmp_path)
    frame, problems = coerce_table(lt, SCHEMAS["products"], src)
    assert problems == [] and frame["unit_cost"].tolist() == [10.0]
    assert "sqlite" not in lt.origin  # the URL is never shown


def test_text_columns_are_arrow_backed_with_missing_as_missing(tmp_path):
    # Python string objects would take ~3x the memory at millions of rows; pandas' "str" is Arrow-backed
    text = "invoice_id,customer_id,order_id,invoice_date,due_date,amount\nI1,C1,,2026-11-01,2026-12-01,10\nI2, C2 ,SO-9,2026-11-02,2026-12-02,20\n"
    df, problems = _load(tmp_path, "invoices", text)
    assert problems == []
    assert all(isinstance(df[c].dtype, pd.StringDtype) for c in ("invoice_id", "customer_id", "order_id"))
    assert df["customer_id"].tolist() == ["C1", "C2"]                      # stripped
    assert df["order_id"].isna().tolist() == [True, False] and df["order_id"].iloc[1] == "SO-9"


ORDERS_H = "SO,Ln,Date,Cust,Item,Qty Ordered,Price,Req,Prom"
ORDERS_COLS = dict(order_id="SO", line="Ln", order_date="Date", customer_id="Cust", sku="Item",
                   quantity="Qty Ordered", unit_price="Price", requested_date="Req", promised_date="Prom")


def test_a_header_repeated_but_for_case_or_spaces_is_an_error_naming_both(tmp_path):
    text = (ORDERS_H + ",QTY  ORDERED \n"
            "S1,1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20,50\n")
    frame, problems = _load(tmp_path, "orders", text, columns=ORDERS_COLS)
    msgs = [str(p) for p in problems]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith("orders.csv [orders]: column 'Qty Ordered' (quantity): 2 columns 'Qty Ordered' and "
                              "'QTY  ORDERED' both match"), msgs[0]
    assert "exactly one column for quantity" in msgs[0]
    assert frame["quantity"].isna().all()  # neither one is taken


def test_the_same_header_twice_is_an_error_in_csv_and_excel(tmp_path):
    # pandas renames a repeated header to 'Qty Ordered.1': the loader must still see the repeat
    text = ORDERS_H + ",Qty Ordered\nS1,1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20,50\n"
    _, problems = _load(tmp_path, "orders", text, columns=ORDERS_COLS)
    assert [str(p) for p in problems] == [
        "orders.csv [orders]: column 'Qty Ordered' (quantity): 2 columns 'Qty Ordered' and 'Qty Ordered' both match "
        "'Qty Ordered' (quantity) once case and spaces are ignored; the source must have exactly one column for "
        "quantity: remove or rename the other (or map quantity to another header in the source's `columns`)"]
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["sku", "product_line", "unit_cost", "list_price", "SKU "])
    wb.active.append(["A-1", "Sensors", 10, 20, "B-2"])
    wb.save(tmp_path / "products.xlsx")
    source = Source(file="products.xlsx")
    _, problems = coerce_table(read_source("products", source, tmp_path), SCHEMAS["products"], source)
    assert len(problems) == 1 and "2 columns 'sku' and 'SKU' both match 'sku'" in str(problems[0])
    assert str(problems[0]).startswith("products.xlsx [products]: column 'sku'")


def test_unrelated_headers_differing_by_case_are_no_problem(tmp_path):
    # only a canonical column read twice matters; a spare 'NOTES'/'notes' pair is not read at all
    frame, problems = _load(tmp_path, "products", "sku,product_line,unit_cost,list_price,notes,NOTES\n"
                                                  "A-1,Sensors,10,20,x,y\n")
    assert problems == [] and frame["sku"].tolist() == ["A-1"]


def test_control_characters_in_text_are_rejected_naming_rows(tmp_path):
    text = (b"customer_id,name,region,payment_terms_days\nC1,Ac\x00me,EMEA,30\n"
            b"C2,\"Bolt\tInc\",APAC,45\nC3,Form\x0cfeed,APAC,45\nC4,\"Two\r\nlines\",APAC,45\n")
    frame, problems = _load(tmp_path, "customers", text)
    assert [str(p) for p in problems] == [
        "customers.csv [customers]: column 'name': 2 values with control characters (such as a NUL byte, shown as "
        "\\x00); expected plain text (tab and line breaks are allowed): remove them in the export; "
        "lines 2, 4: 'Ac\\x00me', 'Form\\x0cfeed'"]
    assert frame["name"].iloc[1] == "Bolt\tInc" and frame["name"].iloc[3] == "Two\r\nlines"


# ---------------------------------------------------------------- export habits (issue 13, item 3)


def test_payment_terms_written_as_text(tmp_path):
    from soe_helpers.data.loaders import parse_terms, terms_discount

    terms = pd.Series(["Net 30", "N30", "NET30", "2/10 Net 30", "1% 15 Net 45", "Due on receipt", "COD", "Immediate",
                       "EOM", "Net 30 EOM", "30 days", "60", "", "45.0"])
    days, bad = parse_terms(terms)
    assert days.iloc[:12].tolist() == [30, 30, 30, 30, 45, 0, 0, 0, 15, 45, 30, 60]  # EOM = 15 days on average
    assert pd.isna(days.iloc[12]) and days.iloc[13] == 45 and not bad.any()
    assert terms_discount(terms).iloc[3] == "2% discount if paid within 10 days"
    assert terms_discount(terms).iloc[0] is None

    frame, problems = _load(tmp_path, "customers", "Account,Name,Region,Terms\nC1,Acme,EMEA,2/10 Net 30\n"
                            "C2,Bolt,APAC,Due on receipt\nC3,Core,EMEA,Net 30 EOM\n",
                            columns={"customer_id": "Account", "payment_terms_days": "Terms"})
    assert problems == []
    assert frame["payment_terms_days"].tolist() == [30, 0, 45] and str(frame["payment_terms_days"].dtype) == "Int64"
    assert frame["payment_discount"].iloc[0] == "2% discount if paid within 10 days"
    assert frame["payment_discount"].iloc[1:].isna().all()


def test_unparseable_terms_name_file_column_rows_and_the_forms_accepted(tmp_path):
    _, problems = _load(tmp_path, "suppliers", "supplier_id,name,payment_terms_days,lead_time_days\n"
                        "S1,Acme,Net 30,10\nS2,Bolt,when we feel like it,10\nS3,Core,Net 400,10\n")
    msgs = "\n".join(map(str, problems))
    assert "suppliers.csv [suppliers]: column 'payment_terms_days': 1 value not understood" in msgs
    assert "line 3: 'when we feel like it'" in msgs
    assert "'Net 30', 'N30', '2/10 Net 30', 'Due on receipt', 'COD', 'Immediate', 'EOM' or 'Net 30 EOM'" in msgs
    assert "out of range" in msgs and "line 4: 'Net 400'" in msgs


def test_a_constant_in_the_mapping(tmp_path):
    params = load_params(sets=["data.sources.customers.file=c.csv",
                               'data.sources.customers.columns={customer_id: ID, name: Name, region: {value: US}, '
                               'payment_terms_days: {value: Net 30}}'], data_dir=tmp_path)
    src = params.data.sources["customers"]
    assert src.constant("region").value == "US" and src.header("region") is None and src.header("name") == "Name"
    (tmp_path / "c.csv").write_text("ID,Name\nC1,Acme\nC2,Bolt\n")
    lt = read_source("customers", src, tmp_path)
    frame, problems = coerce_table(lt, SCHEMAS["customers"], src)
    assert problems == [] and frame["region"].tolist() == ["US", "US"]
    assert frame["payment_terms_days"].tolist() == [30, 30]
    assert "region" not in lt.headers  # a constant is no header: a pushed-down query never selects it
    # the resolved params (run folder's params.json) keep it
    from soe_helpers.core.params import params_from_json

    (tmp_path / "p.json").write_text(params.to_json())
    assert params_from_json(tmp_path / "p.json").data.sources["customers"].constant("region").value == "US"


def test_a_bad_constant_is_an_error_naming_it(tmp_path):
    (tmp_path / "o.csv").write_text("order_id,order_date,customer_id,sku,quantity,unit_price,requested_date,"
                                    "promised_date\nS1,2026-11-16,C1,A-1,5,20,2026-11-20,2026-11-20\n")
    src = Source(file="o.csv", columns={"line": {"value": "first"}, "status": {"value": "shipped"}})
    _, problems = coerce_table(read_source("orders", src, tmp_path), SCHEMAS["orders"], src)
    msgs = "\n".join(map(str, problems))
    assert "o.csv [orders]: column line (constant 'first' in the source's columns): the constant 'first' is not " \
           "understood; expected a whole number" in msgs
    assert "the constant 'shipped' is not allowed; expected one of open, closed, cancelled" in msgs
    ok = Source(file="o.csv", columns={"line": {"value": 1}, "status": {"value": "Open"}})
    frame, problems = coerce_table(read_source("orders", ok, tmp_path), SCHEMAS["orders"], ok)
    assert problems == [] and frame["line"].tolist() == [1] and frame["status"].tolist() == ["open"]


def test_date_times_in_date_columns_give_their_date():
    d, bad = parse_dates(pd.Series(["2026-11-20 14:35:00", "2026-11-20T14:35:00Z", "2026-11-20T23:59:59-05:00",
                                    "2026-11-20T14:35:00.123"]))
    assert not bad.any() and (d == pd.Timestamp("2026-11-20")).all()
    d, bad = parse_dates(pd.Series(["11/20/2026 2:35 PM", "11/20/2026 14:35", "11/20/2026", "11/20/2026 soon"]),
                         "%m/%d/%Y")
    assert bad.tolist() == [False, False, False, True]
    assert (d.iloc[:3] == pd.Timestamp("2026-11-20")).all()


def test_a_currency_code_in_any_case_before_or_after_the_amount_parses(tmp_path):
    vals, bad = parse_money(pd.Series(["usd 1,234.50", "Usd 1,234.50", "1,234.50 USD", "1,234.50 usd",
                                       "(usd 1,234.50)", "12units"]))
    assert vals.iloc[:4].tolist() == [1234.5] * 4 and vals.iloc[4] == -1234.5
    assert bad.tolist() == [False] * 5 + [True]  # letters that are no code stay an error
    company = load_params().company  # USD, "$"
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,customer_id,invoice_date,due_date,amount\n"
        'I1,C1,2026-11-02,2026-12-02,"usd 1,234.50"\nI2,C1,2026-11-02,2026-12-02,"Usd 10.00"\n'
        'I3,C1,2026-11-02,2026-12-02,"1,234.50 USD"\nI4,C1,2026-11-02,2026-12-02,"eur 5.00"\n'
        'I5,C1,2026-11-02,2026-12-02,"7.00 Eur"\n')
    src = Source(file="invoices.csv")
    frame, problems = coerce_table(read_source("invoices", src, tmp_path), SCHEMAS["invoices"], src, company)
    msgs = "\n".join(map(str, problems))
    assert len(problems) == 1, msgs
    assert "invoices.csv" in msgs and "column 'amount': 2 amounts in another currency than the company's USD" in msgs
    assert "lines 5, 6: 'eur 5.00', '7.00 Eur'" in msgs
    assert frame["amount"].iloc[:3].tolist() == [1234.5, 10.0, 1234.5]


def test_amounts_with_a_currency_code_and_another_currency_is_an_error(tmp_path):
    company = load_params().company  # USD, "$"
    vals, bad = parse_money(pd.Series(["USD 1,234.50", "1,234.50 USD", "EUR 1.234,50"]))
    assert vals.iloc[:2].tolist() == [1234.5, 1234.5] and bad.tolist() == [False, False, True]  # no decimal comma
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,customer_id,invoice_date,due_date,amount\nI1,C1,2026-11-02,2026-12-02,USD 1,234.50\n"
        "I2,C1,2026-11-02,2026-12-02,\"1,000.00 EUR\"\nI3,C1,2026-11-02,2026-12-02,€120\n"
        "I4,C1,2026-11-02,2026-12-02,$99\n".replace("USD 1,234.50", "\"USD 1,234.50\""))
    src = Source(file="invoices.csv")
    frame, problems = coerce_table(read_source("invoices", src, tmp_path), SCHEMAS["invoices"], src, company)
    msgs = "\n".join(map(str, problems))
    assert len(problems) == 1, msgs
    assert "column 'amount': 2 amounts in another currency than the company's USD" in msgs
    assert "lines 3, 4: '1,000.00 EUR', '€120'" in msgs and "does not convert currencies" in msgs
    assert frame["amount"].iloc[0] == 1234.5 and frame["amount"].iloc[3] == 99.0
