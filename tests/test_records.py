"""Typed report records: each notebook records one, the summary and the email read them back by attribute."""
import json
import math

import pandas as pd
import pytest
from pydantic import ValidationError

from soe_helpers.report import records
from soe_helpers.report.context import Week

WEEK = "2026-W47"


def test_every_section_has_one_record_type_with_units_and_sign_described():
    assert set(records.RECORDS) == {"demand_reconciliation", "cash_impact", "forecast_feedback", "execution_kpis",
                                    "actions", "data_accuracy", "executive_summary"}
    f = records.ReconciliationRecord.model_fields["landing_gap"]
    assert "currency" in f.description and "negative = behind plan" in f.description
    money = [(m.SECTION, n) for m in (records.ReconciliationRecord, records.CashImpactRecord)
             for n, fld in m.model_fields.items() if n not in ("week", "quarter") and not fld.description]
    assert money == [], f"fields without a description (units, sign): {money}"


def test_a_record_rejects_a_figure_it_does_not_define():
    with pytest.raises(ValidationError, match="landing_gapp"):
        records.ReconciliationRecord(week=WEEK, landing_gapp=-1.0)


def test_figures_are_plain_json_and_nan_is_null():
    r = records.ReconciliationRecord(week=WEEK, landing_gap=float("nan"), plan_quarter=10.0,
                                     top_variances=[{"period": "qtd", "level": "sku", "key": "A", "variance": -6000.0,
                                                     "sentence": "A is behind."}])
    f = r.figures()
    assert f["landing_gap"] is None and f["plan_quarter"] == 10.0 and f["top_variances"][0]["variance"] == -6000.0
    assert json.loads(json.dumps(f)) == f
    assert records.parse("demand_reconciliation", f) == records.ReconciliationRecord.model_validate(f)


def test_load_gives_typed_records_and_none_for_missing_failed_stale_or_malformed_reports():
    results = {"schema_version": 1,
               "demand_reconciliation": {"week": WEEK, "landing_gap": -480_000.0, "quarter": "2026-Q4"},
               "cash_impact": {"week": WEEK, "lowest_cash": 1.0},
               "data_accuracy": {"week": "2026-W46", "score": 0.9},
               "actions": {"week": WEEK, "open": "many"},
               "unknown_report": {"x": 1}}
    r = records.load(results, week=WEEK)
    assert isinstance(r.demand_reconciliation, records.ReconciliationRecord)
    assert r.demand_reconciliation.landing_gap == -480_000.0 and r.demand_reconciliation.quarter == "2026-Q4"
    assert r.cash_impact.lowest_cash == 1.0 and r.get("cash_impact") is r.cash_impact
    assert r.data_accuracy is None            # another week's figures
    assert r.actions is None                  # not of the record's shape
    assert r.forecast_feedback is None and r.execution_kpis is None   # not recorded
    assert records.load(results, ok=["cash_impact"]).demand_reconciliation is None   # its report failed
    assert records.load(None).cash_impact is None


def test_week_record_writes_the_section_of_a_typed_record(tmp_path):
    wk = Week(WEEK, None, tmp_path, interactive=False)  # record needs no params
    wk.record(records.CashImpactRecord(week=WEEK, lowest_cash=381_273.56, runway_weeks=None, events=3))
    got = json.loads((tmp_path / "results" / "cash_impact.json").read_text())
    assert got["lowest_cash"] == 381_273.56 and got["events"] == 3 and got["runway_weeks"] is None
    assert set(got) == set(records.CashImpactRecord.model_fields)
    wk.record("good", label="fine")  # an ad-hoc section still records
    assert json.loads((tmp_path / "results" / "good.json").read_text()) == {"label": "fine"}
    with pytest.raises(TypeError, match="takes no keyword figures"):
        wk.record(records.CashImpactRecord(week=WEEK), lowest_cash=1.0)


def test_builders_turn_numpy_figures_into_the_record():
    import numpy as np

    items = pd.DataFrame({"report": ["cash_impact", "data_accuracy"], "topic": ["Cash", "Data"],
                          "light": ["red", "grey"], "sentence": ["Low.", "Missing."]})
    r = records.executive_summary_record(WEEK, "2026-Q4", "h", "S&OE 2026-W47: h", items,
                                         {"red": np.int64(1), "grey": np.int64(1)}, "run1")
    assert r.lights == {"red": 1, "grey": 1} and r.reports_without_figures == ["data_accuracy"]
    assert r.items[0].sentence == "Low." and r.items[1].light == "grey"


@pytest.mark.e2e
def test_every_notebook_of_the_demo_pack_records_its_whole_typed_record(pack_run):
    """On the session's demo run: each report's section validates as its record, strictly, with every field set."""
    results = pack_run["results"]
    assert results is not None, pack_run["proc"].stdout[-2000:] + pack_run["proc"].stderr[-2000:]
    assert results["schema_version"] == records.SCHEMA_VERSION
    problems = []
    for section, model in records.RECORDS.items():
        figures = results.get(section)
        if figures is None:
            problems.append(f"results.json: section {section} missing")
            continue
        try:
            rec = model.model_validate(figures)
        except ValidationError as e:
            problems.append(f"results/{section}.json does not validate as {model.__name__}: {e}")
            continue
        unset = sorted(set(model.model_fields) - set(figures))
        if unset:
            problems.append(f"results/{section}.json: fields {unset} of {model.__name__} not recorded")
        if rec.week != results["demand_reconciliation"]["week"]:
            problems.append(f"results/{section}.json: week {rec.week}")
    assert not problems, "\n".join(problems)
    r = records.load(results)
    assert math.isclose(r.demand_reconciliation.landing - r.demand_reconciliation.plan_quarter,
                        r.demand_reconciliation.landing_gap, abs_tol=0.01)
    assert r.cash_impact.margin_over_min == pytest.approx(r.cash_impact.lowest_cash - r.cash_impact.min_cash,
                                                          abs=0.01)


def test_the_summary_reads_records_and_says_so_when_one_is_malformed():
    from soe_helpers.core.params import ExecutiveSummaryParams, Materiality
    from soe_helpers.report import summary as sm

    results = {"actions": {"week": WEEK, "open": "many"},
               "demand_reconciliation": {"week": WEEK, "landing": 9_520_000.0, "landing_gap": -480_000.0,
                                         "plan_quarter": 10_000_000.0, "actual_qtd": 5_500_000.0}}
    ok = {r.notebook: {"status": "ok"} for r in sm.PACK}
    items = sm.build_items(results, ok, week=WEEK, materiality=Materiality(), rules=ExecutiveSummaryParams(), symbol="$")
    acts = items[items["report"] == "action_tracker"]
    assert acts["sentence"].tolist() == ["The action tracker report recorded none of the figures the summary uses."]
    assert acts["light"].tolist() == ["grey"]
    assert sm.headline(results, ok, week=WEEK, symbol="$").startswith("The quarter lands $9.5M vs $10.0M plan")
    rec = records.load(results).demand_reconciliation
    assert sm.landing_chart(rec, "$") is not None and sm.landing_chart(None, "$") is None


def test_every_figure_the_summary_tracks_week_to_week_is_a_field_of_its_record():
    from soe_helpers.report import summary as sm

    missing = [(s, k) for s, k, _, _ in sm._TRACKED if k not in records.RECORDS[s].model_fields]
    assert missing == [], f"summary._TRACKED names figures no record defines: {missing}"
    kpis = [k for k in sm._KPIS if k not in records.ExecutionKpisRecord.model_fields]
    assert kpis == ["gross_margin"], kpis  # an alias the record does not use: it shows nothing
