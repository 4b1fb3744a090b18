"""Small frame utilities shared by the reports, where pandas' general path is slow at volume."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["isin"]


def _text(x) -> pa.Array | pa.ChunkedArray:
    s = x if isinstance(x, pd.Series) else pd.Series(x)
    return pa.array(s.astype("str").array)  # Arrow-backed already (loaded tables): no copy of the strings


def isin(values: pd.Series, members: Iterable) -> np.ndarray:
    """``values.isin(members)`` as a boolean array, for text keys (order ids, PO ids).

    pandas' ``isin`` on Arrow-backed strings converts every member to a Python object one by one
    (seconds for a million members); this hands both sides to Arrow's hash-based ``is_in``.
    Missing values are never members.
    """
    v = _text(values)
    m = pc.unique(pc.drop_null(_text(members if isinstance(members, (pd.Series, pd.Index, np.ndarray))
                                     else list(members))))
    m = m.cast(v.type) if m.type != v.type else m
    out = pc.is_in(v, value_set=m, skip_nulls=True)
    return pc.fill_null(out, False).to_numpy(zero_copy_only=False).astype(bool)
