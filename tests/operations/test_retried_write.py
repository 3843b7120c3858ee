"""`retried_write`: a job's or a route's write, in one transaction, run again whole when the
database asks (SQLite's "database is locked", a PostgreSQL serialization failure), and
never when the error would only come back."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from tidings.kit.db import database_locked, read_transaction, retried_write, write_transaction


@pytest.fixture
def ledger_of_writes(engine: Engine) -> Engine:
    """A table of its own, so that what was committed is all that is in it."""
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE written (what VARCHAR(20) NOT NULL)"))
    return engine


def _committed(engine: Engine) -> list[str]:
    with read_transaction(engine) as conn:
        return list(conn.execute(text("SELECT what FROM written")).scalars())


Write = Callable[[Connection], str]


def _paying(tries: list[int], refusal: Callable[[int], Exception | None]) -> Write:
    """A write that counts its try, writes a payment, then raises what `refusal` gives for
    that try (None: it is done)."""

    def write(conn: Connection) -> str:
        tries.append(len(tries) + 1)
        conn.execute(text("INSERT INTO written (what) VALUES (:what)"), {"what": "payment"})
        refused = refusal(len(tries))
        if refused is not None:
            raise refused
        return "done"

    return write


def test_a_write_refused_once_with_database_is_locked_is_run_again_and_committed_once(
    ledger_of_writes: Engine,
) -> None:
    tries: list[int] = []
    # the first try: another writer kept the database past the busy timeout
    write = _paying(
        tries, lambda n: database_locked(Path("tidings.db.writer"), 30.0) if n == 1 else None
    )

    assert retried_write(ledger_of_writes, write) == "done"

    assert tries == [1, 2]
    assert _committed(ledger_of_writes) == ["payment"]  # the refused try left nothing behind


def test_a_write_failing_for_good_is_not_run_again_and_nothing_of_it_is_committed(
    ledger_of_writes: Engine,
) -> None:
    tries: list[int] = []
    disk_failed = OperationalError("INSERT", None, sqlite3.OperationalError("disk I/O error"))
    write = _paying(tries, lambda n: disk_failed)

    with pytest.raises(OperationalError, match="disk I/O error"):
        retried_write(ledger_of_writes, write)

    assert tries == [1]
    assert _committed(ledger_of_writes) == []


def test_a_refusal_of_the_work_itself_is_raised_at_once_and_nothing_is_committed(
    ledger_of_writes: Engine,
) -> None:
    tries: list[int] = []
    write = _paying(tries, lambda n: ValueError("not enough money"))

    with pytest.raises(ValueError, match="not enough money"):
        retried_write(ledger_of_writes, write)

    assert tries == [1]
    assert _committed(ledger_of_writes) == []
