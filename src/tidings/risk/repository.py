"""Every query of the security and risk domain (SQLAlchemy Core, SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy import column as column_clause
from sqlalchemy import table as table_clause

from tidings.kit.pagination import newest_first
from tidings.kit.prepared import Prepared
from tidings.kit.tables import Amount, AnyRow, Id, Timestamp, one_of
from tidings.ledger.models import ledger_entries, postings
from tidings.risk.models import (
    audit_log,
    contact_changes,
    rate_limit_counters,
    risk_model_observations,
    risk_models,
    security_changes,
    security_logins,
    step_up_verifications,
)
from tidings.users.models import users

transfers = table_clause(
    "transfers",
    column_clause("id", Id),
    column_clause("user_id", Id),
    column_clause("kind", String),
    column_clause("status", String),
    column_clause("amount", Amount),
    column_clause("destination_wallet_id", Id),
    column_clause("merchant_name", String),
    column_clause("created_at", Timestamp),
)
"""The columns of the wallets' `transfers` table the rules read, named here rather than
imported: risk reads a user's transfer history in its set-based queries, never writes it, and
knows no wallet module."""

OUTGOING_KINDS = ("payment", "p2p", "withdrawal")


# ---- logins and security changes ---------------------------------------------------------


def insert_login(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(security_logins), values)


def device_seen(conn: Connection, user_id: str, device_hash: str) -> bool:
    stmt = select(literal(1)).where(
        security_logins.c.user_id == user_id, security_logins.c.device_hash == device_hash
    )
    return conn.execute(stmt.limit(1)).first() is not None


def last_login(conn: Connection, user_id: str) -> AnyRow | None:
    stmt = (
        select(security_logins.c.city, security_logins.c.at)
        .where(security_logins.c.user_id == user_id)
        .order_by(security_logins.c.at.desc(), security_logins.c.id.desc())
        .limit(1)
    )
    return conn.execute(stmt).first()


def login_cities(conn: Connection, user_id: str, *, limit: int = 50) -> list[str]:
    """Distinct cities the user logged in from (most recent logins first, bounded)."""
    recent = (
        select(security_logins.c.city)
        .where(security_logins.c.user_id == user_id, security_logins.c.city.is_not(None))
        .order_by(security_logins.c.at.desc())
        .limit(500)
        .subquery()
    )
    return list(conn.execute(select(recent.c.city).distinct().limit(limit)).scalars())


def insert_security_change(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(security_changes), values)


def latest_change(conn: Connection, user_id: str, *, kind: str, at: datetime) -> datetime | None:
    c = security_changes.c
    stmt = select(func.max(c.at)).where(c.user_id == user_id, c.kind == kind, c.at <= at)
    value: datetime | None = conn.execute(stmt).scalar_one_or_none()
    return value


# ---- what a transfer's score needs (a few indexed queries per transfer) ------------------


@dataclass(frozen=True, slots=True)
class TransferFacts:
    """Everything a transfer's signals are made of, read in one round trip."""

    created_at: datetime
    timezone: str
    latest_login_at: datetime | None
    latest_new_device_at: datetime | None
    latest_new_location_at: datetime | None
    latest_change_at: datetime | None
    count_90d: int
    max_amount: int
    count_10_min: int
    count_hour: int
    amount_24h: int
    payees_24h: int
    paid_before: bool
    incoming_24h: int
    median_amount: int | None
    """None where the database cannot take it in the same query (SQLite): `median_amount`."""
    amount_local_day: int
    """Outgoing transfers, succeeded or held, since `local_day_start`."""


def _outgoing_90d(user_id: Any, at: Any, since: Any) -> tuple[Any, ...]:
    t = transfers.c
    return (
        t.user_id == user_id,
        one_of(t.kind, OUTGOING_KINDS),
        t.status == "succeeded",
        t.created_at >= since,
        t.created_at <= at,
    )


