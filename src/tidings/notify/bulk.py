"""Marketing to many users at once, planned set-based: one statement per page.

The relay plans one intent at a time in Python; a campaign to a million users cannot. Here
the same rules run as SQL over a page of the audience: one notice per user (the unique
(user, event, kind) constraint makes a re-run add nobody twice) and, for the notices just
written (PostgreSQL: the same statement, fed by their `INSERT … RETURNING`), one delivery
per channel with consent, each either

- `suppressed` `unreachable` / `skipped` `no_device`: no phone, email or push device;
- `suppressed` `cap`: the user's marketing cap (interrupting channels) is full;
- `pending`, due at the opening of the sending window in the user's own time zone
  (computed once per time zone in the page, `reason` `marketing_window` when postponed).

A channel without marketing consent (the latest consent-ledger row, the inbox included)
gets no row: the send is counted (`BulkPlan.no_consent`) for the caller's report.
Quiet hours, and consent, personalised marketing or caps that change later, are applied
again by the dispatcher just before sending (`planner.recheck_marketing`), as for every
marketing delivery. Personalisation itself is not planned here: the caller's audience of a
personalised campaign already leaves out who turned it off.
The caller (the composition root) hands the audience over as a SELECT, so the engine never
imports the domain that chose it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    String,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
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
    """What one page planned: notices and delivery rows written, and the sends refused for
    want of marketing consent on a channel (counted, not written: most of a campaign's
    channels are refused, and a row per refusal cost a third of the planning time)."""

    notifications: int
    deliveries: int
    no_consent: int = 0


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


@dataclass(frozen=True, slots=True)
class _ChannelVerdict:
    """The columns of one channel in the page's verdicts: its consent, its reachability."""

    channel: ChannelName
    consent: str
    reachable: str | None
    """None: always reachable (the inbox)."""


def _reachable(channel: ChannelName, page: Any) -> ColumnElement[bool] | None:
    column = {ChannelName.SMS: "has_phone", ChannelName.EMAIL: "has_email"}.get(channel)
    if column is not None:
        has: ColumnElement[bool] = page.c[column] == 1
        return has
    if channel is ChannelName.PUSH:
        return exists().where(
            preferences.c.user_id == page.c.user_id, preferences.c.push_tokens_enc.is_not(None)
        )
    return None


def _marketing_sent_before(
    page: Any, *, not_before: datetime, length: timedelta
) -> ColumnElement[int]:
    """The user's interrupting marketing deliveries counted by the cap's trailing period."""
    earlier, notice = deliveries.alias("earlier"), notifications.alias("earlier_notice")
    # The notice's category as a scalar sub-select (a probe by primary key per earlier
    # delivery), not a join: the page's statement runs without nested-loop joins.
    category = (
        select(notice.c.category).where(notice.c.id == earlier.c.notification_id).scalar_subquery()
    )
    return (
        select(func.count())
        .select_from(earlier)
        .where(
            earlier.c.user_id == page.c.user_id,
            earlier.c.channel.in_(_INTERRUPTING),
            earlier.c.status.in_(_COUNTED),
            earlier.c.due_at > not_before - length,
            category == Category.MARKETING.value,
        )
        .scalar_subquery()
    )


def _verdicts(
    notices: Any,
    page: Any,
    channels: Sequence[ChannelName],
    *,
    due: ColumnElement[datetime],
    window_reason: ColumnElement[str | None],
    not_before: datetime,
    cap: tuple[timedelta, int] | None,
) -> tuple[CTE, list[_ChannelVerdict]]:
    """One row per new notice with everything its deliveries depend on, each worked out
    once (materialised): consent and reachability per channel, the user's earlier capped
    marketing, the due time in their window."""
    columns: list[ColumnElement[Any]] = [
        notices.c.id.label("notification_id"),
        page.c.user_id,
        due.label("due_at"),
        window_reason.label("window_reason"),
    ]
    found: list[_ChannelVerdict] = []
    for position, channel in enumerate(channels):
        consent = f"consent_{position}"
        columns.append(
            consent_in_force(
                page.c.user_id, purpose=MARKETING, channel=channel.value, granted=True
            ).label(consent)
        )
        reachable = _reachable(channel, page)
        if reachable is not None:
            columns.append(reachable.label(f"reachable_{position}"))
        found.append(
            _ChannelVerdict(
                channel, consent, None if reachable is None else f"reachable_{position}"
            )
        )
    if cap is not None:
        columns.append(
            _marketing_sent_before(page, not_before=not_before, length=cap[0]).label("sent_before")
        )
    verdicts = (
        select(*columns)
        .select_from(notices.join(page, page.c.user_id == notices.c.user_id))
        .cte("verdicts")
        .prefix_with("MATERIALIZED")
    )
    return verdicts, found


