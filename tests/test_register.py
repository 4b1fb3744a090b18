"""The variance register a team works through: each material variance once, at its level, ranked by dollars.

Small registers built by hand (answers checkable on paper): a SKU folded into its line or standing in for it,
the week inside the quarter-to-date, no row under the absolute threshold, customers adding up to the company,
owner and status from the action tracker's rules.
"""
import pandas as pd
import pytest

from soe_helpers.analysis import actions as A
from soe_helpers.analysis import reconcile as R
from soe_helpers.core.params import ActionsParams, Materiality

M = Materiality()  # $5K and 5%


def _vs(rows, ref="plan"):
    """A compare()-shaped frame: rows of (keys..., actual, reference)."""
    df = pd.DataFrame(rows)
    df[f"{ref}_revenue"] = df.pop("ref")
    df["actual_revenue" if ref != "forecast" else "orders_revenue"] = df.pop("act")
    a = "actual_revenue" if ref != "forecast" else "orders_revenue"
    df["variance"] = df[a] - df[f"{ref}_revenue"]
    df["variance_pct"] = df["variance"] / df[f"{ref}_revenue"]
    return df


def _register(lines, skus, regions=None, customers=None, week_lines=None):
    qtd = {k: _vs(v) for k, v in (("product_line", lines), ("sku", skus)) if v}
    if regions is not None:
        qtd["region"] = _vs(regions)
    if customers is not None:
        qtd["customer"] = _vs(customers)
    week = {"product_line": _vs(week_lines)} if week_lines is not None else {}
    return R.variance_register({"qtd": qtd, "week": week}, {}, M, "2026-W47", "$")


def _row(reg, level, key, period="qtd"):
    r = reg[(reg["level"] == level) & (reg["key"] == key) & (reg["period"] == period)]
    assert len(r) == 1, reg[["period", "level", "key", "rank", "folded_into"]]
    return r.iloc[0]


def test_a_sku_inside_a_material_line_is_folded_into_it_and_named_as_its_largest_part():
    # Controllers -100K of 1M plan (10%); its SKUs: C1 -40K (40% of the line: not most), C2 -30K, C3 -30K
    reg = _register(
        [{"product_line": "Controllers", "act": 900_000.0, "ref": 1_000_000.0}],
        [{"sku": s, "product_line": "Controllers", "act": 100_000.0 - v, "ref": 100_000.0}
         for s, v in (("C1", 40_000.0), ("C2", 30_000.0), ("C3", 30_000.0))])
    line = _row(reg, "product_line", "Controllers")
    assert line["rank"] == 1 and pd.isna(line["folded_into"])
    assert line["largest_part"] == "C1 (Controllers): -$40K, 40.0% of it"
    for s in ("C1", "C2", "C3"):
        assert pd.isna(_row(reg, "sku", s)["rank"]) and _row(reg, "sku", s)["folded_into"] == "Controllers"
    assert R.ranked_register(reg)["key"].tolist() == ["Controllers"]  # the same dollars never twice


