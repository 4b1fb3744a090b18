"""What a thin company's exports leave out, inferred once per load and stated: due dates and shipments."""
import pandas as pd

from soe_helpers.data.completion import (complete_frames, complete_orders, shipments_from_invoices,
                                         shipments_from_orders)

d = pd.Timestamp


def _orders(**extra):
    base = {"order_id": ["O1", "O1", "O2"], "line": pd.array([1, 2, 1], dtype="Int64"),
            "order_date": [d("2026-07-01"), d("2026-07-01"), d("2026-07-03")], "customer_id": ["C1", "C1", "C2"],
            "sku": ["A", "B", "A"], "quantity": [10.0, 5.0, 4.0], "unit_price": [2.0, 3.0, 2.0],
            "status": ["closed", "open", "cancelled"]}
    return pd.DataFrame({**base, **extra})


def test_requested_date_is_order_date_plus_lead_time_and_the_promise_is_the_request():
    out, notes = complete_orders(_orders(), 10)
    assert out["requested_date"].tolist() == [d("2026-07-11"), d("2026-07-11"), d("2026-07-13")]
    assert out["promised_date"].tolist() == out["requested_date"].tolist()
    assert notes == ["The orders have no requested date: the order date + 10 days (data.order_lead_time_days) is used.",
                     "The orders have no promised date: the requested date is used as the promise."]
    # given on some lines only: those keep theirs, the note counts the others
    o = _orders(requested_date=[d("2026-07-05"), pd.NaT, d("2026-07-06")],
                promised_date=[d("2026-07-07"), d("2026-07-08"), d("2026-07-09")])
    out, notes = complete_orders(o, 10)
    assert out["requested_date"].tolist() == [d("2026-07-05"), d("2026-07-11"), d("2026-07-06")]
    assert out["promised_date"].tolist() == [d("2026-07-07"), d("2026-07-08"), d("2026-07-09")]
    assert notes == ["1 order line has no requested date: the order date + 10 days (data.order_lead_time_days) is used."]
    # the input is not changed
    assert "requested_date" not in _orders()


def test_shipments_from_the_orders_own_ship_columns():
    o = _orders(ship_date=[d("2026-07-04"), pd.NaT, pd.NaT], shipped_quantity=[10.0, 0.0, None])
    sh = shipments_from_orders(o)
    assert sh.to_dict("records") == [{"shipment_id": "O1/1", "order_id": "O1", "line": 1, "ship_date": d("2026-07-04"),
                                      "quantity": 10.0}]
    assert shipments_from_orders(_orders()) is None


def test_shipments_from_invoices_when_the_orders_have_no_ship_dates():
    inv = pd.DataFrame({"invoice_id": ["I1", "I2"], "customer_id": ["C1", "C2"], "order_id": ["O1", "O2"],
                        "invoice_date": [d("2026-07-06"), d("2026-07-07")], "amount": [35.0, 8.0]})
    sh = shipments_from_invoices(_orders(), inv)
    # O1's two lines shipped in full on its invoice date; O2 is cancelled: nothing shipped
    assert sh[["order_id", "line", "ship_date", "quantity"]].to_dict("records") == [
        {"order_id": "O1", "line": 1, "ship_date": d("2026-07-06"), "quantity": 10.0},
        {"order_id": "O1", "line": 2, "ship_date": d("2026-07-06"), "quantity": 5.0}]


def test_complete_frames_says_what_it_inferred_and_leaves_a_real_shipments_table_alone():
    o = _orders(ship_date=[d("2026-07-04"), pd.NaT, pd.NaT], shipped_quantity=[10.0, 0.0, None])
    out, notes = complete_frames({"orders": o}, 7)
    assert len(out["shipments"]) == 1 and notes[-1].startswith("No shipments table: shipped is read from the orders'")
    real = pd.DataFrame({"shipment_id": ["S1"], "order_id": ["O1"], "line": [1], "ship_date": [d("2026-07-02")],
                         "quantity": [10.0]})
    out, notes = complete_frames({"orders": o, "shipments": real}, 7)
    assert out["shipments"] is real and not any("shipments" in n for n in notes)
    out, notes = complete_frames({"orders": _orders()}, 7)
    assert "shipments" not in out and notes[-1].endswith("nothing shipped can be measured.")
