"""`POST /v1/events` speaks the CloudEvents HTTP binding as the reference SDK (`cloudevents`)
writes it: structured, binary and batch modes, JSON data with media-type parameters, and
415 for a body that is not a JSON event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import cny, create_user


def sdk_event(subject: str, event_id: str, **attributes: Any) -> CloudEvent:
    return CloudEvent(
        attributes={
            "id": event_id,
            "source": "urn:bank:core",
            "type": "wallet.transfer.received",
            "subject": subject,
            "time": datetime(2026, 11, 24, 1, 12, tzinfo=UTC),
            "datacontenttype": "application/json",
            **attributes,
        },
        data={"amount": cny(50_000), "counterparty": "李**", "channel_ref": "网银-88"},
    )


def outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT type, user_id, source, data FROM outbox")))


def data_of(row: Any) -> dict[str, Any]:
    return json.loads(row.data) if isinstance(row.data, str) else dict(row.data)


def test_structured_mode_from_the_sdk_is_accepted(client: TestClient, engine: Engine) -> None:
    user = create_user(client)
    message = to_structured_event(sdk_event(user["id"], "core-s-1"))
    assert message.headers["content-type"].startswith("application/cloudevents+json")
    response = client.post("/v1/events", content=message.body, headers=message.headers)
    assert response.status_code == 202, response.text
    assert response.json()["duplicate"] is False
    rows = outbox(engine)
    assert [(r.type, r.user_id) for r in rows] == [("wallet.transfer.received", user["id"])]
    assert data_of(rows[0])["channel_ref"] == "网银-88"


def test_binary_mode_from_the_sdk_is_accepted_once(client: TestClient, engine: Engine) -> None:
    user = create_user(client, external_id="core-user-b")
    message = to_binary_event(
        sdk_event("core-user-b", "core-b-1", datacontenttype="application/json; charset=utf-8")
    )
    assert "ce-specversion" in message.headers
    first = client.post("/v1/events", content=message.body, headers=message.headers)
    again = client.post("/v1/events", content=message.body, headers=message.headers)
    assert first.status_code == again.status_code == 202, first.text
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert first.json()["user_id"] == user["id"]
    rows = outbox(engine)
    assert len(rows) == 1
    assert data_of(rows[0])["amount"] == cny(50_000)


def test_binary_mode_percent_encoded_attributes_are_decoded(
    client: TestClient, engine: Engine
) -> None:
    create_user(client, external_id="客户 7")
    message = to_binary_event(sdk_event("客户 7", "core-b-2"))
    response = client.post("/v1/events", content=message.body, headers=message.headers)
    assert response.status_code == 202, response.text
    assert len(outbox(engine)) == 1


def test_batch_mode_stores_each_event_once_with_a_result_per_event(
    client: TestClient, engine: Engine
) -> None:
    user = create_user(client)
    format_ = JSONFormat()
    events = [
        json.loads(format_.write(sdk_event(user["id"], "core-batch-1"))),
        json.loads(format_.write(sdk_event("nobody-we-know", "core-batch-2"))),
        {"specversion": "1.0", "id": "core-batch-3"},
        json.loads(format_.write(sdk_event(user["id"], "core-batch-1"))),
    ]
    response = client.post(
        "/v1/events",
        content=json.dumps(events),
        headers={"Content-Type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 202, response.text
    items = response.json()["items"]
    assert [item["status"] for item in items] == [202, 422, 422, 202]
    assert items[0]["event"]["duplicate"] is False
    assert items[3]["event"]["duplicate"] is True
    assert items[1]["problem"]["type"].endswith("/unknown-subject")
    assert {e["field"] for e in items[2]["problem"]["errors"]} >= {"2.source", "2.type"}
    assert len(outbox(engine)) == 1


def test_datacontenttype_with_parameters_is_accepted(client: TestClient) -> None:
    user = create_user(client)
    event = json.loads(JSONFormat().write(sdk_event(user["id"], "core-p-1")))
    event["datacontenttype"] = "application/json; charset=utf-8"
    assert client.post("/v1/events", json=event).status_code == 202


def test_text_plain_body_is_415_and_stores_nothing(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/events", content="hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["type"].endswith("/unsupported-media-type")
    assert outbox(engine) == []


def test_binary_mode_with_non_json_data_is_415(client: TestClient, engine: Engine) -> None:
    user = create_user(client)
    message = to_binary_event(sdk_event(user["id"], "core-x-1"))
    headers = {**message.headers, "content-type": "application/xml"}
    response = client.post("/v1/events", content=b"<a/>", headers=headers)
    assert response.status_code == 415
    assert outbox(engine) == []
