"""Chart geometry and number formats for the page: plain data the templates draw as inline SVG.

Nothing here writes markup; the templates do, autoescaped. Colours: ColorBrewer "Blues" for the
sequential RFM scale, Tableau 10 for the categories of an audience chart.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date

from agents.report.history import Series
from agents.report.snapshot import OTHER, SCORES, Summary, top_and_rest

BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
EMPTY_CELL = "#eef0f3"
BAR_COLOUR = "#4f46e5"
CATEGORIES = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHER_COLOUR = "#bab0ac"
LABEL_CHARS = 22
MAX_SERIES = len(CATEGORIES)  # an audience chart's values beyond these are drawn as one "other" band
DISTRIBUTION_VALUES = 24  # a distribution's bars beyond these are one "other values" bar
MATRIX_VALUES = 14  # a migration matrix's rows and columns beyond these are one "other" row and column

# --- the RFM heat-map -------------------------------------------------------------------------

CELL_W, CELL_H, HEAT_LEFT, HEAT_TOP = 80, 62, 56, 40
HEAT_WIDTH, HEAT_HEIGHT = HEAT_LEFT + 5 * CELL_W + 8, HEAT_TOP + 5 * CELL_H + 20
LEGEND_WIDTH, LEGEND_PAD = 320, 10


@dataclass(frozen=True)
class Cell:
    r: int
    f: int
    x: int
    y: int
    customers: int
    revenue: float
    fill: str
    ink: str


def heat_cells(summary: Summary) -> list[Cell]:
    """25 cells, R5 in the top row; the fill is the cell's revenue on a square-root scale."""
    top = max(summary.cell_revenue.values(), default=0.0)
    cells = []
    for row, r in enumerate(reversed(SCORES)):
        for col, f in enumerate(SCORES):
            customers = summary.cell_customers.get((r, f), 0)
            revenue = summary.cell_revenue.get((r, f), 0.0)
            fill = blue(math.sqrt(max(revenue, 0.0) / top)) if customers and top > 0 else EMPTY_CELL
            ink = "#ffffff" if customers and is_dark(fill) else "#1f2937"
            cells.append(Cell(r, f, HEAT_LEFT + col * CELL_W, HEAT_TOP + row * CELL_H, customers, revenue, fill, ink))
    return cells


def legend_ticks(maximum: float) -> list[tuple[float, float]]:
    """(x, value) of the revenue legend's ticks, on the heat-map's square-root scale."""
    return [
        (LEGEND_PAD + LEGEND_WIDTH * math.sqrt(value / maximum) if maximum > 0 else LEGEND_PAD, value)
        for value in nice_ticks(maximum)
    ]


# --- a family's distribution ------------------------------------------------------------------

BAR_ROW, BAR_LABEL_W, BAR_W, BAR_TEXT_W = 26, 158, 270, 112


@dataclass(frozen=True)
class Bar:
    value: str
    label: str
    count: int
    y: int
    length: float


def bars(values: Counter, customers: int) -> list[Bar]:
    """Most common first; past DISTRIBUTION_VALUES (a free-text family) the rest is one bar."""
    ordered, rest = top_and_rest(sorted(values.items(), key=lambda item: (-item[1], item[0])), DISTRIBUTION_VALUES)
    if rest:
        ordered.append((OTHER, sum(count for _, count in rest)))
    return [
        Bar(value, f"({len(rest):,} other values)" if value == OTHER else shorten(value), count, i * BAR_ROW + 2,
            max(BAR_W * count / customers if customers else 0, 1.5))
        for i, (value, count) in enumerate(ordered)
    ]


# --- audience sizes over time -----------------------------------------------------------------

AREA_W, AREA_H, AREA_LEFT, AREA_TOP, AREA_BOTTOM = 520, 170, 52, 8, 24


@dataclass(frozen=True)
class Band:
    value: str
    colour: str
    last: int  # the size at the last point
    points: str  # an SVG polygon's points


@dataclass(frozen=True)
class AreaChart:
    bands: list[Band]
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_ticks: list[tuple[float, str]]
    partial: bool  # some size went below zero: the changes begin after the customers' first values
    first: date
    last: date


