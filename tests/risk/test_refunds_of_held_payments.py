"""Only money that moved can go back: a payment held for its step-up code, or cancelled, or
expired, is not refundable, even when the refund races the code or the cancellation (on
SQLite and PostgreSQL). Otherwise the payer gains what merchant settlement never received."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import assert_books_unchanged, cny
from tidings.app.context import AppContext
from tidings.kit.db import with_retry, write_transaction
from tidings.kit.errors import AppError
from tidings.ledger.models import accounts
from tidings.wallets import freeze
from tidings.wallets import service as wallets
from tidings.wallets.schemas import TransferCreate, TransferKind

from .conftest import Member, pay, sent_code, wallet
from .test_concurrency import race, verifier

LARGE = 600_000
"""6,000.00: above the 5,000.00 step-up limit, so the payment waits for a code."""


def held_payment(client: TestClient, member: Member) -> str:
    response = pay(client, member, LARGE)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def refund(client: TestClient, payment_id: str, value: int = LARGE) -> Any:
    """The merchant side (operator key) gives the payment back."""
    body = {"kind": "refund", "refund_of": payment_id, "amount": cny(value)}
    return client.post("/v1/transfers", json=body)


def settlement_balance(engine: Engine) -> int:
    """What merchant settlement holds over all its shards: what merchants were paid, less
    what they gave back. Below zero, refunds paid out money that never came in."""
    stmt = select(func.coalesce(func.sum(accounts.c.balance), 0)).where(
        accounts.c.kind == "merchant_settlement"
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def assert_refused_as_unsettled(response: Any) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/refund-of-unsettled-payment")


def test_refund_of_held_payment_is_refused(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    payment_id = held_payment(client, alice)
    with assert_books_unchanged(client, [alice.wallet_id]):
        assert_refused_as_unsettled(refund(client, payment_id))
    mine = wallet(client, alice.wallet_id)
    assert (mine["balance"]["value"], mine["available"]["value"]) == (1_000_000, 400_000)
    assert client.get(f"/v1/transfers/{payment_id}").json()["refunded"] == cny(0)


def test_refund_of_cancelled_payment_is_refused(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    payment_id = held_payment(client, alice)
    for _ in range(3):
        client.post(
            f"/v1/transfers/{payment_id}/verification",
            json={"code": "000000" if sent_code(engine, alice.id) != "000000" else "111111"},
            headers=alice.headers,
        )
    assert client.get(f"/v1/transfers/{payment_id}").json()["status"] == "cancelled"
    with assert_books_unchanged(client, [alice.wallet_id]):
        assert_refused_as_unsettled(refund(client, payment_id))
    # The payer has exactly what they had; merchant settlement neither gained nor paid out.
    mine = wallet(client, alice.wallet_id)
    assert (mine["balance"]["value"], mine["available"]["value"]) == (1_000_000, 1_000_000)
    assert settlement_balance(engine) == 0
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_refund_of_verified_payment_goes_back(
    client: TestClient, engine: Engine, alice: Member
) -> None:
    payment_id = held_payment(client, alice)
    verified = client.post(
        f"/v1/transfers/{payment_id}/verification",
        json={"code": sent_code(engine, alice.id)},
        headers=alice.headers,
    )
    assert verified.status_code == 200, verified.text
    assert refund(client, payment_id).status_code == 201
    assert wallet(client, alice.wallet_id)["balance"]["value"] == 1_000_000
    assert settlement_balance(engine) == 0


def refunder(context: AppContext, payment_id: str) -> Callable[[], str]:
    def attempt() -> str:
        with write_transaction(context.engine) as conn:
            wallets.create_transfer(
                conn,
                context.keyring,
                TransferCreate(kind=TransferKind.REFUND, refund_of=payment_id, amount=cny(LARGE)),  # type: ignore[arg-type]
                acting_user_id=None,
                at=context.clock.now(),
            )
        return "refunded"

    def action() -> str:
        try:
            return with_retry(attempt)
        except AppError as exc:
            return exc.code

    return action


def not_me(context: AppContext, member: Member) -> Callable[[], str]:
    """The owner taps "not me": the wallet freezes and the held payment is cancelled."""

    def attempt() -> str:
        with write_transaction(context.engine) as conn:
            freeze.freeze_wallet(
                conn,
                context.keyring,
                member.wallet_id,
                acting_user_id=member.id,
                reason=None,
                at=context.clock.now(),
            )
        return "frozen"

    return lambda: with_retry(attempt)


def test_refund_racing_the_code_never_creates_money(
    client: TestClient, engine: Engine, context: AppContext, alice: Member
) -> None:
    payment_id = held_payment(client, alice)
    code = sent_code(engine, alice.id)
    outcome = race(refunder(context, payment_id), verifier(context, alice, payment_id, code))
    mine = wallet(client, alice.wallet_id)
    if "refunded" in outcome:  # the code went first: the refund gives back money that moved
        assert outcome == ["posted", "refunded"]
        assert mine["balance"]["value"] == 1_000_000
    else:
        assert outcome == ["posted", "refund-of-unsettled-payment"]
        assert mine["balance"]["value"] == 1_000_000 - LARGE
    assert mine["held"]["value"] == 0
    assert settlement_balance(engine) >= 0
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


def test_refund_racing_the_cancellation_never_creates_money(
    client: TestClient, engine: Engine, context: AppContext, alice: Member
) -> None:
    payment_id = held_payment(client, alice)
    outcome = race(refunder(context, payment_id), not_me(context, alice))
    assert outcome == ["frozen", "refund-of-unsettled-payment"]
    assert client.get(f"/v1/transfers/{payment_id}").json()["status"] == "cancelled"
    mine = wallet(client, alice.wallet_id)
    assert (mine["balance"]["value"], mine["available"]["value"]) == (1_000_000, 1_000_000)
    assert settlement_balance(engine) == 0
    trial = client.get("/v1/ledger/trial-balance").json()
    assert trial["ok"] is True
