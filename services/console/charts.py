"""Plots drawn on the server as SVG: no chart script runs in the browser.

Each plot has a title and a description for screen readers and keeps its figures in a table
next to it (the page shows both), so colour is never the only carrier of a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 320
BAR = 18
GAP = 6
LABEL = 120
INK = "#1b1b1b"
BLUE = "#0b5394"
RED = "#a4161a"


def bars(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    maximum: float | None = None,
    unit: str = "",
    colour: str = BLUE,
) -> Markup:
    """Draw horizontal bars, one per (label, value)."""
    top = max([maximum or 0.0, *(value for _, value in items)]) or 1.0
    height = max(1, len(items)) * (BAR + GAP) + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'class="chart" aria-labelledby="t-{abs(hash(title))}">',
        f'<title id="t-{abs(hash(title))}">{escape(title)}</title>',
    ]
    for index, (label, value) in enumerate(items):
        y = GAP + index * (BAR + GAP)
        width = (WIDTH - LABEL - 50) * (value / top)
        parts.append(
            f'<text x="0" y="{y + BAR - 5}" font-size="11" fill="{INK}">{escape(label[:20])}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>'
            f'<text x="{LABEL + width + 4:.1f}" y="{y + BAR - 5}" font-size="11" '
            f'fill="{INK}">{value:g}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every label and value above is escaped)


def columns(title: str, items: Sequence[tuple[str, float]], colour: str = RED) -> Markup:
    """Draw vertical columns over time, one per (label, value)."""
    height = 160
    base = height - 24
    top = max([1.0, *(value for _, value in items)])
    step = WIDTH / max(1, len(items))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'class="chart" aria-labelledby="c-{abs(hash(title))}">',
        f'<title id="c-{abs(hash(title))}">{escape(title)}</title>',
        f'<line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="{INK}"/>',
    ]
    for index, (label, value) in enumerate(items):
        column = (base - 16) * value / top
        x = index * step + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{base - column:.1f}" width="{step * 0.7:.1f}" '
            f'height="{column:.1f}" fill="{colour}"/>'
            f'<text x="{x:.1f}" y="{base - column - 3:.1f}" font-size="10" fill="{INK}">'
            f"{value:g}</text>"
            f'<text x="{x:.1f}" y="{height - 8}" font-size="9" fill="{INK}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every label and value above is escaped)


# Lateness buckets, in seconds: within an hour, a day, three days, a week, beyond.
BUCKETS = ((3600, "<1h"), (86400, "<1d"), (3 * 86400, "<3d"), (7 * 86400, "<7d"))


def lateness_histogram(lateness: Sequence[float]) -> list[tuple[str, float]]:
    """Count lateness figures (seconds) in buckets a person reads at a glance."""
    counts = {label: 0.0 for _, label in BUCKETS} | {"≥7d": 0.0}
    for seconds in lateness:
        label = next((name for limit, name in BUCKETS if seconds < limit), "≥7d")
        counts[label] += 1
    return list(counts.items())
