"""Splitting a large sum does not avoid the one-time code: outgoing transfers step up when one
reaches `TIDINGS_STEP_UP_AMOUNT`, or when the user's local day of succeeded and held outgoing
transfers, this one included, reaches `TIDINGS_STEP_UP_DAILY_AMOUNT`; a user may lower both
for themselves (on SQLite and PostgreSQL, with risk scoring on)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import assert_books_unchanged, cny, create_user, top_up
from tidings.kit.clock import FixedClock
from tidings.risk.models import audit_log
from tidings.risk.stepup import AMOUNT_AT_STEP_UP_LIMIT, DAILY_AMOUNT_AT_STEP_UP_LIMIT

from .conftest import Member, later, new_member, pay, sent_code, wallet

SHANGHAI = ZoneInfo("Asia/Shanghai")
MERCHANT = "苏宁易购"


def withdraw(client: TestClient, member: Member, value: int) -> Any:
    body = {"kind": "withdrawal", "source": member.wallet_id, "amount": cny(value)}
    return client.post("/v1/transfers", json=body, headers=member.headers)


def reasons_of(engine: Engine, member: Member) -> list[str]:
    """The reasons of the member's latest step-up, as its audit entry keeps them."""
    stmt = (
        select(audit_log.c.detail)
        .where(audit_log.c.user_id == member.id, audit_log.c.action == "transfer.step_up")
        .order_by(audit_log.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        detail = conn.execute(stmt).scalar_one()
    return list(detail["reasons"])


def test_withdrawals_split_under_the_limit_step_up_on_the_day_total(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    """The reported case: a new account took 19,999.96 out as four withdrawals of 4,999.99."""
    member = new_member(client, funds=2_000_000)
    first = withdraw(client, member, 499_999)
    assert first.status_code == 201, first.text
    held = []
    for _ in range(3):
        later(clock, minutes=20)
        response = withdraw(client, member, 499_999)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending_verification"
        assert DAILY_AMOUNT_AT_STEP_UP_LIMIT in reasons_of(engine, member)
        held.append(response.json()["id"])
    # Only the first left without a code; the rest wait for the owner, their money held.
    mine = wallet(client, member.wallet_id)
    assert mine["balance"]["value"] == 2_000_000 - 499_999
    assert mine["available"]["value"] == 2_000_000 - 4 * 499_999
    assert len(held) == 3


def test_a_user_set_lower_step_up_amount_steps_up(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = new_member(client, funds=1_000_000)
    response = client.patch(
        f"/v1/users/{member.id}", json={"step_up_amount": cny(100_000)}, headers=member.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["step_up_amount"] == cny(100_000)
    assert client.get(f"/v1/users/{member.id}").json()["step_up_amount"] == cny(100_000)
    # One transfer at the user's own amount…
    assert withdraw(client, member, 100_000).status_code == 202
    assert AMOUNT_AT_STEP_UP_LIMIT in reasons_of(engine, member)
    # …and the day reaching it (the held 1,000.00 counts too).
    later(clock, minutes=20)
    assert withdraw(client, member, 1_000).status_code == 202
    assert reasons_of(engine, member)[-1:] == [DAILY_AMOUNT_AT_STEP_UP_LIMIT]


def test_a_user_set_step_up_amount_never_raises_the_settings(
    client: TestClient, clock: FixedClock
) -> None:
    member = new_member(client, funds=2_000_000)
    response = client.patch(
        f"/v1/users/{member.id}", json={"step_up_amount": cny(1_500_000)}, headers=member.headers
    )
    assert response.status_code == 200, response.text
    assert withdraw(client, member, 500_000).status_code == 202
    # Cleared (by the operator: see below), it is the settings again.
    cleared = client.patch(f"/v1/users/{member.id}", json={"step_up_amount": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["step_up_amount"] is None


def test_a_user_token_may_lower_its_step_up_amount_but_never_raise_or_clear_it(
    client: TestClient, clock: FixedClock
) -> None:
    """A stolen session must not undo the owner's own, lower step-up amount."""
    member = new_member(client, funds=2_000_000)
    own = f"/v1/users/{member.id}"
    assert client.patch(
        own, json={"step_up_amount": cny(100_000)}, headers=member.headers
    ).is_success
    assert client.patch(
        own, json={"step_up_amount": cny(50_000)}, headers=member.headers
    ).is_success
    for raised in (cny(60_000), None):
        refused = client.patch(own, json={"step_up_amount": raised}, headers=member.headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/step-up-amount-raise-needs-operator")
    assert client.get(own).json()["step_up_amount"] == cny(50_000)
    assert withdraw(client, member, 50_000).status_code == 202
    # The operator (customer service, after checking who asks) may raise it.
    assert client.patch(own, json={"step_up_amount": cny(200_000)}).json()["step_up_amount"] == (
        cny(200_000)
    )


def test_a_user_step_up_amount_in_another_currency_is_refused(
    client: TestClient, clock: FixedClock
) -> None:
    member = new_member(client)
    response = client.patch(
        f"/v1/users/{member.id}",
        json={"step_up_amount": {"value": 100, "currency": "USD"}},
        headers=member.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "step_up_amount.currency"


def seasoned_member(client: TestClient, clock: FixedClock) -> Member:
    """Joined 10 days ago and paid the same shop 3,000.00 on six days: big payments there are
    this user's habit, so the rules alone allow them."""
    clock.at = datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI)
    member = new_member(client, funds=20_000_000)
    for _ in range(6):
        later(clock, days=1)
        response = pay(client, member, 300_000, merchant=MERCHANT)
        assert response.status_code == 201, response.text
    return member


def on(clock: FixedClock, day: int, hour: int, minute: int = 0) -> None:
    clock.at = datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_step_up_boundary_with_default_settings(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = seasoned_member(client, clock)
    on(clock, 10, 10)
    assert pay(client, member, 499_999, merchant=MERCHANT).status_code == 201
    on(clock, 11, 10)
    response = pay(client, member, 500_000, merchant=MERCHANT)
    assert response.status_code == 202, response.text
    assert reasons_of(engine, member) == [AMOUNT_AT_STEP_UP_LIMIT, DAILY_AMOUNT_AT_STEP_UP_LIMIT]
    # The day's total: 499,999 goes, the one that makes it 500,000 waits for the code.
    on(clock, 12, 10)
    assert pay(client, member, 300_000, merchant=MERCHANT).status_code == 201
    on(clock, 12, 11)
    assert pay(client, member, 199_998, merchant=MERCHANT).status_code == 201
    on(clock, 12, 12)
    assert pay(client, member, 1, merchant=MERCHANT).status_code == 201
    on(clock, 12, 13)
    before = wallet(client, member.wallet_id)["balance"]["value"]
    last = pay(client, member, 1, merchant=MERCHANT)
    assert last.status_code == 202, last.text
    assert reasons_of(engine, member) == [DAILY_AMOUNT_AT_STEP_UP_LIMIT]
    assert wallet(client, member.wallet_id)["balance"]["value"] == before


def test_the_day_resets_at_the_users_local_midnight(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = seasoned_member(client, clock)
    # 23:30 and 00:30 in Shanghai are the same UTC day (15:30 and 16:30): the user's own
    # midnight, not UTC's, starts a new day.
    on(clock, 10, 23, 30)
    assert pay(client, member, 400_000, merchant=MERCHANT).status_code == 201
    on(clock, 11, 0, 30)
    assert pay(client, member, 400_000, merchant=MERCHANT).status_code == 201
    on(clock, 11, 0, 45)
    response = pay(client, member, 100_000, merchant=MERCHANT)
    assert response.status_code == 202, response.text
    assert reasons_of(engine, member) == [DAILY_AMOUNT_AT_STEP_UP_LIMIT]


def test_a_user_in_new_york_has_new_yorks_day(client: TestClient, clock: FixedClock) -> None:
    """The same moments, for someone in New York: 23:30 there is the next UTC day."""
    clock.at = datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI)
    user = create_user(client, timezone="America/New_York")
    top_up(client, user["wallet_id"], 20_000_000)
    token = client.post(f"/v1/users/{user['id']}/tokens").json()["token"]
    member = Member(user["id"], user["wallet_id"], {"Authorization": f"Bearer {token}"})
    for _ in range(6):
        later(clock, days=1)
        assert pay(client, member, 300_000, merchant=MERCHANT).status_code == 201
    new_york = ZoneInfo("America/New_York")
    clock.at = datetime(2026, 11, 10, 23, 30, tzinfo=new_york)
    assert pay(client, member, 400_000, merchant=MERCHANT).status_code == 201
    clock.at = datetime(2026, 11, 11, 0, 30, tzinfo=new_york)
    assert pay(client, member, 400_000, merchant=MERCHANT).status_code == 201


def test_allocations_to_own_sub_wallets_are_not_outgoing(
    client: TestClient, clock: FixedClock
) -> None:
    member = seasoned_member(client, clock)
    on(clock, 10, 10)
    sub = client.post(
        f"/v1/wallets/{member.wallet_id}/sub-wallets",
        json={"name": "储蓄", "purpose": "savings"},
        headers=member.headers,
    ).json()["id"]
    move = {"kind": "allocation", "source": member.wallet_id, "destination": sub}
    for value in (900_000, 900_000):
        response = client.post(
            "/v1/transfers", json={**move, "amount": cny(value)}, headers=member.headers
        )
        assert response.status_code == 201, response.text
    assert pay(client, member, 499_999, merchant=MERCHANT).status_code == 201


def test_cancelled_transfers_do_not_count(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    member = seasoned_member(client, clock)
    on(clock, 10, 10)
    held = pay(client, member, 600_000, merchant=MERCHANT)
    assert held.status_code == 202
    right = sent_code(engine, member.id)
    for code in [c for c in ("000000", "111111", "222222", "333333") if c != right][:3]:
        client.post(
            f"/v1/transfers/{held.json()['id']}/verification",
            json={"code": code},
            headers=member.headers,
        )
    assert client.get(f"/v1/transfers/{held.json()['id']}").json()["status"] == "cancelled"
    on(clock, 10, 11)
    assert pay(client, member, 499_999, merchant=MERCHANT).status_code == 201


def test_a_zero_own_amount_is_refused_and_changes_nothing(
    client: TestClient, clock: FixedClock
) -> None:
    member = new_member(client, funds=1_000)
    with assert_books_unchanged(client, [member.wallet_id]):
        response = client.patch(
            f"/v1/users/{member.id}", json={"step_up_amount": cny(0)}, headers=member.headers
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"].startswith("step_up_amount")
    assert client.get(f"/v1/users/{member.id}").json()["step_up_amount"] is None
