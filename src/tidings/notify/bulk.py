"""Marketing to many users at once, planned set-based: `INSERT … SELECT` per page.

The relay plans one intent at a time in Python; a campaign to a million users cannot. Here
the same rules run as SQL over a page of the audience: one notice per user (the unique
(user, event, kind) constraint makes a re-run add nobody twice), then one delivery per
channel, each either

- `suppressed` `no_consent`: no marketing consent on that channel (the latest consent-ledger
  row), checked per channel, the inbox included;
- `suppressed` `unreachable` / `skipped` `no_device`: no phone, email or push device;
- `suppressed` `cap`: the user's marketing cap (interrupting channels) is full;
- `pending`, due at the opening of the sending window in the user's own time zone
  (computed once per time zone in the page, `reason` `marketing_window` when postponed).

Quiet hours, and consent or caps that change later, are applied again by the dispatcher
just before sending (`planner.recheck_marketing`), as for every marketing delivery.
The caller (the composition root) hands the audience over as a SELECT, so the engine never
imports the domain that chose it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from ulid import ULID

from tidings.kit.db import without_jit
from tidings.kit.tables import Json, Timestamp
from tidings.notify.models import consent_in_force, deliveries, notifications, preferences
from tidings.notify.planner import PlannerPolicy, window_opening
from tidings.notify.preferences import MARKETING
from tidings.notify.types import Category, ChannelName, DeliveryStatus

DEFAULT_LOCALE = "zh-CN"
_COUNTED = (
    DeliveryStatus.PENDING.value,
    DeliveryStatus.SENDING.value,
    DeliveryStatus.SENT.value,
    DeliveryStatus.DELIVERED.value,
)
_INTERRUPTING = tuple(c.value for c in ChannelName if c is not ChannelName.INBOX)
"""The channels a marketing cap counts (an index probe per channel, not a scan)."""
_ULID_TIME_CHARS = 10
_USER_RANDOM = (15, 16)
"""substr(user_id, 15, 16): the 16 random characters of a `usr_` ULID, unique per user."""


@dataclass(frozen=True, slots=True)
class BulkMessage:
    """What one group of the audience (`message_key`) receives: notice data per locale;
    users of another locale get the default locale's."""

    key: str
    data: Mapping[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BulkPlan:
    notifications: int
    deliveries: int


def _insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


class _IdClock:
    """A millisecond for each id prefix this process hands out, never the same twice: the
    user's random part completes an id, so two statements (two campaigns, two channels)
    must never share a time part."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def prefix(self, prefix: str) -> str:
        with self._lock:
            self._last = max(self._last + 1, int(time.time() * 1000))
            at = datetime.fromtimestamp(self._last / 1000, UTC)
        return f"{prefix}_{str(ULID.from_datetime(at))[:_ULID_TIME_CHARS]}"


_ID_CLOCK = _IdClock()


def speaks(locale_column: Any, locale: str) -> ColumnElement[bool]:
    """Users whose stored locale (a BCP 47 tag such as `zh-Hans-CN`) is in `locale`'s
    language."""
    language = locale.split("-")[0]
    return or_(locale_column == language, locale_column.like(f"{language}-%"))


def _language(message: BulkMessage, locale: str, page: Any) -> ColumnElement[bool]:
    """Which users of the page read `locale`'s data: their own language, or for the default
    locale, every language the message has no data for."""
    if locale != DEFAULT_LOCALE:
        return speaks(page.c.locale, locale)
    others = [other for other in message.data if other != DEFAULT_LOCALE]
    return and_(true(), *(~speaks(page.c.locale, other) for other in others))


def _zone(name: str, policy: PlannerPolicy) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(policy.default_timezone)


def _window_due(
    conn: Connection, audience: Any, *, not_before: datetime, policy: PlannerPolicy
) -> tuple[ColumnElement[datetime], ColumnElement[str | None]]:
    """Due time and reason per row: the sending window's opening in the user's own zone,
    computed once per distinct time zone of the page."""
    zones = [str(z) for z in conn.execute(select(audience.c.timezone).distinct()).scalars()]
    openings = {
        zone: window_opening(not_before, policy.marketing_window, _zone(zone, policy))
        for zone in zones
    }
    nothing: ColumnElement[str | None] = literal(None, String())
    if not openings:
        return literal(not_before, Timestamp), nothing
    due: ColumnElement[datetime] = case(
        *[(audience.c.timezone == zone, literal(at, Timestamp)) for zone, at in openings.items()],
        else_=literal(not_before, Timestamp),
    )
    later = [zone for zone, at in openings.items() if at > not_before]
    if not later:
        return due, nothing
    reason: ColumnElement[str | None] = case(
        (audience.c.timezone.in_(later), literal("marketing_window")), else_=null()
    )
    return due, reason


def _blocked(
    channel: ChannelName, audience: Any, *, not_before: datetime, policy: PlannerPolicy
) -> ColumnElement[str]:
    """Why this channel cannot carry the message to the row's user (NULL: it can)."""
    reasons: list[tuple[ColumnElement[bool], str]] = [
        (
            ~consent_in_force(
                audience.c.user_id, purpose=MARKETING, channel=channel.value, granted=True
            ),
            "no_consent",
        )
    ]
    if channel is ChannelName.SMS:
        reasons.append((audience.c.has_phone != 1, "unreachable"))
    elif channel is ChannelName.EMAIL:
        reasons.append((audience.c.has_email != 1, "unreachable"))
    elif channel is ChannelName.PUSH:
        has_device = exists().where(
            preferences.c.user_id == audience.c.user_id, preferences.c.push_tokens_enc.is_not(None)
        )
        reasons.append((~has_device, "no_device"))
    cap = policy.category_caps.get(Category.MARKETING)
    if cap is not None and channel is not ChannelName.INBOX:
        length, limit = cap
        earlier, notice = deliveries.alias("earlier"), notifications.alias("earlier_notice")
        sent = (
            select(func.count())
            .select_from(earlier.join(notice, notice.c.id == earlier.c.notification_id))
            .where(
                earlier.c.user_id == audience.c.user_id,
                earlier.c.channel.in_(_INTERRUPTING),
                earlier.c.status.in_(_COUNTED),
                earlier.c.due_at > not_before - length,
                notice.c.category == Category.MARKETING.value,
            )
            .scalar_subquery()
        )
        reasons.append((sent >= limit, "cap"))
    return case(*[(condition, literal(reason)) for condition, reason in reasons], else_=null())


def plan_bulk_marketing(
    conn: Connection,
    *,
    audience: Select[Any],
    event_id: str,
    kind: str,
    messages: Sequence[BulkMessage],
    channels: Sequence[ChannelName],
    not_before: datetime,
    now: datetime,
    policy: PlannerPolicy,
) -> BulkPlan:
    """Plan one page of a bulk marketing send. `audience` has the columns user_id,
    message_key, locale, timezone, has_phone and has_email (1/0). Idempotent: a notice the
    user already has for this event, or a delivery it already has on a channel, is kept."""
    now, not_before = now.astimezone(UTC), max(not_before.astimezone(UTC), now.astimezone(UTC))
    without_jit(conn)
    page = audience.subquery("page")
    notice_prefix = _ID_CLOCK.prefix("ntf")
    # One statement for the page: each row's data by its group (variant) and language.
    data = case(
        *[
            (
                and_(page.c.message_key == message.key, _language(message, locale, page)),
                literal(message.data[locale], Json),
            )
            for message in messages
            for locale in message.data
        ],
        else_=null(),
    )
    rows = select(
        literal(notice_prefix) + func.substr(page.c.user_id, *_USER_RANDOM),
        page.c.user_id,
        literal(event_id),
        literal(kind),
        literal(Category.MARKETING.value),
        data,
        literal(now, Timestamp),
    ).where(page.c.message_key.in_([message.key for message in messages]))
    stmt = (
        _insert(conn, notifications)
        .from_select(["id", "user_id", "event_id", "kind", "category", "data", "created_at"], rows)
        .on_conflict_do_nothing()
        .returning(notifications.c.id)
    )
    written = len(conn.execute(stmt).all())
    due, window_reason = _window_due(conn, page, not_before=not_before, policy=policy)
    planned = 0
    for channel in channels:
        blocked = _blocked(channel, page, not_before=not_before, policy=policy).label("blocked")
        verdicts = (
            select(
                notifications.c.id.label("notification_id"),
                page.c.user_id,
                due.label("due_at"),
                window_reason.label("window_reason"),
                blocked,
            )
            .join(page, page.c.user_id == notifications.c.user_id)
            .where(
                notifications.c.event_id == event_id,
                notifications.c.kind == kind,
                ~exists().where(
                    deliveries.c.notification_id == notifications.c.id,
                    deliveries.c.channel == channel.value,
                ),
            )
            # Materialised: each row's verdict is worked out once, not once per use below.
            .cte("verdicts")
            .prefix_with("MATERIALIZED")
        )
        v = verdicts.c
        skipped = v.blocked == "no_device"
        status = case(
            (v.blocked.is_(None), literal(DeliveryStatus.PENDING.value)),
            (skipped, literal(DeliveryStatus.SKIPPED.value)),
            else_=literal(DeliveryStatus.SUPPRESSED.value),
        )
        delivery_prefix = _ID_CLOCK.prefix("dlv")
        rows = select(
            literal(delivery_prefix) + func.substr(v.user_id, *_USER_RANDOM),
            v.notification_id,
            v.user_id,
            literal(channel.value),
            status,
            case((v.blocked.is_(None), v.due_at), else_=literal(now, Timestamp)),
            literal(""),
            func.coalesce(v.blocked, v.window_reason),
            literal(now, Timestamp),
        )
        stmt = (
            _insert(conn, deliveries)
            .from_select(
                [
                    "id",
                    "notification_id",
                    "user_id",
                    "channel",
                    "status",
                    "due_at",
                    "fallback",
                    "reason",
                    "created_at",
                ],
                rows,
            )
            .returning(deliveries.c.id)
        )
        planned += len(conn.execute(stmt).all())
    return BulkPlan(notifications=written, deliveries=planned)


def cancel_unsent(conn: Connection, *, event_id: str, at: datetime) -> int:
    """Every delivery of this event's notices not yet claimed: cancelled (an operator
    stopped the campaign). A claimed one goes; nothing is taken back."""
    stmt = (
        update(deliveries)
        .where(
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.notification_id.in_(
                select(notifications.c.id).where(notifications.c.event_id == event_id)
            ),
        )
        .values(status=DeliveryStatus.CANCELLED.value, reason="campaign_cancelled", final_at=at)
    )
    return int(conn.execute(stmt).rowcount)
