"""Time comes from a clock passed in, so tests and rehearsals can move it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError


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


_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME = TypeAdapter(datetime)
_DATE = TypeAdapter(date)


def _read_strictly(
    value: object, shape: re.Pattern[str], adapter: TypeAdapter[Any], complaint: str
) -> object:
    """A string of the right `shape`, parsed as JSON input is; anything that is not a string
    is left to pydantic, and a string that does not read is refused with `complaint`."""
    if not isinstance(value, str):
        return value
    if shape.match(value):
        try:
            return adapter.validate_strings(value, strict=True)
        except ValidationError:
            pass
    raise ValueError(complaint)


def read_time(value: object) -> object:
    """A moment in a request is a string that reads as one (`2026-12-06T08:00:00+08:00`),
    parsed here as JSON input is (pydantic alone would also read `"0.5"` as seconds since
    1970, and, validating strictly after a function, refuse the string altogether)."""
    return _read_strictly(
        value, _RFC3339_START, _DATETIME, "must be an RFC 3339 time, e.g. 2026-12-06T08:00:00+08:00"
    )


def read_date(value: object) -> object:
    """A calendar date in a request is a `YYYY-MM-DD` string, never a number of seconds."""
    return _read_strictly(value, _ISO_DATE, _DATE, "must be a date written YYYY-MM-DD")


UtcDateTime = Annotated[
    datetime,
    BeforeValidator(read_time),
    AfterValidator(representable_utc),
    # The years `representable_utc` allows, said in the schema (JSON Schema has no bounds
    # for times); an offset can still carry a moment at either edge across it.
    Field(json_schema_extra={"pattern": "^(19[7-9][0-9]|2[0-9]{3})-"}),
]
"""Every moment a request carries: RFC 3339 (an offset, or UTC when none is given), turned
into UTC, refused with 422 when it cannot be (`0001-01-01T00:00:00+05:00`)."""

CalendarDate = Annotated[date, BeforeValidator(read_date)]
"""A calendar day a request carries (a goal's date): `YYYY-MM-DD`."""
