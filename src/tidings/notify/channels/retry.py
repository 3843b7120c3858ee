"""Retry policies as data (procrastinate-style): how long to wait before the next attempt.

A policy is consulted after a `TransientChannelError`: `next_delay(attempt, retry_after, rng)`
gets the number of attempts made so far (1 after the first failure) and the provider's
`Retry-After` (seconds, or None) and answers the seconds to wait, or None to give up (the
dispatcher then falls back to another channel or marks the delivery failed). A provider's
`Retry-After` always wins over a shorter computed wait: retrying sooner only earns another 429.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from tidings.notify.types import ChannelName


class RandomSource(Protocol):
    """Anything with `random() -> float` in [0, 1); `random.Random(seed)` in tests."""

    def random(self) -> float: ...


class Backoff(Protocol):
    """What the dispatcher needs from any retry policy."""

    @property
    def max_attempts(self) -> int: ...

    def next_delay(
        self, attempt: int, retry_after: float | None, rng: RandomSource | None = None
    ) -> float | None: ...


def _honour(delay: float, retry_after: float | None, give_up_beyond: float | None) -> float | None:
    if retry_after is None:
        return delay
    if give_up_beyond is not None and retry_after > give_up_beyond:
        return None
    return max(delay, retry_after)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped: base·2^(attempt-1), at most `max_seconds`.

    `jitter` is the share of the wait drawn at random: 1.0 is "full jitter" (uniform in
    (0, cap]), which spreads a burst of failures so they do not come back all at once;
    0.0 is a fixed exponential wait.
    """

    max_attempts: int
    """Attempts in all, the first included; after this many failures, give up."""
    base_seconds: float
    max_seconds: float
    jitter: float = 1.0
    give_up_beyond_retry_after: float | None = 3600.0
    """A provider asking for a longer pause than this ends the retries (so the dispatcher
    can fall back) instead of parking the message for hours; None: always wait."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds <= 0 or self.max_seconds < self.base_seconds:
            raise ValueError("need 0 < base_seconds <= max_seconds")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a share between 0 and 1")

    def next_delay(
        self, attempt: int, retry_after: float | None, rng: RandomSource | None = None
    ) -> float | None:
        if attempt >= self.max_attempts:
            return None
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        draw = (rng or random).random()
        delay = ceiling * (1.0 - self.jitter * draw)
        return _honour(delay, retry_after, self.give_up_beyond_retry_after)


@dataclass(frozen=True, slots=True)
class ScheduledRetry:
    """Attempts at fixed offsets: `schedule[n]` is the wait before attempt n+1.

    `schedule[0]` is the first attempt (normally 0: immediately), so the policy allows
    `len(schedule)` attempts. `jitter` only ever *adds* up to that share of the wait, so a
    published schedule is never undercut.
    """

    schedule: tuple[float, ...]
    jitter: float = 0.0
    give_up_beyond_retry_after: float | None = None

    def __post_init__(self) -> None:
        if not self.schedule or any(step < 0 for step in self.schedule):
            raise ValueError("a schedule is a non-empty tuple of non-negative seconds")

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)

    def next_delay(
        self, attempt: int, retry_after: float | None, rng: RandomSource | None = None
    ) -> float | None:
        if attempt >= self.max_attempts:
            return None
        base = self.schedule[max(1, attempt)]
        delay = base * (1.0 + self.jitter * (rng or random).random())
        return _honour(delay, retry_after, self.give_up_beyond_retry_after)


STANDARD_WEBHOOKS_SCHEDULE: tuple[float, ...] = (
    0.0,
    5.0,
    5 * 60.0,
    30 * 60.0,
    2 * 3600.0,
    5 * 3600.0,
    10 * 3600.0,
    10 * 3600.0,
)
"""The Standard Webhooks retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""

WEBHOOK_SCHEDULE = ScheduledRetry(schedule=STANDARD_WEBHOOKS_SCHEDULE, jitter=0.1)
"""Webhook deliveries: eight attempts over about 27.5 hours, as receivers expect."""

MESSAGE_POLICY = RetryPolicy(max_attempts=6, base_seconds=2.0, max_seconds=600.0, jitter=1.0)
"""SMS, push and email: a person is waiting, so retry briskly for a few minutes, then fall back."""

DEFAULT_POLICIES: Mapping[ChannelName, Backoff] = MappingProxyType(
    {
        ChannelName.SMS: MESSAGE_POLICY,
        ChannelName.PUSH: MESSAGE_POLICY,
        ChannelName.EMAIL: MESSAGE_POLICY,
        ChannelName.WEBHOOK: WEBHOOK_SCHEDULE,
    }
)
"""The policy per channel when the operator configures none (the inbox never retries)."""
