"""The database itself refuses to break the books, whoever writes to it.

These tests bypass the services and write SQL straight through the engine, as a buggy
migration, a console session or a future code path might. Each refused write must leave
nothing behind: no posting, no entry, no changed balance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tests.ledger.builders import (
    account_of,
    assert_trial_balance_ok,
    new_user,
    top_up,
)
from tidings.app.context import AppContext
from tidings.kit.db import read_transaction
from tidings.kit.ids import new_id
from tidings.ledger.models import accounts, ledger_entries, postings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Books:
    """A user's wallet with 10 000 fen on it, put there by a real top-up."""

    engine: Engine
    wallet_account: str
    top_up_entry: str
    clearing_account: str
    """The outside-world account the top-up came from (it may go negative)."""


@pytest.fixture
def books(context: AppContext) -> Books:
    _, wallet = new_user(context)
    done = top_up(context, wallet, 10_000)
    wallet_account = account_of(context.engine, wallet)
    with read_transaction(context.engine) as conn:
        entry_id, clearing_account = conn.execute(
            select(ledger_entries.c.id, postings.c.account_id)
            .join(postings, postings.c.entry_id == ledger_entries.c.id)
            .where(ledger_entries.c.reference == done.id, postings.c.account_id != wallet_account)
        ).one()
    return Books(context.engine, wallet_account, entry_id, clearing_account)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything a refused write could have touched."""
    with read_transaction(engine) as conn:
        return {
            "postings": sorted(map(tuple, conn.execute(select(postings)).all())),
            "entries": conn.execute(select(func.count()).select_from(ledger_entries)).scalar(),
            "accounts": sorted(
                map(tuple, conn.execute(select(accounts.c.id, accounts.c.balance, accounts.c.held)))
            ),
        }


@contextmanager
def refused(books: Books, match: str) -> Iterator[Connection]:
    """A raw write transaction the database must refuse, leaving the books as they were."""
    before = snapshot(books.engine)
    with pytest.raises(IntegrityError, match=match), books.engine.begin() as conn:
        yield conn
    assert snapshot(books.engine) == before
    with read_transaction(books.engine) as conn:
        assert_trial_balance_ok(conn)


def write_entry(
    conn: Connection,
    legs: list[tuple[str, int, str]],
    *,
    entry_id: str | None = None,
    with_entry: bool = True,
) -> str:
    """Post (account, amount, currency) legs by hand, moving the balances as the service does."""
    entry_id = entry_id or new_id("ent")
    for account_id, amount, currency in legs:
        new_balance = conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(balance=accounts.c.balance + amount)
            .returning(accounts.c.balance)
        ).scalar_one()
        conn.execute(
            insert(postings),
            {
                "id": new_id("pst"),
                "entry_id": entry_id,
                "account_id": account_id,
                "amount": amount,
                "currency": currency,
                "balance_after": new_balance,
                "created_at": NOW,
            },
        )
    if with_entry:
        conn.execute(
            insert(ledger_entries),
            {"id": entry_id, "kind": "top_up", "reference": None, "created_at": NOW},
        )
    return entry_id


def test_a_balanced_entry_written_by_hand_is_accepted(books: Books) -> None:
    """The control case: the refusals below are about the money, not about the SQL."""
    with books.engine.begin() as conn:
        entry_id = write_entry(
            conn, [(books.wallet_account, 500, "CNY"), (books.clearing_account, -500, "CNY")]
        )
    with read_transaction(books.engine) as conn:
        assert conn.execute(select(func.count()).where(postings.c.entry_id == entry_id)).scalar()
        assert_trial_balance_ok(conn)
        # The outside world's accounts may go below zero: money the world put in.
        clearing = conn.execute(
            select(accounts.c.balance).where(accounts.c.id == books.clearing_account)
        ).scalar_one()
    assert clearing == -10_500


def test_an_entry_whose_postings_do_not_sum_to_zero_is_refused(
    books: Books, subtests: pytest.Subtests
) -> None:
    wallet, clearing = books.wallet_account, books.clearing_account
    shapes = {
        "a single leg": [(wallet, 500, "CNY")],
        "legs 100 fen apart": [(wallet, 500, "CNY"), (clearing, -400, "CNY")],
        "equal amounts in two currencies": [(wallet, 500, "CNY"), (clearing, -500, "USD")],
    }
    for shape, legs in shapes.items():
        with subtests.test(shape), refused(books, "unbalanced ledger entry") as conn:
            write_entry(conn, legs)


def test_postings_without_their_entry_are_refused_at_commit(books: Books) -> None:
    with refused(books, r"(?i)foreign key") as conn:
        write_entry(
            conn,
            [(books.wallet_account, 500, "CNY"), (books.clearing_account, -500, "CNY")],
            with_entry=False,
        )


def test_a_written_entry_takes_no_extra_unbalanced_posting(books: Books) -> None:
    """SQLite refuses at once (the entry is closed); PostgreSQL refuses at commit."""
    with refused(books, r"already closed|unbalanced ledger entry") as conn:
        write_entry(
            conn,
            [(books.wallet_account, 1, "CNY")],
            entry_id=books.top_up_entry,
            with_entry=False,
        )


def test_a_written_entry_takes_no_posting_at_all_even_a_balanced_pair(
    books: Books,
) -> None:
    with refused(books, "already closed") as conn:
        write_entry(
            conn,
            [(books.wallet_account, 1, "CNY"), (books.clearing_account, -1, "CNY")],
            entry_id=books.top_up_entry,
            with_entry=False,
        )


def test_a_written_posting_can_be_neither_changed_nor_deleted(
    books: Books, subtests: pytest.Subtests
) -> None:
    statements = {
        "change its amount": "UPDATE postings SET amount = amount + 1",
        "change its balance_after": "UPDATE postings SET balance_after = 0",
        "touch it without a change": "UPDATE postings SET created_at = created_at",
        "delete it": "DELETE FROM postings",
    }
    for attempt, statement in statements.items():
        with subtests.test(attempt), refused(books, "append-only") as conn:
            conn.execute(
                text(f"{statement} WHERE entry_id = :entry"), {"entry": books.top_up_entry}
            )


def test_a_written_entry_cannot_be_deleted_from_under_its_postings(books: Books) -> None:
    with refused(books, r"(?i)foreign key") as conn:
        conn.execute(
            text("DELETE FROM ledger_entries WHERE id = :entry"), {"entry": books.top_up_entry}
        )


def test_a_wallet_account_cannot_go_below_zero(books: Books, subtests: pytest.Subtests) -> None:
    changes = {
        "balance below zero": ("balance = -1", "no_overdraft"),
        "holding more than the balance": ("held = balance + 1", "no_overdraft"),
        "a negative hold": ("held = -1", "held_not_negative"),
    }
    for change, (assignment, constraint) in changes.items():
        with subtests.test(change), refused(books, constraint) as conn:
            conn.execute(
                text(f"UPDATE accounts SET {assignment} WHERE id = :id"),
                {"id": books.wallet_account},
            )


def test_a_balanced_entry_that_overdraws_a_wallet_is_refused_whole(books: Books) -> None:
    """The postings written before the overdraft in the same transaction go too."""
    with refused(books, "no_overdraft") as conn:
        write_entry(
            conn, [(books.clearing_account, 10_001, "CNY"), (books.wallet_account, -10_001, "CNY")]
        )
