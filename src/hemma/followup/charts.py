"""The follow-up page's trend charts: one small SVG line per figure, its months as points
(pure). Drawn here rather than by Matplotlib: a page holds some thirty of them and must open
within a second, and Matplotlib takes about 100 ms for each. Plain SVG with no script, so
the page's CSP holds; each chart carries its values as text for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape

WIDTH, HEIGHT, PAD = 160, 40, 4


def sparkline(points: Sequence[tuple[date, float | None]], title: str,
              describe: callable) -> str:
    """An SVG of the values over the months; a month with no value (suppressed, or nothing
    to divide by) breaks the line. `describe(value)` writes a value for the text
    alternative."""
    values = [v for _d, v in points if v is not None]
    words = "; ".join(f"{d.strftime('%Y-%m')}: {describe(v) if v is not None else '–'}"
                      for d, v in points)
    label = escape(f"{title}. {words}", {'"': "&quot;"})
    head = (f'<svg class="spark" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" role="img" aria-label="{label}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')
    if not values:
        return head + (f'<line x1="{PAD}" y1="{HEIGHT / 2}" x2="{WIDTH - PAD}" '
                       f'y2="{HEIGHT / 2}" class="spark-none"/></svg>')
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        y = HEIGHT - PAD - (v - low) / (high - low) * (HEIGHT - 2 * PAD)
        return round(PAD + i * step, 1), round(y, 1)

    parts, run = [], []
    for i, (_d, v) in enumerate(points):
        if v is None:
            if run:
                parts.append(run)
            run = []
            continue
        run.append(xy(i, v))
    if run:
        parts.append(run)
    body = []
    for run in parts:
        if len(run) > 1:
            body.append('<polyline class="spark-line" points="'
                        + " ".join(f"{x},{y}" for x, y in run) + '"/>')
    last_index = max(i for i, (_d, v) in enumerate(points) if v is not None)
    x, y = xy(last_index, points[last_index][1])
    body.append(f'<circle class="spark-last" cx="{x}" cy="{y}" r="2.5"/>')
    return head + "".join(body) + "</svg>"
