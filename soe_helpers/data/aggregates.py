"""The aggregated canonical layer: heavy aggregation runs where the data lives, defined once in SQL.

Notebooks read these small frames (``wk.table("booked_weekly")``) instead of millions of order
lines. Each aggregate is one SQL text below, rendered for the engine that runs it:

- **DuckDB** (embedded) over the run's validated Parquet snapshot (``<run_dir>/data/*.parquet``),
  or over pandas frames in interactive use — always computed: it is the reference;
- **the source database** (push-down): when every table an aggregate reads comes from a SQL query
  on the same ``url_env``, the configured queries are wrapped as subqueries with the column mapping
  applied (``query column AS canonical``), grouped there, and only the aggregated rows are fetched.
  The result must tie out with DuckDB's over the validated snapshot (per week: units and money to
  the cent and the row count; then row by row at the aggregate's grain) or the run stops
  (:class:`TieOutError`); when it ties out it is the one published.

Week bucketing: ``date_trunc('week', d)`` (the ISO Monday) on PostgreSQL and DuckDB, converted to
the ISO label ``YYYY-Www`` in pandas; other dialects group by day (portable) and are bucketed in
pandas.

The aggregates (grain; units; sign)
-----------------------------------
``booked_weekly``
    One row per ISO week of ``order_date`` x ``sku`` x ``customer_id``: ``units`` (ordered units),
    ``value`` (sum of quantity x the line's net ``unit_price``, company currency) and ``lines``
    (order lines). Cancelled lines (status ``cancelled``, any case) are excluded; a missing status
    is open. All measures >= 0.
``shipped_weekly``
    One row per ISO week of ``ship_date`` x ``sku`` x ``customer_id`` (the order line's):
    ``units`` (shipped units), ``revenue`` (shipped units x the order line's ``unit_price``,
    company currency, recognised at shipment) and ``lines`` (shipment lines; a line shipped in two
    parts counts twice). Shipments are inner-joined to orders on ``order_id`` + ``line``; cancelled
    order lines are not excluded (what shipped, shipped). All measures >= 0.
``ar_ageing``
    Open receivables as of ``as_of`` (the run week's Sunday) per ``customer_id`` x ``bucket`` of
    days past due (``as_of - due_date``): ``current`` (not yet due, <= 0 days), ``1-30``, ``31-60``,
    ``61-90``, ``over 90``. An invoice is open when issued on or before ``as_of`` and not paid by
    it: its open amount is ``amount`` minus what was paid on or before ``as_of`` (``paid_amount``,
    or the whole amount when a paid date has no amount), and it is listed when that is not zero
    (a partial payment leaves the rest open). ``amount`` in company currency, positive = owed to us
    (credit notes negative); ``invoices`` = count. The buckets sum to
    :func:`soe_helpers.analysis.kpis.ar_balance` at ``as_of``.
``order_history``
    One row over all order lines (cancelled included): ``first_order_date``, ``last_order_date``,
    ``order_lines``, ``cancelled_lines`` — what the weekly grain loses (the forecast error's
    history starts at the first complete week after ``first_order_date``).

Example:
    >>> aggs = from_frames(orders=orders, shipments=shipments)   # doctest: +SKIP
    >>> aggs["booked_weekly"].columns.tolist()                   # doctest: +SKIP
    ['week', 'sku', 'customer_id', 'units', 'value', 'lines']
"""
from __future__ import annotations

import datetime as dt
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import to_week
from soe_helpers.core.secrets import redact, url_secrets
from soe_helpers.data.loaders import _as_text, _engine_with_timeout, _watchdog

__all__ = ["Aggregate", "AGGREGATES", "BUCKETS", "TieOutError", "PushdownError", "compute", "from_frames",
           "compute_files", "pushdown_plan", "compute_pushdown", "tie_out", "build", "strip_order_by"]

#: Ageing buckets, in order (days past due).
BUCKETS = ("current", "1-30", "31-60", "61-90", "over 90")


class TieOutError(ValueError):
    """A pushed-down aggregate differs from the same aggregate over the validated snapshot."""


class PushdownError(RuntimeError):
    """The source database could not run an aggregate (one line, no URL)."""


@dataclass(frozen=True)
class Aggregate:
    name: str
    sources: dict[str, tuple[str, ...]]  # canonical table -> canonical columns read
    sql: str                             # template, see _render
    keys: tuple[str, ...]                # grain of the finished frame
    measures: tuple[str, ...]
    money: tuple[str, ...] = ()
    weekly: bool = False                 # has a `period` column bucketed to `week`


