"""Fixed-window counters in the database, so every serve process shares one limit.

The one rate-limit mechanism: token issuance and code attempts (risk) and failed
authentication (the API toolkit) count here, under keys of their own (`scope:who`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Connection, Index, Integer, PrimaryKeyConstraint, String, Table
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.kit.tables import Timestamp, metadata

rate_limit_counters = Table(
    "rate_limit_counters",
    metadata,
    Column("key", String(120), nullable=False),
    Column("window_start", Timestamp, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit_counters"),
    Index("ix_rate_limit_counters_window_start", "window_start"),
)
"""Fixed-window counters in the database, so every serve process shares one limit."""


def window_of(at: datetime, window: timedelta) -> tuple[datetime, int]:
    """The start of the fixed window `at` falls in, and the whole seconds until it ends."""
    seconds = int(window.total_seconds())
    epoch = int(at.timestamp())
    start = epoch - epoch % seconds
    return datetime.fromtimestamp(start, tz=UTC), max(1, start + seconds - epoch)


def count_hit(conn: Connection, key: str, window_start: datetime) -> int:
    """Add one hit to the key's window; the window's count after it (an atomic upsert)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    upsert = (
        dialect_insert(rate_limit_counters)
        .values(key=key, window_start=window_start, count=1)
        .on_conflict_do_update(
            index_elements=[rate_limit_counters.c.key, rate_limit_counters.c.window_start],
            set_={"count": rate_limit_counters.c.count + 1},
        )
        .returning(rate_limit_counters.c.count)
    )
    return int(conn.execute(upsert).scalar_one())


def hits(conn: Connection, key: str, window_start: datetime) -> int:
    """The key's count in the window, without adding to it."""
    c = rate_limit_counters.c
    stmt = sa_select(c.count).where(c.key == key, c.window_start == window_start)
    return int(conn.execute(stmt).scalar_one_or_none() or 0)


def count_request(
    conn: Connection, *, key: str, limit: int, window: timedelta, at: datetime
) -> int | None:
    """Count one request against a fixed window shared by every process.

    None while within `limit`; past it, the seconds until the window ends (`Retry-After`).
    The count is written either way, so the caller commits before refusing.
    """
    start, left = window_of(at, window)
    return None if count_hit(conn, key, start) <= limit else left


def retry_after(
    conn: Connection, *, key: str, limit: int, window: timedelta, at: datetime
) -> int | None:
    """None while the key has fewer than `limit` hits in the current window; once it has
    reached it, the seconds until the window ends."""
    start, left = window_of(at, window)
    return None if hits(conn, key, start) < limit else left