@functools.cache
def _transfer_facts_statement(*, with_median: bool, payee: str | None) -> Prepared:
    """Built once per shape and run with bound values: building this statement costs more
    than the database takes to answer it."""
    t = transfers.c
    lg = security_logins.c
    user_id = bindparam("user_id", type_=Id)
    at = bindparam("at", type_=Timestamp)
    day = bindparam("day", type_=Timestamp)
    payee_key = func.coalesce(t.destination_wallet_id, t.merchant_name)
    aggregates = [
        func.count().label("count_90d"),
        func.coalesce(func.max(t.amount), 0).label("max_amount"),
        func.count(case((t.created_at >= bindparam("ten_minutes", type_=Timestamp), 1))).label(
            "count_10_min"
        ),
        func.count(case((t.created_at >= bindparam("hour", type_=Timestamp), 1))).label(
            "count_hour"
        ),
        func.coalesce(func.sum(case((t.created_at >= day, t.amount), else_=0)), 0).label(
            "amount_24h"
        ),
        func.count(case((t.created_at >= day, payee_key)).distinct()).label("payees_24h"),
    ]
    if with_median:
        # The lower middle, like `median_amount`'s offset (percentile_disc picks a real row).
        aggregates.append(func.percentile_disc(0.5).within_group(t.amount).label("median"))
    since = bindparam("since", type_=Timestamp)
    history = select(*aggregates).where(*_outgoing_90d(user_id, at, since)).subquery()

    def latest(*conditions: Any) -> Any:
        return (
            select(func.max(lg.at))
            .where(lg.user_id == user_id, lg.at <= at, *conditions)
            .scalar_subquery()
        )

    change = (
        select(func.max(security_changes.c.at))
        .where(security_changes.c.user_id == user_id, security_changes.c.at <= at)
        .scalar_subquery()
    )
    paid_before: Any = literal(True)
    if payee is not None:
        column = t.destination_wallet_id if payee == "wallet" else t.merchant_name
        paid_before = (
            select(literal(1))
            .where(
                t.user_id == user_id,
                one_of(t.kind, OUTGOING_KINDS),
                t.status == "succeeded",
                column == bindparam("payee", type_=column.type),
            )
            .exists()
        )
    incoming = (
        select(func.coalesce(func.sum(postings.c.amount), 0))
        .join(ledger_entries, ledger_entries.c.id == postings.c.entry_id)
        .where(
            postings.c.account_id == bindparam("account_id", type_=Id),
            postings.c.amount > 0,
            postings.c.created_at >= day,
            ledger_entries.c.kind == "p2p",
        )
        .scalar_subquery()
    )
    local_day = (
        select(func.coalesce(func.sum(t.amount), 0))
        .where(
            t.user_id == user_id,
            one_of(t.kind, OUTGOING_KINDS),
            one_of(t.status, ("succeeded", "pending_verification")),
            t.created_at >= bindparam("local_day", type_=Timestamp),
            t.created_at <= at,
        )
        .scalar_subquery()
    )
    return Prepared(
        select(
            users.c.created_at,
            users.c.timezone,
            latest(),
            latest(lg.new_device),
            latest(lg.new_location),
            change,
            history.c.count_90d,
            history.c.max_amount,
            history.c.count_10_min,
            history.c.count_hour,
            history.c.amount_24h,
            history.c.payees_24h,
            paid_before,
            incoming,
            history.c.median if with_median else literal(None),
            local_day,
        )
        .select_from(users)
        .join(history, literal(True))
        .where(users.c.id == user_id)
    )


def transfer_facts(
    conn: Connection,
    *,
    user_id: str,
    account_id: str,
    at: datetime,
    destination_wallet_id: str | None,
    merchant: str | None,
    local_day_start: datetime | None = None,
) -> TransferFacts:
    """The user's age, time zone and latest login signals; aggregates over their succeeded
    outgoing transfers of the last 90 days (and, on PostgreSQL, their median); whether they
    paid this payee before; money other users sent them (p2p) in the last 24 h; and, given
    the start of the user's local day, their outgoing transfers since then, succeeded or held.

    Top-ups are left out of that last figure: they come from the owner's own bank card, and
    "top up, then pay a new merchant" is the most ordinary thing a wallet sees, not a mule
    passing money on. Every part is an indexed look-up of this user's rows only.
    """
    with_median = conn.dialect.name == "postgresql"
    payee = (
        "wallet"
        if destination_wallet_id is not None
        else "merchant"
        if merchant is not None
        else None
    )
    stmt = _transfer_facts_statement(with_median=with_median, payee=payee)
    (row,) = stmt.rows(
        conn,
        {
            "user_id": user_id,
            "account_id": account_id,
            "at": at,
            "since": at - timedelta(days=90),
            "day": at - timedelta(hours=24),
            "hour": at - timedelta(hours=1),
            "ten_minutes": at - timedelta(minutes=10),
            "local_day": local_day_start if local_day_start is not None else at,
            "payee": destination_wallet_id if destination_wallet_id is not None else merchant,
        },
    )
    return TransferFacts(
        created_at=row[0],
        timezone=row[1],
        latest_login_at=row[2],
        latest_new_device_at=row[3],
        latest_new_location_at=row[4],
        latest_change_at=row[5],
        count_90d=int(row[6]),
        max_amount=int(row[7]),
        count_10_min=int(row[8]),
        count_hour=int(row[9]),
        amount_24h=int(row[10]),
        payees_24h=int(row[11]),
        paid_before=bool(row[12]),
        incoming_24h=int(row[13]),
        median_amount=int(row[14] or 0) if with_median else None,
        amount_local_day=int(row[15]),
    )


