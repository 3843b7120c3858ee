"""Monthly statements: the month as the user's calendar has it, exact figures, sent once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.helpers import cny, create_user, top_up, transfer
from tests.notify.test_pipeline import deliver_everything
from tidings.api.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.workers.jobs import run_job

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(datetime(2026, 10, 1, tzinfo=UTC))
    context.clock = fixed
    context.settings.allow_time_travel = True
    return fixed


def at(clock: FixedClock, *args: int, zone: ZoneInfo = SHANGHAI) -> None:
    clock.at = datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def pay(client: TestClient, wallet_id: str, value: int) -> None:
    transfer(
        client,
        kind="payment",
        source=wallet_id,
        amount=cny(value),
        merchant={"name": "星巴克", "category": "5814"},
    )


def statements(client: TestClient, wallet_id: str, **headers: str) -> Any:
    return client.get(f"/v1/wallets/{wallet_id}/statements", headers=headers)


def test_a_month_becomes_one_statement_with_exact_figures_in_the_users_calendar(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    owner = create_user(client, phone="13812348821")
    friend = create_user(client)
    idle = create_user(client)
    at(clock, 2026, 10, 31, 20, 0)
    top_up(client, owner["wallet_id"], 50_000)  # October: the opening balance
    top_up(client, friend["wallet_id"], 90_000)
    top_up(client, idle["wallet_id"], 1_000)
    at(clock, 2026, 11, 1, 0, 30)  # still October in UTC, November in Shanghai
    pay(client, owner["wallet_id"], 12_800)
    at(clock, 2026, 11, 15, 12, 0)
    transfer(
        client,
        kind="p2p",
        source=friend["wallet_id"],
        destination=owner["wallet_id"],
        amount=cny(20_000),
    )
    travel = client.post(
        f"/v1/wallets/{owner['wallet_id']}/sub-wallets", json={"name": "旅行", "purpose": "travel"}
    ).json()
    transfer(
        client,
        kind="allocation",
        source=owner["wallet_id"],
        destination=travel["id"],
        amount=cny(10_000),
    )
    pay(client, owner["wallet_id"], 5_000)
    at(clock, 2026, 12, 1, 0, 10)  # December in Shanghai: not in November's statement
    pay(client, owner["wallet_id"], 1_000)

    at(clock, 2026, 12, 1, 1, 0)
    assert run_job(context, "wallet.statements", None)["statements"] == 2  # owner and friend

    page = statements(client, owner["wallet_id"]).json()
    assert page["next_cursor"] is None
    [november] = page["items"]
    assert (november["period_start"], november["period_end"]) == ("2026-11-01", "2026-11-30")
    assert november["opening_balance"] == cny(50_000)
    assert november["total_in"] == cny(20_000)
    assert november["total_out"] == cny(17_800)  # the allocation to 旅行 is neither
    assert november["closing_balance"] == cny(42_200)
    assert november["entries"] == 4
    assert statements(client, idle["wallet_id"]).json()["items"] == []

    at(clock, 2026, 12, 20, 9, 0)
    assert run_job(context, "wallet.statements", None)["statements"] == 0
    assert len(statements(client, owner["wallet_id"]).json()["items"]) == 1

    deliver_everything(context)
    inbox = client.get(f"/v1/users/{owner['id']}/inbox").json()["items"]
    notices = [item for item in inbox if item["kind"] == "wallet.statement.ready"]
    assert len(notices) == 1
    assert notices[0]["title"] == "账单已生成"
    body = notices[0]["body"]
    for figure in ("11月1日", "11月30日", "收入200.00元", "支出178.00元", "期末余额422.00元"):
        assert figure in body, body


def test_each_time_zone_gets_its_month_when_that_month_has_ended_there(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    shopper = create_user(client, timezone="America/New_York", locale="en")
    at(clock, 2026, 11, 10, 12, 0, zone=NEW_YORK)
    top_up(client, shopper["wallet_id"], 30_000)
    pay(client, shopper["wallet_id"], 2_500)

    at(clock, 2026, 12, 1, 1, 0)  # December in Shanghai, still 30 November in New York
    assert run_job(context, "wallet.statements", None)["statements"] == 0
    at(clock, 2026, 12, 1, 0, 5, zone=NEW_YORK)
    assert run_job(context, "wallet.statements", None)["statements"] == 1

    [november] = statements(client, shopper["wallet_id"]).json()["items"]
    assert november["period_start"] == "2026-11-01"
    assert november["opening_balance"] == cny(0)
    assert november["closing_balance"] == cny(27_500)

    deliver_everything(context)
    [notice] = [
        item
        for item in client.get(f"/v1/users/{shopper['id']}/inbox").json()["items"]
        if item["kind"] == "wallet.statement.ready"
    ]
    assert "money in CNY 300.00, money out CNY 25.00, closing balance CNY 275.00" in notice["body"]


def test_operators_run_a_past_month_over_http_and_users_see_only_their_own(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    owner = create_user(client)
    other = create_user(client)
    at(clock, 2026, 11, 3, 9, 0)
    top_up(client, owner["wallet_id"], 8_800)
    at(clock, 2026, 12, 2, 9, 0)
    run = client.post("/v1/jobs/wallet.statements/runs", json={"as_of": "2026-12-01T02:00:00Z"})
    assert run.status_code == 202, run.text
    assert run.json()["statements"] == 1

    token = client.post(f"/v1/users/{other['id']}/tokens").json()["token"]
    stranger = statements(client, owner["wallet_id"], Authorization=f"Bearer {token}")
    assert stranger.status_code == 404
    mine = client.post(f"/v1/users/{owner['id']}/tokens").json()["token"]
    own = statements(client, owner["wallet_id"], Authorization=f"Bearer {mine}")
    assert own.json()["items"][0]["total_in"] == cny(8_800)
