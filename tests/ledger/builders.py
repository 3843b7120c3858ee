"""Builders for ledger tests: real users, wallets and transfers through the service layer."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.insights.budgets import DEFAULT_REWARDS, RewardPolicy
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.money import PositiveMoney
from tidings.ledger import service as ledger
from tidings.ledger.models import accounts
from tidings.risk.stepup import UNSCORED
from tidings.users.schemas import UserCreate
from tidings.wallets import service as wallets
from tidings.wallets.models import transfers
from tidings.wallets.models import wallets as wallets_table
from tidings.wallets.schemas import Merchant, Purpose, SubWalletCreate, TransferCreate, TransferOut

CURRENCY = "CNY"
COFFEE_SHOP = Merchant(name="瑞幸咖啡", category="5814")


def cny(value: int) -> PositiveMoney:
    return PositiveMoney(value=value, currency=CURRENCY)


def new_user(context: AppContext) -> tuple[str, str]:
    """A fresh user with a main wallet; returns (user id, main wallet id)."""
    data = UserCreate(external_id=f"ledger-{uuid.uuid4().hex}", name="李小龙")

    def attempt() -> tuple[str, str]:
        with write_transaction(context.engine) as conn:
            user = wallets.create_user_with_wallet(
                conn, context.keyring, data, at=context.clock.now(), **context.user_defaults()
            )
            return user.id, user.wallet_id

    return with_retry(attempt)


def open_sub_wallet(context: AppContext, main_wallet_id: str, name: str = "旅行") -> str:
    data = SubWalletCreate(name=name, purpose=Purpose.TRAVEL)

    def attempt() -> str:
        with write_transaction(context.engine) as conn:
            wallet = wallets.open_sub_wallet(
                conn,
                parent_wallet_id=main_wallet_id,
                data=data,
                acting_user_id=None,
                at=context.clock.now(),
            )
            return wallet.id

    return with_retry(attempt)


def close_sub_wallet(context: AppContext, wallet_id: str) -> None:
    def attempt() -> None:
        with write_transaction(context.engine) as conn:
            wallets.close_sub_wallet(conn, wallet_id, acting_user_id=None, at=context.clock.now())

    with_retry(attempt)


def transfer(
    context: AppContext, *, rewards: RewardPolicy = DEFAULT_REWARDS, **fields: Any
) -> TransferOut:
    """One transfer in its own write transaction (as an operator), retried like a request.

    The books alone are under test here, so the risk check is off (random traffic looks like
    card testing). `rewards`: the savings-goal reward policy (the settings' defaults)."""
    data = TransferCreate(**fields)

    def attempt() -> TransferOut:
        with write_transaction(context.engine) as conn:
            return wallets.create_transfer(
                conn,
                context.keyring,
                data,
                acting_user_id=None,
                at=context.clock.now(),
                step_up=UNSCORED,
                rewards=rewards,
            )

    return with_retry(attempt)


def top_up(context: AppContext, wallet_id: str, value: int) -> TransferOut:
    return transfer(context, kind="top_up", destination=wallet_id, amount=cny(value))


def pay(context: AppContext, wallet_id: str, value: int) -> TransferOut:
    return transfer(
        context, kind="payment", source=wallet_id, amount=cny(value), merchant=COFFEE_SHOP
    )


def wallet_balances(context: AppContext, wallet_id: str) -> tuple[int, int]:
    """(balance, available) as the wallet's owner would see them."""
    with read_transaction(context.engine) as conn:
        wallet = wallets.get_wallet(conn, wallet_id, acting_user_id=None, at=context.clock.now())
    return wallet.balance.value, wallet.available.value


def balance_of(context: AppContext, wallet_id: str) -> int:
    return wallet_balances(context, wallet_id)[0]


def assert_trial_balance_ok(conn: Connection) -> None:
    """The operator's trial balance is ok and no user's wallet is below zero."""
    result = ledger.trial_balance(conn)
    assert [a for a in result.accounts if not a.consistent] == []
    assert {currency: total for currency, total in result.totals.items() if total} == {}
    assert result.unbalanced_entries == []
    assert result.ok
    overdrawn = [a for a in result.accounts if a.user_id is not None and a.balance - a.held < 0]
    assert overdrawn == []


def events_of(conn: Connection, user_ids: list[str]) -> Counter[str]:
    """How many outbox events of each type these users have."""
    stmt = (
        select(outbox.c.type, func.count())
        .where(outbox.c.user_id.in_(user_ids))
        .group_by(outbox.c.type)
    )
    return Counter({event_type: int(n) for event_type, n in conn.execute(stmt)})


def transfer_count(conn: Connection, user_ids: list[str]) -> int:
    stmt = select(func.count()).select_from(transfers).where(transfers.c.user_id.in_(user_ids))
    return int(conn.execute(stmt).scalar_one())


def account_of(engine: Engine, wallet_id: str) -> str:
    """The ledger account behind a wallet."""
    with read_transaction(engine) as conn:
        return str(
            conn.execute(
                select(wallets_table.c.account_id).where(wallets_table.c.id == wallet_id)
            ).scalar_one()
        )


def wallet_balances_of(conn: Connection, user_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Every wallet of these users, open or closed: wallet id → (balance, available)."""
    stmt = (
        select(wallets_table.c.id, accounts.c.balance, accounts.c.held)
        .join(accounts, accounts.c.id == wallets_table.c.account_id)
        .where(wallets_table.c.user_id.in_(user_ids))
    )
    return {
        wallet_id: (int(balance), int(balance) - int(held))
        for wallet_id, balance, held in conn.execute(stmt)
    }
