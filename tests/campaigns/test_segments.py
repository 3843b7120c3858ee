"""Segments compile to one SQL query: checked against a population whose answer is known by
hand; the audience count sends nothing; personalised campaigns skip users who said no."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.campaigns.support import (
    campaign_deliveries,
    consenting_user,
    create_campaign,
    deliver_everything,
    dispatch,
    launch,
    pay,
    recipients,
    shanghai,
    turn_personalisation_off,
)
from tests.helpers import cny, create_user, top_up
from tidings.app.context import AppContext
from tidings.campaigns import repository
from tidings.campaigns.schemas import Segment
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.users.models import users

NOW = shanghai(24, 10)


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(NOW - timedelta(days=40))
    context.clock = fixed
    return fixed


def matching(context: AppContext, segment: dict[str, Any]) -> set[str]:
    with read_transaction(context.engine) as conn:
        rows = conn.execute(
            select(users.c.id).where(
                repository.matches(Segment.model_validate(segment), now=context.clock.now())
            )
        )
        return set(rows.scalars())


def test_segment_sql_matches_a_hand_checked_population(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    # Forty days ago: an old customer with an old dining payment.
    old = create_user(client, locale="zh-CN")
    top_up(client, old["wallet_id"], 100_000)
    pay(client, old, 90_000, "5812")
    clock.at = NOW - timedelta(days=5)
    diner = create_user(client, locale="zh-CN")  # 3 dining payments, 1,500.00 in all
    top_up(client, diner["wallet_id"], 500_000)
    for value in (50_000, 50_000, 50_000):
        pay(client, diner, value, "5812")
    traveller = create_user(client, locale="en")  # one flight, a travel sub-wallet
    top_up(client, traveller["wallet_id"], 300_000)
    pay(client, traveller, 200_000, "4511")
    response = client.post(
        f"/v1/wallets/{traveller['wallet_id']}/sub-wallets",
        json={"name": "旅行", "purpose": "travel"},
    )
    assert response.status_code == 201, response.text
    idle = create_user(client, locale="zh-CN")  # nothing at all
    clock.at = NOW

    everyone = {old["id"], diner["id"], traveller["id"], idle["id"]}
    assert matching(context, {"all": []}) == everyone
    assert matching(context, {"all": [{"locale": "en"}]}) == {traveller["id"]}
    assert matching(context, {"all": [{"joined_within_days": 30}]}) == everyone - {old["id"]}
    # Balances: old 1,000.00, diner 3,500.00, traveller 1,000.00, idle 0.
    assert matching(context, {"all": [{"balance_at_least": cny(350_000)}]}) == {diner["id"]}
    assert matching(context, {"all": [{"balance_at_least": cny(0)}]}) == everyone
    assert matching(context, {"all": [{"has_sub_wallet": "travel"}]}) == {traveller["id"]}
    assert matching(context, {"all": [{"lacks_sub_wallet": "travel"}]}) == everyone - {
        traveller["id"]
    }
    dining_30 = {"amount": cny(150_000), "category": "dining", "within_days": 30}
    assert matching(context, {"all": [{"spent_at_least": dining_30}]}) == {diner["id"]}
    dining_60 = {**dining_30, "within_days": 60}
    assert matching(context, {"all": [{"spent_at_least": dining_60}]}) == {diner["id"]}
    over_150001 = {**dining_60, "amount": cny(150_001)}
    assert matching(context, {"all": [{"spent_at_least": over_150001}]}) == set()
    any_spend = {"amount": cny(150_000), "within_days": 30}
    assert matching(context, {"all": [{"spent_at_least": any_spend}]}) == {
        diner["id"],
        traveller["id"],
    }
    three = {"count": 3, "category": "dining", "within_days": 30}
    assert matching(context, {"all": [{"payments_at_least": three}]}) == {diner["id"]}
    one_travel = {"count": 1, "category": "travel", "within_days": 30}
    assert matching(context, {"all": [{"payments_at_least": one_travel}]}) == {traveller["id"]}
    both = {"all": [{"locale": "zh-CN"}, {"payments_at_least": {"count": 1, "within_days": 60}}]}
    assert matching(context, both) == {old["id"], diner["id"]}
    listed = {"all": [{"user_ids": [idle["id"], old["id"]]}, {"locale": "zh-CN"}]}
    assert matching(context, listed) == {idle["id"], old["id"]}


def test_audience_counts_matched_eligible_and_excluded_without_sending(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.at = NOW
    consenting = [consenting_user(client) for _ in range(3)]
    create_user(client)  # no marketing consent
    turn_personalisation_off(context, consenting[0]["id"], NOW)
    generic = create_campaign(client)
    personal = create_campaign(
        client, segment={"all": [{"lacks_sub_wallet": "travel"}]}, personalised=False
    )
    assert personal["personalised"] is True  # a behaviour segment is personalised anyway

    generic_audience = client.get(f"/v1/campaigns/{generic['id']}/audience").json()
    personal_audience = client.get(f"/v1/campaigns/{personal['id']}/audience").json()

    assert generic_audience == {
        "matched": 4,
        "eligible": 3,
        "excluded": {"no_consent": 1, "personalisation_off": 0},
    }
    assert personal_audience == {
        "matched": 4,
        "eligible": 2,
        "excluded": {"no_consent": 1, "personalisation_off": 1},
    }
    assert campaign_deliveries(context, generic["id"]) == []


def test_no_personalised_campaign_reaches_a_user_who_turned_personalisation_off(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    clock.at = NOW
    said_no = consenting_user(client)
    said_yes = consenting_user(client)
    turn_personalisation_off(context, said_no["id"], NOW - timedelta(minutes=5))
    personal = create_campaign(client, segment={"all": [{"lacks_sub_wallet": "travel"}]})
    generic = create_campaign(client)

    launch(client, personal["id"])
    launch(client, generic["id"])
    dispatch(context)

    assert set(recipients(context, personal["id"])) == {said_yes["id"]}
    assert {d.user_id for d in campaign_deliveries(context, personal["id"])} == {said_yes["id"]}
    # A generic campaign may still reach them, with consent.
    assert said_no["id"] in recipients(context, generic["id"])


def test_a_personalised_campaign_planned_before_personalisation_was_turned_off_is_cancelled(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    """Frozen and planned while the user was in; turned off before the worker sent it (a
    ledger row that cancelled nothing): the send-time check stops it, the report counts it
    as refused, and the generic campaign still goes."""
    clock.at = NOW
    user = consenting_user(client)
    personal = create_campaign(client, personalised=True)
    generic = create_campaign(client)
    launch(client, personal["id"])
    launch(client, generic["id"])
    dispatch(context)
    assert [d.status for d in campaign_deliveries(context, personal["id"])] == ["pending"]
    turn_personalisation_off(context, user["id"], NOW + timedelta(seconds=1))
    clock.at = NOW + timedelta(minutes=1)
    deliver_everything(context)

    [stopped] = campaign_deliveries(context, personal["id"])
    assert (stopped.status, stopped.reason) == ("cancelled", "personalisation_off")
    [went] = campaign_deliveries(context, generic["id"])
    assert went.status == "sent"
    report = client.get(f"/v1/campaigns/{personal['id']}/report").json()
    assert report["suppressed"]["no_consent"] == 1
