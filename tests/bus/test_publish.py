"""Every outbox event reaches stream `TIDINGS` once, as a structured CloudEvent whose
`Nats-Msg-Id` is its id, in each user's order; the mark comes only after the ack."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from datetime import UTC, datetime

import nats
import pytest
from cloudevents.core.formats.json import JSONFormat
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import cny, create_user, pay, top_up
from tidings.app.context import AppContext
from tidings.bus import metrics
from tidings.bus.acks import AckInbox
from tidings.bus.publisher import publish_round
from tidings.bus.repository import claim_unpublished_events
from tidings.bus.streams import EVENTS_STREAM, ensure_streams
from tidings.events import outbox, record_event
from tidings.kit.clock import SystemClock
from tidings.kit.db import write_transaction

from .support import NatsServer, StreamMessage, read_stream, running_bus, stream_count, wait_for


def outbox_ids(engine: Engine, user_id: str | None = None) -> list[str]:
    stmt = select(outbox.c.id).order_by(outbox.c.id)
    if user_id is not None:
        stmt = stmt.where(outbox.c.user_id == user_id)
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def unpublished(engine: Engine) -> int:
    with engine.connect() as conn:
        stmt = select(outbox.c.id).where(outbox.c.bus_published_at.is_(None))
        return len(conn.execute(stmt).all())


def record_many(engine: Engine, count: int, *, users: int, start: int = 0) -> None:
    """`count` events spread over `users` users, as a domain records them."""
    with write_transaction(engine) as conn:
        for n in range(start, start + count):
            record_event(
                conn,
                type="test.bus.numbered",
                user_id=f"usr_bus{n % users}",
                data={"n": n},
                at=datetime.now(UTC),
            )


def assert_each_users_order(messages: list[StreamMessage]) -> None:
    """Per user, the stream holds the events in outbox (id) order."""
    by_user: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        by_user[str(message.body.get("subject"))].append(str(message.msg_id))
    for user, ids in by_user.items():
        assert ids == sorted(ids), f"{user}'s events are out of order on the stream"


def test_every_event_of_a_payment_reaches_a_subscriber_once_with_its_id(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    wallet = user["wallet_id"]
    top_up(client, wallet, 50_000)
    pay(client, wallet, 12_800)
    expected = outbox_ids(bus_context.engine)
    assert len(expected) >= 2
    with running_bus(bus_context):
        wait_for(lambda: unpublished(bus_context.engine) == 0, "every event to be published")
    messages = read_stream(bus_nats.url, EVENTS_STREAM)
    assert sorted(m.msg_id for m in messages if m.msg_id) == expected  # each once
    types = {}
    for message in messages:
        event = JSONFormat().read(None, json.dumps(message.body).encode())  # the SDK reads it
        assert event.get_id() == message.msg_id
        assert message.subject == f"tidings.events.{event.get_type()}"
        assert message.headers["Content-Type"] == "application/cloudevents+json"
        types[event.get_type()] = event
    payment = types["wallet.payment.succeeded"]
    assert payment.get_subject() == user["id"]
    assert payment.get_source() == "tidings"
    data = payment.get_data()
    assert isinstance(data, dict)
    assert data["amount"] == cny(12_800)
    assert_each_users_order(messages)
    exposed = client.get("/metrics").text
    assert "tidings_bus_unpublished_events 0.0" in exposed
    assert "tidings_bus_published_total" in exposed


def test_without_a_nats_url_nothing_is_published(context: AppContext) -> None:
    record_many(context.engine, 3, users=1)
    assert context.settings.nats_url is None
    with running_bus(context):
        pass
    assert unpublished(context.engine) == 3


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_publisher_passes_over_the_users_another_one_holds(context: AppContext) -> None:
    record_many(context.engine, 20, users=4)  # usr_bus0 … usr_bus3, five events each
    with write_transaction(context.engine) as first:
        mine = claim_unpublished_events(first, 2)
        with write_transaction(context.engine) as second:
            theirs = claim_unpublished_events(second, 100)
    assert {e.user_id for e in mine} == {"usr_bus0", "usr_bus1"}
    assert {e.user_id for e in theirs} == {"usr_bus2", "usr_bus3"}
    assert [e.id for e in theirs] == sorted(e.id for e in theirs)
    assert len(theirs) == 10  # every event of the users it holds, in outbox order


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_publishers_share_the_outbox_without_repeats_or_reordering(
    bus_context: AppContext, bus_nats: NatsServer
) -> None:
    engine = bus_context.engine
    for start in range(0, 600, 100):
        record_many(engine, 100, users=7, start=start)
    repeats_before = metrics.PUBLISH_DUPLICATES._value.get()

    def publisher() -> None:
        async def run() -> None:
            connection = await nats.connect(bus_nats.url)
            js = connection.jetstream()
            await ensure_streams(js)
            acks = AckInbox(connection)
            while (await publish_round(engine, acks, SystemClock(), limit=40, ack_timeout=5)).taken:
                pass
            await connection.close()

        asyncio.run(run())

    threads = [threading.Thread(target=publisher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert unpublished(engine) == 0
    messages = read_stream(bus_nats.url, EVENTS_STREAM)
    assert len(messages) == 600
    assert metrics.PUBLISH_DUPLICATES._value.get() == repeats_before  # nobody sent one twice
    assert_each_users_order(messages)


def test_nats_stopped_and_started_mid_stream_loses_none_of_1000_events(
    bus_context: AppContext, bus_nats: NatsServer
) -> None:
    """Events keep being recorded, ten at a time, before, during and after the outage."""
    engine = bus_context.engine
    recorded = 0
    nats_down = threading.Event()

    def produce() -> None:
        nonlocal recorded
        for start in range(0, 1000, 10):
            if start == 400:
                nats_down.wait(30)  # the rest is recorded while NATS is away, and after
            record_many(engine, 10, users=13, start=start)
            recorded = start + 10

    producer = threading.Thread(target=produce)
    with running_bus(bus_context):
        producer.start()
        wait_for(lambda: stream_count(bus_nats.url, EVENTS_STREAM) >= 100, "the stream to fill")
        bus_nats.stop()
        nats_down.set()
        wait_for(lambda: recorded >= 700, "events recorded while NATS is down")
        assert unpublished(engine) > 0
        bus_nats.start()
        producer.join(60)
        wait_for(lambda: unpublished(engine) == 0, "every event to be published", timeout=60)
    messages = read_stream(bus_nats.url, EVENTS_STREAM)
    assert sorted(m.msg_id for m in messages if m.msg_id) == outbox_ids(engine)
    assert len(messages) == 1000
    assert_each_users_order(messages)
