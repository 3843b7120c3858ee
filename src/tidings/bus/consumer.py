"""The ingest consumer: CloudEvents from `tidings.ingest.>` through the same validation and
`source` + `id` de-duplication as `POST /v1/events` (`notify.ingest.accept_events`), one
transaction per fetched batch, acked only after it commits.

A message that is not a valid event is acked into `tidings.dead.ingest` with its problem
detail (never redelivered forever); when the database cannot take the batch, every message
is nak'ed with a delay and comes back later.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from tidings.bus import metrics
from tidings.bus.envelope import CONTENT_TYPE, MSG_ID, read_ingest
from tidings.bus.streams import DEAD_INGEST_SUBJECT
from tidings.bus.types import IngestOutcome
from tidings.kit.clock import Clock
from tidings.kit.db import retried_write
from tidings.kit.errors import AppError
from tidings.notify.ingest import Result, accept_events
from tidings.notify.schemas import CloudEventIn
from tidings.privacy.crypto import Keyring

log = structlog.get_logger(__name__)

PROBLEM_HEADER = "Tidings-Problem-Type"


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
) -> Counter[IngestOutcome]:
    """Take up to `batch` messages (waiting at most `fetch_timeout` for the first) and
    settle them: the readable events stored in one transaction (`accept_events`) and acked
    after it commits; the refused ones dead-lettered and acked; when the database cannot
    take the batch, every event of it nak'ed to come back after `retry_delay`."""
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
    stored = await _store(engine, keyring, [event for _, event in readable], clock.now())
    acks = []
    if stored is None:  # the transaction did not commit: the whole batch comes back later
        acks = [message.nak(delay=retry_delay) for message, _ in readable]
        outcomes[IngestOutcome.RETRY] += len(readable)
    else:
        for (message, _), result in zip(readable, stored, strict=True):
            if isinstance(result, AppError):
                refused.append((message, result.problem()))
            else:
                acks.append(message.ack())
                outcome = IngestOutcome.DUPLICATE if result.duplicate else IngestOutcome.ACCEPTED
                outcomes[outcome] += 1
    await asyncio.gather(*acks)
    for message, problem in refused:
        await dead_letter(js, message, problem)
        await message.ack()
        outcomes[IngestOutcome.DEAD_LETTERED] += 1
        log.info("bus.ingest.dead_lettered", problem=problem["type"], subject=message.subject)
    for outcome, count in outcomes.items():
        metrics.CONSUMED.labels(outcome.value).inc(count)
    return outcomes


async def _store(
    engine: Engine, keyring: Keyring, events: list[CloudEventIn], at: datetime
) -> list[Result] | None:
    """The events in one transaction, in a thread (the event loop keeps serving NATS);
    None when the database could not take them (nothing of them was written)."""
    if not events:
        return []

    def accept(conn: Connection) -> list[Result]:
        return accept_events(conn, keyring, events, at=at)

    try:
        return await asyncio.to_thread(retried_write, engine, accept)
    except DBAPIError as exc:
        log.warning("bus.ingest.database_unavailable", error=type(exc.orig).__name__)
        return None


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
