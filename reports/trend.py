"""Trend lines as numbers for an inline SVG: airlock draws its own chart, no JavaScript chart library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 180, 36


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int
    label: str  # the night, shown as the point's tooltip


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: tuple[Point, ...]
    polyline: str  # "x,y x,y ..." for <polyline points=...>
    top: int  # the value the top of the chart stands for
    baseline_y: float


def chart(values: Sequence[tuple[str, int]]) -> Chart:
    """One point per night, oldest left; the y axis starts at 0 so a flat line means no change, not a zoom."""
    top = max((v for _l, v in values), default=0) or 1
    n = len(values)
    span_x = WIDTH - 2 * PAD
    span_y = HEIGHT - 2 * PAD
    points = tuple(
        Point(
            round(PAD + (span_x * i / (n - 1) if n > 1 else span_x / 2), 1),
            round(HEIGHT - PAD - span_y * v / top, 1),
            v,
            label,
        )
        for i, (label, v) in enumerate(values)
    )
    return Chart(WIDTH, HEIGHT, points, " ".join(f"{p.x},{p.y}" for p in points), top, HEIGHT - PAD)
