"""`TransferSignals` for one outgoing transfer, read from the database.

Runs inside every outgoing transfer's transaction, so it is one round trip of indexed
look-ups (two on SQLite, for the median): the user's transfers by `user_id`, the wallet's
postings by `account_id`, logins and changes by `(user_id, at)`; never other users' data.
"""

from __future__ import annotations

from datetime import datetime
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
    local_day_start: datetime | None = None,
) -> TransferSignals:
    """What the rules need to know about this transfer, before it is written; with the start
    of the user's local day, also what they sent out since then (for the day's step-up)."""
    facts = repository.transfer_facts(
        conn,
        user_id=user_id,
        account_id=account_id,
        at=at,
        destination_wallet_id=destination_wallet_id,
        merchant=merchant,
        local_day_start=local_day_start,
    )
    median = facts.median_amount
    if median is None:
        median = repository.median_amount(conn, user_id, at=at, count=facts.count_90d)
    latest_login = facts.latest_login_at
    new_device_at = facts.latest_new_device_at
    return TransferSignals(
        amount=amount,
        kind=kind,
        local_hour=at.astimezone(ZoneInfo(facts.timezone)).hour,
        account_age_days=(at - as_utc(facts.created_at)).total_seconds() / 86_400,
        history_count=facts.count_90d,
        history_median_amount=median,
        history_max_amount=facts.max_amount,
        count_last_10_min=facts.count_10_min,
        count_last_hour=facts.count_hour,
        amount_last_24h=facts.amount_24h,
        distinct_payees_last_24h=facts.payees_24h,
        incoming_last_24h=facts.incoming_24h,
        new_payee=kind != "withdrawal" and not facts.paid_before,
        new_device=latest_login is not None and new_device_at == latest_login,
        minutes_since_new_device_login=_minutes_since(new_device_at, at),
        minutes_since_new_location_login=_minutes_since(facts.latest_new_location_at, at),
        minutes_since_sensitive_change=_minutes_since(facts.latest_change_at, at),
        amount_local_day=facts.amount_local_day,
    )
