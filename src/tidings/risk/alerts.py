"""What every security alert's data carries: the main wallet and the "not me" action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.events import EventData, record_event
from tidings.users import service as users


def not_me_url(wallet_id: str) -> str:
    """The "not me" action every security alert carries: freeze this wallet."""
    return f"/v1/wallets/{wallet_id}/freeze"


def alert_data(conn: Connection, user_id: str, at: datetime, **data: Any) -> dict[str, Any]:
    """`data` (None values dropped) plus the main wallet, its "not me" URL and the moment."""
    wallet_id = users.get_main_wallet_id(conn, user_id)
    return {
        **{k: v for k, v in data.items() if v is not None},
        "wallet_id": wallet_id,
        "not_me_url": not_me_url(wallet_id),
        "occurred_at": at.isoformat(),
    }


def record_alert(
    conn: Connection, event_type: str, alert: EventData, *, user_id: str, at: datetime
) -> str:
    """Record a security alert from its typed data (the fields it was given), with what every
    alert carries (`alert_data`); returns the event's id."""
    data = alert_data(conn, user_id, at, **alert.model_dump(mode="json", exclude_unset=True))
    return record_event(conn, type=event_type, user_id=user_id, at=at, data=data)
