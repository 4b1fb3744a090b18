"""Load the company's exports onto the canonical tables and validate them, once.

``load_tables(params)`` reads every source declared in params (CSV, Excel, Parquet
or a SQL query), renames the company's headers to canonical columns, parses each
column by its kind (see :mod:`soe_helpers.data.schemas`), and checks required values,
ranges, allowed values, unique keys, row rules and foreign keys. Every problem of
the whole load is collected and raised together as one :class:`DataError`, each
line naming the file (or query), the column, the first offending rows and what was
expected — so an analyst fixes the export once, not once per run.

Real export habits handled: UTF-8 with or without BOM, Windows-1252 text, CRLF,
``;``/tab/``|`` delimiters, Excel serial dates and real Excel dates, date-times in date columns
(the date as written), amounts written ``1,234.50``, ``$1,234.50``, ``(1,234.50)``, ``1,234.50-``,
``USD 1,234.50`` and ``1,234.50 USD``, the code in any case (``usd``, ``Usd``; another currency than the
company's is an error), payment
terms written ``Net 30``, ``2/10 Net 30``, ``COD``, ``Net 30 EOM`` (:func:`parse_terms`), and
columns mapped to one constant value (``region: {value: US}``).
Ambiguous values (``03/04/2026`` without a ``date_format``, a decimal comma such as
``1.234,50``) are rejected with a message saying how to declare them.

Headers match case-insensitively with runs of whitespace read as one space; two headers that
match the same canonical column (``Qty Ordered`` beside ``QTY ORDERED ``, or the same header
twice) are rejected, naming both, rather than one silently winning. Text values holding a C0
control character other than tab, line feed or carriage return (a NUL byte in a customer name)
are rejected at load, naming file, column and rows: they are never meant, and cleaning them
silently would change a key (``C1\x00`` vs ``C1``) behind the analyst's back.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import is_week, to_week, week_ordinal
from soe_helpers.core.params import Params, Source
from soe_helpers.core.secrets import redact, url_secrets
from soe_helpers.data.schemas import FOREIGN_KEYS, SCHEMAS, Column, TableSchema
from soe_helpers.data.completion import complete_frames
from soe_helpers.data.sources import check_sources

__all__ = ["DataError", "Problem", "LoadedTable", "load_tables", "load_table", "read_source", "coerce_table",
           "parse_money", "parse_dates", "parse_periods", "parse_terms", "terms_discount", "file_sha256",
           "data_as_of", "AS_OF_TABLES", "empty_table", "data_notes"]

_SHOW = 5  # offending rows shown per problem
_ABSURD = 1e12
_DATE_MIN, _DATE_MAX = pd.Timestamp("1990-01-01"), pd.Timestamp("2100-12-31")


@dataclass
class Problem:
    table: str
    origin: str
    message: str
    column: str | None = None

    def __str__(self) -> str:
        col = f": column {self.column}" if self.column else ""
        return f"{self.origin} [{self.table}]{col}: {self.message}"


class DataError(ValueError):
    """The inputs are invalid: ``problems`` holds every problem found in one load."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        n = len(problems)
        super().__init__(
            f"Input data is invalid ({n} problem{'s' if n != 1 else ''}); nothing was run:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass
class LoadedTable:
    name: str
    frame: pd.DataFrame
    origin: str
    path: Path | None = None
    sha256: str | None = None
    rows: int = 0
    row_label: str = "line"
    row_offset: int = 2
    headers: dict[str, str] = field(default_factory=dict)  # canonical -> source header
    notes: list[str] = field(default_factory=list)  # what the load inferred (data.completion), for the reports


# ---------------------------------------------------------------- reading


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _detect_encoding(path: Path, declared: str | None, name: str = "", origin: str = "") -> str:
    """UTF-8 (with or without BOM) when the file decodes as UTF-8, else Windows-1252.

    A file that mixes both (some lines UTF-8 with accents, others Windows-1252) cannot be
    read right either way: that is a DataError naming the offending lines.
    """
    if declared:
        return declared
    with open(path, "rb") as f:
        head = f.read(3)
    # Decode the whole file as UTF-8 in chunks; fall back to Windows-1252 (Excel on Windows).
    dec = __import__("codecs").getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                dec.decode(chunk)
            dec.decode(b"", final=True)
        return "utf-8-sig" if head == b"\xef\xbb\xbf" else "utf-8"
    except UnicodeDecodeError:
        pass
    bad_lines, utf8_accented = [], False
    with open(path, "rb") as f:
        for i, raw in enumerate(f, start=1):
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                utf8_accented = True
            except UnicodeDecodeError:
                bad_lines.append(i)
    if utf8_accented and bad_lines:
        shown = ", ".join(map(str, bad_lines[:_SHOW])) + (f" and {len(bad_lines) - _SHOW} more" if len(bad_lines) > _SHOW else "")
        raise DataError([Problem(name, origin, f"mixed text encodings: line{'s' if len(bad_lines) > 1 else ''} {shown} "
                                 "are not UTF-8 while other lines are; re-export the file as UTF-8 "
                                 "(or set `encoding` in its source)")])
    return "cp1252"


def _surplus_fields(path: Path, enc: str, sep: str) -> str:
    import csv

    with open(path, encoding=enc, newline="") as f:
        rows = csv.reader(f, delimiter=sep)
        width = len(next(rows, []))
        bad = [i for i, r in enumerate(rows, start=2) if len(r) > width][: _SHOW]
    return (f"lines {', '.join(map(str, bad))} have more fields than the header's {width} "
            "(an unquoted delimiter inside a value?); quote such values or fix the export")


def _find_header(frame: pd.DataFrame, expected: list[str], header_row: int | None) -> tuple[pd.DataFrame, int]:
    """Re-header ``frame`` when its real header is below title rows (merged Excel headers).

    Returns (frame, extra rows skipped). ``header_row`` (1-based, from params) forces the row.
    """
    want = {e.strip().lower() for e in expected}
    if header_row and header_row > 1:
        i = header_row - 2
    else:
        have = {str(c).strip().lower() for c in frame.columns}
        if not want or len(want & have) * 2 >= len(want):
            return frame, 0
        i = None
        for r in range(min(10, len(frame))):
            cells = {str(v).strip().lower() for v in frame.iloc[r].tolist()}
            if want <= cells:
                i = r
                break
        if i is None:
            return frame, 0
    if i < 0 or i >= len(frame):
        return frame, 0
    new = frame.iloc[i + 1:].reset_index(drop=True)
    new.columns = [str(v).strip() for v in frame.iloc[i].tolist()]
    return new, i + 1


def _unmangled(frame: pd.DataFrame, path: Path, suffix: str, src: Source, enc: str | None,
               sep: str | None) -> pd.DataFrame:
    """``frame`` with the file's own header cells: pandas renames a repeated header ``X`` to ``X.1``,
    which would hide a duplicate column from the header check in :func:`coerce_table`."""
    if not any(re.search(r"\.\d+$", str(c)) for c in frame.columns):
        return frame  # nothing renamed: no need to read the header again
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            top = pd.read_excel(path, sheet_name=src.sheet if src.sheet is not None else 0, header=None, nrows=1,
                                dtype=object, engine="calamine")
            cells = ["" if pd.isna(v) else str(v) for v in top.iloc[0].tolist()] if len(top) else []
        else:
            import csv  # only to read the header record again

            with open(path, encoding=enc, newline="") as f:
                cells = next(csv.reader(f, delimiter=sep), [])
    except Exception:  # noqa: BLE001 - the frame was read already: keep pandas' headers
        return frame
    if len(cells) != len(frame.columns):
        return frame
    # keep pandas' names for blank header cells ('Unnamed: 3'), restore the others
    restored = [c if str(c).strip() else m for c, m in zip(cells, frame.columns)]
    if [str(c).strip() for c in restored] == [str(c).strip() for c in frame.columns]:
        return frame
    out = frame.copy(deep=False)
    out.columns = restored
    return out


def _header_key(header) -> str:
    """How headers are matched: case-insensitive, surrounding whitespace dropped, inner runs of
    whitespace (spaces, tabs, no-break spaces) read as one space."""
    return " ".join(str(header).split()).casefold()


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in [",", ";", "\t", "|"]}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _engine_with_timeout(sa, url: str, timeout_seconds: float | None):
    """An engine whose statements the server stops after ``timeout_seconds`` where the dialect has a
    per-session limit (PostgreSQL ``statement_timeout``, MySQL ``max_execution_time``); other dialects
    rely on :func:`_watchdog`."""
    name = sa.engine.make_url(url).get_backend_name()
    if timeout_seconds and name == "postgresql":
        return sa.create_engine(url, connect_args={"options": f"-c statement_timeout={int(timeout_seconds * 1000)}"})
    engine = sa.create_engine(url)
    if timeout_seconds and name in ("mysql", "mariadb"):
        @sa.event.listens_for(engine, "connect")
        def _limit(dbapi_conn, _rec):
            cur = dbapi_conn.cursor()
            cur.execute(f"SET SESSION max_execution_time={int(timeout_seconds * 1000)}")
            cur.close()
    return engine


