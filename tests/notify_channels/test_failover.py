"""ProviderChain and CircuitBreaker on fake providers and a clock the test moves."""

from __future__ import annotations

import threading
from collections import deque

import pytest

from tidings.notify.channels.base import ChannelInfo, RecipientRateLimited
from tidings.notify.channels.failover import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    ProviderChain,
)
from tidings.notify.types import (
    ChannelName,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

from .conftest import FakeMonotonic, MessageFactory, state_of

POLICY = BreakerPolicy(failure_threshold=2, window_seconds=60, cool_down_seconds=30)


class ScriptedProvider:
    """Raises the scripted errors in turn, then accepts everything."""

    def __init__(self, name: str, *script: Exception) -> None:
        self._info = ChannelInfo(name=name, channel=ChannelName.SMS, body_limit=500, rate_per_s=10)
        self.script: deque[Exception] = deque(script)
        self.calls: list[str] = []

    @property
    def info(self) -> ChannelInfo:
        return self._info

    def send(self, message: OutgoingMessage) -> SendResult:
        self.calls.append(message.delivery_id)
        if self.script:
            raise self.script.popleft()
        return SendResult(provider=self._info.name, provider_message_id=f"{self._info.name}-ok")


def down(name: str, retry_after: float | None = None) -> TransientChannelError:
    return TransientChannelError("503", provider=name, status=503, retry_after=retry_after)


def test_the_first_healthy_provider_takes_the_message(make_message: MessageFactory) -> None:
    first, second = ScriptedProvider("a"), ScriptedProvider("b")
    result = ProviderChain([first, second]).send(make_message())
    assert result.provider == "a"
    assert second.calls == []


def test_a_transient_failure_moves_the_message_to_the_next_provider(
    make_message: MessageFactory,
) -> None:
    first, second = ScriptedProvider("a", down("a")), ScriptedProvider("b")
    result = ProviderChain([first, second]).send(make_message())
    assert result == SendResult(provider="b", provider_message_id="b-ok")


def test_a_permanent_error_is_raised_at_once_without_trying_elsewhere(
    make_message: MessageFactory,
) -> None:
    invalid = PermanentChannelError("isv.MOBILE_NUMBER_ILLEGAL", provider="a", status=200)
    first, second = ScriptedProvider("a", invalid), ScriptedProvider("b")
    chain = ProviderChain([first, second])
    with pytest.raises(PermanentChannelError):
        chain.send(make_message())
    assert second.calls == []
    assert state_of(chain) is BreakerState.CLOSED


def test_a_recipient_limit_is_not_dodged_through_another_provider(
    make_message: MessageFactory, clock: FakeMonotonic
) -> None:
    limited = [RecipientRateLimited("limit", provider="a", retry_after=60) for _ in range(3)]
    first, second = ScriptedProvider("a", *limited), ScriptedProvider("b")
    chain = ProviderChain([first, second], breaker=POLICY, clock=clock)
    for _ in range(3):
        with pytest.raises(RecipientRateLimited):
            chain.send(make_message())
    assert second.calls == []
    assert state_of(chain) is BreakerState.CLOSED


def test_when_every_provider_fails_the_error_carries_the_smallest_retry_after(
    make_message: MessageFactory,
) -> None:
    chain = ProviderChain(
        [ScriptedProvider("a", down("a", 40)), ScriptedProvider("b", down("b", 7))]
    )
    with pytest.raises(TransientChannelError) as caught:
        chain.send(make_message())
    assert caught.value.retry_after == 7
    assert "a: 503" in caught.value.detail
    assert "b: 503" in caught.value.detail
    assert caught.value.provider == "a+b"


def test_a_provider_without_retry_after_means_the_chain_may_be_retried_at_once(
    make_message: MessageFactory,
) -> None:
    chain = ProviderChain([ScriptedProvider("a", down("a", 40)), ScriptedProvider("b", down("b"))])
    with pytest.raises(TransientChannelError) as caught:
        chain.send(make_message())
    assert caught.value.retry_after is None


def test_breaker_opens_skips_probes_after_cool_down_and_closes_on_success(
    make_message: MessageFactory, clock: FakeMonotonic
) -> None:
    first = ScriptedProvider("a", down("a"), down("a"))
    second = ScriptedProvider("b")
    chain = ProviderChain([first, second], breaker=POLICY, clock=clock)
    assert chain.send(make_message()).provider == "b"
    assert state_of(chain) is BreakerState.CLOSED
    assert chain.send(make_message()).provider == "b"
    assert state_of(chain) is BreakerState.OPEN

    clock.advance(29)
    assert chain.send(make_message()).provider == "b"
    assert len(first.calls) == 2  # skipped while open

    clock.advance(1)
    assert state_of(chain) is BreakerState.HALF_OPEN
    assert chain.send(make_message()).provider == "a"  # the probe went through
    assert state_of(chain) is BreakerState.CLOSED


def test_a_failed_probe_opens_the_breaker_for_another_cool_down(
    make_message: MessageFactory, clock: FakeMonotonic
) -> None:
    first = ScriptedProvider("a", down("a"), down("a"), down("a"))
    chain = ProviderChain([first, ScriptedProvider("b")], breaker=POLICY, clock=clock)
    chain.send(make_message())
    chain.send(make_message())
    clock.advance(30)
    assert chain.send(make_message()).provider == "b"  # probe to a failed
    assert len(first.calls) == 3
    assert state_of(chain) is BreakerState.OPEN
    clock.advance(29)
    chain.send(make_message())
    assert len(first.calls) == 3


def test_failures_spread_wider_than_the_window_do_not_open_the_breaker(
    make_message: MessageFactory, clock: FakeMonotonic
) -> None:
    first = ScriptedProvider("a", down("a"), down("a"))
    chain = ProviderChain([first, ScriptedProvider("b")], breaker=POLICY, clock=clock)
    chain.send(make_message())
    clock.advance(61)
    chain.send(make_message())
    assert state_of(chain) is BreakerState.CLOSED


def test_a_success_resets_the_count_of_consecutive_failures(
    make_message: MessageFactory, clock: FakeMonotonic
) -> None:
    first = ScriptedProvider("a", down("a"))
    chain = ProviderChain([first, ScriptedProvider("b")], breaker=POLICY, clock=clock)
    chain.send(make_message())  # a fails
    chain.send(make_message())  # a succeeds
    first.script.append(down("a"))
    chain.send(make_message())  # a fails once more: one in a row, still closed
    assert state_of(chain) is BreakerState.CLOSED


def test_when_every_breaker_is_open_retry_after_is_the_time_to_the_next_probe(
    make_message: MessageFactory, clock: FakeMonotonic
) -> None:
    only = ScriptedProvider("a", down("a"), down("a"))
    chain = ProviderChain([only], breaker=POLICY, clock=clock)
    for _ in range(2):
        with pytest.raises(TransientChannelError):
            chain.send(make_message())
    clock.advance(10)
    with pytest.raises(TransientChannelError) as caught:
        chain.send(make_message())
    assert caught.value.retry_after == pytest.approx(20)
    assert "circuit is open" in caught.value.detail
    assert len(only.calls) == 2


def test_half_open_lets_exactly_one_of_many_threads_probe(clock: FakeMonotonic) -> None:
    breaker = CircuitBreaker("a", POLICY, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(30)
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


def test_a_probe_that_never_reports_back_does_not_wedge_the_breaker(clock: FakeMonotonic) -> None:
    breaker = CircuitBreaker("a", POLICY, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    assert not breaker.allow()
    clock.advance(30)
    assert breaker.allow()


def test_a_chain_describes_itself_from_its_providers() -> None:
    wide = ScriptedProvider("b")
    wide._info = ChannelInfo(name="b", channel=ChannelName.SMS, body_limit=670, rate_per_s=5)
    chain = ProviderChain([ScriptedProvider("a"), wide])
    assert chain.info == ChannelInfo(
        name="a+b", channel=ChannelName.SMS, body_limit=500, rate_per_s=10
    )


def test_a_chain_refuses_mixed_channels_and_duplicate_names() -> None:
    other = ScriptedProvider("b")
    other._info = ChannelInfo(name="b", channel=ChannelName.PUSH, body_limit=None, rate_per_s=None)
    with pytest.raises(ValueError, match="share a channel"):
        ProviderChain([ScriptedProvider("a"), other])
    with pytest.raises(ValueError, match="unique"):
        ProviderChain([ScriptedProvider("a"), ScriptedProvider("a")])
    with pytest.raises(ValueError, match="at least one"):
        ProviderChain([])
