"""Credit events into the outbox: built as the typed models of `tidings.credit.events`,
stored as the JSON every consumer (rules, templates, integrators) has always read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.events import EventData, record_event


def payload(data: EventData) -> dict[str, Any]:
    """The JSON an event's data is stored as: the fields given (absent ones are left out, not
    null) and moments as `datetime.isoformat` writes them.

    Events are built with `model_construct`: their values come from our own rows, and an
    operator's reason was already checked as the request's (longer) text."""
    stored = data.model_dump(mode="json", exclude_none=True)
    if data.occurred_at is not None:
        stored["occurred_at"] = data.occurred_at.isoformat()
    return stored


def record(
    conn: Connection, event_type: str, data: EventData, *, user_id: str, at: datetime
) -> None:
    """Append one credit event for `user_id` to the outbox, in the caller's transaction."""
    record_event(conn, type=event_type, user_id=user_id, at=at, data=payload(data))
