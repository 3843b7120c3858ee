"""Time comes from a clock passed in, so tests and rehearsals can move it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Protocol

from pydantic import AfterValidator


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real UTC wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and time travel."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def as_utc(value: datetime) -> datetime:
    """Naive datetimes from SQLite are UTC by convention; make that explicit."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""Moments a request may name: later code adds days and windows to them, so the edges of
`datetime` (years 1 and 9999) are kept well away."""


def representable_utc(value: datetime) -> datetime:
    """The moment in UTC; a ValueError (a 422 naming the field) when it cannot be one."""
    try:
        moment = as_utc(value)
    except OverflowError:
        raise ValueError("cannot be represented in UTC") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 2999-12-31T23:59:59Z")
    return moment


UtcDateTime = Annotated[datetime, AfterValidator(representable_utc)]
"""Every moment a request carries: RFC 3339 (an offset, or UTC when none is given), turned
into UTC, refused with 422 when it cannot be (`0001-01-01T00:00:00+05:00`)."""
