"""The one materiality rule: |v| >= abs AND (no reference or |v| / |reference| >= pct), on hand-made numbers."""
import numpy as np
import pandas as pd
import pytest

from soe_helpers.analysis.materiality import is_material, material_mask
from soe_helpers.core.params import Materiality

M = Materiality()  # $5K and 5%


@pytest.mark.parametrize("variance, reference, expected, why", [
    (6000, 100_000, True, "6% and $6K: both pass"),
    (-6000, 100_000, True, "the sign does not matter"),
    (5000, 100_000, True, "exactly $5K and exactly 5%: both thresholds are inclusive"),
    (4999.99, 10_000, False, "under $5K is never material, even at 50%"),
    (100, 1000, False, "10% of a small reference but only $100"),
    (80_000, 10_000_000, False, "$80K but 0.8%: the percentage narrows the list"),
    (5000, 100_001, False, "a cent of reference over 5%: just under the relative threshold"),
    (6000, 0, True, "zero reference: no percentage, the amount decides"),
    (4000, 0, False, "zero reference and under $5K"),
    (6000, float("nan"), True, "unknown reference: the amount decides"),
    (0, 0, False, "nothing is not material"),
    (float("nan"), 100_000, False, "an unknown variance is not material"),
])
def test_is_material_edge_cases(variance, reference, expected, why):
    assert is_material(variance, reference, M) is expected, why


def test_no_reference_means_the_absolute_threshold_alone():
    assert is_material(5000, None, M) and not is_material(4999, None, M)
    assert material_mask([-7000, 3000, 5000], None, M).tolist() == [True, False, True]


def test_thresholds_come_from_params_or_keywords():
    big = Materiality(abs=10_000, pct=0.10)
    assert not is_material(9000, 50_000, big)            # under $10K
    assert not is_material(12_000, 200_000, big)         # 6% < 10%
    assert is_material(12_000, 100_000, big)             # $12K and 12%
    assert is_material(12_000, 200_000, abs_threshold=10_000, pct_threshold=0.05)


def test_mask_on_a_frame_matches_the_scalar_rule_row_by_row():
    df = pd.DataFrame({"variance": [6000.0, 5000.0, 4999.0, 80_000.0, 6000.0, -5000.0],
                       "reference": [100_000.0, 100_000.0, 0.0, 10_000_000.0, 0.0, 50_000.0]})
    mask = material_mask(df["variance"], df["reference"], M)
    assert mask.dtype == bool and mask.tolist() == [True, True, False, False, True, True]
    assert mask.tolist() == [is_material(v, r, M) for v, r in zip(df["variance"], df["reference"])]


def test_pct_never_widens_the_list():
    rng = np.random.default_rng(7)
    v = rng.normal(0, 20_000, 500)
    r = rng.uniform(0, 500_000, 500)
    for pct in (0.0, 0.01, 0.05, 0.5):
        wide = material_mask(v, r, Materiality(abs=5000, pct=pct))
        assert not (wide & (np.abs(v) < 5000)).any(), f"pct={pct} listed a variance under $5K"
    assert (material_mask(v, r, Materiality(pct=0.10)) <= material_mask(v, r, Materiality(pct=0.05))).all()


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="3 variances but 2 references"):
        material_mask([1, 2, 3], [1, 2], M)
