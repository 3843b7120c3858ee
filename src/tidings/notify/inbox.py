"""The in-app inbox: what a user reads in the app, newest first, with an unread count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.errors import NotFound
from tidings.kit.ids import is_id
from tidings.kit.pagination import decode_cursor, next_cursor
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import visible_or_raise
from tidings.notify import repository
from tidings.notify.channels.inbox import BODY, TITLE
from tidings.notify.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryStatusOut,
    InboxItemOut,
    InboxPage,
    MarkedRead,
    NotificationOut,
    NotificationPage,
    NotificationSummaryOut,
)
from tidings.notify.types import Category, ChannelName
from tidings.privacy.crypto import Keyring
from tidings.privacy.userkeys import FreeText
from tidings.users import directory


class NotificationNotFound(NotFound):
    code = "notification-not-found"


def list_inbox(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    unread_only: bool,
) -> InboxPage:
    directory.require_user(conn, user_id)
    rows = repository.list_inbox(
        conn, user_id, before_id=decode_cursor(cursor), limit=limit + 1, unread_only=unread_only
    )
    text = FreeText(conn, keyring)
    text.load([user_id], create=False)
    items = [
        InboxItemOut(
            id=row.notification_id,
            kind=row.kind,
            category=Category(row.category),
            title=text.open(user_id, row.title, context=TITLE) or "",
            body=text.open(user_id, row.body, context=BODY) or "",
            read=row.read_at is not None,
            created_at=as_utc(row.created_at),
        )
        for row in rows[:limit]
    ]
    return InboxPage(
        items=items,
        next_cursor=next_cursor(rows, limit),
        unread_count=repository.unread_count(conn, user_id),
    )


def list_notifications(
    conn: Connection, user_id: str, *, limit: int, cursor: str | None
) -> NotificationPage:
    """Every notice of the user, newest first, each with its deliveries' status: whether it
    reached the inbox, went by SMS, waits for a window or was stopped, and why. Two queries
    a page (after the user's own), however many notices it holds."""
    directory.require_user(conn, user_id)
    rows = repository.list_notifications(
        conn, user_id, before_id=decode_cursor(cursor), limit=limit + 1
    )
    page = rows[:limit]
    statuses: dict[str, list[DeliveryStatusOut]] = {row.id: [] for row in page}
    for delivery in repository.delivery_statuses_of(conn, [row.id for row in page]):
        statuses[delivery.notification_id].append(
            DeliveryStatusOut(
                channel=ChannelName(delivery.channel),
                status=delivery.status,
                reason=delivery.reason,
            )
        )
    return NotificationPage(
        items=[
            NotificationSummaryOut(
                id=row.id,
                kind=row.kind,
                category=Category(row.category),
                created_at=as_utc(row.created_at),
                deliveries=statuses[row.id],
            )
            for row in page
        ],
        next_cursor=next_cursor(rows, limit),
    )


def _visible_notification(
    conn: Connection, notification_id: str, acting_user_id: str | None
) -> AnyRow:
    """A user sees only their own notices; another's is 'not found'."""
    known = is_id(notification_id, "ntf")
    row = repository.get_notification(conn, notification_id) if known else None
    return visible_or_raise(
        row, acting_user_id, NotificationNotFound(f"notification {notification_id} not found")
    )


def mark_read(
    conn: Connection, notification_id: str, *, acting_user_id: str | None, at: datetime
) -> MarkedRead:
    row = _visible_notification(conn, notification_id, acting_user_id)
    item = repository.inbox_item_for(conn, notification_id)
    if item is None:
        raise NotificationNotFound(f"notification {notification_id} is not in the inbox")
    marked = repository.mark_read(conn, row.user_id, [item.id], at)
    return MarkedRead(marked=marked, unread_count=repository.unread_count(conn, row.user_id))


def mark_all_read(conn: Connection, user_id: str, *, at: datetime) -> MarkedRead:
    directory.require_user(conn, user_id)
    marked = repository.mark_read(conn, user_id, None, at)
    return MarkedRead(marked=marked, unread_count=0)


def get_notification(
    conn: Connection, notification_id: str, *, acting_user_id: str | None
) -> NotificationOut:
    row = _visible_notification(conn, notification_id, acting_user_id)
    deliveries = repository.deliveries_of(conn, notification_id)
    attempts: dict[str, list[AttemptOut]] = {}
    for attempt in repository.attempts_of(conn, [d.id for d in deliveries]):
        attempts.setdefault(attempt.delivery_id, []).append(
            AttemptOut(
                provider=attempt.provider,
                device=attempt.device,
                outcome=attempt.outcome,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
                at=as_utc(attempt.at),
            )
        )
    return NotificationOut(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        category=Category(row.category),
        event_id=row.event_id,
        created_at=as_utc(row.created_at),
        deliveries=[
            DeliveryOut(
                id=d.id,
                channel=ChannelName(d.channel),
                status=d.status,
                reason=d.reason,
                due_at=as_utc(d.due_at),
                provider=d.provider,
                fallback_of=d.fallback_of,
                attempts=attempts.get(d.id, []),
                sent_at=as_utc(d.sent_at) if d.sent_at else None,
                final_at=as_utc(d.final_at) if d.final_at else None,
            )
            for d in deliveries
        ],
    )
