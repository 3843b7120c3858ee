"""What every security alert's data carries: the main wallet and the "not me" action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

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