def test_a_sku_that_explains_most_of_its_line_stands_in_for_it_and_the_rest_is_its_own_row_when_material():
    # Power Supplies -100K of 1M; P1 -70K of it (70%: most), but the rest -30K on a 900K reference is 3.3%:
    # not material -> the line keeps its row (no dollars drop out) and names P1 with its share
    reg = _register(
        [{"product_line": "Power Supplies", "act": 900_000.0, "ref": 1_000_000.0}],
        [{"sku": "P1", "product_line": "Power Supplies", "act": 30_000.0, "ref": 100_000.0},
         {"sku": "P2", "product_line": "Power Supplies", "act": 70_000.0, "ref": 100_000.0}])
    assert R.ranked_register(reg)["key"].tolist() == ["Power Supplies"]
    assert _row(reg, "product_line", "Power Supplies")["largest_part"] == "P1 (Power Supplies): -$70K, 70.0% of it"
    assert _row(reg, "sku", "P2")["folded_into"] == "Power Supplies"
    # P1 -120K against a line of -100K (P2 +20K): P1 explains all of it -> P1's row; the line folded into it
    reg = _register(
        [{"product_line": "Power Supplies", "act": 900_000.0, "ref": 1_000_000.0}],
        [{"sku": "P1", "product_line": "Power Supplies", "act": 80_000.0, "ref": 200_000.0},
         {"sku": "P2", "product_line": "Power Supplies", "act": 120_000.0, "ref": 100_000.0}])
    assert R.ranked_register(reg)["key"].tolist() == ["P1"]
    assert _row(reg, "product_line", "Power Supplies")["folded_into"] == "P1 (Power Supplies)"
    assert _row(reg, "sku", "P1")["largest_part"] == "Power Supplies: -$100K in all, 120.0% of it this SKU"
    assert _row(reg, "sku", "P2")["folded_into"] == "Power Supplies"
    # with a 400K line the rest (-30K of 300K, 10%) is material: a row of its own, and P1 + rest = the line
    reg = _register(
        [{"product_line": "Power Supplies", "act": 300_000.0, "ref": 400_000.0}],
        [{"sku": "P1", "product_line": "Power Supplies", "act": 30_000.0, "ref": 100_000.0},
         {"sku": "P2", "product_line": "Power Supplies", "act": 270_000.0, "ref": 300_000.0}])
    ranked = R.ranked_register(reg)
    assert ranked["name"].tolist() == ["P1 (Power Supplies)", "Power Supplies, other SKUs"]
    assert ranked["variance"].tolist() == [-70_000.0, -30_000.0] and ranked["variance"].sum() == -100_000.0
    assert ranked["reference"].iloc[1] == 300_000.0


def test_a_material_sku_of_an_immaterial_line_stands_alone():
    # Sensors +2K of 1M (not material): S1 +50K and S2 -48K offset inside it; both material on their own
    reg = _register(
        [{"product_line": "Sensors", "act": 1_002_000.0, "ref": 1_000_000.0}],
        [{"sku": "S1", "product_line": "Sensors", "act": 150_000.0, "ref": 100_000.0},
         {"sku": "S2", "product_line": "Sensors", "act": 52_000.0, "ref": 100_000.0}])
    assert R.ranked_register(reg)["key"].tolist() == ["S1", "S2"]
    assert R.ranked_register(reg)["rank"].tolist() == [1.0, 2.0]


def test_ranked_by_absolute_dollars_and_no_row_under_the_absolute_threshold():
    # A -20K (20%), B +60K (6%), C -4,999 (50%: under $5K, never material), D +80K of 10M (0.8%: the % narrows)
    reg = _register(
        [{"product_line": k, "act": a, "ref": r} for k, a, r in
         (("A", 80_000.0, 100_000.0), ("B", 1_060_000.0, 1_000_000.0), ("C", 5_001.0, 10_000.0),
          ("D", 10_080_000.0, 10_000_000.0))], [])
    ranked = R.ranked_register(reg)
    assert ranked["key"].tolist() == ["B", "A"] and ranked["rank"].tolist() == [1.0, 2.0]
    assert (reg["variance"].abs() >= M.abs).all() and "C" not in set(reg["key"]) and "D" not in set(reg["key"])


def test_the_weeks_variance_is_folded_into_the_same_items_quarter_to_date():
    reg = _register([{"product_line": "A", "act": 80_000.0, "ref": 100_000.0}], [],
                    week_lines=[{"product_line": "A", "act": 5_000.0, "ref": 12_000.0},
                                {"product_line": "B", "act": 20_000.0, "ref": 10_000.0}])
    assert _row(reg, "product_line", "A", "week")["folded_into"] == "quarter-to-date"
    assert R.ranked_register(reg)[["period", "key"]].values.tolist() == [["qtd", "A"], ["week", "B"]]


def test_a_customer_stays_inside_its_material_region():
    # EMEA -60K of 1M; customer K1 -50K of it (83%): the region keeps the row, K1 named as its largest part
    reg = _register([], [], regions=[{"region": "EMEA", "act": 940_000.0, "ref": 1_000_000.0}],
                    customers=[{"customer_id": "K1", "customer": "Kite GmbH", "region": "EMEA", "act": 50_000.0,
                                "ref": 100_000.0}])
    assert R.ranked_register(reg)["key"].tolist() == ["EMEA"]
    assert _row(reg, "region", "EMEA")["largest_part"] == "Kite GmbH (K1): -$50K, 83.3% of it"
    assert _row(reg, "customer", "K1")["folded_into"] == "EMEA"


