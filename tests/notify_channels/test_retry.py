"""Retry policies: exponential with jitter, capped, Retry-After first; the webhook schedule."""

from __future__ import annotations

import random

import pytest

from tidings.notify.channels.retry import (
    DEFAULT_POLICIES,
    MESSAGE_POLICY,
    STANDARD_WEBHOOKS_SCHEDULE,
    WEBHOOK_SCHEDULE,
    RetryPolicy,
    ScheduledRetry,
)
from tidings.notify.types import ChannelName


class Always:
    """An rng that always draws the same number."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_without_jitter_the_wait_doubles_until_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_seconds=2, max_seconds=20, jitter=0.0)
    waits = [policy.next_delay(n, None, Always(0.5)) for n in range(1, 7)]
    assert waits == [2, 4, 8, 16, 20, 20]


def test_full_jitter_draws_between_zero_and_the_exponential_ceiling() -> None:
    policy = RetryPolicy(max_attempts=10, base_seconds=2, max_seconds=600, jitter=1.0)
    rng = random.Random(7)
    for attempt in range(1, 9):
        ceiling = min(600, 2 * 2 ** (attempt - 1))
        for _ in range(50):
            delay = policy.next_delay(attempt, None, rng)
            assert delay is not None
            assert 0 < delay <= ceiling


def test_the_same_seed_gives_the_same_waits() -> None:
    waits_a = [MESSAGE_POLICY.next_delay(n, None, random.Random(3)) for n in range(1, 6)]
    waits_b = [MESSAGE_POLICY.next_delay(n, None, random.Random(3)) for n in range(1, 6)]
    assert waits_a == waits_b


def test_retry_after_is_never_undercut() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=2, max_seconds=600, jitter=1.0)
    assert policy.next_delay(1, 7.0, Always(0.99)) == 7.0
    assert policy.next_delay(1, 0.5, Always(0.0)) == 2.0


def test_retry_after_beyond_the_cap_still_wins_up_to_the_give_up_horizon() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=2, max_seconds=600)
    assert policy.next_delay(2, 1800.0, Always(0.5)) == 1800.0
    assert policy.next_delay(2, 7200.0, Always(0.5)) is None


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=1, max_seconds=10)
    assert policy.next_delay(2, None, Always(0.5)) is not None
    assert policy.next_delay(3, None, Always(0.5)) is None
    assert policy.next_delay(3, 1.0, Always(0.5)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0, "base_seconds": 1, "max_seconds": 2},
        {"max_attempts": 3, "base_seconds": 0, "max_seconds": 2},
        {"max_attempts": 3, "base_seconds": 5, "max_seconds": 2},
        {"max_attempts": 3, "base_seconds": 1, "max_seconds": 2, "jitter": 1.5},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_webhook_schedule_is_the_standard_webhooks_one() -> None:
    assert STANDARD_WEBHOOKS_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    exact = ScheduledRetry(schedule=STANDARD_WEBHOOKS_SCHEDULE)
    waits = [exact.next_delay(n, None, Always(0.5)) for n in range(1, 9)]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert exact.max_attempts == 8


def test_webhook_schedule_jitter_only_adds() -> None:
    for attempt, base in enumerate(STANDARD_WEBHOOKS_SCHEDULE[1:], start=1):
        delay = WEBHOOK_SCHEDULE.next_delay(attempt, None, Always(0.999))
        assert delay is not None
        assert base <= delay <= base * 1.1


def test_webhook_schedule_honours_retry_after() -> None:
    assert WEBHOOK_SCHEDULE.next_delay(1, 120.0, Always(0.0)) == 120.0


def test_every_sending_channel_has_a_default_policy() -> None:
    assert set(DEFAULT_POLICIES) == {
        ChannelName.SMS,
        ChannelName.PUSH,
        ChannelName.EMAIL,
        ChannelName.WEBHOOK,
    }
    assert DEFAULT_POLICIES[ChannelName.SMS].max_attempts == 6
    assert DEFAULT_POLICIES[ChannelName.WEBHOOK] is WEBHOOK_SCHEDULE
