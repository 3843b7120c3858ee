"""The delivery-health chart: sent and failed deliveries in each of the last 24 hours, drawn
on the server as SVG. The geometry is computed here, the template draws it (no script, no
inline style), and a table beside it gives the same figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tidings.web.console.delivery_stats import HourCounts

WIDTH = 720
HEIGHT = 260
LEFT = 56
"""Room for the value labels of the scale."""
RIGHT = 8
TOP = 12
BOTTOM = 32
"""Room for the hour labels."""
BAR_GAP = 2
LABEL_EVERY = 3
"""An hour label on every third column, so labels do not crowd at 360 px."""


@dataclass(frozen=True, slots=True)
class ChartColumn:
    """One hour: its two bars (sent, failed) and, on some columns, its label."""

    label: str | None
    label_x: int
    sent_x: int
    sent_y: int
    sent_height: int
    failed_x: int
    failed_y: int
    failed_height: int


@dataclass(frozen=True, slots=True)
class ScaleLine:
    y: int
    value: int


@dataclass(frozen=True, slots=True)
class HourChart:
    width: int
    height: int
    left: int
    right: int
    baseline: int
    bar_width: int
    columns: list[ChartColumn]
    scale: list[ScaleLine]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that is at least `value` (1 for nothing)."""
    if value <= 1:
        return 1
    power: int = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if value <= step * power)


def hour_chart(hours: Sequence[HourCounts], timezone: ZoneInfo) -> HourChart:
    """Two bars an hour, scaled to a round top value; labels in the operator's time zone."""
    top = nice_ceiling(max((max(h.sent, h.failed) for h in hours), default=0))
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    slot = (WIDTH - LEFT - RIGHT) // max(1, len(hours))
    bar_width = max(2, (slot - 3 * BAR_GAP) // 2)

    def bar(value: int) -> tuple[int, int]:
        height = round(value * plot_height / top)
        if value and height < 2:
            height = 2  # a small count is still seen
        return baseline - height, height

    columns = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot + BAR_GAP
        sent_y, sent_height = bar(hour.sent)
        failed_y, failed_height = bar(hour.failed)
        labelled = (len(hours) - 1 - index) % LABEL_EVERY == 0
        columns.append(
            ChartColumn(
                label=hour.starts_at.astimezone(timezone).strftime("%H:00") if labelled else None,
                label_x=x + bar_width,
                sent_x=x,
                sent_y=sent_y,
                sent_height=sent_height,
                failed_x=x + bar_width + BAR_GAP,
                failed_y=failed_y,
                failed_height=failed_height,
            )
        )
    marks = sorted({0, top // 2, top})
    scale = [ScaleLine(y=baseline - round(plot_height * mark / top), value=mark) for mark in marks]
    return HourChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        baseline=baseline,
        bar_width=bar_width,
        columns=columns,
        scale=scale,
    )
