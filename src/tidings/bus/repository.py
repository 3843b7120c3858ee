"""Every query of the bus: the outbox events still to publish, the mark after the ack.

On PostgreSQL several publishers share the work through a lease per ordering key (the
user): a transaction-scoped advisory lock taken with `try`, so a publisher skips the users
another one holds, as the relay's `SKIP LOCKED` skips rows. No outbox row is locked, so the
relay's own claims never wait on the publisher. On SQLite one process does the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update

from tidings.bus.types import OutboxEvent
from tidings.events import outbox
from tidings.kit.tables import AnyRow

LEASE_CLASS = 20_020
"""The first key of the publisher's two-key advisory locks (its own lock space)."""

_COLUMNS = (
    outbox.c.id,
    outbox.c.source,
    outbox.c.type,
    outbox.c.subject,
    outbox.c.user_id,
    outbox.c.time,
    outbox.c.data,
)
_UNPUBLISHED = outbox.c.bus_published_at.is_(None)
# In array order, each key tried as it is reached, until `wanted` are held (LIMIT stops the
# scan: keys past it are never tried, so never held).
_TRY_LEASES = text(
    "SELECT k FROM unnest(CAST(:keys AS text[])) AS k "
    "WHERE pg_try_advisory_xact_lock(:class_id, hashtext(k)) LIMIT :wanted"
)
LOOK_AHEAD = 4
"""How many batches' worth of the oldest events a publisher looks at for keys it can hold."""


def _event(row: AnyRow) -> OutboxEvent:
    return OutboxEvent(**{**row._mapping, "data": dict(row.data)})


def unpublished_events(conn: Connection, limit: int) -> list[OutboxEvent]:
    """The oldest events the bus has not acked, in outbox order."""
    stmt = select(*_COLUMNS).where(_UNPUBLISHED).order_by(outbox.c.id).limit(limit)
    return [_event(row) for row in conn.execute(stmt)]


def claim_unpublished_events(conn: Connection, limit: int) -> list[OutboxEvent]:
    """Unpublished events of ordering keys this transaction now holds (PostgreSQL).

    The keys of the oldest events are tried in outbox order, passing over keys another
    publisher holds (as `SKIP LOCKED` passes over rows), until as many are held as the first
    `limit` events have; the window looks further ahead so a second publisher finds work
    beside the first. The held keys' events are then read again, so what another publisher
    committed just before is not taken twice."""
    window = select(outbox.c.id, outbox.c.user_id).where(_UNPUBLISHED).order_by(outbox.c.id)
    oldest = [row.user_id or row.id for row in conn.execute(window.limit(limit * LOOK_AHEAD))]
    if not oldest:
        return []
    keys = list(dict.fromkeys(oldest))
    wanted = len(set(oldest[:limit]))
    held = list(
        conn.execute(
            _TRY_LEASES, {"keys": keys, "class_id": LEASE_CLASS, "wanted": wanted}
        ).scalars()
    )
    if not held:
        return []
    stmt = (
        select(*_COLUMNS)
        .where(
            _UNPUBLISHED,
            or_(
                outbox.c.user_id.in_(bindparam("held", expanding=True)),
                and_(
                    outbox.c.user_id.is_(None), outbox.c.id.in_(bindparam("held", expanding=True))
                ),
            ),
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [_event(row) for row in conn.execute(stmt, {"held": held})]


def mark_published(conn: Connection, event_ids: Sequence[str], at: datetime) -> None:
    if event_ids:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(event_ids), _UNPUBLISHED)
            .values(bus_published_at=at)
        )


def count_unpublished(conn: Connection) -> int:
    return int(
        conn.execute(select(func.count()).select_from(outbox).where(_UNPUBLISHED)).scalar_one()
    )
