"""The cash impact report in the weekly run of the demo company (scale 0.25): the planted disruptions are
found from the data and put in dollars, the exports follow their contract and the 13-week forecast closes."""
import json

import numpy as np
import pandas as pd
import pytest

from soe_helpers.analysis.cash_events import EVENT_COLUMNS

pytestmark = pytest.mark.e2e

FORECAST_WEEKS = ["2026-W48", "2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"] + \
    [f"2027-W0{i}" for i in range(1, 8)]


@pytest.fixture(scope="module")
def run(pack_run):
    m = pack_run["manifest"]
    if m is None:  # no run of the week succeeded: find this report's own status in the run it made
        runs = sorted(pack_run["week_dir"].glob("*/manifest.json"))
        assert runs, pack_run["proc"].stdout[-3000:] + pack_run["proc"].stderr[-2000:]
        m = json.loads(runs[-1].read_text())
    st = {n["name"]: n for n in m["notebooks"]}
    assert st["cash_impact"]["status"] == "ok", st["cash_impact"]
    return pack_run["run_dir"] or (pack_run["week_dir"] / m["run_id"])


def test_planted_disruptions_are_found_and_put_in_dollars(run):
    ev = pd.read_csv(run / "cash_events.csv", dtype={"order_id": str, "customer_id": str, "supplier_id": str},
                     keep_default_na=False)
    assert set(EVENT_COLUMNS) <= set(ev.columns) and ev["event_id"].is_unique
    assert (ev["dollars_at_stake"] >= 0).all()
    e = ev.set_index("event_id")
    big = e.loc["production_delay:SO-500000/1"]                  # $500K, promised 20 Nov, scheduled 4 Dec
    assert big["order_id"] == "SO-500000" and big["customer_id"] == "C-0205" and big["type"] == "production_delay"
    assert big["receipts_delayed"] == 500_000 and big["expedite"] == 15_000 and big["penalty"] == 15_000
    assert big["pnl_impact_quarter"] == pytest.approx(-30_000, abs=500)  # + a little carrying cost
    assert "14 days after its promise" in big["sentence"] and "$500K" in big["sentence"]
    sup = e.loc["supplier_delay:S-017"]                          # 21 days late on its open POs
    assert sup["supplier_id"] == "S-017" and "up to 21 days" in sup["sentence"]
    assert all(s in sup["sentence"] for s in ("ENC-3003", "ENC-3008", "ENC-3014"))
    assert sup["exposure"] > 0 and sup["material"] in (True, "True")
    spike = e.loc["demand_spike:SEN-1007"]                       # ~25-30% over forecast in W44..W47
    assert spike["sku"] == "SEN-1007" and spike["pnl_impact_quarter"] > 0 and "above forecast" in spike["sentence"]
    assert ev["dollars_at_stake"].is_monotonic_decreasing and ev["event_id"].iloc[0] == "production_delay:SO-500000/1"


def test_13_week_forecast_closes_for_every_scenario(run):
    f = pd.read_csv(run / "cash_forecast_13w.csv")
    assert {"scenario", "week", "opening_cash", "receipts", "payments", "closing_cash"} <= set(f.columns)
    lines = set(f["scenario"])
    assert {"baseline", "all scenarios", "without detected events", "Accept a 2-week S-017 slip",
            "Switch S-017 to a backup vendor"} <= lines
    for name, g in f.groupby("scenario"):
        assert g["week"].tolist() == FORECAST_WEEKS, name
        c = (g["opening_cash"] + g["receipts"] - g["payments"] - g["closing_cash"]).abs()
        assert (c < 0.005).all(), name
        assert np.allclose(g["opening_cash"].to_numpy()[1:], g["closing_cash"].to_numpy()[:-1], atol=0.005, rtol=0)
    first = f.groupby("scenario")["opening_cash"].first()
    assert first.nunique() == 1                                   # every line starts from the same bank balance


def test_results_record_the_headlines(run):
    r = json.loads((run / "results.json").read_text())["cash_impact"]
    f = pd.read_csv(run / "cash_forecast_13w.csv")
    base = f[f["scenario"] == "baseline"]
    assert r["baseline_week13_closing"] == pytest.approx(base["closing_cash"].iloc[-1], abs=0.005)
    low = base.loc[base["closing_cash"].idxmin()]
    assert r["lowest_week"] == low["week"] and r["lowest_cash"] == pytest.approx(low["closing_cash"], abs=0.005)
    assert set(r["scenario_week13_closing"]) == set(f["scenario"]) - {"baseline", "without detected events"}
    assert r["scenario_week13_closing"]["all scenarios"] == pytest.approx(
        f[f["scenario"] == "all scenarios"]["closing_cash"].iloc[-1], abs=0.005)
    wo = f[f["scenario"] == "without detected events"]["closing_cash"].iloc[-1]
    assert r["cash_impact_13w"] == pytest.approx(base["closing_cash"].iloc[-1] - wo, abs=0.01)
    assert r["min_cash"] > 0 and (r["runway_weeks"] is None or 0 <= r["runway_weeks"] < 13)
    assert isinstance(r["pnl_impact_quarter"], float) and r["events"] == len(pd.read_csv(run / "cash_events.csv"))
    assert 1 <= len(r["top_events"]) <= 5 and {"event_id", "sentence", "dollars_at_stake"} <= set(r["top_events"][0])
    assert r["bridges_close"] is True and r["forecast_closes"] is True and r["warnings"] == []
    html = (run / "cash_impact.html").read_text(encoding="utf-8")
    assert "SO-500000" in html and "Traceback" not in html and "S-017" in html
    json.dumps(r)  # plain JSON


