"""Charts drawn on the server as inline SVG: no script, no inline style (the CSP
forbids both), only SVG presentation attributes. Each chart comes with the same
numbers as rows for a table, so a screen reader (or anyone) can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 180, 44, 22, 8


@dataclass
class Chart:
    title: str
    svg: SafeString
    rows: list[tuple[str, int]]  # label, value: the table under the chart


def _nice_max(value: int) -> int:
    """A round top for the axis (1, 2, 5 x 10^n) at or above ``value``."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _frame(title: str, top: int, labels: list[tuple[int, str]], body: list[str]) -> str:
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" '
        f'stroke="#888" stroke-width="1"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH}" y2="{PAD_TOP + plot_h}" '
        f'stroke="#888" stroke-width="1"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 10}" text-anchor="end" font-size="11" '
        f'fill="#555">{top}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end" font-size="11" '
        f'fill="#555">0</text>',
    ]
    for x, text in labels:
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11" '
                     f'fill="#555">{escape(text)}</text>')
    parts += body
    parts.append("</svg>")
    return "".join(parts)


def _month_labels(days: list[date], x_of) -> list[tuple[int, str]]:
    """A label at the first point of each month (every other month when crowded)."""
    firsts = [(i, d) for i, d in enumerate(days) if i == 0 or d.month != days[i - 1].month]
    step = 2 if len(firsts) > 8 else 1
    return [(x_of(i), d.strftime("%b %Y" if d.month == 1 or i == 0 else "%b"))
            for i, d in firsts[::step]]


def bars(title: str, points: list[tuple[date, int]], *, label_format: str = "%Y-%m-%d"
         ) -> Chart:
    """A bar per point (a day or a week), months labelled along the bottom."""
    top = _nice_max(max((v for _, v in points), default=0))
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    n = max(len(points), 1)
    slot = plot_w / n
    body = []
    for i, (day, value) in enumerate(points):
        if value <= 0:
            continue
        h = plot_h * value / top
        body.append(f'<rect x="{PAD_LEFT + i * slot:.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
                    f'width="{max(slot - 0.5, 0.6):.1f}" height="{h:.1f}" fill="#2f6f9f">'
                    f"<title>{day.strftime(label_format)}: {value}</title></rect>")
    labels = _month_labels([d for d, _ in points], lambda i: round(PAD_LEFT + i * slot))
    svg = _frame(title, top, labels, body)
    return Chart(title, mark_safe(svg),  # noqa: S308 (every text inside is escaped)
                 [(d.strftime(label_format), v) for d, v in points])


def line(title: str, points: list[tuple[date, int]], *, label_format: str = "%Y-%m-%d"
         ) -> Chart:
    """A line through the points (a count over time), months labelled along the bottom."""
    top = _nice_max(max((v for _, v in points), default=0))
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    n = max(len(points) - 1, 1)

    def x_of(i: int) -> float:
        return PAD_LEFT + plot_w * i / n

    coords = " ".join(f"{x_of(i):.1f},{PAD_TOP + plot_h - plot_h * v / top:.1f}"
                      for i, (_, v) in enumerate(points))
    body = [f'<polyline points="{coords}" fill="none" stroke="#2f6f9f" stroke-width="2"/>']
    labels = _month_labels([d for d, _ in points], lambda i: round(x_of(i)))
    svg = _frame(title, top, labels, body)
    return Chart(title, mark_safe(svg),  # noqa: S308 (every text inside is escaped)
                 [(d.strftime(label_format), v) for d, v in points])
