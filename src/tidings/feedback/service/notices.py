"""Follow-up's events, recorded in the caller's transaction from their typed data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.events import EventData, record_event, stored_data


def record(
    conn: Connection, event_type: str, data: EventData, *, user_id: str | None, at: datetime
) -> str:
    """Append the event (its `occurred_at` the moment `at`) to the outbox; returns its id."""
    return record_event(
        conn, type=event_type, user_id=user_id, at=at, data=stored_data(data, occurred_at=at)
    )
