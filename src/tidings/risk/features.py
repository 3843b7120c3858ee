"""`TransferSignals` for one outgoing transfer, read from the database.

Runs inside every outgoing transfer's transaction, so it is a handful of indexed queries per
transfer (the user's transfers by `user_id`, the wallet's postings by `account_id`, logins
and changes by `(user_id, at)`), never a scan of other users' data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.risk import repository
from tidings.risk.signals import TransferSignals


def _minutes_since(moment: datetime | None, at: datetime) -> float | None:
    return None if moment is None else (at - as_utc(moment)).total_seconds() / 60


def transfer_signals(
    conn: Connection,
    *,
    user_id: str,
    account_id: str,
    kind: str,
    amount: int,
    destination_wallet_id: str | None,
    merchant: str | None,
    at: datetime,
) -> TransferSignals:
    """What the rules need to know about this transfer, before it is written."""
    context = repository.account_context(conn, user_id, at=at)
    history = repository.outgoing_history(conn, user_id, at=at)
    median = repository.median_outgoing_amount(conn, user_id, at=at, count=history.count_90d)
    new_payee = kind != "withdrawal" and not repository.paid_before(
        conn, user_id, destination_wallet_id=destination_wallet_id, merchant=merchant
    )
    incoming = repository.incoming_since(conn, account_id, at - timedelta(hours=24))
    latest_login = context.latest_login_at
    new_device_at = context.latest_new_device_at
    return TransferSignals(
        amount=amount,
        kind=kind,
        local_hour=at.astimezone(ZoneInfo(context.timezone)).hour,
        account_age_days=(at - as_utc(context.created_at)).total_seconds() / 86_400,
        history_count=history.count_90d,
        history_median_amount=median,
        history_max_amount=history.max_amount,
        count_last_10_min=history.count_10_min,
        count_last_hour=history.count_hour,
        amount_last_24h=history.amount_24h,
        distinct_payees_last_24h=history.payees_24h,
        incoming_last_24h=incoming,
        new_payee=new_payee,
        new_device=latest_login is not None and new_device_at == latest_login,
        minutes_since_new_device_login=_minutes_since(new_device_at, at),
        minutes_since_new_location_login=_minutes_since(context.latest_new_location_at, at),
        minutes_since_sensitive_change=_minutes_since(context.latest_change_at, at),
    )
