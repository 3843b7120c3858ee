"""This month's spending by category, and the bars that draw it."""

from __future__ import annotations

from datetime import UTC, datetime

from tidings.kit.money import money
from tidings.wallets.schemas import Merchant, TransactionOut
from tidings.web.charts import BAR_SPACE, Bar, bar_chart
from tidings.web.spending import SpendingCategory, category_of, spending_by_category


def _entry(kind: str, value: int, mcc: str | None) -> TransactionOut:
    return TransactionOut(
        id="ent_1",
        transfer_id=None,
        kind=kind,
        amount=money(value, "CNY"),
        balance_after=money(0, "CNY"),
        merchant=Merchant(name="店", category=mcc) if mcc else None,
        created_at=datetime(2026, 11, 24, tzinfo=UTC),
    )


def test_merchant_codes_fall_into_the_categories_people_use() -> None:
    assert category_of("5814") is SpendingCategory.FOOD
    assert category_of("5411") is SpendingCategory.GROCERIES
    assert category_of("4121") is SpendingCategory.TRANSPORT
    assert category_of("3501") is SpendingCategory.TRAVEL
    assert category_of("5651") is SpendingCategory.SHOPPING
    assert category_of("4900") is SpendingCategory.BILLS
    assert category_of(None) is SpendingCategory.OTHER
    assert category_of("9999") is SpendingCategory.OTHER


def test_refunds_are_taken_off_and_other_movements_ignored() -> None:
    totals = spending_by_category(
        [
            _entry("payment", -12_800, "5814"),
            _entry("payment", -3_000, "5812"),
            _entry("refund", 1_000, "5814"),
            _entry("payment", -50_000, "5732"),
            _entry("top_up", 100_000, None),
            _entry("allocation", -20_000, None),
        ],
        "CNY",
    )
    assert [(t.category, t.spent.value, t.payments) for t in totals] == [
        (SpendingCategory.SHOPPING, 50_000, 1),
        (SpendingCategory.FOOD, 14_800, 2),
    ]


def test_the_largest_bar_fills_the_space_and_a_tiny_one_still_shows() -> None:
    chart = bar_chart([Bar("购物", "¥500.00", 50_000), Bar("餐饮", "¥0.01", 1)])
    assert [bar.width for bar in chart.bars] == [BAR_SPACE, 2]
    assert chart.bars[1].y > chart.bars[0].y
    assert bar_chart([]).bars == []
