"""The action tracker: one issue one action, persistence across weeks, escalation, analysts' edits and imports."""
import datetime as dt
import json
import re

import pandas as pd
import pytest

from soe_helpers.analysis import actions as A
from soe_helpers.core.formats import fmt_money
from soe_helpers.report.display import grouped_tables
from soe_helpers.core.params import ActionsParams, EscalationRule, ParamsError, load_params
from soe_helpers.store import actions as T
from soe_helpers.store.engine import Store

NOW = dt.datetime(2026, 11, 25, 9, 0)


@pytest.fixture()
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'store.sqlite'}")


def _settings(**kw):
    base = dict(default_owner="FP&A", owners={"product_line": {"Controllers": "Marcus"}, "region": {"EMEA": "Jonas"},
                                              "type": {"supplier_delay": "Ken"}, "system": {"GL": "Grace"}},
                owner_order=["supplier_id", "type", "system", "product_line", "region"])
    return ActionsParams(**{**base, **kw})


def _register(rows):
    cols = ["period", "level", "key", "name", "product_line", "region", "basis", "measure", "actual", "reference",
            "variance", "variance_pct", "sentence"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


def _variance(key, variance, period="qtd", level="product_line", basis="plan", line=None, region=None):
    measure = "booked orders at plan price" if "forecast" in basis else "shipped revenue"
    return (period, level, key, key, line or (key if level == "product_line" else None), region, basis, measure,
            0.0, 0.0, variance, -0.1, f"{key} is ${abs(variance):,.0f} off {basis} {period}.")


def _proposals(rows, settings=None):
    return A.assign_owner(A.proposals_from_variances(_register(rows), min_dollars=50000), settings or _settings())


def _acts(store):
    return T.load_actions(store).set_index("issue_key")


# ---------------------------------------------------------------- proposals


def test_ids_round_trip():
    assert A.format_id(7) == "A-0007" and A.parse_id("A-0007") == 7 and A.parse_id("a-7") == 7 and A.parse_id(" 12 ") == 12
    for bad in ("B-1", "", "A-", "0", "x"):
        with pytest.raises(A.ActionError, match="not an action id"):
            A.parse_id(bad)


def test_week_and_quarter_rows_of_one_variance_are_one_issue():
    reg = _register([
        _variance("Controllers", -60000, "week"), _variance("Controllers", -250000, "qtd"),
        _variance("Controllers", -160000, "qtd", basis="the forecast made a week before"),
        _variance("EMEA", -90000, "qtd", level="region", region="EMEA"),
        _variance("CTL-2001", -70000, "qtd", level="sku", line="Controllers"),
        _variance("Sensors", 40000, "qtd"),                                # below the $50K threshold
        _variance("C-0001", 90000, "qtd", level="customer", basis="its run-rate"),  # level not tracked
    ])
    p = A.proposals_from_variances(reg, min_dollars=50000).set_index("issue_key")
    assert sorted(p.index) == ["variance:orders_vs_forecast:product_line:Controllers",
                               "variance:shipments_vs_plan:product_line:Controllers",
                               "variance:shipments_vs_plan:region:EMEA", "variance:shipments_vs_plan:sku:CTL-2001"]
    ctl = p.loc["variance:shipments_vs_plan:product_line:Controllers"]
    assert ctl["dollars_at_stake"] == 250000 and "qtd" in ctl["sentence"]
    assert ctl["title"] == "Controllers: shipments behind plan"
    assert p.loc["variance:shipments_vs_plan:sku:CTL-2001", "product_line"] == "Controllers"
    only_week = A.proposals_from_variances(reg, periods=["week"], min_dollars=50000)
    assert only_week["dollars_at_stake"].tolist() == [60000]


def test_owner_map_precedence_and_default():
    p = pd.DataFrame([
        {"issue_key": "1", "type": "supplier_delay", "product_line": "Controllers", "supplier_id": "S-1"},
        {"issue_key": "2", "type": "variance", "product_line": "Controllers", "region": "EMEA"},
        {"issue_key": "3", "type": "variance", "region": "EMEA"},
        {"issue_key": "4", "type": "data_accuracy", "system": "GL"},
        {"issue_key": "5", "type": "variance", "product_line": "Unknown line"},
    ])
    o = A.assign_owner(p, _settings())
    assert o["owner"].tolist() == ["Ken", "Marcus", "Jonas", "Grace", "FP&A"]
    assert o["owner_rule"].tolist()[0] == "type supplier_delay" and o["owner_rule"].tolist()[-1] == "default owner"
    with_supplier = _settings(owners={"supplier_id": {"S-1": "Procurement Asia"}})
    assert A.assign_owner(p.iloc[:1], with_supplier)["owner"].tolist() == ["Procurement Asia"]


def test_events_checks_and_kpis_become_proposals():
    ev = pd.DataFrame({"event_id": ["supplier_delay:S-017", "demand_spike:X", "supplier_delay:S-017"],
                       "type": ["supplier_delay", "demand_spike", "supplier_delay"], "sentence": ["late", "up", "dup"],
                       "supplier_id": ["S-017", None, "S-017"], "sku": [None, "X", None],
                       "dollars_at_stake": [15000.0, 900.0, 15000.0]})
    e = A.proposals_from_events(ev, min_dollars=10000)
    assert e["issue_key"].tolist() == ["event:supplier_delay:S-017"] and e["title"][0] == "Supplier delay: S-017"
    checks = pd.DataFrame({"check_id": ["tie_out:gl_ar_vs_invoices", "freshness:orders", "tie_out:gl_ap_vs_bills"],
                           "name": ["GL AR ties", "Orders fresh", "GL AP ties"], "source": ["GL vs ERP", "ERP", "GL vs ERP"],
                           "system": ["GL", "ERP", "GL"], "status": ["fail", "fail", "fail"],
                           "material": ["True", True, False], "dollars_at_stake": [27350.0, None, 1.5],
                           "sentence": ["off", "stale", "rounding"]})
    c = A.proposals_from_checks(checks)
    assert c["issue_key"].tolist() == ["data:tie_out:gl_ar_vs_invoices", "data:freshness:orders"]
    assert c["dollars_at_stake"].tolist() == [27350.0, 0.0] and c["system"].tolist() == ["GL", "ERP"]
    k = pd.DataFrame({"exception_id": ["kpi:dso", "kpi:gross_margin_pct:Enclosures", "kpi:dpo"],
                      "kpi": ["dso", "gross_margin_pct", "dpo"], "product_line": [None, "Enclosures", None],
                      "label": ["DSO", "Gross margin %", "DPO"], "dollars_at_stake": [129000.0, 30000.0, 2000.0],
                      "sentence": ["s1", "s2", "s3"]})
    kp = A.proposals_from_kpis(k, min_dollars=25000)
    assert kp["issue_key"].tolist() == ["kpi:dso", "kpi:gross_margin_pct:Enclosures"]
    assert kp["title"].tolist() == ["DSO off target", "Gross margin % off target: Enclosures"]


def test_missing_or_malformed_inputs_are_reported_never_read_as_no_issues(tmp_path):
    _register([_variance("Controllers", -250000)]).to_csv(tmp_path / "variance_register.csv", index=False)
    pd.DataFrame({"event_id": ["e1"]}).to_csv(tmp_path / "cash_events.csv", index=False)   # lacks columns
    (tmp_path / "kpi_exceptions.csv").write_text("")                                         # unreadable
    frames, notes = A.read_inputs(tmp_path)
    assert frames["variance_register.csv"] is not None
    assert frames["cash_events.csv"] is None and frames["kpi_exceptions.csv"] is None
    assert frames["data_accuracy_checks.csv"] is None
    text = " ".join(notes)
    assert "cash_events.csv lacks column(s) type, sentence, dollars_at_stake" in text
    assert "data_accuracy_checks.csv is missing: the data_accuracy report did not run" in text
    assert "not known, not absent" in text and "kpi_exceptions.csv could not be read" in text
    summary = A.source_summary(frames, A.propose(frames, _settings())).set_index("file")
    assert summary.loc["cash_events.csv", "status"] == "MISSING" and summary.loc["variance_register.csv", "issues"] == 1
    assert A.sources_read(frames) == ["variance"]


def test_escalation_rules_pick_the_highest_matching_level():
    rules = [EscalationRule(level="Director", dollars_over=25000), EscalationRule(level="CFO", dollars_over=50000),
             EscalationRule(level="CFO", weeks_overdue_over=2),
             EscalationRule(level="Director", dollars_over=10000, weeks_resurfaced_over=1)]
    levels = ["Owner", "Director", "CFO"]
    assert A.escalation_level(20000, 0, 0, rules, levels) == "Owner"
    assert A.escalation_level(30000, 0, 0, rules, levels) == "Director"
    assert A.escalation_level(50000, 0, 0, rules, levels) == "Director"     # "over" is strict
    assert A.escalation_level(50001, 0, 0, rules, levels) == "CFO"
    assert A.escalation_level(100, 2.0, 0, rules, levels) == "Owner"        # overdue exactly 2 weeks
    assert A.escalation_level(100, 2.2, 0, rules, levels) == "CFO"
    assert A.escalation_level(12000, 0, 2, rules, levels) == "Director"     # both conditions of the rule hold
    assert A.escalation_level(9000, 0, 2, rules, levels) == "Owner"
    with pytest.raises(ParamsError, match="not in levels"):
        load_params(sets=["actions.escalation=[{level: VP, dollars_over: 1}]"])
    with pytest.raises(ParamsError, match="at least one of"):
        load_params(sets=["actions.escalation=[{level: CFO}]"])
    with pytest.raises(ParamsError, match="owners: unknown field"):
        load_params(sets=["actions.owners={warehouse: {DAL: x}}"])


# ---------------------------------------------------------------- the weekly sync


def test_first_run_opens_owned_actions_and_a_rerun_changes_nothing(store):
    s = _settings()
    props = _proposals([_variance("Controllers", -250000), _variance("EMEA", -60000, level="region", region="EMEA")])
    res = T.sync_week(store, props, "2026-W47", s, run_id="r1", now=NOW)
    assert len(res.created) == 2 and res.history_rows > 0
    a = _acts(store)
    ctl = a.loc["variance:shipments_vs_plan:product_line:Controllers"]
    assert ctl["owner"] == "Marcus" and ctl["status"] == "open" and ctl["opened_week"] == "2026-W47"
    assert ctl["due_date"] == pd.Timestamp("2026-11-26")  # high ($250K): meeting Mon 23 Nov + 3 working days
    assert ctl["escalation_level"] == "Director" and ctl["weeks_resurfaced"] == 0   # $250K > $100K
    before, hist_before = T.load_actions(store), T.load_history(store)
    again = T.sync_week(store, props, "2026-W47", s, run_id="r2", now=NOW + dt.timedelta(hours=1))
    assert again.created == [] and again.updated == [] and again.history_rows == 0
    pd.testing.assert_frame_equal(T.load_actions(store), before)
    pd.testing.assert_frame_equal(T.load_history(store), hist_before)


def test_the_same_issue_next_week_updates_the_action_and_counts_as_resurfaced(store):
    s = _settings()
    T.sync_week(store, _proposals([_variance("Controllers", -250000)]), "2026-W46", s, now=NOW)
    res = T.sync_week(store, _proposals([_variance("Controllers", -310000)]), "2026-W47", s, now=NOW)
    a = T.load_actions(store)
    assert len(a) == 1 and res.created == [] and res.resurfaced == [1]
    r = a.iloc[0]
    assert r["weeks_resurfaced"] == 1 and r["dollars_at_stake"] == 310000 and r["last_seen_week"] == "2026-W47"
    assert r["opened_week"] == "2026-W46" and r["first_seen_week"] == "2026-W46"
    h = T.load_history(store, 1)
    assert ("dollars_at_stake", "250000.0", "310000.0") in set(zip(h["field"], h["old_value"], h["new_value"]))
    # a third week: resurfaced twice -> escalated by the "resurfaced more than 1 week" rule even at lower dollars
    T.sync_week(store, _proposals([_variance("Controllers", -60000)]), "2026-W48", s, now=NOW)
    r = T.load_actions(store).iloc[0]
    assert r["weeks_resurfaced"] == 2 and r["escalation_level"] == "Director" and r["dollars_at_stake"] == 60000
    # re-running an earlier week keeps the latest dollars and escalations
    res = T.sync_week(store, _proposals([_variance("Controllers", -250000)]), "2026-W46", s, now=NOW)
    r = T.load_actions(store).iloc[0]
    assert r["dollars_at_stake"] == 60000 and r["last_seen_week"] == "2026-W48" and not res.escalations_applied


def test_a_closed_action_stays_closed_on_reruns_and_later_weeks(store):
    s = _settings()
    props = _proposals([_variance("Controllers", -250000)])
    T.sync_week(store, props, "2026-W47", s, now=NOW)
    T.update_action(store, "A-0001", status="done", note="Forecast reset in S&OP", actor="jdoe",
                    now=NOW + dt.timedelta(hours=1))
    before = T.load_actions(store)
    res = T.sync_week(store, props, "2026-W47", s, now=NOW + dt.timedelta(hours=2))   # re-run of the same week
    assert res.closed_seen_again == [1] and res.created == []
    pd.testing.assert_frame_equal(T.load_actions(store), before)
    res = T.sync_week(store, _proposals([_variance("Controllers", -270000)]), "2026-W48", s, now=NOW)
    a = T.load_actions(store)
    assert len(a) == 1 and a.iloc[0]["status"] == "done" and res.closed_seen_again == [1]
    # unless params say so: then a later week reopens it (not the week it was closed in)
    s2 = _settings(reopen_closed=True)
    res = T.sync_week(store, props, "2026-W48", s2, now=NOW)
    assert res.reopened == [] and T.load_actions(store).iloc[0]["status"] == "done"  # closed in W48 itself
    res = T.sync_week(store, props, "2026-W49", s2, now=NOW)
    a = T.load_actions(store).iloc[0]
    assert res.reopened == [1] and a["status"] == "open" and pd.isna(a["closed_at"])
    h = T.load_history(store, 1)
    assert h[h["field"] == "status"]["new_value"].tolist() == ["open", "done", "open"]


def test_escalation_for_overdue_actions_is_applied_each_run(store):
    s = _settings()
    T.sync_week(store, _proposals([_variance("Sensors", -60000)]), "2026-W44", s, now=NOW)  # due 2026-11-08
    assert T.load_actions(store).iloc[0]["escalation_level"] == "Owner"
    T.sync_week(store, _proposals([]), "2026-W46", s, now=NOW)   # week end 15 Nov: 1 week overdue
    assert T.load_actions(store).iloc[0]["escalation_level"] == "Owner"
    res = T.sync_week(store, _proposals([]), "2026-W47", s, now=NOW)   # 22 Nov: 2 weeks overdue, not more
    assert T.load_actions(store).iloc[0]["escalation_level"] == "Owner"
    res = T.sync_week(store, _proposals([]), "2026-W48", s, now=NOW)   # 29 Nov: 3 weeks overdue -> CFO
    assert res.escalated == [1] and T.load_actions(store).iloc[0]["escalation_level"] == "CFO"
    view = A.tracker_view(T.load_actions(store), "2026-W48", s.levels)
    assert view.iloc[0]["overdue"] and view.iloc[0]["days_overdue"] == 21 and view.iloc[0]["escalated"]
    T.update_action(store, 1, due="2026-12-20", actor="jdoe", now=NOW)
    T.sync_week(store, _proposals([]), "2026-W48", s, now=NOW)
    assert T.load_actions(store).iloc[0]["escalation_level"] == "Owner"   # rules re-applied: no longer overdue


def test_a_missing_source_keeps_its_sightings(store):
    s = _settings()
    var = _proposals([_variance("Controllers", -250000)])
    ev = A.assign_owner(A.proposals_from_events(pd.DataFrame(
        {"event_id": ["e1"], "type": ["supplier_delay"], "sentence": ["late"], "dollars_at_stake": [20000.0]})), s)
    T.sync_week(store, pd.concat([var, ev], ignore_index=True), "2026-W46", s, now=NOW)
    T.sync_week(store, pd.concat([var, ev], ignore_index=True), "2026-W47", s, now=NOW)
    # W47 re-run without the events file: its sightings stay, the event's count is not reset
    T.sync_week(store, var, "2026-W47", s, sources=["variance", "data_accuracy", "kpi"], now=NOW)
    assert _acts(store).loc["event:e1", "weeks_resurfaced"] == 1
    T.sync_week(store, var, "2026-W48", s, now=NOW)
    a = _acts(store)
    assert a.loc["event:e1", "last_seen_week"] == "2026-W47" and a.loc["event:e1", "weeks_resurfaced"] == 1
    assert a.loc["variance:shipments_vs_plan:product_line:Controllers", "weeks_resurfaced"] == 2


def test_summary_and_owner_totals_tie_out(store):
    s = _settings()
    props = _proposals([_variance("Controllers", -250000), _variance("EMEA", -60000, level="region", region="EMEA"),
                        _variance("CTL-2001", -70000, level="sku", line="Controllers")])
    T.sync_week(store, props, "2026-W47", s, now=NOW)
    T.update_action(store, "A-0003", status="dropped", actor="x", now=dt.datetime(2026, 11, 23, 8))
    view = A.tracker_view(T.load_actions(store), "2026-W47", s.levels)
    sm = A.summary(view)
    assert sm["open"] == 2 and sm["new_this_week"] == 3 and sm["closed_this_week"] == 1
    assert sm["dollars_at_stake_open"] == 320000 == sum(sm["by_owner"].values())
    owners = A.by_owner(view)
    assert owners["dollars_at_stake"].sum() == sm["dollars_at_stake_open"] and owners["open"].sum() == sm["open"]
    assert "2 open actions, $320K at stake" in A.headline(sm, symbol="$")  # EMEA ($60K) was dropped


# ---------------------------------------------------------------- analysts' edits


def test_update_validates_and_keeps_history(store):
    T.sync_week(store, _proposals([_variance("Controllers", -250000)]), "2026-W47", _settings(), now=NOW)
    r = T.update_action(store, "A-0001", status="in progress", owner="Dana", due="2026-12-04", note="on it",
                        actor="jdoe", now=NOW)
    assert sorted(r["changed"]) == ["due_date", "note", "owner", "status"] and r["action"]["version"] == 2
    T.update_action(store, 1, note="second", actor="kim", now=NOW)
    a = T.load_actions(store).iloc[0]
    assert a["notes"] == "2026-11-25 jdoe: on it\n2026-11-25 kim: second"
    h = T.load_history(store, 1)
    cli = h[h["source"] == "cli"]
    assert set(cli["field"]) == {"status", "owner", "due_date", "note"} and set(cli["actor"]) == {"jdoe", "kim"}
    assert cli[cli["field"] == "owner"][["old_value", "new_value"]].values.tolist() == [["Marcus", "Dana"]]
    for kw, msg in ((dict(status="finished"), "not one of"), (dict(due="04/12/2026"), "expected YYYY-MM-DD"),
                    (dict(owner="  "), "owner cannot be blank"), ({}, "nothing to update")):
        with pytest.raises(A.ActionError, match=msg):
            T.update_action(store, 1, **kw)
    with pytest.raises(A.ActionError, match="no action A-0042"):
        T.update_action(store, "A-0042", status="done")


@pytest.mark.parametrize("ext", ["xlsx", "csv"])
def test_export_edit_import_round_trip(store, tmp_path, ext):
    s = _settings()
    T.sync_week(store, _proposals([_variance("Controllers", -250000), _variance("Sensors", -90000)]), "2026-W47", s,
                now=NOW)
    f = tmp_path / f"actions.{ext}"
    assert T.export_actions(store, f, settings=s, symbol="$") == 2
    df = pd.read_excel(f, sheet_name="Actions", dtype=object, engine="openpyxl") if ext == "xlsx" else pd.read_csv(f, dtype=str,
                                                                                              keep_default_na=False)
    assert list(df.columns) == A.EXPORT_COLUMNS
    assert df.loc[0, "decision_asked"].startswith("Fund a recovery for Controllers") and df.loc[0, "severity"] == "high"
    res = T.import_actions(store, f, actor="jdoe", now=NOW)   # untouched file: nothing changes
    assert res.changed == {} and res.unchanged == 2
    df.loc[0, ["status", "owner", "due_date", "add_note"]] = ["in progress", "Dana", "2026-12-11", "call supplier"]
    df.loc[1, "status"] = "Done"
    df.loc[1, "title"] = "edited title"
    df.to_excel(f, sheet_name="Actions", index=False) if ext == "xlsx" else df.to_csv(f, index=False)
    dry = T.import_actions(store, f, actor="jdoe", dry_run=True, now=NOW)
    assert dry.changed == {"A-0001": ["due_date", "notes", "owner", "status"], "A-0002": ["status"]}
    assert T.load_actions(store)["status"].tolist() == ["open", "open"]   # a dry run changes nothing
    res = T.import_actions(store, f, actor="jdoe", now=NOW)
    assert any("title is set by the run" in w for w in res.warnings)
    a = T.load_actions(store).set_index("id")
    assert a.loc["A-0001", "owner"] == "Dana" and a.loc["A-0001", "status"] == "in progress"
    assert a.loc["A-0001", "due_date"] == pd.Timestamp("2026-12-11") and "call supplier" in a.loc["A-0001", "notes"]
    assert a.loc["A-0002", "status"] == "done" and a.loc["A-0002", "title"] != "edited title"
    h = T.load_history(store)
    assert set(h[h["source"] == "import"]["actor"]) == {"jdoe"}
    # the run does not undo analysts' edits
    T.sync_week(store, _proposals([_variance("Controllers", -250000), _variance("Sensors", -90000)]), "2026-W47", s,
                now=NOW)
    a = T.load_actions(store).set_index("id")
    assert a.loc["A-0001", "owner"] == "Dana" and a.loc["A-0002", "status"] == "done"


def test_import_rejects_every_bad_row_and_changes_nothing(store, tmp_path):
    T.sync_week(store, _proposals([_variance("Controllers", -250000), _variance("Sensors", -90000)]), "2026-W47",
                _settings(), now=NOW)
    f = tmp_path / "a.csv"
    T.export_actions(store, f)
    df = pd.read_csv(f, dtype=str, keep_default_na=False)
    df.loc[0, "status"] = "finished"
    df.loc[1, "owner"] = ""
    bad = pd.concat([df, df.iloc[[0]].assign(status="open"),
                     df.iloc[[0]].assign(id="A-0099"), df.iloc[[1]].assign(id="A-0002x")], ignore_index=True)
    bad.loc[1, "due_date"] = "next friday"
    bad.to_csv(f, index=False)
    before = T.load_actions(store)
    with pytest.raises(A.ActionError) as e:
        T.import_actions(store, f, now=NOW)
    msg = str(e.value)
    assert "nothing was changed" in msg
    assert "row 2 (A-0001): status 'finished' is not one of" in msg
    assert "row 3 (A-0002): owner is blank" in msg
    assert "row 4: A-0001 appears again (first on row 2)" in msg
    assert "row 5: no action A-0099 in the store" in msg and "row 6: 'A-0002x' is not an action id" in msg
    pd.testing.assert_frame_equal(T.load_actions(store), before)
    f2 = tmp_path / "nover.csv"
    df.drop(columns=["version"]).to_csv(f2, index=False)
    with pytest.raises(A.ActionError, match="required column 'version' is missing"):
        T.import_actions(store, f2)
    with pytest.raises(A.ActionError, match="file not found"):
        T.import_actions(store, tmp_path / "nope.xlsx")


def test_import_refuses_to_overwrite_a_change_made_after_the_export(store, tmp_path):
    T.sync_week(store, _proposals([_variance("Controllers", -250000)]), "2026-W47", _settings(), now=NOW)
    f = tmp_path / "a.csv"
    T.export_actions(store, f)
    T.update_action(store, "A-0001", status="done", actor="kim", now=NOW)      # someone closes it meanwhile
    df = pd.read_csv(f, dtype=str, keep_default_na=False)
    df.loc[0, "owner"] = "Dana"                                                # analyst only changes the owner
    df.to_csv(f, index=False)
    res = T.import_actions(store, f, actor="jdoe", now=NOW)                    # stale "open" status is not a change
    assert res.changed == {"A-0001": ["owner"]}
    a = T.load_actions(store).iloc[0]
    assert a["status"] == "done" and a["owner"] == "Dana"
    df.loc[0, "status"] = "in progress"                                        # now edits the status from a stale file
    df.to_csv(f, index=False)
    with pytest.raises(A.ActionError, match="status was changed by kim .* after this file was exported"):
        T.import_actions(store, f, actor="jdoe", now=NOW)


def test_cli_update_and_list_with_exit_codes(store, tmp_path, monkeypatch, capsys):
    from soe_helpers.cli import main

    T.sync_week(store, _proposals([_variance("Controllers", -250000)]), "2026-W47", _settings(), now=NOW)
    monkeypatch.setenv("SOE_STORE_URL", str(store.engine.url))
    assert main(["actions", "update", "A-0001", "--status", "done", "--note", "agreed", "--by", "jdoe"]) == 0
    assert "A-0001 updated (status, note)" in capsys.readouterr().out
    assert main(["actions", "update", "A-0009", "--status", "done"]) == 2
    assert "no action A-0009" in capsys.readouterr().err
    assert main(["actions", "update", "A-0001", "--due", "31/12/2026"]) == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
    assert main(["actions", "list"]) == 0 and "No open or in progress actions" in capsys.readouterr().out
    assert main(["actions", "list", "--all", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("id,status,owner") and "A-0001,done,Marcus" in out
    assert main(["actions", "list", "--all"]) == 0
    out = capsys.readouterr().out  # the meeting's words in the terminal too
    assert "next: Confirm the recovery plan for Controllers with Marcus" in out
    assert "decide: Fund a recovery for Controllers (expedite, pull-in) or accept $250K behind plan" in out
    assert main(["actions", "export", str(tmp_path / "x.xlsx")]) == 0
    assert main(["actions", "import", str(tmp_path / "missing.xlsx")]) == 2
    assert main(["actions", "history", "A-0001"]) == 0 and "cli    jdoe" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["actions", "update", "A-0001", "--status", "finished"])
    assert e.value.code == 2


# ---------------------------------------------------------------- end to end (reuses the session's weekly run)




@pytest.mark.e2e
def test_weekly_run_lists_owned_actions_and_a_done_action_survives_a_rerun(pack_run, pack_env, tmp_path):
    import io
    import re

    from conftest import DEMO_WEEK, soe, notebook_run, private_outputs

    shared_outputs = pack_env["SOE_OUTPUTS"]
    # the session's store is shared by every worker: this test updates an action, so on a copy of it
    pack_run, pack_env = private_outputs(pack_run, pack_env, tmp_path / "outputs")
    run_dir, results = notebook_run(pack_run, "action_tracker")
    rec = results["actions"]
    assert rec["open"] > 0 and rec["dollars_at_stake_open"] > 0 and rec["new_this_week"] >= rec["open"]
    assert sum(rec["by_owner"].values()) == pytest.approx(rec["dollars_at_stake_open"])
    assert (run_dir / "actions.xlsx").exists() and (run_dir / "actions.csv").exists()
    html = (run_dir / "action_tracker.html").read_text()
    visible = re.sub(r"<(style|script).*?</\1>", "", html, flags=re.S)
    for marker in ("Traceback", "from soe_helpers", "open_week(", "wk.record", "In&nbsp;[", "&lt;Figure"):
        assert marker not in visible, marker
    assert "open action" in visible and "Dollars at stake by owner" in visible and "<img" in visible
    # the tracker reads what stage 1 exported: every input present in a full run
    assert not rec["inputs_missing"], rec["inputs_missing"]

    store_url = f"sqlite:///{pack_env['SOE_OUTPUTS']}/soe_store.sqlite"
    env = {**pack_env, "SOE_STORE_URL": store_url}
    listed = soe("actions", "list", "--format", "csv", env=env)
    assert listed.returncode == 0, listed.stderr
    acts = pd.read_csv(io.StringIO(listed.stdout))
    assert len(acts) == rec["open"] and acts["owner"].str.len().min() > 0
    # close the largest action raised by the report the re-run below repeats (a KPI off target)
    mine = acts[acts["issue_key"].str.startswith("kpi:")]
    assert len(mine), acts["issue_key"].tolist()
    target = mine.sort_values("dollars_at_stake", ascending=False)["id"].iloc[0]
    upd = soe("actions", "update", target, "--status", "done", "--note", "agreed in the S&OE meeting", "--by",
              "e2e", env=env)
    assert upd.returncode == 0 and f"{target} updated" in upd.stdout, upd.stderr
    bad = soe("actions", "update", "A-9999", "--status", "done", env=env)
    assert bad.returncode == 2 and "no action A-9999" in bad.stderr

    store = Store(store_url)
    before = T.load_actions(store)
    # re-run the week's reports the tracker reads, into other outputs, against the same store
    rerun = soe("run", "--week", DEMO_WEEK, "--only", "execution_kpis", "--only", "action_tracker",
                env={**env, "SOE_OUTPUTS": str(tmp_path / "rerun")})
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    after = T.load_actions(store)
    pd.testing.assert_frame_equal(after, before)   # idempotent: no duplicate, nothing reopened or re-dated
    assert after.set_index("id").loc[target, "status"] == "done"
    rerun_dir = next((tmp_path / "rerun" / DEMO_WEEK).glob("2*"))
    again = json.loads((rerun_dir / "results" / "actions.json").read_text())
    assert again["inputs_missing"] == ["variance_register.csv", "cash_events.csv",
                                       "data_accuracy_checks.csv"]   # said plainly, not read as "no issues"
    assert again["run_changes"]["opened"] == 0 and again["closed_this_week"] >= 1
    hist = T.load_history(store, A.parse_id(target))
    assert hist[hist["field"] == "status"]["new_value"].tolist() == ["open", "done"]
    # the meeting's list: one table in groups, every action once with its next step and decision; no path or URL
    assert visible.count("<details") >= 1 and "Decision asked" in visible and "Next step" in visible
    for leak in ("sqlite", "soe_store", shared_outputs, str(pack_env["SOE_OUTPUTS"]), "<script"):
        assert leak not in visible, leak
    ids = [a["id"] for a in rec["agenda"]]
    assert len(ids) == len(set(ids)) == rec["open"] + rec["closed_this_week"]
    assert all(a["next_step"] and a["decision_asked"] and a["due"] for a in rec["agenda"])
    assert all(a["escalation"] == "Owner" for a in rec["agenda"] if a["severity"] == "opportunity")
    assert rec["meeting_date"] == "2026-11-23"   # the Monday after W47
    # the note added above is carried to the next report of the week, beside the closed action
    done = next(a for a in again["agenda"] if a["id"] == target)
    assert done["group"] == "closed this week" and done["latest_note"].endswith("e2e: agreed in the S&OE meeting")


# ---------------------------------------------------------------- the notebook's sync: shown always, kept only by a run


def _tracker_rows(store):
    """Every row of the tracker's three tables, to compare before and after."""
    import sqlalchemy as sa

    from soe_helpers.store.tables import action_history, actions, sightings

    with store.engine.connect() as c:
        return {t.name: sorted(map(repr, c.execute(sa.select(t)).all())) for t in (actions, action_history, sightings)}


def _two_weeks(store, s):
    """W46 recorded with Controllers (-250K); the W47 proposals add EMEA (-90K) and move Controllers to -300K."""
    T.sync_week(store, _proposals([_variance("Controllers", -250000)]), "2026-W46", s, run_id="r46", now=NOW)
    return _proposals([_variance("Controllers", -300000), _variance("EMEA", -90000, level="region", region="EMEA")])


def test_an_analysts_session_shows_the_sync_and_keeps_nothing(store):
    s = _settings()
    w47 = _two_weeks(store, s)
    before = _tracker_rows(store)
    res, acts = T.record_week(store, w47, "2026-W47", s, run_id=None, now=NOW)
    assert _tracker_rows(store) == before, "an interactive tracker session changed soe_actions/history/sightings"
    a = acts.set_index("issue_key")
    assert res.created == [2] and res.updated == [1] and res.resurfaced == [1]
    assert a.loc["variance:shipments_vs_plan:region:EMEA", "id"] == "A-0002"
    assert a.loc["variance:shipments_vs_plan:product_line:Controllers", "dollars_at_stake"] == 300000
    assert a.loc["variance:shipments_vs_plan:product_line:Controllers", "weeks_resurfaced"] == 1


def test_a_runs_sync_is_kept_when_it_finishes_ok_and_dropped_when_it_fails(store, tmp_path):
    s = _settings()
    w47 = _two_weeks(store, s)
    before = _tracker_rows(store)
    store.start_run("bad", "2026-W47", tmp_path)
    T.record_week(store, w47, "2026-W47", s, run_id="bad", now=NOW)
    store.finish_run("bad", "failed", {})
    assert _tracker_rows(store) == before, "a failed run changed the tracker"

    store.start_run("good", "2026-W47", tmp_path)
    res, shown = T.record_week(store, w47, "2026-W47", s, run_id="good", now=NOW)
    assert _tracker_rows(store) == before, "the tracker changed before the run finished"
    store.finish_run("good", "ok", {})
    kept = T.load_actions(store)
    assert kept.drop(columns=["due_date"]).equals(shown.drop(columns=["due_date"])) and \
        kept["due_date"].equals(shown["due_date"]), "the tracker kept differs from the one the run showed"
    # the same as applying the week at once
    other = Store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    _two_weeks(other, s)
    T.sync_week(other, w47, "2026-W47", s, run_id="good", now=NOW)
    assert _tracker_rows(other) == _tracker_rows(store)


def test_variances_open_actions_only_when_material_and_over_the_action_threshold():
    from soe_helpers.core.params import Materiality

    reg = _register([_variance("A", -60_000), _variance("B", -60_000), _variance("C", -40_000)])
    reg["reference"] = [1_000_000.0, 2_000_000.0, 100_000.0]  # A 6%, B 3% (not material), C 40% but under $50K
    keys = A.proposals_from_variances(reg, min_dollars=50_000, materiality=Materiality())["issue_key"].tolist()
    assert keys == ["variance:shipments_vs_plan:product_line:A"], keys
    ev = pd.DataFrame({"event_id": ["e1", "e2"], "dollars_at_stake": [4_000.0, 6_000.0], "type": "x",
                       "sentence": ["s1", "s2"]})
    low = A.proposals_from_events(ev, min_dollars=1_000, materiality=Materiality())  # an action threshold below $5K
    assert low["issue_key"].str.endswith("e2").tolist() == [True], low  # cannot open an action on a $4K event


# ---------------------------------------------------------------- the meeting: severity, due dates, next steps


def test_severity_and_due_dates_follow_the_stated_rule():
    rule = _settings().severity          # high >= $100K: 3 working days; medium >= $25K: 5; low: 10
    assert [A.severity(d, False, rule) for d in (100000, 99999, 25000, 24999, -150000)] == \
        ["high", "medium", "medium", "low", "high"]
    assert A.severity(900000, True, rule) == "opportunity"   # good news has no severity of a problem
    monday = dt.date(2026, 11, 23)                            # the meeting on 2026-W47
    assert A.due_date(monday, "high", rule) == dt.date(2026, 11, 26)      # Thursday
    assert A.due_date(monday, "medium", rule) == dt.date(2026, 11, 30)    # next Monday
    assert A.due_date(monday, "low", rule) == dt.date(2026, 12, 7)
    assert A.due_date(monday, "opportunity", rule) == dt.date(2026, 12, 7)
    with pytest.raises(ValueError, match="medium_dollars"):
        ActionsParams(severity={"high_dollars": 10000, "medium_dollars": 20000})


def test_an_opportunity_is_never_escalated_whatever_its_dollars(store):
    s = _settings()
    assert A.escalation_level(900000, 5, 3, s.escalation, s.levels, opportunity=True) == "Owner"
    props = _proposals([_variance("Controllers", 600000, basis="the forecast made a week before"),
                        _variance("Sensors", -600000)])
    T.sync_week(store, props, "2026-W47", s, run_id="r1", now=NOW)
    a = _acts(store)
    ahead = a.loc["variance:orders_vs_forecast:product_line:Controllers"]
    assert ahead["title"] == "Controllers: orders ahead of forecast" and ahead["escalation_level"] == "Owner"
    assert ahead["due_date"] == pd.Timestamp("2026-12-07")   # due like a low action: 10 working days
    behind = a.loc["variance:shipments_vs_plan:product_line:Sensors"]
    assert behind["escalation_level"] == "CFO" and behind["due_date"] == pd.Timestamp("2026-11-26")


def test_overdue_is_counted_at_the_meeting_date():
    acts = pd.DataFrame({"id": ["A-0001", "A-0002"], "action_id": [1, 2], "status": ["open", "open"],
                         "due_date": pd.to_datetime(["2026-11-22", "2026-11-23"]), "escalation_level": ["Owner"] * 2,
                         "last_seen_week": ["2026-W47"] * 2, "opened_week": ["2026-W46"] * 2, "closed_at": [None] * 2})
    v = A.tracker_view(acts, "2026-W47", ["Owner", "CFO"])                 # meeting Monday 2026-11-23
    assert v["overdue"].tolist() == [True, False] and v["days_overdue"].tolist() == [1, 0]
    v = A.tracker_view(acts, "2026-W47", ["Owner", "CFO"], "wednesday")    # meeting 2026-11-25
    assert v["days_overdue"].tolist() == [3, 2]


def _meeting_acts():
    rows = [  # id, title, source_type, type, issue_key, dollars, status, due, escalation, opened, supplier, customer
        (1, "Supplier delay: S-017", "event", "supplier_delay", "event:supplier_delay:S-017", 18542.0, "open",
         "2026-11-30", "Owner", "2026-W47", "S-017", None),
        (2, "Controllers: shipments behind plan", "variance", "variance",
         "variance:shipments_vs_plan:product_line:Controllers", 300000.0, "open", "2026-11-26", "CFO", "2026-W46",
         None, None),
        (3, "Power Supplies: orders ahead of forecast", "variance", "variance",
         "variance:orders_vs_forecast:product_line:Power Supplies", 520000.0, "open", "2026-12-07", "Owner",
         "2026-W47", None, None),
        (4, "Production delay: SO-500000", "event", "production_delay", "event:production_delay:SO-500000/1",
         60000.0, "in progress", "2026-11-20", "Owner", "2026-W45", None, "C-0205"),
        (5, "Data check failing: GL receivables tie", "data_accuracy", "data_accuracy", "data:tie_out:gl_ar", 27350.0,
         "open", "2026-12-14", "Owner", "2026-W47", None, None),
        (6, "Old issue", "kpi", "dso", "kpi:dso", 40000.0, "dropped", "2026-11-20", "Owner", "2026-W40", None, None),
    ]
    acts = pd.DataFrame([{"action_id": r[0], "id": A.format_id(r[0]), "title": r[1], "source_type": r[2], "type": r[3],
                          "issue_key": r[4], "dollars_at_stake": r[5], "status": r[6], "due_date": pd.Timestamp(r[7]),
                          "escalation_level": r[8], "opened_week": r[9], "last_seen_week": "2026-W47",
                          "weeks_resurfaced": 0 if r[9] == "2026-W47" else 1, "supplier_id": r[10],
                          "customer_id": r[11], "product_line": None, "region": None, "sku": None, "system": None,
                          "owner": f"Owner {r[0]}",
                          "notes": "2026-11-16 ana: expedite quoted\n2026-11-23 ana: customer told" if r[0] == 4
                          else None, "closed_at": pd.Timestamp("2026-11-10") if r[0] == 6 else None} for r in rows])
    return acts


def test_each_action_gets_a_next_step_and_a_decision_from_its_kind_and_evidence_only():
    names = {"S-017": "Formosa Precision", "C-0205": "Silverline Controls Inc."}
    v = A.tracker_view(_meeting_acts(), "2026-W47", ["Owner", "Director", "CFO"])
    mv = A.meeting_view(v, "2026-W47", _settings(), "$", names).set_index("id")
    assert "A-0006" not in mv.index                        # closed before the week began: not on the list
    sup = mv.loc["A-0001"]
    assert sup["kind"] == "supplier_delay" and sup["severity"] == "low"
    assert sup["next_step"] == "Get a confirmed ship date from supplier Formosa Precision (S-017)"
    assert sup["decision_asked"] == "Approve expedite or accept the slip ($19K at stake)"
    assert sup["title"] == "Supplier delay: Formosa Precision (S-017)"
    ctl = mv.loc["A-0002"]
    assert ctl["next_step"] == "Confirm the recovery plan for Controllers with Owner 2: which orders ship when"
    assert "$300K behind plan" in ctl["decision_asked"]
    assert mv.loc["A-0003", "kind"] == "opportunity" and mv.loc["A-0003", "group"] == "opportunity"
    late = mv.loc["A-0004"]
    assert "order SO-500000 for Silverline Controls Inc. (C-0205)" in late["next_step"]
    assert late["latest_note"] == "2026-11-23 ana: customer told" and late["group"] == "overdue"
    assert mv.loc["A-0005", "next_step"].endswith("GL receivables tie")
    # no figure but the action's own dollars: every $ amount in the words is that action's
    for r in mv.itertuples():
        amounts = set(re.findall(r"\$[0-9.]+[KM]?", r.next_step + " " + r.decision_asked))
        assert amounts <= {fmt_money(r.dollars_at_stake, "$")}, (r.Index, amounts)


def test_the_agenda_lists_every_action_once_in_meeting_order():
    v = A.tracker_view(_meeting_acts(), "2026-W47", ["Owner", "Director", "CFO"])
    ag = A.agenda(A.meeting_view(v, "2026-W47", _settings(), "$"))
    assert ag["id"].tolist() == ["A-0002", "A-0004", "A-0001", "A-0005", "A-0003"]
    assert ag["group"].tolist() == ["escalated", "overdue", "due this week", "open", "opportunity"]
    assert ag.loc[0, "status"] == "open, to CFO, seen 2 weeks" and ag.loc[1, "status"] == "in progress, overdue 3d, seen 2 weeks"
    html = grouped_tables(ag, "group", A.GROUPS, open_groups=("escalated",), labels=A.GROUP_LABELS,
                          money=["dollars_at_stake"], symbol="$")
    assert html.count("<details") == 5 and html.count(" open>") == 1 and "<script" not in html
    assert "<summary>Escalated: decide: 1</summary>" in html
    assert A.agenda_headline(A.meeting_view(v, "2026-W47", _settings(), "$"), "2026-W47") == (
        "Meeting of Monday 2026-11-23 on 2026-W47: 1 escalated action(s) to decide, 1 overdue, 1 due by the next "
        "meeting, 1 other open; 1 opportunity; 0 closed this week.")
