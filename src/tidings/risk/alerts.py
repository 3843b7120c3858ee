"""What every security alert's data carries: the main wallet and the "not me" action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.events import EventData, record_event
from tidings.users import service as users


def not_me_url(wallet_id: str) -> str:
    """The "not me" action every security alert carries: freeze this wallet."""
    return f"/v1/wallets/{wallet_id}/freeze"


def record_alert(
    conn: Connection,
    event_type: str,
    alert: EventData,
    *,
    user_id: str,
    at: datetime,
    occurred_at: datetime | None = None,
) -> str:
    """Record a security alert from its typed data (the fields it was given, None ones left
    out) plus what every alert carries: the main wallet, its "not me" URL, and the moment it
    happened (`occurred_at`, by default `at`). Returns the event's id."""
    given = alert.model_dump(mode="json", exclude_unset=True)
    wallet_id = users.get_main_wallet_id(conn, user_id)
    data = {
        **{k: v for k, v in given.items() if v is not None},
        "wallet_id": wallet_id,
        "not_me_url": not_me_url(wallet_id),
        "occurred_at": (occurred_at or at).isoformat(),
    }
    return record_event(conn, type=event_type, user_id=user_id, at=at, data=data)