# The one definition of each aggregate. Placeholders: {orders} {shipments} {invoices} (relations
# with canonical column names), {week:EXPR} (week bucket), {date:EXPR}, {float}, {text}, {sum},
# {p:NAME} (a bound parameter).
_BOOKED = """
select {week:o.order_date} as period, o.sku as sku, o.customer_id as customer_id,
       {sum}(cast(o.quantity as {float})) as units,
       {sum}(cast(o.quantity as {float}) * cast(o.unit_price as {float})) as value,
       count(*) as lines
from {orders} o
where coalesce(lower(trim(cast(o.status as {text}))), '') <> 'cancelled'
group by {week:o.order_date}, o.sku, o.customer_id
"""

_SHIPPED = """
select {week:s.ship_date} as period, o.sku as sku, o.customer_id as customer_id,
       {sum}(cast(s.quantity as {float})) as units,
       {sum}(cast(s.quantity as {float}) * cast(o.unit_price as {float})) as revenue,
       count(*) as lines
from {shipments} s
join {orders} o on s.order_id = o.order_id and s.line = o.line
group by {week:s.ship_date}, o.sku, o.customer_id
"""

_AR = """
select x.customer_id as customer_id, x.bucket as bucket, {sum}(x.open_amount) as amount, count(*) as invoices
from (
  select i.customer_id as customer_id,
         case when {date:i.due_date} >= {p:d0} then 'current'
              when {date:i.due_date} >= {p:d30} then '1-30'
              when {date:i.due_date} >= {p:d60} then '31-60'
              when {date:i.due_date} >= {p:d90} then '61-90'
              else 'over 90' end as bucket,
         cast(i.amount as {float})
           - case when {date:i.paid_date} <= {p:d0} then cast(coalesce(i.paid_amount, i.amount) as {float})
                  else 0 end as open_amount
  from {invoices} i
  where {date:i.invoice_date} <= {p:d0}
) x
where x.open_amount <> 0
group by x.customer_id, x.bucket
"""

_HISTORY = """
select min({date:o.order_date}) as first_order_date, max({date:o.order_date}) as last_order_date,
       count(*) as order_lines,
       sum(case when coalesce(lower(trim(cast(o.status as {text}))), '') = 'cancelled' then 1 else 0 end)
         as cancelled_lines
from {orders} o
"""

_ORDER_COLS = ("order_id", "line", "order_date", "customer_id", "sku", "quantity", "unit_price", "status")
AGGREGATES: dict[str, Aggregate] = {a.name: a for a in [
    Aggregate("booked_weekly", {"orders": _ORDER_COLS}, _BOOKED, ("week", "sku", "customer_id"),
              ("units", "value", "lines"), ("value",), weekly=True),
    Aggregate("shipped_weekly", {"shipments": ("order_id", "line", "ship_date", "quantity"), "orders": _ORDER_COLS},
              _SHIPPED, ("week", "sku", "customer_id"), ("units", "revenue", "lines"), ("revenue",), weekly=True),
    Aggregate("ar_ageing", {"invoices": ("customer_id", "invoice_date", "due_date", "amount", "paid_date",
                                         "paid_amount")},
              _AR, ("customer_id", "bucket"), ("amount", "invoices"), ("amount",)),
    Aggregate("order_history", {"orders": _ORDER_COLS}, _HISTORY, (),
              ("first_order_date", "last_order_date", "order_lines", "cancelled_lines")),
]}

_KINDS = {  # canonical column -> kind, for typed NULLs where a source lacks an optional column
    "order_date": "date", "ship_date": "date", "invoice_date": "date", "due_date": "date", "paid_date": "date",
    "quantity": "float", "unit_price": "float", "amount": "float", "paid_amount": "float", "line": "int",
}


# ---------------------------------------------------------------- rendering


@dataclass
class _Flavor:
    """How one engine spells the template's pieces."""

    name: str                       # "duckdb", "postgresql", "sqlite", ...
    float_type: str
    text_type: str
    date_type: str
    int_type: str
    param_style: str                # ":" (SQLAlchemy text) or "$" (DuckDB)
    quote: Callable[[str], str]

    @property
    def weekly(self) -> bool:
        return self.name in ("postgresql", "duckdb")

    @property
    def sum(self) -> str:
        return "fsum" if self.name == "duckdb" else "sum"   # DuckDB: compensated sum, like pandas'

    def date(self, expr: str) -> str:
        return f"date({expr})" if self.name == "sqlite" else f"cast({expr} as {self.date_type})"

    def week(self, expr: str) -> str:
        return f"date_trunc('week', {self.date(expr)})" if self.weekly else self.date(expr)

    def null(self, col: str) -> str:
        t = {"date": self.date_type, "float": self.float_type, "int": self.int_type}.get(_KINDS.get(col, ""),
                                                                                           self.text_type)
        return f"cast(null as {t})"


