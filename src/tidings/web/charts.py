"""Charts drawn on the server as SVG (no script, nothing inline the CSP would refuse): the
geometry is computed here, the template draws it, and a table beside it says the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
LABEL_WIDTH = 150
VALUE_WIDTH = 130
BAR_HEIGHT = 28
GAP = 12
BAR_SPACE = WIDTH - LABEL_WIDTH - VALUE_WIDTH


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    shown: str
    """The value as the reader reads it (`¥128.00`)."""
    value: int


@dataclass(frozen=True, slots=True)
class DrawnBar:
    label: str
    shown: str
    y: int
    width: int
    text_y: int


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bar_x: int
    bar_height: int
    bars: list[DrawnBar]


def bar_chart(bars: Sequence[Bar]) -> BarChart:
    """Horizontal bars, the longest as wide as the space allows; every bar at least a sliver,
    so a small value is still seen."""
    largest = max((bar.value for bar in bars), default=0)
    drawn = [
        DrawnBar(
            label=bar.label,
            shown=bar.shown,
            y=index * (BAR_HEIGHT + GAP),
            width=max(2, bar.value * BAR_SPACE // largest) if largest > 0 else 0,
            text_y=index * (BAR_HEIGHT + GAP) + BAR_HEIGHT // 2,
        )
        for index, bar in enumerate(bars)
    ]
    height = max(len(drawn) * (BAR_HEIGHT + GAP) - GAP, BAR_HEIGHT)
    return BarChart(
        width=WIDTH, height=height, bar_x=LABEL_WIDTH, bar_height=BAR_HEIGHT, bars=drawn
    )
