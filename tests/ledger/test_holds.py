"""Holds reserve money without moving it: `available` drops while `balance` stays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, func, select

from tests.ledger.builders import account_of, new_user, pay, top_up, wallet_balances
from tidings.app.context import AppContext
from tidings.kit.db import read_transaction, write_transaction
from tidings.ledger import service as ledger
from tidings.ledger.exceptions import InsufficientFunds
from tidings.ledger.models import holds, postings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def wallet(context: AppContext) -> str:
    """A main wallet with 10 000 fen on it."""
    _, wallet_id = new_user(context)
    top_up(context, wallet_id, 10_000)
    return wallet_id


def hold(context: AppContext, wallet_id: str, amount: int) -> str:
    account_id = account_of(context.engine, wallet_id)
    with write_transaction(context.engine) as conn:
        return ledger.place_hold(
            conn,
            account_id=account_id,
            amount=amount,
            currency="CNY",
            reason="card pre-authorisation at 如家酒店",
            at=NOW,
        )


def release(context: AppContext, hold_id: str) -> bool:
    with write_transaction(context.engine) as conn:
        return ledger.release_hold(conn, hold_id, at=NOW)


def count(context: AppContext, table: Table) -> int:
    with read_transaction(context.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_hold_lowers_available_but_not_the_balance_and_posts_nothing(
    context: AppContext, wallet: str
) -> None:
    posted_before = count(context, postings)
    hold(context, wallet, 3_000)
    assert wallet_balances(context, wallet) == (10_000, 7_000)
    assert count(context, postings) == posted_before


def test_holding_more_than_is_available_is_refused_and_changes_nothing(
    context: AppContext, wallet: str
) -> None:
    hold(context, wallet, 3_000)
    with pytest.raises(InsufficientFunds):
        hold(context, wallet, 7_001)
    assert wallet_balances(context, wallet) == (10_000, 7_000)
    assert count(context, holds) == 1
    hold(context, wallet, 7_000)  # all that is left is fine
    assert wallet_balances(context, wallet) == (10_000, 0)


def test_held_money_cannot_be_spent(context: AppContext, wallet: str) -> None:
    hold(context, wallet, 3_000)
    with pytest.raises(InsufficientFunds):
        pay(context, wallet, 7_001)
    pay(context, wallet, 7_000)
    assert wallet_balances(context, wallet) == (3_000, 0)


def test_releasing_a_hold_twice_gives_the_money_back_once(context: AppContext, wallet: str) -> None:
    first = hold(context, wallet, 3_000)
    hold(context, wallet, 2_000)
    assert release(context, first) is True
    assert wallet_balances(context, wallet) == (10_000, 8_000)
    assert release(context, first) is False
    assert wallet_balances(context, wallet) == (10_000, 8_000)
    assert release(context, "hld_01JD0000000000000000000000") is False  # no such hold
    assert wallet_balances(context, wallet) == (10_000, 8_000)
