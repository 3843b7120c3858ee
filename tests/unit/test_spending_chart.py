"""The bars that draw a spending view (the grouping itself: tests/insights)."""

from __future__ import annotations

from tidings.web.charts import BAR_SPACE, Bar, bar_chart


def test_the_largest_bar_fills_the_space_and_a_tiny_one_still_shows() -> None:
    chart = bar_chart([Bar("购物", "¥500.00", 50_000), Bar("餐饮", "¥0.01", 1)])
    assert [bar.width for bar in chart.bars] == [BAR_SPACE, 2]
    assert chart.bars[1].y > chart.bars[0].y
    assert bar_chart([]).bars == []