def _sendable(verdicts: CTE, verdict: _ChannelVerdict) -> ColumnElement[bool]:
    """Consent and an address: what the cap then counts, channel after channel."""
    v = verdicts.c
    consent: ColumnElement[bool] = v[verdict.consent].is_(True)
    if verdict.reachable is None:
        return consent
    return and_(consent, v[verdict.reachable].is_(True))


def _blocked(
    verdicts: CTE, found: Sequence[_ChannelVerdict], position: int, *, cap_limit: int | None
) -> ColumnElement[str | None]:
    """Why the channel at `position` cannot carry the message (NULL: it can). The cap is
    applied as if the channels were planned one after the other: an interrupting channel is
    capped when the user's earlier marketing plus the sendable interrupting channels before
    it in this plan reach the limit."""
    verdict = found[position]
    v = verdicts.c
    reasons: list[tuple[ColumnElement[bool], str]] = [(~v[verdict.consent].is_(True), "no_consent")]
    if verdict.reachable is not None:
        missing = "no_device" if verdict.channel is ChannelName.PUSH else "unreachable"
        reasons.append((~v[verdict.reachable].is_(True), missing))
    if cap_limit is not None and verdict.channel.value in _INTERRUPTING:
        before = [
            case((_sendable(verdicts, earlier), 1), else_=0)
            for earlier in found[:position]
            if earlier.channel.value in _INTERRUPTING
        ]
        reasons.append((sum(before, v.sent_before) >= cap_limit, "cap"))
    return case(*[(condition, literal(reason)) for condition, reason in reasons], else_=null())


def _delivery_rows(
    verdicts: CTE, found: Sequence[_ChannelVerdict], *, now: datetime, cap_limit: int | None
) -> CompoundSelect[Any]:
    """Every channel's delivery of the new notices, except the sends without consent: those
    are counted (`BulkPlan.no_consent`), not stored."""
    v = verdicts.c
    branches = []
    for position, verdict in enumerate(found):
        blocked = _blocked(verdicts, found, position, cap_limit=cap_limit)
        status = case(
            (blocked.is_(None), literal(DeliveryStatus.PENDING.value)),
            (blocked == "no_device", literal(DeliveryStatus.SKIPPED.value)),
            else_=literal(DeliveryStatus.SUPPRESSED.value),
        )
        branches.append(
            select(
                literal(_ID_CLOCK.prefix("dlv")) + func.substr(v.user_id, *_USER_RANDOM),
                v.notification_id,
                v.user_id,
                literal(verdict.channel.value),
                status,
                case((blocked.is_(None), v.due_at), else_=literal(now, Timestamp)),
                literal(""),
                func.coalesce(blocked, v.window_reason),
                literal(now, Timestamp),
            ).where(v[verdict.consent].is_(True))
        )
    return union_all(*branches)


def _no_consent(verdicts: CTE, found: Sequence[_ChannelVerdict]) -> ColumnElement[int]:
    """The sends of the page refused for want of consent, one per user and channel."""
    v = verdicts.c
    refused = [case((v[f.consent].is_(True), 0), else_=1) for f in found]
    return func.coalesce(func.sum(sum(refused[1:], refused[0])), 0)


_DELIVERY_COLUMNS = (
    "id",
    "notification_id",
    "user_id",
    "channel",
    "status",
    "due_at",
    "fallback",
    "reason",
    "created_at",
)


_INDEX_DRIVEN = ("enable_nestloop", "enable_seqscan")


