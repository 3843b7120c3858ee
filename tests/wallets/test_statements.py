"""Monthly statements: the month as the user's calendar has it, exact figures, sent once."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.helpers import balance, cny, create_user, deliver_everything, top_up, transfer
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.kit.clock import FixedClock

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
    assert november["moved_to_sub_wallets"] == cny(10_000)  # ...but on a line of its own
    assert november["moved_from_sub_wallets"] == cny(0)
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
    for figure in (
        "11月1日",
        "11月30日",
        "期初余额：500.00元",
        "收入：200.00元",
        "支出：178.00元",
        "转入子钱包：100.00元",
        "期末余额：422.00元",
    ):
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
    figures = "Money in: CNY 300.00\nMoney out: CNY 25.00\nClosing balance: CNY 275.00"
    assert figures in notice["body"]
    assert "sub-wallets" not in notice["body"]  # no moves, no line for them


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


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_statement_adds_up_with_moves_to_and_from_sub_wallets_on_their_own_lines(
    client: TestClient, context: AppContext, clock: FixedClock, seed: int
) -> None:
    """opening + in − out − moved to sub-wallets + moved from them = closing, for a month of
    top-ups, payments (from main and from a sub-wallet), refunds, transfers both ways and
    allocations both ways, in a random order."""
    rng = random.Random(seed)
    owner = create_user(client)
    friend = create_user(client)
    main = owner["wallet_id"]
    at(clock, 2026, 10, 20, 9, 0)
    top_up(client, main, 40_000)
    top_up(client, friend["wallet_id"], 100_000)
    sub = client.post(
        f"/v1/wallets/{main}/sub-wallets", json={"name": "旅行", "purpose": "travel"}
    ).json()["id"]
    transfer(client, kind="allocation", source=main, destination=sub, amount=cny(5_000))
    opening = balance(client, main)

    moved_to = moved_from = 0
    payments: list[str] = []
    for step in range(14):
        at(clock, 2026, 11, 2 + step * 2, 10, rng.randrange(60))
        value = rng.randrange(100, 3_000)
        operation = rng.choice(["top_up", "pay", "pay_sub", "refund", "in", "out", "to", "from"])
        if operation == "top_up":
            body: dict[str, Any] = {"kind": "top_up", "destination": main}
        elif operation in ("pay", "pay_sub"):
            body = {
                "kind": "payment",
                "source": main if operation == "pay" else sub,
                "merchant": {"name": "星巴克", "category": "5814"},
            }
        elif operation == "refund" and payments:
            body = {"kind": "refund", "refund_of": rng.choice(payments)}
            value = 100
        elif operation == "in":
            body = {"kind": "p2p", "source": friend["wallet_id"], "destination": main}
        elif operation == "out":
            body = {"kind": "p2p", "source": main, "destination": friend["wallet_id"]}
        elif operation == "to":
            body = {"kind": "allocation", "source": main, "destination": sub}
        else:
            body = {"kind": "allocation", "source": sub, "destination": main}
        response = client.post("/v1/transfers", json={**body, "amount": cny(value)})
        assert response.status_code in (201, 202, 409, 422), response.text
        if response.status_code != 201:
            continue  # refused or held: no money moved
        if body["kind"] == "payment":
            payments.append(response.json()["id"])
        elif body["kind"] == "allocation":
            if body["source"] == main:
                moved_to += value
            else:
                moved_from += value
    closing = balance(client, main)

    at(clock, 2026, 12, 1, 1, 0)
    run_job(context, "wallet.statements", None)
    [november] = statements(client, main).json()["items"]
    figures = {
        name: november[name]["value"]
        for name in (
            "opening_balance",
            "total_in",
            "total_out",
            "moved_to_sub_wallets",
            "moved_from_sub_wallets",
            "closing_balance",
        )
    }
    assert figures["opening_balance"] == opening
    assert figures["closing_balance"] == closing
    assert figures["moved_to_sub_wallets"] == moved_to
    assert figures["moved_from_sub_wallets"] == moved_from
    assert (
        figures["opening_balance"]
        + figures["total_in"]
        - figures["total_out"]
        - figures["moved_to_sub_wallets"]
        + figures["moved_from_sub_wallets"]
        == figures["closing_balance"]
    ), figures
