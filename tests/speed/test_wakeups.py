"""A commit that writes work wakes the loops waiting for it; a rollback wakes nobody; on
PostgreSQL another process's commit wakes this one through LISTEN/NOTIFY."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tidings.events import record_event
from tidings.kit.db import make_engine, write_transaction
from tidings.kit.wakeups import Channel, doorbell, listen

WAIT_S = 30.0
"""Generous: the test asserts that the ring comes, never how fast."""


def _record(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        record_event(conn, type="test.wakeup", user_id=None, data={}, at=datetime.now(UTC))


def test_a_committed_outbox_event_rings_the_outbox_in_this_process(engine: Engine) -> None:
    woken = doorbell(engine, Channel.OUTBOX).subscribe()
    _record(engine)
    assert woken.is_set()


def test_a_rolled_back_event_rings_nobody(engine: Engine) -> None:
    woken = doorbell(engine, Channel.OUTBOX).subscribe()

    def change_mind() -> None:
        with write_transaction(engine) as conn:
            record_event(conn, type="test.wakeup", user_id=None, data={}, at=datetime.now(UTC))
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        change_mind()
    assert not woken.is_set()
    _record(engine)  # the connection forgot the rolled-back ring: only this one counts
    assert woken.is_set()


def test_another_engines_commit_wakes_a_listener_on_postgresql(
    engine: Engine, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's other processes are seen through data_version (the e2e tests)")
    stop = threading.Event()
    woken = doorbell(engine, Channel.OUTBOX).subscribe()
    listener = threading.Thread(target=listen, args=(engine, stop), kwargs={"check_every_s": 0.1})
    listener.start()
    try:
        assert woken.wait(WAIT_S)  # listening: it rings every channel once at the start
        woken.clear()
        other = make_engine(database_url)  # another process's engine: no in-process ring
        try:
            _record(other)
        finally:
            other.dispose()
        assert woken.wait(WAIT_S)
    finally:
        stop.set()
        listener.join()
