"""What the dispatcher's steps hand each other: a claimed delivery and what became of it.

Outcomes are made by plain functions (`sent`, `failed`, `retry_or_fail`, `held`, …) and
written by the record step; `DeliveryUpdate.columns()` is the one place an outcome becomes
column values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final

import structlog

from tidings.kit.ids import new_id
from tidings.notify.planner import SendCheck, SendDecision
from tidings.notify.types import (
    AttemptOutcome,
    Category,
    ChannelError,
    ChannelName,
    DeliveryStatus,
    OutgoingMessage,
    SendResult,
    StoredMessage,
    TransientChannelError,
)

log = structlog.get_logger(__name__)

REASON_CHARS: Final = 255
"""`deliveries.reason` holds this many characters."""
ERROR_CHARS: Final = 500
"""`delivery_attempts.error` holds this many characters."""


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds the lease on, with its notice."""

    id: str
    notification_id: str
    user_id: str
    channel: ChannelName
    kind: str
    category: Category
    data: Mapping[str, Any]
    event_id: str
    notified_at: datetime
    attempts: int
    """Attempts made before this claim."""
    fallback: tuple[ChannelName, ...]
    """The channels to try next, in order, when this one fails for good."""


@dataclass(frozen=True, slots=True)
class Composed:
    """A delivery made into its message, and what we keep of it once it is sent."""

    message: OutgoingMessage
    devices: tuple[str, ...] = ()
    """Push: every device token it goes to, one attempt each; empty: `message.to` alone."""
    auth_code: str | None = None
    kept_content: str | None = None
    """The text as we keep it (a one-time code masked), for the authenticity check."""


@dataclass(frozen=True, slots=True)
class Unsendable:
    """A delivery that cannot become a message; it fails (push with no device: is skipped)."""

    reason: str
    status: DeliveryStatus = DeliveryStatus.FAILED
    falls_back: bool = True
    """False when no other channel may carry it either (a one-time code used meanwhile)."""


class Keep(Enum):
    """A column an outcome leaves as it is, where None would clear it."""

    KEEP = "keep"
    """Leave the column as the planner or an earlier try wrote it."""


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The columns an outcome sets on its delivery row. None leaves a column as it is: the
    attempt count and due time as they were, the others NULL, as they are on every claimed
    delivery until an outcome sets them. Only `reason` may be cleared, so it says `KEEP`."""

    status: DeliveryStatus
    attempts: int | None = None
    due_at: datetime | None = None
    sent_at: datetime | None = None
    final_at: datetime | None = None
    reason: str | Keep | None = KEEP
    """Set to a reason or cleared (None), or `KEEP` the planner's or an earlier try's."""
    provider: str | None = None
    provider_message_id: str | None = None
    auth_code: str | None = None
    content: str | None = None

    def columns(self) -> dict[str, Any]:
        columns: dict[str, Any] = {"status": self.status.value}
        for name, value in (
            ("attempts", self.attempts),
            ("due_at", self.due_at),
            ("sent_at", self.sent_at),
            ("final_at", self.final_at),
            ("provider", self.provider),
            ("provider_message_id", self.provider_message_id),
            ("auth_code", self.auth_code),
            ("content", self.content),
        ):
            if value is not None:
                columns[name] = value
        if self.reason is not KEEP:
            columns["reason"] = self.reason
        return columns


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a provider, as `delivery_attempts` keeps it."""

    delivery_id: str
    provider: str | None
    outcome: AttemptOutcome
    duration_ms: int
    at: datetime
    device: str | None = None
    """Push: the device it went to (a keyed hash of its token, never the token)."""
    status_code: int | None = None
    error: str | None = None
    id: str = field(default_factory=lambda: new_id("att"))

    @classmethod
    def of_error(
        cls,
        delivery: ClaimedDelivery,
        exc: ChannelError,
        *,
        duration_ms: int,
        at: datetime,
        device: str | None = None,
    ) -> Attempt:
        """A try the provider refused: retryable for a transient error, else permanent."""
        return cls(
            delivery_id=delivery.id,
            provider=exc.provider,
            outcome=AttemptOutcome.RETRYABLE
            if isinstance(exc, TransientChannelError)
            else AttemptOutcome.PERMANENT,
            duration_ms=duration_ms,
            at=at,
            device=device,
            status_code=exc.status,
            error=exc.detail[:ERROR_CHARS],
        )

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "provider": self.provider,
            "outcome": self.outcome.value,
            "duration_ms": self.duration_ms,
            "at": self.at,
            "device": self.device,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Fallback:
    """The next channel of a failed delivery's chain: a new delivery, due at once."""

    of: ClaimedDelivery
    status: DeliveryStatus
    """What became of the delivery it stands in for (failed or skipped)."""
    at: datetime
    id: str = field(default_factory=lambda: new_id("dlv"))

    def row(self) -> dict[str, Any]:
        channel, *then = self.of.fallback
        return {
            "id": self.id,
            "notification_id": self.of.notification_id,
            "user_id": self.of.user_id,
            "channel": channel.value,
            "status": DeliveryStatus.PENDING.value,
            "due_at": self.at,
            "fallback": ",".join(c.value for c in then),
            "fallback_of": self.of.id,
            "reason": f"fallback: {self.of.channel.value} {self.status.value}",
            "created_at": self.at,
        }


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What became of one claimed delivery, everything the record step writes for it."""

    delivery: ClaimedDelivery
    update: DeliveryUpdate
    attempts: tuple[Attempt, ...] = ()
    stored: StoredMessage | None = None
    """A message its channel keeps in our database (the inbox item), written with it."""
    fallback: Fallback | None = None
    unregistered: tuple[str, ...] = ()
    """Push tokens the provider reported gone: removed from the user's devices."""

    @property
    def status(self) -> DeliveryStatus:
        return self.update.status


