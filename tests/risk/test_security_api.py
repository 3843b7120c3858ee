"""Logins, security changes, blocks, freezes, rate limits and the audit log over HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import assert_books_unchanged, cny, top_up
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.ledger.models import holds
from tidings.risk import events as security
from tidings.risk.models import security_changes, security_logins
from tidings.wallets import events as wallet_events
from tidings.wallets.models import transfers

from .conftest import (
    Member,
    count_rows,
    events_of,
    later,
    login,
    login_earlier,
    pay,
    wallet,
)

# ---- logins --------------------------------------------------------------------------------


def test_a_new_device_in_another_city_is_high_risk_and_alerts_the_owner(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    first = login(client, alice, device="phone-A", city="上海")
    assert first["risk"] == {"level": "low", "reasons": []}
    assert first["id"].startswith("lgn_")
    later(clock, days=2)
    same = login(client, alice, device="phone-A", city="上海")
    assert same["risk"] == {"level": "low", "reasons": []}
    later(clock, hours=5)  # a flight's time: not impossible travel
    odd = login(client, alice, device="phone-B", city="北京")
    assert odd["risk"] == {"level": "high", "reasons": ["new_device", "new_location"]}
    alerts = events_of(engine, alice.id, security.LOGIN_NEW_DEVICE)
    assert len(alerts) == 1
    assert alerts[0]["city"] == "北京"
    assert alerts[0]["not_me_url"] == f"/v1/wallets/{alice.wallet_id}/freeze"
    # The device id itself never reaches a message or the table.
    assert "phone-B" not in str(alerts[0])
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT device_hash, ip_hash FROM security_logins").all()
    assert all("phone" not in d and "203.0.113" not in i for d, i in stored)


def test_a_new_city_alone_alerts_new_location(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    login(client, alice, device="phone-A", city="上海")
    later(clock, days=1)
    result = login(client, alice, device="phone-A", city="深圳")
    assert result["risk"] == {"level": "medium", "reasons": ["new_location"]}
    assert [a["city"] for a in events_of(engine, alice.id, security.LOGIN_NEW_LOCATION)] == ["深圳"]


def test_shanghai_then_london_half_an_hour_later_is_impossible_travel(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    login(client, alice, device="phone-A", city="上海")
    later(clock, minutes=30)
    result = login(client, alice, device="phone-A", city="London")
    assert result["risk"]["level"] == "high"
    assert "impossible_travel" in result["risk"]["reasons"]
    alert = events_of(engine, alice.id, security.LOGIN_IMPOSSIBLE_TRAVEL)
    assert [(a["city"], a["previous_city"]) for a in alert] == [("London", "上海")]
    # One alert per login: not a new-location alert as well.
    assert events_of(engine, alice.id, security.LOGIN_NEW_LOCATION) == []


def test_a_report_minutes_late_uses_its_own_time(
    client: TestClient, alice: Member, clock: FixedClock
) -> None:
    earlier = clock.at - timedelta(minutes=4)
    result = login(client, alice, device="phone-A", city="上海", at=earlier)
    assert result["at"].startswith(earlier.isoformat()[:16])


@pytest.mark.parametrize("offset", [timedelta(days=-3), timedelta(minutes=-6), timedelta(hours=1)])
def test_a_login_or_change_reported_far_from_now_is_refused_naming_at(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock, offset: timedelta
) -> None:
    at = (clock.at + offset).isoformat()
    body = {"device_id": "thief-phone", "ip": "203.0.113.7", "city": "上海", "at": at}
    response = client.post(f"/v1/users/{alice.id}/logins", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/time-out-of-window")
    assert [e["field"] for e in response.json()["errors"]] == ["at"]
    change = client.post(
        f"/v1/users/{alice.id}/security-changes", json={"kind": "password", "at": at}
    )
    assert change.status_code == 422, change.text
    assert [e["field"] for e in change.json()["errors"]] == ["at"]
    assert count_rows(engine, security_logins) == 0
    assert count_rows(engine, security_changes) == 0


def test_a_user_token_may_not_report_logins_or_security_changes(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    """A stolen session would make its own device "known" and its changes old."""
    response = client.post(
        f"/v1/users/{alice.id}/logins",
        json={"device_id": "thief-phone", "ip": "203.0.113.7", "city": "上海"},
        headers=alice.headers,
    )
    assert response.status_code == 403, response.text
    change = client.post(
        f"/v1/users/{alice.id}/security-changes", json={"kind": "password"}, headers=alice.headers
    )
    assert change.status_code == 403, change.text
    assert count_rows(engine, security_logins) == 0
    assert count_rows(engine, security_changes) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ip": "203.0.113.7"}, "device_id"),
        ({"device_id": "d", "ip": "999.1.1.1"}, "ip"),
        ({"device_id": "d", "ip": "not an ip"}, "ip"),
        ({"device_id": "", "ip": "203.0.113.7"}, "device_id"),
        ({"device_id": "d\x00", "ip": "203.0.113.7"}, "device_id"),
        ({"device_id": "d", "ip": "203.0.113.7", "city": "x" * 101}, "city"),
        ({"device_id": "d", "ip": "203.0.113.7", "at": "yesterday"}, "at"),
        ({"device_id": "d", "ip": "203.0.113.7", "at": "2030-01-01T00:00:00Z"}, "at"),
        ({"device_id": "d", "ip": "203.0.113.7", "password": "x"}, "password"),
    ],
)
def test_bad_login_reports_are_problems_naming_the_field_and_store_nothing(
    client: TestClient, engine: Engine, alice: Member, body: dict[str, Any], field: str
) -> None:
    response = client.post(f"/v1/users/{alice.id}/logins", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}
    assert count_rows(engine, security_logins) == 0


def test_a_login_of_an_unknown_user_is_404(client: TestClient) -> None:
    unknown = client.post(
        "/v1/users/usr_01JD0000000000000000000000/logins",
        json={"device_id": "d", "ip": "203.0.113.7"},
    )
    assert unknown.status_code == 404


# ---- security changes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "event_type"),
    [
        ("password", security.PASSWORD_CHANGED),
        ("phone", security.PHONE_CHANGED),
        ("email", security.EMAIL_CHANGED),
        ("payee", security.PAYEE_ADDED),
    ],
)
def test_a_security_change_alerts_the_owner(
    client: TestClient, engine: Engine, alice: Member, kind: str, event_type: str
) -> None:
    response = client.post(f"/v1/users/{alice.id}/security-changes", json={"kind": kind})
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == kind
    alerts = events_of(engine, alice.id, event_type)
    assert len(alerts) == 1
    assert alerts[0]["not_me_url"] == f"/v1/wallets/{alice.wallet_id}/freeze"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"kind": "pin"}, "kind"), ({}, "kind"), ({"kind": "password", "at": "soon"}, "at")],
)
def test_bad_security_changes_name_the_field(
    client: TestClient, engine: Engine, alice: Member, body: dict[str, Any], field: str
) -> None:
    response = client.post(f"/v1/users/{alice.id}/security-changes", json=body)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert count_rows(engine, security_changes) == 0


# ---- blocks ---------------------------------------------------------------------------------


def takeover_setup(client: TestClient, member: Member, clock: FixedClock, change: str) -> None:
    """A login from a new device in another city, then a security change: a takeover's start."""
    login_earlier(client, member, clock, ago=timedelta(days=2), device="phone-A", city="上海")
    login(client, member, device="phone-X", city="北京")
    response = client.post(f"/v1/users/{member.id}/security-changes", json={"kind": change})
    assert response.status_code == 201
    later(clock, minutes=5)


