"""Delivery health as the console shows it: read-only, set-based queries over the engine's
delivery tables (a handful of grouped queries a page, however many deliveries there are).

Sent counts deliveries by when they were handed to their channel (`sent_at`); failed, by
when they failed for good; retried, by the retryable attempts recorded. Latency is from the
notice being planned (the notification row, as the `tidings_event_to_delivered_seconds`
metric measures it) to its hand-over, over the most recent deliveries of the last day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from tidings.kit.clock import as_utc
from tidings.notify.models import deliveries, delivery_attempts, notifications
from tidings.notify.types import AttemptOutcome, ChannelName, DeliveryStatus

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURS_CHARTED = 24
LATENCY_SAMPLE = 5000
"""The most recent deliveries of the day measured for latency: enough for a stable p99."""
PERCENTILES = (50, 90, 99)


FAILED_STATUSES = (DeliveryStatus.FAILED.value, DeliveryStatus.UNDELIVERABLE.value)


@dataclass(frozen=True, slots=True)
class Tally:
    """A count in the last hour and in the last day (which includes the hour)."""

    hour: int
    day: int


@dataclass(frozen=True, slots=True)
class ProviderTraffic:
    """What one provider of one channel did lately."""

    channel: ChannelName
    provider: str | None
    """None: failures before any provider was reached (no address, a template error)."""
    sent: Tally
    failed: Tally
    retried: Tally


@dataclass(frozen=True, slots=True)
class Backlog:
    """One channel's pending deliveries."""

    channel: ChannelName
    due: int
    """Due now or earlier and not yet taken: the work the dispatcher has not caught up on."""
    oldest_due_at: datetime | None
    later: int
    """Held for later (quiet hours, a sending window, a retry's back-off)."""


@dataclass(frozen=True, slots=True)
class Latency:
    """From the notice being planned to its hand-over to the channel, in seconds."""

    channel: ChannelName
    measured: int
    p50: float
    p90: float
    p99: float


@dataclass(frozen=True, slots=True)
class HourCounts:
    """Deliveries sent and failed in one hour (the last one is the hour under way)."""

    starts_at: datetime
    sent: int
    failed: int


@dataclass(frozen=True, slots=True)
class DeliveryHealth:
    at: datetime
    traffic: list[ProviderTraffic]
    backlog: list[Backlog]
    latency: list[Latency]
    hours: list[HourCounts]