_MEDIAN: Final = Prepared(
    select(transfers.c.amount)
    .where(
        *_outgoing_90d(
            bindparam("user_id", type_=Id),
            bindparam("at", type_=Timestamp),
            bindparam("since", type_=Timestamp),
        )
    )
    .order_by(transfers.c.amount)
    .limit(1)
    .offset(bindparam("middle", type_=Integer))
)


def median_amount(conn: Connection, user_id: str, *, at: datetime, count: int) -> int:
    """The median of the same 90 days (lower middle); 0 without history. For SQLite, which
    has no ordered-set aggregate to take it in `transfer_facts`."""
    if count == 0:
        return 0
    values = {
        "user_id": user_id,
        "at": at,
        "since": at - timedelta(days=90),
        "middle": (count - 1) // 2,
    }
    rows = _MEDIAN.rows(conn, values)
    return int(rows[0][0]) if rows else 0


# ---- step-up verifications ----------------------------------------------------------------


def insert_verification(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(step_up_verifications), values)


def lock_verification(conn: Connection, transfer_id: str) -> AnyRow | None:
    stmt = (
        select(step_up_verifications)
        .where(step_up_verifications.c.transfer_id == transfer_id)
        .with_for_update()
    )
    return conn.execute(stmt).first()


def spend_attempt(conn: Connection, verification_id: str) -> int:
    return _spend_attempt(conn, step_up_verifications, verification_id)


def _spend_attempt(conn: Connection, table: Table, row_id: str) -> int:
    """One attempt at a code (step-up or contact change) used; the attempts left after it."""
    c = table.c
    stmt = (
        update(table)
        .where(c.id == row_id, c.attempts_left > 0)
        .values(attempts_left=c.attempts_left - 1)
        .returning(c.attempts_left)
    )
    left = conn.execute(stmt).scalar_one_or_none()
    return int(left) if left is not None else 0


def _settle_pending(
    conn: Connection, table: Table, row_id: str, *, status: str, at: datetime
) -> bool:
    """Move a pending code (step-up or contact change) to its end state once; False when it
    had already ended."""
    stmt = (
        update(table)
        .where(table.c.id == row_id, table.c.status == "pending")
        .values(status=status, settled_at=at)
    )
    return conn.execute(stmt).rowcount == 1


