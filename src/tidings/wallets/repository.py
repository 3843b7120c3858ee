"""Every query of the wallets domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, case, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.kit.pagination import newest_first
from tidings.kit.prepared import Prepared
from tidings.kit.tables import AnyRow
from tidings.ledger.models import accounts, ledger_entries, postings
from tidings.users.models import users
from tidings.wallets.models import transfers, wallet_statement_runs, wallet_statements, wallets
from tidings.wallets.schemas import TransferStatus

_wallet_columns = (
    wallets,
    accounts.c.balance,
    accounts.c.held,
)


def insert_wallet(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(wallets), values)


def get_wallet(conn: Connection, wallet_id: str) -> AnyRow | None:
    stmt = select(*_wallet_columns).join(accounts, accounts.c.id == wallets.c.account_id)
    return conn.execute(stmt.where(wallets.c.id == wallet_id)).first()


_LOCKED_WALLETS = (
    select(
        wallets.c.id,
        wallets.c.user_id,
        wallets.c.account_id,
        wallets.c.kind,
        wallets.c.status,
        wallets.c.currency,
        wallets.c.frozen_at,
        # A sub-wallet's budget and goal, tracked on the posting path without a query more.
        wallets.c.name,
        wallets.c.budget_limit,
        wallets.c.budget_period,
        wallets.c.budget_alert_percent,
        wallets.c.goal_target,
        # Read here, not in a second query: every debit of a main wallet compares with it,
        # and every scored one needs the owner's day and own step-up amount.
        users.c.low_balance_threshold,
        users.c.timezone,
        users.c.locale,
        users.c.step_up_amount,
    )
    .join(users, users.c.id == wallets.c.user_id)
    .order_by(wallets.c.id)
    .with_for_update(of=wallets)
)


class LockedWallet(NamedTuple):
    """A wallet as a money movement locks it, with what its posting reads of its owner."""

    id: str
    user_id: str
    account_id: str
    kind: str
    status: str
    currency: str
    frozen_at: datetime | None
    name: str
    budget_limit: int | None
    budget_period: str | None
    budget_alert_percent: int | None
    goal_target: int | None
    low_balance_threshold: int
    timezone: str
    locale: str
    step_up_amount: int | None


assert LockedWallet._fields == tuple(_LOCKED_WALLETS.selected_columns.keys())

# One statement per count of wallets (a transfer has one or two), prepared: an expanding `IN`
# is re-rendered on every execution, and the usual path costs a cache key and a `Row` each.
_LOCK_WALLETS = {
    1: Prepared(_LOCKED_WALLETS.where(wallets.c.id == bindparam("w0"))),
    2: Prepared(_LOCKED_WALLETS.where(wallets.c.id.in_([bindparam("w0"), bindparam("w1")]))),
}
_INSERT_TRANSFER = Prepared(insert(transfers))


def lock_wallets(conn: Connection, wallet_ids: Sequence[str]) -> dict[str, LockedWallet]:
    """Load wallets for a money movement, row-locked in id order on PostgreSQL."""
    ids = list(dict.fromkeys(wallet_ids))
    prepared = _LOCK_WALLETS.get(len(ids))
    if prepared is None:
        rows = [tuple(row) for row in conn.execute(_LOCKED_WALLETS.where(wallets.c.id.in_(ids)))]
    else:
        rows = prepared.rows(conn, {f"w{n}": wallet_id for n, wallet_id in enumerate(ids)})
    locked = [LockedWallet._make(row) for row in rows]
    return {wallet.id: wallet for wallet in locked}


def list_user_wallets(conn: Connection, user_id: str) -> list[AnyRow]:
    stmt = (
        select(*_wallet_columns)
        .join(accounts, accounts.c.id == wallets.c.account_id)
        .where(wallets.c.user_id == user_id)
        .order_by(wallets.c.id)
    )
    return list(conn.execute(stmt))


def wallet_owner(conn: Connection, wallet_id: str) -> str | None:
    return conn.execute(
        select(wallets.c.user_id).where(wallets.c.id == wallet_id)
    ).scalar_one_or_none()


def set_frozen(conn: Connection, wallet_ids: Sequence[str], *, frozen_at: datetime | None) -> None:
    stmt = update(wallets).where(wallets.c.id.in_(list(wallet_ids))).values(frozen_at=frozen_at)
    conn.execute(stmt)


def lock_user_wallets(conn: Connection, user_id: str) -> list[AnyRow]:
    stmt = (
        select(wallets.c.id, wallets.c.user_id, wallets.c.kind, wallets.c.frozen_at)
        .where(wallets.c.user_id == user_id)
        .order_by(wallets.c.id)
        .with_for_update()
    )
    return list(conn.execute(stmt))


def wallet_owner_and_kind(conn: Connection, wallet_id: str) -> AnyRow | None:
    stmt = select(wallets.c.id, wallets.c.user_id, wallets.c.kind, wallets.c.frozen_at).where(
        wallets.c.id == wallet_id
    )
    return conn.execute(stmt).first()


def close_wallet(conn: Connection, wallet_id: str, at: datetime) -> None:
    stmt = update(wallets).where(wallets.c.id == wallet_id).values(status="closed", closed_at=at)
    conn.execute(stmt)


def insert_transfer(conn: Connection, values: dict[str, Any]) -> None:
    _INSERT_TRANSFER.execute(conn, values)


def complete_transfer(conn: Connection, transfer_id: str, *, entry_id: str) -> None:
    """A held transfer was verified and posted."""
    stmt = (
        update(transfers)
        .where(transfers.c.id == transfer_id)
        .values(status=TransferStatus.SUCCEEDED.value, entry_id=entry_id)
    )
    conn.execute(stmt)


def set_transfer_status(conn: Connection, transfer_id: str, *, status: TransferStatus) -> None:
    """A held transfer ended unposted (cancelled or expired)."""
    stmt = update(transfers).where(transfers.c.id == transfer_id).values(status=status.value)
    conn.execute(stmt)


def held_transfers_of_user(conn: Connection, user_id: str) -> list[str]:
    """Ids of the user's transfers held for a code, oldest first."""
    t = transfers.c
    stmt = select(t.id).where(
        t.user_id == user_id, t.status == TransferStatus.PENDING_VERIFICATION.value
    )
    return list(conn.execute(stmt.order_by(t.id)).scalars())


