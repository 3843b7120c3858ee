"""Spending by category: merchant category codes (ISO 18245) grouped the way people think of
their money. Pure functions over the wallet's transactions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tidings.kit.money import Money, money
from tidings.wallets.schemas import TransactionOut, TransferKind


class SpendingCategory(StrEnum):
    FOOD = "food"
    """Restaurants, cafés, food delivery."""
    GROCERIES = "groceries"
    """Supermarkets and convenience stores."""
    TRANSPORT = "transport"
    """Metro, buses, taxis, trains."""
    TRAVEL = "travel"
    """Hotels, airlines, travel agencies."""
    SHOPPING = "shopping"
    """Shops of every other kind."""
    ENTERTAINMENT = "entertainment"
    """Cinemas, shows, games, sport."""
    BILLS = "bills"
    """Phone, internet, power, water."""
    OTHER = "other"
    """No code, or one of none of the above."""


_EXACT: dict[str, SpendingCategory] = {
    **dict.fromkeys(("5811", "5812", "5813", "5814"), SpendingCategory.FOOD),
    **dict.fromkeys(("5411", "5422", "5441", "5451", "5462", "5499"), SpendingCategory.GROCERIES),
    **dict.fromkeys(("4111", "4112", "4121", "4131", "4789", "5541"), SpendingCategory.TRANSPORT),
    **dict.fromkeys(("4411", "4511", "4722", "7011", "7012"), SpendingCategory.TRAVEL),
    **dict.fromkeys(
        ("7832", "7841", "7922", "7996", "7997", "7999"), SpendingCategory.ENTERTAINMENT
    ),
    **dict.fromkeys(("4812", "4814", "4899", "4900"), SpendingCategory.BILLS),
}


def category_of(mcc: str | None) -> SpendingCategory:
    if mcc is None or not mcc.isdigit():
        return SpendingCategory.OTHER
    if mcc in _EXACT:
        return _EXACT[mcc]
    code = int(mcc)
    if 3000 <= code <= 3999:  # airlines, car rental and hotels by name
        return SpendingCategory.TRAVEL
    if 5200 <= code <= 5999:
        return SpendingCategory.SHOPPING
    return SpendingCategory.OTHER


@dataclass(frozen=True, slots=True)
class CategoryTotal:
    category: SpendingCategory
    spent: Money
    payments: int


def spending_by_category(
    transactions: Iterable[TransactionOut], currency: str
) -> list[CategoryTotal]:
    """Payments out of the wallet (refunds back to it taken off), largest category first."""
    totals: dict[SpendingCategory, int] = {}
    counts: dict[SpendingCategory, int] = {}
    for item in transactions:
        if item.kind not in (TransferKind.PAYMENT, TransferKind.REFUND):
            continue
        category = category_of(item.merchant.category if item.merchant else None)
        totals[category] = totals.get(category, 0) - item.amount.value
        if item.kind == TransferKind.PAYMENT:
            counts[category] = counts.get(category, 0) + 1
    found = [
        CategoryTotal(category=c, spent=money(total, currency), payments=counts.get(c, 0))
        for c, total in totals.items()
        if total > 0
    ]
    return sorted(found, key=lambda t: (-t.spent.value, t.category.value))
