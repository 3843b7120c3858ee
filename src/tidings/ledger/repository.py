"""Every query of the ledger, in SQLAlchemy Core (the hot path of every transfer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.kit.prepared import Prepared, driver_rows
from tidings.kit.tables import AnyRow
from tidings.ledger.models import accounts, holds, ledger_entries, postings


def insert_account(
    conn: Connection,
    *,
    account_id: str,
    user_id: str | None,
    kind: str,
    currency: str,
    allow_negative: bool,
    at: datetime,
    if_missing: bool = False,
) -> None:
    values = {
        "id": account_id,
        "user_id": user_id,
        "kind": kind,
        "currency": currency,
        "allow_negative": allow_negative,
        "created_at": at,
    }
    if not if_missing:
        conn.execute(insert(accounts), values)
        return
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(accounts).values(values).on_conflict_do_nothing())


# Statements on the path of every transfer are built once: SQLAlchemy then reuses their
# compiled form instead of rebuilding the expression tree per call (measured: half the CPU).
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
"""What a money column holds (BIGINT; SQLite's INTEGER). Every comparison below is written so
that no intermediate result can leave this range either: PostgreSQL would raise, SQLite would
silently turn the value into a REAL."""

_amount = bindparam("amount", type_=BigInteger)
_APPLY_AMOUNT = Prepared(
    update(accounts)
    .where(
        accounts.c.id == bindparam("account_id"),
        accounts.c.balance <= bindparam("highest", type_=BigInteger),
        accounts.c.balance >= bindparam("lowest", type_=BigInteger),
        or_(
            accounts.c.allow_negative,
            accounts.c.balance - accounts.c.held >= bindparam("debit", type_=BigInteger),
        ),
    )
    .values(balance=accounts.c.balance + _amount)
    .returning(accounts.c.balance)
)
_INSERT_POSTINGS = Prepared(insert(postings))
_INSERT_ENTRY = Prepared(insert(ledger_entries))


def apply_amount(conn: Connection, account_id: str, amount: int) -> int | None:
    """Add a signed amount unless that would overdraw or leave the 64-bit range; the new
    balance, or None if refused (`in_range` tells which)."""
    params = {"account_id": account_id, **_amount_params(amount)}
    moved = _APPLY_AMOUNT.rows(conn, params)
    balance: int | None = moved[0][0] if moved else None
    return balance


def _amount_params(amount: int) -> dict[str, int]:
    """`apply_amount`'s bounds for one signed amount: the balance stays in range, and a debit
    needs that much money available (unless the account may go negative)."""
    return {
        "amount": amount,
        "highest": INT64_MAX - max(amount, 0),
        "lowest": INT64_MIN - min(amount, 0),
        "debit": -amount,
    }


@cache
def _post_at_once_sql(legs: int) -> str:
    """PostgreSQL: an entry of `legs` legs in one statement (see `post_at_once`)."""
    values = ", ".join(
        f"(%(account_{n})s::varchar, %(amount_{n})s::bigint, %(highest_{n})s::bigint, "
        f"%(lowest_{n})s::bigint, %(debit_{n})s::bigint, %(posting_{n})s::varchar)"
        for n in range(legs)
    )
    # Only placeholders and the count are put in: every value is bound.
    return f"""
WITH legs (account_id, amount, highest, lowest, debit, posting_id) AS (VALUES {values}),
locked AS MATERIALIZED (
    SELECT accounts.id FROM accounts JOIN legs ON legs.account_id = accounts.id
    ORDER BY accounts.id FOR UPDATE OF accounts
),
moved AS (
    UPDATE accounts SET balance = accounts.balance + legs.amount
    FROM legs, locked
    WHERE accounts.id = legs.account_id AND locked.id = accounts.id
      AND accounts.balance <= legs.highest AND accounts.balance >= legs.lowest
      AND (accounts.allow_negative OR accounts.balance - accounts.held >= legs.debit)
    RETURNING accounts.id, accounts.balance, legs.amount, legs.posting_id
),
posted AS (
    INSERT INTO postings (id, entry_id, account_id, amount, currency, balance_after, created_at)
    SELECT moved.posting_id, %(entry_id)s::varchar, moved.id, moved.amount,
           %(currency)s::varchar, moved.balance, %(at)s::timestamptz
    FROM moved WHERE (SELECT count(*) FROM moved) = {legs}
    RETURNING id
),
entry AS (  -- after its postings (it closes the entry), so it reads them
    INSERT INTO ledger_entries (id, kind, reference, created_at)
    SELECT %(entry_id)s::varchar, %(kind)s::varchar, %(reference)s::varchar,
           %(at)s::timestamptz
    WHERE (SELECT count(*) FROM posted) = {legs}
)
SELECT id, balance, amount FROM moved"""  # noqa: S608


def post_at_once(
    conn: Connection,
    *,
    entry_id: str,
    kind: str,
    reference: str | None,
    currency: str,
    legs: Sequence[tuple[str, int, str]],
    at: datetime,
) -> dict[str, int] | None:
    """PostgreSQL: lock the legs' accounts in id order, move their balances, write the entry
    and its postings, in one statement (one round trip instead of four); the balances after,
    by account. Each leg is (account id, signed amount, posting id).

    When any leg is refused (no money, out of range, a system account not yet opened),
    nothing is written and the legs that had moved are moved back: None, and the caller
    takes the leg-by-leg path, which says why or opens the account."""
    params: dict[str, Any] = {
        "entry_id": entry_id,
        "kind": kind,
        "reference": reference,
        "currency": currency,
        "at": at,
    }
    for n, (account_id, amount, posting_id) in enumerate(legs):
        params[f"account_{n}"], params[f"posting_{n}"] = account_id, posting_id
        params.update({f"{name}_{n}": value for name, value in _amount_params(amount).items()})
    moved = driver_rows(conn, _post_at_once_sql(len(legs)), params)
    if len(moved) == len(legs):
        return {account_id: int(balance) for account_id, balance, _ in moved}
    for account_id, _, amount in moved:  # still locked by this transaction: put back what moved
        conn.exec_driver_sql(
            "UPDATE accounts SET balance = balance - %(amount)s::bigint WHERE id = %(id)s::varchar",
            {"amount": int(amount), "id": account_id},
        )
    return None


def in_range(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def insert_postings(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    _INSERT_POSTINGS.execute(conn, rows)


def insert_entry(
    conn: Connection, *, entry_id: str, kind: str, reference: str | None, at: datetime
) -> None:
    _INSERT_ENTRY.execute(
        conn, {"id": entry_id, "kind": kind, "reference": reference, "created_at": at}
    )


def get_account(conn: Connection, account_id: str) -> AnyRow | None:
    return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()


def change_held(conn: Connection, account_id: str, amount: int) -> bool:
    """Reserve (positive) or release (negative) money; False when it is not available."""
    stmt = (
        update(accounts)
        .where(
            accounts.c.id == account_id,
            or_(accounts.c.allow_negative, accounts.c.balance - accounts.c.held >= amount),
            accounts.c.held >= -amount,
            accounts.c.held <= INT64_MAX - max(amount, 0),
        )
        .values(held=accounts.c.held + amount)
    )
    return conn.execute(stmt).rowcount == 1


def insert_hold(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(holds), values)


def get_hold(conn: Connection, hold_id: str) -> AnyRow | None:
    return conn.execute(select(holds).where(holds.c.id == hold_id)).first()


def settle_hold(conn: Connection, hold_id: str, *, status: str, at: datetime) -> bool:
    """Move an active hold to its final status once; False when it was no longer active."""
    stmt = (
        update(holds)
        .where(holds.c.id == hold_id, holds.c.status == "active")
        .values(status=status, settled_at=at)
    )
    return conn.execute(stmt).rowcount == 1


def trial_balance(conn: Connection) -> list[AnyRow]:
    """Each account's stored balance beside the sum of its postings."""
    sums = (
        select(postings.c.account_id, func.sum(postings.c.amount).label("posted"))
        .group_by(postings.c.account_id)
        .subquery()
    )
    stmt = (
        select(
            accounts.c.id,
            accounts.c.kind,
            accounts.c.user_id,
            accounts.c.currency,
            accounts.c.balance,
            accounts.c.held,
            func.coalesce(sums.c.posted, 0).label("posted"),
        )
        .select_from(accounts.outerjoin(sums, and_(sums.c.account_id == accounts.c.id)))
        .order_by(accounts.c.id)
    )
    return list(conn.execute(stmt))


def unbalanced_entries(conn: Connection) -> list[str]:
    """Ids of entries whose postings do not sum to zero per currency (should be none)."""
    stmt = (
        select(postings.c.entry_id)
        .group_by(postings.c.entry_id, postings.c.currency)
        .having(func.sum(postings.c.amount) != 0)
    )
    return list(conn.execute(stmt).scalars())


def postings_total_by_currency(conn: Connection) -> dict[str, int]:
    """Summed per account in SQL (each within an account's 64-bit range), then per currency
    here: the shards of a system account together may pass what one SQL integer holds."""
    stmt = select(postings.c.currency, func.sum(postings.c.amount)).group_by(
        postings.c.account_id, postings.c.currency
    )
    totals: dict[str, int] = {}
    for currency, total in conn.execute(stmt):
        totals[currency] = totals.get(currency, 0) + int(total)
    return totals