@contextmanager
def _index_driven(conn: Connection) -> Iterator[None]:
    """PostgreSQL, for the page's statement: hash joins and index probes, whatever the
    statistics say. The page's rows were written in this very transaction and a fresh
    `deliveries` may have been analysed empty, so the planner estimates one row: a nested
    loop over "one" row rescans the page once per user, and a sequential scan of "empty"
    deliveries per user grows with every page (both O(n²)). Every per-user look-up in the
    statement is a sub-select on an index (consent, the cap, devices)."""
    for setting in _INDEX_DRIVEN:
        conn.execute(text("SELECT set_config(:name, 'off', true)"), {"name": setting})
    try:
        yield
    finally:
        for setting in _INDEX_DRIVEN:
            conn.execute(text("SELECT set_config(:name, 'on', true)"), {"name": setting})


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
    message_key, locale, timezone, has_phone and has_email (1/0). Idempotent: a user who
    already has the notice for this event gets nothing more (its deliveries were planned
    with it). On PostgreSQL the page is one statement: the notices' `INSERT … RETURNING`
    feeds the deliveries directly."""
    now, not_before = now.astimezone(UTC), max(not_before.astimezone(UTC), now.astimezone(UTC))
    without_jit(conn)
    postgres = conn.dialect.name == "postgresql"
    # A subquery, not a CTE: joined to the new notices by its table's index, not scanned.
    page = audience.subquery("page")
    notices = (
        _insert(conn, notifications)
        .from_select(
            ["id", "user_id", "event_id", "kind", "category", "data", "created_at"],
            _notice_rows(page, messages, event_id=event_id, kind=kind, now=now),
        )
        .on_conflict_do_nothing()
    )
    due, window_reason = _window_due(conn, page, not_before=not_before, policy=policy)
    cap = policy.category_caps.get(Category.MARKETING)
    if not any(channel.value in _INTERRUPTING for channel in channels):
        cap = None
    cap_limit = None if cap is None else cap[1]
    if postgres:
        new = notices.returning(notifications.c.id, notifications.c.user_id).cte("new_notices")
        verdicts, found = _verdicts(
            new,
            page,
            channels,
            due=due,
            window_reason=window_reason,
            not_before=not_before,
            cap=cap,
        )
        planned = (
            pg_insert(deliveries)
            .from_select(
                _DELIVERY_COLUMNS, _delivery_rows(verdicts, found, now=now, cap_limit=cap_limit)
            )
            .returning(deliveries.c.id)
            .cte("planned")
        )
        with _index_driven(conn):
            written, delivered, refused = conn.execute(
                select(
                    select(func.count()).select_from(new).scalar_subquery(),
                    select(func.count()).select_from(planned).scalar_subquery(),
                    select(_no_consent(verdicts, found)).scalar_subquery(),
                )
            ).one()
        return BulkPlan(int(written), int(delivered), int(refused))
    written = conn.execute(notices).rowcount
    # SQLite has no data-modifying CTE: the new notices are this event's notices of the
    # page that have no delivery yet (every channel's are written in one statement).
    fresh = (
        select(notifications.c.id, notifications.c.user_id)
        .where(
            notifications.c.event_id == event_id,
            notifications.c.kind == kind,
            notifications.c.user_id.in_(select(page.c.user_id)),
            ~exists().where(deliveries.c.notification_id == notifications.c.id),
        )
        .subquery("new_notices")
    )
    verdicts, found = _verdicts(
        fresh, page, channels, due=due, window_reason=window_reason, not_before=not_before, cap=cap
    )
    refused = conn.execute(select(_no_consent(verdicts, found))).scalar_one()
    delivered = conn.execute(
        insert(deliveries).from_select(
            _DELIVERY_COLUMNS, _delivery_rows(verdicts, found, now=now, cap_limit=cap_limit)
        )
    ).rowcount
    return BulkPlan(int(written), int(delivered), int(refused))


def _notice_rows(
    page: Any, messages: Sequence[BulkMessage], *, event_id: str, kind: str, now: datetime
) -> Select[Any]:
    """One notice per user of the page: each row's data by its group (variant) and language;
    ids are a per-statement time part plus the user's own ULID randomness."""
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
    return select(
        literal(_ID_CLOCK.prefix("ntf")) + func.substr(page.c.user_id, *_USER_RANDOM),
        page.c.user_id,
        literal(event_id),
        literal(kind),
        literal(Category.MARKETING.value),
        data,
        literal(now, Timestamp),
    ).where(page.c.message_key.in_([message.key for message in messages]))


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
