"""Every query of campaigns.

Segments compile to one set-based query over the users, their wallets, ledger accounts and
payments; the audience is frozen with `INSERT … SELECT` in keyset pages. Other domains'
tables are only ever READ here, in set-based joins (users, wallets, ledger accounts,
transfers, the outbox, and notify's consent ledger and deliveries); nothing here writes
them (see docs/architecture.md, "Reads across domains").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.campaigns.assignment import BUCKETS, HEX_DIGITS, Slice, bucket
from tidings.campaigns.models import campaign_audit, campaign_recipients, campaigns
from tidings.campaigns.schemas import (
    BalanceAtLeast,
    Condition,
    HasSubWallet,
    JoinedWithin,
    LacksSubWallet,
    LocaleIs,
    PaymentsAtLeast,
    Segment,
    SpentAtLeast,
    UserIds,
)
from tidings.events import outbox
from tidings.insights.categories import SpendingCategory, category_sql
from tidings.kit.db import without_jit
from tidings.kit.ids import is_id
from tidings.kit.pagination import newest_first
from tidings.kit.tables import AnyRow, Timestamp, rows_where
from tidings.ledger.models import accounts
from tidings.notify.models import consent_in_force, deliveries, notifications
from tidings.users.models import users
from tidings.wallets.models import transfers, wallets

MARKETING = "marketing"
PERSONALISATION = "personalisation"
PERSONALISATION_CHANNEL = "all"
"""The consent-ledger row of `personalised_marketing`: purpose personalisation, channel all;
the latest row is in force and no row means on."""
SENT_STATUSES = ("sent", "delivered")
OPEN_STATUSES = ("pending", "sending")
R = campaign_recipients


def _insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


# -- campaigns ---------------------------------------------------------------------------


def insert_campaign(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(campaigns), values)


def get_campaign(conn: Connection, campaign_id: str, *, lock: bool = False) -> AnyRow | None:
    stmt = select(campaigns).where(campaigns.c.id == campaign_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


def update_campaign(conn: Connection, campaign_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


def add_suppressed_no_consent(conn: Connection, campaign_id: str, count: int) -> None:
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(suppressed_no_consent=campaigns.c.suppressed_no_consent + count)
    )


def list_campaigns(conn: Connection, *, before: str | None, limit: int) -> list[AnyRow]:
    stmt = newest_first(select(campaigns), campaigns.c.id, before_id=before, limit=limit)
    return list(conn.execute(stmt))


def campaigns_in(conn: Connection, statuses: Sequence[str]) -> list[str]:
    stmt = select(campaigns.c.id).where(campaigns.c.status.in_(statuses)).order_by(campaigns.c.id)
    return list(conn.execute(stmt).scalars())


def open_conversion_windows(conn: Connection) -> list[AnyRow]:
    """Launched campaigns with a conversion goal whose window has not been closed."""
    stmt = select(campaigns).where(
        campaigns.c.launched_at.is_not(None),
        campaigns.c.conversion.is_not(None),
        campaigns.c.conversions_closed_at.is_(None),
    )
    return [row for row in conn.execute(stmt) if row.conversion is not None]


def insert_audit(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(campaign_audit), values)


def audit_of(conn: Connection, campaign_id: str) -> list[AnyRow]:
    return rows_where(conn, campaign_audit.c.campaign_id, campaign_id, order_by=campaign_audit.c.id)


# -- segments ----------------------------------------------------------------------------


def _payments_of_user(
    *, category: SpendingCategory | None, within_days: int, now: datetime
) -> list[ColumnElement[bool]]:
    where = [
        transfers.c.user_id == users.c.id,
        transfers.c.kind == "payment",
        transfers.c.status == "succeeded",
        transfers.c.created_at >= now - timedelta(days=within_days),
    ]
    if category is not None:
        where.append(category_sql(transfers.c.merchant_category) == category.value)
    return where


def _sub_wallet(purpose: str) -> ColumnElement[bool]:
    return exists().where(
        wallets.c.user_id == users.c.id,
        wallets.c.kind == "sub",
        wallets.c.purpose == purpose,
        wallets.c.closed_at.is_(None),
    )


def _condition(condition: Condition, now: datetime) -> ColumnElement[bool]:
    """One condition of a segment as a predicate on the `users` row."""
    match condition:
        case LocaleIs(locale=locale):
            # Stored locales are full BCP 47 tags (`zh-Hans-CN`): match the language.
            language = locale.split("-")[0]
            return or_(users.c.locale == language, users.c.locale.like(f"{language}-%"))
        case JoinedWithin(joined_within_days=days):
            return users.c.created_at >= now - timedelta(days=days)
        case BalanceAtLeast(balance_at_least=amount):
            return exists().where(
                wallets.c.id == users.c.main_wallet_id,
                accounts.c.id == wallets.c.account_id,
                accounts.c.currency == amount.currency,
                accounts.c.balance >= amount.value,
            )
        case HasSubWallet(has_sub_wallet=purpose):
            return _sub_wallet(purpose.value)
        case LacksSubWallet(lacks_sub_wallet=purpose):
            return ~_sub_wallet(purpose.value)
        case SpentAtLeast(spent_at_least=rule):
            spent = (
                select(func.coalesce(func.sum(transfers.c.amount - transfers.c.refunded_amount), 0))
                .where(
                    *_payments_of_user(
                        category=rule.category, within_days=rule.within_days, now=now
                    ),
                    transfers.c.currency == rule.amount.currency,
                )
                .scalar_subquery()
            )
            return spent >= rule.amount.value
        case PaymentsAtLeast(payments_at_least=rule):
            count = (
                select(func.count())
                .select_from(transfers)
                .where(
                    *_payments_of_user(
                        category=rule.category, within_days=rule.within_days, now=now
                    )
                )
                .scalar_subquery()
            )
            return count >= rule.count
        case UserIds(user_ids=ids):
            return users.c.id.in_(ids)
    raise AssertionError(f"unknown condition {condition!r}")  # pragma: no cover


def matches(segment: Segment, *, now: datetime) -> ColumnElement[bool]:
    """The whole segment as one predicate on `users` (every condition must hold)."""
    return and_(true(), *(_condition(c, now) for c in segment.all))


def personalisation_off() -> ColumnElement[bool]:
    return consent_in_force(
        users.c.id, purpose=PERSONALISATION, channel=PERSONALISATION_CHANNEL, granted=False
    )


def marketing_consent_on_any(channels: Sequence[str]) -> ColumnElement[bool]:
    return or_(
        false(),
        *(
            consent_in_force(users.c.id, purpose=MARKETING, channel=channel, granted=True)
            for channel in channels
        ),
    )


def count_audience(
    conn: Connection,
    segment: Segment,
    *,
    channels: Sequence[str],
    personalised: bool,
    now: datetime,
) -> tuple[int, int, int]:
    """(matched, no_consent, personalisation_off) in one query; a member turned away by
    personalisation is counted there only."""
    without_jit(conn)
    off = personalisation_off() if personalised else false()
    no_consent = and_(~off, ~marketing_consent_on_any(channels))
    stmt = (
        select(
            func.count(),
            func.coalesce(func.sum(case((no_consent, 1), else_=0)), 0),
            func.coalesce(func.sum(case((off, 1), else_=0)), 0),
        )
        .select_from(users)
        .where(matches(segment, now=now))
    )
    matched, refused, personal = conn.execute(stmt).one()
    return int(matched), int(refused), int(personal)


def eligible(
    segment: Segment, *, channels: Sequence[str], personalised: bool, now: datetime
) -> ColumnElement[bool]:
    """Matched, marketing consent on at least one of the campaign's channels, and (for a
    personalised campaign) personalised marketing not turned off."""
    clauses = [matches(segment, now=now), marketing_consent_on_any(channels)]
    if personalised:
        clauses.append(~personalisation_off())
    return and_(*clauses)


# -- freezing the audience ---------------------------------------------------------------


def _sqlite_bucket(campaign_id: str, user_id: str) -> int:
    return bucket(campaign_id, user_id)


def _bucket_sql(conn: Connection, campaign_id: str) -> ColumnElement[int]:
    """`assignment.bucket` in SQL: md5 on PostgreSQL; on SQLite the same Python function,
    registered on this connection."""
    if conn.dialect.name == "postgresql":
        if not is_id(campaign_id):  # it goes into the SQL text: our own ids only
            raise ValueError(f"not a campaign id: {campaign_id!r}")
        salted = f"md5('{campaign_id}:' || users.id)"
        expression = (
            f"((('x' || substr({salted}, 1, {HEX_DIGITS}))::bit({HEX_DIGITS * 4})::int)"
            f" % {BUCKETS})"
        )
        column: ColumnElement[int] = literal_column(expression, Integer)
        return column
    raw = conn.connection.driver_connection
    raw.create_function("tidings_bucket", 2, _sqlite_bucket, deterministic=True)  # type: ignore[union-attr]
    registered: ColumnElement[int] = func.tidings_bucket(campaign_id, users.c.id, type_=Integer)
    return registered


def freeze_batch(
    conn: Connection,
    *,
    campaign_id: str,
    who: ColumnElement[bool],
    plan: Sequence[Slice],
    joined_by: datetime,
    after: str | None,
    limit: int,
    now: datetime,
) -> str | None:
    """Copy the next `limit` members (by user id, after the cursor) into the recipients with
    their variant or the control group; the new cursor, None when nobody was left. A re-run
    adds nobody twice (the primary key, ON CONFLICT DO NOTHING)."""
    without_jit(conn)
    user_bucket = _bucket_sql(conn, campaign_id)
    variant = case(
        *[
            (user_bucket < part.upper, literal(part.variant) if part.variant else null())
            for part in plan
        ],
        else_=null(),
    )
    page = (
        select(
            literal(campaign_id),
            users.c.id,
            variant,
            literal(now, Timestamp),
            users.c.locale,
            users.c.timezone,
            users.c.phone_enc.is_not(None),
            users.c.email_enc.is_not(None),
        )
        .where(who, users.c.created_at <= joined_by, users.c.id > (after or ""))
        .order_by(users.c.id)
        .limit(limit)
    )
    stmt = (
        _insert(conn, R)
        .from_select(
            [
                "campaign_id",
                "user_id",
                "variant",
                "frozen_at",
                "locale",
                "timezone",
                "has_phone",
                "has_email",
            ],
            page,
        )
        .on_conflict_do_nothing()
    )
    conn.execute(stmt)
    last = conn.execute(
        select(func.max(R.c.user_id)).where(R.c.campaign_id == campaign_id)
    ).scalar_one_or_none()
    return None if last is None or (after is not None and last <= after) else str(last)


def count_recipients(conn: Connection, campaign_id: str) -> int:
    stmt = select(func.count()).select_from(R).where(R.c.campaign_id == campaign_id)
    return int(conn.execute(stmt).scalar_one())


def planning_audience(campaign_id: str, *, after: str | None, upto: str) -> Select[Any]:
    """The recipients of one frozen page who get a message (not the control group), with
    what the planner needs of each, as frozen: the message key (variant), locale, time zone
    and whether a phone or an email is on file (1/0)."""
    return select(
        R.c.user_id,
        R.c.variant.label("message_key"),
        R.c.locale,
        R.c.timezone,
        case((R.c.has_phone, 1), else_=0).label("has_phone"),
        case((R.c.has_email, 1), else_=0).label("has_email"),
    ).where(
        R.c.campaign_id == campaign_id,
        R.c.variant.is_not(None),
        R.c.user_id > (after or ""),
        R.c.user_id <= upto,
    )


# -- what happened to the sends (notify's deliveries, read only) -------------------------


_NOTICE_DELIVERIES = deliveries.join(
    notifications, notifications.c.id == deliveries.c.notification_id
)
"""A campaign's deliveries are those of the notices whose `event_id` is the campaign."""