def _duckdb_flavor() -> _Flavor:
    return _Flavor("duckdb", "DOUBLE", "VARCHAR", "DATE", "BIGINT", "$", lambda s: '"' + s.replace('"', '""') + '"')


def _sa_flavor(engine) -> _Flavor:
    import sqlalchemy as sa

    d = engine.dialect
    comp = lambda t: t.compile(dialect=d)  # noqa: E731
    return _Flavor(d.name, comp(sa.Float(precision=53)) if d.name == "postgresql" else comp(sa.Float()),
                   comp(sa.String(4000)) if d.name not in ("postgresql", "sqlite") else comp(sa.String()),
                   comp(sa.Date()), comp(sa.BigInteger()), ":", d.identifier_preparer.quote)


def _relation(table: str, cols: tuple[str, ...], base: str, have: Mapping[str, str], fl: _Flavor) -> str:
    """``(select <source col> as <canonical>, ... from <base>) `` with typed NULLs for absent columns."""
    parts = []
    for c in cols:
        if c in have:
            parts.append(f"src.{fl.quote(have[c])} as {c}")
        else:
            parts.append(f"{fl.null(c)} as {c}")
    return f"(select {', '.join(parts)} from {base} src)"


def _render(agg: Aggregate, relations: Mapping[str, str], fl: _Flavor) -> str:
    sql = agg.sql
    sql = re.sub(r"\{week:([^}]+)\}", lambda m: fl.week(m.group(1)), sql)
    sql = re.sub(r"\{date:([^}]+)\}", lambda m: fl.date(m.group(1)), sql)
    sql = re.sub(r"\{p:(\w+)\}", lambda m: f"{fl.param_style}{m.group(1)}", sql)
    for k, v in {"float": fl.float_type, "text": fl.text_type, "sum": fl.sum, **relations}.items():
        sql = sql.replace("{" + k + "}", v)
    return sql


def _params(agg: Aggregate, as_of, fl: _Flavor) -> dict:
    if "{p:" not in agg.sql:
        return {}
    if as_of is None:
        raise ValueError(f"{agg.name} needs an as-of date")
    d = pd.Timestamp(as_of).normalize().date()
    out = {f"d{n}": d - dt.timedelta(days=n) for n in (0, 30, 60, 90)}
    if fl.name == "sqlite":  # dates are ISO text there
        out = {k: v.isoformat() for k, v in out.items()}
    return out


# ---------------------------------------------------------------- finishing (the same for every engine)


def _iso_weeks(period: pd.Series) -> pd.Series:
    return to_week(pd.to_datetime(period).dt.normalize())  # labels each distinct date once


