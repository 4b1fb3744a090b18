"""Every table of the store, declared in one place on one :data:`metadata`.

Readers and writers sit beside them: :mod:`soe_helpers.store.engine` (runs, recorded figures, the
transaction that finishes a run), :mod:`soe_helpers.store.history` (KPI, data-accuracy and cash
history, forecast snapshots), :mod:`soe_helpers.store.actions` (the action tracker); ``soe_sends`` is written by
:mod:`soe_helpers.deliver.send`.

Writes a notebook makes during a weekly run are held in ``soe_pending_writes`` under the run's id
and take effect only in the transaction that records the run as ok (see :mod:`soe_helpers.store.history`).
"""
from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "runs", "results", "pending_writes", "kpi_history", "accuracy_history", "cash_events_t",
           "cash_forecast_t", "forecast_snapshots", "ets_fits_t", "actions", "action_history", "sightings", "sends"]

metadata = sa.MetaData()

# ---------------------------------------------------------------- runs and their recorded figures

runs = sa.Table(
    "soe_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed | aborted
    sa.Column("run_dir", sa.Text),
    sa.Column("summary", sa.Text),  # JSON: per-notebook status and error lines
)

results = sa.Table(
    "soe_results",
    metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("section", sa.String(64), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("value", sa.Text),  # JSON
    sa.PrimaryKeyConstraint("week", "section", "key"),
)

#: a running run's writes, applied when the run finishes ok and dropped otherwise
pending_writes = sa.Table(
    "soe_pending_writes",
    metadata,
    sa.Column("write_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # week_rows | action_sync
    sa.Column("table_name", sa.String(64), nullable=False),
    sa.Column("week", sa.String(8), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON: the rows, or the tracker sync's inputs
    sa.Column("written_at", sa.DateTime, nullable=False),
)

# ---------------------------------------------------------------- week-keyed history

kpi_history = sa.Table(
    "soe_kpi_history",
    metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("kpi", sa.String(48), nullable=False),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("target", sa.Float),
    sa.Column("status", sa.String(8)),
    sa.Column("run_id", sa.String(64)),
    sa.PrimaryKeyConstraint("week", "kpi", "period"),
)

accuracy_history = sa.Table(
    "soe_data_accuracy_history",
    metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("source", sa.String(32), nullable=False),  # a system, or "overall"
    sa.Column("score", sa.Float),
    sa.Column("checks", sa.Integer),
    sa.Column("failed", sa.Integer),
    sa.Column("run_id", sa.String(64)),
    sa.PrimaryKeyConstraint("week", "source"),
)

cash_events_t = sa.Table(
    "soe_cash_events", metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("dollars_at_stake", sa.Float),
    sa.Column("pnl_impact_quarter", sa.Float),
    sa.Column("cash_impact_13w", sa.Float),
    sa.Column("material", sa.Boolean),
    sa.Column("sentence", sa.Text),
    sa.PrimaryKeyConstraint("week", "event_id"),
)

cash_forecast_t = sa.Table(
    "soe_cash_forecast", metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("scenario", sa.String(128), nullable=False),
    sa.Column("forecast_week", sa.String(8), nullable=False),
    sa.Column("opening_cash", sa.Float),
    sa.Column("receipts", sa.Float),
    sa.Column("payments", sa.Float),
    sa.Column("closing_cash", sa.Float),
    sa.PrimaryKeyConstraint("week", "scenario", "forecast_week"),
)

#: each week's forecast snapshot as a run read it (``week`` = the snapshot week): a company exporting only its
#: current forecast builds its forecast history here (soe_helpers.analysis.forecast_history)
forecast_snapshots = sa.Table(
    "soe_forecast_snapshots", metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("target_week", sa.String(8), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("quantity", sa.Float, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.PrimaryKeyConstraint("week", "target_week", "sku"),
)

#: the statistical baseline's fits a run used (``week`` = the run's week): per series and calibration, the form kept
#: and the smoothing parameters and initial states estimated on data up to the calibration week. The next week's
#: run keeps them until they are ``forecast_feedback.ets_refit_weeks`` old (soe_helpers.analysis.baselines.ets)
ets_fits_t = sa.Table(
    "soe_ets_fits", metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("level", sa.String(16), nullable=False),  # sku | product_line
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("calibration_week", sa.String(8), nullable=False),
    sa.Column("start_week", sa.String(8)),  # the series' first week with demand the fit started from ("" = none)
    sa.Column("form", sa.String(16)),  # the form chosen at the series' first calibration with enough history
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("weeks", sa.Integer),
    sa.Column("alpha", sa.Float), sa.Column("beta", sa.Float), sa.Column("gamma", sa.Float), sa.Column("phi", sa.Float),
    sa.Column("initial_level", sa.Float), sa.Column("initial_trend", sa.Float),
    sa.Column("initial_seasons", sa.Text),  # JSON list (Holt-Winters), empty otherwise
    sa.Column("aicc", sa.Float),
    sa.Column("converged", sa.Boolean),
    sa.Column("note", sa.Text),
    sa.Column("estimated_week", sa.String(8)),  # the run week that estimated these parameters
    sa.Column("run_id", sa.String(64)),
    sa.PrimaryKeyConstraint("week", "level", "key", "calibration_week"),
)

# ---------------------------------------------------------------- the action tracker

actions = sa.Table(
    "soe_actions",
    metadata,
    sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_key", sa.String(255), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("opened_week", sa.String(8), nullable=False),
    sa.Column("source_type", sa.String(24), nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("sentence", sa.Text),
    sa.Column("dollars_at_stake", sa.Float),
    sa.Column("escalation_level", sa.String(60)),
    sa.Column("notes", sa.Text),
    sa.Column("weeks_resurfaced", sa.Integer, nullable=False, default=0),
    sa.Column("first_seen_week", sa.String(8)),
    sa.Column("last_seen_week", sa.String(8)),
    sa.Column("attributes", sa.Text),  # JSON: product_line, region, sku, customer_id, supplier_id, system, type
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime),
    sa.Column("version", sa.Integer, nullable=False, default=1),
)

action_history = sa.Table(
    "soe_action_history",
    metadata,
    sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action_id", sa.Integer, nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("week", sa.String(8)),
    sa.Column("source", sa.String(16), nullable=False),  # run | cli | import
    sa.Column("actor", sa.String(120)),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("version", sa.Integer),
)

sightings = sa.Table(
    "soe_action_sightings",
    metadata,
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("issue_key", sa.String(255), nullable=False),
    sa.Column("action_id", sa.Integer),
    sa.Column("dollars_at_stake", sa.Float),
    sa.Column("sentence", sa.Text),
    sa.Column("source_type", sa.String(24)),
    sa.Column("run_id", sa.String(64)),
    sa.PrimaryKeyConstraint("week", "issue_key"),
)

# ---------------------------------------------------------------- deliveries

sends = sa.Table(
    "soe_sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # leadership | failure_notice | chat | chat_failure
    sa.Column("subject", sa.Text),
    sa.Column("recipients", sa.Text),  # JSON list of addresses
    sa.Column("refused", sa.Text),  # JSON {address: "code message"}
    sa.Column("message_id", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),  # claimed | sent | partial
    sa.Column("forced", sa.Boolean, nullable=False, default=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),  # when claimed, then when confirmed
    # week:kind[:run_id] while the row claims or holds the send; unique: a second claim fails in the database
    sa.Column("claim_key", sa.String(160)),
    sa.Column("claimed_by", sa.String(255)),  # host pid of the sender
    sa.Index("ux_soe_sends_claim", "claim_key", unique=True),
)
