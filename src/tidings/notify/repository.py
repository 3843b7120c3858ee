"""Every query of the notification engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    ScalarSelect,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Update

from tidings.campaigns import events as marketing_events
from tidings.events import outbox
from tidings.kit.clock import as_utc
from tidings.kit.pagination import newest_first
from tidings.kit.prepared import Prepared, PreparedRead, PreparedRows, among
from tidings.kit.tables import AnyRow, one_of, rows_where
from tidings.kit.wakeups import Channel, ring_after_commit
from tidings.notify.models import (
    consent_events,
    deliveries,
    delivery_attempts,
    event_receipts,
    inbox_items,
    notifications,
    preferences,
)
from tidings.notify.types import (
    OPEN_STATUSES,
    AttemptOutcome,
    Category,
    ChannelName,
    DeliveryStatus,
)

PENDING, SENDING = DeliveryStatus.PENDING, DeliveryStatus.SENDING
DIGEST, DIGESTING = DeliveryStatus.DIGEST, DeliveryStatus.DIGESTING
NOT_COUNTED = (
    DeliveryStatus.SUPPRESSED,
    DIGEST,
    DIGESTING,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.SKIPPED,
)
"""Deliveries that did not go and will not go as they stand: caps and limits skip them."""


def _insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


# -- events in -------------------------------------------------------------------------


def insert_receipts(
    conn: Connection, receipts: Sequence[tuple[str, str, str]], *, at: datetime
) -> set[tuple[str, str]]:
    """Store (source, event id, outbox id) receipts in one statement; the (source, event id)
    pairs stored now. The others were sent before (on PostgreSQL a racing copy is waited
    for, then seen). Written in key order, so two batches never wait on each other in a
    circle."""
    if not receipts:
        return set()
    stmt = (
        _insert(conn, event_receipts)
        .on_conflict_do_nothing()
        .returning(event_receipts.c.source, event_receipts.c.event_id)
    )
    rows = [
        {"source": source, "event_id": event_id, "outbox_id": outbox_id, "received_at": at}
        for source, event_id, outbox_id in sorted(receipts)
    ]
    return {(row.source, row.event_id) for row in conn.execute(stmt, rows)}


def receipts_for(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The outbox id each (source, event id) was stored as."""
    if not keys:
        return {}
    stmt = select(
        event_receipts.c.source, event_receipts.c.event_id, event_receipts.c.outbox_id
    ).where(tuple_(event_receipts.c.source, event_receipts.c.event_id).in_(list(keys)))
    return {(row.source, row.event_id): row.outbox_id for row in conn.execute(stmt)}


# -- relay -----------------------------------------------------------------------------
# Statements on the path of every relay batch and dispatcher cycle are built once, with
# their lists as expanding parameters: building one per call (coercing every operand,
# then a cache key over the new tree) was most of a small batch's CPU.


class ClaimedEvent(NamedTuple):
    """An outbox event the relay claimed: what it plans from."""

    id: str
    type: str
    user_id: str | None
    time: datetime
    data: dict[str, Any]