def _due_pending(conn: Connection, column: Column[Any], *, at: datetime, limit: int) -> list[str]:
    """`column` of the pending codes of its table that ran out, oldest first (on PostgreSQL
    rows another worker is expiring are skipped)."""
    table = column.table
    stmt = (
        select(column)
        .where(table.c.status == "pending", table.c.expires_at <= at)
        .order_by(table.c.expires_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(conn.execute(stmt).scalars())


def settle_verification(
    conn: Connection, verification_id: str, *, status: str, at: datetime
) -> bool:
    return _settle_pending(conn, step_up_verifications, verification_id, status=status, at=at)


def due_expirations(conn: Connection, *, at: datetime, limit: int) -> list[str]:
    """Transfer ids of pending verifications whose hold ran out (oldest first)."""
    return _due_pending(conn, step_up_verifications.c.transfer_id, at=at, limit=limit)


# ---- contact changes -----------------------------------------------------------------------


def insert_contact_change(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(contact_changes), values)


def lock_contact_change(conn: Connection, change_id: str) -> AnyRow | None:
    stmt = select(contact_changes).where(contact_changes.c.id == change_id).with_for_update()
    return conn.execute(stmt).first()


def spend_contact_change_attempt(conn: Connection, change_id: str) -> int:
    return _spend_attempt(conn, contact_changes, change_id)


def settle_contact_change(conn: Connection, change_id: str, *, status: str, at: datetime) -> bool:
    return _settle_pending(conn, contact_changes, change_id, status=status, at=at)


def due_contact_changes(conn: Connection, *, at: datetime, limit: int) -> list[str]:
    """Ids of pending contact changes whose code ran out (oldest first)."""
    return _due_pending(conn, contact_changes.c.id, at=at, limit=limit)


# ---- audit log ------------------------------------------------------------------------------


def insert_audit(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(audit_log), values)


def list_audit(
    conn: Connection,
    *,
    user_id: str | None,
    action: str | None,
    before_id: str | None,
    limit: int,
) -> list[AnyRow]:
    stmt = newest_first(select(audit_log), audit_log.c.id, before_id=before_id, limit=limit)
    if user_id is not None:
        stmt = stmt.where(audit_log.c.user_id == user_id)
    if action is not None:
        stmt = stmt.where(audit_log.c.action == action)
    return list(conn.execute(stmt))


# ---- rate limits ----------------------------------------------------------------------------


def forget_windows_before(conn: Connection, before: datetime) -> int:
    stmt = delete(rate_limit_counters).where(rate_limit_counters.c.window_start < before)
    return conn.execute(stmt).rowcount


# ---- the online model ------------------------------------------------------------------------


def insert_observation(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(risk_model_observations), values)


def set_outcome(
    conn: Connection,
    transfer_id: str,
    *,
    fraudulent: bool,
    source: str,
    at: datetime,
    only_if_unknown: bool,
) -> AnyRow | None:
    """Record an outcome; a changed one is learned again. None when there is no observation
    (or, with `only_if_unknown`, when an outcome is already there)."""
    obs = risk_model_observations.c
    stmt = update(risk_model_observations).where(obs.transfer_id == transfer_id)
    if only_if_unknown:
        stmt = stmt.where(obs.fraudulent.is_(None))
    changed = obs.fraudulent.is_(None) | (obs.fraudulent != fraudulent)
    stmt = stmt.values(
        fraudulent=fraudulent,
        outcome_source=source,
        outcome_at=at,
        learned_at=case((changed, None), else_=obs.learned_at),
    ).returning(*risk_model_observations.c)
    return conn.execute(stmt).first()


def observations_to_learn(
    conn: Connection, *, settled_before: datetime, limit: int
) -> list[AnyRow]:
    """Not yet learned, with a confirmed outcome, or old enough to count as settled, oldest
    first (the order outcomes became known). Only money that moved can settle: a held transfer
    that was cancelled or expired proves nothing either way until someone says."""
    obs = risk_model_observations.c
    known_at = func.coalesce(obs.outcome_at, obs.created_at)
    moved = (
        select(literal(1))
        .where(transfers.c.id == obs.transfer_id, transfers.c.status == "succeeded")
        .exists()
    )
    stmt = (
        select(risk_model_observations)
        .where(
            obs.learned_at.is_(None),
            obs.fraudulent.is_not(None) | ((obs.created_at < settled_before) & moved),
        )
        .order_by(known_at, obs.transfer_id)
        .limit(limit)
    )
    return list(conn.execute(stmt))


def mark_learned(conn: Connection, transfer_ids: Sequence[str], *, at: datetime) -> None:
    """Learned; the settled ones (no outcome reported in time) are recorded as legitimate."""
    obs = risk_model_observations.c
    stmt = (
        update(risk_model_observations)
        .where(obs.transfer_id.in_(transfer_ids))
        .values(
            learned_at=at,
            outcome_source=func.coalesce(obs.outcome_source, "settled"),
            outcome_at=func.coalesce(obs.outcome_at, at),
            fraudulent=func.coalesce(obs.fraudulent, False),
        )
    )
    conn.execute(stmt)


def forget_observations(conn: Connection, *, before: datetime) -> int:
    """Learned before `before`, or scored before it and never settled (a cancelled hold)."""
    obs = risk_model_observations.c
    unsettled = obs.learned_at.is_(None) & obs.fraudulent.is_(None) & (obs.created_at < before)
    stmt = delete(risk_model_observations).where((obs.learned_at < before) | unsettled)
    return conn.execute(stmt).rowcount or 0


def get_model(conn: Connection, name: str) -> AnyRow | None:
    return conn.execute(select(risk_models).where(risk_models.c.name == name)).first()


def model_version(conn: Connection, name: str) -> int | None:
    stmt = select(risk_models.c.version).where(risk_models.c.name == name)
    version = conn.execute(stmt).scalar_one_or_none()
    return None if version is None else int(version)


def save_model(conn: Connection, values: dict[str, Any]) -> None:
    """Insert the first version or replace the state (the caller holds the model's lock)."""
    done = conn.execute(
        update(risk_models).where(risk_models.c.name == values["name"]).values(values)
    )
    if not done.rowcount:
        conn.execute(insert(risk_models), values)
