"""Ledger operations: open accounts, post balanced entries, hold and release money.

Every function runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NoReturn

from sqlalchemy import Connection

from tidings.kit.ids import new_id
from tidings.kit.money import CurrencyMismatch
from tidings.ledger import repository
from tidings.ledger.exceptions import AmountOutOfRange, InsufficientFunds, UnbalancedEntry


class SystemAccount(StrEnum):
    """Accounts that stand for the world outside the wallets; they may go negative."""

    TOP_UP_CLEARING = "top_up_clearing"
    """Money arriving from bank cards and other top-up sources."""
    MERCHANT_SETTLEMENT = "merchant_settlement"
    """Money owed to merchants for payments (and taken back by refunds)."""
    WITHDRAWAL_CLEARING = "withdrawal_clearing"
    """Money on its way out to users' bank accounts."""
    CREDIT_RECEIVABLE = "credit_receivable"
    """What borrowers owe on their credit lines."""
    INTEREST_INCOME = "interest_income"
    """Interest and penalties earned on credit."""
    REWARDS = "rewards"
    """Small rewards paid to users (a savings goal reached): what the company gave away."""


SYSTEM_ACCOUNT_SHARDS = 16
"""Each system account is split in shards: every payment credits merchant settlement, and on
PostgreSQL one row would be a lock that all payments queue on (measured: 6 of 16 writers
waiting). The account's balance is the sum of its shards."""


def system_account_id(kind: SystemAccount, currency: str, *, spread_by: str = "") -> str:
    """`sys_merchant_settlement_CNY_07`: the shard is picked from `spread_by` (a transfer id)."""
    shard = zlib.crc32(spread_by.encode()) % SYSTEM_ACCOUNT_SHARDS
    return f"sys_{kind.value}_{currency}_{shard:02d}"


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: a signed amount on one account (negative leaves the account)."""

    account_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class PostedEntry:
    entry_id: str
    balances_after: dict[str, int]


def open_account(
    conn: Connection,
    *,
    user_id: str | None,
    kind: str,
    currency: str,
    at: datetime,
    allow_negative: bool = False,
) -> str:
    account_id = new_id("acc")
    repository.insert_account(
        conn,
        account_id=account_id,
        user_id=user_id,
        kind=kind,
        currency=currency,
        allow_negative=allow_negative,
        at=at,
    )
    return account_id


def check_balanced(legs: Sequence[Leg]) -> None:
    """An entry needs two or more non-zero legs summing to zero."""
    if (
        len(legs) < 2
        or any(leg.amount == 0 for leg in legs)
        or sum(leg.amount for leg in legs) != 0
    ):
        raise UnbalancedEntry(f"legs {legs!r} do not balance")


def post_entry(
    conn: Connection,
    *,
    kind: str,
    reference: str | None,
    currency: str,
    legs: Sequence[Leg],
    at: datetime,
) -> PostedEntry:
    """Write one balanced entry and move the balances; refuses an overdraft atomically.

    Legs are applied in account-id order so concurrent entries lock rows in one order.
    """
    check_balanced(legs)
    entry_id = new_id("ent")
    ordered = sorted(legs, key=lambda leg: leg.account_id)
    if conn.dialect.name == "postgresql":
        at_once = repository.post_at_once(
            conn,
            entry_id=entry_id,
            kind=kind,
            reference=reference,
            currency=currency,
            legs=[(leg.account_id, leg.amount, new_id("pst")) for leg in ordered],
            at=at,
        )
        if at_once is not None:
            return PostedEntry(entry_id=entry_id, balances_after=at_once)
    balances: dict[str, int] = {}
    rows = []
    for leg in ordered:
        balance = repository.apply_amount(conn, leg.account_id, leg.amount)
        if balance is None and leg.account_id.startswith("sys_"):
            _create_system_account(conn, leg.account_id, currency, at)
            balance = repository.apply_amount(conn, leg.account_id, leg.amount)
        if balance is None:
            _refuse(conn, leg.account_id, leg.amount)
        balances[leg.account_id] = balance
        rows.append(
            {
                "id": new_id("pst"),
                "entry_id": entry_id,
                "account_id": leg.account_id,
                "amount": leg.amount,
                "currency": currency,
                "balance_after": balance,
                "created_at": at,
            }
        )
    repository.insert_postings(conn, rows)
    repository.insert_entry(conn, entry_id=entry_id, kind=kind, reference=reference, at=at)
    return PostedEntry(entry_id=entry_id, balances_after=balances)


def _refuse(conn: Connection, account_id: str, amount: int) -> NoReturn:
    """Why `apply_amount` refused: the range (rare, and checked only then), or the money."""
    account = repository.get_account(conn, account_id)
    if account is not None and not repository.in_range(int(account.balance) + amount):
        raise AmountOutOfRange(
            "this would take a balance past the largest amount the ledger holds",
            field="amount",
        )
    raise InsufficientFunds(
        "the wallet's available balance does not cover this amount", field="amount"
    )


def _create_system_account(conn: Connection, account_id: str, currency: str, at: datetime) -> None:
    kind = account_id.removeprefix("sys_").removesuffix(f"_{currency}_{account_id[-2:]}")
    repository.insert_account(
        conn,
        account_id=account_id,
        user_id=None,
        kind=SystemAccount(kind).value,
        currency=currency,
        allow_negative=True,
        at=at,
        if_missing=True,
    )


def place_hold(
    conn: Connection,
    *,
    account_id: str,
    amount: int,
    currency: str,
    reason: str,
    at: datetime,
    expires_at: datetime | None = None,
) -> str:
    """Reserve money so `available` drops while `balance` stays; nothing is posted yet."""
    account = repository.get_account(conn, account_id)
    if account is None or account.currency != currency:
        raise CurrencyMismatch(
            f"the account holds {account.currency if account else 'nothing'}, not {currency}",
            field="amount.currency",
        )
    if not repository.in_range(int(account.held) + amount):
        raise AmountOutOfRange(
            "this would take the held money past the largest amount the ledger holds",
            field="amount",
        )
    if not repository.change_held(conn, account_id, amount):
        raise InsufficientFunds(
            "the wallet's available balance does not cover this amount", field="amount"
        )
    hold_id = new_id("hld")
    repository.insert_hold(
        conn,
        {
            "id": hold_id,
            "account_id": account_id,
            "amount": amount,
            "currency": currency,
            "status": "active",
            "reason": reason,
            "expires_at": expires_at,
            "created_at": at,
        },
    )
    return hold_id


def covers(conn: Connection, account_id: str, amount: int) -> bool:
    """Whether the account's available balance (balance - held) covers `amount` now."""
    account = repository.get_account(conn, account_id)
    return account is not None and int(account.balance) - int(account.held) >= amount


