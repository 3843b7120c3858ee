"""API shapes of users and tokens; personal fields only ever leave masked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from tidings.kit.money import CurrencyCode, Money, NonNegativeMoney, PositiveMoney
from tidings.kit.schemas import RequestBody
from tidings.kit.text import PrintableText, ShortText, printable

_TIMEZONES = frozenset(available_timezones())


def normalise_phone(value: str) -> str:
    """Any common way of writing a number becomes E.164 (`+8613812348000`); China by default."""
    try:
        parsed = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalise_email(value: str) -> str:
    local, sep, domain = value.strip().rpartition("@")
    if not sep or not local or "." not in domain or " " in value.strip() or len(value) > 254:
        raise ValueError("is not an email address")
    return f"{local}@{domain.lower()}"


def normalise_locale(value: str) -> str:
    """Validated and written as a BCP 47 tag: `zh_cn` → `zh-CN`."""
    try:
        locale = Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError("is not a known locale") from exc
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


def check_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError("is not an IANA time zone (e.g. Asia/Shanghai)")
    return value


_Bounded = StringConstraints(strip_whitespace=True, min_length=1, max_length=254)
Phone = Annotated[
    str,
    _Bounded,
    AfterValidator(printable),
    AfterValidator(normalise_phone),
    Field(
        json_schema_extra={"format": "phone"},
        description="A valid phone number: E.164, or national (China by default).",
        examples=["13812348000"],
    ),
]
Email = Annotated[
    str,
    _Bounded,
    AfterValidator(printable),
    AfterValidator(normalise_email),
    Field(json_schema_extra={"format": "email"}, examples=["zs@example.com"]),
]
LocaleTag = Annotated[
    str,
    StringConstraints(max_length=35),
    AfterValidator(normalise_locale),
    Field(
        json_schema_extra={"format": "locale"},
        description="A locale Babel knows, as a BCP 47 tag.",
        examples=["zh-CN"],
    ),
]
TimeZone = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(check_timezone),
    Field(
        json_schema_extra={"enum": sorted(_TIMEZONES)},
        description="An IANA time zone name.",
        examples=["Asia/Shanghai"],
    ),
]
ExternalId = PrintableText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
]


class UserCreate(RequestBody):
    external_id: ExternalId
    name: ShortText
    phone: Phone | None = None
    email: Email | None = None
    locale: LocaleTag | None = None
    timezone: TimeZone | None = None
    currency: CurrencyCode | None = Field(default=None, description="The main wallet's currency.")
    low_balance_threshold: NonNegativeMoney | None = None


class UserUpdate(RequestBody):
    name: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    locale: LocaleTag | None = None
    timezone: TimeZone | None = None
    low_balance_threshold: NonNegativeMoney | None = None
    step_up_amount: PositiveMoney | None = Field(
        default=None,
        description="The user's own step-up amount: lowers (never raises) both "
        "`TIDINGS_STEP_UP_AMOUNT` and `TIDINGS_STEP_UP_DAILY_AMOUNT` for them; null clears it.",
    )


class UserOut(BaseModel):
    id: str
    external_id: str
    name: str = Field(description="Masked, e.g. 张*三.")
    phone: str | None = Field(description="Masked, e.g. 138****8000.")
    email: str | None = Field(description="Masked, e.g. z***@example.com.")
    locale: str
    timezone: str
    currency: str
    low_balance_threshold: Money
    step_up_amount: Money | None = Field(
        default=None, description="The user's own step-up amount, when they set one."
    )
    wallet_id: str
    created_at: datetime
    status: Literal["active", "erased"] = Field(
        default="active",
        description="`erased`: the person's data was erased (PIPL); the books stay.",
    )
    erased_at: datetime | None = None


class TokenOut(BaseModel):
    id: str
    token: str = Field(description="Shown once; only its hash is stored.")
    user_id: str
    expires_at: datetime
