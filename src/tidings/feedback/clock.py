"""The SLA clock: deadlines counted in business time on a business calendar (pure).

A business calendar is a time zone, one or more working periods a day (09:00–12:00 and
13:00–18:00, say) and which days are working days: Monday to Friday, except China's public
holidays, plus the make-up working days (调休) that fall on a weekend, both from the
`chinese-calendar` package. Urgent tickets count around the clock instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

MAX_DAYS = 3660
"""A target longer than ten years of working days is refused rather than looped over."""


CHINA_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
"""The years `chinese-calendar` has published holidays for (it refuses a day outside them)."""


def _china_workday(day: date) -> bool | None:
    """China's answer for the day (holidays off, make-up days on); None outside its years."""
    if day.year not in CHINA_YEARS:
        return None
    return bool(chinese_calendar.is_workday(day))


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When the clock runs: working periods on working days, in one time zone."""

    timezone: str = "Asia/Shanghai"
    periods: tuple[tuple[time, time], ...] = ((time(9), time(18)),)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    china_holidays: bool = True

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("a business calendar needs at least one working period")
        for start, end in self.periods:
            if not start < end:
                raise ValueError(f"working period {start}-{end} ends before it starts")

    def is_working_day(self, day: date) -> bool:
        if self.china_holidays:
            china = _china_workday(day)
            if china is not None:
                return china
        return day.weekday() in self.weekdays

    def working_periods(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working periods (UTC) that end after `since`, in order."""
        zone = ZoneInfo(self.timezone)
        day = since.astimezone(zone).date()
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                for start, end in sorted(self.periods):
                    opens = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
                    closes = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
                    if closes > since:
                        yield max(opens, since), closes
            day += timedelta(days=1)
        raise ValueError("no working time within ten years")


def parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    """`09:00-12:00,13:00-18:00` → the working periods (ValueError when malformed)."""
    periods = []
    for part in text.split(","):
        start, _, end = part.strip().partition("-")
        periods.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
    return tuple(periods)


def add_business_time(
    start: datetime,
    duration: timedelta,
    calendar: BusinessCalendar,
    *,
    around_the_clock: bool = False,
) -> datetime:
    """The moment `duration` of working time after `start` (UTC); plain time when
    `around_the_clock` (urgent)."""
    start = start.astimezone(UTC)
    if around_the_clock:
        return start + duration
    remaining = duration
    for opens, closes in calendar.working_periods(start):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: working_periods raises first")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """One priority's targets (an SLA policy row)."""

    first_response: timedelta
    resolution: timedelta
    around_the_clock: bool


@dataclass(frozen=True, slots=True)
class SlaDeadlines:
    first_response_due: datetime
    resolution_due: datetime


def deadlines(opened_at: datetime, targets: SlaTargets, calendar: BusinessCalendar) -> SlaDeadlines:
    """When a ticket opened at `opened_at` must be first answered and resolved."""
    return SlaDeadlines(
        first_response_due=add_business_time(
            opened_at, targets.first_response, calendar, around_the_clock=targets.around_the_clock
        ),
        resolution_due=add_business_time(
            opened_at, targets.resolution, calendar, around_the_clock=targets.around_the_clock
        ),
    )
