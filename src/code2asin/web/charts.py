"""A server-rendered SVG bar chart of the error breakdown (no script, readable without colours).

Each error class gets one bar per period (7 and 30 days); every bar is labelled with its count, and the
chart carries a ``<title>``/``<desc>`` so screen readers announce it. Pure: strings in, markup out.
"""

from __future__ import annotations

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
