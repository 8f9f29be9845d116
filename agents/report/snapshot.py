"""A self-contained HTML report of customer tags: one page, inline CSS and SVG, no scripts, no URLs.

`render_report` takes snapshot records (the JSONL `tagstream backtest --snapshot-out` writes, shaped
by `native/src/engine/snapshot.rs`). Every record goes through `_normalise` first, the one place
that knows that shape, so another source (for example Redis profile hashes) only needs its own
`_normalise`-like adapter. The output depends only on the arguments: same input, same bytes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape

TITLE = "tagstream — customer tags"
# Families shown first, in this order; any other family follows alphabetically.
PREFERRED_FAMILIES = ("lifecycle", "value_tier", "rfm_segment", "engagement", "churn_risk")
SCORES = range(1, 6)
TOP_SEGMENTS = 10
TOP_CUSTOMERS = 10
# ColorBrewer "Blues" (9 classes), light to dark: the sequential scale of the RFM heat-map.
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
EMPTY_CELL = "#eef0f3"
BAR_COLOUR = "#4f46e5"
LABEL_CHARS = 22


@dataclass(frozen=True)
class Customer:
    """What the renderer needs from one customer, whatever the source."""

    customer_id: str
    revenue: float
    orders: int
    rfm: tuple[int, int, int] | None  # (r, f, m), or None when never ordered / unscored
    tags: dict[str, str]  # family -> display value


def _normalise(record: Mapping) -> Customer:
    """One snapshot record (see `native/src/engine/snapshot.rs`) -> `Customer`.

    Tolerates string-typed numbers, so a flat store such as a Redis hash can feed the same code."""
    rfm = record.get("rfm") or {}
    r, f, m = (_score(rfm.get(key)) for key in ("r", "f", "m"))
    tags = record.get("tags") or {}
    return Customer(
        customer_id=str(record.get("customer_id", "")),
        revenue=_number(record.get("revenue_total")),
        orders=int(_number(record.get("orders_total"))),
        rfm=(r, f, m) if r is not None and f is not None and m is not None else None,
        tags={str(family): _tag_text(value) for family, value in tags.items()},
    )


def _score(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        score = int(value)  # type: ignore[call-overload]  # any object: what int() refuses is caught below
    except (TypeError, ValueError):
        return None
    return score if score in SCORES else None


def _number(value: object) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)  # type: ignore[arg-type]  # any object: what float() refuses is caught below
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _tag_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)


@dataclass
class Summary:
    customers: int = 0
    revenue: float = 0.0
    buyers: int = 0
    families: dict[str, Counter] = field(default_factory=dict)
    cell_customers: Counter = field(default_factory=Counter)  # (r, f) -> customers
    cell_revenue: dict[tuple[int, int], float] = field(default_factory=dict)
    unscored: int = 0
    segment_customers: Counter = field(default_factory=Counter)
    segment_revenue: dict[str, float] = field(default_factory=dict)
    top_customers: list[Customer] = field(default_factory=list)

    def add(self, customer: Customer) -> None:
        self.customers += 1
        self.revenue += customer.revenue
        self.buyers += customer.orders > 0
        for family, value in customer.tags.items():
            self.families.setdefault(family, Counter())[value] += 1
        if customer.rfm is None:
            self.unscored += 1
        else:
            cell = customer.rfm[:2]
            self.cell_customers[cell] += 1
            self.cell_revenue[cell] = self.cell_revenue.get(cell, 0.0) + customer.revenue
        segment = customer.tags.get("rfm_segment")
        if segment is not None:
            self.segment_customers[segment] += 1
            self.segment_revenue[segment] = self.segment_revenue.get(segment, 0.0) + customer.revenue
        self.top_customers.append(customer)
        if len(self.top_customers) > 4 * TOP_CUSTOMERS:
            self._trim()

    def _trim(self) -> None:
        self.top_customers.sort(key=lambda c: (-c.revenue, c.customer_id))
        del self.top_customers[TOP_CUSTOMERS:]

    def family_order(self) -> list[str]:
        preferred = [name for name in PREFERRED_FAMILIES if name in self.families]
        return preferred + sorted(name for name in self.families if name not in PREFERRED_FAMILIES)


def summarise(records: Iterable[Mapping]) -> Summary:
    summary = Summary()
    for record in records:
        summary.add(_normalise(record))
    summary._trim()
    return summary


def render_report(records: Iterable[Mapping], generated_at: str, source: str) -> str:
    """The whole HTML page for `records` (snapshot records, consumed once)."""
    summary = summarise(records)
    families = summary.family_order()
    parts = [
        _HEAD,
        '<main class="page">',
        "<header>",
        f"<h1>{escape(TITLE)}</h1>",
        f'<p class="meta">Generated {escape(generated_at)} · source <code>{escape(source)}</code></p>',
        "</header>",
        _kpis(summary, len(families)),
        '<section class="row">',
        _heatmap(summary),
        _segments_table(summary),
        "</section>",
        '<section><h2>Tag distributions</h2>',
        '<p class="note">Share of all customers per tag value, most common first.</p>',
        '<div class="families">',
        *(_family_card(name, summary.families[name], summary.customers) for name in families),
        "</div>",
        "</section>" if families else '<p class="note">No tags in the snapshot.</p></section>',
        _customers_table(summary),
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


# --- sections ---------------------------------------------------------------------------------


def _kpis(summary: Summary, families: int) -> str:
    cards = [
        ("Customers", f"{summary.customers:,}"),
        ("With orders", f"{summary.buyers:,}"),
        ("Total revenue", _money(summary.revenue)),
        ("Tag families", f"{families:,}"),
    ]
    items = "".join(
        f'<div class="kpi"><div class="kpi-label">{escape(label)}</div>'
        f'<div class="kpi-value">{escape(value)}</div></div>'
        for label, value in cards
    )
    return f'<section class="kpis" id="customers" data-customers="{summary.customers}">{items}</section>'


def _heatmap(summary: Summary) -> str:
    cell_w, cell_h, left, top = 80, 62, 56, 40
    width, height = left + 5 * cell_w + 8, top + 5 * cell_h + 20
    max_revenue = max(summary.cell_revenue.values(), default=0.0)
    svg = [
        f'<svg class="heatmap" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="RFM heat-map: customers by recency and frequency score">',
        f'<text class="axis-title" x="{left + 5 * cell_w / 2}" y="12" text-anchor="middle">'
        "Frequency score (F) →</text>",
        f'<text class="axis-title" transform="translate(14 {top + 5 * cell_h / 2}) rotate(-90)" '
        'text-anchor="middle">Recency score (R) →</text>',
    ]
    for col, f in enumerate(SCORES):
        svg.append(f'<text class="axis" x="{left + col * cell_w + cell_w / 2}" y="{top - 9}" '
                   f'text-anchor="middle">F{f}</text>')
    for row, r in enumerate(reversed(SCORES)):
        y = top + row * cell_h
        svg.append(f'<text class="axis" x="{left - 10}" y="{y + cell_h / 2 + 4}" text-anchor="end">R{r}</text>')
        for col, f in enumerate(SCORES):
            x = left + col * cell_w
            customers = summary.cell_customers.get((r, f), 0)
            revenue = summary.cell_revenue.get((r, f), 0.0)
            fill = _blue(math.sqrt(revenue / max_revenue)) if customers and max_revenue > 0 else EMPTY_CELL
            ink = "#ffffff" if customers and _is_dark(fill) else "#1f2937"
            share = _pct(customers, summary.customers)
            svg.append(
                f'<g class="rfm-cell" data-r="{r}" data-f="{f}" data-customers="{customers}">'
                f"<title>R{r} F{f}: {customers:,} customers ({share}), revenue {_money(revenue)}</title>"
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" rx="4" fill="{fill}"/>'
                f'<text class="cell-count" x="{x + cell_w / 2}" y="{y + 28}" text-anchor="middle" '
                f'fill="{ink}">{customers:,}</text>'
                f'<text class="cell-revenue" x="{x + cell_w / 2}" y="{y + 45}" text-anchor="middle" '
                f'fill="{ink}">{escape(_compact(revenue)) if customers else "—"}</text>'
                "</g>"
            )
    svg.append("</svg>")
    note = (
        f"{summary.unscored:,} customers without RFM scores (never ordered) are not in the grid."
        if summary.unscored else "Every customer has RFM scores."
    )
    return (
        '<div class="card heat">'
        "<h2>RFM heat-map</h2>"
        '<p class="note">Customers per recency × frequency cell; colour is the cell\'s total revenue.</p>'
        + "".join(svg)
        + _legend(max_revenue)
        + f'<p class="note" id="unscored" data-unscored="{summary.unscored}">{escape(note)}</p>'
        "</div>"
    )


def _legend(max_revenue: float) -> str:
    width, bar_h, pad = 320, 12, 10
    stops = "".join(
        f'<stop offset="{i / (len(BLUES) - 1):.3f}" stop-color="{colour}"/>' for i, colour in enumerate(BLUES)
    )
    ticks = []
    for value in _nice_ticks(max_revenue):
        x = pad + width * math.sqrt(value / max_revenue) if max_revenue > 0 else pad
        ticks.append(
            f'<line x1="{x:.1f}" y1="{bar_h + 16}" x2="{x:.1f}" y2="{bar_h + 21}" stroke="#6b7280"/>'
            f'<text class="axis" x="{x:.1f}" y="{bar_h + 34}" text-anchor="middle">{escape(_compact(value))}</text>'
        )
    return (
        '<div class="legend">'
        '<span class="legend-title">Revenue per cell (square-root scale)</span>'
        f'<svg width="{width + 2 * pad}" height="{bar_h + 40}" viewBox="0 0 {width + 2 * pad} {bar_h + 40}">'
        f'<defs><linearGradient id="revenue-scale" x1="0" x2="1" y1="0" y2="0">{stops}</linearGradient></defs>'
        f'<rect x="{pad}" y="14" width="{width}" height="{bar_h}" rx="2" fill="url(#revenue-scale)" '
        'stroke="#d1d5db"/>'
        + "".join(ticks)
        + "</svg>"
        f'<span class="legend-note"><span class="swatch" style="background:{EMPTY_CELL}"></span>no customers</span>'
        "</div>"
    )


def _segments_table(summary: Summary) -> str:
    segments = sorted(summary.segment_customers, key=lambda s: (-summary.segment_revenue[s], s))
    rows = []
    for segment in segments[:TOP_SEGMENTS]:
        customers, revenue = summary.segment_customers[segment], summary.segment_revenue[segment]
        average = revenue / customers if customers else 0.0
        rows.append(
            f"<tr><td>{escape(segment)}</td><td class=num>{customers:,}</td>"
            f"<td class=num>{_pct(customers, summary.customers)}</td><td class=num>{_money(revenue)}</td>"
            f"<td class=num>{_pct(revenue, summary.revenue)}</td><td class=num>{_money(average)}</td></tr>"
        )
    if not rows:
        body = '<p class="note">No <code>rfm_segment</code> tags in the snapshot.</p>'
    else:
        body = (
            '<table class="segments"><thead><tr><th>Segment</th><th class=num>Customers</th>'
            "<th class=num>Share</th><th class=num>Revenue</th><th class=num>Rev. share</th>"
            "<th class=num>Avg / cust.</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
        if len(segments) > TOP_SEGMENTS:
            body += f'<p class="note">{len(segments) - TOP_SEGMENTS:,} smaller segments not shown.</p>'
    return f'<div class="card seg"><h2>Top RFM segments by revenue</h2>{body}</div>'


def _family_card(name: str, values: Counter, customers: int) -> str:
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    row_h, label_w, bar_w, text_w = 26, 158, 270, 112
    width, height = label_w + bar_w + text_w, row_h * len(ordered) + 4
    svg = [f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(name)} distribution">']
    for i, (value, count) in enumerate(ordered):
        y = i * row_h + 2
        length = bar_w * count / customers if customers else 0
        label = value if len(value) <= LABEL_CHARS else value[: LABEL_CHARS - 1] + "…"
        share = _pct(count, customers)
        svg.append(
            f'<g class="bar" data-value="{escape(value)}" data-count="{count}">'
            f"<title>{escape(name)} = {escape(value)}: {count:,} customers ({share})</title>"
            f'<text class="bar-label" x="{label_w - 10}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="{row_h - 8}" rx="3" fill="#eef0f6"/>'
            f'<rect x="{label_w}" y="{y + 4}" width="{max(length, 1.5):.1f}" height="{row_h - 8}" rx="3" '
            f'fill="{BAR_COLOUR}"/>'
            f'<text class="bar-value" x="{label_w + bar_w + 8}" y="{y + 17}">'
            f'<tspan class="count">{count:,}</tspan><tspan class="pct" dx="6">{share}</tspan></text>'
            "</g>"
        )
    svg.append("</svg>")
    return (
        f'<div class="card family" data-family="{escape(name)}"><h3>{escape(name)}'
        f'<span class="badge">{len(ordered)} value{"s" if len(ordered) != 1 else ""}</span></h3>'
        + "".join(svg)
        + "</div>"
    )


def _customers_table(summary: Summary) -> str:
    if not summary.top_customers:
        return ""
    rows = []
    for customer in summary.top_customers:
        scores = "R{} F{} M{}".format(*customer.rfm) if customer.rfm else "—"
        rows.append(
            f"<tr><td><code>{escape(customer.customer_id)}</code></td><td class=num>{_money(customer.revenue)}</td>"
            f"<td class=num>{customer.orders:,}</td><td>{escape(scores)}</td>"
            f"<td>{escape(customer.tags.get('rfm_segment', '—'))}</td>"
            f"<td>{escape(customer.tags.get('lifecycle', '—'))}</td></tr>"
        )
    return (
        '<section class="card"><h2>Top customers by revenue</h2>'
        '<table class="customers"><thead><tr><th>Customer</th><th class=num>Revenue</th>'
        "<th class=num>Orders</th><th>RFM</th><th>Segment</th><th>Lifecycle</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


# --- formatting -------------------------------------------------------------------------------


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _compact(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 100 else f"{scaled:.0f}{suffix}"
    return f"{value:.0f}"


def _nice_ticks(maximum: float) -> list[float]:
    if maximum <= 0:
        return [0.0]
    step = 10 ** math.floor(math.log10(maximum))
    for factor in (1, 2, 5, 10):
        if maximum / (step * factor) <= 4:
            step *= factor
            break
    ticks = [0.0]
    while ticks[-1] + step <= maximum * 1.0001:
        ticks.append(ticks[-1] + step)
    return ticks


def _blue(t: float) -> str:
    """A colour on the sequential scale for t in [0, 1] (linear interpolation between the stops)."""
    t = min(max(t, 0.0), 1.0) * (len(BLUES) - 1)
    low = min(int(t), len(BLUES) - 2)
    frac = t - low
    a, b = _rgb(BLUES[low]), _rgb(BLUES[low + 1])
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _is_dark(colour: str) -> bool:
    r, g, b = _rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 150


_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>""" + escape(TITLE) + """</title>
<style>
:root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f6f7f9; --card: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif; }
.page { max-width: 1200px; margin: 0 auto; padding: 28px 32px 48px; }
header { margin-bottom: 20px; }
h1 { font-size: 26px; font-weight: 650; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 17px; font-weight: 600; margin: 0 0 4px; }
h3 { font-size: 14px; font-weight: 600; margin: 0 0 10px; display: flex; align-items: center; gap: 8px; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.meta, .note { color: var(--muted); margin: 0 0 10px; }
.meta code { background: #eceef2; padding: 1px 5px; border-radius: 4px; }
section { margin: 0 0 24px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 16px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; }
.kpi-label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; }
.kpi-value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.row { display: grid; grid-template-columns: 508px minmax(0, 1fr); gap: 16px; align-items: start; }
.families { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; align-items: start; }
svg { display: block; max-width: 100%; height: auto; font-family: inherit; }
.bar-label, .bar-value .count { fill: var(--ink); }
.axis { font-size: 12px; fill: var(--muted); }
.axis-title { font-size: 12px; font-weight: 600; fill: var(--muted); }
.cell-count { font-size: 17px; font-weight: 650; }
.cell-revenue { font-size: 11.5px; opacity: 0.85; }
.bar-label { font-size: 13px; }
.bar-value { font-size: 12.5px; font-variant-numeric: tabular-nums; }
.bar-value .pct { fill: var(--muted); }
.badge { font-size: 11.5px; font-weight: 500; color: var(--muted); background: #f1f2f5; border-radius: 999px;
  padding: 1px 8px; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; margin: 8px 0 6px; }
.legend-title { width: 100%; font-size: 12px; color: var(--muted); font-weight: 600; }
.legend-note { font-size: 12px; color: var(--muted); white-space: nowrap; display: inline-flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; border: 1px solid #d1d5db; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; margin-top: 8px; }
th, td { text-align: left; padding: 7px 8px; border-bottom: 1px solid var(--line); }
td { font-size: 13.5px; }
th { font-size: 11.5px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em;
  white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; }
</style>
</head>
<body>"""
