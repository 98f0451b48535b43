"""The on-time trend of one unit as inline SVG that survives paper: every bar carries its month
and its value in text, a month with no duties says 无 instead of looking like 0%, and nothing
depends on colour (black outlines and grey fill print the same on any printer).
"""

from __future__ import annotations

import html

from monitor.reports.ontime import format_rate

BAR_WIDTH = 44
GAP = 14
PLOT_HEIGHT = 60  # pixels for 100 %
TOP = 18  # room for the value above a full bar
BOTTOM = 18  # room for the month under the baseline


def trend_svg(name: str, series: dict[str, float | None]) -> str:
    """One unit's bars, oldest month first: value above each bar, month (YYYY.MM) below."""
    months = list(series)
    width = len(months) * (BAR_WIDTH + GAP) + GAP
    height = TOP + PLOT_HEIGHT + BOTTOM
    base = TOP + PLOT_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(name)} 按时率趋势" '
        'font-family="sans-serif" font-size="11" text-anchor="middle">',
        f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="#000" stroke-width="1"/>',
    ]
    for i, month in enumerate(months):
        rate = series[month]
        x = GAP + i * (BAR_WIDTH + GAP)
        middle = x + BAR_WIDTH / 2
        if rate is not None:
            bar = round(PLOT_HEIGHT * max(0.0, min(rate, 1.0)))
            parts.append(
                f'<rect x="{x}" y="{base - bar}" width="{BAR_WIDTH}" height="{bar}" '
                'fill="#bbb" stroke="#000" stroke-width="1"/>'
            )
            label_y = base - bar - 4
        else:
            label_y = base - 4
        parts.append(
            f'<text x="{middle:g}" y="{label_y}" data-month="{html.escape(month)}">{format_rate(rate)}</text>'
        )
        # with the year: six months may straddle a new year
        year, _, number = month.partition("-")
        parts.append(
            f'<text x="{middle:g}" y="{height - 4}">{html.escape(year)}.{html.escape(number)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
