"""Spending views: payments minus their refunds, grouped by category, wallet or month, over
calendar days on the user's calendar. Each view is one set-based query."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection

from tidings.insights import repository
from tidings.insights.budgets import local_midnight_utc
from tidings.insights.categories import SpendingCategory, category_sql, label
from tidings.insights.exceptions import InvalidPeriod
from tidings.insights.schemas import SpendingBy, SpendingGroup, SpendingOut
from tidings.kit.money import money
from tidings.users import directory
from tidings.wallets.models import transfers

MAX_DAYS: Final = 1830
"""The longest view (five years): a longer one is refused naming `to`."""

_MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class Reader:
    """Whose spending: their language, calendar and currency."""

    user_id: str
    locale: str
    timezone: str
    currency: str

    @property
    def english(self) -> bool:
        return self.locale.lower().startswith("en")

    def today(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.timezone)).date()


def reader(conn: Connection, user_id: str) -> Reader:
    """The user, or `user-not-found`."""
    directory.require_user(conn, user_id)
    row = repository.user_profile(conn, user_id)
    assert row is not None, "the user exists"
    return Reader(user_id, row.locale, row.timezone, row.currency)


def month_starts(first: date, last: date) -> list[date]:
    """The first day of each calendar month the days touch, in order."""
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _category_label(key: str, who: Reader, _: str | None) -> str:
    return label(SpendingCategory(key), who.locale)


def _wallet_label(key: str, who: Reader, name: str | None) -> str:
    if name == "main" or name is None:
        return "Main wallet" if who.english else "主钱包"
    return name


def _month_label(key: str, who: Reader, _: str | None) -> str:
    year, month = key.split("-")
    return f"{_MONTHS_EN[int(month) - 1]} {year}" if who.english else f"{year}年{int(month)}月"


_LABELS: Final[dict[SpendingBy, Callable[[str, Reader, str | None], str]]] = {
    SpendingBy.CATEGORY: _category_label,
    SpendingBy.WALLET: _wallet_label,
    SpendingBy.MONTH: _month_label,
}


def _key(by: SpendingBy, who: Reader, first: date, last: date) -> ColumnElement[Any]:
    if by is SpendingBy.CATEGORY:
        return transfers.c.merchant_category  # regrouped into categories
    if by is SpendingBy.WALLET:
        return transfers.c.source_wallet_id
    starts = [
        (f"{m.year:04d}-{m.month:02d}", local_midnight_utc(m, who.timezone))
        for m in month_starts(first, last)
    ]
    return repository.month_key(transfers.c.created_at, starts)


def spending(
    conn: Connection,
    who: Reader,
    *,
    first: date,
    last: date,
    by: SpendingBy,
    wallet_id: str | None = None,
) -> SpendingOut:
    """The view of [first, last] (calendar days, both inclusive), largest group first."""
    if first > last:
        raise InvalidPeriod("from must not be after to", field="from")
    if (last - first).days >= MAX_DAYS:
        raise InvalidPeriod(f"a view covers at most {MAX_DAYS} days", field="to")
    rows = repository.spending_groups(
        conn,
        user_id=who.user_id,
        key=_key(by, who, first, last),
        regroup=category_sql if by is SpendingBy.CATEGORY else None,
        start=local_midnight_utc(first, who.timezone),
        end=local_midnight_utc(last + timedelta(days=1), who.timezone),
        wallet_id=wallet_id,
    )
    total = sum(int(row.amount) for row in rows)
    name_of = _LABELS[by]
    groups = [
        SpendingGroup(
            key=row.key,
            label=name_of(row.key, who, row.name),
            amount=money(int(row.amount), who.currency),
            count=int(row.payments),
            share_percent=(int(row.amount) * 200 + total) // (2 * total) if total else 0,
        )
        for row in rows
    ]
    groups.sort(key=lambda g: (-g.amount.value, g.key))
    return SpendingOut.model_validate(
        {
            "currency": who.currency,
            "from": first,
            "to": last,
            "total": money(total, who.currency),
            "groups": groups,
        }
    )


def user_spending(
    conn: Connection,
    user_id: str,
    *,
    first: date | None,
    last: date | None,
    by: SpendingBy,
    at: datetime,
) -> SpendingOut:
    """`GET /v1/users/{user_id}/spending`: from the first of this month to today unless told."""
    who = reader(conn, user_id)
    today = who.today(at)
    last = last or today
    first = first or last.replace(day=1)
    return spending(conn, who, first=first, last=last, by=by)
