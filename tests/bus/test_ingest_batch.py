"""The ingest consumer stores a fetched batch in one transaction: copies of one event in the
batch give one notice, a malformed message in it is dead-lettered without holding up the
rest, and a database failure part-way through the batch naks all of it, so its redelivery
stores each event once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nats
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError

from tests.helpers import create_user, payment_event
from tidings.app.context import AppContext
from tidings.app.notify import relay_once
from tidings.bus.consumer import consume_round
from tidings.bus.streams import (
    DEAD_STREAM,
    INGEST_CONSUMER,
    INGEST_CONSUMER_CONFIG,
    INGEST_STREAM,
    INGEST_SUBJECTS,
    ensure_streams,
)
from tidings.bus.types import IngestOutcome
from tidings.events import outbox
from tidings.notify.models import event_receipts, notifications
from tidings.notify.planner import PlannerPolicy

from .support import NatsServer, bus_status, read_stream

ACCEPTED, DUPLICATE = IngestOutcome.ACCEPTED, IngestOutcome.DUPLICATE
DEAD, RETRY = IngestOutcome.DEAD_LETTERED, IngestOutcome.RETRY


def consume(
    context: AppContext, url: str, messages: list[bytes], *, engine: Engine
) -> tuple[Counter[IngestOutcome], Counter[IngestOutcome]]:
    """Publish `messages` to `tidings.ingest.core`; one consumer round on `engine` (it
    fetches up to 10: the whole batch at once), then rounds on the context's engine until
    every message is settled. The first round's outcomes, and the later rounds' together."""

    async def run() -> tuple[Counter[IngestOutcome], Counter[IngestOutcome]]:
        connection = await nats.connect(url)
        js = connection.jetstream()
        await ensure_streams(js)
        subscription = await js.pull_subscribe(
            INGEST_SUBJECTS, durable=INGEST_CONSUMER, stream=INGEST_STREAM,
            config=INGEST_CONSUMER_CONFIG,
        )  # fmt: skip

        async def round_on(on: Engine) -> Counter[IngestOutcome]:
            return await consume_round(
                on, context.keyring, js, subscription, context.clock,
                batch=10, fetch_timeout=5, retry_delay=0.2,
            )  # fmt: skip

        for body in messages:
            await js.publish("tidings.ingest.core", body)
        first = await round_on(engine)
        later: Counter[IngestOutcome] = Counter()
        for _ in range(10):  # a nak'ed message comes back after 0.2 s
            if later.total() >= first[RETRY]:
                break
            later += await round_on(context.engine)
        await connection.close()
        return first, later

    return asyncio.run(run())


def notices_of(context: AppContext, user_id: str) -> int:
    """Relay every stored event, then count the user's notices."""
    policy = PlannerPolicy(default_timezone=context.settings.default_timezone)
    while relay_once(context, policy).events:
        pass
    with context.engine.connect() as conn:
        stmt = select(func.count()).where(notifications.c.user_id == user_id)
        return int(conn.execute(stmt).scalar_one())


def stored(engine: Engine) -> tuple[int, int]:
    """The core's events in the outbox, and their receipts."""
    with engine.connect() as conn:
        events = conn.execute(
            select(func.count()).where(outbox.c.source == "urn:bank:core")
        ).scalar_one()
        receipts = conn.execute(select(func.count()).select_from(event_receipts)).scalar_one()
    return int(events), int(receipts)


@contextmanager
def outbox_insert_fails_once(engine: Engine) -> Iterator[list[str]]:
    """The first outbox insert fails as a dropped connection would: after the batch's
    receipts are written, in the same transaction. Yields the statements that failed."""
    failed: list[str] = []

    def fail(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not failed and statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            failed.append(statement)
            raise OperationalError(statement, None, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def test_a_batch_with_a_copy_and_a_malformed_message_gives_one_notice_and_one_dead_letter(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    payment = json.dumps(payment_event(user["id"], event_id="core-9")).encode()
    outcomes, later = consume(
        bus_context, bus_nats.url, [payment, b'{"specversion": "1.0"', payment],
        engine=bus_context.engine,
    )  # fmt: skip
    assert outcomes == Counter({ACCEPTED: 1, DUPLICATE: 1, DEAD: 1})
    assert later == Counter()
    assert stored(bus_context.engine) == (1, 1)
    assert notices_of(bus_context, user["id"]) == 1
    dead = read_stream(bus_nats.url, DEAD_STREAM)
    assert len(dead) == 1
    assert dead[0].body["problem"]["type"].endswith("/malformed-json")
    consumer = bus_status(bus_nats.url).consumer
    assert (consumer.ack_floor_seq, consumer.ack_pending, consumer.redelivered) == (3, 0, 0)


def test_a_database_failure_mid_batch_naks_it_and_the_redelivery_stores_each_event_once(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    payments = [
        json.dumps(payment_event(user["id"], event_id=f"core-{n}")).encode() for n in (1, 2, 3)
    ]
    with outbox_insert_fails_once(bus_context.engine) as failed:
        down, back = consume(
            bus_context, bus_nats.url, [*payments, payments[0]], engine=bus_context.engine
        )
    assert failed  # the batch got as far as the outbox insert, its receipts written
    assert down == Counter({RETRY: 4})
    assert back == Counter({ACCEPTED: 3, DUPLICATE: 1})
    assert stored(bus_context.engine) == (3, 3)
    assert notices_of(bus_context, user["id"]) == 3
    consumer = bus_status(bus_nats.url).consumer
    assert (consumer.ack_floor_seq, consumer.ack_pending) == (4, 0)
    assert read_stream(bus_nats.url, DEAD_STREAM) == []
