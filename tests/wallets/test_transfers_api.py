from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import assert_books_unchanged, balance, cny, create_user, top_up, transfer

STARBUCKS = {"name": "星巴克", "category": "5814"}


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in ("transfers", "postings", "outbox")
        )


def events(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT type, user_id, data FROM outbox ORDER BY id")).all()
    return [(t, u, d if isinstance(d, dict) else json.loads(d)) for t, u, d in rows]


@pytest.fixture
def funded(client: TestClient) -> dict[str, Any]:
    user = create_user(client)
    top_up(client, user["wallet_id"], 100_000)
    return user


def test_payment_writes_its_event_in_the_same_transaction(
    client: TestClient, engine: Engine, funded: dict[str, Any]
) -> None:
    wallet = funded["wallet_id"]
    paid = transfer(client, kind="payment", source=wallet, amount=cny(12_800), merchant=STARBUCKS)
    assert paid["status"] == "succeeded"
    kind, user_id, data = events(engine)[-1]
    assert kind == "wallet.payment.succeeded"
    assert user_id == funded["id"]
    assert data["amount"] == cny(12_800)
    assert data["merchant"] == STARBUCKS
    assert data["balance_after"] == cny(87_200)
    assert data["wallet_id"] == wallet


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": {"value": 12.5, "currency": "CNY"}}, "amount.value"),
        ({"amount": {"value": -100, "currency": "CNY"}}, "amount.value"),
        ({"amount": {"value": 0, "currency": "CNY"}}, "amount.value"),
        ({"amount": {"value": 100, "currency": "XYZ"}}, "amount.currency"),
        ({"amount": {"value": 100, "currency": "USD"}}, "amount.currency"),
        ({"kind": "gift"}, "kind"),
        ({"amount": cny(10**9)}, "amount"),
        ({"source": "wal_01JD0000000000000000000000"}, "source"),
        ({"merchant": None}, "merchant"),
    ],
)
def test_bad_payment_is_a_problem_naming_the_field_and_writes_nothing(
    client: TestClient, engine: Engine, funded: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = counts(engine)
    request = {
        "kind": "payment",
        "source": funded["wallet_id"],
        "amount": cny(100),
        "merchant": STARBUCKS,
        **body,
    }
    # A payment refused for lack of money tells its owner (one event), and writes no money.
    told = 1 if field == "amount" else 0
    with assert_books_unchanged(client, [funded["wallet_id"]], notices=told):
        response = client.post("/v1/transfers", json=request)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}
    transfers, postings, outbox = counts(engine)
    assert (transfers, postings, outbox - told) == before
    if told:
        assert events(engine)[-1][0] == "wallet.payment.failed"
    assert balance(client, funded["wallet_id"]) == 100_000


def test_malformed_json_is_400(client: TestClient, funded: dict[str, Any]) -> None:
    with assert_books_unchanged(client, [funded["wallet_id"]]):
        response = client.post(
            "/v1/transfers",
            content=b'{"kind": "payment",',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


def test_user_cannot_pay_from_another_users_wallet(
    client: TestClient, funded: dict[str, Any]
) -> None:
    mallory = create_user(client)
    token = client.post(f"/v1/users/{mallory['id']}/tokens").json()["token"]
    with assert_books_unchanged(client, [funded["wallet_id"], mallory["wallet_id"]]):
        response = client.post(
            "/v1/transfers",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "kind": "payment",
                "source": funded["wallet_id"],
                "amount": cny(100),
                "merchant": STARBUCKS,
            },
        )
        assert response.status_code == 404
    assert balance(client, funded["wallet_id"]) == 100_000


def test_sub_wallet_budget_allocation_payment_and_partial_refunds(
    client: TestClient, engine: Engine, funded: dict[str, Any]
) -> None:
    main = funded["wallet_id"]
    created = client.post(
        f"/v1/wallets/{main}/sub-wallets",
        json={
            "name": "旅行",
            "purpose": "travel",
            "budget": {"limit": cny(200_000), "period": "month"},
        },
    )
    assert created.status_code == 201, created.text
    travel = created.json()["id"]
    transfer(client, kind="allocation", source=main, destination=travel, amount=cny(50_000))
    paid = transfer(
        client,
        kind="payment",
        source=travel,
        amount=cny(30_000),
        merchant={"name": "携程", "category": "4722"},
    )
    view = client.get(f"/v1/wallets/{travel}").json()
    assert view["balance"] == cny(20_000)
    assert view["budget"]["spent"] == cny(30_000)
    assert view["budget"]["used_percent"] == 15

    transfer(client, kind="refund", refund_of=paid["id"], amount=cny(10_000))
    assert balance(client, travel) == 30_000
    with assert_books_unchanged(client, [main, travel]):
        too_much = client.post(
            "/v1/transfers",
            json={"kind": "refund", "refund_of": paid["id"], "amount": cny(20_001)},
        )
        assert too_much.status_code == 422
        assert too_much.json()["errors"][0]["field"] == "amount"
    transfer(client, kind="refund", refund_of=paid["id"], amount=cny(20_000))
    assert client.get(f"/v1/transfers/{paid['id']}").json()["refunded"] == cny(30_000)
    assert balance(client, travel) == 50_000
    assert balance(client, main) == 50_000


