"""The campaign routes: operator only (a user token changes nothing), strict input, drafts
editable until launch and every change audited, idempotent writes, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.campaigns.support import (
    campaign_body,
    campaign_deliveries,
    consenting_user,
    create_campaign,
    deliver_everything,
    dispatch,
    launch,
    shanghai,
)
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock

NOW = shanghai(24, 10)


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(NOW)
    context.clock = fixed
    return fixed


def as_user(client: TestClient, user: dict[str, Any]) -> dict[str, str]:
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_user_token_reaches_no_campaign_route_and_changes_nothing(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = consenting_user(client)
    headers = as_user(client, user)
    campaign = create_campaign(client)
    path = f"/v1/campaigns/{campaign['id']}"

    assert client.post("/v1/campaigns", json=campaign_body(), headers=headers).status_code == 403
    assert client.get("/v1/campaigns", headers=headers).status_code == 403
    for suffix in ("", "/audience", "/report", "/audit"):
        assert client.get(path + suffix, headers=headers).status_code == 403
    assert client.put(path, json=campaign_body(name="改"), headers=headers).status_code == 403
    assert client.post(path + "/launch", headers=headers).status_code == 403
    assert client.post(path + "/cancel", headers=headers).status_code == 403

    after = client.get(path).json()
    assert (after["status"], after["name"]) == ("draft", campaign["name"])
    assert client.get("/v1/campaigns").json()["items"] == [after]
    assert [e["action"] for e in client.get(path + "/audit").json()] == ["created"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"control_percent": 60}, "control_percent"),
        ({"channels": ["fax"]}, "channels"),
        ({"channels": ["sms", "sms"]}, "channels"),
        ({"segment": {"all": [{"shoe_size": 42}]}}, "segment"),
        ({"variants": []}, "variants"),
        ({"send_at": "9999-12-31T23:00:00-05:00"}, "send_at"),
        (
            {"conversion": {"event_type": "wallet.payment.succeeded", "within_hours": 0}},
            "conversion",
        ),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/campaigns", json=campaign_body(**change))

    assert response.status_code == 422, response.text
    assert any(field in str(error) for error in response.json()["errors"])
    assert client.get("/v1/campaigns").json()["items"] == []


def test_a_variant_without_the_default_locale_is_422(client: TestClient) -> None:
    variants = [{"key": "a", "weight": 1, "content": {"en": {"title": "Hi", "body": "Hello"}}}]
    response = client.post("/v1/campaigns", json=campaign_body(variants=variants))
    assert response.status_code == 422
    assert "variants" in str(response.json()["errors"])


def test_two_variants_with_one_key_are_422_naming_variants(client: TestClient) -> None:
    variant = {"key": "a", "weight": 1, "content": {"zh-CN": {"title": "嗨", "body": "你好"}}}
    response = client.post("/v1/campaigns", json=campaign_body(variants=[variant, variant]))
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["variants"]
    assert client.get("/v1/campaigns").json()["items"] == []


def test_an_unknown_campaign_is_404(client: TestClient) -> None:
    for path in ("/v1/campaigns/cmp_01JDQZM0000000000000000007", "/v1/campaigns/nope"):
        assert client.get(path).status_code == 404
        assert client.get(path + "/report").status_code == 404


def test_one_idempotency_key_creates_once_and_another_body_is_409(client: TestClient) -> None:
    key = {"Idempotency-Key": "create-campaign-1"}
    first = client.post("/v1/campaigns", json=campaign_body(), headers=key)
    again = client.post("/v1/campaigns", json=campaign_body(), headers=key)
    other = client.post("/v1/campaigns", json=campaign_body(name="别的"), headers=key)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert other.status_code == 409
    assert len(client.get("/v1/campaigns").json()["items"]) == 1


def test_a_repeated_launch_key_replays_and_a_new_launch_is_409(client: TestClient) -> None:
    campaign = create_campaign(client)
    key = {"Idempotency-Key": "launch-once"}
    path = f"/v1/campaigns/{campaign['id']}/launch"
    first = client.post(path, headers=key)
    again = client.post(path, headers=key)
    second = client.post(path, headers={"Idempotency-Key": "launch-twice"})

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert second.status_code == 409
    trail = client.get(f"/v1/campaigns/{campaign['id']}/audit").json()
    assert [e["action"] for e in trail].count("launched") == 1


def test_a_draft_is_edited_until_launch_and_every_change_is_audited(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    campaign = create_campaign(client)
    path = f"/v1/campaigns/{campaign['id']}"

    edited = client.put(path, json=campaign_body(name="双十二", control_percent=10))
    assert edited.status_code == 200, edited.text
    assert (edited.json()["name"], edited.json()["control_percent"]) == ("双十二", 10)
    launch(client, campaign["id"])
    refused = client.put(path, json=campaign_body(name="太晚了"))

    assert refused.status_code == 409
    assert client.get(path).json()["name"] == "双十二"
    trail = client.get(path + "/audit").json()
    assert [e["action"] for e in trail] == ["created", "edited", "launched"]
    assert trail[1]["detail"]["fields"] == ["control_percent", "name"]


def test_cancel_stops_what_has_not_been_sent(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    consenting_user(client, timezone="America/New_York")  # waits for 08:00 New York
    campaign = create_campaign(client)
    launch(client, campaign["id"])
    dispatch(context)

    cancelled = client.post(f"/v1/campaigns/{campaign['id']}/cancel")
    deliver_everything(context)  # the relay carries the cancellation to the engine

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert [(d.status, d.reason) for d in campaign_deliveries(context, campaign["id"])] == [
        ("cancelled", "campaign_cancelled")
    ]
    assert client.post(f"/v1/campaigns/{campaign['id']}/cancel").status_code == 409
    assert client.post(f"/v1/campaigns/{campaign['id']}/launch").status_code == 409