def handed_back(delivery: ClaimedDelivery) -> DeliveryOutcome:
    """Not sent in time (slow providers): back to pending before another worker takes it."""
    return DeliveryOutcome(delivery, DeliveryUpdate(DeliveryStatus.PENDING))


def held(delivery: ClaimedDelivery, check: SendCheck, now: datetime) -> DeliveryOutcome:
    """Marketing that must not go now: it waits for `check.due_at`, or ends as it says."""
    status = DeliveryStatus(check.status.value)
    if check.status is SendDecision.PENDING:
        update = DeliveryUpdate(status, due_at=check.due_at, reason=check.reason)
    else:
        update = DeliveryUpdate(status, final_at=now, reason=check.reason)
    return DeliveryOutcome(delivery, update)


def sent(
    delivery: ClaimedDelivery,
    composed: Composed,
    result: SendResult,
    attempt: Attempt,
    *,
    attempts: int,
    now: datetime,
) -> DeliveryOutcome:
    """Taken by the provider; a stored message (the inbox) is final at once and, no
    provider having been tried, records no attempt."""
    update = DeliveryUpdate(
        DeliveryStatus.SENT,
        attempts=attempts,
        sent_at=now,
        final_at=now if result.stored is not None else None,
        auth_code=composed.auth_code,
        content=composed.kept_content,
        provider=result.provider,
        provider_message_id=result.provider_message_id,
    )
    if result.stored is not None:
        return DeliveryOutcome(delivery, update, stored=result.stored)
    return DeliveryOutcome(delivery, update, attempts=(attempt,))


def failed(
    delivery: ClaimedDelivery,
    *,
    attempts: int,
    now: datetime,
    reason: str,
    provider: str | None = None,
    tried: tuple[Attempt, ...] = (),
    status: DeliveryStatus = DeliveryStatus.FAILED,
    falls_back: bool = True,
    unregistered: tuple[str, ...] = (),
) -> DeliveryOutcome:
    """Failed for good (or skipped: push to no device); the next channel in the fallback
    chain takes over, unless `falls_back` is False."""
    fallback = None
    if falls_back and delivery.fallback:
        fallback = Fallback(delivery, status, now)
        log.warning(
            "notify.delivery.fallback",
            delivery_id=delivery.id,
            channel=delivery.channel.value,
            to=delivery.fallback[0].value,
        )
    update = DeliveryUpdate(
        status, attempts=attempts, final_at=now, reason=reason[:REASON_CHARS], provider=provider
    )
    return DeliveryOutcome(
        delivery, update, attempts=tried, fallback=fallback, unregistered=unregistered
    )


def unsendable(
    delivery: ClaimedDelivery, problem: Unsendable, *, attempts: int, now: datetime
) -> DeliveryOutcome:
    return failed(
        delivery,
        attempts=attempts,
        now=now,
        reason=problem.reason,
        status=problem.status,
        falls_back=problem.falls_back,
    )


def retry_later(
    delivery: ClaimedDelivery,
    *,
    attempts: int,
    now: datetime,
    delay: float,
    reason: str,
    tried: tuple[Attempt, ...],
    unregistered: tuple[str, ...] = (),
) -> DeliveryOutcome:
    """Back to pending, due again after `delay` seconds."""
    update = DeliveryUpdate(
        DeliveryStatus.PENDING,
        attempts=attempts,
        due_at=now + timedelta(seconds=delay),
        reason=reason[:REASON_CHARS],
    )
    return DeliveryOutcome(delivery, update, attempts=tried, unregistered=unregistered)