class _Watchdog:
    """Cancels the running statement of a DBAPI connection after a delay (SQLite, DuckDB and any
    driver whose connection has ``cancel()`` or ``interrupt()``); ``fired`` says whether it did."""

    def __init__(self, dbapi_conn, seconds: float):
        import threading

        self.fired = False
        self._conn = dbapi_conn
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self):
        for meth in ("interrupt", "cancel"):
            f = getattr(self._conn, meth, None)
            if callable(f):
                try:
                    f()
                    self.fired = True
                except Exception:  # noqa: BLE001 - best effort: the server-side limit is the main guard
                    pass
                return

    def cancel(self):
        self._timer.cancel()


def _watchdog(conn, timeout_seconds: float | None) -> "_Watchdog | None":
    if not timeout_seconds or conn.dialect.name in ("postgresql", "mysql", "mariadb"):
        return None  # the server enforces the limit itself
    return _Watchdog(conn.connection.dbapi_connection, timeout_seconds)


def _timed_out(e: Exception) -> bool:
    text = str(e).lower()
    return "statement timeout" in text or "max_execution_time" in text or "interrupted" in text


def read_source(name: str, src: Source, data_dir: Path, timeout_seconds: float | None = None) -> LoadedTable:
    """Read one source as it is (strings for text files), without renaming or parsing.

    ``timeout_seconds`` limits a SQL query's run time (``data.query_timeout_seconds``).
    Raises DataError (one problem) when the source cannot be read at all.
    """
    if src.query:
        origin = f"query for {name} (database URL from ${src.url_env})"
        url = os.environ.get(src.url_env or "")
        if not url:
            raise DataError([Problem(name, origin, f"environment variable {src.url_env} is not set; "
                                     "it must hold the SQLAlchemy URL of the database")])
        import sqlalchemy as sa

        timer = None
        try:
            engine = _engine_with_timeout(sa, url, timeout_seconds)
            try:
                with engine.connect() as conn:
                    timer = _watchdog(conn, timeout_seconds)
                    frame = pd.read_sql(sa.text(src.query), conn)
            finally:
                if timer is not None:
                    timer.cancel()
                engine.dispose()  # no idle connection left open on a shared server per table read
        except Exception as e:  # noqa: BLE001 - a database error must reach the analyst as one line
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            if timeout_seconds and (_timed_out(e) or (timer is not None and timer.fired)):
                msg = (f"the query ran longer than data.query_timeout_seconds ({timeout_seconds:g} s) and was "
                       f"cancelled; make it cheaper (filter, index) or raise the limit ({msg})")
                raise DataError([Problem(name, origin, redact(msg.replace(url, "<url>"), url_secrets(url)))]) from None
            raise DataError([Problem(name, origin, "the query failed: "
                                     + redact(msg.replace(url, "<url>"), url_secrets(url)))]) from None
        return LoadedTable(name, frame, origin, rows=len(frame), row_label="result row", row_offset=1)

    path = Path(src.file).expanduser()
    path = path if path.is_absolute() else data_dir / path
    origin = str(path.name) if path.parent == data_dir else str(path)
    if not path.exists():
        raise DataError([Problem(name, origin, f"file not found (looked in {path.parent})")])
    if path.stat().st_size == 0:
        raise DataError([Problem(name, origin, "the file is empty (0 bytes): expected a header row and data")])
    suffix = path.suffix.lower()
    enc = sep = None
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            frame = pd.read_excel(path, sheet_name=src.sheet if src.sheet is not None else 0, dtype=object,
                                  engine="calamine")  # ~10x faster than openpyxl on large plans
            row_label, offset = "row", 2
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
            row_label, offset = "row", 1
        else:
            enc = _detect_encoding(path, src.encoding, name, origin)
            with open(path, encoding=enc, newline="") as f:
                first = f.readline()
            sep = src.delimiter or _sniff_delimiter(first)
            if enc in ("utf-8", "utf-8-sig"):
                try:  # pyarrow's reader is multi-threaded: ~5x faster on million-line exports
                    frame = pd.read_csv(path, dtype=str, sep=sep, encoding=enc, keep_default_na=False,
                                        na_values=[], engine="pyarrow")
                except Exception:  # noqa: BLE001 - the C parser gives the precise message (line numbers)
                    frame = pd.read_csv(path, dtype=str, sep=sep, encoding=enc, keep_default_na=False,
                                        na_values=[], skipinitialspace=False, engine="c", low_memory=False)
            else:
                text = path.read_text(encoding=enc)
                frame = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, keep_default_na=False,
                                    na_values=[], engine="c", low_memory=False)
            row_label, offset = "line", 2
            if not isinstance(frame.index, pd.RangeIndex):  # pandas took surplus fields as an index
                raise DataError([Problem(name, origin, _surplus_fields(path, enc, sep))])
    except DataError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeDecodeError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError([Problem(name, origin, f"cannot be read as a {suffix or 'text'} table: {first}")]) from None
    except Exception as e:  # noqa: BLE001 - e.g. a corrupt xlsx (zip) or parquet file
        raise DataError([Problem(name, origin, f"cannot be read: {type(e).__name__}: {e}")]) from None
    if suffix != ".parquet":  # Parquet keeps its column names as written
        frame = _unmangled(frame, path, suffix, src, enc, sep)
    frame.columns = [str(c).strip() for c in frame.columns]
    schema = SCHEMAS.get(name)
    if schema is not None:
        expected = [src.header(c.name) for c in schema.columns if c.required and src.header(c.name)]
        frame, skipped = _find_header(frame, expected, src.header_row)
        offset += skipped
    return LoadedTable(name, frame, origin, path=path, sha256=file_sha256(path), rows=len(frame),
                       row_label=row_label, row_offset=offset)


