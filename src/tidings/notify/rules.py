"""Rules: which notice an event becomes (pure functions over plain data).

The notice's `kind` is the event type itself, so there is one template per
(event type, channel, locale). A rule sets the category, which decides how the planner
treats it, and a de-duplication key for events that may be raised more than once. The key
of every periodic notice names its period (a budget's month or week, a statement's dates, a
reminder's due date), or the second period's notice would be taken for a repeat of the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidings.campaigns import events as marketing
from tidings.credit import events as credit
from tidings.feedback import events as follow_up
from tidings.insights import events as insights
from tidings.notify.types import Category, ChannelName, Intent
from tidings.privacy.codes import CODE_IN_EVENT, DESTINATIONS, SEALED_CODE
from tidings.risk import events as security
from tidings.wallets import events as wallet

DedupKey = Callable[[dict[str, Any], date], str | None]
"""(event data, the day it happened on the user's calendar) → key, or None: no de-duplication."""


@dataclass(frozen=True, slots=True)
class Rule:
    category: Category
    dedup: DedupKey | None = None
    collection: bool = False
    channels: tuple[ChannelName, ...] | None = None
    kind_channels: tuple[ChannelName, ...] | None = None
    """A registered kind's own channels, in place of its category's (the user's choice for
    the kind still wins); unlike `channels`, all of them, not alternatives."""


def _part(value: Any) -> str:
    """One field as it appears in a key (Money as `100000CNY`)."""
    if isinstance(value, dict) and "value" in value and "currency" in value:
        return f"{value['value']}{value['currency']}"
    return str(value)


def _fields(*names: str, period: Callable[[dict[str, Any], date], str] | None = None) -> DedupKey:
    """A key from data fields (and the period the event falls in): the same loan, due date
    and step is one notice, however often the job that raises it runs."""

    def key(data: dict[str, Any], day: date) -> str | None:
        values = [data.get(n) for n in names]
        if any(v is None for v in values):
            return None
        parts = [_part(v) for v in values]
        if period is not None:
            parts.insert(1, period(data, day))
        return ":".join(parts)

    return key


def budget_period(data: dict[str, Any], day: date) -> str:
    """The budget period an event belongs to: its `period_start` when the emitter says, else
    the month (or week, Monday first) holding the day it happened on the user's calendar."""
    start = data.get("period_start")
    if start is not None:
        return str(start)
    if data.get("period") == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.replace(day=1).isoformat()


def goal_period(data: dict[str, Any], day: date) -> str:
    """A goal is its target (and date): a new goal on the same wallet is reached anew."""
    return ":".join(_part(data.get(n, "")) for n in ("target", "by"))


SUGGESTION_DAYS = 90


def suggestion_period(data: dict[str, Any], day: date) -> str:
    """Suggestions go at most once per purpose per 90 days (the job keeps the exact 90)."""
    return f"d{day.toordinal() // SUGGESTION_DAYS * SUGGESTION_DAYS}"


def local_day(moment: Any, fallback: datetime, timezone: str | None) -> date:
    """The day an event happened on the user's calendar (UTC when the zone is unknown)."""
    at = fallback
    if isinstance(moment, str):
        try:
            at = datetime.fromisoformat(moment)
        except ValueError:
            at = fallback
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        zone: tzinfo = ZoneInfo(timezone) if timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return at.astimezone(zone).date()


TXN, INFO, CRIT, MKT = (
    Category.TRANSACTIONAL,
    Category.INFORMATIONAL,
    Category.CRITICAL,
    Category.MARKETING,
)

RULES: dict[str, Rule] = {
    wallet.PAYMENT_SUCCEEDED: Rule(TXN),
    wallet.PAYMENT_FAILED: Rule(TXN),
    wallet.TRANSFER_RECEIVED: Rule(TXN),
    wallet.TRANSFER_SENT: Rule(TXN),
    wallet.TOP_UP_SUCCEEDED: Rule(TXN),
    wallet.REFUND_SUCCEEDED: Rule(TXN),
    wallet.WITHDRAWAL_SUCCEEDED: Rule(TXN),
    wallet.ALLOCATION_SUCCEEDED: Rule(INFO, channels=(ChannelName.INBOX,)),
    wallet.BALANCE_LOW: Rule(TXN),
    wallet.STATEMENT_READY: Rule(INFO, dedup=_fields("wallet_id", "period_start", "period_end")),
    wallet.SUB_WALLET_CLOSED: Rule(INFO),
    # At most once per wallet and budget period, whatever percent the crossing reached.
    insights.BUDGET_THRESHOLD_REACHED: Rule(INFO, dedup=_fields("wallet_id", period=budget_period)),
    insights.BUDGET_EXCEEDED: Rule(TXN, dedup=_fields("wallet_id", period=budget_period)),
    insights.GOAL_PROGRESS: Rule(
        INFO, dedup=_fields("wallet_id", "progress_percent", period=goal_period)
    ),
    insights.GOAL_REACHED: Rule(INFO, dedup=_fields("wallet_id", period=goal_period)),
    security.LOGIN_NEW_DEVICE: Rule(CRIT),
    security.LOGIN_NEW_LOCATION: Rule(CRIT),
    security.PASSWORD_CHANGED: Rule(CRIT),
    security.PHONE_CHANGED: Rule(CRIT),
    security.EMAIL_CHANGED: Rule(CRIT),
    security.PAYEE_ADDED: Rule(CRIT),
    security.TRANSACTION_SUSPICIOUS: Rule(CRIT),
    security.VERIFICATION_CODE: Rule(CRIT, channels=(ChannelName.SMS, ChannelName.PUSH)),
    security.CONTACT_CHANGE_CODE: Rule(CRIT, channels=(ChannelName.SMS, ChannelName.EMAIL)),
    security.WALLET_FROZEN: Rule(CRIT),
    security.WALLET_UNFROZEN: Rule(CRIT),
    security.LOGIN_IMPOSSIBLE_TRAVEL: Rule(CRIT),
    security.VERIFICATION_FAILED: Rule(CRIT),
    security.VERIFICATION_EXPIRED: Rule(CRIT),
    credit.APPLICATION_RECEIVED: Rule(TXN, dedup=_fields("application_id")),
    credit.APPLICATION_UNDER_REVIEW: Rule(TXN, dedup=_fields("application_id")),
    credit.APPLICATION_APPROVED: Rule(TXN, dedup=_fields("application_id")),
    credit.APPLICATION_REJECTED: Rule(TXN, dedup=_fields("application_id")),
    credit.LIMIT_RAISED: Rule(TXN),
    credit.LIMIT_LOWERED: Rule(TXN),
    credit.LOAN_DISBURSED: Rule(TXN, dedup=_fields("drawdown_id")),
    credit.REPAYMENT_DUE: Rule(TXN, dedup=_fields("drawdown_id", "due_date", "days_before")),
    credit.REPAYMENT_RECEIVED: Rule(TXN),
    credit.OVERDUE: Rule(
        TXN, dedup=_fields("drawdown_id", "due_date", "days_overdue"), collection=True
    ),
    marketing.PROMOTION: Rule(MKT, dedup=_fields("campaign_id")),
    marketing.SUB_WALLET_SUGGESTION: Rule(MKT, dedup=_fields("purpose", period=suggestion_period)),
    follow_up.SURVEY_INVITATION: Rule(INFO, dedup=_fields("survey_id")),
    follow_up.TICKET_ANSWERED: Rule(INFO),
    follow_up.CHANGE_PUBLISHED: Rule(INFO, dedup=_fields("change_id")),
}


def intents_for(
    *,
    event_type: str,
    event_id: str,
    user_id: str | None,
    data: dict[str, Any],
    at: datetime,
    timezone: str | None = None,
    rule: Rule | None = None,
) -> list[Intent]:
    """The notices one event should produce; none for types no rule knows or no user.
    `timezone` is the user's: periods (a budget's month) are on their calendar. `rule` is a
    registered kind's (`/v1/kinds`), for a type the built-in rules do not know."""
    rule = RULES.get(event_type, rule)
    if rule is None or user_id is None:
        return []
    day = local_day(data.get("occurred_at"), at, timezone)
    own_key = rule.dedup(data, day) if rule.dedup else None
    channels = rule.channels
    if SEALED_CODE in data:
        # A one-time code goes only where its domain pinned it (contacts the user has had for
        # a while), never by fallback elsewhere; the code itself stays in the event alone.
        pinned = data.get(DESTINATIONS) or {}
        channels = tuple(c for c in (channels or ()) if c.value in pinned)
        data = {k: v for k, v in data.items() if k != SEALED_CODE} | {CODE_IN_EVENT: True}
    # Templates say when it happened; the envelope's time stands in when the data does not.
    data = {"occurred_at": at.isoformat(), **data}
    return [
        Intent(
            kind=event_type,
            category=rule.category,
            user_id=user_id,
            event_id=event_id,
            data=data,
            occurred_at=at,
            dedup_key=f"{event_type}:{own_key}" if own_key else None,
            collection=rule.collection,
            channels=channels,
            default_channels=rule.kind_channels,
        )
    ]
