"""A refused payment tells its owner why (`wallet.payment.failed`), and still moves no money."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import (
    assert_books_unchanged,
    balance,
    cny,
    create_user,
    deliver_everything,
    top_up,
)
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.wallets import events as wallet_events

STARBUCKS = {"name": "星巴克", "category": "5814"}


def failures(engine: Engine, user_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(outbox.c.data)
        .where(outbox.c.user_id == user_id, outbox.c.type == wallet_events.PAYMENT_FAILED)
        .order_by(outbox.c.id)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).scalars()]


def pay(client: TestClient, wallet_id: str, value: int, **headers: str) -> Any:
    return client.post(
        "/v1/transfers",
        json={"kind": "payment", "source": wallet_id, "amount": cny(value), "merchant": STARBUCKS},
        headers=headers,
    )


@pytest.fixture
def payer(client: TestClient) -> dict[str, Any]:
    user = create_user(client, name="张三丰", phone="13812348821")
    top_up(client, user["wallet_id"], 5_000)
    return user


def test_a_payment_refused_for_lack_of_money_tells_the_owner_and_moves_nothing(
    client: TestClient, engine: Engine, context: AppContext, payer: dict[str, Any]
) -> None:
    with assert_books_unchanged(client, [payer["wallet_id"]], notices=1):
        refused = pay(client, payer["wallet_id"], 12_800, **{"Idempotency-Key": "pay-1"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/insufficient-funds")
    [failure] = failures(engine, payer["id"])
    assert failure["reason"] == "insufficient_funds"
    assert failure["amount"] == cny(12_800)
    assert failure["merchant"] == STARBUCKS
    assert failure["wallet_id"] == payer["wallet_id"]

    deliver_everything(context)
    [notice] = [
        item
        for item in client.get(f"/v1/users/{payer['id']}/inbox").json()["items"]
        if item["kind"] == wallet_events.PAYMENT_FAILED
    ]
    assert notice["title"] == "支付未成功"
    assert "向星巴克支付128.00元未成功" in notice["body"]
    assert "余额不足，未扣款" in notice["body"]

    # The refusal was not stored as the key's answer: after a top-up the same key pays.
    top_up(client, payer["wallet_id"], 10_000)
    paid = pay(client, payer["wallet_id"], 12_800, **{"Idempotency-Key": "pay-1"})
    assert paid.status_code == 201, paid.text
    assert balance(client, payer["wallet_id"]) == 2_200


def test_a_payment_from_a_frozen_wallet_tells_the_owner_in_english_too(
    client: TestClient, engine: Engine, context: AppContext
) -> None:
    user = create_user(client, locale="en", name="Wang Fang", phone="13812340021")
    top_up(client, user["wallet_id"], 50_000)
    frozen = client.post(f"/v1/wallets/{user['wallet_id']}/freeze", json={})
    assert frozen.status_code == 200, frozen.text
    with assert_books_unchanged(client, [user["wallet_id"]], notices=1):
        refused = pay(client, user["wallet_id"], 1_000)
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/wallet-frozen")
    assert [f["reason"] for f in failures(engine, user["id"])] == ["wallet_frozen"]
    deliver_everything(context)
    [notice] = [
        item
        for item in client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
        if item["kind"] == wallet_events.PAYMENT_FAILED
    ]
    assert notice["title"] == "Payment failed"
    assert "could not pay CNY 10.00 to 星巴克" in notice["body"]
    assert "the wallet is frozen. Nothing was charged" in notice["body"]


def test_other_refusals_and_other_kinds_record_no_payment_failure(
    client: TestClient, engine: Engine, payer: dict[str, Any]
) -> None:
    other = create_user(client)
    # Not enough money for a withdrawal: no payment failed.
    response = client.post(
        "/v1/transfers",
        json={"kind": "withdrawal", "source": payer["wallet_id"], "amount": cny(9_999)},
    )
    assert response.status_code == 422
    # Another user's wallet with a user token: 404, and nothing said to anyone.
    token = client.post(f"/v1/users/{other['id']}/tokens").json()["token"]
    stranger = pay(client, payer["wallet_id"], 99_999, Authorization=f"Bearer {token}")
    assert stranger.status_code == 404
    assert failures(engine, payer["id"]) == []
    assert failures(engine, other["id"]) == []