def test_refund_after_sub_wallet_closed_lands_in_main(
    client: TestClient, funded: dict[str, Any]
) -> None:
    main = funded["wallet_id"]
    sub = client.post(
        f"/v1/wallets/{main}/sub-wallets", json={"name": "购物", "purpose": "shopping"}
    ).json()["id"]
    transfer(client, kind="allocation", source=main, destination=sub, amount=cny(10_000))
    paid = transfer(
        client, kind="payment", source=sub, amount=cny(4_000), merchant={"name": "淘宝"}
    )
    closed = client.post(f"/v1/wallets/{sub}/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert balance(client, main) == 96_000
    transfer(client, kind="refund", refund_of=paid["id"], amount=cny(4_000))
    assert balance(client, main) == 100_000
    with assert_books_unchanged(client, [main, sub]):
        refused = client.post(
            "/v1/transfers",
            json={"kind": "allocation", "source": main, "destination": sub, "amount": cny(1)},
        )
        assert refused.status_code == 422


def test_only_operators_refund(client: TestClient, funded: dict[str, Any]) -> None:
    paid = transfer(
        client, kind="payment", source=funded["wallet_id"], amount=cny(500), merchant=STARBUCKS
    )
    token = client.post(f"/v1/users/{funded['id']}/tokens").json()["token"]
    with assert_books_unchanged(client, [funded["wallet_id"]]):
        response = client.post(
            "/v1/transfers",
            headers={"Authorization": f"Bearer {token}"},
            json={"kind": "refund", "refund_of": paid["id"], "amount": cny(500)},
        )
        assert response.status_code == 403


def test_p2p_goes_to_another_users_main_wallet_with_masked_counterparty(
    client: TestClient, engine: Engine, funded: dict[str, Any]
) -> None:
    friend = create_user(client, name="李娜")
    transfer(
        client,
        kind="p2p",
        source=funded["wallet_id"],
        destination=friend["wallet_id"],
        amount=cny(50_000),
    )
    assert balance(client, friend["wallet_id"]) == 50_000
    received = [e for e in events(engine) if e[0] == "wallet.transfer.received"][-1]
    assert received[1] == friend["id"]
    assert received[2]["counterparty"] == "张*丰"
    with assert_books_unchanged(client, [funded["wallet_id"], friend["wallet_id"]]):
        same_user = client.post(
            "/v1/transfers",
            json={
                "kind": "p2p",
                "source": funded["wallet_id"],
                "destination": funded["wallet_id"],
                "amount": cny(1),
            },
        )
        assert same_user.status_code == 422


def test_insufficient_funds_changes_nothing(
    client: TestClient, engine: Engine, funded: dict[str, Any]
) -> None:
    before = counts(engine)
    with assert_books_unchanged(client, [funded["wallet_id"]]):
        response = client.post(
            "/v1/transfers",
            json={"kind": "withdrawal", "source": funded["wallet_id"], "amount": cny(100_001)},
        )
        assert response.status_code == 422
        assert response.json()["title"] == "Insufficient funds"
    assert counts(engine) == before


def test_payment_crossing_the_low_balance_threshold_records_balance_low(
    client: TestClient, engine: Engine, funded: dict[str, Any]
) -> None:
    wallet = funded["wallet_id"]
    transfer(client, kind="payment", source=wallet, amount=cny(85_000), merchant=STARBUCKS)
    assert not [e for e in events(engine) if e[0] == "wallet.balance.low"]
    transfer(client, kind="payment", source=wallet, amount=cny(6_000), merchant=STARBUCKS)
    low = [e for e in events(engine) if e[0] == "wallet.balance.low"]
    assert len(low) == 1
    assert low[0][2]["balance"] == cny(9_000)
    transfer(client, kind="payment", source=wallet, amount=cny(1_000), merchant=STARBUCKS)
    assert len([e for e in events(engine) if e[0] == "wallet.balance.low"]) == 1


def test_idempotency_key_replays_the_first_result_and_refuses_another_body(
    client: TestClient, engine: Engine, funded: dict[str, Any]
) -> None:
    body = {
        "kind": "payment",
        "source": funded["wallet_id"],
        "amount": cny(1_000),
        "merchant": STARBUCKS,
    }
    first = client.post("/v1/transfers", json=body, headers={"Idempotency-Key": "pay-1"})
    again = client.post("/v1/transfers", json=body, headers={"Idempotency-Key": "pay-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance(client, funded["wallet_id"]) == 99_000
    with assert_books_unchanged(client, [funded["wallet_id"]]):
        other = client.post(
            "/v1/transfers",
            json={**body, "amount": cny(2_000)},
            headers={"Idempotency-Key": "pay-1"},
        )
        assert other.status_code == 409


def test_transactions_newest_first_with_cursor_and_kind_filter(
    client: TestClient, funded: dict[str, Any]
) -> None:
    wallet = funded["wallet_id"]
    for value in (100, 200, 300):
        transfer(client, kind="payment", source=wallet, amount=cny(value), merchant=STARBUCKS)
    first = client.get(f"/v1/wallets/{wallet}/transactions", params={"limit": 2}).json()
    assert [i["amount"]["value"] for i in first["items"]] == [-300, -200]
    assert first["items"][0]["balance_after"] == cny(99_400)
    second = client.get(
        f"/v1/wallets/{wallet}/transactions", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [i["amount"]["value"] for i in second["items"]] == [-100, 100_000]
    assert second["next_cursor"] is None
    top_ups = client.get(f"/v1/wallets/{wallet}/transactions", params={"kind": "top_up"}).json()
    assert [i["kind"] for i in top_ups["items"]] == ["top_up"]
    bad = client.get(f"/v1/wallets/{wallet}/transactions", params={"cursor": "!!"})
    assert bad.status_code == 422


def test_trial_balance_is_zero_after_activity(client: TestClient, funded: dict[str, Any]) -> None:
    transfer(client, kind="withdrawal", source=funded["wallet_id"], amount=cny(1_000))
    report = client.get("/v1/ledger/trial-balance").json()
    assert report["ok"] is True
    assert report["totals"] == [cny(0)]
    assert all(a["consistent"] for a in report["accounts"])
