"""Recording: a batch's outcomes in one transaction, only for deliveries whose lease this
worker still holds; then the metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import Connection, Engine

from tidings.kit.clock import Clock
from tidings.kit.db import write_transaction
from tidings.notify import preferences, repository
from tidings.notify.channels.base import StoringChannel
from tidings.notify.delivery.outcome import ClaimedDelivery, DeliveryOutcome, DeliveryUpdate
from tidings.notify.delivery.send import Sender
from tidings.notify.status import record_status_change
from tidings.notify.types import ChannelName, DeliveryStatus, StoredMessage
from tidings.privacy.crypto import Keyring

log = structlog.get_logger(__name__)

DELIVERIES = Counter(
    "tidings_deliveries_total", "Deliveries by channel and outcome.", ["channel", "status"]
)
EVENT_TO_DELIVERED = Histogram(
    "tidings_event_to_delivered_seconds",
    "From the event happening to its notice handed to the channel (inbox: stored).",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


def record_outcomes(
    engine: Engine,
    outcomes: Sequence[DeliveryOutcome],
    *,
    owner: str,
    senders: Mapping[ChannelName, Sender],
    keyring: Keyring,
    clock: Clock,
    report_status: bool,
) -> None:
    """Write every outcome whose delivery `owner` still holds (another worker has the rest:
    our lease ran out), with the messages their channels store, their attempts, removed
    push tokens, fallback deliveries and, when `report_status`, the status changes."""
    with write_transaction(engine) as conn:
        owned = repository.finish_deliveries(
            conn, owner, [(o.delivery.id, o.update.columns()) for o in outcomes]
        )
        kept = [o for o in outcomes if o.delivery.id in owned]
        for outcome in outcomes:
            if outcome.delivery.id not in owned:
                log.warning("notify.delivery.lease_lost", delivery_id=outcome.delivery.id)
        _store(conn, kept, senders)
        repository.insert_attempts(conn, [a.row() for o in kept for a in o.attempts])
        for outcome in kept:
            if outcome.unregistered:
                preferences.remove_push_tokens(
                    conn,
                    keyring,
                    outcome.delivery.user_id,
                    list(outcome.unregistered),
                    at=clock.now(),
                )
        repository.insert_deliveries(conn, [o.fallback.row() for o in kept if o.fallback])
        if report_status:
            for outcome in kept:
                if outcome.status is not DeliveryStatus.PENDING:
                    _report(conn, outcome.delivery, outcome.update, at=clock.now())
    now = clock.now()
    for outcome in kept:
        channel = outcome.delivery.channel.value
        DELIVERIES.labels(channel, outcome.status.value).inc()
        if outcome.status is DeliveryStatus.SENT:
            EVENT_TO_DELIVERED.labels(channel).observe(
                max(0.0, (now - outcome.delivery.notified_at).total_seconds())
            )


def _store(
    conn: Connection, kept: Sequence[DeliveryOutcome], senders: Mapping[ChannelName, Sender]
) -> None:
    """Messages kept in our own database, written by their channel (one statement each)."""
    stored: dict[ChannelName, list[StoredMessage]] = {}
    for outcome in kept:
        if outcome.stored is not None:
            stored.setdefault(outcome.delivery.channel, []).append(outcome.stored)
    for channel, messages in stored.items():
        sender = senders[channel]
        if not isinstance(sender, StoringChannel):
            raise TypeError(f"the {channel.value} channel stored a message it cannot keep")
        sender.store(conn, messages)


def _report(
    conn: Connection, delivery: ClaimedDelivery, update: DeliveryUpdate, *, at: datetime
) -> None:
    record_status_change(
        conn,
        delivery_id=delivery.id,
        notification_id=delivery.notification_id,
        user_id=delivery.user_id,
        channel=delivery.channel,
        status=update.status,
        reason=update.reason if isinstance(update.reason, str) else None,
        at=at,
    )


def record_digest(
    engine: Engine,
    members: Sequence[ClaimedDelivery],
    update: DeliveryUpdate,
    *,
    owner: str,
    channel: ChannelName,
) -> None:
    """One digest's outcome on every delivery it summed up."""
    with write_transaction(engine) as conn:
        repository.finish_digest(conn, [m.id for m in members], owner, update.columns())
    DELIVERIES.labels(channel.value, update.status.value).inc(len(members))
