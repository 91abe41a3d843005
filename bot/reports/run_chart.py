"""The geometry of a KPI's monthly run chart, drawn as inline SVG by `templates/run_chart.svg.j2`.

The plot is ``PLOT_WIDTH`` x ``PLOT_HEIGHT`` user units with its top left corner at
(``LEFT``, ``TOP``). Month *i* of the 12 (0 the oldest) is at x = ``LEFT + i * STEP``; a
percent *p* at y = ``TOP + PLOT_HEIGHT * (scale - p) / scale``, where ``scale`` is 100, or
the next multiple of 50 above the highest point when a point is above 100 (a rate such as
``refractures`` can be). With scale 100 that is x = 36 + 24 i, y = 110 - p. Coordinates
are rounded half up to one decimal and written without a trailing ".0". A month without
a value has no point: the line joins the months that have one. The median is a
horizontal line across the plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bot.reports.kpis import CHART_MONTHS, RunChart

__all__ = ["LEFT", "PLOT_HEIGHT", "PLOT_WIDTH", "STEP", "TOP", "ChartPoint", "ChartSvg", "layout"]

LEFT = 36
TOP = 10
STEP = 24
PLOT_WIDTH = STEP * (CHART_MONTHS - 1)  # 264
PLOT_HEIGHT = 100
WIDTH = LEFT + PLOT_WIDTH + 14
HEIGHT = TOP + PLOT_HEIGHT + 30
MONTH_INITIALS = "JFMAMJJASOND"  # januari … december
GRID = (0, 50, 80, 100)  # the axis, the IOF levels and the top


def _number(value: Decimal | float | int) -> str:
    """Half up to one decimal, without a trailing ".0" ("36", "54.4")."""
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{rounded:f}".removesuffix(".0")


def _percent_text(value: float) -> str:
    return f"{value:.1f} %"


@dataclass(frozen=True)
class ChartPoint:
    x: str
    y: str
    title: str


@dataclass(frozen=True)
class ChartLine:
    y: str
    label: str


@dataclass(frozen=True)
class ChartTick:
    x: str
    initial: str
    year: str | None


@dataclass(frozen=True)
class ChartSvg:
    """What the template draws for one KPI (every text is escaped by the template)."""

    key: str
    title: str
    description: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: tuple[ChartPoint, ...]
    polyline: str
    median: ChartLine | None
    grid: tuple[ChartLine, ...]
    ticks: tuple[ChartTick, ...]


def layout(chart: RunChart) -> ChartSvg:
    """The coordinates of ``chart``'s points, median, grid lines and month ticks."""
    values = [m.percent for m in chart.months if m.percent is not None]
    highest = max(values, default=0.0)
    scale = 100 if highest <= 100 else 50 * math.ceil(highest / 50)

    def y(value: float) -> str:
        drop = Decimal(PLOT_HEIGHT) * (Decimal(scale) - Decimal(str(value))) / Decimal(scale)
        return _number(Decimal(TOP) + drop)

    def x(index: int) -> str:
        return _number(LEFT + index * STEP)

    points = tuple(
        ChartPoint(
            x(index),
            y(month.percent),
            f"{month.start:%Y-%m}: {_percent_text(month.percent)} "
            f"({month.numerator}/{month.denominator})",
        )
        for index, month in enumerate(chart.months)
        if month.percent is not None
    )
    median = (
        ChartLine(y(chart.median), f"Median {_percent_text(chart.median)}")
        if chart.median is not None
        else None
    )
    grid = tuple(ChartLine(y(level), f"{level}") for level in (*GRID[:-1], scale))
    ticks = tuple(
        ChartTick(
            x(index),
            MONTH_INITIALS[month.start.month - 1],
            f"{month.start.year}" if index == 0 or month.start.month == 1 else None,
        )
        for index, month in enumerate(chart.months)
    )
    shown = "; ".join(
        f"{m.start:%Y-%m} " + (_percent_text(m.percent) if m.percent is not None else "inga data")
        for m in chart.months
    )
    return ChartSvg(
        key=chart.key,
        title=f"{chart.label}: andel per månad",
        description=shown
        + (f"; median {_percent_text(chart.median)}" if chart.median is not None else ""),
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=LEFT + PLOT_WIDTH,
        top=TOP,
        bottom=TOP + PLOT_HEIGHT,
        points=points,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        median=median,
        grid=grid,
        ticks=ticks,
    )
