"""The report's charts as inline SVG, written by hand: nothing to load, nothing to vendor, and small.

Every chart is one `<svg class="chart">` with a `<title>`; shapes of one colour are one `<path>` of many
rectangles (`M x y h w v h h -w z`), which keeps a year of daily cells to a few hundred kilobytes. Thin evidence is
hatched with the pattern `#thin`, defined once per page by `DEFS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

STATUS_COLORS = {
    "reachable": "#3a9d5d",
    "partial": "#f0a030",
    "blocked": "#c8102e",
    "inconclusive": "#a8a8a8",
}
HEALTH_COLORS = {
    "online": "#3a9d5d",
    "overloaded": "#d7c02b",
    "restricted": "#f0a030",
    "captive portal": "#8e44ad",
    "offline": "#5d5d5d",
    "unknown": "#c8c8c8",
}
# The blocking verdicts by family: DNS blues, TCP purples, TLS reds and oranges, the application layer browns.
VERDICT_COLORS = {
    "dns.injection": "#08306b",
    "dns.bogon": "#2171b5",
    "dns.nxdomain": "#4292c6",
    "dns.mismatch": "#6baed6",
    "dns.timeout": "#9ecae1",
    "dns.nodata": "#c6dbef",
    "tcp.timeout": "#54278f",
    "tcp.reset": "#9e9ac8",
    "tls.reset": "#a50f15",
    "tls.timeout": "#ef3b2c",
    "tls.closed": "#fc9272",
    "tls.mitm": "#67000d",
    "tls.stall": "#fd8d3c",
    "tls.throttled": "#fdd0a2",
    "app.timeout": "#8c510a",
    "app.reset": "#bf812d",
    "app.closed": "#dfc27d",
}
OTHER_COLOR = "#737373"
THIN = "url(#thin)"
DEFS = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<pattern id="thin" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="1.6" height="4" fill="#fff" fill-opacity="0.85"/>'
    "</pattern></defs></svg>"
)

LABEL_WIDTH = 170
ROW_HEIGHT = 14
AXIS_HEIGHT = 18
MAX_PLOT_WIDTH = 900


@dataclass(frozen=True)
class Box:
    """A filled rectangle: column and row index, colour, hatched or not."""

    column: int
    row: int
    color: str
    thin: bool = False


def _rects(boxes: Iterable[tuple[float, float, float, float]]) -> str:
    return "".join(f"M{x:g} {y:g}h{w:g}v{h:g}h{-w:g}z" for x, y, w, h in boxes)


def _paths(shapes: Iterable[tuple[str, tuple[float, float, float, float]]]) -> str:
    """One path per fill colour, in the order colours first appear."""
    by_fill: dict[str, list[tuple[float, float, float, float]]] = {}
    for fill, box in shapes:
        by_fill.setdefault(fill, []).append(box)
    return "".join(f'<path fill="{fill}" d="{_rects(boxes)}"/>' for fill, boxes in by_fill.items())


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", css: str = "") -> str:
    style = f' class="{css}"' if css else ""
    return f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}"{style}>{escape(text)}</text>'


def _step(count: int) -> int:
    return max(2, min(16, MAX_PLOT_WIDTH // max(count, 1)))


def _date_axis(days: Sequence[date], left: int, step: int, y: float) -> str:
    """Labels along a time axis: each month's first bin, or every seventh day on short periods; never crowded."""
    marks: list[str] = []
    last_x = float("-inf")
    previous: tuple[int, int] | None = None
    for n, day in enumerate(days):
        x = left + n * step
        if len(days) <= 45:
            label = day.strftime("%m-%d") if n % 7 == 0 else ""
        else:
            label = day.strftime("%Y-%m") if (day.year, day.month) != previous else ""
            previous = (day.year, day.month)
        if label and x - last_x >= 48:
            marks.append(_text(x, y, label))
            last_x = x
    return "".join(marks)


def day_grid(title: str, rows: Sequence[str], days: Sequence[date], boxes: Iterable[Box]) -> str:
    """Rows of cells over days (the service x country x day grid)."""
    step = _step(len(days))
    width = LABEL_WIDTH + step * len(days) + 4
    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 2
    parts = [_open(width, height, title), _date_axis(days, LABEL_WIDTH, step, 12)]
    parts += [_text(LABEL_WIDTH - 6, AXIS_HEIGHT + ROW_HEIGHT * n + 11, label, "end") for n, label in enumerate(rows)]
    parts.append(_boxes(boxes, LABEL_WIDTH, AXIS_HEIGHT, step, ROW_HEIGHT, gap=1 if step > 3 else 0))
    parts.append("</svg>")
    return "".join(parts)


