"""Spending categories: merchant category codes (ISO 18245) grouped the way people think of
their money, as data, so the spending views, the suggestions and the campaign segments all
group a payment the same way, in Python and in SQL."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, literal
from sqlalchemy.types import String


class SpendingCategory(StrEnum):
    DINING = "dining"
    """Restaurants, cafés, bars, fast food (5811–5814)."""
    GROCERIES = "groceries"
    """Supermarkets, convenience and food stores."""
    TRANSPORT = "transport"
    """Metro, buses, taxis, railways, fuel, tolls and parking."""
    TRAVEL = "travel"
    """Airlines, hotels, car rental, cruises and travel agencies."""
    SHOPPING = "shopping"
    """Retail of every other kind."""
    UTILITIES = "utilities"
    """Phone, internet, power, water and gas."""
    ENTERTAINMENT = "entertainment"
    """Cinemas, shows, games, sport and digital media."""
    HEALTH = "health"
    """Pharmacies, doctors, dentists and hospitals."""
    EDUCATION = "education"
    """Schools, universities, courses and training."""
    OTHER = "other"
    """No code, or a code of none of the above."""


LABELS: dict[SpendingCategory, dict[str, str]] = {
    SpendingCategory.DINING: {"zh-CN": "餐饮", "en": "Dining"},
    SpendingCategory.GROCERIES: {"zh-CN": "日用超市", "en": "Groceries"},
    SpendingCategory.TRANSPORT: {"zh-CN": "交通出行", "en": "Transport"},
    SpendingCategory.TRAVEL: {"zh-CN": "旅行", "en": "Travel"},
    SpendingCategory.SHOPPING: {"zh-CN": "购物", "en": "Shopping"},
    SpendingCategory.UTILITIES: {"zh-CN": "生活缴费", "en": "Utilities"},
    SpendingCategory.ENTERTAINMENT: {"zh-CN": "休闲娱乐", "en": "Entertainment"},
    SpendingCategory.HEALTH: {"zh-CN": "医疗健康", "en": "Health"},
    SpendingCategory.EDUCATION: {"zh-CN": "教育", "en": "Education"},
    SpendingCategory.OTHER: {"zh-CN": "其他", "en": "Other"},
}

_C = SpendingCategory
MCC_RANGES: tuple[tuple[int, int, SpendingCategory], ...] = (
    # Specific codes first: the first range holding a code decides its category.
    (5811, 5814, _C.DINING),
    (5411, 5411, _C.GROCERIES),
    (5422, 5422, _C.GROCERIES),
    (5441, 5441, _C.GROCERIES),
    (5451, 5451, _C.GROCERIES),
    (5462, 5462, _C.GROCERIES),
    (5499, 5499, _C.GROCERIES),
    (3000, 3299, _C.TRAVEL),  # airlines by name
    (3351, 3441, _C.TRAVEL),  # car rental by name
    (3501, 3999, _C.TRAVEL),  # hotels by name
    (4411, 4411, _C.TRAVEL),  # cruise lines
    (4511, 4511, _C.TRAVEL),  # airlines
    (4582, 4582, _C.TRAVEL),  # airports
    (4722, 4722, _C.TRAVEL),  # travel agencies and tour operators
    (7011, 7012, _C.TRAVEL),  # hotels, timeshares
    (7512, 7512, _C.TRAVEL),  # car rental
    (4111, 4131, _C.TRANSPORT),  # commuter, railways, taxis, buses
    (4784, 4784, _C.TRANSPORT),  # tolls
    (4789, 4789, _C.TRANSPORT),
    (5541, 5542, _C.TRANSPORT),  # fuel
    (7523, 7523, _C.TRANSPORT),  # parking
    (4812, 4816, _C.UTILITIES),  # telecom, internet
    (4899, 4900, _C.UTILITIES),  # cable, power, gas, water
    (5815, 5818, _C.ENTERTAINMENT),  # digital goods, games
    (7829, 7841, _C.ENTERTAINMENT),  # cinemas, video
    (7911, 7999, _C.ENTERTAINMENT),  # shows, sport, recreation
    (5912, 5912, _C.HEALTH),  # pharmacies
    (5975, 5976, _C.HEALTH),  # hearing aids, orthopaedic goods
    (8011, 8099, _C.HEALTH),  # doctors, dentists, hospitals
    (8211, 8299, _C.EDUCATION),  # schools, universities, courses
    (5200, 5999, _C.SHOPPING),  # retail of every other kind
)
del _C


def category_of(mcc: str | None) -> SpendingCategory:
    """The category of a four-digit merchant category code (`other` for none or junk)."""
    if mcc is None or len(mcc) != 4 or not mcc.isdigit():
        return SpendingCategory.OTHER
    code = int(mcc)
    for low, high, category in MCC_RANGES:
        if low <= code <= high:
            return category
    return SpendingCategory.OTHER


def label(category: SpendingCategory, locale: str) -> str:
    """The category's name in the reader's language (zh-CN unless English is asked for)."""
    names = LABELS[category]
    return names["en"] if locale.lower().startswith("en") else names["zh-CN"]


def category_sql(mcc: ColumnElement[str | None]) -> ColumnElement[str]:
    """The same grouping as `category_of`, as one SQL expression over the four-digit MCC
    column, so a set-based query groups payments without a Python loop. Codes are stored
    as exactly four digits (the API refuses anything else), so comparing them as text is
    comparing them as numbers, on SQLite and PostgreSQL alike."""
    whens = [
        (and_(mcc >= f"{low:04d}", mcc <= f"{high:04d}"), literal(category.value, String()))
        for low, high, category in MCC_RANGES
    ]
    return case(*whens, else_=literal(SpendingCategory.OTHER.value, String()))
