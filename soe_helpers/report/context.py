"""What a notebook opens first: the week, its params, its validated tables, and where to record.

In a weekly run the runner has already validated the inputs once and saved the
canonical tables as Parquet in the run folder; the notebook reads those. Opened
interactively in JupyterLab (no ``run_dir``), the same call loads and validates the
sources named in ``params/company.yaml`` and writes its exports to ``outputs/interactive/<week>/``,
so an analyst's notebook runs the same code path as the weekly pack; it reads the store but never
writes it (:attr:`Week.run_id` is None).

    >>> wk = open_week(week="", run_dir="")      # doctest: +SKIP
    >>> orders = wk.table("orders")              # doctest: +SKIP
    >>> wk.record(records.reconciliation_record(rec, steps))   # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soe_helpers.core import run_folder
from soe_helpers.core.calendar import FiscalCalendar, latest_complete_week, parse_week, week_end
from soe_helpers.core.params import Params, load_params, params_from_json

__all__ = ["Week", "open_week", "to_jsonable", "DATA_DIRNAME", "RESULTS_DIRNAME", "TableNotProvided"]

DATA_DIRNAME = run_folder.DATA_DIRNAME  # the layout of a run folder belongs to core.run_folder
RESULTS_DIRNAME = run_folder.RESULTS_DIRNAME


class TableNotProvided(FileNotFoundError):
    """The company does not have this table (not in ``data.sources``, or ``file: null``)."""


def to_jsonable(v: Any) -> Any:
    """Plain JSON values from numpy/pandas scalars; NaN -> None."""
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) or math.isinf(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (pd.Timestamp,)):
        return v.isoformat()
    if v is pd.NA or v is pd.NaT:
        return None
    return v


@dataclass
class Week:
    week: str
    params: Params
    run_dir: Path
    interactive: bool
    as_of: pd.Timestamp | None = None
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _notes: list[str] | None = field(default=None, repr=False)
    _forecasts_read: bool = field(default=False, repr=False)

    @property
    def run_id(self) -> str | None:
        """The weekly run this notebook belongs to (its folder's name), or None in an analyst's session.

        The one rule for the store: every writer takes this id, and None writes nothing (an analyst
        reads the store, never records in it); see :meth:`soe_helpers.store.engine.Store.write_mode`.
        """
        return None if self.interactive else self.run_dir.name

    @property
    def cal(self) -> FiscalCalendar:
        return FiscalCalendar.from_params(self.params.calendar)

    @property
    def quarter(self) -> str:
        return self.cal.quarter_of(self.week)

    @property
    def company(self) -> str:
        return self.params.company.name

    def table(self, name: str) -> pd.DataFrame:
        """The validated canonical table ``name`` (a copy is not made: do not mutate it).

        Also the aggregates of :mod:`soe_helpers.data.aggregates` (``booked_weekly``, ``shipped_weekly``,
        ``ar_ageing`` as of the week's end, ``order_history``): read from the run folder, or computed
        by DuckDB from the tables when there is none (interactive use).
        """
        from soe_helpers.data import aggregates  # DuckDB: loaded only when a notebook reads a table

        if name not in self._tables:
            pq = run_folder.table_path(self.run_dir, name)
            if pq.exists():
                self._tables[name] = pd.read_parquet(pq)
            elif name in aggregates.AGGREGATES:
                agg = aggregates.AGGREGATES[name]
                as_of = week_end(self.week) if self.week else None
                self._tables[name] = aggregates.compute({t: self.table(t) for t in agg.sources}, as_of,
                                                        [name])[name]
            elif not self.interactive:
                if name in self.params.data.sources and not self.params.data.sources[name].absent:
                    raise FileNotFoundError(f"{pq} is missing: the runner did not load table {name!r}")
                raise TableNotProvided(f"table {name!r} is not provided: this company's params have no source for it")
            elif self._notes is not None:  # loaded once already: the company has no such table
                raise TableNotProvided(f"table {name!r} is not provided: this company's params have no "
                                       "source for it (or its optional export is not there)")
            else:
                from soe_helpers.data.loaders import data_notes, load_tables  # interactive use only (start-up cost)

                loaded = load_tables(self.params)
                for n, lt in loaded.items():
                    self._tables.setdefault(n, lt.frame)
                self._notes = data_notes(loaded)
                if name not in self._tables:
                    raise TableNotProvided(f"table {name!r} is not provided: this company's params have no "
                                           "source for it (or its optional export is not there)")
        if name == "forecasts" and self.interactive and self.week and not self._forecasts_read:
            self._tables[name] = self._forecasts_with_history(self._tables[name])
            self._forecasts_read = True
        return self._tables[name]

    def optional(self, name: str) -> pd.DataFrame | None:
        """The table ``name``, or None when the company's exports do not hold it (no source, or an aggregate of a
        table not given): the report then says what it cannot show instead of failing."""
        try:
            return self.table(name)
        except TableNotProvided:
            return None

    @property
    def data_notes(self) -> list[str]:
        """What the load inferred for this company's data (:mod:`soe_helpers.data.completion`): one sentence
        each, for the report's data notes (recorded by the runner; made by the load in an analyst's session)."""
        if self._notes is None:
            meta = run_folder.meta_path(self.run_dir)
            if not self.interactive and meta.exists():
                self._notes = list(json.loads(meta.read_text()).get("data_notes", []))
            else:
                self.table("orders")  # an analyst's session: the load records them
                self._notes = self._notes or []
        return self._notes

    def has(self, name: str) -> bool:
        """Whether the company provided canonical table ``name`` (or an aggregate's source tables)."""
        try:
            self.table(name)
        except FileNotFoundError:  # TableNotProvided, or an optional overlap export whose file was not there
            return False
        return True

    def table_or_empty(self, name: str) -> pd.DataFrame:
        """:meth:`table`, or an empty frame of the table's canonical columns and types when the company does not
        have it (an optional input the report's needs declare: :mod:`soe_helpers.data.needs`). An aggregate whose
        source tables are absent is computed over empty ones."""
        try:
            return self.table(name)
        except FileNotFoundError:  # TableNotProvided, or an optional overlap export whose file was not there
            pass
        from soe_helpers.data import aggregates  # DuckDB: loaded only when a notebook reads a table
        from soe_helpers.data.loaders import empty_table  # the loader's typing rule, for an empty frame

        if name in aggregates.AGGREGATES:
            agg = aggregates.AGGREGATES[name]
            as_of = week_end(self.week) if self.week else None
            return aggregates.compute({t: self.table_or_empty(t) for t in agg.sources}, as_of, [name])[name]
        return empty_table(name)

    def _forecasts_with_history(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """In an analyst's session, the forecasts as the weekly run gives them: the export (stamped with the
        data's week when it has no snapshot weeks) and the snapshots the runs kept in the store; read only."""
        from soe_helpers.store import history  # interactive use only (start-up cost)
        from soe_helpers.store.engine import StoreError, open_store  # interactive use only (start-up cost)

        current = latest_complete_week(self.as_of) if self.as_of is not None else self.week
        try:
            store = open_store(self.params)
        except (StoreError, OSError):  # no store to read: the export alone, stamped
            from soe_helpers.analysis.forecast_history import stamp_current  # interactive use only (start-up cost)

            return stamp_current(forecasts, current)[0]
        return history.forecasts_for_run(store, forecasts, self.week, current, None)[0]

    def record(self, record: Any, **figures: Any) -> dict:
        """Record a report's figures in the run's ``results/<section>.json`` (merged per section).

        ``record`` is a typed record of :mod:`soe_helpers.report.records` (its ``SECTION`` names the
        file), e.g. ``wk.record(records.reconciliation_record(rec, steps))``; a section name with
        ``figures`` as keywords still records an ad-hoc section (test fixtures, a company's own report).
        """
        if isinstance(record, str):
            section, values = record, to_jsonable(figures)
        else:  # a records.Record: duck-typed, as records imports this module
            if figures:
                raise TypeError(f"Week.record({type(record).__name__}(...)) takes no keyword figures: "
                                f"put {sorted(figures)} in the record")
            section, values = record.SECTION, record.figures()
        path = run_folder.section_path(self.run_dir, section)
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(values)
        run_folder.write_atomic(path, json.dumps(current, indent=2, sort_keys=True))
        return current

    def artifact(self, filename: str) -> Path:
        """Path for a file exported beside the report (CSV, Excel ...)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return run_folder.export_path(self.run_dir, filename)

    def results(self) -> dict:
        """Everything recorded so far in this run (results/<section>.json merged)."""
        d = self.run_dir / run_folder.RESULTS_DIRNAME
        return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))} if d.exists() else {}


def open_week(week: str = "", run_dir: str = "", params_path: str = "") -> Week:
    """Open a week for a notebook.

    Args:
        week: ISO week ``YYYY-Www``; empty = the latest complete week of the data.
        run_dir: the run folder the runner passes; empty = interactive use.
        params_path: resolved params JSON; empty = ``<run_dir>/params.json`` or ``params/company.yaml``.
    """
    interactive = not run_dir
    if params_path:
        params = params_from_json(params_path) if str(params_path).endswith(".json") else load_params([params_path])
    elif run_dir and run_folder.params_path(Path(run_dir)).exists():
        params = params_from_json(run_folder.params_path(Path(run_dir)))
    else:
        params = load_params()
    wk = Week(week or "", params, Path(run_dir) if run_dir else Path(), interactive)
    if run_dir:
        meta = run_folder.meta_path(Path(run_dir))
        if meta.exists():
            wk.as_of = pd.Timestamp(json.loads(meta.read_text())["as_of"])
    if interactive or not week:
        from soe_helpers.data.loaders import data_as_of  # interactive use only (start-up cost)

        if wk.as_of is None:
            wk.as_of = pd.Timestamp(params.data.as_of) if params.data.as_of else data_as_of(
                {n: t for n in ("orders", "shipments", "invoices") if (t := wk.optional(n)) is not None})
        wk.week = week or latest_complete_week(wk.as_of)
    parse_week(wk.week)
    if interactive:
        wk.run_dir = run_folder.interactive_dir(wk.week, params.outputs_dir())
        wk.run_dir.mkdir(parents=True, exist_ok=True)
    if wk.as_of is None:
        wk.as_of = week_end(wk.week)
    return wk
