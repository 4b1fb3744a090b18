"""Materiality, one rule for every report: is a variance large enough to list, colour red or act on?

The rule finance means, stated once (``params.materiality``):

- a variance below the absolute threshold (``materiality.abs``, $5K by default, in the company
  currency) is **never** material, whatever its percentage;
- the relative threshold (``materiality.pct``, 5% by default) narrows the list further, never
  widens it: a variance at or above ``abs`` is material only when it is also at least ``pct`` of
  its reference (plan, forecast, run-rate, book value...);
- a variance on a zero (or unknown) reference has no percentage: the absolute test alone decides.

So: ``material = |v| >= abs and (reference is 0 or missing or |v| / |reference| >= pct)``.
Both thresholds are inclusive: a variance of exactly $5,000 and exactly 5% is material.
Pass ``reference=None`` where a figure has no reference (a cash event's dollars at stake).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["is_material", "material_mask"]


def material_mask(variance, reference=None, materiality=None, *, abs_threshold: float | None = None,
                  pct_threshold: float | None = None) -> np.ndarray:
    """A boolean array: True where a variance is material (see the module docstring for the rule).

    Args:
        variance: variances (actual - reference, or dollars at stake), currency; the sign is ignored.
        reference: what each variance is measured against (same length), or None for no reference:
            then only the absolute threshold applies. A zero or NaN reference also skips the
            relative test.
        materiality: ``params.materiality`` (``abs``, ``pct``); or give ``abs_threshold`` /
            ``pct_threshold`` directly (defaults $5K and 5%).

    Returns:
        ``np.ndarray`` of bool, one per variance. A NaN variance is never material.

    >>> material_mask([4999, 5000, 6000, 6000], [0, 100000, 200000, 0], abs_threshold=5000, pct_threshold=0.05).tolist()
    [False, True, False, True]
    """
    a = float(materiality.abs if abs_threshold is None and materiality is not None else
              (5000.0 if abs_threshold is None else abs_threshold))
    p = float(materiality.pct if pct_threshold is None and materiality is not None else
              (0.05 if pct_threshold is None else pct_threshold))
    v = np.abs(np.asarray(pd.to_numeric(pd.Series(np.ravel(variance)), errors="coerce"), dtype=float))
    if reference is None:
        r = np.zeros_like(v)
    else:
        r = np.abs(np.asarray(pd.to_numeric(pd.Series(np.ravel(reference)), errors="coerce"), dtype=float))
        r = np.where(np.isnan(r), 0.0, r)
        if r.shape != v.shape:
            raise ValueError(f"materiality: {len(v)} variances but {len(r)} references")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(r > 0, v / np.where(r > 0, r, 1.0), np.inf)  # no reference: no percentage to fail
    # A tiny tolerance so that "exactly at the threshold" survives float noise (0.05 * 100000 etc.).
    return (v >= a - 1e-9) & (share >= p - 1e-12)


def is_material(variance: float, reference: float | None = None, materiality=None, *,
                abs_threshold: float | None = None, pct_threshold: float | None = None) -> bool:
    """True when one variance is material: ``|variance| >= abs`` and (no reference or ``|variance| / |reference| >= pct``).

    Args and rule: as :func:`material_mask`, on plain floats.

    >>> is_material(5000, 100000, abs_threshold=5000, pct_threshold=0.05)
    True
    >>> is_material(80000, 10_000_000, abs_threshold=5000, pct_threshold=0.05)  # 0.8%: large but not material
    False
    """
    ref = None if reference is None else [reference]
    return bool(material_mask([variance], ref, materiality, abs_threshold=abs_threshold,
                              pct_threshold=pct_threshold)[0])
