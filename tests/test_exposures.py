"""One exposure per root cause (soe_helpers.analysis.exposures) on proposals small enough to check by hand."""
from __future__ import annotations

import pandas as pd

from soe_helpers.analysis.actions import PROPOSAL_COLUMNS
from soe_helpers.analysis.exposures import exposures


def _p(issue_key, source_type, title, dollars, **kw):
    row = {c: None for c in PROPOSAL_COLUMNS}
    row.update(issue_key=issue_key, source_type=source_type, source=source_type, title=title, sentence=title,
               dollars_at_stake=float(dollars), type=kw.pop("type", source_type), **kw)
    return row


PROPS = pd.DataFrame([
    # SO-500000 as the demo shows it four times
    _p("variance:orders_vs_forecast:sku:PWR-5004", "variance", "PWR-5004: orders ahead of forecast", 528_000,
       product_line="Power Supplies", sku="PWR-5004"),
    _p("variance:orders_vs_forecast:product_line:Power Supplies", "variance", "Power Supplies: orders ahead of forecast",
       461_000, product_line="Power Supplies"),
    _p("event:production_delay:SO-500000/1", "event", "Production delay: SO-500000", 515_000, type="production_delay",
       product_line="Power Supplies", sku="PWR-5004"),
    _p("event:order_at_risk:SO-500000/1", "event", "Order at risk: SO-500000", 500_000, type="order_at_risk",
       product_line="Power Supplies", sku="PWR-5004"),
    _p("kpi:otif_value", "kpi", "OTIF (share of value) off target", 1_050_000, type="otif_value"),
    # one shortfall cut by line and by region: Controllers -$300K and Sensors -$100K; Americas -$402K
    _p("variance:shipments_vs_plan:product_line:Controllers", "variance", "Controllers: shipments behind plan", 300_000,
       product_line="Controllers"),
    _p("variance:shipments_vs_plan:sku:CTL-2008", "variance", "CTL-2008: shipments behind plan", 120_000,
       product_line="Controllers", sku="CTL-2008"),
    _p("variance:shipments_vs_plan:product_line:Sensors", "variance", "Sensors: shipments behind plan", 100_000,
       product_line="Sensors"),
    _p("variance:shipments_vs_plan:region:Americas", "variance", "Americas: shipments behind plan", 402_000,
       region="Americas"),
    _p("data:tie_out:gl_ar_vs_invoices", "data_accuracy", "Data check failing: GL AR", 27_350),
])


def test_one_order_is_one_exposure_and_good_news_is_an_opportunity():
    ex = exposures(PROPS)
    so = ex.risks[ex.risks["root"] == "order:SO-500000/1"]
    assert len(so) == 1 and so["dollars_at_stake"].iloc[0] == 515_000.0      # the largest evidence, not the sum
    assert sorted(so["issue_keys"].iloc[0]) == ["event:order_at_risk:SO-500000/1", "event:production_delay:SO-500000/1"]
    assert ex.opportunities["root"].tolist() == ["orders_vs_forecast:line:Power Supplies"]   # SKU rolled into line
    assert ex.opportunities["dollars_at_stake"].iloc[0] == 528_000.0
    assert ex.measures["root"].tolist() == ["kpi:otif_value"]                # a rate: shown, never added


def test_levels_roll_up_and_the_region_cut_adds_only_what_lines_do_not_hold():
    ex = exposures(PROPS)
    r = ex.risks.set_index("root")["dollars_at_stake"]
    assert r["shipments_vs_plan:line:Controllers"] == 300_000.0             # CTL-2008 is part of it
    assert r["shipments_vs_plan:region cut"] == 2_000.0                     # $402K - ($300K + $100K)
    assert ex.at_stake_total == 515_000 + 300_000 + 100_000 + 2_000 + 27_350
    assert ex.exposure_of()["variance:shipments_vs_plan:sku:CTL-2008"] == \
        ex.risks.set_index("root").loc["shipments_vs_plan:line:Controllers", "exposure_id"]


def test_a_region_cut_inside_the_lines_is_a_measure_not_dollars():
    small = PROPS[PROPS["issue_key"] != "variance:shipments_vs_plan:region:Americas"]
    cut = pd.DataFrame([_p("variance:shipments_vs_plan:region:Americas", "variance", "Americas: shipments behind plan",
                           350_000, region="Americas")])
    ex = exposures(pd.concat([small, cut], ignore_index=True))
    assert "shipments_vs_plan:region cut" not in set(ex.risks["root"])
    assert "shipments_vs_plan:region cut" in set(ex.measures["root"])
