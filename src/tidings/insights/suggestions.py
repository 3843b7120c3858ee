"""Which sub-wallets a user's own behaviour suggests: pure rules over 90 days of figures, each
with the evidence it rests on. No I/O: the service reads the figures in a few set-based
queries, for one user or for all."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from tidings.insights.categories import SpendingCategory

WINDOW_DAYS: Final = 90
"""The behaviour a suggestion rests on: the last 90 days."""
SURPLUS_WINDOWS: Final = 3
"""A regular surplus: money left over in each of the window's three 30-day stretches."""
MIN_SURPLUS: Final = 30_000
"""…and at least 300.00 left over in all."""


@dataclass(frozen=True, slots=True)
class Spent:
    """Payments (net of refunds) in one category over the window."""

    payments: int
    amount: int


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One user's last 90 days, as the rules read them."""

    by_category: Mapping[SpendingCategory, Spent]
    open_purposes: Collection[str]
    """Purposes of the user's open sub-wallets (`travel`, `savings`…)."""
    surplus_stretches: int = 0
    """How many of the three 30-day stretches ended with more money in than out."""
    surplus: int = 0
    """Money in minus money out over the 90 days (minor units)."""
    payments: int = 0
    """Every payment in the 90 days."""


@dataclass(frozen=True, slots=True)
class FrequentCategory:
    """Frequent payments in one category suggest a sub-wallet for it."""

    purpose: str
    category: SpendingCategory
    min_payments: int
    reason: Mapping[str, str] = field(default_factory=dict)
    """The reason in plain words, by language (`zh-CN`, `en`)."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    purpose: str
    reason: Mapping[str, str]
    payments: int
    amount: int
    window_days: int = WINDOW_DAYS

    def reason_in(self, locale: str) -> str:
        return self.reason["en" if locale.lower().startswith("en") else "zh-CN"]


FREQUENT: Final = (
    FrequentCategory(
        "travel",
        SpendingCategory.TRAVEL,
        3,
        {"zh-CN": "最近常出行", "en": "you have travelled often lately"},
    ),
    FrequentCategory(
        "shopping",
        SpendingCategory.SHOPPING,
        5,
        {"zh-CN": "最近购物较多", "en": "you have shopped often lately"},
    ),
)
"""Frequent travel → a travel sub-wallet; frequent shopping → a shopping one (at least
three travel payments, five shopping ones, in 90 days)."""

SAVINGS_REASON: Final = {"zh-CN": "每月都有结余", "en": "you have money left over every month"}


def suggest(behaviour: Behaviour) -> list[Suggestion]:
    """Every sub-wallet the behaviour suggests and the user has not opened, with its evidence."""
    found: list[Suggestion] = []
    for rule in FREQUENT:
        spent = behaviour.by_category.get(rule.category)
        if (
            spent is not None
            and spent.payments >= rule.min_payments
            and rule.purpose not in behaviour.open_purposes
        ):
            found.append(Suggestion(rule.purpose, rule.reason, spent.payments, spent.amount))
    if (
        behaviour.surplus_stretches >= SURPLUS_WINDOWS
        and behaviour.surplus >= MIN_SURPLUS
        and "savings" not in behaviour.open_purposes
    ):
        found.append(Suggestion("savings", SAVINGS_REASON, behaviour.payments, behaviour.surplus))
    return found
