"""S&OE notebook suite for finance teams: all the logic the notebooks call.

Modules: ``schemas`` (the data contract), ``loaders`` (read + validate sources),
``params`` (company settings), ``calendar`` (ISO / 4-4-5 weeks and quarters),
``store`` (week-over-week database), ``context`` (what a notebook opens),
``runner`` (the weekly run), ``aggregates`` (the aggregated layer: DuckDB or push-down
to the source database), ``reconcile`` (demand reconciliation), ``report`` and
``plots`` (display), ``demo`` (the built-in demo company), ``cli`` (``soe``).
"""
__version__ = "0.1.0"
