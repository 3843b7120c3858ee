from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import balance, cny, create_user, top_up, transfer


def test_top_up_then_pay_moves_the_balance(client: TestClient) -> None:
    user = create_user(client)
    wallet = user["wallet_id"]
    top_up(client, wallet, 50_000)
    transfer(
        client,
        kind="payment",
        source=wallet,
        amount=cny(12_800),
        merchant={"name": "星巴克", "category": "5814"},
    )
    assert balance(client, wallet) == 37_200