def open_sends(conn: Connection, campaign_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(_NOTICE_DELIVERIES)
        .where(notifications.c.event_id == campaign_id, deliveries.c.status.in_(OPEN_STATUSES))
    )
    return int(conn.execute(stmt).scalar_one())


def suppressions(conn: Connection, campaign_id: str) -> dict[str, int]:
    """reason → deliveries of this campaign held back or stopped for it."""
    stmt = (
        select(deliveries.c.reason, func.count())
        .select_from(_NOTICE_DELIVERIES)
        .where(
            notifications.c.event_id == campaign_id,
            deliveries.c.reason.in_(
                ("no_consent", "personalisation_off", "marketing_window", "cap")
            ),
        )
        .group_by(deliveries.c.reason)
    )
    return {str(reason): int(n) for reason, n in conn.execute(stmt)}


def _recipient_got(campaign_id: str, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        notifications.c.event_id == campaign_id,
        notifications.c.user_id == R.c.user_id,
        deliveries.c.notification_id == notifications.c.id,
        condition,
    )


def group_counts(conn: Connection, campaign_id: str) -> list[AnyRow]:
    """Per variant (None: control): recipients, sent, delivered, clicked, converted."""
    sent = _recipient_got(campaign_id, deliveries.c.status.in_(SENT_STATUSES))
    delivered = _recipient_got(
        campaign_id,
        or_(
            deliveries.c.status == "delivered",
            and_(deliveries.c.channel == "inbox", deliveries.c.status == "sent"),
        ),
    )
    stmt = (
        select(
            R.c.variant,
            func.count().label("recipients"),
            func.coalesce(func.sum(case((sent, 1), else_=0)), 0).label("sent"),
            func.coalesce(func.sum(case((delivered, 1), else_=0)), 0).label("delivered"),
            func.count(R.c.clicked_at).label("clicked"),
            func.count(R.c.converted_at).label("converted"),
        )
        .where(R.c.campaign_id == campaign_id)
        .group_by(R.c.variant)
    )
    return list(conn.execute(stmt))


