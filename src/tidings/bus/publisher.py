"""The publisher: outbox events → stream `TIDINGS`, each marked published only after
JetStream's ack. A crash between the ack and the mark publishes the event again, with the
same `Nats-Msg-Id`, and JetStream drops the copy (its duplicate window is an hour)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine

from tidings.bus import metrics, repository
from tidings.bus.acks import AckInbox, StreamAck
from tidings.bus.envelope import to_message
from tidings.bus.ordering import publish_waves
from tidings.bus.types import OutboxEvent
from tidings.events import SOURCE
from tidings.kit.clock import Clock, as_utc
from tidings.kit.db import is_sqlite, read_transaction, retried_write, write_transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PublishRound:
    """One round: events taken from the outbox, and those acked (and so marked)."""

    taken: int
    published: int


async def publish_in_order(
    acks: AckInbox, events: Sequence[OutboxEvent], *, ack_timeout: float
) -> list[tuple[OutboxEvent, StreamAck]]:
    """Publish wave by wave (`publish_waves`); what is acked, in order. After a failure the
    rest of that user's events wait for the next round."""
    acked: list[tuple[OutboxEvent, StreamAck]] = []
    blocked: set[str] = set()
    for wave in publish_waves(events):
        sending = []
        for event in wave:
            if event.order_key in blocked:
                continue
            try:
                sending.append((event, to_message(event)))
            except Exception as exc:  # never expected: our events are valid CloudEvents
                log.error("bus.publish.unpublishable", event_id=event.id, error=str(exc))
                blocked.add(event.order_key)  # that user's later events wait behind it
        futures: list[asyncio.Future[StreamAck]] = []
        try:
            for _, message in sending:
                futures.append(
                    await acks.publish(message.subject, message.payload, message.headers)
                )
        except Exception as exc:  # the connection is gone: what was sent may still be acked
            log.warning("bus.publish.failed", error=type(exc).__name__, detail=str(exc))
        done: set[asyncio.Future[StreamAck]] = set()
        if futures:
            done, _ = await asyncio.wait(futures, timeout=ack_timeout)
            acks.abandon()
        for index, (event, _) in enumerate(sending):
            sent = futures[index] if index < len(futures) else None
            if sent is not None and sent in done and sent.exception() is None:
                acked.append((event, sent.result()))
            else:
                blocked.add(event.order_key)
    return acked


async def publish_round(
    engine: Engine,
    acks: AckInbox,
    clock: Clock,
    *,
    limit: int,
    ack_timeout: float,
    pause_before_mark: float = 0.0,
) -> PublishRound:
    """Take the oldest unpublished events, publish them, mark the acked ones."""
    if is_sqlite(engine):  # one publisher; no write lock held while NATS answers
        with read_transaction(engine) as conn:
            events = repository.unpublished_events(conn, limit)
        acked = await _publish(acks, events, ack_timeout, pause_before_mark)
        ids = [event.id for event, _ in acked]
        retried_write(engine, lambda conn: repository.mark_published(conn, ids, clock.now()))
    else:  # the advisory leases on the users are held until the mark commits
        with write_transaction(engine) as conn:
            events = repository.claim_unpublished_events(conn, limit)
            acked = await _publish(acks, events, ack_timeout, pause_before_mark)
            repository.mark_published(conn, [event.id for event, _ in acked], clock.now())
    _measure(acked, clock.now())
    return PublishRound(taken=len(events), published=len(acked))


async def _publish(
    acks: AckInbox,
    events: Sequence[OutboxEvent],
    ack_timeout: float,
    pause_before_mark: float,
) -> list[tuple[OutboxEvent, StreamAck]]:
    if not events:
        return []
    acked = await publish_in_order(acks, events, ack_timeout=ack_timeout)
    if pause_before_mark and acked:
        log.info("bus.publish.acked_not_marked", events=len(acked), pause_s=pause_before_mark)
        await asyncio.sleep(pause_before_mark)
    return acked


def _measure(acked: Sequence[tuple[OutboxEvent, StreamAck]], now: datetime) -> None:
    metrics.PUBLISHED.inc(len(acked))
    for event, ack in acked:
        if ack.duplicate:
            metrics.PUBLISH_DUPLICATES.inc()
        if event.source == SOURCE:  # an ingested event's time is the core's, not ours
            metrics.PUBLISH_LATENCY.observe(max(0.0, (now - as_utc(event.time)).total_seconds()))
