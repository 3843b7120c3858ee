"""Every query of the bus: the outbox events still to publish, the mark after the ack.

On PostgreSQL several publishers share the work through a lease per ordering key (the
user): a transaction-scoped advisory lock taken with `try`, so a publisher skips the users
another one holds, as the relay's `SKIP LOCKED` skips rows. No outbox row is locked, so the
relay's own claims never wait on the publisher. On SQLite one process does the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Text, bindparam, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from tidings.bus.types import OutboxEvent
from tidings.events import outbox
from tidings.kit.tables import AnyRow

LEASE_CLASS = 20_020
"""The first key of the publisher's two-key advisory locks (its own lock space)."""

LOOK_AHEAD = 4
"""How many batches' worth of the oldest events a publisher looks at for keys it can hold."""

_UNPUBLISHED = outbox.c.bus_published_at.is_(None)
_IN_ORDER = (outbox.c.bus_published_at, outbox.c.id)
"""Outbox order, spelled as the index on (bus_published_at, id) is, so the oldest
unpublished events are read from it in order even before the table has statistics."""
_COLUMNS = (
    outbox.c.id,
    outbox.c.source,
    outbox.c.type,
    outbox.c.subject,
    outbox.c.user_id,
    outbox.c.time,
    cast(outbox.c.data, Text).label("data_json"),  # as stored: put on the wire undecoded
)

# The keys (users; an event about no user is its own key) of the oldest `look_ahead`
# events, in the order of each key's oldest event, each tried as it is reached until as
# many are held as the first `limit` events have (LIMIT stops the scan: keys past it are
# never tried, so never held). One statement: the window and the leases.
_TRY_LEASES = text(
    """
    WITH candidates AS MATERIALIZED (
        SELECT id, COALESCE(user_id, id) AS k FROM outbox
        WHERE bus_published_at IS NULL ORDER BY bus_published_at, id LIMIT :look_ahead
    ), keys AS MATERIALIZED (
        SELECT k FROM candidates GROUP BY k ORDER BY min(id)
    )
    SELECT k FROM keys
    WHERE pg_try_advisory_xact_lock(:class_id, hashtext(k))
    LIMIT (
        SELECT count(DISTINCT k) FROM (SELECT k FROM candidates ORDER BY id LIMIT :limit) AS head
    )
    """
).bindparams(bindparam("look_ahead"), bindparam("class_id"), bindparam("limit"))
_FROM_THE_INDEX = text(
    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)"
)
"""For the rest of the publisher's transaction: the oldest unpublished events are read from
the index on (bus_published_at, id) in order, a batch at a time. Statistics that have not
seen the backlog yet (a fresh table, a NATS outage since the last ANALYZE) would otherwise
have PostgreSQL fetch and sort the whole backlog in every round (measured: the leases 9 ms
instead of 2.6 ms for 12,500 waiting events, and growing with the backlog)."""
_HELD = bindparam("held", type_=ARRAY(Text))
_IDS = bindparam("ids", type_=ARRAY(Text))


def _event(row: AnyRow) -> OutboxEvent:
    return OutboxEvent(**row._mapping)


def unpublished_events(conn: Connection, limit: int) -> list[OutboxEvent]:
    """The oldest events the bus has not acked, in outbox order (SQLite: one publisher)."""
    stmt = select(*_COLUMNS).where(_UNPUBLISHED).order_by(*_IN_ORDER).limit(limit)
    return [_event(row) for row in conn.execute(stmt)]


def claim_unpublished_events(conn: Connection, limit: int) -> list[OutboxEvent]:
    """Unpublished events of ordering keys this transaction now holds (PostgreSQL).

    The keys of the oldest events are tried in outbox order, passing over keys another
    publisher holds (as `SKIP LOCKED` passes over rows), until as many are held as the first
    `limit` events have; the window looks further ahead so a second publisher finds work
    beside the first. The held keys' events are then read again (a statement of its own,
    so its snapshot comes after the leases): what another publisher committed just before
    is not taken twice. Two statements, their text fixed whatever the batch."""
    conn.execute(_FROM_THE_INDEX)
    held = list(
        conn.execute(
            _TRY_LEASES,
            {"look_ahead": limit * LOOK_AHEAD, "class_id": LEASE_CLASS, "limit": limit},
        ).scalars()
    )
    if not held:
        return []
    key = func.coalesce(outbox.c.user_id, outbox.c.id)
    oldest = (  # narrow: ids only, from the index in order; the rows by primary key below
        select(outbox.c.id)
        .where(_UNPUBLISHED, key == func.any(_HELD))
        .order_by(*_IN_ORDER)
        .limit(limit)
    )
    stmt = (
        select(*_COLUMNS)
        .where(outbox.c.id == func.any(func.array(oldest.scalar_subquery())))
        .order_by(outbox.c.id)
    )
    return [_event(row) for row in conn.execute(stmt, {"held": held})]


def mark_published(conn: Connection, event_ids: Sequence[str], at: datetime) -> None:
    """One statement for the batch (on PostgreSQL with the ids as one array parameter, so
    its text, and its prepared plan, is the same every round)."""
    if not event_ids:
        return
    stmt = update(outbox).where(_UNPUBLISHED).values(bus_published_at=at)
    if conn.dialect.name == "postgresql":
        conn.execute(stmt.where(outbox.c.id == func.any(_IDS)), {"ids": list(event_ids)})
    else:
        conn.execute(stmt.where(outbox.c.id.in_(event_ids)))


def count_unpublished(conn: Connection) -> int:
    return int(
        conn.execute(select(func.count()).select_from(outbox).where(_UNPUBLISHED)).scalar_one()
    )
