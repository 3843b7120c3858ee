"""The insights routes under the stop check: another user's token changes nothing (404/403),
bad input is 422 naming the field and stores nothing, and one `Idempotency-Key` does a write
once (another body: 409) — for budgets and goals, the money that moves them, and the job
that sends suggestions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.test_inputs import assert_refused, outbox_count
from tests.helpers import assert_books_unchanged, cny, create_user, top_up, transfer
from tests.insights.builders import fix_clock, move_to, told
from tests.insights.test_spending_api import HOTEL, as_user
from tidings.app.context import AppContext
from tidings.campaigns.events import SUB_WALLET_SUGGESTION
from tidings.insights.events import BUDGET_THRESHOLD_REACHED, GOAL_REACHED
from tidings.kit.clock import FixedClock

TRAVEL = {
    "name": "旅行",
    "purpose": "travel",
    "budget": {"limit": cny(200_000), "period": "month", "alert_percent": 80},
    "goal": {"target": cny(400_000)},
}


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    return fix_clock(context, 2026, 11, 10, 12)


@pytest.fixture
def owner(client: TestClient, clock: FixedClock) -> dict[str, Any]:
    """A user with 5,000.00 in the main wallet and 3,000.00 in a travel sub-wallet that has a
    2,000.00 monthly budget and a 4,000.00 goal."""
    user = create_user(client)
    top_up(client, user["wallet_id"], 500_000)
    travel = client.post(f"/v1/wallets/{user['wallet_id']}/sub-wallets", json=TRAVEL)
    assert travel.status_code == 201, travel.text
    transfer(
        client,
        kind="allocation",
        source=user["wallet_id"],
        destination=travel.json()["id"],
        amount=cny(300_000),
    )
    return {**user, "travel": travel.json()["id"]}


def wallets_of(client: TestClient, user_id: str) -> list[str]:
    return [w["id"] for w in client.get(f"/v1/users/{user_id}/wallets").json()]


def test_another_users_token_opens_no_budgeted_sub_wallet_under_my_wallet(
    client: TestClient, owner: dict[str, Any]
) -> None:
    stranger = create_user(client)
    before = wallets_of(client, owner["id"])
    response = client.post(
        f"/v1/wallets/{owner['wallet_id']}/sub-wallets",
        json=TRAVEL,
        headers=as_user(client, stranger["id"]),
    )
    assert response.status_code == 404, response.text
    assert wallets_of(client, owner["id"]) == before
    assert wallets_of(client, stranger["id"]) == [stranger["wallet_id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": {**TRAVEL["budget"], "alert_percent": 0}}, "budget.alert_percent"),
        ({"budget": {**TRAVEL["budget"], "alert_percent": 100}}, "budget.alert_percent"),
        ({"budget": {**TRAVEL["budget"], "period": "year"}}, "budget.period"),
        ({"budget": {**TRAVEL["budget"], "limit": cny(0)}}, "budget.limit.value"),
        ({"budget": {"limit": cny(200_000)}}, "budget.period"),
        ({"goal": {"target": cny(-1)}}, "goal.target.value"),
        ({"goal": {"target": cny(400_000), "by": "2030-02-30"}}, "goal.by"),
        (
            {"budget": {**TRAVEL["budget"], "limit": {"value": 200_000, "currency": "USD"}}},
            "budget.limit.currency",
        ),
    ],
    ids=[
        "alert-0",
        "alert-100",
        "period",
        "limit-0",
        "no-period",
        "negative-goal",
        "bad-date",
        "currency",
    ],
)
def test_a_bad_budget_or_goal_is_422_naming_the_field_and_opens_nothing(
    client: TestClient, engine: Engine, owner: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    before, events = wallets_of(client, owner["id"]), outbox_count(engine)
    response = client.post(
        f"/v1/wallets/{owner['wallet_id']}/sub-wallets",
        json={**TRAVEL, **change},
        headers=as_user(client, owner["id"]),
    )
    assert_refused(response, field)
    assert wallets_of(client, owner["id"]) == before
    assert outbox_count(engine) == events


def test_one_idempotency_key_opens_one_budgeted_sub_wallet_and_another_body_is_409(
    client: TestClient, owner: dict[str, Any]
) -> None:
    path = f"/v1/wallets/{owner['wallet_id']}/sub-wallets"
    key = {"Idempotency-Key": "open-travel-2", **as_user(client, owner["id"])}
    first = client.post(path, json=TRAVEL, headers=key)
    again = client.post(path, json=TRAVEL, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    assert first.json()["budget"]["alert_percent"] == 80
    other = client.post(path, json={**TRAVEL, "name": "出差"}, headers=key)
    assert other.status_code == 409, other.text
    assert len(wallets_of(client, owner["id"])) == 3  # main, the fixture's travel, this one


def test_a_replayed_payment_past_80_percent_pays_and_alerts_once(
    client: TestClient, context: AppContext, owner: dict[str, Any]
) -> None:
    body = {
        "kind": "payment",
        "source": owner["travel"],
        "amount": cny(164_000),
        "merchant": {"name": "携程", "category": "4722"},
    }
    key = {"Idempotency-Key": "hotel-1", **as_user(client, owner["id"])}
    first = client.post("/v1/transfers", json=body, headers=key)
    again = client.post("/v1/transfers", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    [alert] = told(context, owner["id"], BUDGET_THRESHOLD_REACHED)
    assert alert["used_percent"] == 82
    with assert_books_unchanged(client, [owner["travel"]]):
        other = client.post("/v1/transfers", json={**body, "amount": cny(1_000)}, headers=key)
        assert other.status_code == 409, other.text
    shown = client.get(f"/v1/wallets/{owner['travel']}").json()
    assert shown["balance"] == cny(136_000)
    assert shown["budget"]["spent"] == cny(164_000)


def test_another_users_token_moves_no_budget_and_no_goal(
    client: TestClient, context: AppContext, owner: dict[str, Any]
) -> None:
    stranger = create_user(client)
    top_up(client, stranger["wallet_id"], 500_000)
    theirs = as_user(client, stranger["id"])
    with assert_books_unchanged(client, [owner["wallet_id"], owner["travel"]]):
        for body, field in (
            (
                {"kind": "payment", "source": owner["travel"], "amount": cny(170_000)},
                "source",
            ),
            (
                {
                    "kind": "allocation",
                    "source": stranger["wallet_id"],
                    "destination": owner["travel"],
                    "amount": cny(100_000),
                },
                "destination",
            ),
        ):
            if body["kind"] == "payment":
                body["merchant"] = {"name": "携程", "category": "4722"}
            response = client.post("/v1/transfers", json=body, headers=theirs)
            assert response.status_code == 404, response.text
            assert field in response.text
        shown = client.get(f"/v1/wallets/{owner['travel']}", headers=theirs)
        assert shown.status_code == 404
    assert told(context, owner["id"], BUDGET_THRESHOLD_REACHED) == []
    assert told(context, owner["id"], GOAL_REACHED) == []
    assert client.get(f"/v1/wallets/{owner['travel']}").json()["budget"]["spent"] == cny(0)


@pytest.mark.parametrize("who", ["operator", "user"])
def test_nobody_may_post_a_reward_over_http(
    client: TestClient, context: AppContext, owner: dict[str, Any], who: str
) -> None:
    headers = as_user(client, owner["id"]) if who == "user" else {}
    with assert_books_unchanged(client, [owner["wallet_id"], owner["travel"]]):
        response = client.post(
            "/v1/transfers",
            json={"kind": "reward", "destination": owner["travel"], "amount": cny(888)},
            headers=headers,
        )
        assert_refused(response, "kind")
    assert told(context, owner["id"], GOAL_REACHED) == []


def test_only_an_operator_runs_the_suggestions_job_and_a_bad_moment_is_named(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    traveller = create_user(client)
    top_up(client, traveller["wallet_id"], 500_000)
    for day in (11, 12, 13):
        move_to(clock, 2026, 11, day, 12)
        transfer(
            client,
            kind="payment",
            source=traveller["wallet_id"],
            amount=cny(10_000),
            merchant=HOTEL.model_dump(),
        )
    move_to(clock, 2026, 11, 14, 10)
    consent = {"marketing_consent": {"inbox": True}}
    assert client.put(f"/v1/users/{traveller['id']}/preferences", json=consent).status_code == 200
    path = "/v1/jobs/insights.suggestions/runs"
    refused = client.post(path, json={}, headers=as_user(client, traveller["id"]))
    assert refused.status_code == 403, refused.text
    assert_refused(client.post(path, json={"as_of": "tomorrow"}), "as_of")
    assert_refused(client.post(path, json={"as_of": "2099-01-01T00:00:00Z"}), "as_of")
    assert told(context, traveller["id"], SUB_WALLET_SUGGESTION) == []
    ran = client.post(path, json={})
    assert ran.status_code == 202, ran.text
    assert ran.json()["suggestions"] == 1
    sent = told(context, traveller["id"], SUB_WALLET_SUGGESTION)
    assert [s["purpose"] for s in sent] == ["travel"]


def test_another_users_token_reads_no_consent_history(
    client: TestClient, owner: dict[str, Any]
) -> None:
    client.put(f"/v1/users/{owner['id']}/preferences", json={"personalised_marketing": False})
    stranger = create_user(client)
    response = client.get(
        f"/v1/users/{owner['id']}/consents", headers=as_user(client, stranger["id"])
    )
    assert response.status_code == 404, response.text
    own = client.get(f"/v1/users/{owner['id']}/consents", headers=as_user(client, owner["id"]))
    assert [(r["purpose"], r["granted"]) for r in own.json()["items"]] == [
        ("personalisation", False)
    ]