def test_customers_share_the_plan_by_their_run_rate_and_add_up_to_the_company():
    # the EU plan of 1,000 goes 3:1 to C1 and C2 (their shipments before the quarter); US plan 500 to C3;
    # APAC's plan of 200 has no customer history there: shared by all shipments (300:100:100)
    plan = pd.DataFrame({"region": ["EU", "US", "APAC"], "units": [10.0, 5.0, 2.0], "revenue": [1000.0, 500.0, 200.0]})
    hist = pd.DataFrame({"week": ["2026-W38"] * 3, "customer_id": ["C1", "C2", "C3"], "region": ["EU", "EU", "US"],
                         "revenue": [300.0, 100.0, 100.0]})
    cus = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "name": ["One", "Two", "Three"],
                        "region": ["EU", "EU", "US"]})
    cp = R.customer_plan(plan, hist, cus, "2026-W40", ["region"]).set_index("customer_id")
    assert cp["revenue"].to_dict() == pytest.approx({"C1": 750.0 + 120.0, "C2": 250.0 + 40.0, "C3": 500.0 + 40.0})
    assert cp["revenue"].sum() == pytest.approx(plan["revenue"].sum()) and cp.attrs["unallocated"] == 0.0
    # nothing shipped before: nobody can take a share; the plan left over is said
    none = R.customer_plan(plan, hist.iloc[:0], cus, "2026-W40", ["region"])
    assert none.empty and none.attrs["unallocated"] == 1700.0


class _Rec:  # the two tables customer_tie_out reads
    def __init__(self, customers, lines):
        self.qtd_vs_plan = {"customer": customers, "product_line": lines}
        self.week_vs_plan = self.qtd_vs_plan


def test_material_customers_plus_other_customers_equal_the_company_variance():
    # company: shipped 1.90M vs plan 2.00M = -100K; K1 -80K (material), K2 -30K of 300K (10%: material),
    # K3 +4K and K4 +6K of 600K (1%): immaterial -> "Other customers (2)" +10K; -80 - 30 + 10 = -100
    cust = _vs([{"customer_id": k, "customer": n, "region": "EU", "act": a, "ref": r} for k, n, a, r in (
        ("K1", "Kite", 920_000.0, 1_000_000.0), ("K2", "Lark", 270_000.0, 300_000.0),
        ("K3", "Moth", 104_000.0, 100_000.0), ("K4", "Newt", 606_000.0, 600_000.0))])
    lines = _vs([{"product_line": "A", "act": 1_900_000.0, "ref": 2_000_000.0}])
    tie = R.customer_tie_out(_Rec(cust, lines), M)
    t = tie["table"]
    assert t["customer"].tolist() == ["Kite", "Lark", "Other customers (2, each immaterial)"]
    assert t["variance"].tolist() == pytest.approx([-80_000.0, -30_000.0, 10_000.0])
    assert tie["closes"] and tie["customers"] == pytest.approx(-100_000.0) == tie["company"]
    assert R.customer_tie_out_text(tie, "$") == ("The 2 material customers (-$110K) and the other 2 ($10K) add up to "
                                                 "the company's -$100K vs plan quarter-to-date.")
    # the table the report shows, top 1: Kite, "1 more material customers", the others: still -100K in all
    shown = R.customer_tie_out_table(tie, 1)
    assert shown["customer"].tolist()[1] == "1 more material customers" and shown["variance"].sum() == pytest.approx(-100_000.0)
    # plan no customer could take shows as its own row, so the sum still closes
    tie = R.customer_tie_out(_Rec(cust, _vs([{"product_line": "A", "act": 1_900_000.0, "ref": 2_050_000.0}])), M)
    assert tie["table"]["customer"].iloc[-1] == "Plan not shared to a customer" and tie["closes"]
    assert tie["table"]["variance"].iloc[-1] == pytest.approx(-50_000.0)


def _settings():
    return ActionsParams(default_owner="FP&A", owners={"product_line": {"Controllers": "Marcus"},
                                                       "region": {"EMEA": "Jonas"}},
                         owner_order=["customer_id", "product_line", "region"], min_dollars_variance=50_000,
                         variance_levels=["product_line", "sku", "region"])