_queued = outbox.alias("queued")
_CLAIM_EVENTS = Prepared(
    update(outbox)
    .where(
        outbox.c.id.in_(
            select(_queued.c.id)
            .where(_queued.c.relayed_at.is_(None))
            .order_by(_queued.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(relayed_at=bindparam("at"))
    .returning(outbox.c.id, outbox.c.type, outbox.c.user_id, outbox.c.time, outbox.c.data)
)


def claim_unrelayed_events(conn: Connection, limit: int, *, at: datetime) -> list[ClaimedEvent]:
    """The oldest `limit` events not yet relayed (skipping ones another relay holds),
    marked relayed at `at` in the same statement, in id order: the caller's transaction
    relays them, or rolls back and leaves them for the next try."""
    rows = _CLAIM_EVENTS.rows(conn, {"limit": limit, "at": at})
    rows.sort()  # by id, the first column
    return [ClaimedEvent._make(row) for row in rows]


def insert_notification(conn: Connection, values: dict[str, Any]) -> bool:
    """False when the same event or de-duplication key already made a notice for this user."""
    return bool(insert_notifications(conn, [values]))


_INSERT_NOTIFICATIONS = PreparedRows(
    {
        "postgresql": pg_insert(notifications)
        .on_conflict_do_nothing()
        .returning(notifications.c.id),
        "sqlite": sqlite_insert(notifications)
        .on_conflict_do_nothing()
        .returning(notifications.c.id),
    }
)


def insert_notifications(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Multi-row statements for a batch; the ids written (a row that would repeat an event's
    notice or a de-duplication key is skipped by the unique constraints, even under a race)."""
    if not rows:
        return set()
    keys = {key for row in rows for key in row}
    uniform = [{k: row.get(k) for k in keys} for row in rows]
    return {row[0] for row in _INSERT_NOTIFICATIONS.rows(conn, uniform)}


def _existing_notices(*, with_dedup_keys: bool) -> PreparedRead:
    def build(dialect: str) -> Select[Any]:
        matches = [among(notifications.c.event_id, "event_ids", dialect)]
        if with_dedup_keys:
            matches.append(among(notifications.c.dedup_key, "dedup_keys", dialect))
        return select(
            notifications.c.user_id,
            notifications.c.event_id,
            notifications.c.kind,
            notifications.c.dedup_key,
        ).where(among(notifications.c.user_id, "user_ids", dialect), or_(*matches))

    return PreparedRead(build)


_EXISTING_NOTICES = _existing_notices(with_dedup_keys=False)
_EXISTING_NOTICES_OR_KEYS = _existing_notices(with_dedup_keys=True)


def existing_notices(
    conn: Connection, user_ids: Sequence[str], event_ids: Sequence[str], dedup_keys: Sequence[str]
) -> list[tuple[str, str, str, str | None]]:
    """(user id, event id, kind, de-duplication key) of the notices these users already have
    for these events or de-duplication keys."""
    params: dict[str, Any] = {"user_ids": list(user_ids), "event_ids": list(event_ids)}
    if not dedup_keys:
        return _EXISTING_NOTICES.rows(conn, params)
    found = _EXISTING_NOTICES_OR_KEYS.rows(conn, {**params, "dedup_keys": list(dedup_keys)})
    return found


_INSERT_DELIVERIES = PreparedRows(insert(deliveries))


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row statements, rows that set the same columns together (a column a row leaves
    out takes its server default)."""
    if not rows:
        return
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(frozenset(row), []).append(row)
    for same in by_columns.values():
        _INSERT_DELIVERIES.rows(conn, same)
    ring_after_commit(conn, Channel.DELIVERIES)


def _deliveries_since(moment: ColumnElement[Any], dialect: str | None = None) -> Select[Any]:
    """Deliveries of the users `user_ids` whose `moment` is `since` or later, with their
    notice's kind and category: what caps and provider limits count."""
    users_match = (
        among(deliveries.c.user_id, "user_ids", dialect)
        if dialect is not None
        else deliveries.c.user_id.in_(bindparam("user_ids", expanding=True))
    )
    return (
        select(
            deliveries.c.user_id,
            deliveries.c.channel,
            moment,
            notifications.c.kind,
            notifications.c.category,
        )
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(users_match, moment >= bindparam("since", type_=moment.type))
    )


_RECENT_DELIVERIES = PreparedRead(
    lambda dialect: _deliveries_since(deliveries.c.due_at, dialect).where(
        ~one_of(deliveries.c.status, [status.value for status in NOT_COUNTED]),
        # The inbox never interrupts: no cap or provider limit counts it, and every notice
        # has an inbox copy, so leaving it out halves what the relay reads for each batch.
        deliveries.c.channel != ChannelName.INBOX.value,
    )
)
_SENT_SINCE = _deliveries_since(deliveries.c.sent_at).where(
    notifications.c.category == bindparam("category")
)


def recent_deliveries(
    conn: Connection, user_ids: Sequence[str], since: datetime
) -> list[tuple[str, str, datetime, str, str]]:
    """(user id, channel, due at, kind, category) of what was sent or planned for these users
    lately on channels that interrupt (what caps and provider limits count)."""
    found = _RECENT_DELIVERIES.rows(conn, {"user_ids": list(user_ids), "since": since})
    return found


def sent_since(
    conn: Connection, user_ids: Sequence[str], *, category: Category, since: datetime
) -> list[AnyRow]:
    """What actually went out to these users in a category lately (not what is planned)."""
    params = {"user_ids": list(user_ids), "since": since, "category": category.value}
    return list(conn.execute(_SENT_SINCE, params))


_PREFERENCES = select(preferences).where(
    preferences.c.user_id.in_(bindparam("user_ids", expanding=True))
)


def get_preferences(conn: Connection, user_ids: Sequence[str]) -> dict[str, AnyRow]:
    return {row.user_id: row for row in conn.execute(_PREFERENCES, {"user_ids": list(user_ids)})}


class PlanningPreferences(NamedTuple):
    """What the planner reads of a user's stored preferences, the JSON documents as their
    text (many users share one: it is parsed once per text, not once per row)."""

    user_id: str
    channels: str
    kind_channels: str | None
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    digest: bool
    has_push_tokens: bool
    has_webhook: bool


_PLANNING_PREFERENCES = PreparedRead(
    lambda dialect: select(
        preferences.c.user_id,
        cast(preferences.c.channels, Text),
        cast(preferences.c.kind_channels, Text),
        preferences.c.quiet_hours_start,
        preferences.c.quiet_hours_end,
        preferences.c.digest,
        func.coalesce(preferences.c.push_tokens_enc, "") != "",
        func.coalesce(preferences.c.webhook_url, "") != "",
    ).where(among(preferences.c.user_id, "user_ids", dialect))
)


def planning_preferences(conn: Connection, user_ids: Sequence[str]) -> list[PlanningPreferences]:
    return [
        PlanningPreferences._make(row)
        for row in _PLANNING_PREFERENCES.rows(conn, {"user_ids": list(user_ids)})
    ]


def upsert_preferences(conn: Connection, values: dict[str, Any]) -> None:
    stmt = _insert(conn, preferences).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[preferences.c.user_id],
        set_={k: v for k, v in values.items() if k != "user_id"},
    )
    conn.execute(stmt)


_later = aliased(consent_events)
_CONSENTS_IN_FORCE = select(
    consent_events.c.user_id,
    consent_events.c.purpose,
    consent_events.c.channel,
    consent_events.c.granted,
).where(
    consent_events.c.user_id.in_(bindparam("user_ids", expanding=True)),
    consent_events.c.purpose.in_(bindparam("purposes", expanding=True)),
    ~exists().where(
        _later.c.user_id == consent_events.c.user_id,
        _later.c.channel == consent_events.c.channel,
        _later.c.purpose == consent_events.c.purpose,
        or_(
            _later.c.at > consent_events.c.at,
            and_(_later.c.at == consent_events.c.at, _later.c.id > consent_events.c.id),
        ),
    ),
)


def consents_in_force(
    conn: Connection, user_ids: Sequence[str], purposes: Sequence[str]
) -> dict[str, dict[tuple[str, str], bool]]:
    """user → (purpose, channel) → the answer of the latest consent event, for `purposes`,
    in one query; a (purpose, channel) with no event is absent."""
    params = {"user_ids": list(user_ids), "purposes": list(purposes)}
    found: dict[str, dict[tuple[str, str], bool]] = {}
    for user_id, purpose, channel, granted in conn.execute(_CONSENTS_IN_FORCE, params):
        found.setdefault(user_id, {})[(purpose, channel)] = bool(granted)
    return found


def current_consents(
    conn: Connection, user_ids: Sequence[str], purpose: str
) -> dict[str, set[str]]:
    """user → channels whose latest consent event (for `purpose`) is a grant."""
    return {
        user_id: {channel for (_, channel), granted in answers.items() if granted}
        for user_id, answers in consents_in_force(conn, user_ids, [purpose]).items()
    }


def insert_consent_event(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(consent_events), values)


def _cancel_pending(
    conn: Connection,
    *,
    user_id: str,
    of: ColumnElement[bool],
    channel: str | None,
    reason: str,
    at: datetime,
) -> list[AnyRow]:
    """One UPDATE: the user's pending deliveries of marketing notifications matching `of`
    (on `channel`, or every channel), not yet claimed by a worker, are cancelled."""
    marketing = select(notifications.c.id).where(
        notifications.c.user_id == user_id, notifications.c.category == Category.MARKETING, of
    )
    stmt = (
        update(deliveries)
        .where(
            deliveries.c.user_id == user_id,
            deliveries.c.status == PENDING,
            deliveries.c.notification_id.in_(marketing.scalar_subquery()),
        )
        .values(status=DeliveryStatus.CANCELLED, reason=reason, final_at=at)
        .returning(deliveries.c.id, deliveries.c.notification_id, deliveries.c.channel)
    )
    if channel is not None:
        stmt = stmt.where(deliveries.c.channel == channel)
    return list(conn.execute(stmt))


def cancel_pending_marketing(
    conn: Connection, *, user_id: str, channel: str, reason: str, at: datetime
) -> list[AnyRow]:
    """Every marketing delivery to this user on this channel not yet claimed by a worker is
    cancelled (a claimed one is rechecked by the dispatcher before it goes); the cancelled
    deliveries' ids, notification ids and channels."""
    return _cancel_pending(conn, user_id=user_id, of=true(), channel=channel, reason=reason, at=at)


def cancel_pending_personalised(
    conn: Connection, *, user_id: str, reason: str, at: datetime
) -> list[AnyRow]:
    """Every pending delivery, on any channel, of marketing chosen by the user's own spending
    or behaviour (`marketing_events.PERSONALISED_WHEN`: a sub-wallet suggestion, a
    personalised promotion): personalised marketing turned off."""
    n = notifications.c
    personalised = or_(
        false(),
        *(
            n.kind == kind if flag is None else and_(n.kind == kind, n.data[flag].as_boolean())
            for kind, flag in marketing_events.PERSONALISED_WHEN.items()
        ),
    )
    return _cancel_pending(
        conn, user_id=user_id, of=personalised, channel=None, reason=reason, at=at
    )


def consent_history(
    conn: Connection,
    user_id: str,
    *,
    before: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[AnyRow]:
    """Newest first by (moment, id); `before` is the last (moment, id) of the previous page."""
    events = consent_events.c
    stmt = select(consent_events).where(events.user_id == user_id)
    if before is not None:
        at, last_id = before
        stmt = stmt.where(or_(events.at < at, and_(events.at == at, events.id < last_id)))
    stmt = stmt.order_by(events.at.desc(), events.id.desc())
    return list(conn.execute(stmt if limit is None else stmt.limit(limit)))


# -- dispatcher ------------------------------------------------------------------------


def _leasing(
    lockable: Select[Any], *, status: DeliveryStatus, order_by: tuple[str, ...]
) -> dict[str, tuple[Executable, ...]]:
    """Per dialect, the statements that lease the deliveries `lockable` locks (skipping
    rows another worker holds) to `owner` until `lease_until` and load them with their
    notice, in `order_by` order. One statement on PostgreSQL (the UPDATE in a CTE), two on
    SQLite, whose one writer needs no row locks and whose RETURNING sees only the updated
    table; the second takes the leased ids as `ids`."""
    lease = (
        update(deliveries)
        .where(deliveries.c.id.in_(lockable.scalar_subquery()))
        .values(
            status=status.value,
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("lease_until", type_=deliveries.c.lease_expires_at.type),
        )
    )
    leased = lease.returning(*deliveries.c).cte("leased")
    in_one = (
        select(leased, *_NOTICE_COLUMNS)
        .join(notifications, notifications.c.id == leased.c.notification_id)
        .order_by(*(leased.c[name] for name in order_by))
    )
    load = (
        select(deliveries, *_NOTICE_COLUMNS)
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(*(deliveries.c[name] for name in order_by))
    )
    return {
        "postgresql": (in_one,),
        "sqlite": (lease.returning(deliveries.c.id), load),
    }


_NOTICE_COLUMNS = (
    notifications.c.kind,
    notifications.c.category,
    notifications.c.data,
    notifications.c.event_id,
    notifications.c.created_at.label("notified_at"),
)
"""What the dispatcher needs of a claimed delivery's notice."""


def _lease(
    conn: Connection, statements: dict[str, tuple[Executable, ...]], params: dict[str, Any]
) -> list[AnyRow]:
    """Run `_leasing`'s statements for this connection's dialect."""
    match statements[conn.dialect.name]:
        case (in_one,):
            return list(conn.execute(in_one, params))
        case (lease, load):
            ids = list(conn.execute(lease, params).scalars())
            return list(conn.execute(load, {"ids": ids})) if ids else []
    raise AssertionError("a lease is one statement or two")


def _candidates() -> Select[Any]:
    """The ids of up to `limit` due deliveries (or ones whose worker's lease ran out by
    `now`), each the first open delivery of its user and channel, oldest due first.

    A window function, not NOT EXISTS, whose anti-join PostgreSQL planned quadratically on
    a fresh table (9 s per claim). A statement of its own: the lock below then goes by
    primary key, where as a subquery PostgreSQL may lock by scanning every due row."""
    now = bindparam("now", type_=deliveries.c.due_at.type)
    first = (
        select(
            deliveries.c.id,
            deliveries.c.status,
            deliveries.c.due_at,
            deliveries.c.lease_expires_at,
            func.row_number()
            .over(
                partition_by=(deliveries.c.user_id, deliveries.c.channel),
                order_by=deliveries.c.id,
            )
            .label("rank"),
        )
        .where(
            one_of(deliveries.c.status, [status.value for status in OPEN_STATUSES]),
            deliveries.c.due_at <= now,
        )
        .subquery()
    )
    return (
        select(first.c.id)
        .where(first.c.rank == 1, or_(first.c.status == PENDING, first.c.lease_expires_at < now))
        .order_by(first.c.due_at, first.c.id)
        .limit(bindparam("limit"))
    )


def _due_candidates() -> Select[Any]:
    """The `candidates` still due once locked: a row another worker took meanwhile is
    skipped."""
    now = bindparam("now", type_=deliveries.c.due_at.type)
    locked = deliveries.alias("locked")
    return (
        select(locked.c.id)
        .where(
            locked.c.id.in_(bindparam("candidates", expanding=True)),
            or_(
                and_(locked.c.status == PENDING, locked.c.due_at <= now),
                and_(locked.c.status == SENDING, locked.c.lease_expires_at < now),
            ),
        )
        .with_for_update(skip_locked=True)
    )


_CANDIDATES = _candidates()
_CLAIM_DUE = _leasing(_due_candidates(), status=SENDING, order_by=("due_at", "id"))


def claim_due_deliveries(
    conn: Connection, *, now: datetime, limit: int, owner: str, lease_until: datetime
) -> list[AnyRow]:
    """Take due deliveries (and ones whose worker's lease ran out) for this worker.

    A delivery waits while an earlier one for the same user and channel is still open, so
    each user receives their notices in order.
    """
    candidates = list(conn.execute(_CANDIDATES, {"now": now, "limit": limit}).scalars())
    if not candidates:
        return []
    params = {"now": now, "candidates": candidates, "owner": owner, "lease_until": lease_until}
    return _lease(conn, _CLAIM_DUE, params)


def _due_digests() -> Select[Any]:
    now = bindparam("now", type_=deliveries.c.due_at.type)
    locked = deliveries.alias("locked")
    return (
        select(locked.c.id)
        .where(
            or_(
                and_(locked.c.status == DIGEST, locked.c.due_at <= now),
                and_(locked.c.status == DIGESTING, locked.c.lease_expires_at < now),
            )
        )
        .order_by(locked.c.user_id, locked.c.channel, locked.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


_CLAIM_DIGESTS = _leasing(_due_digests(), status=DIGESTING, order_by=("user_id", "channel", "id"))


def claim_due_digests(
    conn: Connection, *, now: datetime, limit: int, owner: str, lease_until: datetime
) -> list[AnyRow]:
    """Digest rows whose time has come, for one summary message per user and channel."""
    params = {"now": now, "limit": limit, "owner": owner, "lease_until": lease_until}
    return _lease(conn, _CLAIM_DIGESTS, params)


def _earliest(column: ColumnElement[datetime], *statuses: DeliveryStatus) -> ScalarSelect[Any]:
    """The least `column` of the deliveries in `statuses` (for one status, the first entry
    of the (status, due_at) index)."""
    in_statuses = one_of(deliveries.c.status, [status.value for status in statuses])
    return select(func.min(column)).where(in_statuses).scalar_subquery()


_NEXT_DUE = select(
    _earliest(deliveries.c.due_at, PENDING),
    _earliest(deliveries.c.due_at, DIGEST),
    _earliest(deliveries.c.lease_expires_at, SENDING, DIGESTING),
)


def next_due_at(conn: Connection) -> datetime | None:
    """The earliest moment a delivery may be claimed (a retry's or a window's due time, a
    digest's, a lease running out); None when no delivery is open."""
    moments = [as_utc(moment) for moment in conn.execute(_NEXT_DUE).one() if moment is not None]
    return min(moments, default=None)


def finish_digest(
    conn: Connection, delivery_ids: Sequence[str], owner: str, values: dict[str, Any]
) -> int:
    stmt = (
        update(deliveries)
        .where(
            deliveries.c.id.in_(delivery_ids),
            deliveries.c.status == DIGESTING,
            deliveries.c.lease_owner == owner,
        )
        .values(lease_owner=None, lease_expires_at=None, **values)
    )
    return int(conn.execute(stmt).rowcount)


_OWNED = select(deliveries.c.id).where(
    deliveries.c.id.in_(bindparam("ids", expanding=True)),
    deliveries.c.status == SENDING.value,
    deliveries.c.lease_owner == bindparam("owner"),
)
_OWNED_LOCKED = {"postgresql": _OWNED.with_for_update(), "sqlite": _OWNED}


@cache
def _finishing(columns: tuple[str, ...]) -> Update:
    """The UPDATE that records one shape of outcome (the columns it sets), built once."""
    return (
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(
            lease_owner=None,
            lease_expires_at=None,
            **{c: bindparam(f"b_{c}", type_=deliveries.c[c].type) for c in columns},
        )
    )


def finish_deliveries(
    conn: Connection, owner: str, outcomes: Sequence[tuple[str, dict[str, Any]]]
) -> set[str]:
    """Record outcomes, only for deliveries this worker still holds the lease on; returns
    those ids. The owned rows are locked first, so the updates (one executemany per shape
    of outcome) cannot lose to a worker retaking an expired lease in between."""
    if not outcomes:
        return set()
    params = {"ids": [delivery_id for delivery_id, _ in outcomes], "owner": owner}
    owned = set(conn.scalars(_OWNED_LOCKED[conn.dialect.name], params))
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for delivery_id, values in outcomes:
        if delivery_id in owned:
            row = {"b_id": delivery_id} | {f"b_{key}": value for key, value in values.items()}
            shapes.setdefault(tuple(sorted(values)), []).append(row)
    for columns, rows in shapes.items():
        conn.execute(_finishing(columns), rows)
    return owned


_INSERT_ATTEMPTS = PreparedRows(insert(delivery_attempts))


def insert_attempts(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row statements; every row sets the same columns."""
    _INSERT_ATTEMPTS.rows(conn, rows)


_INSERT_INBOX_ITEMS = PreparedRows(
    {
        "postgresql": pg_insert(inbox_items).on_conflict_do_nothing(),
        "sqlite": sqlite_insert(inbox_items).on_conflict_do_nothing(),
    }
)


def insert_inbox_items(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Exactly once per notification, whatever happens around it (unique constraint);
    multi-row statements, every row setting the same columns."""
    _INSERT_INBOX_ITEMS.rows(conn, rows)


# -- reads -----------------------------------------------------------------------------


def list_inbox(
    conn: Connection, user_id: str, *, before_id: str | None, limit: int, unread_only: bool
) -> list[AnyRow]:
    stmt = newest_first(
        select(inbox_items).where(inbox_items.c.user_id == user_id),
        inbox_items.c.id,
        before_id=before_id,
        limit=limit,
    )
    if unread_only:
        stmt = stmt.where(inbox_items.c.read_at.is_(None))
    return list(conn.execute(stmt))


def unread_count(conn: Connection, user_id: str) -> int:
    stmt = select(func.count()).where(
        inbox_items.c.user_id == user_id, inbox_items.c.read_at.is_(None)
    )
    return int(conn.execute(stmt).scalar_one())


def inbox_item_for(conn: Connection, notification_id: str) -> AnyRow | None:
    stmt = select(inbox_items).where(inbox_items.c.notification_id == notification_id)
    return conn.execute(stmt).first()


def mark_read(conn: Connection, user_id: str, item_ids: Sequence[str] | None, at: datetime) -> int:
    stmt = update(inbox_items).where(
        inbox_items.c.user_id == user_id, inbox_items.c.read_at.is_(None)
    )
    if item_ids is not None:
        stmt = stmt.where(inbox_items.c.id.in_(item_ids))
    return int(conn.execute(stmt.values(read_at=at)).rowcount)


def list_notifications(
    conn: Connection, user_id: str, *, before_id: str | None, limit: int
) -> list[AnyRow]:
    """The user's notices, newest first (ids are ULIDs, so id order is time order)."""
    stmt = select(
        notifications.c.id,
        notifications.c.kind,
        notifications.c.category,
        notifications.c.created_at,
    ).where(notifications.c.user_id == user_id)
    return list(
        conn.execute(newest_first(stmt, notifications.c.id, before_id=before_id, limit=limit))
    )


def delivery_statuses_of(conn: Connection, notification_ids: Sequence[str]) -> list[AnyRow]:
    """Each delivery's channel, status and reason, for a page of notices in one query."""
    if not notification_ids:
        return []
    stmt = (
        select(
            deliveries.c.notification_id,
            deliveries.c.channel,
            deliveries.c.status,
            deliveries.c.reason,
        )
        .where(deliveries.c.notification_id.in_(notification_ids))
        .order_by(deliveries.c.id)
    )
    return list(conn.execute(stmt))


def get_notification(conn: Connection, notification_id: str) -> AnyRow | None:
    stmt = select(notifications).where(notifications.c.id == notification_id)
    return conn.execute(stmt).first()


def deliveries_of(conn: Connection, notification_id: str) -> list[AnyRow]:
    return rows_where(conn, deliveries.c.notification_id, notification_id, order_by=deliveries.c.id)


def attempts_of(conn: Connection, delivery_ids: Sequence[str]) -> list[AnyRow]:
    stmt = (
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(delivery_attempts.c.id)
    )
    return list(conn.execute(stmt))


def deliveries_with_code(conn: Connection, code: str) -> list[AnyRow]:
    stmt = (
        select(deliveries, notifications.c.kind)
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(deliveries.c.auth_code == code)
    )
    return list(conn.execute(stmt))


def get_delivery(conn: Connection, delivery_id: str) -> AnyRow | None:
    return conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()


def set_delivery_status(
    conn: Connection,
    delivery_id: str,
    *,
    status: DeliveryStatus,
    at: datetime,
    reason: str | None,
) -> bool:
    """A provider's report moves a sent delivery to its final status (once)."""
    stmt = (
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == DeliveryStatus.SENT)
        .values(status=status, final_at=at, reason=reason)
    )
    return bool(conn.execute(stmt).rowcount == 1)


def event_field(conn: Connection, event_id: str, key: str) -> Any:
    """One field of an outbox event's data (a sealed one-time code), or None."""
    data = conn.execute(select(outbox.c.data).where(outbox.c.id == event_id)).scalar_one_or_none()
    return None if data is None else dict(data).get(key)


def set_webhook_secrets(
    conn: Connection,
    user_id: str,
    *,
    current: str,
    previous: str | None,
    previous_until: datetime | None,
) -> None:
    """The sealed secrets of a user's webhook endpoint (a rotation)."""
    conn.execute(
        update(preferences)
        .where(preferences.c.user_id == user_id)
        .values(
            webhook_secret_enc=current,
            webhook_previous_secret_enc=previous,
            webhook_previous_secret_until=previous_until,
        )
    )


def set_push_tokens(conn: Connection, user_id: str, sealed: str | None) -> None:
    """Replace a user's sealed push tokens (an unregistered device removed)."""
    conn.execute(
        update(preferences).where(preferences.c.user_id == user_id).values(push_tokens_enc=sealed)
    )


_SENT_DEVICES = select(delivery_attempts.c.delivery_id, delivery_attempts.c.device).where(
    delivery_attempts.c.delivery_id.in_(bindparam("ids", expanding=True)),
    delivery_attempts.c.outcome == AttemptOutcome.SENT.value,
    delivery_attempts.c.device.is_not(None),
)


def sent_devices(conn: Connection, delivery_ids: Sequence[str]) -> dict[str, set[str]]:
    """Push deliveries → the devices that already have them (a retry skips those)."""
    found: dict[str, set[str]] = {}
    if not delivery_ids:
        return found
    for row in conn.execute(_SENT_DEVICES, {"ids": list(delivery_ids)}):
        found.setdefault(row.delivery_id, set()).add(row.device)
    return found
