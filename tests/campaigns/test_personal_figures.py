"""Personalised content: the user's own figures (`{spent_last_month.dining}`) filled in per
recipient when the message is sent, formatted in their locale; anywhere else, 422."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.campaigns.support import (
    campaign_body,
    consenting_user,
    create_campaign,
    deliver_everything,
    dispatch,
    launch,
    pay,
    shanghai,
    turn_personalisation_off,
)
from tests.helpers import top_up
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock

NOW = shanghai(24, 10)
LAST_MONTH = shanghai(1, 10).replace(month=10, day=15)  # 15 October, 02:00 UTC
DINING, TRAVEL = "5812", "4511"


def figures_variant(zh: str, en: str) -> list[dict[str, Any]]:
    return [
        {
            "key": "a",
            "weight": 1,
            "content": {
                "zh-CN": {"title": "餐饮优惠", "body": zh},
                "en": {"title": "Dining", "body": en},
            },
        }
    ]


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(LAST_MONTH)
    context.clock = fixed
    return fixed


def promotion_body(client: TestClient, user: dict[str, Any]) -> str:
    items = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    bodies = [item["body"] for item in items if item["kind"] == "marketing.promotion"]
    assert len(bodies) == 1, items
    return str(bodies[0])


def test_each_recipient_reads_their_own_figures_in_their_locale(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    chinese = consenting_user(client)
    english = consenting_user(client, locale="en")
    said_no = consenting_user(client)
    for user in (chinese, english, said_no):
        top_up(client, user["wallet_id"], 500_000)
    turn_personalisation_off(context, said_no["id"], LAST_MONTH)
    pay(client, said_no, 10_000, DINING)
    pay(client, chinese, 100_000, DINING)
    pay(client, chinese, 24_000, DINING)
    pay(client, chinese, 30_000, TRAVEL)
    pay(client, english, 5_050, DINING)
    clock.at = NOW
    pay(client, chinese, 99_900, DINING)  # this month: not last month's
    campaign = create_campaign(
        client,
        personalised=True,
        variants=figures_variant(
            "您上月餐饮消费{spent_last_month.dining}元，共消费{spent_last_month}元",
            "Last month you spent CNY {spent_last_month.dining} on dining "
            "(CNY {spent_last_month.travel} on travel); balance CNY {balance}",
        ),
    )

    launch(client, campaign["id"])
    dispatch(context)
    deliver_everything(context)

    assert "您上月餐饮消费1,240.00元，共消费1,540.00元" in promotion_body(client, chinese)
    assert "Last month you spent CNY 50.50 on dining (CNY 0.00 on travel)" in promotion_body(
        client, english
    )


def test_a_personal_figure_in_a_campaign_that_is_not_personalised_is_422(
    client: TestClient,
) -> None:
    body = campaign_body(variants=figures_variant("上月消费{spent_last_month}元", "Spent"))

    response = client.post("/v1/campaigns", json=body)

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["variants"]
    assert "personalised" in str(errors)
    assert client.get("/v1/campaigns").json()["items"] == []


def test_an_unknown_placeholder_is_422_naming_variants(client: TestClient) -> None:
    body = campaign_body(
        personalised=True, variants=figures_variant("您的余额{balance_forecast}元", "Hi")
    )

    response = client.post("/v1/campaigns", json=body)

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["variants"]
    assert "balance_forecast" in str(errors)


def test_a_spending_segment_is_personalised_so_its_content_may_use_figures(
    client: TestClient,
) -> None:
    segment = {"all": [{"payments_at_least": {"count": 1, "within_days": 30}}]}
    body = campaign_body(
        segment=segment, variants=figures_variant("上月消费{spent_last_month}元", "Spent")
    )

    response = client.post("/v1/campaigns", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["personalised"] is True


def test_braces_that_are_no_placeholder_are_plain_text(client: TestClient) -> None:
    body = campaign_body(variants=figures_variant("{限时}满100减10", "{Limited} offer"))

    assert client.post("/v1/campaigns", json=body).status_code == 201
