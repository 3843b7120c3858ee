"""`GET /v1/users/{user_id}/notifications`: every notice of the user, newest first, with
each channel's delivery status and why it was held back or stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.helpers import cny, create_user, deliver_everything, top_up, transfer
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock


def as_user(client: TestClient, user: dict[str, Any]) -> dict[str, str]:
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_user_notifications_list_shows_each_delivery_status(
    client: TestClient, context: AppContext
) -> None:
    # 10:00 in Shanghai, inside the marketing window
    context.clock = FixedClock(datetime(2026, 11, 24, 2, tzinfo=UTC))
    user = create_user(client)
    headers = as_user(client, user)
    client.put(
        f"/v1/users/{user['id']}/preferences",
        json={
            "channels": {"marketing": ["inbox", "sms"], "transactional": ["inbox", "sms"]},
            "marketing_consent": {"inbox": True},
        },
    )
    top_up(client, user["wallet_id"], 300_000)
    transfer(
        client,
        kind="payment",
        source=user["wallet_id"],
        amount=cny(1_280),
        merchant={"name": "星巴克", "category": "5814"},
    )
    promotion = {
        "specversion": "1.0",
        "id": "promo-list-1",
        "source": "urn:campaigns",
        "type": "marketing.promotion",
        "subject": user["id"],
        "data": {"campaign_id": "cmp-list-1", "title": "会员日", "body": "全场九折"},
    }
    assert client.post("/v1/events", json=promotion).status_code == 202
    deliver_everything(context)

    response = client.get(f"/v1/users/{user['id']}/notifications", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    kinds = [item["kind"] for item in page["items"]]
    assert kinds == ["marketing.promotion", "wallet.payment.succeeded", "wallet.top_up.succeeded"]
    promo, payment, _ = page["items"]
    assert promo["category"] == "marketing"
    assert set(promo) == {"id", "kind", "category", "created_at", "deliveries"}
    by_channel = {d["channel"]: d for d in promo["deliveries"]}
    assert by_channel["sms"] == {"channel": "sms", "status": "suppressed", "reason": "no_consent"}
    assert by_channel["inbox"]["status"] == "sent"
    assert {d["channel"]: d["status"] for d in payment["deliveries"]} == {
        "inbox": "sent",
        "sms": "sent",
    }
    detail = client.get(f"/v1/notifications/{promo['id']}", headers=headers)
    assert detail.status_code == 200


def test_other_users_token_cannot_list_notifications(
    client: TestClient, context: AppContext
) -> None:
    owner = create_user(client)
    other = create_user(client)
    top_up(client, owner["wallet_id"], 10_000)
    deliver_everything(context)
    url = f"/v1/users/{owner['id']}/notifications"
    refused = client.get(url, headers=as_user(client, other))
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    own = client.get(url, headers=as_user(client, owner)).json()
    assert [item["kind"] for item in own["items"]] == ["wallet.top_up.succeeded"]
    assert client.get(url).json() == own  # an operator sees anyone's
    assert client.get("/v1/users/usr_nobody/notifications").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": "ten"}, "limit"), ({"cursor": "x" * 201}, "cursor")],
)
def test_bad_paging_of_the_notifications_list_is_422_naming_the_field(
    client: TestClient, query: dict[str, Any], field: str
) -> None:
    user = create_user(client)
    response = client.get(f"/v1/users/{user['id']}/notifications", params=query)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_notifications_list_pages_newest_first_in_the_same_queries_per_page(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    for value in (1_000, 2_000, 3_000, 4_000, 5_000):
        top_up(client, user["wallet_id"], value)
    deliver_everything(context)
    url = f"/v1/users/{user['id']}/notifications"
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    # Warm up: the failed-authentication throttle reads its counter at most once a second
    # per address, so a first request after a slow setup reads one more row.
    client.get(url, params={"limit": 2})
    event.listen(context.engine, "before_cursor_execute", count)
    try:
        first = client.get(url, params={"limit": 2}).json()
        on_first_page = len(statements)
        seen = [item["id"] for item in first["items"]]
        cursor = first["next_cursor"]
        while cursor:
            statements.clear()
            page = client.get(url, params={"limit": 2, "cursor": cursor}).json()
            assert len(statements) <= on_first_page
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
        statements.clear()
        whole = client.get(url, params={"limit": 5}).json()
        assert len(statements) == on_first_page
    finally:
        event.remove(context.engine, "before_cursor_execute", count)
    assert seen == [item["id"] for item in whole["items"]]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 5
    # the inbox, and push skipped (this user has no device)
    assert all(len(item["deliveries"]) == 2 for item in whole["items"])
    bad = client.get(url, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
