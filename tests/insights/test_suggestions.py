"""Sub-wallet suggestions: drawn from the user's own 90 days, shown with the evidence, sent as
marketing only with consent and personalised marketing on, once per purpose per 90 days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_user
from tests.insights.builders import fix_clock, move_to, sub_wallet, told
from tests.insights.test_spending_api import HOTEL, as_user, pay
from tests.ledger.builders import cny, top_up, transfer
from tests.notify.test_consent_at_send import (
    deliver_everything,
    deliveries,
    shanghai,
    sink,
    utc,
    withdraw_quietly,
)
from tests.notify.test_unsubscribe import post_event
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.app.notify import relay_once
from tidings.campaigns.events import PROMOTION, SUB_WALLET_SUGGESTION
from tidings.kit.clock import FixedClock
from tidings.notify.planner import PlannerPolicy
from tidings.wallets.schemas import Merchant, Purpose


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


def suggestion(purpose: str, reason: str, *, payments: int, amount: int) -> dict[str, Any]:
    """A suggestion as the API shows it, with its evidence over 90 days."""
    evidence = {"payments": payments, "amount": {"value": amount, "currency": "CNY"}}
    return {"purpose": purpose, "reason": reason, "evidence": {**evidence, "window_days": 90}}


def test_a_traveller_is_shown_a_travel_sub_wallet_with_the_evidence(
    client: TestClient, traveller: dict[str, Any]
) -> None:
    response = client.get(
        f"/v1/users/{traveller['id']}/suggestions", headers=as_user(client, traveller["id"])
    )
    assert response.status_code == 200
    assert response.json() == {
        "items": [suggestion("travel", "最近常出行", payments=3, amount=135_000)]
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


STORE = Merchant(name="万达百货", category="5311")
SUPERMARKET = Merchant(name="永辉超市", category="5411")


def suggested(client: TestClient, user_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/users/{user_id}/suggestions")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_frequent_shopping_suggests_a_shopping_sub_wallet(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, locale="en")
    top_up(context, user["wallet_id"], 1_000_000)
    for day in (2, 6, 9, 14):
        move_to(clock, 2026, 10, day, 12)
        pay(context, user["wallet_id"], 20_000, STORE)
    move_to(clock, 2026, 10, 20, 12)
    assert suggested(client, user["id"]) == []  # four is not yet frequent
    pay(context, user["wallet_id"], 20_000, STORE)
    move_to(clock, 2026, 10, 21, 12)
    assert suggested(client, user["id"]) == [
        suggestion("shopping", "you have shopped often lately", payments=5, amount=100_000)
    ]


def saver_months(context: AppContext, clock: FixedClock, wallet_id: str, *spent: int) -> None:
    """A salary of 2,000.00 on the 10th of September, October and November, and groceries for
    `spent[n]` on the 20th of each; moving money into a sub-wallet is neither."""
    travel = sub_wallet(context, wallet_id, name="出行", purpose=Purpose.TRAVEL)
    for month, paid in zip((9, 10, 11), spent, strict=True):
        move_to(clock, 2026, month, 10, 12)
        top_up(context, wallet_id, 200_000)
        transfer(
            context, kind="allocation", source=wallet_id, destination=travel, amount=cny(150_000)
        )
        transfer(
            context, kind="allocation", source=travel, destination=wallet_id, amount=cny(150_000)
        )
        move_to(clock, 2026, month, 20, 12)
        pay(context, wallet_id, paid, SUPERMARKET)
    move_to(clock, 2026, 12, 1, 10)


def test_a_regular_surplus_suggests_savings_with_the_surplus_as_evidence(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    saver_months(context, clock, user["wallet_id"], 150_000, 150_000, 150_000)
    assert suggested(client, user["id"]) == [
        suggestion("savings", "每月都有结余", payments=3, amount=150_000)
    ]
    consent(client, user["id"], marketing_consent={"inbox": True})
    assert run_suggestions(context)["suggestions"] == 1
    [sent] = told(context, user["id"], SUB_WALLET_SUGGESTION)
    assert sent["purpose"] == "savings"


def test_one_month_spent_beyond_its_income_is_no_regular_surplus(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client)
    top_up(context, user["wallet_id"], 500_000)  # savings from before the window
    saver_months(context, clock, user["wallet_id"], 100_000, 250_000, 100_000)
    assert suggested(client, user["id"]) == []


def found_at_night(
    client: TestClient,
    context: AppContext,
    clock: FixedClock,
    traveller: dict[str, Any],
    *channels: str,
    promotions: Sequence[bool] = (),
) -> None:
    """Marketing consent on the inbox and SMS (marketing chosen for `channels`), then at 22:00
    the job finds the travel suggestion (with `promotions`, personalised or not), planned."""
    consent(
        client,
        traveller["id"],
        channels={"marketing": list(channels)},
        marketing_consent={"inbox": True, "sms": True},
    )
    move_to(clock, 2026, 11, 2, 22)
    assert run_suggestions(context)["suggestions"] == 1
    for personalised in promotions:
        content = {"title": "双十二", "body": "满100减20", "personalised": personalised}
        post_event(client, traveller, PROMOTION, {"campaign_id": f"cmp-{personalised}", **content})
    relay_once(context, PlannerPolicy())


def marketing_in_inbox(client: TestClient, user_id: str) -> list[str]:
    items = client.get(f"/v1/users/{user_id}/inbox").json()["items"]
    return [item["kind"] for item in items if item["category"] == "marketing"]


def test_a_suggestion_found_at_night_waits_for_the_window_and_goes_where_consented(
    client: TestClient, context: AppContext, clock: FixedClock, traveller: dict[str, Any]
) -> None:
    found_at_night(client, context, clock, traveller, "inbox", "sms", "email")
    [waiting] = deliveries(client, traveller, SUB_WALLET_SUGGESTION)
    assert waiting["email"][:2] == ("suppressed", "no_consent")
    for channel in ("inbox", "sms"):
        assert waiting[channel][:2] == ("pending", "marketing_window")
        assert utc(waiting[channel][2]) == shanghai(3, 8)
    move_to(clock, 2026, 11, 3, 8)
    deliver_everything(context)
    [sms] = sink(context, "sms")
    assert "旅行子钱包" in sms["body"]
    assert sms["body"].endswith("回T退订")


def test_turning_personalisation_off_cancels_what_waits_for_the_window(
    client: TestClient, context: AppContext, clock: FixedClock, traveller: dict[str, Any]
) -> None:
    user_id = traveller["id"]
    promotions = [True, False]  # a personalised promotion and a generic one, the same night
    found_at_night(client, context, clock, traveller, "inbox", "sms", promotions=promotions)
    move_to(clock, 2026, 11, 2, 23)
    consent(client, user_id, personalised_marketing=False)
    [suggestion] = deliveries(client, traveller, SUB_WALLET_SUGGESTION)
    promotions = deliveries(client, traveller, PROMOTION)
    assert sorted(p["inbox"][:2] for p in promotions) == [
        ("cancelled", "personalisation_off"),  # the personalised one
        ("pending", "marketing_window"),  # the generic one still goes
    ]
    for channel in ("inbox", "sms"):
        assert suggestion[channel][:2] == ("cancelled", "personalisation_off")
    move_to(clock, 2026, 11, 3, 8)
    deliver_everything(context)
    assert SUB_WALLET_SUGGESTION not in {m["kind"] for m in sink(context, "sms")}
    assert marketing_in_inbox(client, user_id) == [PROMOTION]


def test_a_suggestion_recorded_before_personalisation_is_turned_off_is_not_sent(
    client: TestClient, context: AppContext, clock: FixedClock, traveller: dict[str, Any]
) -> None:
    """The job records the suggestion at 10:00; seconds later, before the relay has planned
    it (nothing pending to cancel yet), the user turns personalisation off."""
    user_id = traveller["id"]
    consent(client, user_id, channels={"marketing": ["inbox", "sms"]})
    consent(client, user_id, marketing_consent={"inbox": True, "sms": True})
    assert run_suggestions(context)["suggestions"] == 1
    consent(client, user_id, personalised_marketing=False)
    deliver_everything(context)
    assert sink(context, "sms") == []
    assert marketing_in_inbox(client, user_id) == []
    [refused] = deliveries(client, traveller, SUB_WALLET_SUGGESTION)
    assert {c: d[:2] for c, d in refused.items()} == {
        "inbox": ("suppressed", "personalisation_off"),
        "sms": ("suppressed", "personalisation_off"),
    }


def test_a_suggestion_planned_while_personalisation_was_on_is_cancelled_at_send(
    client: TestClient, context: AppContext, clock: FixedClock, traveller: dict[str, Any]
) -> None:
    """Planned at 22:00 for the 08:00 window; personalisation turned off at 23:00 by a ledger
    row that cancelled nothing (an import): the dispatcher's own check stops it at 08:00."""
    found_at_night(client, context, clock, traveller, "inbox", "sms")
    [waiting] = deliveries(client, traveller, SUB_WALLET_SUGGESTION)
    assert {d[:2] for d in waiting.values()} == {("pending", "marketing_window")}
    at = shanghai(2, 23)
    withdraw_quietly(context, traveller["id"], purpose="personalisation", channel="all", at=at)
    move_to(clock, 2026, 11, 3, 8)
    deliver_everything(context)
    assert sink(context, "sms") == []
    assert marketing_in_inbox(client, traveller["id"]) == []
    [stopped] = deliveries(client, traveller, SUB_WALLET_SUGGESTION)
    assert {c: d[:2] for c, d in stopped.items()} == {
        "inbox": ("cancelled", "personalisation_off"),
        "sms": ("cancelled", "personalisation_off"),
    }