def percentile(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile of values sorted ascending (0.0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


_failed = deliveries.c.status.in_(FAILED_STATUSES)


def _traffic(conn: Connection, at: datetime) -> list[ProviderTraffic]:
    hour_ago, day_ago = at - HOUR, at - DAY
    outcomes = select(
        deliveries.c.channel,
        deliveries.c.provider,
        _count(deliveries.c.sent_at >= hour_ago).label("sent_hour"),
        _count(deliveries.c.sent_at >= day_ago).label("sent_day"),
        _count(and_(_failed, deliveries.c.final_at >= hour_ago)).label("failed_hour"),
        _count(and_(_failed, deliveries.c.final_at >= day_ago)).label("failed_day"),
    ).where(or_(deliveries.c.sent_at >= day_ago, and_(_failed, deliveries.c.final_at >= day_ago)))
    retries = (
        select(
            deliveries.c.channel,
            delivery_attempts.c.provider,
            _count(delivery_attempts.c.at >= hour_ago).label("hour"),
            func.count().label("day"),
        )
        .join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
        .where(
            delivery_attempts.c.outcome == AttemptOutcome.RETRYABLE.value,
            delivery_attempts.c.at >= day_ago,
        )
    )
    done = {
        (row.channel, row.provider): row
        for row in conn.execute(outcomes.group_by(deliveries.c.channel, deliveries.c.provider))
    }
    retried = {
        (row.channel, row.provider): Tally(int(row.hour), int(row.day))
        for row in conn.execute(
            retries.group_by(deliveries.c.channel, delivery_attempts.c.provider)
        )
    }
    none = Tally(0, 0)
    found = []
    for channel, provider in sorted(done.keys() | retried.keys(), key=_traffic_order):
        row = done.get((channel, provider))
        found.append(
            ProviderTraffic(
                channel=ChannelName(channel),
                provider=provider,
                sent=Tally(int(row.sent_hour), int(row.sent_day)) if row else none,
                failed=Tally(int(row.failed_hour), int(row.failed_day)) if row else none,
                retried=retried.get((channel, provider), none),
            )
        )
    return found


def _traffic_order(key: tuple[str, str | None]) -> tuple[str, str]:
    channel, provider = key
    return channel, provider or ""


def _backlog(conn: Connection, at: datetime) -> list[Backlog]:
    due = deliveries.c.due_at <= at
    stmt = (
        select(
            deliveries.c.channel,
            _count(due).label("due"),
            func.min(case((due, deliveries.c.due_at), else_=None)).label("oldest"),
            _count(deliveries.c.due_at > at).label("later"),
        )
        .where(deliveries.c.status == DeliveryStatus.PENDING.value)
        .group_by(deliveries.c.channel)
        .order_by(deliveries.c.channel)
    )
    return [
        Backlog(
            channel=ChannelName(row.channel),
            due=int(row.due),
            oldest_due_at=as_utc(row.oldest) if row.oldest is not None else None,
            later=int(row.later),
        )
        for row in conn.execute(stmt)
    ]


def _latency(conn: Connection, at: datetime) -> list[Latency]:
    stmt = (
        select(deliveries.c.channel, deliveries.c.sent_at, notifications.c.created_at)
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(deliveries.c.sent_at >= at - DAY)
        .order_by(deliveries.c.sent_at.desc())
        .limit(LATENCY_SAMPLE)
    )
    waits: dict[str, list[float]] = {}
    for row in conn.execute(stmt):
        seconds = (as_utc(row.sent_at) - as_utc(row.created_at)).total_seconds()
        waits.setdefault(row.channel, []).append(max(0.0, seconds))
    found = []
    for channel, values in sorted(waits.items()):
        values.sort()
        p50, p90, p99 = (percentile(values, p) for p in PERCENTILES)
        found.append(Latency(ChannelName(channel), len(values), p50, p90, p99))
    return found


def hour_starts(at: datetime, hours: int = HOURS_CHARTED) -> list[datetime]:
    """The starts of the last `hours` whole hours, oldest first; the last holds `at`."""
    current = at.replace(minute=0, second=0, microsecond=0)
    return [current - HOUR * back for back in range(hours - 1, -1, -1)]


def _hours(conn: Connection, at: datetime) -> list[HourCounts]:
    starts = hour_starts(at)
    ends = [*starts[1:], at + HOUR]
    sent_columns = [
        _count(and_(deliveries.c.sent_at >= start, deliveries.c.sent_at < end))
        for start, end in zip(starts, ends, strict=True)
    ]
    failed_columns = [
        _count(and_(_failed, deliveries.c.final_at >= start, deliveries.c.final_at < end))
        for start, end in zip(starts, ends, strict=True)
    ]
    stmt = select(*sent_columns, *failed_columns).where(
        or_(deliveries.c.sent_at >= starts[0], and_(_failed, deliveries.c.final_at >= starts[0]))
    )
    row = conn.execute(stmt).one()
    counts = [int(value) for value in row]
    return [
        HourCounts(starts_at=start, sent=counts[index], failed=counts[len(starts) + index])
        for index, start in enumerate(starts)
    ]


def delivery_health(conn: Connection, *, at: datetime) -> DeliveryHealth:
    """The figures of the delivery-health page at `at`: five queries."""
    return DeliveryHealth(
        at=at,
        traffic=_traffic(conn, at),
        backlog=_backlog(conn, at),
        latency=_latency(conn, at),
        hours=_hours(conn, at),
    )
