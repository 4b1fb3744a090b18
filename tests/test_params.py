import pytest

from soe_helpers.core.params import ParamsError, apply_sets, deep_merge, load_params


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
    with pytest.raises(ParamsError, match="unknown canonical column"):
        load_params(sets=["data.sources.orders.columns.qty=Qty"])
    with pytest.raises(ParamsError, match="unknown table"):
        load_params(sets=["data.sources.widgets.file=w.csv"])


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


def test_materiality_rule_is_gone_with_a_message_saying_why(tmp_path):
    with pytest.raises(ParamsError) as e:
        load_params(sets=["materiality.rule=either"])
    msg = str(e.value)
    assert "'materiality.rule' ('either') is no longer a setting" in msg and "delete the 'rule' line" in msg, msg
