"""The quarter landing on frames small enough to check on paper (soe_helpers.analysis.landing)."""
from __future__ import annotations

import pandas as pd
import pytest

from soe_helpers.analysis import landing as LD

T = pd.Timestamp
WEEKS = ["2026-W50", "2026-W51", "2026-W52", "2026-W53"]   # a four-week quarter ending Sun 3 Jan 2027
RUN = "2026-W51"                                           # ends Sun 20 Dec 2026


def _orders(rows):
    cols = ["order_id", "line", "order_date", "customer_id", "sku", "quantity", "unit_price", "requested_date",
            "promised_date", "scheduled_date", "status"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("order_date", "requested_date", "promised_date", "scheduled_date"):
        df[c] = pd.to_datetime(df[c])
    return df


ORDERS = _orders([
    # 10 x $100, promised 22 Dec: all open -> $1,000 expected in the quarter
    ["SO-1", 1, "2026-12-14", "C1", "A", 10, 100.0, "2026-12-21", "2026-12-22", None, "open"],
    # 4 of 10 shipped by the cutoff -> 6 x $50 = $300 open; rescheduled to 8 Jan 2027 (after quarter end)
    ["SO-2", 1, "2026-12-07", "C1", "B", 10, 50.0, "2026-12-15", "2026-12-16", "2027-01-08", "open"],
    # past due (promised 10 Dec, nothing shipped): $200, expected the day after the cutoff
    ["SO-3", 1, "2026-12-01", "C2", "A", 2, 100.0, "2026-12-09", "2026-12-10", None, "open"],
    # cancelled, and fully shipped: not backlog
    ["SO-4", 1, "2026-12-01", "C2", "A", 5, 100.0, "2026-12-09", "2026-12-10", None, "cancelled"],
    ["SO-5", 1, "2026-12-01", "C2", "A", 3, 100.0, "2026-12-05", "2026-12-06", None, "open"],
    # booked after the cutoff: not yet known
    ["SO-6", 1, "2026-12-22", "C2", "A", 3, 100.0, "2026-12-28", "2026-12-28", None, "open"],
])
SHIPMENTS = pd.DataFrame({"shipment_id": ["S1", "S2"], "order_id": ["SO-2", "SO-5"], "line": [1, 1],
                          "ship_date": pd.to_datetime(["2026-12-15", "2026-12-07"]), "quantity": [4.0, 3.0]})


def test_open_backlog_by_hand():
    b = LD.open_backlog(ORDERS, SHIPMENTS, "2026-12-20").set_index("order_id")
    assert sorted(b.index) == ["SO-1", "SO-2", "SO-3"]
    assert b.loc["SO-1", "value"] == 1000.0 and b.loc["SO-1", "expected_date"] == T("2026-12-22")
    assert b.loc["SO-2", "qty"] == 6.0 and b.loc["SO-2", "value"] == 300.0
    assert b.loc["SO-2", "expected_date"] == T("2027-01-08") and b.loc["SO-2", "rescheduled"]
    assert b.loc["SO-3", "past_due"] and b.loc["SO-3", "expected_date"] == T("2026-12-21")  # late, not lost


def test_a_past_week_sees_lines_open_then_that_are_closed_now():
    """A backfill runs a past week on today's export: a line whose status is 'closed' today was open at that week's
    end by what shipped after it; closed short, only what it shipped in the end was ever owed."""
    o = _orders([
        ["SO-7", 1, "2026-12-01", "C1", "A", 10, 100.0, "2026-12-20", "2026-12-22", None, "closed"],  # shipped 4+6
        ["SO-8", 1, "2026-12-01", "C1", "A", 10, 100.0, "2026-12-20", "2026-12-22", None, "closed"],  # 3, closed short
    ])
    sh = pd.DataFrame({"shipment_id": ["S1", "S2", "S3"], "order_id": ["SO-7", "SO-7", "SO-8"], "line": [1, 1, 1],
                       "ship_date": pd.to_datetime(["2026-12-10", "2026-12-22", "2026-12-10"]),
                       "quantity": [4.0, 6.0, 3.0]})
    then = LD.open_backlog(o, sh, "2026-12-20").set_index("order_id")
    assert then["qty"].to_dict() == {"SO-7": 6.0}          # SO-8 had shipped all it ever would by then
    assert LD.open_backlog(o, sh, "2026-12-27").empty      # today: nothing open


def test_open_backlog_without_shipments_or_dates_falls_back_to_requested():
    o = ORDERS.drop(columns=["scheduled_date", "promised_date"]).iloc[:1]
    b = LD.open_backlog(o, None, "2026-12-20")
    assert b["expected_date"].tolist() == [T("2026-12-21")] and b["value"].tolist() == [1000.0]


def test_ship_share_by_lead_time():
    lags = pd.DataFrame({"days": [7.0, 21.0], "weight": [1.0, 1.0]})
    # booked in W53 (28 Dec - 3 Jan): a 7-day lead ships 4 Jan or later -> nothing in the quarter
    assert LD.ship_share_by("2026-W53", "2027-01-03", lags) == 0.0
    # booked in W51 (14-20 Dec): 7 days -> by 27 Dec, in; 21 days -> from 4 Jan, out
    assert LD.ship_share_by("2026-W51", "2027-01-03", lags) == 0.5
    assert LD.ship_share_by("2026-W53", "2027-01-03", lags.iloc[:0]) == 1.0   # no history: all in


def test_unbooked_demand_consumes_the_forecast_and_ships_by_lead_time():
    fc = pd.DataFrame({"week": ["2026-W52", "2026-W53"], "sku": ["A", "A"], "product_line": ["L", "L"],
                       "revenue": [1000.0, 1000.0]})
    booked = pd.DataFrame({"week": ["2026-W52"], "sku": ["A"], "revenue": [300.0]})  # already booked for W52
    lags = pd.DataFrame({"days": [0.0], "weight": [1.0]})                           # ships the day it is booked
    u = LD.unbooked_demand(fc, booked, ["2026-W52", "2026-W53"], "2027-01-03", lags).set_index("week")
    assert u.loc["2026-W52", "unbooked"] == 700.0 and u.loc["2026-W53", "unbooked"] == 1000.0
    assert u["in_quarter"].sum() == 1700.0


def test_landing_is_shipped_plus_backlog_plus_unbooked_and_closes():
    backlog = LD.open_backlog(ORDERS, SHIPMENTS, "2026-12-20").assign(product_line="L")
    unbooked = pd.DataFrame({"week": ["2026-W52", "2026-W53"], "sku": ["A", "A"], "product_line": ["L", "L"],
                             "forecast": [500.0, 500.0], "consumed": [0.0, 0.0], "unbooked": [500.0, 500.0],
                             "ship_share": [1.0, 0.2], "in_quarter": [500.0, 100.0]})
    unbooked = LD.corrected_unbooked(unbooked, pd.DataFrame({"level": ["product_line"], "key": ["L"], "lag": [1],
                                                             "correction_pct": [-0.10]}), pd.Series([1, 2]))
    shipped = pd.DataFrame({"week": ["2026-W50", "2026-W51"], "revenue": [400.0, 600.0]})
    plan = pd.DataFrame({"week": WEEKS, "revenue": [700.0] * 4})
    f, weekly = LD.quarter_landing(shipped, plan, backlog, unbooked, WEEKS, RUN)
    assert f["actual_qtd"] == 1000.0
    assert f["backlog_in_quarter"] == 1200.0          # SO-1 $1,000 + SO-3 $200 (past due); SO-2 after quarter end
    assert f["backlog_after_quarter"] == 300.0 and f["backlog_past_due"] == 200.0
    assert f["unbooked_in_quarter"] == 600.0
    assert f["landing"] == 2800.0 and f["gap"] == 0.0   # plan 4 x $700
    # lag 2 takes the longest lag's correction: both weeks -10%
    assert f["landing_corrected"] == pytest.approx(1000.0 + 1200.0 + 540.0)
    assert weekly["cum_outlook"].iloc[-1] == pytest.approx(f["landing"])
    slip = LD.slip_risk(backlog, WEEKS, RUN)
    assert slip["order_id"].tolist() == ["SO-3"] and slip["reason"].tolist() == ["past due"]


def test_quarter_end_week_has_nothing_left_to_land():
    backlog = LD.open_backlog(ORDERS, SHIPMENTS, "2027-01-03").assign(product_line="L")
    shipped = pd.DataFrame({"week": WEEKS, "revenue": [100.0] * 4})
    plan = pd.DataFrame({"week": WEEKS, "revenue": [100.0] * 4})
    f, _ = LD.quarter_landing(shipped, plan, backlog, pd.DataFrame(columns=["week", "product_line", "unbooked",
                                                                            "in_quarter"]), WEEKS, "2026-W53")
    assert f["landing"] == 400.0 and f["backlog_in_quarter"] == 0.0 and f["gap"] == 0.0
    assert LD.slip_risk(backlog, WEEKS, "2026-W53").empty