def test_owner_and_status_come_from_the_tracker_rules_and_its_store():
    reg = _register(
        [{"product_line": "Controllers", "act": 900_000.0, "ref": 1_000_000.0},
         {"product_line": "Sensors", "act": 530_000.0, "ref": 500_000.0},
         {"product_line": "Cables", "act": 880_000.0, "ref": 1_000_000.0}],
        [{"sku": "C1", "product_line": "Controllers", "act": 60_000.0, "ref": 100_000.0}],
        regions=[{"region": "EMEA", "act": 400_000.0, "ref": 480_000.0}],
        customers=[{"customer_id": "K9", "customer": "Kite", "region": "APAC", "act": 10_000.0, "ref": 70_000.0}])
    acts = pd.DataFrame({"issue_key": ["variance:shipments_vs_plan:product_line:Controllers",
                                       "variance:shipments_vs_plan:region:EMEA"],
                         "owner": ["Ana (reassigned)", "Jonas"], "status": ["in progress", "done"],
                         "opened_week": ["2026-W45", "2026-W44"]})
    got = reg.join(A.register_owner_status(reg, _settings(), acts, "2026-W47")).set_index(["level", "key"])
    assert got.loc[("product_line", "Controllers"), ["owner", "status"]].tolist() == ["Ana (reassigned)", "in progress"]
    assert got.loc[("product_line", "Cables"), ["owner", "status"]].tolist() == ["FP&A", "new"]  # -120K: opens one
    assert got.loc[("product_line", "Sensors"), "status"] == "no action"  # +30K: under the $50K action threshold
    assert got.loc[("region", "EMEA"), ["owner", "status"]].tolist() == ["Jonas", "closed"]
    assert got.loc[("sku", "C1"), ["owner", "status"]].tolist() == ["Marcus", "no action"]  # folded into its line
    assert got.loc[("customer", "K9"), "status"] == "no action"  # a level the tracker does not follow
    assert got["owner"].notna().all() and got["status"].notna().all()
    # no store to read: what the tracker would open is "new"
    assert A.register_owner_status(reg, _settings(), None).set_index(reg.index)["status"].loc[
        reg.index[(reg["key"] == "Controllers")]].tolist() == ["new"]


def test_the_tracker_opens_actions_from_the_ranked_rows_only():
    # C1 -50K (half: not most) is folded into Controllers -100K: one action, on the line, not two on the same dollars
    reg = _register([{"product_line": "Controllers", "act": 900_000.0, "ref": 1_000_000.0}],
                    [{"sku": "C1", "product_line": "Controllers", "act": 50_000.0, "ref": 100_000.0}])
    props = A.proposals_from_variances(reg, min_dollars=50_000)
    assert props["issue_key"].tolist() == ["variance:shipments_vs_plan:product_line:Controllers"]
    assert props["dollars_at_stake"].tolist() == [100_000.0]


def test_the_register_table_shows_the_ranked_rows_with_their_columns():
    reg = _register([{"product_line": "Controllers", "act": 900_000.0, "ref": 1_000_000.0}],
                    [{"sku": "C1", "product_line": "Controllers", "act": 60_000.0, "ref": 100_000.0}])
    t = R.register_table(reg, "2026-W47", A.register_owner_status(reg, _settings(), None))
    assert t.columns.tolist() == ["rank", "level", "item", "comparison", "period", "variance", "reference",
                                  "variance_pct", "owner", "status", "largest_part"]
    assert t.iloc[0][["rank", "level", "item", "comparison", "period", "owner", "status"]].tolist() == [
        1, "product line", "Controllers", "plan", "quarter-to-date", "Marcus", "new"]
    assert R.register_sentence(reg, "$").startswith("1 material variance, each counted once")


def test_the_bridge_states_its_tie_out_in_words():
    class _B:  # bridge_text reads rec.bridge only
        bridge = pd.DataFrame({"volume": [-10.0]})
    steps = pd.DataFrame({"step": ["Plan revenue", "Volume", "Actual revenue"], "amount": [100.0, -10.0, 90.0],
                          "kind": ["total", "delta", "total"]})
    steps.attrs["closes"] = True
    text = R.bridge_text(_B(), steps)
    assert text.endswith("Plan revenue plus these steps equals actual revenue to the cent.") and "True" not in text
    steps.attrs["closes"] = False
    steps.loc[2, "amount"] = 91.0
    assert R.bridge_text(_B(), steps).endswith("misses actual revenue by 1.00: the bridge does not close (a defect: please report it).")