# ---------------------------------------------------------------- parsing


def _as_text(s: pd.Series) -> pd.Series:
    """Text view of a raw column (Excel/Parquet/SQL give mixed types); missing -> ''."""
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        return s.fillna("").astype(str).str.strip()

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            return ""
        if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "isoformat"):
            ts = pd.Timestamp(v)
            return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return s.map(one).astype(object)


# A currency code before or after the amount, in any case (``USD 1,234.50``, ``usd 1,234.50``, ``1,234.50 Usd``);
# a code is three letters standing alone, so ``12units`` keeps its letters (and stays an error).
_CURRENCY = re.compile(r"^(?:[A-Za-z]{3}(?![A-Za-z])\s*)?[$€£¥]?\s*|\s*(?<![A-Za-z])(?:[A-Za-z]{3})?$")
_EURO_DECIMAL = re.compile(r"^-?\d{1,3}(\.\d{3})*,\d{1,2}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


def parse_money(text: pd.Series, allow_currency: bool = True) -> tuple[pd.Series, pd.Series]:
    """Parse amounts: returns (values float64, bad mask for non-empty unparseable cells).

    ``1,234.50``, ``$1,234.50``, ``USD 1,234.50`` (a code before or after, in any case: ``usd 1,234.50``,
    ``1,234.50 Usd``), ``(1,234.50)`` (negative) and ``1,234.50-`` (negative) parse; ``1.234,50`` and
    ``12 units`` are rejected.
    """
    if isinstance(text.dtype, pd.StringDtype):
        t = text.fillna("").str.strip()
    else:
        t = text.astype(object).where(text.notna(), "").astype(str).str.strip()
    empty = t == ""
    # Fast path: plain numbers (most exports) parse in Arrow's C++ kernels; only the rest goes
    # through the rules below.
    fast = _plain_numbers(t)
    need = ~empty & fast.isna()
    if not need.any():
        return fast, pd.Series(False, index=text.index)
    slow, bad = _parse_money_slow(t[need], allow_currency)
    vals = fast.copy()
    vals[need] = slow
    out_bad = pd.Series(False, index=text.index)
    out_bad[need] = bad
    return vals, out_bad


def _plain_numbers(t: pd.Series) -> pd.Series:
    """float64 of cells that are plain numbers (``-12.5``, ``1e3``, ``1,234.50``), NaN elsewhere."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(t.to_numpy(dtype=object), type=pa.string()) if not hasattr(t.array, "_pa_array") \
        else pc.cast(t.array._pa_array, pa.string())
    grouped = pc.fill_null(pc.match_substring_regex(arr, _GROUPED.pattern), False)
    arr = pc.if_else(grouped, pc.replace_substring(arr, ",", ""), arr)  # 1,234.50 -> 1234.50
    ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER.pattern), False)
    vals = pc.cast(pc.if_else(ok, arr, pa.scalar("0")), pa.float64())
    vals = pc.if_else(ok, vals, pa.scalar(None, pa.float64()))
    return pd.Series(vals.to_numpy(zero_copy_only=False), index=t.index, dtype="float64")


def _parse_money_slow(t: pd.Series, allow_currency: bool) -> tuple[pd.Series, pd.Series]:
    empty = t == ""
    neg = t.str.startswith("(") & t.str.endswith(")")
    t = t.where(~neg, t.str.slice(1, -1))
    trail = t.str.endswith("-") & (t.str.len() > 1)
    t = t.where(~trail, t.str.slice(0, -1))
    if allow_currency:
        t = t.str.replace(_CURRENCY, "", regex=True)
    t = t.str.strip()
    # Thousands separators only in the right places: 1,234,567.89 yes, 1,23 no.
    grouped = t.str.match(_GROUPED)
    t = t.where(~grouped, t.str.replace(",", "", regex=False))
    ok = t.str.match(_NUMBER)
    vals = pd.to_numeric(t.where(ok, None), errors="coerce").astype("float64")
    vals = vals.where(~(neg | trail), -vals)
    bad = ~empty & ~ok
    return vals.where(~empty, np.nan), bad


def _constant_text(value) -> str:
    """A params constant as an export would write it (``True`` -> ``'true'``, a date -> ISO)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


_CODE = re.compile(r"^\(?\s*([A-Za-z]{3})\s*[-(]?\s*[$€£¥]?\s*\d|\d[\d.,]*\)?-?\s*(?<![A-Za-z])([A-Za-z]{3})\s*\)?$")
_SIGN = re.compile(r"[$€£¥]")


def _foreign_currency(text: pd.Series, currency: str, symbol: str | None) -> pd.Series:
    """True where an amount names a currency other than ``currency``: a code (``EUR 1,234.50``,
    ``1,234.50 EUR``) or a sign absent from the company's ``symbol`` (``€120`` for a ``$`` company)."""
    out = pd.Series(False, index=text.index)
    t = text[text.str.contains(r"[A-Za-z$€£¥]", regex=True, na=False)]
    if not len(t):
        return out
    uniq = pd.unique(t)
    want = (currency or "").upper()

    def foreign(v: str) -> bool:
        m = _CODE.search(v)
        if m:
            code = (m.group(1) or m.group(2)).upper()
            if code != want:
                return True
        signs = set(_SIGN.findall(v))
        return bool(signs) and symbol is not None and not signs <= set(symbol)

    flags = {u: foreign(u) for u in uniq}
    out[t.index] = t.map(flags).astype(bool)
    return out


# Payment terms written as text, as accounting exports write them. EOM ("end of month") = due at the end
# of the invoice month: counted as 15 days on average, so "Net 30 EOM" (30 days after the month's end) = 45.
EOM_DAYS = 15
_TERMS_IMMEDIATE = re.compile(r"^(due\s+(on|upon|at)\s+receipt|on\s+receipt|receipt|cod|c\.o\.d\.?|cash\s+on\s+delivery|"
                              r"immediate(ly)?|due\s+immediately|cia|cash\s+in\s+advance|prepaid|prepayment|net\s*0)$")
_TERMS_NET = re.compile(r"^(?:(?P<disc>\d+(?:\.\d+)?)\s*(?:%\s*/?|/)\s*(?P<ddays>\d+)\s*(?:days?)?\s*,?\s*)?"
                        r"(?:net|n)?\s*(?P<days>\d+)\s*(?:days?)?(?:\s*(?:net))?\s*(?P<eom>eom|end\s+of\s+month)?$")
_TERMS_EOM = re.compile(r"^(net\s+)?(eom|end\s+of\s+month)$")


def _one_terms(v: str) -> tuple[float, str | None] | None:
    """(days, discount note) of one payment-terms text, or None when it is not understood."""
    t = " ".join(v.lower().replace("-", " ").split())
    if _TERMS_IMMEDIATE.match(t):
        return 0.0, None
    if _TERMS_EOM.match(t):
        return float(EOM_DAYS), None
    m = _TERMS_NET.match(t)
    if not m:
        return None
    days = float(m.group("days")) + (EOM_DAYS if m.group("eom") else 0)
    note = None
    if m.group("disc"):
        note = f"{float(m.group('disc')):g}% discount if paid within {int(m.group('ddays'))} days"
    return days, note


def parse_terms(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Payment terms in days: returns (days float64, bad mask for non-empty cells not understood).

    ``30``, ``30 days``, ``Net 30``, ``N30``, ``NET30`` -> 30; ``2/10 Net 30`` -> 30 (the early-payment
    discount: :func:`terms_discount`); ``Due on receipt``, ``COD``, ``Immediate`` -> 0; ``EOM`` (due at
    the end of the invoice month) -> 15, the average (:data:`EOM_DAYS`); ``Net 30 EOM`` -> 30 + 15 = 45.

        >>> parse_terms(pd.Series(["Net 30", "2/10 Net 30", "COD", "Net 30 EOM", "soon"]))[0].tolist()
        [30.0, 30.0, 0.0, 45.0, nan]
    """
    t = text.astype(object).where(text.notna(), "").astype(str).str.strip()
    plain = _plain_numbers(t)  # 30, 30.0, 1e1: days as a number (fractions are refused by the caller)
    words = (t != "") & plain.isna()
    parsed = {u: _one_terms(u) for u in pd.unique(t[words])}
    vals = plain.copy()
    vals[words] = t[words].map(lambda v: parsed[v][0] if parsed.get(v) else np.nan).astype("float64")
    bad = words & vals.isna()
    return vals, bad


def terms_discount(text: pd.Series) -> pd.Series:
    """The early-payment discount a payment-terms text carries (``2/10 Net 30`` -> ``'2% discount if paid
    within 10 days'``), None where it carries none."""
    t = text.astype(object).where(text.notna(), "").astype(str).str.strip()
    parsed = {u: _one_terms(u) for u in pd.unique(t[t != ""])}
    return pd.Series([(parsed.get(v) or (None, None))[1] if v else None for v in t], index=text.index, dtype=object)


_TIME_PART = re.compile(r"^(?P<date>.+?)(?:[T ]\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?"
                        r"\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?)$")


def _drop_time(t: pd.Series) -> pd.Series:
    """Date-times as exports write them (``2026-11-20 14:35:00``, ``2026-11-20T14:35:00Z``, ``11/20/2026
    2:35 PM``) cut to their date part, as written (a UTC offset is not applied: the date is the one the
    system printed). Other values are returned as they are."""
    date = t.astype(object).str.extract(_TIME_PART)["date"]
    return date.where(date.notna(), t).astype(object).str.strip()


def parse_dates(raw: pd.Series, date_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse dates: returns (datetime64 normalised, bad mask). See module docstring for formats."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        d = pd.to_datetime(raw).dt.tz_localize(None) if getattr(raw.dt, "tz", None) else pd.to_datetime(raw)
        return d.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=raw.index)
    if raw.dtype == object and pd.api.types.infer_dtype(raw, skipna=True) in ("date", "datetime"):
        # SQL DATE/TIMESTAMP columns arrive as datetime.date/datetime objects: convert in one pass
        # (a per-value text round trip costs seconds per million rows). Dates pandas cannot hold
        # (e.g. a 9999-12-31 "no date" sentinel) are reported as not understood, as from a file.
        try:
            d = pd.to_datetime(raw, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            d = None
        if d is not None:
            d = d.dt.tz_localize(None) if getattr(d.dt, "tz", None) is not None else d
            fits = d.notna() & (d >= pd.Timestamp.min) & (d <= pd.Timestamp.max)
            bad = raw.notna() & ~fits
            return d.where(fits).dt.normalize().astype("datetime64[ns]"), bad
    t = _as_text(raw)
    empty = t == ""
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    todo = ~empty
    if date_format:
        out[todo] = pd.to_datetime(t[todo], format=date_format, errors="coerce")
        rest = todo & out.isna()
        if rest.any():  # a date-time where the format names a date: the date it holds
            d = _drop_time(t[rest])
            out[rest] = pd.to_datetime(d, format=date_format, errors="coerce")
    else:
        out[todo] = pd.to_datetime(t[todo], format="%Y-%m-%d", errors="coerce")
        rest = todo & out.isna()
        if rest.any():
            iso_time = t[rest].str.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")
            idx = iso_time[iso_time].index
            if len(idx):
                out[idx] = pd.to_datetime(t[idx].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
            slash = t[rest].str.match(r"^\d{4}/\d{2}/\d{2}$")
            idx = slash[slash].index
            if len(idx):
                out[idx] = pd.to_datetime(t[idx], format="%Y/%m/%d", errors="coerce")
    rest = todo & out.isna()
    if rest.any():
        serial = t[rest].str.match(r"^\d{5}(\.0+)?$")
        idx = serial[serial].index
        if len(idx):
            n = pd.to_numeric(t[idx], errors="coerce")
            ok = n.between(20000, 80000)  # 1954 .. 2119: a plausible Excel serial date
            out[idx[ok]] = pd.Timestamp("1899-12-30") + pd.to_timedelta(n[ok], unit="D")
    bad = todo & out.isna()
    return out.dt.normalize(), bad


_MONTHS = {m.lower(): i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_MONTH_RE = re.compile(r"^(\d{4})[-/ .](\d{1,2})$")
_MONTH_NAME_RE = re.compile(r"^([A-Za-z]{3,9})[-/ .,]*'?(\d{2}|\d{4})$")
_QUARTER_RES = (re.compile(r"^(?:FY)?\s*(\d{4})\s*[-/ ]?\s*Q([1-4])$", re.I),
                re.compile(r"^Q([1-4])\s*[-/ ]?\s*(?:FY)?\s*(\d{4})$", re.I))


def _one_period(text: str, kind: str) -> str | None:
    """The label of one plan period (``YYYY-Www``, ``YYYY-MM`` or ``YYYY-Qn``), None when not understood."""
    t = text.strip()
    if kind in ("quarter", "period"):
        for i, rx in enumerate(_QUARTER_RES):
            m = rx.match(t)
            if m:
                y, q = (m.group(1), m.group(2)) if i == 0 else (m.group(2), m.group(1))
                return f"{y}-Q{q}"
        if kind == "quarter":
            return None
    if kind == "period" and WEEK_RE_LOOSE.match(t):
        return t if is_week(t) else None
    m = _MONTH_RE.match(t)
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{m.group(1)}-{int(m.group(2)):02d}"
    m = _MONTH_NAME_RE.match(t)
    if m and m.group(1)[:3].lower() in _MONTHS and (len(m.group(1)) == 3 or m.group(1).lower() in _FULL_MONTHS):
        y = int(m.group(2))
        return f"{y + 2000 if y < 100 else y}-{_MONTHS[m.group(1)[:3].lower()]:02d}"
    return None


WEEK_RE_LOOSE = re.compile(r"^\d{4}-W\d{2}$")
_FULL_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                "november", "december", "sept"}


def parse_periods(raw: pd.Series, kind: str, date_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse plan periods of ``kind`` (``month``, ``quarter`` or ``period``): returns (labels, bad mask).

    Labels are ``YYYY-MM`` for months, ``YYYY-Qn`` for fiscal quarters and ``YYYY-Www`` for weeks; a date
    (text, an Excel date or serial) is its month. A ``quarter`` column takes quarter labels only.
    """
    t = _as_text(raw)
    empty = t == ""
    uniq = pd.unique(t[~empty])
    look = {u: _one_period(u, kind) for u in uniq}  # a plan holds few distinct periods
    out = t.map(look).where(~empty, None).astype(object)
    rest = ~empty & out.isna()
    if rest.any() and kind != "quarter":
        d, bad_d = parse_dates(raw[rest] if pd.api.types.is_datetime64_any_dtype(raw) else t[rest], date_format)
        out[rest] = d.dt.strftime("%Y-%m").where(~bad_d & d.notna(), None)
    out = out.where(out.notna(), None).astype(object)
    return out, ~empty & out.isna()


def _fmt_rows(idx: pd.Index, values: pd.Series, label: str, offset: int) -> str:
    n = len(idx)
    shown = list(idx[:_SHOW])
    rows = ", ".join(str(int(i) + offset) for i in shown)
    vals = ", ".join(repr(values.loc[i]) for i in shown) if values is not None else ""
    more = f" and {n - _SHOW} more" if n > _SHOW else ""
    plural = label + ("s" if n > 1 else "")
    return f"{plural} {rows}{more}" + (f": {vals}" if vals else "")


def _expected(col: Column) -> str:
    rng = ""
    if col.min is not None and col.max is not None:
        rng = f" between {col.min:g} and {col.max:g}"
    elif col.min is not None:
        rng = f" >= {col.min:g}"
    return {
        "int": f"a whole number{rng}",
        "terms": f"a whole number of days{rng} or payment terms written as 'Net 30', 'N30', '2/10 Net 30', "
                 "'Due on receipt', 'COD', 'Immediate', 'EOM' or 'Net 30 EOM' (EOM = due at the end of the invoice "
                 "month, counted as 15 days)",
        "float": f"a number{rng}",
        "money": f"an amount{rng} like 1234.50, 1,234.50, $1,234.50, USD 1,234.50 or (1,234.50)",
        "date": "a date like 2026-11-22 (or set date_format in the source, e.g. '%m/%d/%Y'; Excel serials accepted)",
        "week": "an ISO week like 2026-W47, or a date",
        "month": "a month like 2026-07, Jul 2026 or a date in the month",
        "quarter": "a fiscal quarter like 2027-Q1 (FY2027-Q1, Q1 2027)",
        "period": "a week (2026-W47), a month (2026-07, Jul 2026, a date) or a fiscal quarter (2027-Q1)",
        "bool": "true/false, yes/no or 1/0",
        "str": "text",
    }[col.kind]


def coerce_table(lt: LoadedTable, schema: TableSchema, src: Source,
                 company=None) -> tuple[pd.DataFrame, list[Problem]]:
    """Rename, parse and check one table. Returns (typed frame, problems).

    ``company`` (``params.company``: ``currency``, ``currency_symbol``), when given, makes an amount
    written in another currency (``EUR 1,234.50`` for a USD company, ``€120``) an error rather than a
    number silently mixed with the company's. A column mapped to a constant (``region: {value: US}``)
    takes that value in every row, parsed and checked like a column of the export.
    """
    raw = lt.frame
    problems: list[Problem] = []

    def add(msg, column=None):
        problems.append(Problem(schema.name, lt.origin, msg, column))

    positions: dict[str, list[int]] = {}
    for i, c in enumerate(raw.columns):
        positions.setdefault(_header_key(c), []).append(i)
    out = {}
    headers = {}
    present: set[str] = set()  # canonical columns the source gives: by a header or a constant
    for col in schema.columns:
        const = src.constant(col.name)
        if const is not None:
            s = pd.Series([_constant_text(const.value)] * len(raw), index=raw.index, dtype=object)
            parsed, bad = _parse_column(s, col, src)
            label = f"{col.name} (constant {const.value!r} in the source's columns)"
            if bad.any() or (not col.nullable and parsed.isna().any()):
                add(f"the constant {const.value!r} is not understood; expected {_expected(col)}", label)
            elif col.choices and str(parsed.iloc[0] if len(parsed) else const.value).lower() not in col.choices:
                add(f"the constant {const.value!r} is not allowed; expected one of {', '.join(col.choices)}", label)
            elif col.kind in ("int", "float", "money", "terms") and len(parsed) and (
                    (col.min is not None and parsed.iloc[0] < col.min) or (col.max is not None and parsed.iloc[0] > col.max)):
                add(f"the constant {const.value!r} is out of range; expected {_expected(col)}", label)
            if col.choices:
                parsed = parsed.map(lambda v: v.lower() if isinstance(v, str) else v).astype(object)
            out[col.name] = parsed
            present.add(col.name)
            continue
        header = src.header(col.name)
        found = positions.get(_header_key(header), [])
        label = f"'{header}'" + (f" ({col.name})" if header != col.name else "")
        if len(found) > 1:
            # Two headers equal but for case or spaces ('Qty Ordered' and 'QTY ORDERED '): taking
            # either one silently could report the wrong figures, so the analyst must choose.
            both = " and ".join(repr(str(raw.columns[i])) for i in found)
            add(f"{len(found)} columns {both} both match {label} once case and spaces are ignored; "
                f"the source must have exactly one column for {col.name}: remove or rename the other "
                f"(or map {col.name} to another header in the source's `columns`)", label)
        actual = raw.columns[found[0]] if len(found) == 1 else None
        if actual is None:
            if col.required and not found:
                hint = ""
                if len(raw.columns) == 1:
                    for d, dname in ((";", "';'"), ("\t", "a tab"), ("|", "'|'"), (",", "','")):
                        if d in str(raw.columns[0]):
                            hint = f" (the header looks {dname}-delimited: set `delimiter` in the source)"
                            break
                add(f"required column {label} not found; the source has: "
                    f"{', '.join(map(str, raw.columns[:30]))}" + (" ..." if len(raw.columns) > 30 else "") + hint)
            out[col.name] = pd.Series(np.nan if col.kind in ("float", "money") else None, index=raw.index,
                                      dtype="float64" if col.kind in ("float", "money") else object)
            if col.kind == "date":
                out[col.name] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
            continue
        headers[col.name] = actual
        present.add(col.name)
        s = raw.iloc[:, found[0]]
        foreign = pd.Series(False, index=raw.index)
        if col.kind == "money" and company is not None:
            foreign = _foreign_currency(_as_text(s), company.currency, company.currency_symbol)
            if foreign.any():
                idx = foreign[foreign].index
                add(f"{len(idx)} amount{'s' if len(idx) > 1 else ''} in another currency than the company's "
                    f"{company.currency}; expected amounts in {company.currency} (the pack does not convert "
                    "currencies: convert them in the export, or set company.currency); "
                    + _fmt_rows(idx, _as_text(s), lt.row_label, lt.row_offset), label)
                s = s.where(~foreign, "")
        parsed, bad = _parse_column(s, col, src)
        if bad.any():
            idx = bad[bad].index
            add(f"{len(idx)} value{'s' if len(idx) > 1 else ''} not understood; expected {_expected(col)}; "
                + _fmt_rows(idx, _as_text(s), lt.row_label, lt.row_offset), label)
        if col.kind == "str":
            ctrl = _control_characters(parsed)
            if ctrl.any():
                idx = ctrl[ctrl].index
                add(f"{len(idx)} value{'s' if len(idx) > 1 else ''} with control characters (such as a NUL byte, "
                    "shown as \\x00); expected plain text (tab and line breaks are allowed): remove them in the "
                    "export; " + _fmt_rows(idx, _as_text(s), lt.row_label, lt.row_offset), label)
        missing = parsed.isna() & ~bad & ~foreign
        if not col.nullable and missing.any():
            idx = missing[missing].index
            add(f"{len(idx)} empty value{'s' if len(idx) > 1 else ''}; a value is required; "
                + _fmt_rows(idx, None, lt.row_label, lt.row_offset), label)
        if col.kind in ("int", "float", "money", "terms"):
            lo = parsed < col.min if col.min is not None else pd.Series(False, index=parsed.index)
            hi = parsed > col.max if col.max is not None else pd.Series(False, index=parsed.index)
            hi = hi | (parsed.abs() > _ABSURD)  # no real export holds a trillion of anything
            oor = (lo | hi).fillna(False).astype(bool)
            if oor.any():
                idx = oor[oor].index
                add(f"{len(idx)} value{'s' if len(idx) > 1 else ''} out of range; expected {_expected(col)}; "
                    + _fmt_rows(idx, _as_text(s), lt.row_label, lt.row_offset), label)
        if col.kind == "date":
            odd = parsed.notna() & ((parsed < _DATE_MIN) | (parsed > _DATE_MAX))
            if odd.any():
                idx = odd[odd].index
                add(f"{len(idx)} implausible date{'s' if len(idx) > 1 else ''}; expected dates between "
                    f"{_DATE_MIN.date()} and {_DATE_MAX.date()}; " + _fmt_rows(idx, _as_text(s), lt.row_label, lt.row_offset),
                    label)
        if col.choices:
            norm = parsed.astype(object).where(parsed.notna(), None)
            norm = norm.map(lambda v: v.lower() if isinstance(v, str) else v)
            badc = norm.notna() & ~norm.isin(col.choices)
            if badc.any():
                idx = badc[badc].index
                add(f"{len(idx)} value{'s' if len(idx) > 1 else ''} not allowed; expected one of "
                    f"{', '.join(col.choices)}; " + _fmt_rows(idx, _as_text(s), lt.row_label, lt.row_offset), label)
            parsed = norm
        out[col.name] = parsed
    frame = pd.DataFrame(out, index=raw.index)
    lt.headers = headers
    if "payment_discount" in frame and "payment_terms_days" in headers and "payment_discount" not in present:
        # '2/10 Net 30' is 30 days; its early-payment discount is kept beside it, in words
        frame["payment_discount"] = terms_discount(_as_text(raw[headers["payment_terms_days"]])).to_numpy()

    # Unique key (only when its columns parsed).
    if all(k in present or not schema.column(k).required for k in schema.key):
        keycols = [k for k in schema.key if k in present]
        dup = frame.duplicated(keycols, keep=False) & frame[keycols].notna().all(axis=1) if keycols else \
            pd.Series(False, index=frame.index)
        if dup.any():
            idx = dup[dup].index
            keytxt = frame.loc[idx[:_SHOW], keycols].astype(str).agg("/".join, axis=1)
            add(f"{int(frame.loc[idx].duplicated(keycols).sum())} duplicate key{'s' if len(idx) > 2 else ''} "
                f"({' + '.join(keycols)} must be unique); " + _fmt_rows(idx, keytxt, lt.row_label, lt.row_offset))

    if schema.one_of:
        given = [c for c in schema.one_of if c in headers]
        names = ", ".join(schema.one_of[:-1]) + " or " + schema.one_of[-1]
        if not given:
            add(f"no period column: map exactly one of {names} (e.g. columns: {{month: Month}}); the source has: "
                f"{', '.join(map(str, raw.columns[:30]))}")
        elif len(given) > 1:
            add(f"{len(given)} period columns ({', '.join(headers[c] for c in given)}): map exactly one of {names}")
        else:
            empty = frame[given[0]].isna() & ~pd.Series(False, index=frame.index)
            header = src.columns.get(given[0], given[0])
            label = f"'{header}'" + (f" ({given[0]})" if header != given[0] else "")
            if empty.any() and not any(p.column == label and "not understood" in p.message for p in problems):
                idx = empty[empty].index
                add(f"{len(idx)} empty value{'s' if len(idx) > 1 else ''}; every plan row needs its period; "
                    + _fmt_rows(idx, None, lt.row_label, lt.row_offset), label)

    for left, op, right in schema.checks:
        if left in present and right in present:
            lv, rv = frame[left], frame[right]
            if schema.column(left).kind == "week":
                ords = {w: week_ordinal(w) for w in pd.unique(pd.concat([lv, rv]).dropna())}
                lv, rv = lv.map(ords).astype(float), rv.map(ords).astype(float)
            viol = {">=": lv < rv, ">": lv <= rv}[op] & lv.notna() & rv.notna()
            if viol.any():
                idx = viol[viol].index
                pair = frame.loc[idx[:_SHOW], left].astype(str) + " vs " + frame.loc[idx[:_SHOW], right].astype(str)
                add(f"{len(idx)} row{'s' if len(idx) > 1 else ''} where {left} is not {op} {right}; "
                    + _fmt_rows(idx, pair, lt.row_label, lt.row_offset))
    return frame.reset_index(drop=True), problems


# C0 control characters but tab, line feed and carriage return: a NUL or a form feed in a name is
# never meant, breaks the Excel export (openpyxl refuses them) and hides text in reports.
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _control_characters(text: pd.Series) -> pd.Series:
    """True where a text value holds a C0 control character other than tab, LF or CR."""
    if not len(text):
        return pd.Series(False, index=text.index)
    return text.str.contains(_CONTROL, regex=True, na=False).astype(bool)


def _parse_column(s: pd.Series, col: Column, src: Source) -> tuple[pd.Series, pd.Series]:
    kind = col.kind
    if kind == "str":
        t = _as_text(s)
        t = t.where(t != "", None)
        # Arrow-backed text (pandas' "str") takes a third of the memory of Python strings at volume
        return t.astype("str") if len(t) else t.astype(object), pd.Series(False, index=s.index)
    if kind in ("int", "float", "money"):
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            vals = s.astype("float64")
            bad = pd.Series(False, index=s.index)
        else:
            vals, bad = parse_money(_as_text(s), allow_currency=(kind == "money"))
            if kind != "money":
                # A currency sign in a quantity column is a mapping mistake, not a quantity.
                pass
        if kind == "int":
            frac = vals.notna() & (vals != np.floor(vals))
            bad = bad | frac
            vals = vals.where(~frac)
            return vals.round().astype("Int64"), bad
        return vals.astype("float64"), bad
    if kind == "terms":
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            vals, bad = s.astype("float64"), pd.Series(False, index=s.index)
        else:
            vals, bad = parse_terms(_as_text(s))
        frac = vals.notna() & (vals != np.floor(vals))
        return vals.where(~frac).round().astype("Int64"), bad | frac
    if kind == "date":
        return parse_dates(s, src.date_format)
    if kind == "week":
        t = _as_text(s)
        empty = t == ""
        is_label = t.str.match(r"^\d{4}-W\d{2}$")
        valid = {u: is_week(u) for u in pd.unique(t[is_label])}  # few distinct weeks, many rows
        valid_label = is_label & t.map(valid).fillna(False).astype(bool)
        out = t.where(valid_label, None).astype(object)
        rest = ~empty & ~is_label
        if rest.any():
            d, bad_d = parse_dates(t[rest], src.date_format)
            out[rest] = to_week(d).where(~bad_d, None)
        bad = ~empty & out.isna()
        return out, bad
    if kind in ("month", "quarter", "period"):
        return parse_periods(s, kind, src.date_format)
    if kind == "bool":
        t = _as_text(s).str.lower()
        m = {"true": True, "false": False, "yes": True, "no": False, "y": True, "n": False, "1": True, "0": False}
        out = t.map(m)
        return out.astype(object), (t != "") & out.isna()
    raise ValueError(f"unknown column kind {kind}")


# ---------------------------------------------------------------- the load


def empty_table(name: str) -> pd.DataFrame:
    """An empty frame of canonical table ``name``: every column, typed as a load types it."""
    schema = SCHEMAS[name]
    lt = LoadedTable(name, pd.DataFrame({c: pd.Series(dtype=object) for c in schema.column_names}), name)
    frame, _ = coerce_table(lt, schema, Source(file=f"{name}.csv"))
    return frame


def load_table(name: str, params: Params) -> LoadedTable:
    """Read, parse and check one table on its own (foreign keys not checked)."""
    check_sources(params)
    src = params.data.present().get(name)
    if src is None:
        raise DataError([Problem(name, "params", f"table {name} is not provided (no source in data.sources, or "
                                 "`file: null`)")])
    lt = read_source(name, src, params.data_dir(), params.data.query_timeout_seconds)
    frame, problems = coerce_table(lt, SCHEMAS[name], src, params.company)
    if problems:
        raise DataError(problems)
    lt.frame = frame
    return lt


def _check_foreign_keys(tables: dict[str, LoadedTable]) -> list[Problem]:
    problems = []
    for child, ccols, parent, pcols in FOREIGN_KEYS:
        if child not in tables or parent not in tables:
            continue
        c, p = tables[child].frame, tables[parent].frame
        if any(col not in c for col in ccols) or any(col not in p for col in pcols):
            continue
        present = c[list(ccols)].notna().all(axis=1)
        if not present.any():
            continue
        parent_keys = pd.MultiIndex.from_frame(p[list(pcols)].astype(str))
        child_keys = pd.MultiIndex.from_frame(c.loc[present, list(ccols)].astype(str))
        orphan_mask = ~child_keys.isin(parent_keys)
        if orphan_mask.any():
            idx = c.index[present][orphan_mask]
            lt = tables[child]
            keys = c.loc[idx, list(ccols)].astype(str).agg("/".join, axis=1)
            header = "+".join(f"'{lt.headers.get(col, col)}'" for col in ccols)
            problems.append(Problem(
                child, lt.origin,
                f"{len(idx)} orphan row{'s' if len(idx) > 1 else ''}: {'+'.join(ccols)} not found in {parent} "
                f"({tables[parent].origin}); " + _fmt_rows(idx, keys, lt.row_label, lt.row_offset),
                header,
            ))
    return problems


def load_tables(params: Params, tables: list[str] | None = None) -> dict[str, LoadedTable]:
    """Load and validate every present source (or those of ``tables`` present); raise one DataError with all problems.

    A table not listed in ``data.sources``, or listed with ``file: null``, is absent: it is not loaded and
    no check involves it (foreign keys are checked between present tables only). A present file with a
    header and no rows is a present, empty table (its columns are checked). Raises ParamsError first when
    a source names an unknown table or canonical column, or a minimum table has no source.
    Returns canonical tables keyed by name; each :class:`LoadedTable` carries its typed
    ``frame``, origin and the file's sha256 for the run manifest.
    """
    check_sources(params)  # table names and column mappings fit the schemas (ParamsError)
    present = params.data.present()
    names = [n for n in (tables or SCHEMAS) if n in present]
    loaded: dict[str, LoadedTable] = {}
    problems: list[Problem] = []
    for name in names:
        src = present[name]
        if SCHEMAS[name].overlap and src.file and not (params.data_dir() / Path(src.file).expanduser()).exists():
            continue  # an optional overlap export (e.g. CRM bookings) not provided: the data-accuracy report says so
        try:
            lt = read_source(name, src, params.data_dir(), params.data.query_timeout_seconds)
        except DataError as e:
            problems.extend(e.problems)
            continue
        frame, probs = coerce_table(lt, SCHEMAS[name], src, params.company)  # header-only: a present, empty table
        problems.extend(probs)
        lt.frame = frame
        loaded[name] = lt
    problems.extend(_check_foreign_keys(loaded))
    if problems:
        raise DataError(problems)
    _complete(loaded, params)
    return loaded


def _complete(loaded: dict[str, LoadedTable], params: Params) -> None:
    """Apply :func:`soe_helpers.data.completion.complete_frames` (due dates, shipments a thin company lacks);
    its data notes go on the orders' LoadedTable (``notes``), an inferred table gets its own entry."""
    if "orders" not in loaded:
        return
    frames, notes = complete_frames({n: lt.frame for n, lt in loaded.items()}, params.data.order_lead_time_days,
                                    {n: set(lt.headers) for n, lt in loaded.items()})
    for name, frame in frames.items():
        if name in loaded:
            loaded[name].frame = frame
        else:
            loaded[name] = LoadedTable(name, frame, f"inferred from {loaded['orders'].origin}", rows=len(frame),
                                       headers={c: c for c in frame.columns})
    loaded["orders"].notes = notes


def data_notes(tables: dict[str, LoadedTable]) -> list[str]:
    """Every data note of a load, in table order."""
    return [n for lt in tables.values() for n in lt.notes]


#: The tables that date the data (:func:`data_as_of`), loaded by every run, ``--only`` too.
AS_OF_TABLES = ("orders", "shipments", "invoices")


def data_as_of(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The data's as-of date: the latest order, shipment or invoice date present."""
    dates = []
    for name, col in zip(AS_OF_TABLES, ("order_date", "ship_date", "invoice_date")):
        if name in tables and len(tables[name]):
            dates.append(tables[name][col].max())
    dates = [d for d in dates if pd.notna(d)]
    if not dates:
        raise DataError([Problem("orders", "orders", "no dated orders, shipments or invoices: cannot tell the data's week")])
    return max(dates)
