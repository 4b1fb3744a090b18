import pytest

from soe_helpers.core.params import ParamsError, apply_sets, deep_merge, load_params
from soe_helpers.data.sources import check_sources


def test_company_file_is_valid_and_defaults_apply():
    p = load_params()
    assert p.materiality.abs == 5000 and p.materiality.pct == 0.05
    assert p.calendar.type == "iso"
    assert set(p.data.sources) >= {"orders", "shipments", "products", "customers", "plan", "forecasts"}


def test_set_parses_yaml_scalars_and_dotted_keys():
    p = load_params(sets=["materiality.abs=10000", "calendar.type=4-4-5", "run.log_output=true"])
    assert p.materiality.abs == 10000.0
    assert p.calendar.type == "4-4-5" and p.run.log_output is True


def test_unknown_key_wrong_type_and_missing_value_are_all_named(tmp_path):
    with pytest.raises(ParamsError) as e:
        load_params(sets=["bogus_param=1", "materiality.pct=lots", "materiality.colour=red"])
    msg = str(e.value)
    assert "unknown key 'bogus_param'" in msg
    assert "'materiality.pct'" in msg and "got 'lots'" in msg
    assert "unknown key 'materiality.colour'" in msg
    f = tmp_path / "bad.yaml"
    f.write_text("materiality: {abs: 1}\n")
    with pytest.raises(ParamsError) as e:
        load_params([f])
    assert "missing value for 'company'" in str(e.value) and "missing value for 'data'" in str(e.value)


