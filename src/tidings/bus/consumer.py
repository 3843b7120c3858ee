"""The ingest consumer: CloudEvents from `tidings.ingest.>` through the same validation and
`source` + `id` de-duplication as `POST /v1/events` (`notify.ingest.accept_event`), one
transaction per fetched batch, acked only after it commits.

A message that is not a valid event is acked into `tidings.dead.ingest` with its problem
detail (never redelivered forever); when the database cannot take the batch, every message
is nak'ed with a delay and comes back later.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from tidings.bus import metrics
from tidings.bus.envelope import CONTENT_TYPE, MSG_ID, read_ingest
from tidings.bus.streams import DEAD_INGEST_SUBJECT
from tidings.bus.types import IngestOutcome
from tidings.kit.clock import Clock
from tidings.kit.db import with_retry, write_transaction
from tidings.kit.errors import AppError
from tidings.notify.ingest import accept_event
from tidings.notify.schemas import CloudEventIn, EventAccepted
from tidings.privacy.crypto import Keyring

log = structlog.get_logger(__name__)

PROBLEM_HEADER = "Tidings-Problem-Type"

Stored = EventAccepted | dict[str, Any]
"""An event's result: stored (or found stored before), or its problem."""


async def consume_round(
    engine: Engine,
    keyring: Keyring,
    js: JetStreamContext,
    subscription: JetStreamContext.PullSubscription,
    clock: Clock,
    *,
    batch: int,
    fetch_timeout: float,
    retry_delay: float,
    partitions: int = 1,
) -> Counter[IngestOutcome]:
    """Take up to `batch` messages (waiting at most `fetch_timeout` for the first) and
    settle each: stored and acked, dead-lettered and acked, or nak'ed to come back. With
    `partitions` > 1 (PostgreSQL) the batch is stored in that many transactions at once,
    split by subject: one user's events stay in one transaction, in order, and so do copies
    of the same event."""
    try:
        messages = await subscription.fetch(batch, timeout=fetch_timeout)
    except NatsTimeout:
        return Counter()
    outcomes: Counter[IngestOutcome] = Counter()
    readable: list[tuple[Msg, CloudEventIn]] = []
    refused: list[tuple[Msg, dict[str, Any]]] = []
    for message in messages:
        try:
            readable.append((message, read_ingest(message.headers, message.data)))
        except AppError as exc:
            refused.append((message, exc.problem()))
    stored = await _store_partitions(
        engine, keyring, [event for _, event in readable], clock.now(), partitions
    )
    for (message, _), result in zip(readable, stored, strict=True):
        if result is None:  # its transaction could not commit: comes back later
            await message.nak(delay=retry_delay)
            outcomes[IngestOutcome.RETRY] += 1
        elif isinstance(result, dict):
            refused.append((message, result))
        else:
            await message.ack()
            outcomes[IngestOutcome.DUPLICATE if result.duplicate else IngestOutcome.ACCEPTED] += 1
    for message, problem in refused:
        await dead_letter(js, message, problem)
        await message.ack()
        outcomes[IngestOutcome.DEAD_LETTERED] += 1
        log.info("bus.ingest.dead_lettered", problem=problem["type"], subject=message.subject)
    for outcome, count in outcomes.items():
        metrics.CONSUMED.labels(outcome.value).inc(count)
    return outcomes


async def _store_partitions(
    engine: Engine,
    keyring: Keyring,
    events: Sequence[CloudEventIn],
    at: datetime,
    partitions: int,
) -> list[Stored | None]:
    """Each partition's events in a transaction of its own, in threads (the event loop keeps
    serving NATS); None for the events of a partition whose transaction failed."""
    groups: list[list[int]] = [[] for _ in range(max(1, partitions))]
    for index, event in enumerate(events):
        groups[zlib.crc32(event.subject.encode()) % len(groups)].append(index)
    results: list[Stored | None] = [None] * len(events)

    async def store(group: list[int]) -> None:
        try:
            stored = await asyncio.to_thread(
                with_retry, lambda: _store(engine, keyring, [events[i] for i in group], at)
            )
        except DBAPIError as exc:
            log.warning("bus.ingest.database_unavailable", error=type(exc.orig).__name__)
            return
        for index, result in zip(group, stored, strict=True):
            results[index] = result

    await asyncio.gather(*(store(group) for group in groups if group))
    return results


def _store(
    engine: Engine, keyring: Keyring, events: Sequence[CloudEventIn], at: datetime
) -> list[Stored]:
    """Every event in one transaction; a refused one does not stop the rest (each is
    checked before anything of it is written)."""
    results: list[Stored] = []
    with write_transaction(engine) as conn:
        for event in events:
            try:
                results.append(accept_event(conn, keyring, event, at=at))
            except AppError as exc:
                results.append(exc.problem())
    return results


async def dead_letter(js: JetStreamContext, message: Msg, problem: dict[str, Any]) -> None:
    """Put the refused message on `tidings.dead.ingest`: its problem detail, subject,
    headers and body, once per original message (its stream sequence is the msg id)."""
    document = {
        "problem": problem,
        "subject": message.subject,
        "headers": dict(message.headers or {}),
        "body": message.data.decode("utf-8", errors="replace"),
    }
    await js.publish(
        DEAD_INGEST_SUBJECT,
        json.dumps(document, ensure_ascii=False).encode(),
        headers={
            MSG_ID: f"ingest-{message.metadata.sequence.stream}",
            CONTENT_TYPE: "application/json",
            PROBLEM_HEADER: str(problem["type"]),
        },
    )
