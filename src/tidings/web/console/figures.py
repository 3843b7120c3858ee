"""Numbers and durations as the console's language writes them."""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import format_decimal
from babel.units import format_unit

from tidings.web.i18n import Language

MINUTE_SECONDS = 60.0
SHORT_SECONDS = 10.0
"""Below this a duration is shown to a tenth of a second."""


@dataclass(frozen=True, slots=True)
class Figures:
    language: Language

    def count(self, value: int) -> str:
        return format_decimal(value, locale=self.language.babel)

    def seconds(self, value: float) -> str:
        """`0.4 sec`, `42 sec`, `12.5 min` (and `0.4秒` in Chinese)."""
        locale = self.language.babel
        if value >= 2 * MINUTE_SECONDS:
            minutes = value / MINUTE_SECONDS
            return format_unit(minutes, "duration-minute", "short", "#,##0.0", locale=locale)
        shape = "#,##0.0" if value < SHORT_SECONDS else "#,##0"
        return format_unit(value, "duration-second", "short", shape, locale=locale)
