"""soe_helpers.core.frames and the vectorised calendar labels, against pandas' own answers."""
import numpy as np
import pandas as pd

from soe_helpers.core.calendar import to_week
from soe_helpers.core.frames import isin


def test_isin_matches_pandas_and_never_counts_missing_values():
    values = pd.Series(["SO-1", "SO-2", None, "SO-3", "SO-1"], dtype="str")
    assert isin(values, {"SO-1", "SO-3"}).tolist() == [True, False, False, True, True]
    assert isin(values, pd.Series(["SO-2", None], dtype="str")).tolist() == [False, True, False, False, False]
    assert isin(values.astype(object), ["SO-3"]).tolist() == [False, False, False, True, False]
    assert isin(values, []).tolist() == [False] * 5
    assert isin(pd.Series([], dtype="str"), ["x"]).tolist() == []
    rng = np.random.default_rng(7)
    big = pd.Series([f"PO-{i}" for i in rng.integers(0, 5000, 20_000)], dtype="str")
    members = pd.Series([f"PO-{i}" for i in range(0, 5000, 3)], dtype="str")
    assert (isin(big, members) == big.isin(set(members)).to_numpy()).all()


def test_to_week_labels_iso_weeks_and_keeps_index_name_and_missing():
    s = pd.Series(pd.to_datetime(["2026-01-01", None, "2024-12-30", "2021-01-03", "2026-01-01"]),
                  index=[5, 6, 7, 8, 9], name="ship_date")
    w = to_week(s)
    assert w.tolist() == ["2026-W01", None, "2025-W01", "2020-W53", "2026-W01"]
    assert w.index.tolist() == [5, 6, 7, 8, 9] and w.name == "ship_date" and w.dtype == object
    assert to_week(pd.Series([], dtype="datetime64[ns]")).tolist() == []