def test_cash_risk_reads_every_line_and_week_not_week_13():
    from types import SimpleNamespace

    from soe_helpers.analysis.cash import cash_risk

    ci = SimpleNamespace(min_cash=1000.0, summary={
        "baseline": {"lowest_cash": 1020.0, "lowest_week": "2027-W05", "first_breach_week": None, "runway_weeks": None},
        "vendor switch": {"lowest_cash": 939.0, "lowest_week": "2027-W01", "first_breach_week": "2026-W53",
                          "runway_weeks": 5},
        "all scenarios": {"lowest_cash": 947.0, "lowest_week": "2027-W01", "first_breach_week": "2027-W01",
                          "runway_weeks": 6},
    })
    r = cash_risk(ci)
    assert (r["lowest_cash_any_line"], r["lowest_cash_any_line_week"], r["lowest_cash_any_line_name"]) == \
        (939.0, "2027-W01", "vendor switch")
    assert r["margin_any_line"] == -61.0
    assert (r["first_breach_any_line_week"], r["first_breach_any_line_name"], r["runway_weeks_any_line"]) == \
        ("2026-W53", "vendor switch", 5)   # week 53 comes before 2027-W01
    assert r["lines_below_min"] == ["vendor switch", "all scenarios"]


def test_cash_walk_closes_from_opening_to_closing_and_names_the_largest_payments():
    from types import SimpleNamespace

    from soe_helpers.analysis.cash import cash_walk, cash_walk_sentence

    flows = pd.DataFrame({"week": ["2026-W48", "2026-W49", "2026-W51", "2026-W49"],
                          "flow": ["Other payments", "Other payments", "Other payments", "AR collections"],
                          "ref": ["Payroll", "Payroll", "Q4 tax", "INV-1"],
                          "amount": [-600.0, -600.0, -1150.0, 500.0]})
    ci = SimpleNamespace(baseline=SimpleNamespace(flows=flows), inputs=SimpleNamespace(opening_cash=4000.0,
                         weeks=["2026-W48", "2027-W08"]), summary={"baseline": {"week13_closing": 2150.0}})
    w = cash_walk(ci)
    assert w["step"].tolist() == ["Opening cash", "Receipts", "Payments", "Closing cash"]
    assert w["amount"].iloc[:-1].sum() == w["amount"].iloc[-1] == 2150.0
    assert w.iloc[2]["largest"] == [("Payroll", -1200.0, None), ("Q4 tax", -1150.0, "2026-W51")]
    s = cash_walk_sentence(ci, "€")
    assert s.startswith("Baseline cash falls from €4.0K to €2.1K by 2027-W08") and "Q4 tax €1.1K (2026-W51)" in s


# ---------------------------------------------------------------- forecast against actual (the store's earlier runs)


def _fc(rows):
    return pd.DataFrame([{"week": m, "scenario": "baseline", "forecast_week": t, "closing_cash": v} for m, t, v in rows])


FVA_FC = _fc([("2026-W43", "2026-W44", 100.0), ("2026-W43", "2026-W47", 130.0), ("2026-W45", "2026-W46", 200.0),
              ("2026-W45", "2026-W47", 210.0), ("2026-W46", "2026-W47", 300.0), ("2026-W47", "2026-W48", 400.0)])
FVA_ACTUAL = pd.DataFrame({"week": ["2026-W44", "2026-W46", "2026-W47"], "actual_closing": [110.0, 190.0, 305.0]})


def test_forecast_vs_actual_by_lag_on_paper():
    from soe_helpers.analysis.cash import forecast_accuracy, forecast_vs_actual
    t = forecast_vs_actual(FVA_FC, FVA_ACTUAL, "2026-W47")
    assert t["week"].tolist() == ["2026-W44", "2026-W46", "2026-W47"]  # W48: made in the run week, still ahead
    assert t["lag_1"].tolist() == [100.0, 200.0, 300.0]                # made W43, W45, W46
    assert t["lag_4"].isna().tolist() == [True, True, False] and t.loc[2, "lag_4"] == 130.0  # made W43 for W47
    assert t["lag_13"].isna().all()                                    # the W45 forecast of W47 is lag 2: not shown
    acc = forecast_accuracy(t).set_index("lag")
    # lag 1: |100-110| + |200-190| + |300-305| = 25 over 3 weeks; bias (-10 + 10 - 5) / 3
    assert acc.loc[1, "weeks"] == 3 and acc.loc[1, "mae"] == pytest.approx(25 / 3)
    assert acc.loc[1, "bias"] == pytest.approx(-5 / 3)
    assert acc.loc[4, "weeks"] == 1 and acc.loc[4, "mae"] == 175.0 and acc.loc[4, "bias"] == -175.0
    assert acc.loc[13, "weeks"] == 0 and np.isnan(acc.loc[13, "mae"])
    # a backfilled earlier week sees only the runs before it
    t45 = forecast_vs_actual(FVA_FC, FVA_ACTUAL, "2026-W45")
    assert t45["week"].tolist() == ["2026-W44"] and t45.loc[0, "actual_closing"] == 110.0
    assert forecast_vs_actual(FVA_FC.iloc[:0], FVA_ACTUAL, "2026-W47").empty


