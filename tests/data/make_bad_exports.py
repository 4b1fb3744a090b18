"""Writes the corpus of bad exports in bad_exports/ (committed; re-run to regenerate).

Each file imitates one way a real ERP/CRM export goes wrong; expected.yaml says which
canonical table reads it, with which column mapping, and what the error must name.
"""
from pathlib import Path

import openpyxl

OUT = Path(__file__).parent / "bad_exports"
H = "SO Number,Line,Order Date,Account ID,Item Number,Qty Ordered,Unit Price,Requested Date,Promised Date\n"
OK1 = "SO-1,1,2026-11-16,C-1,A-1,5,20.00,2026-11-20,2026-11-20\n"
OK2 = "SO-1,2,2026-11-16,C-1,A-1,7,20.00,2026-11-20,2026-11-21\n"


def w(name, data: bytes | str):
    (OUT / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def main():
    OUT.mkdir(exist_ok=True)
    w("orders_empty.csv", b"")
    w("orders_header_only.csv", H)
    w("orders_truncated.csv", H + OK1 + OK2 + "SO-2,1,2026-11-17,C-1,A-1")
    w("orders_unclosed_quote.csv", H + OK1 + 'SO-2,1,2026-11-17,C-1,"A-1,5,20.00,2026-11-20,2026-11-20\n')
    w("orders_wrong_delimiter.csv", (H + OK1).replace(",", ";"))
    w("orders_duplicate_keys.csv", H + OK1 + OK2 + OK1)
    w("orders_impossible_dates.csv", H + OK1 + "SO-2,1,2026-02-30,C-1,A-1,5,20.00,2026-03-05,2026-03-05\n"
      + "SO-3,1,2026-13-01,C-1,A-1,5,20.00,2026-11-20,2026-11-20\n")
    w("orders_absurd_values.csv", H + OK1 + "SO-2,1,2026-11-17,C-1,A-1,1000000000000000,20.00,2026-11-20,2026-11-20\n"
      + "SO-3,1,1900-01-01,C-1,A-1,5,-20.00,2026-11-20,2026-11-20\n")
    w("orders_mixed_encoding.csv", H.encode() + "SO-1,1,2026-11-16,C-1,Café-1,5,20.00,2026-11-20,2026-11-20\n".encode("utf-8")
      + "SO-2,1,2026-11-16,C-1,Café-2,5,20.00,2026-11-20,2026-11-20\n".encode("cp1252"))
    w("orders_money_formats.csv", H + 'SO-1,1,2026-11-16,C-1,A-1,5,"$1,234.50",2026-11-20,2026-11-20\n'
      + 'SO-1,2,2026-11-16,C-1,A-1,5,"1.234,50",2026-11-20,2026-11-20\n')
    # the same column twice but for case and a trailing space, the second one 10x the quantities
    w("orders_duplicate_header.csv", H.replace("\n", ",QTY ORDERED \n") + OK1.replace("\n", ",50\n")
      + OK2.replace("\n", ",70\n"))
    w("orders_control_characters.csv", H + OK1 + OK2.replace("C-1", "C-\x001"))
    # Excel: a merged title row and a blank row above the real header
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Plan"
    ws.append(["Kestrel Components — S&OP plan 2026-Q4 (approved)", None, None, None, None, None])
    ws.merge_cells("A1:F1")
    ws.append([None] * 6)
    ws.append(["Week", "Item Number", "Region", "Plan Units", "Plan Revenue", "Plan COGS"])
    ws.append(["2026-W47", "A-1", "EMEA", 10, 200.0, 100.0])
    ws.append(["2026-W48", "A-1", "EMEA", 12, 240.0, 120.0])
    wb.save(OUT / "plan_merged_header.xlsx")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Plan"
    ws.append(["Kestrel Components — S&OP plan"])
    ws.merge_cells("A1:F1")
    ws.append(["Wk", "Item", "Rgn", "Units", "Rev", "Cost"])
    ws.append(["2026-W47", "A-1", "EMEA", 10, 200.0, 100.0])
    wb.save(OUT / "plan_unknown_headers.xlsx")
    w("plan_not_excel.xlsx", b"this is not a zip file at all")


if __name__ == "__main__":
    main()
