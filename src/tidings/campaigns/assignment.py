"""Who gets which variant, or nothing (the control group): a stable hash of (campaign, user).

The same bucket is computed in SQL when the audience is frozen (`md5` on PostgreSQL, the
same function registered on a SQLite connection), so a re-run, a resumed freeze or this
module's answer always agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

BUCKETS = 10_000
"""Basis points: a 10% control group is buckets 0-999."""
HEX_DIGITS = 7
"""The first 28 bits of the md5: non-negative in a PostgreSQL int and in Python alike."""


def bucket(campaign_id: str, user_id: str) -> int:
    """The user's bucket in this campaign, 0..BUCKETS-1, stable across runs and databases."""
    digest = hashlib.md5(f"{campaign_id}:{user_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:HEX_DIGITS], 16) % BUCKETS


@dataclass(frozen=True, slots=True)
class Slice:
    """Buckets below `upper` (and at or above the previous slice's) go to `variant`;
    `variant` None is the control group."""

    upper: int
    variant: str | None


def slices(control_percent: int, weights: Sequence[tuple[str, int]]) -> tuple[Slice, ...]:
    """The control group first, then each variant's share of the rest by its weight; the
    last slice ends at BUCKETS so rounding loses nobody."""
    if not weights or any(w <= 0 for _, w in weights):
        raise ValueError("at least one variant, each with a positive weight")
    control = control_percent * BUCKETS // 100
    result = [Slice(control, None)] if control else []
    rest, total, running = BUCKETS - control, sum(w for _, w in weights), 0
    for index, (key, weight) in enumerate(weights):
        running += weight
        upper = BUCKETS if index == len(weights) - 1 else control + rest * running // total
        result.append(Slice(upper, key))
    return tuple(result)


def assign(user_bucket: int, plan: Sequence[Slice]) -> str | None:
    """The variant key of a bucket (None: control)."""
    for part in plan:
        if user_bucket < part.upper:
            return part.variant
    raise ValueError(f"bucket {user_bucket} outside 0..{BUCKETS - 1}")


def expected_shares(plan: Sequence[Slice]) -> dict[str | None, float]:
    """Each group's expected share of the audience (what the sample-ratio check compares)."""
    shares: dict[str | None, float] = {}
    lower = 0
    for part in plan:
        shares[part.variant] = (part.upper - lower) / BUCKETS
        lower = part.upper
    return shares
