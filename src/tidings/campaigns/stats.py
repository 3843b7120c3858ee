"""The report's statistics: did a variant convert better than sending nothing, and was the
split as designed? scipy gives the normal and chi-square tails; it is imported when a report
is read, not when a server starts (`scipy.stats` alone is ~1.7 s and tens of MB per process)."""

from __future__ import annotations

import math
from collections.abc import Sequence

SRM_ALPHA = 0.001
"""A sample-ratio mismatch is flagged below this p-value (the usual, conservative bar)."""


def rate(converted: int, total: int) -> float:
    return converted / total if total else 0.0


def two_proportion_p_value(
    converted_a: int, total_a: int, converted_b: int, total_b: int
) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when either group is
    empty or nobody (or everybody) converted in both, where the test says nothing."""
    if total_a == 0 or total_b == 0:
        return None
    pooled = (converted_a + converted_b) / (total_a + total_b)
    variance = pooled * (1 - pooled) * (1 / total_a + 1 / total_b)
    if variance <= 0:
        return None
    z = (converted_a / total_a - converted_b / total_b) / math.sqrt(variance)
    from scipy import stats

    return float(2 * stats.norm.sf(abs(z)))


def sample_ratio_p_value(observed: Sequence[int], expected_shares: Sequence[float]) -> float | None:
    """Chi-square goodness of fit of the groups' sizes against the designed split; None
    with fewer than two groups or nobody in them."""
    total = sum(observed)
    if len(observed) < 2 or total == 0:
        return None
    expected = [share * total for share in expected_shares]
    if any(e <= 0 for e in expected):
        return None
    from scipy import stats

    return float(stats.chisquare(list(observed), expected).pvalue)