def get_transfer(conn: Connection, transfer_id: str) -> AnyRow | None:
    return conn.execute(select(transfers).where(transfers.c.id == transfer_id)).first()


def lock_transfer(conn: Connection, transfer_id: str) -> AnyRow | None:
    """A transfer row-locked until the end of the transaction (PostgreSQL; on SQLite the
    writer lock already serialises): the lock that moving a held transfer also takes."""
    stmt = select(transfers).where(transfers.c.id == transfer_id).with_for_update()
    return conn.execute(stmt).first()


def add_refunded(conn: Connection, payment_id: str, amount: int) -> bool:
    """Count a refund against its succeeded payment; False when it would exceed it."""
    stmt = (
        update(transfers)
        .where(
            transfers.c.id == payment_id,
            transfers.c.status == TransferStatus.SUCCEEDED.value,
            transfers.c.refunded_amount <= transfers.c.amount - amount,
        )
        .values(refunded_amount=transfers.c.refunded_amount + amount)
    )
    return conn.execute(stmt).rowcount == 1


def list_transactions(
    conn: Connection,
    account_id: str,
    *,
    before_id: str | None,
    limit: int,
    kinds: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> list[AnyRow]:
    """The account's postings newest first, each with its transfer's details."""
    stmt = (
        select(
            postings.c.id,
            postings.c.amount,
            postings.c.currency,
            postings.c.balance_after,
            postings.c.created_at,
            ledger_entries.c.kind,
            transfers.c.id.label("transfer_id"),
            transfers.c.source_wallet_id,
            transfers.c.destination_wallet_id,
            transfers.c.merchant_name,
            transfers.c.merchant_category,
            transfers.c.memo,
            transfers.c.user_id.label("memo_owner"),
        )
        .join(ledger_entries, ledger_entries.c.id == postings.c.entry_id)
        .outerjoin(transfers, transfers.c.id == ledger_entries.c.reference)
        .where(postings.c.account_id == account_id)
    )
    stmt = newest_first(stmt, postings.c.id, before_id=before_id, limit=limit)
    if kinds:
        stmt = stmt.where(ledger_entries.c.kind.in_(kinds))
    if since is not None:
        stmt = stmt.where(postings.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(postings.c.created_at < until)
    return list(conn.execute(stmt))


# -- monthly statements -------------------------------------------------------------------


def timezones_with_main_wallets(conn: Connection) -> list[str]:
    stmt = (
        select(users.c.timezone)
        .join(wallets, wallets.c.user_id == users.c.id)
        .where(wallets.c.kind == "main")
        .distinct()
    )
    return list(conn.execute(stmt).scalars())


def claim_statement_run(
    conn: Connection, *, timezone: str, period_start: date, at: datetime
) -> bool:
    """Mark (time zone, month) as done; False when an earlier or concurrent run has it."""
    table = wallet_statement_runs
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        dialect_insert(table)
        .values(timezone=timezone, period_start=period_start, statements=0, created_at=at)
        .on_conflict_do_nothing()
        .returning(table.c.timezone)
    )
    return conn.execute(stmt).first() is not None


def finish_statement_run(
    conn: Connection, *, timezone: str, period_start: date, statements: int
) -> None:
    table = wallet_statement_runs
    conn.execute(
        update(table)
        .where(table.c.timezone == timezone, table.c.period_start == period_start)
        .values(statements=statements)
    )


SUB_WALLET_MOVES = ("allocation",)
"""Ledger entry kinds that move money between a user's main wallet and their own sub-wallets."""


def statement_figures(
    conn: Connection, *, timezone: str, start: datetime, end: datetime
) -> list[AnyRow]:
    """Per main wallet of users in `timezone` that moved money in [start, end): money in and
    out, the moves to and from the user's own sub-wallets (allocations, which are neither,
    and the balance a closed sub-wallet sends back), the net of every
    posting in the period and after it, and the balance now — so the closing balance is
    `balance - after`, exact whatever order postings' ids have."""
    in_period = postings.c.created_at < end
    own = ledger_entries.c.kind.in_(SUB_WALLET_MOVES)
    counted = in_period & ~own
    moved = in_period & own
    zero = literal(0)
    stmt = (
        select(
            wallets.c.id.label("wallet_id"),
            wallets.c.user_id,
            wallets.c.currency,
            accounts.c.balance,
            func.sum(
                case((counted & (postings.c.amount > 0), postings.c.amount), else_=zero)
            ).label("total_in"),
            func.sum(
                case((counted & (postings.c.amount < 0), -postings.c.amount), else_=zero)
            ).label("total_out"),
            func.sum(case((moved & (postings.c.amount < 0), -postings.c.amount), else_=zero)).label(
                "moved_to"
            ),
            func.sum(case((moved & (postings.c.amount > 0), postings.c.amount), else_=zero)).label(
                "moved_from"
            ),
            func.sum(case((in_period, postings.c.amount), else_=zero)).label("net"),
            func.sum(case((~in_period, postings.c.amount), else_=zero)).label("after"),
            func.count(case((in_period, postings.c.id))).label("entries"),
        )
        .join(users, users.c.id == wallets.c.user_id)
        .join(accounts, accounts.c.id == wallets.c.account_id)
        .join(postings, postings.c.account_id == wallets.c.account_id)
        .join(ledger_entries, ledger_entries.c.id == postings.c.entry_id)
        .where(
            wallets.c.kind == "main", users.c.timezone == timezone, postings.c.created_at >= start
        )
        .group_by(wallets.c.id, wallets.c.user_id, wallets.c.currency, accounts.c.balance)
        .having(func.count(case((in_period, postings.c.id))) > 0)
        .order_by(wallets.c.id)
    )
    return list(conn.execute(stmt))


def insert_statements(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(wallet_statements), list(rows))


def list_statements(
    conn: Connection, wallet_id: str, *, before_id: str | None, limit: int
) -> list[AnyRow]:
    stmt = select(wallet_statements).where(wallet_statements.c.wallet_id == wallet_id)
    return list(
        conn.execute(newest_first(stmt, wallet_statements.c.id, before_id=before_id, limit=limit))
    )
