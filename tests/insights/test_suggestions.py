"""Sub-wallet suggestions: drawn from the user's own 90 days, shown with the evidence, sent as
marketing only with consent and personalised marketing on, once per purpose per 90 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_user
from tests.insights.builders import fix_clock, move_to, sub_wallet, told
from tests.insights.test_spending_api import HOTEL, as_user, pay
from tests.ledger.builders import top_up
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.campaigns.events import SUB_WALLET_SUGGESTION
from tidings.kit.clock import FixedClock
from tidings.wallets.schemas import Purpose


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    context.settings.allow_time_travel = True
    return fix_clock(context, 2026, 9, 1, 10)


@pytest.fixture
def traveller(client: TestClient, context: AppContext, clock: FixedClock) -> dict[str, Any]:
    """A user who paid hotels three times in the autumn and has no travel sub-wallet."""
    user = create_user(client)
    top_up(context, user["wallet_id"], 1_000_000)
    for day in (3, 17, 28):
        move_to(clock, 2026, 10, day, 12)
        pay(context, user["wallet_id"], 45_000, HOTEL)
    move_to(clock, 2026, 11, 2, 10)
    return user


def consent(client: TestClient, user_id: str, **choices: Any) -> None:
    response = client.put(f"/v1/users/{user_id}/preferences", json=choices)
    assert response.status_code == 200, response.text


def run_suggestions(context: AppContext) -> dict[str, Any]:
    return run_job(context, "insights.suggestions", context.clock.now())


def test_a_traveller_is_shown_a_travel_sub_wallet_with_the_evidence(
    client: TestClient, traveller: dict[str, Any]
) -> None:
    response = client.get(
        f"/v1/users/{traveller['id']}/suggestions", headers=as_user(client, traveller["id"])
    )
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "purpose": "travel",
                "reason": "最近常出行",
                "evidence": {
                    "payments": 3,
                    "amount": {"value": 135_000, "currency": "CNY"},
                    "window_days": 90,
                },
            }
        ]
    }


def test_an_open_travel_sub_wallet_is_not_suggested_again(
    client: TestClient, context: AppContext, traveller: dict[str, Any]
) -> None:
    sub_wallet(context, traveller["wallet_id"], name="出行", purpose=Purpose.TRAVEL)
    assert client.get(f"/v1/users/{traveller['id']}/suggestions").json() == {"items": []}


def test_no_suggestion_without_consent(
    client: TestClient, context: AppContext, traveller: dict[str, Any]
) -> None:
    assert run_suggestions(context)["suggestions"] == 0
    assert told(context, traveller["id"], SUB_WALLET_SUGGESTION) == []
    consent(client, traveller["id"], marketing_consent={"inbox": True})
    assert run_suggestions(context)["suggestions"] == 1
    [sent] = told(context, traveller["id"], SUB_WALLET_SUGGESTION)
    assert sent["purpose"] == "travel"
    assert sent["reason"] == "最近常出行"


def test_personalisation_off_stops_suggestions(
    client: TestClient, context: AppContext, traveller: dict[str, Any]
) -> None:
    consent(client, traveller["id"], marketing_consent={"inbox": True})
    consent(client, traveller["id"], personalised_marketing=False)
    shown = client.get(f"/v1/users/{traveller['id']}/preferences").json()
    assert shown["personalised_marketing"] is False
    assert run_suggestions(context)["suggestions"] == 0
    assert told(context, traveller["id"], SUB_WALLET_SUGGESTION) == []
    # Each change is a row of the consent ledger; turned on again, suggestions go.
    consent(client, traveller["id"], personalised_marketing=True)
    history = client.get(f"/v1/users/{traveller['id']}/consents").json()["items"]
    rows = [r for r in history if r["purpose"] == "personalisation"]
    assert [(r["channel"], r["granted"]) for r in rows] == [("all", True), ("all", False)]
    assert run_suggestions(context)["suggestions"] == 1


def test_personalised_marketing_is_on_until_turned_off(
    client: TestClient, traveller: dict[str, Any]
) -> None:
    shown = client.get(f"/v1/users/{traveller['id']}/preferences").json()
    assert shown["personalised_marketing"] is True


def test_a_purpose_goes_at_most_once_per_90_days(
    client: TestClient, context: AppContext, clock: FixedClock, traveller: dict[str, Any]
) -> None:
    consent(client, traveller["id"], marketing_consent={"inbox": True})
    assert run_suggestions(context)["suggestions"] == 1
    assert run_suggestions(context)["suggestions"] == 0  # the same moment again
    clock.at += timedelta(days=30)  # type: ignore[misc]
    for day in (1, 5, 9):
        move_to(clock, 2026, 12, day, 12)
        pay(context, traveller["wallet_id"], 45_000, HOTEL)
    assert run_suggestions(context)["suggestions"] == 0
    move_to(clock, 2027, 2, 1, 12)  # 91 days after the first
    assert run_suggestions(context)["suggestions"] == 1
    assert len(told(context, traveller["id"], SUB_WALLET_SUGGESTION)) == 2


def test_another_users_token_cannot_turn_personalisation_off(
    client: TestClient, traveller: dict[str, Any]
) -> None:
    stranger = create_user(client)
    response = client.put(
        f"/v1/users/{traveller['id']}/preferences",
        json={"personalised_marketing": False},
        headers=as_user(client, stranger["id"]),
    )
    assert response.status_code == 404
    history = client.get(f"/v1/users/{traveller['id']}/consents").json()["items"]
    assert [r for r in history if r["purpose"] == "personalisation"] == []
    assert client.get(f"/v1/users/{traveller['id']}/preferences").json()["personalised_marketing"]


def test_a_bad_personalisation_value_is_422_naming_the_field(
    client: TestClient, traveller: dict[str, Any]
) -> None:
    response = client.put(
        f"/v1/users/{traveller['id']}/preferences", json={"personalised_marketing": "maybe"}
    )
    assert response.status_code == 422
    assert "personalised_marketing" in response.text
