"""`TransferSignals` read from the database, on SQLite and PostgreSQL, with a moving clock.

History is built as an operator would (unscored transfers), logins and changes through the API;
then the signals of one more outgoing transfer are read exactly as `create_transfer` does.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.helpers import cny
from tidings.app.context import AppContext
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.risk.features import transfer_signals
from tidings.risk.scoring import SENSITIVE_CHANGE_THEN_LARGE_TRANSFER, assess_transfer
from tidings.risk.signals import RiskDecision, TransferSignals
from tidings.wallets import repository as wallet_rows

from .conftest import START, Member, later, login, login_earlier


def operator_pay(client: TestClient, member: Member, value: int, merchant: str) -> None:
    response = client.post(
        "/v1/transfers",
        json={
            "kind": "payment",
            "source": member.wallet_id,
            "amount": cny(value),
            "merchant": {"name": merchant},
        },
    )
    assert response.status_code == 201, response.text


def signals(
    context: AppContext,
    member: Member,
    amount: int,
    *,
    merchant: str | None = None,
    destination: str | None = None,
    kind: str = "payment",
) -> TransferSignals:
    with read_transaction(context.engine) as conn:
        row = wallet_rows.get_wallet(conn, member.wallet_id)
        assert row is not None
        return transfer_signals(
            conn,
            user_id=member.id,
            account_id=row.account_id,
            kind=kind,
            amount=amount,
            destination_wallet_id=destination,
            merchant=merchant,
            at=context.clock.now(),
        )


def test_history_counts_medians_and_windows(
    client: TestClient, context: AppContext, alice: Member, clock: FixedClock
) -> None:
    # 100 days ago: outside the 90-day history.
    clock.at = START - timedelta(days=100)
    operator_pay(client, alice, 90_000, "宜家")
    clock.at = START
    for value, merchant in ((1_000, "瑞幸"), (3_000, "瑞幸"), (2_000, "全家")):
        operator_pay(client, alice, value, merchant)
        later(clock, days=1)
    later(clock, hours=23)  # the last one was 1 day ago
    operator_pay(client, alice, 5_000, "美团")
    later(clock, minutes=5)
    operator_pay(client, alice, 4_000, "美团")
    later(clock, minutes=7)
    s = signals(context, alice, 50_000, merchant="瑞幸")
    assert s.history_count == 5
    assert s.history_median_amount == 3_000
    assert s.history_max_amount == 5_000
    assert s.count_last_10_min == 1  # 7 minutes ago; the one 12 minutes ago is outside
    assert s.count_last_hour == 2
    assert s.amount_last_24h == 9_000
    assert s.distinct_payees_last_24h == 1
    assert s.new_payee is False
    assert signals(context, alice, 50_000, merchant="星巴克").new_payee is True
    assert s.local_hour == (clock.at + timedelta(hours=8)).hour  # Asia/Shanghai


def test_only_money_from_other_users_counts_as_incoming(
    client: TestClient, context: AppContext, alice: Member, bob: Member, clock: FixedClock
) -> None:
    client.post(
        "/v1/transfers",
        json={"kind": "top_up", "destination": bob.wallet_id, "amount": cny(100_000)},
    )
    assert signals(context, bob, 1_000, merchant="x").incoming_last_24h == 0
    client.post(
        "/v1/transfers",
        json={
            "kind": "p2p",
            "source": alice.wallet_id,
            "destination": bob.wallet_id,
            "amount": cny(70_000),
        },
    )
    assert signals(context, bob, 1_000, merchant="x").incoming_last_24h == 70_000
    later(clock, hours=25)
    assert signals(context, bob, 1_000, merchant="x").incoming_last_24h == 0
    # Paying alice back is paying a known payee only after a first payment to her.
    s = signals(context, bob, 1_000, destination=alice.wallet_id, kind="p2p")
    assert s.new_payee is True


def test_logins_and_changes_become_minutes_since(
    client: TestClient, context: AppContext, alice: Member, clock: FixedClock
) -> None:
    before = signals(context, alice, 1_000, merchant="x")
    assert before.new_device is False
    assert before.minutes_since_new_device_login is None
    assert before.minutes_since_sensitive_change is None
    login_earlier(client, alice, clock, ago=timedelta(days=3), device="phone-A", city="上海")
    login(client, alice, device="phone-B", city="北京")
    later(clock, minutes=30)
    client.post(f"/v1/users/{alice.id}/security-changes", json={"kind": "password"})
    later(clock, minutes=10)
    s = signals(context, alice, 1_000, merchant="x")
    assert s.new_device is True
    assert s.minutes_since_new_device_login == pytest.approx(40)
    assert s.minutes_since_new_location_login == pytest.approx(40)
    assert s.minutes_since_sensitive_change == pytest.approx(10)
    assert s.account_age_days == pytest.approx(40 / 1440)
    # Back on the old phone: the latest login is a known device again.
    login(client, alice, device="phone-A", city="北京")
    assert signals(context, alice, 1_000, merchant="x").new_device is False


def test_a_sensitive_change_then_a_large_transfer_is_detected(
    client: TestClient, context: AppContext, alice: Member, clock: FixedClock
) -> None:
    client.post(f"/v1/users/{alice.id}/security-changes", json={"kind": "email"})
    later(clock, hours=1)
    s = signals(context, alice, 300_000, merchant="x")
    assessment = assess_transfer(s)
    assert SENSITIVE_CHANGE_THEN_LARGE_TRANSFER in assessment.reasons
    assert assessment.decision is not RiskDecision.ALLOW
    # Three days later the change no longer counts.
    later(clock, days=3)
    assert (
        SENSITIVE_CHANGE_THEN_LARGE_TRANSFER
        not in assess_transfer(signals(context, alice, 300_000, merchant="x")).reasons
    )