# -- clicks and conversions --------------------------------------------------------------


def recipient(conn: Connection, campaign_id: str, user_id: str) -> AnyRow | None:
    stmt = select(R.c.variant, R.c.clicked_at, R.c.locale).where(
        R.c.campaign_id == campaign_id, R.c.user_id == user_id
    )
    return conn.execute(stmt).first()


def record_click(conn: Connection, campaign_id: str, user_id: str, at: datetime) -> bool:
    """The first click only: True when this one was recorded."""
    stmt = (
        update(R)
        .where(R.c.campaign_id == campaign_id, R.c.user_id == user_id, R.c.clicked_at.is_(None))
        .values(clicked_at=at)
    )
    return conn.execute(stmt).rowcount == 1


def conversion_candidates(
    conn: Connection,
    campaign_id: str,
    *,
    event_type: str,
    category: SpendingCategory | None,
    since: datetime,
    until: datetime,
) -> Iterator[AnyRow]:
    """Events of the goal's type for members not yet converted, oldest first, with when
    their message was first sent (None for the control group and unsent members)."""
    first_sent = (
        select(func.min(deliveries.c.sent_at))
        .select_from(_NOTICE_DELIVERIES)
        .where(
            notifications.c.event_id == campaign_id,
            notifications.c.user_id == R.c.user_id,
            deliveries.c.sent_at.is_not(None),
        )
        .scalar_subquery()
    )
    where = [
        R.c.campaign_id == campaign_id,
        R.c.converted_at.is_(None),
        outbox.c.type == event_type,
        outbox.c.time >= since,
        outbox.c.time <= until,
    ]
    if category is not None:
        merchant = outbox.c.data["merchant"]["category"].as_string()
        where.append(category_sql(merchant) == category.value)
    stmt = (
        select(
            R.c.user_id,
            R.c.variant,
            first_sent.label("sent_at"),
            outbox.c.id.label("event_id"),
            outbox.c.time,
        )
        .join(outbox, outbox.c.user_id == R.c.user_id)
        .where(*where)
        .order_by(outbox.c.time, outbox.c.id)
    )
    for partition in conn.execute(stmt).partitions(5000):
        yield from partition


def record_conversions(conn: Connection, campaign_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Each member's first conversion (rows of `uid`, `at`, `eid`); a converted member is
    left as they are."""
    if not rows:
        return
    stmt = (
        update(R)
        .where(
            R.c.campaign_id == campaign_id,
            R.c.user_id == bindparam("uid"),
            R.c.converted_at.is_(None),
        )
        .values(converted_at=bindparam("at"), conversion_event_id=bindparam("eid"))
    )
    conn.execute(stmt, list(rows))
