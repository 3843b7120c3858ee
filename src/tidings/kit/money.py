"""Money is an integer of minor units plus an ISO 4217 code; never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal, get_currency_precision, list_currencies
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from tidings.kit.errors import Unprocessable

# The most any Money in a request may say: a 64-bit column holds it with room to spare (and
# anything larger is a 422, never a 500). One transfer moves at most `TIDINGS_MAX_AMOUNT`,
# and the ledger refuses any posting that would take a balance past the 64-bit range.
MAX_MINOR_UNITS = 10**15

_KNOWN_CURRENCIES = frozenset(list_currencies())


def _known_currency(code: str) -> str:
    if code not in _KNOWN_CURRENCIES:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Z]{3}$",
        examples=["CNY"],
        json_schema_extra={"enum": sorted(_KNOWN_CURRENCIES)},
        description="An ISO 4217 currency code.",
    ),
    AfterValidator(_known_currency),
]


class Money(BaseModel):
    """An amount in minor units (fen for CNY) with its currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: StrictInt = Field(ge=-MAX_MINOR_UNITS, le=MAX_MINOR_UNITS, examples=[12800])
    currency: CurrencyCode

    def __str__(self) -> str:
        return f"{to_major(self.value, self.currency)} {self.currency}"


class PositiveMoney(Money):
    """An amount that must be above zero (what a transfer moves)."""

    value: StrictInt = Field(gt=0, le=MAX_MINOR_UNITS, examples=[12800])


class NonNegativeMoney(Money):
    """An amount that may be zero but not below (a limit, a threshold)."""

    value: StrictInt = Field(ge=0, le=MAX_MINOR_UNITS, examples=[10000])


def money(value: int, currency: str) -> Money:
    """Money from trusted stored values, built without re-validation (hot paths)."""
    return Money.model_construct(value=value, currency=currency)


def money_json(value: int, currency: str) -> dict[str, int | str]:
    """The one JSON shape of money in events and answers: `{"value": 12800, "currency": "CNY"}`."""
    return {"value": int(value), "currency": currency}


def to_major(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-get_currency_precision(currency))


def format_money(value: int, currency: str, locale: str = "zh_CN") -> str:
    return format_currency(to_major(value, currency), currency, locale=locale)


def format_amount(value: int, currency: str, locale: str) -> str:
    """The bare amount in a locale's digits and separators, at the currency's precision
    (`1,240.00`): for text that says the unit itself (…消费1,240.00元). `locale` is a BCP 47
    tag (`zh-Hans-CN`); one Babel does not know formats as zh-CN."""
    try:
        babel = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        babel = Locale.parse("zh_CN")
    digits = get_currency_precision(currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(to_major(value, currency), format=pattern, locale=babel)


class CurrencyMismatch(Unprocessable):
    """Two amounts (or an amount and a wallet) in different currencies."""

    code = "currency-mismatch"
    title = "Currency mismatch"
