"""The MCC grouping is one table read the same way by Python and by SQL."""

from __future__ import annotations

import sqlalchemy as sa

from tidings.insights.categories import SpendingCategory, category_of, category_sql, label


def test_named_codes_fall_in_the_categories_people_expect() -> None:
    assert category_of("5812") is SpendingCategory.DINING
    assert category_of("5411") is SpendingCategory.GROCERIES
    assert category_of("4511") is SpendingCategory.TRAVEL
    assert category_of("3501") is SpendingCategory.TRAVEL
    assert category_of("7011") is SpendingCategory.TRAVEL
    assert category_of("4121") is SpendingCategory.TRANSPORT
    assert category_of("4900") is SpendingCategory.UTILITIES
    assert category_of("8062") is SpendingCategory.HEALTH
    assert category_of("8220") is SpendingCategory.EDUCATION
    assert category_of("5999") is SpendingCategory.SHOPPING
    assert category_of(None) is SpendingCategory.OTHER
    assert category_of("12a4") is SpendingCategory.OTHER


def test_labels_follow_the_reader_language() -> None:
    assert label(SpendingCategory.TRAVEL, "zh-CN") == "旅行"
    assert label(SpendingCategory.TRAVEL, "en-GB") == "Travel"


def test_sql_groups_every_code_as_python_does() -> None:
    metadata = sa.MetaData()
    payments = sa.Table("payments", metadata, sa.Column("mcc", sa.String(4)))
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    codes = [f"{n:04d}" for n in range(0, 10000, 7)] + ["5811", "5814", "3999", "8099", None]
    with engine.begin() as conn:
        conn.execute(payments.insert(), [{"mcc": code} for code in codes])
        rows = conn.execute(sa.select(payments.c.mcc, category_sql(payments.c.mcc))).all()
    assert dict(rows) == {code: category_of(code).value for code in codes}