def _finish(agg: Aggregate, raw: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Typed, bucketed, re-grouped and sorted: the same frame whichever engine produced ``raw``."""
    df = raw.copy()
    if agg.name == "order_history":
        out = pd.DataFrame({
            "first_order_date": pd.to_datetime(df["first_order_date"]).astype("datetime64[ns]"),
            "last_order_date": pd.to_datetime(df["last_order_date"]).astype("datetime64[ns]"),
            "order_lines": pd.to_numeric(df["order_lines"]).fillna(0).astype("int64"),
            "cancelled_lines": pd.to_numeric(df["cancelled_lines"]).fillna(0).astype("int64"),
        })
        return out.reset_index(drop=True)
    if agg.weekly:
        df["week"] = _iso_weeks(df["period"]) if len(df) else pd.Series(dtype=object)
        df = df.drop(columns=["period"])
    for k in agg.keys:
        if k != "week":  # keys as the loader reads them: stripped text (a database may give numbers)
            if not len(df):
                df[k] = df[k].astype(object)
            elif pd.api.types.infer_dtype(df[k], skipna=False) == "string":
                df[k] = df[k].str.strip()
            else:
                df[k] = _as_text(df[k])
    for m in agg.measures:
        if m in ("lines", "invoices"):
            df[m] = pd.to_numeric(df[m]).astype("int64")
        else:
            df[m] = pd.to_numeric(df[m]).astype("float64")
    if len(df):  # re-group: a day-grain result, or keys that differed only by blanks
        df = df.groupby(list(agg.keys), as_index=False, sort=False)[list(agg.measures)].sum()
    else:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in agg.keys} | {
            m: pd.Series(dtype="int64" if m in ("lines", "invoices") else "float64") for m in agg.measures})
    if agg.name == "ar_ageing":
        order = {b: i for i, b in enumerate(BUCKETS)}
        df = df.assign(_b=df["bucket"].map(order)).sort_values(["customer_id", "_b"], kind="stable").drop(
            columns=["_b"])
        df.insert(0, "as_of", pd.Timestamp(as_of).normalize() if as_of is not None else pd.NaT)
        df["as_of"] = df["as_of"].astype("datetime64[ns]")
    else:
        df = df.sort_values(list(agg.keys), kind="stable")
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- DuckDB (embedded)


def compute(tables: Mapping[str, "pd.DataFrame | str | Path"], as_of=None,
            names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The aggregates computed by DuckDB over ``tables`` (canonical name -> frame or Parquet path).

    Aggregates whose source tables are not all given are skipped (``names`` restricts further).
    ``as_of`` (a date) is required for ``ar_ageing``. Returns name -> finished frame.
    """
    import duckdb

    fl = _duckdb_flavor()
    con = duckdb.connect()
    try:
        relations, have = {}, {}
        for t, src in tables.items():
            if isinstance(src, pd.DataFrame):
                con.register(f"src_{t}", src)
                base, cols = f"src_{t}", list(src.columns)
            else:
                import pyarrow.parquet as pq

                p = str(Path(src)).replace("'", "''")
                base, cols = f"read_parquet('{p}')", list(pq.read_schema(src).names)
            have[t] = {c: c for c in cols}
            relations[t] = base
        out = {}
        for name, agg in AGGREGATES.items():
            if (names and name not in names) or not set(agg.sources) <= set(tables):
                continue
            if "{p:" in agg.sql and as_of is None:
                continue
            rel = {t: _relation(t, cols, relations[t], have[t], fl) for t, cols in agg.sources.items()}
            raw = con.execute(_render(agg, rel, fl), _params(agg, as_of, fl)).df()
            out[name] = _finish(agg, raw, as_of)
        return out
    finally:
        con.close()


def from_frames(orders: pd.DataFrame | None = None, shipments: pd.DataFrame | None = None,
                invoices: pd.DataFrame | None = None, as_of=None) -> dict[str, pd.DataFrame]:
    """:func:`compute` over canonical frames (tests, interactive use): every aggregate they allow."""
    tables = {k: v for k, v in (("orders", orders), ("shipments", shipments), ("invoices", invoices))
              if v is not None}
    return compute(tables, as_of)


def compute_files(data_dir: str | Path, as_of=None, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """:func:`compute` over the validated Parquet snapshot in ``data_dir`` (``<name>.parquet``)."""
    data_dir = Path(data_dir)
    tables = {t: data_dir / f"{t}.parquet" for t in {t for a in AGGREGATES.values() for t in a.sources}
              if (data_dir / f"{t}.parquet").exists()}
    return compute(tables, as_of, names)


# ---------------------------------------------------------------- push-down


def strip_order_by(query: str) -> str:
    """The query without a trailing top-level ``ORDER BY`` (useless in a subquery; refused by some
    dialects). Left as it is when the ORDER BY is followed by LIMIT/OFFSET/FETCH/TOP or parentheses."""
    q = query.strip().rstrip(";").rstrip()
    found = list(re.finditer(r"\border\s+by\b", q, re.I))
    if not found:
        return q
    m = found[-1]
    head, tail = q[: m.start()], q[m.end():]
    if head.count("(") != head.count(")") or "(" in tail or ")" in tail or \
            re.search(r"\b(limit|offset|fetch|top)\b", tail, re.I):
        return q
    return head.rstrip()


def pushdown_plan(params, headers: Mapping[str, Mapping[str, str]]) -> dict[str, dict]:
    """Which aggregates can run on a source database: name -> {"url_env", "sources": {table: (query, headers)}}.

    An aggregate is pushed down when every table it reads is a SQL query on the same ``url_env``.
    ``headers`` maps each table to the load's canonical -> query column mapping
    (:attr:`soe_helpers.data.loaders.LoadedTable.headers`).
    """
    plan = {}
    srcs = params.data.sources
    for name, agg in AGGREGATES.items():
        ss = [srcs.get(t) for t in agg.sources]
        if any(s is None or not s.query for s in ss):
            continue
        if any(set(s.constants) & set(agg.sources[t]) for t, s in zip(agg.sources, ss)):
            continue  # a column mapped to a constant is not in the query: DuckDB over the snapshot has it
        envs = {s.url_env for s in ss}
        if len(envs) != 1:
            continue
        plan[name] = {"url_env": envs.pop(), "timeout_seconds": getattr(params.data, "query_timeout_seconds", None),
                      "sources": {t: (srcs[t].query, dict(headers.get(t, {}))) for t in agg.sources}}
    return plan


def compute_pushdown(name: str, entry: dict, as_of=None) -> tuple[pd.DataFrame, str]:
    """Run aggregate ``name`` on its source database (see :func:`pushdown_plan`). Returns (frame, dialect).

    Raises PushdownError (one line, the URL never shown) when the database refuses it.
    """
    import sqlalchemy as sa

    agg = AGGREGATES[name]
    env = entry["url_env"]
    url = os.environ.get(env or "")
    if not url:
        raise PushdownError(f"environment variable {env} is not set")

    timeout, timer = entry.get("timeout_seconds"), None
    try:
        engine = _engine_with_timeout(sa, url, timeout)  # the same time limit as the source queries
        try:
            fl = _sa_flavor(engine)
            rel = {t: _relation(t, agg.sources[t], f"({strip_order_by(q)})", h, fl)
                   for t, (q, h) in entry["sources"].items()}
            sql = _render(agg, rel, fl)
            with engine.connect() as conn:
                timer = _watchdog(conn, timeout)
                res = conn.execute(sa.text(sql), _params(agg, as_of, fl))
                cols = list(res.keys())  # plain tuples: pandas builds a frame from Row objects ~5x slower
                raw = pd.DataFrame.from_records([tuple(r) for r in res.fetchall()], columns=cols)
        finally:
            if timer is not None:
                timer.cancel()
            engine.dispose()
    except Exception as e:  # noqa: BLE001 - one line for the analyst, never the URL
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PushdownError(f"{type(e).__name__}: {redact(msg.replace(url, '<url>'), url_secrets(url))}") from None
    from decimal import Decimal

    for c in raw.columns:  # NUMERIC sums arrive as Decimal
        if raw[c].dtype == object and raw[c].map(lambda v: isinstance(v, Decimal)).any():
            raw[c] = raw[c].map(lambda v: float(v) if isinstance(v, Decimal) else v)
    return _finish(agg, raw, as_of), fl.name


# ---------------------------------------------------------------- tie-out


def tie_out(name: str, pushed: pd.DataFrame, local: pd.DataFrame, engine: str = "the source database",
            tolerance: float = 0.005) -> list[str]:
    """Differences between a pushed-down aggregate and the same aggregate over the snapshot.

    Compared per week (weekly aggregates), per ageing bucket (``ar_ageing``) or as a whole
    (``order_history``): every measure to within ``tolerance`` (a cent; units likewise) and the
    number of rows; then, for a week (bucket) whose totals tie, row by row at the aggregate's grain
    (rows moved between SKUs or customers). Returns one line per difference naming table, column,
    week and the difference (pushed - snapshot); empty when they tie out.
    """
    agg = AGGREGATES[name]
    problems = []
    if name == "order_history":
        for c in agg.measures:
            a, b = pushed[c].iloc[0] if len(pushed) else None, local[c].iloc[0] if len(local) else None
            if not (a == b or (pd.isna(a) and pd.isna(b))):
                problems.append(f"{name}: column {c}: {engine} {a} vs the snapshot {b}")
        return problems
    by = "week" if agg.weekly else "bucket"

    def per(df):
        g = df.groupby(by)[list(agg.measures)].sum()
        g["rows"] = df.groupby(by).size()
        return g

    def off(va, vb, c):
        return (va != vb) if c in ("rows", "lines", "invoices") else (abs(va - vb) >= tolerance)

    def fmt(v, c):
        return f"{v:,.0f}" if c in ("rows", "lines", "invoices") else f"{v:,.2f}"

    a, b = per(pushed), per(local)
    both = a.add_suffix("_pushed").join(b.add_suffix("_snapshot"), how="outer").fillna(0)
    flagged = set()
    for key in sorted(both.index):
        for c in (*agg.measures, "rows"):
            va, vb = float(both.loc[key, f"{c}_pushed"]), float(both.loc[key, f"{c}_snapshot"])
            if off(va, vb, c):
                flagged.add(key)
                problems.append(f"{name}: column {c}, {by} {key}: {engine} {fmt(va, c)} vs the snapshot "
                                f"{fmt(vb, c)} (difference {va - vb:+,.2f})")
    # Totals per week can tie while rows moved between keys (a SKU or customer read differently): check the grain.
    keys = list(agg.keys)
    full = pushed.merge(local, on=keys, how="outer", suffixes=("_pushed", "_snapshot"), indicator=True)
    for c in agg.measures:
        x = full[f"{c}_pushed"] = full[f"{c}_pushed"].fillna(0).astype(float)
        y = full[f"{c}_snapshot"] = full[f"{c}_snapshot"].fillna(0).astype(float)
        full[f"_off_{c}"] = (x != y) if c in ("lines", "invoices") else ((x - y).abs() >= tolerance)
    full = full[full[[f"_off_{c}" for c in agg.measures]].any(axis=1)]
    for key, g in full.groupby(by, sort=True):
        if key in flagged:
            continue
        for c in agg.measures:
            bad = g[g[f"_off_{c}"]]
            if len(bad):
                r = bad.iloc[0]
                where = ", ".join(f"{k} {r[k]}" for k in keys if k != by)
                problems.append(f"{name}: column {c}, {by} {key}: {len(bad)} row(s) differ at the "
                                f"{' x '.join(keys)} grain, e.g. {where}: {engine} {fmt(float(r[f'{c}_pushed']), c)} "
                                f"vs the snapshot {fmt(float(r[f'{c}_snapshot']), c)} "
                                f"(difference {float(r[f'{c}_pushed']) - float(r[f'{c}_snapshot']):+,.2f})")
                break
    return problems


# ---------------------------------------------------------------- the runner's step


def build(data_dir: str | Path, params, headers: Mapping[str, Mapping[str, str]], as_of,
          progress: Callable[[str], None] = lambda m: None) -> dict[str, dict]:
    """Compute every aggregate for a run and write ``<data_dir>/<name>.parquet``.

    DuckDB over the snapshot always; on the source database too where :func:`pushdown_plan` allows,
    tied out against DuckDB's and used when it ties out. Nothing is written unless every aggregate
    ties out.

    Returns:
        name -> {"engine", "sources", "rows", "duckdb_seconds" (all aggregates together), "tie_out"
        [, "pushdown_seconds", "url_env", "pushdown_error"]} for the manifest.
    Raises:
        TieOutError: naming table, column, week and difference of every mismatch.
    """
    data_dir = Path(data_dir)
    t0 = time.perf_counter()
    local = compute_files(data_dir, as_of)
    local_s = time.perf_counter() - t0
    plan = pushdown_plan(params, headers)
    chosen, info, problems = {}, {}, []
    for name, frame in local.items():
        agg = AGGREGATES[name]
        rec = {"engine": "duckdb", "sources": list(agg.sources), "duckdb_seconds": round(local_s, 3),
               "tie_out": None}
        chosen[name] = frame
        if name in plan:
            entry = plan[name]
            t1 = time.perf_counter()
            try:
                pushed, dialect = compute_pushdown(name, entry, as_of)
            except PushdownError as e:
                rec["pushdown_error"] = str(e)
                progress(f"Note: {name} could not run on the source database (${entry['url_env']}): {e}; "
                         "computed by DuckDB over the validated snapshot instead")
            else:
                rec["pushdown_seconds"] = round(time.perf_counter() - t1, 3)
                rec["url_env"] = entry["url_env"]
                diffs = tie_out(name, pushed, frame, dialect)
                if diffs:
                    problems += diffs
                    rec["tie_out"] = f"{len(diffs)} difference(s)"
                else:
                    rec["engine"] = dialect
                    how = ("exactly" if not agg.keys else
                           f"per {'week' if agg.weekly else 'bucket'} and per {' x '.join(agg.keys)}: "
                           f"{', '.join(agg.measures)} and rows")
                    rec["tie_out"] = f"ties out with DuckDB over the snapshot ({how})"
                    chosen[name] = pushed
        rec["rows"] = int(len(chosen[name]))
        info[name] = rec
    if problems:
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise TieOutError(
            f"aggregates computed on the source database do not tie out with the validated snapshot "
            f"({len(problems)} difference{'s' if len(problems) != 1 else ''}; no report was run): the source "
            "changed between the two reads, or the column mapping differs:\n"
            + "\n".join(f"  - {p}" for p in shown) + more)
    for name, frame in chosen.items():
        frame.to_parquet(data_dir / f"{name}.parquet", index=False)
    return info
