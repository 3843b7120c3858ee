"""The user pages: this month's spending by category (chart and table, from the insights
view), each sub-wallet's budget bar and goal progress, the one-tap personalisation switch."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import cny, transfer
from tests.web.conftest import Reader, clock, make_reader, reader
from tidings.kit.clock import FixedClock

__all__ = ["clock", "make_reader", "reader"]


def test_wallet_page_shows_categories_budget_bars_and_goal_progress(
    reader: Reader, client: TestClient, clock: FixedClock
) -> None:
    main = reader.user["wallet_id"]
    transfer(client, kind="top_up", destination=main, amount=cny(500_000))
    travel = client.post(
        f"/v1/wallets/{main}/sub-wallets",
        json={
            "name": "旅行",
            "purpose": "travel",
            "budget": {"limit": cny(200_000), "period": "month", "alert_percent": 75},
            "goal": {"target": cny(400_000)},
        },
    ).json()
    transfer(client, kind="allocation", source=main, destination=travel["id"], amount=cny(300_000))
    for mcc, value in (("4511", 120_000), ("7011", 44_000)):
        transfer(
            client,
            kind="payment",
            source=travel["id"],
            amount=cny(value),
            merchant={"name": "东方航空", "category": mcc},
        )
    transfer(
        client,
        kind="payment",
        source=main,
        amount=cny(3_500),
        merchant={"name": "永辉超市", "category": "5411"},
    )

    page = reader.browser.get(f"/app/wallets/{main}").text
    assert f'<meter id="budget-{travel["id"]}" min="0" max="100" low="75"' in page
    assert 'value="82"' in page  # 1,640.00 of 2,000.00
    assert f'<progress id="goal-{travel["id"]}" max="100" value="34"' in page  # 1,360 of 4,000
    assert '<th scope="row">日用超市</th><td class="number">1</td>' in page

    sub = reader.browser.get(f"/app/wallets/{travel['id']}").text
    assert (
        '<th scope="row">旅行</th><td class="number">2</td><td class="number">¥1,640.00</td>' in sub
    )
    assert 'role="img"' in sub
    english = reader.browser.get(f"/app/wallets/{travel['id']}?lang=en").text
    assert '<th scope="row">Travel</th>' in english


def test_personalised_offers_are_one_tap_away_and_recorded(
    reader: Reader, client: TestClient
) -> None:
    page = reader.browser.get("/app/preferences").text
    assert "关闭个性化推荐" in page
    tapped = reader.browser.post(
        "/app/preferences?section=personalisation",
        data={"csrf_token": reader.csrf("/app/preferences"), "personalised": "off"},
    )
    assert tapped.status_code in (200, 303), tapped.text
    prefs = client.get(f"/v1/users/{reader.user['id']}/preferences").json()
    assert prefs["personalised_marketing"] is False
    assert "开启个性化推荐" in reader.browser.get("/app/preferences").text
