"""The campaign report's statistics and the variant assignment, against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from tidings.campaigns.assignment import BUCKETS, Slice, assign, bucket, expected_shares, slices
from tidings.campaigns.stats import SRM_ALPHA, rate, sample_ratio_p_value, two_proportion_p_value


def test_the_report_p_value_matches_a_hand_computed_z_test() -> None:
    # 200 of 1,000 converted with the message, 150 of 1,000 without.
    # pooled p = 350 / 2000 = 0.175; se = sqrt(0.175 * 0.825 * (1/1000 + 1/1000)) = 0.0169926
    # z = (0.20 - 0.15) / 0.0169926 = 2.94245; two-sided p = erfc(z / sqrt 2) = 0.0032571
    z = 0.05 / math.sqrt(0.175 * 0.825 * 0.002)
    assert z == pytest.approx(2.94245, abs=1e-5)
    p = two_proportion_p_value(200, 1000, 150, 1000)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert p == pytest.approx(0.0032571, abs=1e-6)


def test_no_difference_is_p_one_and_an_empty_or_degenerate_group_says_nothing() -> None:
    assert two_proportion_p_value(10, 100, 10, 100) == pytest.approx(1.0)
    assert two_proportion_p_value(5, 100, 0, 0) is None
    assert two_proportion_p_value(0, 100, 0, 100) is None
    assert rate(0, 0) == 0.0


def test_a_split_as_designed_passes_and_a_skewed_one_is_a_sample_ratio_mismatch() -> None:
    assert sample_ratio_p_value([500, 500], [0.5, 0.5]) == pytest.approx(1.0)
    # chi-square = 100^2/500 * 2 = 40 with one degree of freedom: p = erfc(sqrt(20)) ≈ 2.5e-10
    skewed = sample_ratio_p_value([600, 400], [0.5, 0.5])
    assert skewed == pytest.approx(math.erfc(math.sqrt(20)), rel=1e-6)
    assert skewed < SRM_ALPHA
    assert sample_ratio_p_value([100, 450, 450], [0.1, 0.45, 0.45]) == pytest.approx(1.0)
    assert sample_ratio_p_value([10], [1.0]) is None


def test_slices_put_the_control_group_first_and_share_the_rest_by_weight() -> None:
    assert slices(10, [("a", 1), ("b", 1)]) == (
        Slice(1000, None),
        Slice(5500, "a"),
        Slice(BUCKETS, "b"),
    )
    assert slices(0, [("a", 3), ("b", 1)]) == (Slice(7500, "a"), Slice(BUCKETS, "b"))
    assert expected_shares(slices(20, [("a", 1)])) == {None: 0.2, "a": 0.8}
    with pytest.raises(ValueError, match="variant"):
        slices(10, [])


def test_assignment_is_stable_and_close_to_the_design() -> None:
    plan = slices(10, [("a", 1), ("b", 1)])
    users = [f"usr_{n:026d}" for n in range(20_000)]
    first = [assign(bucket("cmp_x", u), plan) for u in users]
    assert first == [assign(bucket("cmp_x", u), plan) for u in users]
    share = first.count(None) / len(users)
    assert 0.09 < share < 0.11
    assert abs(first.count("a") - first.count("b")) < 0.03 * len(users)
    # Another campaign shuffles people anew.
    assert first != [assign(bucket("cmp_y", u), plan) for u in users]
