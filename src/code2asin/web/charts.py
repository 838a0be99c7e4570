"""A server-rendered SVG bar chart of the error breakdown (no script, readable without colours).

Each error class gets one bar per period (7 and 30 days); every bar is labelled with its count, and the
chart carries a ``<title>``/``<desc>`` so screen readers announce it. Pure: strings in, markup out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

WIDTH = 640
LABEL_WIDTH = 150
BAR_HEIGHT = 16
BAR_GAP = 4
GROUP_GAP = 14
LEGEND_LINE = 20
#: colour and stroke pattern per series, so the two periods differ without colour too
SERIES_STYLE = (("#1f6feb", ""), ("#8250df", ' stroke="#3b1f73" stroke-dasharray="4 2"'))


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    counts: dict[str, int]


def error_chart(title: str, categories: list[tuple[str, str]], series: list[Series]) -> str:
    """An SVG of horizontal bars: ``categories`` are (key, label), ``series`` one count per key."""
    highest = max([1, *(s.counts.get(key, 0) for s in series for key, _ in categories)])
    plot = WIDTH - LABEL_WIDTH - 60
    group = len(series) * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP
    top = 14 + LEGEND_LINE * len(series)
    height = top + len(categories) * group + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{s.label} {s.counts.get(key, 0)}" for s in series)
        for key, label in categories
    )
    parts.append(f'<desc id="chart-desc">{escape(desc)}</desc>')
    for index, s in enumerate(series):
        colour, stroke = SERIES_STYLE[index % len(SERIES_STYLE)]
        line = 6 + index * LEGEND_LINE
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{line}" width="14" height="14" fill="{colour}"{stroke}/>')
        parts.append(f'<text x="{LABEL_WIDTH + 20}" y="{line + 12}" class="legend">{escape(s.label)}</text>')
    y = top
    for key, label in categories:
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT + 2}" text-anchor="end" class="axis">'
            f"{escape(label)}</text>"
        )
        for index, s in enumerate(series):
            colour, stroke = SERIES_STYLE[index % len(SERIES_STYLE)]
            count = s.counts.get(key, 0)
            width = round(plot * count / highest, 1)
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(width, 1)}" height="{BAR_HEIGHT}" '
                f'fill="{colour}"{stroke} data-series="{index}" data-key="{escape(key)}"/>'
            )
            value_x = LABEL_WIDTH + max(width, 1) + 6
            parts.append(f'<text x="{value_x}" y="{y + BAR_HEIGHT - 3}" class="value">{count}</text>')
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP
    parts.append("</svg>")
    return "".join(parts)


PRICE_WIDTH = 640
PRICE_HEIGHT = 260
PRICE_LEFT = 70
PRICE_RIGHT = 20
PRICE_TOP = 20
PRICE_BOTTOM = 50


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One observation: ``label`` (a date) and the price, None when there was no offer."""

    label: str
    price: float | None


def price_chart(
    title: str,
    description: str,
    points: list[PricePoint],
    currency: str = "",
    money: Callable[[float], str] | None = None,
) -> str:
    """An SVG line of a product's price over time (no script; gaps where it was out of stock).

    Every point is a circle with its own ``<title>``; the y axis shows the lowest and highest price, the x
    axis the first and last label. ``description`` is read by screen readers (``<desc>``).
    """
    prices = [p.price for p in points if p.price is not None]
    low, high = (min(prices), max(prices)) if prices else (0.0, 1.0)
    if high - low < 0.01:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    low, high = max(0.0, low - pad), high + pad
    plot_w = PRICE_WIDTH - PRICE_LEFT - PRICE_RIGHT
    plot_h = PRICE_HEIGHT - PRICE_TOP - PRICE_BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(PRICE_LEFT + (i * step if len(points) > 1 else plot_w / 2), 1)

    def y(value: float) -> float:
        return round(PRICE_TOP + plot_h - (value - low) / (high - low) * plot_h, 1)

    unit = f" {currency}" if currency else ""

    def price(value: float) -> str:  # the page language's way when given (``5,19 €``)
        return escape(money(value) if money is not None else f"{value:.2f}{unit}")

    bottom = PRICE_TOP + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {PRICE_WIDTH} {PRICE_HEIGHT}" role="img" '
        f'aria-labelledby="price-chart-title price-chart-desc" class="chart price-chart">',
        f'<title id="price-chart-title">{escape(title)}</title>',
        f'<desc id="price-chart-desc">{escape(description)}</desc>',
        f'<line x1="{PRICE_LEFT}" y1="{PRICE_TOP}" x2="{PRICE_LEFT}" y2="{bottom}" stroke="#8c959f"/>',
        f'<line x1="{PRICE_LEFT}" y1="{bottom}" x2="{PRICE_WIDTH - PRICE_RIGHT}" y2="{bottom}" '
        f'stroke="#8c959f"/>',
        f'<text x="{PRICE_LEFT - 6}" y="{y(high) + 4}" text-anchor="end" class="axis">'
        f"{price(high)}</text>",
        f'<text x="{PRICE_LEFT - 6}" y="{y(low) + 4}" text-anchor="end" class="axis">{price(low)}</text>',
    ]
    segments: list[list[str]] = [[]]
    for i, point in enumerate(points):
        if point.price is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(i)},{y(point.price)}")
    for segment in segments:
        if len(segment) > 1:
            parts.append(
                f'<polyline points="{" ".join(segment)}" fill="none" stroke="#1f6feb" stroke-width="2"/>'
            )
    for i, point in enumerate(points):
        if point.price is None:
            parts.append(
                f'<text x="{x(i)}" y="{bottom - 4}" text-anchor="middle" class="value" data-gap="1">×'
                f"<title>{escape(point.label)}: —</title></text>"
            )
            continue
        parts.append(
            f'<circle cx="{x(i)}" cy="{y(point.price)}" r="4" fill="#1f6feb" data-price="{point.price:.2f}">'
            f"<title>{escape(point.label)}: {price(point.price)}</title></circle>"
        )
    if points:
        parts.append(
            f'<text x="{x(0)}" y="{bottom + 20}" text-anchor="start" class="axis">'
            f"{escape(points[0].label)}</text>"
        )
        if len(points) > 1:
            parts.append(
                f'<text x="{x(len(points) - 1)}" y="{bottom + 20}" text-anchor="end" class="axis">'
                f"{escape(points[-1].label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
