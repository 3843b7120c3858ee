"""A woken worker loop lingers a moment before it claims, so events committed one after
another are relayed together: one transaction's fixed work for many events, not one each."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from tidings.app.context import AppContext
from tidings.app.notify import relay_loop
from tidings.events import outbox, record_event
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.wakeups import Channel, ring

WAIT_S = 30.0
"""Generous: the test asserts that the events are relayed, never how fast."""
EVENTS = 10


def _record(context: AppContext, event_type: str) -> None:
    with write_transaction(context.engine) as conn:
        record_event(conn, type=event_type, user_id=None, data={}, at=datetime.now(UTC))


def _relay_batches(context: AppContext, event_type: str) -> tuple[int, int]:
    """How many events of `event_type` are relayed, and in how many batches (a batch stamps
    its events with one `relayed_at`)."""
    with read_transaction(context.engine) as conn:
        row = conn.execute(
            select(
                func.count(outbox.c.relayed_at), func.count(outbox.c.relayed_at.distinct())
            ).where(outbox.c.type == event_type)
        ).one()
    return row[0], row[1]


def _wait_relayed(context: AppContext, event_type: str, count: int) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        relayed, batches = _relay_batches(context, event_type)
        if relayed == count:
            return batches
        time.sleep(0.02)
    raise AssertionError(f"{count} {event_type} events not relayed within {WAIT_S} s")


def test_events_committed_one_after_another_are_relayed_in_one_batch(
    context: AppContext,
) -> None:
    context.settings.worker_linger_ms = 1_000
    context.settings.worker_idle_ms = 60_000  # only a ring can wake the relay in time
    stop = threading.Event()
    relay = threading.Thread(target=relay_loop, args=(context, stop))
    relay.start()
    try:
        _record(context, "test.settle")  # the relay has started and is waiting again
        _wait_relayed(context, "test.settle", 1)
        for _ in range(EVENTS):
            _record(context, "test.linger")
            time.sleep(0.02)  # without the linger, each would be a batch of its own
        batches = _wait_relayed(context, "test.linger", EVENTS)
    finally:
        stop.set()
        ring(context.engine, Channel)  # as a worker's shutdown: the waiting relay sees `stop`
        relay.join()
    assert batches <= 2  # one, or two when the relay's first wake-up was still lingering
