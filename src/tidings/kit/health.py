"""Which background loops of this process are failing, so `/healthz` can say so; and which
providers its dispatcher sends through, with their circuit breakers' states, for the console.

A loop that crashes is restarted after a back-off that doubles up to a minute; it counts as
failing from its crash until it has run `HEALTHY_AFTER` without crashing again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

LOOP_CRASHES = Counter(
    "tidings_worker_loop_crashes_total",
    "Background loops that crashed and were restarted.",
    ["loop"],
)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
HEALTHY_AFTER_S = 60.0
"""A restarted loop that runs this long without crashing is healthy again."""


@dataclass(frozen=True, slots=True)
class LoopFailure:
    """What `/healthz` reports of one failing loop."""

    loop: str
    crashes: int
    error: str
    retry_in_s: float


@dataclass(slots=True)
class _LoopState:
    crashes: int = 0
    error: str = ""
    crashed_at: float = 0.0
    backoff_s: float = 0.0


class LoopHealth:
    """Thread-safe record of each loop's consecutive crashes in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loops: dict[str, _LoopState] = {}

    def crashed(self, loop: str, error: BaseException, *, ran_for_s: float) -> float:
        """Record a crash; return how long to wait before restarting the loop."""
        LOOP_CRASHES.labels(loop).inc()
        with self._lock:
            state = self._loops.setdefault(loop, _LoopState())
            if ran_for_s >= HEALTHY_AFTER_S:
                state.crashes = 0
            state.crashes += 1
            state.error = type(error).__name__
            state.crashed_at = time.monotonic()
            state.backoff_s = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (state.crashes - 1))
            return state.backoff_s

    def failing(self) -> list[LoopFailure]:
        """Loops that crashed and have not yet run `HEALTHY_AFTER_S` since their restart."""
        now = time.monotonic()
        with self._lock:
            return [
                LoopFailure(
                    loop=name,
                    crashes=state.crashes,
                    error=state.error,
                    retry_in_s=round(max(0.0, state.crashed_at + state.backoff_s - now), 1),
                )
                for name, state in sorted(self._loops.items())
                if state.crashes and now - state.crashed_at < state.backoff_s + HEALTHY_AFTER_S
            ]


BreakerReader = Callable[[], str | None]
"""Reads one provider's circuit-breaker state now (`closed`, `open`, `half_open`); None when
the provider has no breaker."""


@dataclass(frozen=True, slots=True)
class ProviderState:
    """One provider of one channel, as this process's dispatcher sees it."""

    channel: str
    provider: str
    breaker: str | None
    """Its circuit breaker's state; None: it has none (a single sink, nothing to fail over)."""


class ProviderBoard:
    """The providers this process's dispatcher sends through. Circuit breakers live in the
    memory of the process that sends, so the console can show them only where it runs
    beside a dispatcher (`tidings serve` without `--no-worker`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers: dict[tuple[str, str], BreakerReader] = {}

    def publish(self, readers: Mapping[tuple[str, str], BreakerReader]) -> None:
        """The dispatcher's providers by (channel, provider name), replacing earlier ones."""
        with self._lock:
            self._readers = dict(readers)

    def states(self) -> list[ProviderState]:
        with self._lock:
            readers = sorted(self._readers.items())
        return [
            ProviderState(channel=channel, provider=provider, breaker=read())
            for (channel, provider), read in readers
        ]