def test_forecast_accuracy_sentences():
    from soe_helpers.analysis.cash import forecast_accuracy, forecast_accuracy_sentences, forecast_vs_actual
    acc = forecast_accuracy(forecast_vs_actual(FVA_FC, FVA_ACTUAL, "2026-W47"))
    s = forecast_accuracy_sentences(acc, ["2026-W43", "2026-W45", "2026-W46"], "€")
    assert s[0] == ("The forecast made a week before missed the actual closing cash by €8 on average (mean absolute "
                    "error) over 3 weeks; on average it said €2 less than there was.")
    assert s[1].startswith("The forecast made 4 weeks before missed the actual closing cash by €175 on average") \
        and "over 1 week;" in s[1]
    assert s[2] == ("The forecast made 13 weeks before: first measured in 2027-W03, 13 weeks after the store's "
                    "earliest run (2026-W43).")
    one = forecast_accuracy_sentences(acc, ["2026-W46"], "$")
    assert one == ["Forecast against actual cash: the store holds one earlier run (2026-W46). From two earlier weekly "
                   "runs on, this section charts each past week's actual closing cash beside what the forecast made "
                   "1, 4 and 13 weeks before said, with its average error."]
    assert "no earlier run yet" in forecast_accuracy_sentences(acc, [], "$")[0]


def test_actual_closing_cash_rolls_the_bank_balance_to_each_week_end():
    from soe_helpers.analysis.cash_forecast import actual_closing_cash
    D = pd.Timestamp
    cash = pd.DataFrame({"item": ["Bank", "Fee"], "kind": ["opening_balance", "one_off"], "amount": [1000.0, -5.0],
                         "date": [D("2026-11-08"), D("2026-11-14")], "frequency": [None, None],
                         "end_date": [pd.NaT, pd.NaT], "category": [None, None]})
    invoices = pd.DataFrame({"amount": [50.0, 70.0], "paid_amount": [50.0, np.nan],
                             "paid_date": [D("2026-11-10"), D("2026-11-03")]})
    bills = pd.DataFrame({"amount": [20.0], "paid_date": [D("2026-11-12")]})
    a = actual_closing_cash(cash, invoices, bills, ["2026-W44", "2026-W45", "2026-W46"])
    # W45 ends on the balance date; W46 (to 11-15): +50 received, -20 paid, -5 fee; W44 (to 11-01): back by the
    # 70 received on 11-03
    assert a["actual_closing"].tolist() == [930.0, 1000.0, 1025.0]


def test_cash_forecast_vs_actual_reads_the_stores_baseline_runs(tmp_path):
    from soe_helpers.store.engine import Store
    from soe_helpers.store.history import cash_forecast_vs_actual
    from soe_helpers.store.tables import cash_forecast_t
    D = pd.Timestamp
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    for made in ("2026-W45", "2026-W46"):
        rows = [{"week": made, "scenario": sc, "forecast_week": "2026-W47", "opening_cash": 0.0, "receipts": 0.0,
                 "payments": 0.0, "closing_cash": v + (made == "2026-W45") * 10} for sc, v in
                (("baseline", 1100.0), ("all scenarios", 5.0))]
        store.write_week(cash_forecast_t, made, rows, f"run-{made}")
    tables = {"cash": pd.DataFrame({"item": ["Bank"], "kind": ["opening_balance"], "amount": [1000.0],
                                    "date": [D("2026-11-22")], "frequency": [None], "end_date": [pd.NaT],
                                    "category": [None]}),
              "invoices": pd.DataFrame({"amount": [], "paid_amount": [], "paid_date": pd.Series(dtype="datetime64[ns]")}),
              "bills": pd.DataFrame({"amount": [], "paid_date": pd.Series(dtype="datetime64[ns]")})}
    t, earlier = cash_forecast_vs_actual(store, tables, "2026-W47")
    assert earlier == ["2026-W45", "2026-W46"]
    assert t.to_dict("records")[0] == {"week": "2026-W47", "actual_closing": 1000.0, "lag_1": 1100.0,
                                       "lag_4": pytest.approx(np.nan, nan_ok=True),
                                       "lag_13": pytest.approx(np.nan, nan_ok=True)}
