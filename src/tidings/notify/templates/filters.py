"""Template filters: money, masking and local time, formatted for the message's locale.

Filters read `locale` and `timezone` from the render context (set by the renderer, never by
event data), so one compiled template serves every user. Amounts are integer minor units with
a currency; a float is refused rather than rounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import get_currency_name, get_currency_precision
from jinja2 import pass_context
from jinja2.runtime import Context

from tidings.notify.templates.sms import is_gsm7
from tidings.privacy import masking

DEFAULT_LOCALE = "zh-CN"

_Day = TypeVar("_Day", bound=date)

_PURPOSES: dict[str, tuple[str, str]] = {
    "travel": ("旅行", "Travel"),
    "shopping": ("购物", "Shopping"),
    "savings": ("储蓄", "Savings"),
    "custom": ("自定义", "Custom"),
}

_LIMIT_REASONS: dict[str, tuple[str, str]] = {
    "overdue": ("您有一笔还款已逾期", "a repayment is overdue"),
    "repaid_on_time": ("您一直按时还款", "you have repaid on time"),
    "account_review": ("根据对您账户的综合评估", "of a review of your account"),
    "risk_control": ("您的账户近期有异常活动", "of unusual activity on your account"),
    "requested": ("您申请了调整", "you asked for it"),
}
"""Why a credit limit changed, as one plain phrase (credit.events.LimitChangeReason)."""


class FilterError(ValueError):
    """A value a filter cannot format; the message says which filter and what it got."""


def is_chinese(locale: str) -> bool:
    return locale.lower().startswith("zh")


@lru_cache(maxsize=64)
def babel_locale(locale: str) -> Locale:
    """`zh-CN` → Babel's `zh_CN`; anything Babel does not know formats as zh-CN."""
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE.replace("-", "_"))


def _locale(ctx: Context) -> str:
    value = ctx.get("locale")
    return value if isinstance(value, str) else DEFAULT_LOCALE


def _zone(ctx: Context) -> ZoneInfo:
    value = ctx.get("timezone")
    return value if isinstance(value, ZoneInfo) else ZoneInfo("UTC")


def _money_parts(amount: Any) -> tuple[int, str]:
    if isinstance(amount, Mapping):
        value, currency = amount.get("value"), amount.get("currency")
    else:
        value, currency = getattr(amount, "value", None), getattr(amount, "currency", None)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FilterError(
            f"money: expected an integer 'value' in minor units, got {type(value).__name__}"
        )
    if not isinstance(currency, str) or len(currency) != 3:
        raise FilterError("money: expected a 3-letter 'currency'")
    return value, currency


@lru_cache(maxsize=64)
def _separators(locale: str) -> tuple[str, str]:
    """The locale's (group, decimal) symbols; the grouping is our pattern's, by threes."""
    babel = babel_locale(locale)
    symbols = babel.number_symbols[babel.default_numbering_system]
    return symbols["group"], symbols["decimal"]


def _number(value: int, currency: str, locale: str) -> str:
    """Integer minor units formatted without a Decimal round trip: every message has a few
    amounts, and Babel's general formatter was a third of a notice's rendering time."""
    digits = get_currency_precision(currency)
    group, decimal = _separators(locale)
    major, minor = divmod(abs(value), 10**digits)
    text = f"{major:,}".replace(",", group)
    if digits:
        text += f"{decimal}{minor:0{digits}d}"
    return "-" + text if value < 0 else text  # Babel's pattern writes a plain hyphen too


@pass_context
def money(ctx: Context, amount: Any, bare: bool = False) -> str:
    """zh: `3,456.78元` (other currencies by name: `12.00美元`); en: `CNY 3,456.78`.

    `bare=True` gives the number alone, for `1,640.00/2,000.00元`.
    """
    value, currency = _money_parts(amount)
    locale = _locale(ctx)
    number = _number(value, currency, locale)
    if bare:
        return number
    if is_chinese(locale):
        unit = "元" if currency == "CNY" else get_currency_name(currency, locale="zh_CN")
        return number + unit
    return f"{currency} {number}"


def tail(identifier: Any, digits: int = 4) -> str:
    """Last digits of a wallet or card id, for `尾号8821` / `ending 8821`."""
    if identifier is None:
        raise FilterError("tail: no identifier (None)")
    return masking.tail(str(identifier), digits)


def mask_name(name: Any) -> str:
    """`张三丰` → `张*丰`, `Li Na` → `Li**`; already-masked names stay as they are."""
    if name is None:
        raise FilterError("mask_name: no name (None)")
    return masking.mask_name(str(name))


def _read(value: Any, kind: type[_Day], *, name: str, noun: str, written: str) -> _Day:
    """`value` as a `kind`: one already, or an ISO string of one; a FilterError naming the
    filter (`name`) otherwise."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind.fromisoformat(value)
        except ValueError as exc:
            raise FilterError(f"{name}: {value!r} is not {written}") from exc
    raise FilterError(f"{name}: expected a {noun}, got {type(value).__name__}")


def _as_datetime(value: Any) -> datetime:
    moment = _read(value, datetime, name="local_time", noun="time", written="an RFC 3339 time")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@pass_context
def local_time(ctx: Context, value: Any, style: str = "datetime") -> str:
    """A moment in the user's time zone: zh `11月24日15:30`, en `24 Nov 15:30`;
    `style="time"` gives `15:30` alone."""
    moment = _as_datetime(value).astimezone(_zone(ctx))
    locale = _locale(ctx)
    if style == "time":
        pattern = "HH:mm"
    elif style == "datetime":
        pattern = "M月d日HH:mm" if is_chinese(locale) else "d MMM HH:mm"
    else:
        raise FilterError(f"local_time: style must be 'datetime' or 'time', not {style!r}")
    return format_datetime(moment, pattern, locale=babel_locale(locale))


@pass_context
def local_date(ctx: Context, value: Any) -> str:
    """A calendar date: zh `11月27日`, en `27 Nov`. `YYYY-MM-DD` is already the user's day;
    a full time is first moved to the user's time zone."""
    if isinstance(value, datetime) or (isinstance(value, str) and len(value) > 10):
        day = _as_datetime(value).astimezone(_zone(ctx)).date()
    else:
        day = _read(value, date, name="local_date", noun="date", written="a YYYY-MM-DD date")
    locale = _locale(ctx)
    pattern = "M月d日" if is_chinese(locale) else "d MMM"
    return format_date(day, pattern, locale=babel_locale(locale))


def percent(value: Any) -> str:
    """`82` → `82%` (the data carries whole percentages)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise FilterError(f"percent: expected a number, got {type(value).__name__}")
    return f"{round(value)}%"


@pass_context
def wallet_purpose(ctx: Context, purpose: Any) -> str:
    """A sub-wallet purpose code (`travel`) in words (`旅行` / `Travel`)."""
    names = _PURPOSES.get(str(purpose))
    if names is None:
        return str(purpose)
    return names[0] if is_chinese(_locale(ctx)) else names[1]


@pass_context
def limit_reason(ctx: Context, reason_code: Any) -> str:
    """A limit change's reason code (`overdue`) as the phrase the borrower reads."""
    phrases = _LIMIT_REASONS.get(str(reason_code), _LIMIT_REASONS["account_review"])
    return phrases[0] if is_chinese(_locale(ctx)) else phrases[1]


FILTERS: dict[str, Any] = {
    "money": money,
    "tail": tail,
    "mask_name": mask_name,
    "local_time": local_time,
    "local_date": local_date,
    "percent": percent,
    "wallet_purpose": wallet_purpose,
    "limit_reason": limit_reason,
    "gsm7": is_gsm7,
}