def test_a_takeover_pattern_below_the_limit_is_blocked_with_an_audit_row_and_an_alert(
    client: TestClient, engine: Engine, alice: Member, bob: Member, clock: FixedClock
) -> None:
    takeover_setup(client, alice, clock, "password")
    response = client.post(
        "/v1/transfers",
        json={
            "kind": "p2p",
            "source": alice.wallet_id,
            "destination": bob.wallet_id,
            "amount": cny(300_000),
        },
        headers=alice.headers,
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/transfer-blocked")
    assert "takeover_pattern" in problem["reasons"]
    # Nothing moved, nothing held, no transfer row; the owner is alerted and it is audited.
    mine = wallet(client, alice.wallet_id)
    assert mine["balance"]["value"] == mine["available"]["value"] == 1_000_000
    assert count_rows(engine, transfers, user_id=alice.id, kind="p2p") == 0
    assert count_rows(engine, holds) == 0
    assert events_of(engine, bob.id, wallet_events.TRANSFER_RECEIVED) == []
    alerts = events_of(engine, alice.id, security.TRANSACTION_SUSPICIOUS)
    assert [(a["amount"], a["blocked"]) for a in alerts] == [(cny(300_000), True)]
    audit = client.get("/v1/audit", params={"user_id": alice.id, "action": "transfer.blocked"})
    [entry] = audit.json()["items"]
    assert entry["detail"]["amount"] == 300_000
    assert entry["detail"]["score"] >= 85


def test_the_issue_scenario_above_the_limit_is_held_for_the_owner_not_blocked(
    client: TestClient, engine: Engine, alice: Member, bob: Member, clock: FixedClock
) -> None:
    takeover_setup(client, alice, clock, "password")
    response = client.post(
        "/v1/transfers",
        json={
            "kind": "p2p",
            "source": alice.wallet_id,
            "destination": bob.wallet_id,
            "amount": cny(800_000),
        },
        headers=alice.headers,
    )
    assert response.status_code == 202, response.text
    assert wallet(client, alice.wallet_id)["available"]["value"] == 200_000
    # The code alone would not say what looked wrong: a critical alert with "not me" does.
    [alert] = events_of(engine, alice.id, security.TRANSACTION_SUSPICIOUS)
    assert (alert["amount"], alert["held"], alert["transfer_id"]) == (
        cny(800_000),
        True,
        response.json()["id"],
    )
    assert "sensitive_change_then_large_transfer" in alert["reasons"]
    assert alert["not_me_url"] == f"/v1/wallets/{alice.wallet_id}/freeze"


def test_after_a_phone_change_a_would_be_block_stays_a_block_above_the_limit(
    client: TestClient, alice: Member, bob: Member, clock: FixedClock
) -> None:
    takeover_setup(client, alice, clock, "phone")
    response = client.post(
        "/v1/transfers",
        json={
            "kind": "p2p",
            "source": alice.wallet_id,
            "destination": bob.wallet_id,
            "amount": cny(800_000),
        },
        headers=alice.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/transfer-blocked")


def test_a_blocked_transfer_without_the_money_is_just_insufficient_funds(
    client: TestClient, engine: Engine, bob: Member, clock: FixedClock
) -> None:
    takeover_setup(client, bob, clock, "password")
    with assert_books_unchanged(client, [bob.wallet_id], notices=1):
        response = pay(client, bob, 300_000)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/insufficient-funds")
    assert events_of(engine, bob.id, security.TRANSACTION_SUSPICIOUS) == []
    [failed] = events_of(engine, bob.id, wallet_events.PAYMENT_FAILED)
    assert failed["reason"] == "insufficient_funds"


def test_a_blocked_payment_alerts_once_not_twice(
    client: TestClient, engine: Engine, alice: Member, clock: FixedClock
) -> None:
    """The block's critical alert tells the owner; no `wallet.payment.failed` on top."""
    takeover_setup(client, alice, clock, "password")
    response = pay(client, alice, 300_000)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/transfer-blocked")
    assert [a["blocked"] for a in events_of(engine, alice.id, security.TRANSACTION_SUSPICIOUS)] == [
        True
    ]
    assert events_of(engine, alice.id, wallet_events.PAYMENT_FAILED) == []


# ---- freeze --------------------------------------------------------------------------------


def test_not_me_freezes_outgoing_money_while_incoming_still_lands(
    client: TestClient, engine: Engine, alice: Member, bob: Member
) -> None:
    response = client.post(f"/v1/wallets/{alice.wallet_id}/freeze", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["frozen_at"] is not None
    with assert_books_unchanged(client, [alice.wallet_id], notices=1):  # payment.failed
        refused = pay(client, alice, 1_000)
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/wallet-frozen")
    assert refused.json()["errors"][0]["field"] == "source"
    top_up(client, alice.wallet_id, 5_000)
    top_up(client, bob.wallet_id, 5_000)
    gift = client.post(
        "/v1/transfers",
        json={
            "kind": "p2p",
            "source": bob.wallet_id,
            "destination": alice.wallet_id,
            "amount": cny(2_000),
        },
        headers=bob.headers,
    )
    assert gift.status_code == 201, gift.text
    assert wallet(client, alice.wallet_id)["balance"]["value"] == 1_007_000
    frozen = events_of(engine, alice.id, security.WALLET_FROZEN)
    assert [(f["wallet_id"], f["reason"]) for f in frozen] == [(alice.wallet_id, "not_me")]
    # Freezing again changes nothing and alerts nobody twice.
    client.post(f"/v1/wallets/{alice.wallet_id}/freeze", headers=alice.headers)
    assert len(events_of(engine, alice.id, security.WALLET_FROZEN)) == 1


def test_freezing_the_main_wallet_covers_sub_wallets(client: TestClient, alice: Member) -> None:
    sub = client.post(
        f"/v1/wallets/{alice.wallet_id}/sub-wallets", json={"name": "旅行", "purpose": "travel"}
    ).json()
    client.post(
        "/v1/transfers",
        json={
            "kind": "allocation",
            "source": alice.wallet_id,
            "destination": sub["id"],
            "amount": cny(10_000),
        },
    )
    client.post(f"/v1/wallets/{alice.wallet_id}/freeze", headers=alice.headers)
    with assert_books_unchanged(client, [alice.wallet_id, sub["id"]], notices=1):
        response = client.post(
            "/v1/transfers",
            json={
                "kind": "payment",
                "source": sub["id"],
                "amount": cny(1_000),
                "merchant": {"name": "携程"},
            },
            headers=alice.headers,
        )
        assert response.status_code == 422
        assert response.json()["type"].endswith("/wallet-frozen")


def test_only_an_operator_unfreezes(
    client: TestClient, engine: Engine, alice: Member, bob: Member
) -> None:
    client.post(f"/v1/wallets/{alice.wallet_id}/freeze", headers=alice.headers)
    mine = client.post(f"/v1/wallets/{alice.wallet_id}/unfreeze", headers=alice.headers)
    assert mine.status_code == 403
    stranger = client.post(f"/v1/wallets/{alice.wallet_id}/freeze", headers=bob.headers)
    assert stranger.status_code == 404
    response = client.post(f"/v1/wallets/{alice.wallet_id}/unfreeze")
    assert response.status_code == 200, response.text
    assert response.json()["frozen_at"] is None
    assert pay(client, alice, 1_000).status_code == 201
    assert len(events_of(engine, alice.id, security.WALLET_UNFROZEN)) == 1
    actions = [
        e["action"] for e in client.get("/v1/audit", params={"user_id": alice.id}).json()["items"]
    ]
    assert {"wallet.freeze", "wallet.unfreeze"} <= set(actions)


def test_another_users_token_cannot_freeze_a_wallet_and_changes_nothing(
    client: TestClient, engine: Engine, alice: Member, bob: Member
) -> None:
    stranger = client.post(
        f"/v1/wallets/{alice.wallet_id}/freeze", json={"reason": "not_me"}, headers=bob.headers
    )
    assert stranger.status_code == 404
    assert client.get(f"/v1/wallets/{alice.wallet_id}").json()["frozen_at"] is None
    assert events_of(engine, alice.id, security.WALLET_FROZEN) == []
    assert pay(client, alice, 1_000).status_code == 201


def test_a_freeze_repeated_with_one_idempotency_key_freezes_once(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    headers = {"Idempotency-Key": "freeze-1"}
    first = client.post(f"/v1/wallets/{alice.wallet_id}/freeze", json={}, headers=headers)
    again = client.post(f"/v1/wallets/{alice.wallet_id}/freeze", json={}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(events_of(engine, alice.id, security.WALLET_FROZEN)) == 1
    other = client.post(
        f"/v1/wallets/{alice.wallet_id}/freeze", json={"reason": "司法冻结"}, headers=headers
    )
    assert other.status_code == 409


def test_an_operator_freeze_records_its_reason(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    response = client.post(f"/v1/wallets/{alice.wallet_id}/freeze", json={"reason": "司法冻结"})
    assert response.status_code == 200
    assert events_of(engine, alice.id, security.WALLET_FROZEN)[0]["reason"] == "司法冻结"
    bad = client.post(f"/v1/wallets/{alice.wallet_id}/freeze", json={"reason": ""})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "reason"
    assert client.post("/v1/wallets/nope/freeze").status_code == 404


def test_a_freeze_cancels_held_transfers_and_releases_their_money(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    assert pay(client, alice, 600_000).status_code == 202
    client.post(f"/v1/wallets/{alice.wallet_id}/freeze", headers=alice.headers)
    mine = wallet(client, alice.wallet_id)
    assert mine["available"]["value"] == mine["balance"]["value"] == 1_000_000
    assert count_rows(engine, transfers, status="cancelled") == 1


# ---- rate limits and audit ------------------------------------------------------------------


def test_token_issuance_is_rate_limited_per_user_with_retry_after(
    client: TestClient, context: AppContext, alice: Member, bob: Member, clock: FixedClock
) -> None:
    context.settings.token_rate_limit = 3  # alice's fixture already used one, at 02:00
    later(clock, minutes=20)
    for _ in range(2):
        assert client.post(f"/v1/users/{alice.id}/tokens").status_code == 201
    refused = client.post(f"/v1/users/{alice.id}/tokens")
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("/rate-limited")
    # The hour's window (02:00-03:00) ends in 40 minutes.
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after == 40 * 60
    assert client.post(f"/v1/users/{bob.id}/tokens").status_code == 201  # another user
    later(clock, seconds=retry_after - 1)
    assert client.post(f"/v1/users/{alice.id}/tokens").status_code == 429
    later(clock, seconds=1)
    assert client.post(f"/v1/users/{alice.id}/tokens").status_code == 201
    issued = client.get("/v1/audit", params={"user_id": alice.id, "action": "token.issued"})
    assert len(issued.json()["items"]) == 4


def test_code_attempts_are_rate_limited_before_any_is_spent(
    client: TestClient, engine: Engine, context: AppContext, alice: Member
) -> None:
    context.settings.verification_rate_limit = 2
    transfer = pay(client, alice, 600_000).json()
    url = f"/v1/transfers/{transfer['id']}/verification"
    for _ in range(2):
        assert client.post(url, json={"code": "x"}, headers=alice.headers).status_code == 422
    refused = client.post(url, json={"code": "x"}, headers=alice.headers)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert wallet(client, alice.wallet_id)["held"]["value"] == 600_000  # still 1 attempt left


def test_the_audit_log_pages_newest_first_and_users_see_only_their_own(
    client: TestClient, alice: Member, bob: Member, clock: FixedClock
) -> None:
    for n in range(3):
        later(clock, days=1)
        login(client, alice, device=f"phone-{n}", city="上海")
    login(client, bob, device="b", city="深圳")
    first = client.get("/v1/audit", params={"limit": 2, "action": "login"}).json()
    assert [e["user_id"] for e in first["items"]] == [bob.id, alice.id]
    second = client.get(
        "/v1/audit", params={"limit": 2, "action": "login", "cursor": first["next_cursor"]}
    ).json()
    assert [e["user_id"] for e in second["items"]] == [alice.id, alice.id]
    assert second["next_cursor"] is None
    own = client.get("/v1/audit", headers=alice.headers).json()["items"]
    assert own
    assert {e["user_id"] for e in own} == {alice.id}
    assert (
        client.get("/v1/audit", params={"user_id": bob.id}, headers=alice.headers).status_code
        == 404
    )
    bad = client.get("/v1/audit", params={"cursor": "%%%"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


def test_the_audit_log_holds_no_personal_data(
    client: TestClient, alice: Member, clock: FixedClock
) -> None:
    login(client, alice, device="phone-A", city="上海")
    client.post(f"/v1/users/{alice.id}/security-changes", json={"kind": "phone"})
    text = client.get("/v1/audit").text
    for secret in ("phone-A", "203.0.113.7", "13812", "example.com", "张三丰"):
        assert secret not in text
