"""The SLA clock counts business time on China's business calendar (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tidings.feedback.clock import (
    BusinessCalendar,
    SlaTargets,
    add_business_time,
    deadlines,
    parse_periods,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_friday_1730_four_business_hours_land_on_monday_1230() -> None:
    due = add_business_time(local(2026, 12, 4, 17, 30), timedelta(hours=4), CALENDAR)
    assert due.astimezone(SHANGHAI) == local(2026, 12, 7, 12, 30)


def test_a_ticket_opened_at_night_starts_counting_at_nine() -> None:
    due = add_business_time(local(2026, 12, 8, 22, 0), timedelta(hours=2), CALENDAR)
    assert due.astimezone(SHANGHAI) == local(2026, 12, 9, 11, 0)


def test_spring_festival_holiday_is_skipped() -> None:
    # Friday 13 Feb 2026, 17:00: one hour left that day; the make-up Saturday 14 Feb works;
    # 15-23 Feb are the holiday; Tuesday 24 Feb is the next working day.
    due = add_business_time(local(2026, 2, 13, 17, 0), timedelta(hours=11), CALENDAR)
    assert due.astimezone(SHANGHAI) == local(2026, 2, 24, 10, 0)


def test_the_make_up_saturday_is_a_working_day() -> None:
    due = add_business_time(local(2026, 2, 13, 17, 30), timedelta(hours=1), CALENDAR)
    assert due.astimezone(SHANGHAI) == local(2026, 2, 14, 9, 30)
    # ... and an ordinary Saturday is not.
    due = add_business_time(local(2026, 3, 6, 17, 30), timedelta(hours=1), CALENDAR)
    assert due.astimezone(SHANGHAI) == local(2026, 3, 9, 9, 30)


def test_the_make_up_saturday_after_the_holiday_counts_too() -> None:
    due = add_business_time(local(2026, 2, 27, 17, 0), timedelta(hours=2), CALENDAR)
    assert due.astimezone(SHANGHAI) == local(2026, 2, 28, 10, 0)


def test_several_working_periods_a_day_skip_the_lunch_break() -> None:
    calendar = BusinessCalendar(periods=parse_periods("09:00-12:00,13:00-18:00"))
    due = add_business_time(local(2026, 12, 7, 11, 0), timedelta(hours=2), calendar)
    assert due.astimezone(SHANGHAI) == local(2026, 12, 7, 14, 0)
    opened_at_lunch = add_business_time(local(2026, 12, 7, 12, 30), timedelta(minutes=30), calendar)
    assert opened_at_lunch.astimezone(SHANGHAI) == local(2026, 12, 7, 13, 30)


def test_urgent_tickets_count_around_the_clock() -> None:
    opened = local(2026, 12, 4, 23, 0)
    urgent = SlaTargets(timedelta(hours=1), timedelta(hours=8), around_the_clock=True)
    due = deadlines(opened, urgent, CALENDAR)
    assert due.first_response_due == local(2026, 12, 5, 0, 0).astimezone(UTC)
    assert due.resolution_due == local(2026, 12, 5, 7, 0).astimezone(UTC)


def test_a_calendar_outside_chinas_published_years_uses_the_weekdays() -> None:
    due = add_business_time(local(2040, 6, 1, 17, 30), timedelta(hours=1), CALENDAR)
    assert due.astimezone(SHANGHAI).weekday() == 0  # 1 June 2040 is a Friday


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before"):
        BusinessCalendar(periods=((time(18), time(9)),))
