"""What a notebook opens first: the week, its params, its validated tables, and where to record.

In a weekly run the runner has already validated the inputs once and saved the
canonical tables as Parquet in the run folder; the notebook reads those. Opened
interactively in JupyterLab (no ``run_dir``), the same call loads and validates the
sources named in ``params/company.yaml`` and writes its exports to ``outputs/interactive/<week>/``,
so an analyst's notebook runs the same code path as the weekly pack; it reads the store but never
writes it (:attr:`Week.run_id` is None).

    >>> wk = open_week(week="", run_dir="")      # doctest: +SKIP
    >>> orders = wk.table("orders")              # doctest: +SKIP
    >>> wk.record("demand_reconciliation", landing_vs_plan=-812345.0)   # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soe_helpers.core import paths
from soe_helpers.core.calendar import FiscalCalendar, latest_complete_week, parse_week, week_end
from soe_helpers.core.params import Params, load_params, params_from_json

__all__ = ["Week", "open_week", "to_jsonable", "DATA_DIRNAME", "RESULTS_DIRNAME"]

DATA_DIRNAME = "data"
RESULTS_DIRNAME = "results"


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

    @property
    def run_id(self) -> str | None:
        """The weekly run this notebook belongs to (its folder's name), or None in an analyst's session.

        The one rule for the store: every writer takes this id, and None writes nothing (an analyst
        reads the store, never records in it); see :meth:`soe_helpers.store.engine.Store.write_mode`.
        """
        return None if self.interactive else self.run_dir.name

    @property
    def cal(self) -> FiscalCalendar:
        return FiscalCalendar(self.params.calendar.type)

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
        from soe_helpers.data import aggregates

        if name not in self._tables:
            pq = self.run_dir / DATA_DIRNAME / f"{name}.parquet"
            if pq.exists():
                self._tables[name] = pd.read_parquet(pq)
            elif name in aggregates.AGGREGATES:
                agg = aggregates.AGGREGATES[name]
                as_of = week_end(self.week) if self.week else None
                self._tables[name] = aggregates.compute({t: self.table(t) for t in agg.sources}, as_of,
                                                        [name])[name]
            elif not self.interactive:
                raise FileNotFoundError(f"{pq} is missing: the runner did not load table {name!r}")
            else:
                from soe_helpers.data.loaders import load_tables

                for n, lt in load_tables(self.params).items():
                    self._tables.setdefault(n, lt.frame)
        return self._tables[name]

    def record(self, section: str, **figures: Any) -> dict:
        """Record headline figures under ``section`` of the run's results.json (merged per section)."""
        d = self.run_dir / RESULTS_DIRNAME
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{section}.json"
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(to_jsonable(figures))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=2, sort_keys=True))
        tmp.replace(path)
        return current

    def artifact(self, filename: str) -> Path:
        """Path for a file exported beside the report (CSV, Excel ...)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir / filename

    def results(self) -> dict:
        """Everything recorded so far in this run (results/<section>.json merged)."""
        d = self.run_dir / RESULTS_DIRNAME
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
    elif run_dir and (Path(run_dir) / "params.json").exists():
        params = params_from_json(Path(run_dir) / "params.json")
    else:
        params = load_params()
    wk = Week(week or "", params, Path(run_dir) if run_dir else Path(), interactive)
    if run_dir:
        meta = Path(run_dir) / DATA_DIRNAME / "_meta.json"
        if meta.exists():
            wk.as_of = pd.Timestamp(json.loads(meta.read_text())["as_of"])
    if interactive or not week:
        from soe_helpers.data.loaders import data_as_of

        if wk.as_of is None:
            wk.as_of = pd.Timestamp(params.data.as_of) if params.data.as_of else data_as_of(
                {n: wk.table(n) for n in ("orders", "shipments", "invoices")})
        wk.week = week or latest_complete_week(wk.as_of)
    parse_week(wk.week)
    if interactive:
        wk.run_dir = paths.outputs_dir() / "interactive" / wk.week
        wk.run_dir.mkdir(parents=True, exist_ok=True)
    if wk.as_of is None:
        wk.as_of = week_end(wk.week)
    return wk
