"""Credit events into the outbox: built as the typed models of `tidings.credit.events`,
stored as the JSON every consumer (rules, templates, integrators) has always read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.events import EventData, record_event, stored_data


def payload(data: EventData) -> dict[str, Any]:
    """The JSON an event's data is stored as: every field that is not None.

    Events are built with `model_construct`: their values come from our own rows, and an
    operator's reason was already checked as the request's (longer) text."""
    return stored_data(data, occurred_at=data.occurred_at, leave_out_none=True)


def record(
    conn: Connection, event_type: str, data: EventData, *, user_id: str, at: datetime
) -> None:
    """Append one credit event for `user_id` to the outbox, in the caller's transaction."""
    record_event(conn, type=event_type, user_id=user_id, at=at, data=payload(data))