def area_chart(series: Series, bucket: str) -> AreaChart | None:
    """Stacked areas, largest audience (at the last point) at the bottom; None without points. A
    single point is drawn across the width, so it is a band and not a line."""
    if not series.days:
        return None
    drawn = [[max(size, 0) for size in sizes] for sizes in series.sizes]
    if len(series.days) == 1:
        drawn = [sizes * 2 for sizes in drawn]
    top = max((sum(column) for column in zip(*drawn)), default=0)
    scale = nice_ticks(top, cover=True)
    y_max = scale[-1] if scale[-1] > 0 else 1
    xs = _x_positions(max(len(series.days), 2))
    baseline = [0] * len(xs)
    bands = []
    for i, (value, counts) in enumerate(zip(series.values, drawn)):
        upper = [b + c for b, c in zip(baseline, counts)]
        outline = list(zip(xs, upper)) + list(zip(reversed(xs), reversed(baseline)))
        text = " ".join(f"{x:.1f},{_y(v, y_max):.1f}" for x, v in outline)
        colour = OTHER_COLOUR if value == OTHER else CATEGORIES[i % len(CATEGORIES)]
        bands.append(Band(value, colour, series.sizes[i][-1], text))
        baseline = upper
    y_ticks = [(_y(v, y_max), compact(v)) for v in scale]
    step = max(1, math.ceil(len(series.days) / 6))
    x_ticks = [(xs[i], date_label(series.days[i], bucket)) for i in range(0, len(series.days), step)]
    return AreaChart(bands, y_ticks, x_ticks, series.partial, series.days[0], series.days[-1])


def _x_positions(n: int) -> list[float]:
    width = AREA_W - AREA_LEFT - 8
    return [AREA_LEFT + width * i / (n - 1) for i in range(n)]


def _y(value: float, y_max: float) -> float:
    return AREA_TOP + (AREA_H - AREA_TOP - AREA_BOTTOM) * (1 - value / y_max)


def date_label(day: date, bucket: str) -> str:
    return day.strftime("%Y-%m") if bucket == "month" else day.isoformat()


# --- migration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matrix:
    rows: list[str]  # from values (NEW first)
    columns: list[str]  # to values
    counts: dict[tuple[str, str], int]
    total: int

    def shade(self, row: str, column: str) -> str:
        """The cell's background: the indigo of the bars, as strong as its share of the largest cell."""
        count, top = self.counts.get((row, column), 0), max(self.counts.values(), default=0)
        return f"rgba(79, 70, 229, {0.08 + 0.6 * count / top:.3f})" if count and top else "transparent"

    def ink(self, row: str, column: str) -> str:
        top = max(self.counts.values(), default=0)
        return "#ffffff" if top and self.counts.get((row, column), 0) / top > 0.6 else "inherit"


def matrix(moves: Counter, order: list[str], first_row: str) -> Matrix:
    """A from -> to table; values in `order` first (the audience chart's, largest first), the rest
    by name. Beyond MATRIX_VALUES values (free-text families) the least moved share one row and
    column, so the table stays readable."""
    moved: Counter = Counter()
    for (old, new), count in moves.items():
        moved[old] += count
        moved[new] += count
    ranked = sorted((item for item in moved.items() if item[0] != first_row), key=lambda item: (-item[1], item[0]))
    kept = {value for value, _ in ranked[:MATRIX_VALUES]} | {first_row}
    if len(moved) > len(kept):
        merged: Counter = Counter()
        for (old, new), count in moves.items():
            merged[(old if old in kept else OTHER, new if new in kept else OTHER)] += count
        moves = merged
    seen_from = {old for old, _ in moves}
    seen_to = {new for _, new in moves}
    rank = {value: i for i, value in enumerate(order)}

    def ordered(values: set[str]) -> list[str]:
        return sorted(values, key=lambda v: (v != first_row, v == OTHER, rank.get(v, len(rank)), v))

    return Matrix(ordered(seen_from), ordered(seen_to), dict(moves), sum(moves.values()))


# --- formats ----------------------------------------------------------------------------------


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


def signed_money(value: float) -> str:
    return "0" if value == 0 else ("+" if value > 0 else "-") + money(abs(value))


def compact(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 100 else f"{scaled:.0f}{suffix}"
    return f"{value:.0f}"


def shorten(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def nice_ticks(maximum: float, cover: bool = False) -> list[float]:
    """0, then round steps (1, 2 or 5 times a power of ten) up to `maximum`, at most ~5 of them;
    with `cover` one step more when the last falls short, so an axis reaches the data's top."""
    if not 0 < maximum < math.inf:
        return [0.0]
    step = 10 ** math.floor(math.log10(maximum))
    if step == 0:  # a subnormal maximum: its power of ten rounds to zero
        return [0.0]
    for factor in (1, 2, 5, 10):
        if maximum / (step * factor) <= 4:
            step *= factor
            break
    ticks = [0.0]
    while ticks[-1] + step <= maximum * 1.0001:
        ticks.append(ticks[-1] + step)
    if cover and ticks[-1] < maximum:
        ticks.append(ticks[-1] + step)
    return ticks


def blue(t: float) -> str:
    """A colour on the sequential scale for t in [0, 1] (linear interpolation between the stops);
    an infinite or NaN t (revenue summed past the float range) is the scale's top."""
    t = min(max(t, 0.0), 1.0) * (len(BLUES) - 1) if not math.isnan(t) else len(BLUES) - 1
    low = min(int(t), len(BLUES) - 2)
    frac = t - low
    a, b = rgb(BLUES[low]), rgb(BLUES[low + 1])
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b))


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def is_dark(colour: str) -> bool:
    r, g, b = rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 150
