"""Reading the outbox after a stored cursor, for jobs that turn events into follow-up work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection
from ulid import ULID

from tidings.feedback import repository
from tidings.kit.tables import AnyRow

LATE_COMMIT = timedelta(minutes=2)
"""How far behind its cursor a job re-reads: a transaction that took an outbox id earlier but
committed later is still seen (what was handled is skipped by `followup_seen_events`)."""
BATCH = 5000


def lower_bound(at: datetime) -> str:
    """The smallest outbox id made at `at` (ids are `evt_` + a ULID, time first)."""
    return "evt_" + str(ULID.from_datetime(at))[:10] + "0" * 16


def unread(conn: Connection, job: str, types: Iterable[str], *, now: datetime) -> list[AnyRow]:
    """Events of `types` the job has not handled, oldest first (a job reading for the first
    time reads the whole outbox once; the caller skips events older than it cares about)."""
    stored = repository.cursor_position(conn, job) or ""
    after = min(stored, lower_bound(now - LATE_COMMIT))
    return repository.unseen_events(conn, job=job, types=types, after=after, limit=BATCH)


def handled(conn: Connection, job: str, rows: Sequence[AnyRow]) -> None:
    """Remember the events as handled and move the cursor past them."""
    if not rows:
        return
    repository.mark_seen(conn, job, [r.id for r in rows])
    stored = repository.cursor_position(conn, job) or ""
    repository.set_cursor(conn, job, max(stored, rows[-1].id))
