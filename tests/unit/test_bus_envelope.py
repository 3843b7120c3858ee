"""The bus's pure decisions: the order events are published in, the CloudEvent an outbox
row becomes, and how an ingest message is read (as `POST /v1/events` reads a request)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from nats.aio.msg import Msg

from tidings.bus.acks import PublishRefused, StreamAck, read_ack
from tidings.bus.envelope import read_ingest, to_message
from tidings.bus.ordering import publish_waves
from tidings.bus.types import OutboxEvent
from tidings.kit.errors import AppError

AT = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)


def event(event_id: str, user_id: str | None) -> OutboxEvent:
    return OutboxEvent(
        id=event_id,
        source="tidings",
        type="wallet.payment.succeeded",
        subject=user_id,
        user_id=user_id,
        time=AT,
        data_json='{"amount": {"value": 12800, "currency": "CNY"}, "note": "咖啡"}',
    )


def test_a_users_second_event_waits_for_the_first_to_be_acked() -> None:
    batch = [event("e1", "u1"), event("e2", "u2"), event("e3", "u1"), event("e4", None)]
    waves = publish_waves(batch)
    assert [[e.id for e in wave] for wave in waves] == [["e1", "e2", "e4"], ["e3"]]


def test_events_about_no_user_need_no_order_among_themselves() -> None:
    assert len(publish_waves([event("e1", None), event("e2", None)])) == 1


def test_an_outbox_event_becomes_a_structured_cloudevent_with_its_id_as_msg_id() -> None:
    message = to_message(event("evt_1", "usr_1"))
    assert message.subject == "tidings.events.wallet.payment.succeeded"
    assert message.headers == {
        "Nats-Msg-Id": "evt_1",
        "Content-Type": "application/cloudevents+json",
    }
    read = JSONFormat().read(None, message.payload)
    assert (read.get_id(), read.get_source(), read.get_subject()) == ("evt_1", "tidings", "usr_1")
    assert read.get_time() == AT
    assert read.get_data() == {"amount": {"value": 12_800, "currency": "CNY"}, "note": "咖啡"}
    assert json.loads(message.payload)["partitionkey"] == "usr_1"


def test_the_structured_event_reads_back_as_what_the_cloudevents_sdk_writes() -> None:
    """The payload is written without the SDK (it cost a third of the publisher's time), so
    it must say exactly what the SDK would have written for the same event."""
    for user_id in ("usr_1", None):
        sent = event("evt_2", user_id)
        attributes = {
            "specversion": "1.0",
            "id": sent.id,
            "source": sent.source,
            "type": sent.type,
            "time": AT,
            "datacontenttype": "application/json",
        }
        if user_id is not None:
            attributes |= {"subject": user_id, "partitionkey": user_id}
        by_sdk = JSONFormat().write(CloudEvent(attributes, json.loads(sent.data_json)))
        assert json.loads(to_message(sent).payload) == json.loads(by_sdk)


def structured(**changes: object) -> bytes:
    document = {
        "specversion": "1.0",
        "id": "core-1",
        "source": "urn:bank:core",
        "type": "wallet.payment.succeeded",
        "subject": "usr_1",
        "data": {"amount": {"value": 1, "currency": "CNY"}},
        **changes,
    }
    return json.dumps(document).encode()


def test_an_ingest_message_without_headers_is_read_as_a_structured_event() -> None:
    assert read_ingest(None, structured()).id == "core-1"


def test_binary_mode_takes_the_attributes_from_ce_headers() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "core-2",
        "ce-source": "urn:bank:core",
        "ce-type": "wallet.payment.succeeded",
        "ce-subject": "usr_1",
        "Content-Type": "application/json",
    }
    read = read_ingest(headers, b'{"amount": {"value": 1, "currency": "CNY"}}')
    assert (read.id, read.subject, read.data["amount"]["value"]) == ("core-2", "usr_1", 1)


@pytest.mark.parametrize(
    ("body", "headers", "code", "field"),
    [
        (b"{nope", None, "malformed-json", "body"),
        (structured(specversion="0.3"), None, "validation", "specversion"),
        (
            b"[]",
            {"Content-Type": "application/cloudevents-batch+json"},
            "one-event-per-message",
            "body",
        ),
        (b"<x/>", {"Content-Type": "application/xml"}, "unsupported-media-type", "content-type"),
    ],
)
def test_a_message_that_is_not_an_event_is_refused_naming_why(
    body: bytes, headers: dict[str, str] | None, code: str, field: str
) -> None:
    with pytest.raises(AppError) as refused:
        read_ingest(headers, body)
    problem = refused.value.problem()
    assert problem["type"].endswith(f"/{code}")
    assert problem["errors"][0]["field"] == field


def reply(data: bytes, headers: dict[str, str] | None = None) -> Msg:
    return Msg(_client=None, subject="_INBOX.x.1", data=data, headers=headers)  # type: ignore[arg-type]


def test_a_jetstream_answer_is_an_ack_a_known_copy_or_a_refusal() -> None:
    assert read_ack(reply(b'{"stream": "TIDINGS", "seq": 7}')) == StreamAck(7, duplicate=False)
    copy = reply(b'{"stream": "TIDINGS", "seq": 7, "duplicate": true}')
    assert read_ack(copy) == StreamAck(7, duplicate=True)
    with pytest.raises(PublishRefused, match="maximum messages"):
        read_ack(reply(b'{"error": {"code": 503, "description": "maximum messages exceeded"}}'))
    with pytest.raises(PublishRefused, match="no stream"):  # nothing takes the subject
        read_ack(reply(b"", {"Status": "503"}))