def release_hold(conn: Connection, hold_id: str, *, at: datetime, status: str = "released") -> bool:
    """Give held money back to `available`; False when the hold was already settled."""
    hold = repository.get_hold(conn, hold_id)
    if hold is None or not repository.settle_hold(conn, hold_id, status=status, at=at):
        return False
    repository.change_held(conn, hold.account_id, -hold.amount)
    return True


@dataclass(frozen=True, slots=True)
class AccountCheck:
    account_id: str
    kind: str
    user_id: str | None
    currency: str
    balance: int
    held: int
    posted: int

    @property
    def consistent(self) -> bool:
        return self.balance == self.posted


@dataclass(frozen=True, slots=True)
class TrialBalance:
    accounts: list[AccountCheck]
    totals: dict[str, int]
    unbalanced_entries: list[str]

    @property
    def ok(self) -> bool:
        return (
            all(a.consistent for a in self.accounts)
            and all(total == 0 for total in self.totals.values())
            and not self.unbalanced_entries
        )


def trial_balance(conn: Connection) -> TrialBalance:
    """Prove every balance equals its postings and everything sums to zero per currency."""
    checks = [
        AccountCheck(
            account_id=row.id,
            kind=row.kind,
            user_id=row.user_id,
            currency=row.currency,
            balance=int(row.balance),
            held=int(row.held),
            posted=int(row.posted),
        )
        for row in repository.trial_balance(conn)
    ]
    return TrialBalance(
        accounts=checks,
        totals=repository.postings_total_by_currency(conn),
        unbalanced_entries=repository.unbalanced_entries(conn),
    )
