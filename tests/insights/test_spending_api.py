"""`GET /v1/users/{user_id}/spending`: payments minus their refunds, grouped, on the user's
calendar; a user sees only their own."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.helpers import create_user
from tests.insights.builders import fix_clock, move_to, sub_wallet
from tests.ledger.builders import cny, top_up, transfer
from tidings.app.context import AppContext
from tidings.insights.schemas import SpendingBy
from tidings.insights.service import spending
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.wallets.schemas import Merchant

HOTEL = Merchant(name="如家酒店", category="7011")
COFFEE = Merchant(name="瑞幸咖啡", category="5814")
SUPERMARKET = Merchant(name="永辉超市", category="5411")


def pay(context: AppContext, wallet_id: str, value: int, merchant: Merchant) -> str:
    made = transfer(context, kind="payment", source=wallet_id, amount=cny(value), merchant=merchant)
    return made.id


def as_user(client: TestClient, user_id: str) -> dict[str, str]:
    token = client.post(f"/v1/users/{user_id}/tokens").json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    return fix_clock(context, 2026, 11, 5, 10)


@pytest.fixture
def spender(client: TestClient, context: AppContext, clock: FixedClock) -> dict[str, Any]:
    """A user who paid a hotel from a travel sub-wallet and coffee and groceries from the
    main wallet in November, and had most of the hotel refunded in December."""
    user = create_user(client)
    main = user["wallet_id"]
    travel = sub_wallet(context, main, name="旅行")
    top_up(context, main, 1_000_000)
    transfer(context, kind="allocation", source=main, destination=travel, amount=cny(300_000))
    hotel = pay(context, travel, 200_000, HOTEL)
    pay(context, main, 3_000, COFFEE)
    pay(context, main, 2_000, COFFEE)
    pay(context, main, 15_000, SUPERMARKET)
    move_to(clock, 2026, 12, 2, 9)
    transfer(context, kind="refund", refund_of=hotel, amount=cny(150_000))
    pay(context, main, 10_000, SUPERMARKET)
    return {**user, "travel": travel}


def view(client: TestClient, user_id: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/v1/users/{user_id}/spending", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_spending_nets_refunds(client: TestClient, spender: dict[str, Any]) -> None:
    # The December refund of the November hotel lowers November, not December.
    november = view(client, spender["id"], **{"from": "2026-11-01", "to": "2026-11-30"})
    assert november["total"] == {"value": 70_000, "currency": "CNY"}
    groups = {g["key"]: g for g in november["groups"]}
    assert groups["travel"]["amount"]["value"] == 50_000
    assert groups["travel"]["label"] == "旅行"
    assert groups["groceries"]["amount"]["value"] == 15_000
    assert groups["dining"]["count"] == 2
    assert [g["key"] for g in november["groups"]] == ["travel", "groceries", "dining"]
    assert [g["share_percent"] for g in november["groups"]] == [71, 21, 7]
    december = view(client, spender["id"], **{"from": "2026-12-01", "to": "2026-12-31"})
    assert december["total"]["value"] == 10_000
    assert [g["key"] for g in december["groups"]] == ["groceries"]


def test_spending_by_month_and_by_wallet(client: TestClient, spender: dict[str, Any]) -> None:
    months = view(client, spender["id"], **{"from": "2026-11-01", "to": "2026-12-31"}, by="month")
    assert [(g["key"], g["label"], g["amount"]["value"]) for g in months["groups"]] == [
        ("2026-11", "2026年11月", 70_000),
        ("2026-12", "2026年12月", 10_000),
    ]
    wallets = view(client, spender["id"], **{"from": "2026-11-01", "to": "2026-12-31"}, by="wallet")
    assert [(g["key"], g["label"], g["amount"]["value"]) for g in wallets["groups"]] == [
        (spender["travel"], "旅行", 50_000),
        (spender["wallet_id"], "主钱包", 30_000),
    ]


def test_days_are_the_users_calendar_days(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    user = create_user(client, timezone="America/New_York", locale="en")
    top_up(context, user["wallet_id"], 100_000)
    # 30 Nov 22:00 in New York is 1 Dec 03:00 UTC: still November for this user.
    move_to(clock, 2026, 11, 30, 22, zone=ZoneInfo("America/New_York"))
    pay(context, user["wallet_id"], 4_200, COFFEE)
    november = view(client, user["id"], **{"from": "2026-11-30", "to": "2026-11-30"})
    assert november["total"]["value"] == 4_200
    assert november["groups"][0]["label"] == "Dining"
    assert view(client, user["id"], **{"from": "2026-12-01", "to": "2026-12-01"})["groups"] == []


def test_without_dates_the_view_is_this_month(client: TestClient, spender: dict[str, Any]) -> None:
    shown = view(client, spender["id"])
    assert shown["from"] == "2026-12-01"
    assert shown["to"] == "2026-12-02"
    assert shown["total"]["value"] == 10_000


@pytest.mark.parametrize("by", list(SpendingBy))
def test_each_view_is_one_query_however_many_payments(
    context: AppContext, spender: dict[str, Any], by: SpendingBy
) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    with read_transaction(context.engine) as conn:
        who = spending.reader(conn, spender["id"])
        event.listen(conn, "before_cursor_execute", count)
        try:
            shown = spending.spending(
                conn, who, first=date(2026, 11, 1), last=date(2026, 12, 31), by=by
            )
        finally:
            event.remove(conn, "before_cursor_execute", count)
    assert shown.total.value == 80_000
    assert len(statements) == 1, statements


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"by": "colour"}, "by"),
        ({"from": "2010-01-01", "to": "2026-01-01"}, "to"),
    ],
)
def test_bad_days_are_422_naming_the_field(
    client: TestClient, spender: dict[str, Any], params: dict[str, str], field: str
) -> None:
    response = client.get(f"/v1/users/{spender['id']}/spending", params=params)
    assert response.status_code == 422, response.text
    assert field in str([e.get("field") for e in response.json()["errors"]])


def test_a_user_sees_their_own_spending_and_no_one_elses(
    client: TestClient, spender: dict[str, Any]
) -> None:
    own = client.get(
        f"/v1/users/{spender['id']}/spending",
        params={"from": "2026-11-01", "to": "2026-11-30"},
        headers=as_user(client, spender["id"]),
    )
    assert own.status_code == 200
    assert own.json()["total"]["value"] == 70_000
    stranger = create_user(client)
    for path in ("spending", "suggestions"):
        response = client.get(
            f"/v1/users/{spender['id']}/{path}", headers=as_user(client, stranger["id"])
        )
        assert response.status_code == 404, response.text
