"""CloudEvents published to `tidings.ingest.>` are taken exactly like `POST /v1/events`:
validated the same way, stored once per `source` + `id`, acked after the commit; a message
that is not a valid event goes to `tidings.dead.ingest` with its problem detail."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import nats
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import create_user, payment_event
from tidings.app.context import AppContext
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
from tidings.kit.db import make_engine

from .support import NatsServer, bus_status, publish, read_stream, running_bus, wait_for


def core_events(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.source == "urn:bank:core")))


def settled(url: str, messages: int) -> bool:
    """The ingest consumer has acked `messages` and holds nothing unacked."""
    consumer = bus_status(url).consumer
    return consumer.exists and consumer.ack_floor_seq >= messages and consumer.ack_pending == 0


def binary_mode(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The event with its attributes in `ce-` headers and only the data as the body."""
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k != "data"}
    headers["content-type"] = "application/json"
    return json.dumps(event["data"]).encode(), headers


def test_the_same_external_event_published_twice_gives_one_notice(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    event = payment_event(user["id"], event_id="core-42")
    structured = json.dumps(event).encode()
    body, headers = binary_mode(event)
    with running_bus(bus_context, notify=True):
        wait_for(lambda: bus_status(bus_nats.url).consumer.exists, "the ingest consumer")
        publish(
            bus_nats.url,
            [
                ("tidings.ingest.core.payments", structured, None),  # no Nats-Msg-Id
                ("tidings.ingest.core.payments", structured, None),  # the same again
                ("tidings.ingest.core.other", body, headers),  # and in binary mode
            ],
        )
        wait_for(lambda: settled(bus_nats.url, 3), "the three messages to be acked")
        inbox = wait_for(
            lambda: client.get(f"/v1/users/{user['id']}/inbox").json()["items"], "the notice"
        )
    assert len(inbox) == 1
    assert len(core_events(bus_context.engine)) == 1
    assert read_stream(bus_nats.url, DEAD_STREAM) == []


def test_a_malformed_event_lands_in_the_dead_letter_subject_with_its_reason(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    no_subject = payment_event(user["id"], event_id="x-1")
    del no_subject["subject"]
    bad_data = payment_event(user["id"], event_id="x-2")
    del bad_data["data"]["amount"]
    stranger = payment_event("usr_nobody", event_id="x-3")
    good = payment_event(user["id"], event_id="x-4")
    sent = [
        b"{not json",
        json.dumps(no_subject).encode(),
        json.dumps(bad_data).encode(),
        json.dumps(stranger).encode(),
        json.dumps(good).encode(),
    ]
    with running_bus(bus_context):
        wait_for(lambda: bus_status(bus_nats.url).consumer.exists, "the ingest consumer")
        publish(bus_nats.url, [(f"tidings.ingest.core.{n}", b, None) for n, b in enumerate(sent)])
        wait_for(lambda: settled(bus_nats.url, len(sent)), "every message to be acked")
    dead = read_stream(bus_nats.url, DEAD_STREAM)
    assert [m.subject for m in dead] == ["tidings.dead.ingest"] * 4
    reasons = {m.body["subject"]: m.body["problem"] for m in dead}
    assert reasons["tidings.ingest.core.0"]["type"].endswith("/malformed-json")
    assert reasons["tidings.ingest.core.1"]["errors"][0]["field"] == "subject"
    assert reasons["tidings.ingest.core.2"]["type"].endswith("/invalid-event-data")
    assert reasons["tidings.ingest.core.2"]["errors"][0]["field"] == "data.amount"
    assert reasons["tidings.ingest.core.3"]["type"].endswith("/unknown-subject")
    assert dead[0].body["body"] == "{not json"
    assert dead[0].headers["Tidings-Problem-Type"].endswith("/malformed-json")
    assert [e.id for e in core_events(bus_context.engine)] != []  # the good one, stored
    assert len(core_events(bus_context.engine)) == 1
    status = bus_status(bus_nats.url).consumer
    assert status.redelivered == 0  # refused once, never delivered again


def test_a_database_outage_naks_the_batch_and_it_comes_back(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)
    event = json.dumps(payment_event(user["id"], event_id="core-7")).encode()
    unreachable = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2")

    async def two_rounds() -> tuple[Counter[IngestOutcome], Counter[IngestOutcome]]:
        connection = await nats.connect(bus_nats.url)
        js = connection.jetstream()
        await ensure_streams(js)
        subscription = await js.pull_subscribe(
            INGEST_SUBJECTS,
            durable=INGEST_CONSUMER,
            stream=INGEST_STREAM,
            config=INGEST_CONSUMER_CONFIG,
        )
        await js.publish("tidings.ingest.core", event)
        outcomes = []
        for engine in (unreachable, bus_context.engine):
            outcomes.append(
                await consume_round(
                    engine,
                    bus_context.keyring,
                    js,
                    subscription,
                    bus_context.clock,
                    batch=10,
                    fetch_timeout=5,
                    retry_delay=0.2,
                )
            )
        await connection.close()
        return outcomes[0], outcomes[1]

    down, back = asyncio.run(two_rounds())
    assert down == Counter({IngestOutcome.RETRY: 1})
    assert back == Counter({IngestOutcome.ACCEPTED: 1})
    assert len(core_events(bus_context.engine)) == 1


def test_the_consumer_resumes_after_nats_restarts_and_loses_nothing(
    client: TestClient, bus_context: AppContext, bus_nats: NatsServer
) -> None:
    user = create_user(client)

    def events(first: int, count: int) -> list[tuple[str, bytes, dict[str, str] | None]]:
        return [
            (
                "tidings.ingest.core",
                json.dumps(payment_event(user["id"], event_id=f"core-{n}")).encode(),
                None,
            )
            for n in range(first, first + count)
        ]

    with running_bus(bus_context):
        wait_for(lambda: bus_status(bus_nats.url).consumer.exists, "the ingest consumer")
        publish(bus_nats.url, events(0, 100))
        wait_for(lambda: core_events(bus_context.engine), "the first events to be stored")
        bus_nats.stop()
        bus_nats.start()
        publish(bus_nats.url, events(100, 100))
        wait_for(lambda: len(core_events(bus_context.engine)) == 200, "all 200 to be stored")
        wait_for(lambda: settled(bus_nats.url, 200), "every message to be acked")
    assert len(core_events(bus_context.engine)) == 200
