"""Money arriving from outside is the company backend's word: a user's own token (a stolen
session, say) may not post a top-up or a refund, and everything else still works with it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import assert_books_unchanged, balance, cny, create_user, top_up, transfer
from tidings.app.context import AppContext

STARBUCKS = {"name": "星巴克", "category": "5814"}


@pytest.fixture
def member(client: TestClient) -> dict[str, Any]:
    """A user with 1,000.00 and their own token, as the app holds it."""
    user = create_user(client)
    top_up(client, user["wallet_id"], 100_000)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    return {**user, "headers": {"Authorization": f"Bearer {token}"}}


def assert_operator_only(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/operator-only")


def test_user_token_cannot_top_up(client: TestClient, member: dict[str, Any]) -> None:
    wallet = member["wallet_id"]
    body = {"kind": "top_up", "destination": wallet, "amount": cny(10**12)}
    with assert_books_unchanged(client, [wallet]):
        assert_operator_only(client.post("/v1/transfers", json=body, headers=member["headers"]))
        # Not even a small one, nor with an idempotency key.
        small = {**body, "amount": cny(100)}
        headers = {**member["headers"], "Idempotency-Key": "mint-1"}
        assert_operator_only(client.post("/v1/transfers", json=small, headers=headers))
    # And nothing to withdraw afterwards: the balance is what the operator put there.
    withdrawal = {"kind": "withdrawal", "source": wallet, "amount": cny(100_001)}
    refused = client.post("/v1/transfers", json=withdrawal, headers=member["headers"])
    assert refused.status_code == 422
    assert balance(client, wallet) == 100_000


def test_user_token_cannot_refund(client: TestClient, member: dict[str, Any]) -> None:
    wallet = member["wallet_id"]
    paid = transfer(client, kind="payment", source=wallet, amount=cny(500), merchant=STARBUCKS)
    body = {"kind": "refund", "refund_of": paid["id"], "amount": cny(500)}
    with assert_books_unchanged(client, [wallet]):
        assert_operator_only(client.post("/v1/transfers", json=body, headers=member["headers"]))
    assert client.get(f"/v1/transfers/{paid['id']}").json()["refunded"] == cny(0)


def test_operator_key_tops_up_and_refunds(client: TestClient, member: dict[str, Any]) -> None:
    wallet = member["wallet_id"]
    top_up(client, wallet, 5_000)
    paid = transfer(client, kind="payment", source=wallet, amount=cny(500), merchant=STARBUCKS)
    transfer(client, kind="refund", refund_of=paid["id"], amount=cny(500))
    assert balance(client, wallet) == 105_000


def test_user_token_still_pays_allocates_sends_and_withdraws(
    client: TestClient, context: AppContext, member: dict[str, Any]
) -> None:
    context.settings.risk_scoring = False  # a burst from a new account: the rules would ask
    wallet, headers = member["wallet_id"], member["headers"]
    friend = create_user(client)
    sub = client.post(
        f"/v1/wallets/{wallet}/sub-wallets",
        json={"name": "旅行", "purpose": "travel"},
        headers=headers,
    ).json()["id"]
    for body in (
        {"kind": "payment", "source": wallet, "amount": cny(1_000), "merchant": STARBUCKS},
        {"kind": "allocation", "source": wallet, "destination": sub, "amount": cny(2_000)},
        {"kind": "allocation", "source": sub, "destination": wallet, "amount": cny(500)},
        {"kind": "p2p", "source": wallet, "destination": friend["wallet_id"], "amount": cny(300)},
        {"kind": "withdrawal", "source": wallet, "amount": cny(200)},
    ):
        response = client.post("/v1/transfers", json=body, headers=headers)
        assert response.status_code == 201, response.text
    assert balance(client, wallet) == 100_000 - 1_000 - 2_000 + 500 - 300 - 200
    assert balance(client, friend["wallet_id"]) == 300
