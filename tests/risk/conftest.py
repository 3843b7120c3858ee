"""Fixtures for security and risk: a moving clock, users with tokens, the outbox as evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.conftest import DATA_KEY, LOOKUP_KEY
from tests.helpers import cny, create_user, top_up
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.kit.clock import FixedClock
from tidings.privacy.codes import SEALED_CODE, open_code
from tidings.privacy.crypto import Keyring
from tidings.risk import events as security

START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai: not night-time for the rules."""


@pytest.fixture
def clock(context: AppContext) -> FixedClock:
    fixed = FixedClock(START)
    context.clock = fixed
    return fixed


@dataclass
class Member:
    """A user of the API with their own token, as the app would hold it."""

    id: str
    wallet_id: str
    headers: dict[str, str]


def new_member(client: TestClient, *, funds: int = 0) -> Member:
    user = create_user(client)
    if funds:
        top_up(client, user["wallet_id"], funds)
    token = client.post(f"/v1/users/{user['id']}/tokens")
    assert token.status_code == 201, token.text
    return Member(
        id=user["id"],
        wallet_id=user["wallet_id"],
        headers={"Authorization": f"Bearer {token.json()['token']}"},
    )


@pytest.fixture
def alice(client: TestClient, clock: FixedClock) -> Member:
    return new_member(client, funds=1_000_000)


@pytest.fixture
def bob(client: TestClient, clock: FixedClock) -> Member:
    return new_member(client)


def events_of(engine: Engine, user_id: str, event_type: str) -> list[dict[str, Any]]:
    stmt = (
        select(outbox.c.data)
        .where(outbox.c.user_id == user_id, outbox.c.type == event_type)
        .order_by(outbox.c.id)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).scalars()]


def count_rows(engine: Engine, table: Any, **where: Any) -> int:
    stmt = select(func.count()).select_from(table)
    for column, value in where.items():
        stmt = stmt.where(table.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


TEST_KEYRING = Keyring.from_specs(data_key_spec=DATA_KEY, lookup_key_b64=LOOKUP_KEY)


def sent_code(engine: Engine, user_id: str, kind: str = security.VERIFICATION_CODE) -> str:
    """The latest one-time code, as the SMS/push carried it (sealed in its event until used)."""
    codes = events_of(engine, user_id, kind)
    assert codes, "no verification code was sent"
    assert SEALED_CODE in codes[-1], "the code was already used or expired (blanked)"
    return open_code(TEST_KEYRING, codes[-1][SEALED_CODE])


def wallet(client: TestClient, wallet_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/wallets/{wallet_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def login(
    client: TestClient,
    member: Member,
    *,
    device: str,
    city: str | None,
    at: datetime | None = None,
    expect: int = 201,
) -> dict[str, Any]:
    body: dict[str, Any] = {"device_id": device, "ip": "203.0.113.7"}
    if city is not None:
        body["city"] = city
    if at is not None:
        body["at"] = at.isoformat()
    # The company's backend reports logins (operator key), as they happen.
    response = client.post(f"/v1/users/{member.id}/logins", json=body)
    assert response.status_code == expect, response.text
    return dict(response.json())


def login_earlier(
    client: TestClient, member: Member, clock: FixedClock, *, ago: timedelta, **details: Any
) -> dict[str, Any]:
    """A login the backend reported when it happened, `ago` before now."""
    now = clock.at
    clock.at = now - ago
    try:
        return login(client, member, **details)
    finally:
        clock.at = now


def pay(client: TestClient, member: Member, value: int, *, merchant: str = "京东商城") -> Any:
    return client.post(
        "/v1/transfers",
        json={
            "kind": "payment",
            "source": member.wallet_id,
            "amount": cny(value),
            "merchant": {"name": merchant, "category": "5311"},
        },
        headers=member.headers,
    )


def later(clock: FixedClock, **delta: float) -> datetime:
    clock.at = clock.at + timedelta(**delta)
    return clock.at