def test_params_file_merges_on_top(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("materiality:\n  pct: 0.10\ncompany:\n  name: Other Co\n")
    from soe_helpers.core import paths

    p = load_params([paths.params_dir() / "company.yaml", f])
    assert p.materiality.pct == 0.10 and p.materiality.abs == 5000 and p.company.name == "Other Co"


def test_source_rules():
    with pytest.raises(ParamsError, match="exactly one of 'file' or 'query'"):
        load_params(sets=["data.sources.orders.query=select 1"])
    with pytest.raises(ParamsError, match="needs 'url_env'"):
        load_params(sets=["data.sources.orders.file=", "data.sources.orders.query=select * from so"])
    # table and column names are the data layer's: core.params knows no schema
    with pytest.raises(ParamsError, match="unknown canonical column"):
        check_sources(load_params(sets=["data.sources.orders.columns.qty=Qty"]))
    with pytest.raises(ParamsError, match="unknown table"):
        check_sources(load_params(sets=["data.sources.widgets.file=w.csv"]))


def test_schema_checks_keep_their_messages_and_run_before_any_input_is_read(tmp_path):
    from soe_helpers.data.loaders import load_tables

    with pytest.raises(ParamsError) as e:
        load_tables(load_params(sets=["data.sources.orders.columns.qty=Qty", "data_accuracy.systems.widgets=ERP"],
                                data_dir=tmp_path))  # an empty folder: no file is opened before the check
    assert str(e.value).splitlines() == [
        "params are invalid:",
        "  - 'data.sources': Value error, orders.columns maps unknown canonical column(s) qty; orders has: "
        + ", ".join(__import__("soe_helpers.data.schemas", fromlist=["SCHEMAS"]).SCHEMAS["orders"].column_names),
        "  - 'data_accuracy.systems': Value error, unknown table(s) widgets; known tables: "
        + ", ".join(__import__("soe_helpers.data.schemas", fromlist=["SCHEMAS"]).SCHEMAS),
    ]
    assert check_sources(load_params()).data.sources  # the company file fits the schemas


def test_a_key_given_twice_in_a_yaml_file_is_an_error_naming_key_file_and_lines(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("materiality:\n  abs: 5000\n  pct: 0.05\n  abs: 50000\n")
    with pytest.raises(ParamsError) as e:
        load_params([f])
    assert str(e.value) == (f"params are invalid:\n  - {f}: key 'abs' is given twice (lines 2 and 4); "
                            "YAML would silently keep the last: keep one")
    f.write_text("company: {name: A}\ncompany: {name: B}\n")
    with pytest.raises(ParamsError, match="key 'company' is given twice \\(lines 1 and 2\\)"):
        load_params([f])
    # the same key in two different mappings, and a << merge overridden, are fine
    f.write_text("materiality: {abs: 1}\nkpis: {top_n: 5}\nreconciliation: {top_n: 5}\n"
                 "base: &b {top_n: 3}\n")
    from soe_helpers.core.params import _read_yaml

    assert _read_yaml(f)["reconciliation"] == {"top_n": 5}
    f.write_text("base: &b {top_n: 3, x: 1}\nkpis:\n  <<: *b\n  top_n: 5\n")
    assert _read_yaml(f)["kpis"] == {"top_n": 5, "x": 1}


def test_bad_set_syntax_and_yaml(tmp_path):
    with pytest.raises(ParamsError, match="expected key=value"):
        apply_sets({}, ["materiality"])
    f = tmp_path / "broken.yaml"
    f.write_text("a: [1, 2\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params([f])
    with pytest.raises(ParamsError, match="file not found"):
        load_params([tmp_path / "nope.yaml"])


def test_deep_merge_does_not_mutate():
    a = {"x": {"y": 1, "z": 2}}
    b = {"x": {"y": 3}}
    assert deep_merge(a, b) == {"x": {"y": 3, "z": 2}} and a == {"x": {"y": 1, "z": 2}}


def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("SOE_DATA_DIR", str(tmp_path))
    assert load_params().data_dir() == tmp_path.resolve()


def test_fiscal_calendar_settings_are_checked():
    p = load_params(sets=["calendar.year_start_month=7"])
    from soe_helpers.core.calendar import FiscalCalendar

    assert FiscalCalendar.from_params(p.calendar).quarter_of("2026-W47") == "2027-Q2"
    with pytest.raises(ParamsError, match="needs year_end"):
        load_params(sets=["calendar.type=4-4-5", "calendar.year_start_month=7"])
    with pytest.raises(ParamsError, match="year_start_month"):
        load_params(sets=["calendar.year_start_month=13"])


def _sources() -> str:
    # every required table (tables by need is not there yet: a missing table is a params error)
    from soe_helpers.data.schemas import SCHEMAS

    return "".join(f"    {t}: {{file: {t}.csv}}\n" for t, sc in SCHEMAS.items() if sc.required)


def test_a_company_file_stands_on_neutral_defaults_not_the_demos(tmp_path):
    f = tmp_path / "bikes.yaml"
    f.write_text("company: {name: Finger Lakes Cycles}\ndata:\n  dir: /srv/exports\n  sources:\n" + _sources())
    p = load_params([f])
    assert p.company.name == "Finger Lakes Cycles" and p.data.sources["orders"].file == "orders.csv"
    # nothing of the demo company comes back: owners, scenarios, recipients, minimum cash, targets
    assert p.actions.owners == {} and p.cash.scenarios == [] and p.email.leadership == [] and p.cash.min_cash == 0
    demo = load_params()
    assert demo.company.name.startswith("Kestrel") and demo.cash.scenarios and demo.actions.owners
    assert p.kpis.gross_margin_targets != demo.kpis.gross_margin_targets or not demo.kpis.gross_margin_targets


def test_extends_merges_a_file_on_top_of_another_and_later_files_override(tmp_path):
    (tmp_path / "base.yaml").write_text("company: {name: Base Co}\nmateriality: {abs: 2000}\ndata:\n  dir: x\n"
                                        "  sources:\n" + _sources())
    (tmp_path / "site.yaml").write_text("extends: base.yaml\nmateriality: {abs: 3000}\n")
    (tmp_path / "run.yaml").write_text("materiality: {pct: 0.1}\n")
    p = load_params([tmp_path / "site.yaml", tmp_path / "run.yaml"])
    assert p.company.name == "Base Co" and p.materiality.abs == 3000 and p.materiality.pct == 0.1
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ParamsError, match="loops back"):
        load_params([tmp_path / "loop.yaml"])


def test_no_data_dir_is_a_clear_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("company: {name: C}\ndata:\n  sources:\n" + _sources())
    p = load_params([f])
    with pytest.raises(ParamsError, match="data.dir is not set: give --data-dir"):
        p.data_dir()


def test_an_email_address_with_a_line_break_is_one_clear_error():
    with pytest.raises(ParamsError, match="line break") as e:
        load_params(sets=['email.leadership=["cfo@example.com\\r\\nBcc: evil@example.com"]'])
    assert "Traceback" not in str(e.value) and "email.leadership" in str(e.value)


def test_materiality_rule_is_gone_with_a_message_saying_why(tmp_path):
    with pytest.raises(ParamsError) as e:
        load_params(sets=["materiality.rule=either"])
    msg = str(e.value)
    assert "'materiality.rule' ('either') is no longer a setting" in msg and "delete the 'rule' line" in msg, msg


def test_the_plan_fill_rule_is_a_setting_checked_like_any_other():
    p = load_params()
    assert (p.plan.fill, p.plan.basis) == ("working_days", "bookings")
    p = load_params(sets=["plan.fill=last_year", "plan.basis=shipments"])
    assert (p.plan.fill, p.plan.basis) == ("last_year", "shipments")
    with pytest.raises(ParamsError) as e:
        load_params(sets=["plan.fill=seasonal"])
    assert "'plan.fill'" in str(e.value) and "working_days" in str(e.value) and "last_year" in str(e.value)
