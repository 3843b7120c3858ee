"""Several providers for one channel, each behind a circuit breaker.

While a provider fails, traffic moves to the next one instead of every message waiting out
its time-outs; after a cool-down one probe message tests it, and it takes traffic again when
the probe goes through. Only transient failures count against a provider: a permanent error
is about the message or the recipient, so trying it elsewhere would not help.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog

from tidings.notify.channels.base import (
    ChannelAdapter,
    ChannelInfo,
    Closeable,
    RecipientRateLimited,
    describe,
)
from tidings.notify.types import (
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

log = structlog.get_logger(__name__)

MonotonicClock = Callable[[], float]
"""Seconds from an arbitrary origin that never goes backwards (`time.monotonic`)."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    """Healthy: every send goes to this provider."""
    OPEN = "open"
    """Failing: skipped until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """Cooling down is over: one probe send is let through to test it."""


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a provider is taken out of rotation and when it is tried again."""

    failure_threshold: int = 5
    """Consecutive transient failures that open the breaker..."""
    window_seconds: float = 60.0
    """...when they all happened within this many seconds."""
    cool_down_seconds: float = 30.0
    """How long an open breaker rejects sends before letting one probe through."""

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.window_seconds <= 0 or self.cool_down_seconds < 0:
            raise ValueError("need failure_threshold >= 1, window > 0, cool_down >= 0")


DEFAULT_BREAKER = BreakerPolicy()
"""Five transient failures in a row within a minute open a breaker for 30 seconds."""


class CircuitBreaker:
    """closed → open (N failures in a row within a window) → half-open (one probe) → closed.

    Thread-safe: in half-open state exactly one caller gets the probe; the others are told
    no until the probe reports back.
    """

    def __init__(self, name: str, policy: BreakerPolicy, *, clock: MonotonicClock) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._probe_started = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._advance(self._clock())
            return self._state

    def _advance(self, now: float) -> None:
        if (
            self._state is BreakerState.OPEN
            and now - self._opened_at >= self.policy.cool_down_seconds
        ):
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False

    def allow(self) -> bool:
        """May a send go to this provider now? In half-open state, True means "you probe"."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN:
                # A probe that never reported back (its thread died) must not wedge the
                # breaker: after another cool-down, the next caller probes instead.
                stale = now - self._probe_started >= self.policy.cool_down_seconds
                if not self._probe_in_flight or stale:
                    self._probe_in_flight = True
                    self._probe_started = now
                    return True
            return False

    def seconds_until_probe(self) -> float:
        """How long until this provider may be tried again (0 when it may be now)."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._state is not BreakerState.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.policy.cool_down_seconds - now)

    def record_success(self) -> None:
        """The provider answered (even a permanent error is an answer): it is healthy."""
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                log.info("notify.provider.circuit_closed", provider=self.name)
            self._state = BreakerState.CLOSED
            self._failures.clear()
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._state is BreakerState.HALF_OPEN:
                self._open(now, reason="probe_failed")
                return
            if self._state is BreakerState.OPEN:
                return
            self._failures.append(now)
            while self._failures and now - self._failures[0] > self.policy.window_seconds:
                self._failures.popleft()
            if len(self._failures) >= self.policy.failure_threshold:
                self._open(now, reason="failure_threshold")

    def _open(self, now: float, *, reason: str) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._failures.clear()
        self._probe_in_flight = False
        log.warning(
            "notify.provider.circuit_opened",
            provider=self.name,
            reason=reason,
            cool_down_s=self.policy.cool_down_seconds,
        )

    def __repr__(self) -> str:
        return describe("CircuitBreaker", name=self.name, state=str(self.state))


class ProviderChain:
    """One channel's providers in order of preference; itself a `ChannelAdapter`.

    `send` tries the first provider whose breaker allows it and moves on after a transient
    failure. It raises `PermanentChannelError` at once, `RecipientRateLimited` at once, and
    `TransientChannelError` when no provider took the message; that error's `retry_after`
    is the earliest time any provider may succeed: the smallest `Retry-After` or remaining
    cool-down, or None when some provider failed without asking for a pause.
    """

    def __init__(
        self,
        providers: Sequence[ChannelAdapter],
        *,
        breaker: BreakerPolicy | None = DEFAULT_BREAKER,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        channels = {provider.info.channel for provider in providers}
        if len(channels) != 1:
            raise ValueError(f"providers of one chain must share a channel, got {channels}")
        names = [provider.info.name for provider in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique in a chain, got {names}")
        self.providers: tuple[ChannelAdapter, ...] = tuple(providers)
        self.breakers: tuple[CircuitBreaker | None, ...] = tuple(
            None if breaker is None else CircuitBreaker(name, breaker, clock=clock)
            for name in names
        )
        first = self.providers[0].info
        limits = [p.info.body_limit for p in self.providers if p.info.body_limit is not None]
        rates = [p.info.rate_per_s for p in self.providers]
        self._info = ChannelInfo(
            name="+".join(names),
            channel=first.channel,
            body_limit=min(limits) if limits else None,
            rate_per_s=None if any(r is None for r in rates) else rates[0],
        )

    @property
    def info(self) -> ChannelInfo:
        """The chain as one adapter: the tightest body limit, the first provider's rate."""
        return self._info

    def send(self, message: OutgoingMessage) -> SendResult:
        failures: list[TransientChannelError] = []
        waits: list[float | None] = []
        for provider, breaker in zip(self.providers, self.breakers, strict=True):
            if breaker is not None and not breaker.allow():
                waits.append(breaker.seconds_until_probe())
                continue
            try:
                result = provider.send(message)
            except RecipientRateLimited:
                if breaker is not None:
                    breaker.record_success()
                raise
            except PermanentChannelError:
                if breaker is not None:
                    breaker.record_success()
                raise
            except TransientChannelError as exc:
                if breaker is not None:
                    breaker.record_failure()
                failures.append(exc)
                waits.append(exc.retry_after)
                log.info(
                    "notify.provider.send_failed",
                    provider=provider.info.name,
                    delivery_id=message.delivery_id,
                    status=exc.status,
                    retry_after=exc.retry_after,
                )
                continue
            except Exception:
                if breaker is not None:
                    breaker.record_failure()
                raise
            if breaker is not None:
                breaker.record_success()
            return result
        raise self._exhausted(failures, waits)

    def _exhausted(
        self, failures: list[TransientChannelError], waits: list[float | None]
    ) -> TransientChannelError:
        retry_after = (
            None if any(w is None for w in waits) else min(w for w in waits if w is not None)
        )
        if failures:
            detail = "; ".join(f"{f.provider}: {f.detail}" for f in failures)
            status = failures[-1].status
        else:
            detail = "every provider's circuit is open"
            status = None
        if any(b is not None and b.state is not BreakerState.CLOSED for b in self.breakers):
            detail += " (" + ", ".join(repr(b) for b in self.breakers if b is not None) + ")"
        return TransientChannelError(
            f"no provider took the message: {detail}",
            provider=self.info.name,
            status=status,
            retry_after=retry_after,
        )

    def close(self) -> None:
        for provider in self.providers:
            if isinstance(provider, Closeable):
                provider.close()

    def __repr__(self) -> str:
        return f"ProviderChain([{', '.join(repr(p) for p in self.providers)}])"
