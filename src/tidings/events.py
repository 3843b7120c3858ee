"""Domain events as CloudEvents, written to the `outbox` in the caller's own transaction.

A domain never calls the notification engine; it records what happened here, so a crash can
never leave a money movement without its notice or a notice without its money movement.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Connection, Index, String, Table, insert, select, update

from tidings.kit.clock import UtcDateTime
from tidings.kit.ids import new_id
from tidings.kit.prepared import Prepared
from tidings.kit.tables import Id, Json, Timestamp, id_column, metadata, optional_columns
from tidings.kit.wakeups import Channel, ring_after_commit

SOURCE = "tidings"


class EventData(BaseModel):
    """Base of every event's data: known fields are checked, extra fields are kept."""

    model_config = ConfigDict(extra="allow")

    occurred_at: UtcDateTime | None = None


@dataclass(frozen=True, slots=True)
class EventType:
    """One entry of the event catalogue: its name, its data shape and what it means."""

    name: str
    data: builtins.type[EventData]
    summary: str


outbox = Table(
    "outbox",
    metadata,
    id_column(),
    Column("source", String(255), nullable=False),
    Column("type", String(80), nullable=False),
    Column("subject", String(255)),
    Column("user_id", Id),
    Column("time", Timestamp, nullable=False),
    Column("data", Json, nullable=False),
    *optional_columns(
        Timestamp, "relayed_at", "bus_published_at"
    ),  # acked by the event bus (docs/event-bus.md)
    Index("ix_outbox_relayed_at_id", "relayed_at", "id"),
    Index("ix_outbox_bus_published_at_id", "bus_published_at", "id"),
    Index("ix_outbox_user_id", "user_id"),
)


_INSERT_OUTBOX = Prepared(insert(outbox))


def record_event(
    conn: Connection,
    *,
    type: str,
    user_id: str | None,
    data: dict[str, Any],
    at: datetime,
    source: str = SOURCE,
    event_id: str | None = None,
) -> str:
    """Append one event to the outbox inside the caller's transaction; returns its id."""
    event_id = event_id or new_id("evt")
    _INSERT_OUTBOX.execute(conn, _outbox_row(event_id, source, type, user_id, at, data))
    ring_after_commit(conn, Channel.OUTBOX)
    return event_id


def _outbox_row(
    event_id: str, source: str, type: str, user_id: str | None, at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """The outbox row of one event: the user is its CloudEvents subject too."""
    return {
        "id": event_id,
        "source": source,
        "type": type,
        "subject": user_id,
        "user_id": user_id,
        "time": at,
        "data": data,
    }


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event for `record_many`, its id chosen by the caller (ids in outbox order)."""

    id: str
    type: str
    user_id: str | None
    data: dict[str, Any]
    at: datetime
    source: str = SOURCE


def record_many(conn: Connection, events: Sequence[NewEvent]) -> None:
    """Append events of any types and users in one statement (an ingest batch)."""
    if events:
        rows = [_outbox_row(e.id, e.source, e.type, e.user_id, e.at, e.data) for e in events]
        _INSERT_OUTBOX.execute(conn, rows)
        ring_after_commit(conn, Channel.OUTBOX)


def record_events(
    conn: Connection,
    *,
    type: str,
    at: datetime,
    events: Sequence[tuple[str, dict[str, Any]]],
    source: str = SOURCE,
) -> list[str]:
    """Append many events of one type, (user id, data) each, in one statement (a job's
    batch); their ids, in order."""
    ids = [new_id("evt") for _ in events]
    rows = [
        _outbox_row(event_id, source, type, user_id, at, data)
        for event_id, (user_id, data) in zip(ids, events, strict=True)
    ]
    if rows:
        _INSERT_OUTBOX.execute(conn, rows)
    return ids


def stored_data(
    data: EventData, *, occurred_at: datetime | None = None, leave_out_none: bool = False
) -> dict[str, Any]:
    """The JSON an event's typed data is stored as: the fields it was given (with
    `leave_out_none`, every field that is not None), and `occurred_at` as `datetime.isoformat`
    writes it (its offset kept), as the outbox has always carried it."""
    stored = data.model_dump(
        mode="json", exclude_unset=not leave_out_none, exclude_none=leave_out_none
    )
    if occurred_at is not None:
        stored["occurred_at"] = occurred_at.isoformat()
    return stored


def forget_event_field(conn: Connection, event_id: str | None, key: str) -> None:
    """Drop one field (a spent one-time code) from an event's data; nothing if absent."""
    if event_id is None:
        return
    row = conn.execute(select(outbox.c.data).where(outbox.c.id == event_id)).first()
    if row is None or key not in row.data:
        return
    data = {k: v for k, v in dict(row.data).items() if k != key}
    conn.execute(update(outbox).where(outbox.c.id == event_id).values(data=data))
