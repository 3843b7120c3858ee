"""Amounts in messages read exactly as Babel would write them, in every locale we can meet."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal, get_currency_precision
from hypothesis import given
from hypothesis import strategies as st

from tidings.notify.templates.filters import _number, babel_locale

LOCALES = ["zh-CN", "zh-TW", "en", "en-IN", "de-DE", "fr", "hi-IN", "ar", "xx-unknown"]


@given(
    value=st.integers(-(10**15), 10**15),
    currency=st.sampled_from(["CNY", "JPY", "USD", "KWD"]),
    locale=st.sampled_from(LOCALES),
)
def test_the_fast_amount_format_matches_babels_pattern(
    value: int, currency: str, locale: str
) -> None:
    digits = get_currency_precision(currency)
    expected = format_decimal(
        Decimal(value).scaleb(-digits),
        format="#,##0" + ("." + "0" * digits if digits else ""),
        locale=babel_locale(locale),
    )
    assert _number(value, currency, locale) == expected
