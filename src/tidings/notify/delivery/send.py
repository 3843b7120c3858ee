"""Sending: a composed message through its channel, paced to the provider's rate, the
provider's answer turned into an outcome (sent, retry later, failed and fall back).

Every channel is sent the same way; push differs only in going to each of the user's
devices, one attempt per device.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import structlog
from prometheus_client import Counter

from tidings.notify.delivery.outcome import (
    Attempt,
    ClaimedDelivery,
    Composed,
    DeliveryOutcome,
    DeliveryUpdate,
    failed,
    retry_later,
    sent,
)
from tidings.notify.types import (
    AttemptOutcome,
    ChannelError,
    ChannelName,
    DeliveryStatus,
    OutgoingMessage,
    SendResult,
    TransientChannelError,
    UnregisteredRecipient,
)

log = structlog.get_logger(__name__)

RETRIES = Counter("tidings_delivery_retries_total", "Retries scheduled.", ["channel"])

RetryDelay = Callable[[ChannelName, int, float | None], float | None]
"""(channel, attempts so far, provider's Retry-After) → seconds to wait, or None to give up."""


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> SendResult: ...


class Pacer:
    """Spaces one provider's sends to its rate across this process's sending threads."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._sleep = sleep

    def wait(self) -> None:
        """Take the next free slot (one `interval` after the last one taken) and sleep until
        it comes."""
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


@dataclass(frozen=True, slots=True)
class Sending:
    """The channels of one batch, their pacers, the retry policy."""

    senders: Mapping[ChannelName, Sender]
    pacers: Mapping[ChannelName, Pacer]
    retry_delay: RetryDelay
    device_of: Callable[[str], str]
    """A push device's name in attempts and logs: a keyed hash of its token."""

    def send(
        self,
        delivery: ClaimedDelivery,
        composed: Composed,
        *,
        attempts: int,
        now: datetime,
        has_it: set[str],
    ) -> DeliveryOutcome:
        """`attempts` counts this one; `has_it`: push devices an earlier try reached."""
        if composed.devices:
            return self._to_devices(delivery, composed, attempts, now, has_it)
        answer, attempt = self._try(delivery, composed.message, now)
        if isinstance(answer, TransientChannelError):
            return self._retry_or_fail(delivery, answer, attempt, attempts=attempts, now=now)
        if isinstance(answer, ChannelError):
            return failed(
                delivery,
                attempts=attempts,
                now=now,
                reason=answer.detail,
                provider=answer.provider,
                tried=(attempt,),
            )
        return sent(delivery, composed, answer, attempt, attempts=attempts, now=now)

    def _try(
        self, delivery: ClaimedDelivery, message: OutgoingMessage, now: datetime
    ) -> tuple[SendResult | ChannelError, Attempt]:
        """One send, paced to the provider's rate: its answer and the attempt it makes."""
        pacer = self.pacers.get(message.channel)
        if pacer is not None:
            pacer.wait()
        started = time.perf_counter()
        try:
            result = self.senders[message.channel].send(message)
        except ChannelError as exc:
            duration_ms = _elapsed_ms(started)
            return exc, Attempt.of_error(
                delivery, exc, duration_ms=duration_ms, at=now, device=message.device
            )
        attempt = Attempt(
            delivery_id=delivery.id,
            provider=result.provider,
            outcome=AttemptOutcome.SENT,
            duration_ms=_elapsed_ms(started),
            at=now,
            device=message.device,
        )
        return result, attempt

    def _retry_or_fail(
        self,
        delivery: ClaimedDelivery,
        exc: TransientChannelError,
        attempt: Attempt,
        *,
        attempts: int,
        now: datetime,
    ) -> DeliveryOutcome:
        delay = self.retry_delay(delivery.channel, attempts, exc.retry_after)
        if delay is None:
            return failed(
                delivery,
                attempts=attempts,
                now=now,
                reason=f"gave up: {exc.detail}",
                provider=exc.provider,
                tried=(attempt,),
            )
        RETRIES.labels(delivery.channel.value).inc()
        log.info(
            "notify.delivery.retry_scheduled",
            delivery_id=delivery.id,
            channel=delivery.channel.value,
            attempt=attempts,
            delay_s=round(delay, 2),
        )
        return retry_later(
            delivery, attempts=attempts, now=now, delay=delay, reason=exc.detail, tried=(attempt,)
        )

    def _to_devices(
        self,
        delivery: ClaimedDelivery,
        composed: Composed,
        attempts: int,
        now: datetime,
        has_it: set[str],
    ) -> DeliveryOutcome:
        """One push to each device, one attempt each. A retry goes only to devices that do
        not have it yet; the delivery is sent once any device has it and none is left to
        retry, failed (and falls back) when none could get it. A token the provider reports
        unregistered is removed from the user's devices."""
        tried: list[Attempt] = []
        gone: list[str] = []
        retryable: list[TransientChannelError] = []
        refused: list[ChannelError] = []
        result: SendResult | None = None
        for token in dict.fromkeys(composed.devices):
            device = self.device_of(token)
            if device in has_it:
                continue
            message = replace(composed.message, to=token, device=device)
            answer, attempt = self._try(delivery, message, now)
            tried.append(attempt)
            if isinstance(answer, TransientChannelError):
                retryable.append(answer)
            elif isinstance(answer, ChannelError):
                refused.append(answer)
                if isinstance(answer, UnregisteredRecipient):
                    gone.append(token)
                    log.info(
                        "notify.push.device_unregistered", delivery_id=delivery.id, device=device
                    )
            else:
                result = answer
                has_it.add(device)
        if retryable:
            first = retryable[0]
            delay = self.retry_delay(ChannelName.PUSH, attempts, first.retry_after)
            if delay is not None:
                RETRIES.labels(delivery.channel.value).inc()
                return retry_later(
                    delivery,
                    attempts=attempts,
                    now=now,
                    delay=delay,
                    reason=f"{len(retryable)} device(s) to retry: {first.detail}",
                    tried=tuple(tried),
                    unregistered=tuple(gone),
                )
        if not has_it:
            last = (retryable or refused)[-1] if (retryable or refused) else None
            return failed(
                delivery,
                attempts=attempts,
                now=now,
                reason="no_device" if last is None else last.detail,
                provider=last.provider if last else None,
                tried=tuple(tried),
                status=DeliveryStatus.SKIPPED if last is None else DeliveryStatus.FAILED,
                unregistered=tuple(gone),
            )
        missed = len(retryable) + len(refused)
        update = DeliveryUpdate(
            DeliveryStatus.SENT,
            attempts=attempts,
            sent_at=now,
            auth_code=composed.auth_code,
            content=composed.kept_content,
            reason=f"{missed} device(s) could not get it" if missed else None,
            provider=result.provider if result else None,
            provider_message_id=result.provider_message_id if result else None,
        )
        return DeliveryOutcome(delivery, update, attempts=tuple(tried), unregistered=tuple(gone))