def _boxes(boxes: Iterable[Box], left: int, top: int, width: int, height: int, gap: int) -> str:
    shapes: list[tuple[str, tuple[float, float, float, float]]] = []
    hatched: list[tuple[str, tuple[float, float, float, float]]] = []
    for box in boxes:
        rect = (left + box.column * width, top + box.row * height, width - gap, height - 1)
        shapes.append((box.color, rect))
        if box.thin:
            hatched.append((THIN, rect))
    return _paths(shapes + hatched)


def label_grid(
    title: str, rows: Sequence[str], columns: Sequence[str], boxes: Iterable[Box], texts: dict[tuple[int, int], str]
) -> str:
    """Rows of cells under named columns, each cell with a short text (the per-network breakdown)."""
    cell_width, cell_height = 84, 18
    width = LABEL_WIDTH + cell_width * len(columns) + 4
    height = AXIS_HEIGHT + cell_height * len(rows) + 2
    parts = [_open(width, height, title)]
    parts += [_text(LABEL_WIDTH + cell_width * (n + 0.5), 12, c, "middle") for n, c in enumerate(columns)]
    parts += [_text(LABEL_WIDTH - 6, AXIS_HEIGHT + cell_height * n + 13, r, "end") for n, r in enumerate(rows)]
    parts.append(_boxes(boxes, LABEL_WIDTH, AXIS_HEIGHT, cell_width, cell_height, gap=2))
    for (column, row), text in sorted(texts.items()):
        x = LABEL_WIDTH + cell_width * (column + 0.5) - 1
        parts.append(_text(x, AXIS_HEIGHT + cell_height * row + 13, text, "middle", "on-fill"))
    parts.append("</svg>")
    return "".join(parts)


def stacked(title: str, bins: Sequence[date], layers: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Stacked shares (0..1) per time bin; `layers` are (colour, one share per bin), drawn bottom up."""
    step = _step(len(bins))
    plot_height = 90
    left = 40
    width = left + step * len(bins) + 4
    height = plot_height + AXIS_HEIGHT + 8
    base = [0.0] * len(bins)
    shapes: list[tuple[str, tuple[float, float, float, float]]] = []
    for color, shares in layers:
        for n, share in enumerate(shares):
            if share <= 0:
                continue
            tall = round(share * plot_height, 1)
            shapes.append(
                (color, (left + n * step, round(plot_height + 4 - base[n] - tall, 1), max(step - 1, 1), tall))
            )
            base[n] += tall
    axis = (
        f'<path class="axis" d="M{left - 3} 4H{width}M{left - 3} {plot_height / 2 + 4:g}H{width}'
        f'M{left - 3} {plot_height + 4}H{width}"/>'
    )
    ticks = _text(left - 5, 8, "100%", "end") + _text(left - 5, plot_height + 8, "0", "end")
    parts = [_open(width, height, title), axis, ticks, _paths(shapes)]
    parts.append(_date_axis(bins, left, step, plot_height + AXIS_HEIGHT))
    parts.append("</svg>")
    return "".join(parts)


def timeline(title: str, rows: Sequence[str], days: Sequence[date], spans: Iterable[tuple[int, int, int, str]]) -> str:
    """Bars over days: (row, first day index, last day index, colour) (the block episodes)."""
    step = _step(len(days))
    width = LABEL_WIDTH + step * len(days) + 4
    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 2
    parts = [_open(width, height, title), _date_axis(days, LABEL_WIDTH, step, 12)]
    parts += [_text(LABEL_WIDTH - 6, AXIS_HEIGHT + ROW_HEIGHT * n + 11, label, "end") for n, label in enumerate(rows)]
    shapes = [
        (color, (LABEL_WIDTH + first * step, AXIS_HEIGHT + row * ROW_HEIGHT + 2, (last - first + 1) * step, 9))
        for row, first, last, color in spans
    ]
    parts.append(_paths(shapes))
    parts.append("</svg>")
    return "".join(parts)


def swatch(color: str, thin: bool = False) -> str:
    """A legend's colour square (inline SVG, so the hatching matches the charts')."""
    hatch = f'<rect width="12" height="12" fill="{THIN}"/>' if thin else ""
    return (
        f'<svg class="swatch" width="12" height="12" aria-hidden="true">'
        f'<rect width="12" height="12" fill="{color}"/>{hatch}</svg>'
    )
