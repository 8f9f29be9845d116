"""The report page: gathers what the templates show and renders them with Jinja2 (autoescaped, so
no customer id, tag value or file name can become markup)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.report import charts
from agents.report.history import NEW, History, auto_bucket
from agents.report.snapshot import Summary, compare, summarise

TITLE = "tagstream — customer tags"
TOP_SEGMENTS = 10
MIGRATION_DAYS = 30  # the default period of the migration matrices: the last 30 days of changes


@dataclass(frozen=True)
class Pack:
    """The rule pack the customers were tagged with, as the page names it."""

    name: str
    digest: str
    currency: str | None
    families: tuple[str, ...]  # the families it declares (enabled)


@dataclass
class ReportInputs:
    records: Iterable[Mapping]  # snapshot records, consumed once
    source: str
    generated_at: str
    pack: Pack | None = None
    history: History | None = None  # from --changes
    history_source: str = ""
    earlier: Iterable[Mapping] | None = None  # from --compare
    earlier_source: str = ""
    show_ids: bool = True
    bucket: str | None = None  # day, week or month; None: chosen by the span of the changes
    since: date | None = None  # the migration period [since, until); None: the last 30 days
    until: date | None = None


@dataclass(frozen=True)
class Report:
    html: str
    customers: int
    notes: list[str]  # inputs that do not fit together, also said at the top of the page


def render_report(inputs: ReportInputs) -> Report:
    summary = summarise(inputs.records)
    earlier = summarise(inputs.earlier) if inputs.earlier is not None else None
    families = summary.family_order()
    notes = _mismatches(inputs, summary)
    context = {
        "notes": notes,
        "title": TITLE,
        "inputs": inputs,
        "summary": summary,
        "families": families,
        "currency": inputs.pack.currency if inputs.pack and inputs.pack.currency else "",
        "cells": charts.heat_cells(summary),
        "max_cell_revenue": max(summary.cell_revenue.values(), default=0.0),
        "segments": _segments(summary),
        "bars": {name: charts.bars(summary.families[name], summary.customers) for name in families},
        "timeline": _timeline(inputs.history, inputs, families) if inputs.history is not None else None,
        "comparison": compare(earlier, summary) if earlier is not None else None,
        "earlier": earlier,
    }
    html = _environment().get_template("report.html.j2").render(context)
    return Report(html, summary.customers, notes)


def _mismatches(inputs: ReportInputs, summary: Summary) -> list[str]:
    """What a reader must know before trusting the page: a snapshot with families the named pack
    does not declare, change files whose final sizes are not the snapshot's counts."""
    notes = []
    if inputs.pack is not None:
        foreign = sorted(set(summary.families) - set(inputs.pack.families))
        if foreign:
            notes.append(f"the snapshot has families the rule pack {inputs.pack.name} does not declare "
                         f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}): was it made with another pack (--rules)?")
    if inputs.history is not None and inputs.history.changes:
        differing = [family for family in summary.family_order()
                     if family in inputs.history.deltas and +inputs.history.final(family) != summary.families[family]]
        if differing:
            notes.append(f"the change files end with other audience sizes than the snapshot's for {len(differing)} "
                         f"families (first: {differing[0]}): they are not this snapshot's complete history "
                         "(another run, a later as-of, or a file that starts after the customers' first values)")
    return notes


def _segments(summary: Summary) -> list[tuple[str, int, float]]:
    """(segment, customers, revenue), the largest revenue first."""
    ranked = sorted(summary.segment_customers, key=lambda s: (-summary.segment_revenue[s], s))
    return [(s, summary.segment_customers[s], summary.segment_revenue[s]) for s in ranked]


@dataclass(frozen=True)
class Timeline:
    bucket: str
    areas: dict[str, charts.AreaChart]  # family -> its audience chart
    since: date
    until: date  # exclusive
    matrices: dict[str, charts.Matrix]
    top_moves: list[tuple[str, str, str, int]]  # (family, from, to, changes), the largest first
    changes: int


def _timeline(history: History, inputs: ReportInputs, snapshot_families: list[str]) -> Timeline | None:
    """Audience charts and migration matrices of every family with changes, the snapshot's first."""
    period = history.period()
    if period is None:
        return None
    bucket = inputs.bucket or auto_bucket(period)
    until = inputs.until or period[1]
    since = inputs.since or max(period[0], until - timedelta(days=MIGRATION_DAYS))
    families = [f for f in snapshot_families if f in history.deltas] + sorted(set(history.deltas) - set(snapshot_families))
    areas = {}
    matrices = {}
    moves = []
    for family in families:
        chart = charts.area_chart(history.sizes(family, bucket), bucket)
        if chart is not None:
            areas[family] = chart
            order = [band.value for band in chart.bands]
            migration = history.migration(family, since, until)
            matrices[family] = charts.matrix(migration, order, NEW)
            moves += [(family, old, new, n) for (old, new), n in migration.items() if old != NEW]
    moves.sort(key=lambda move: (-move[3], move[0], move[1], move[2]))
    return Timeline(bucket, areas, since, until, matrices, moves[:12], history.changes)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("agents.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(money=charts.money, pct=charts.pct, compact=charts.compact, signed=charts.signed, signed_money=charts.signed_money,
                       shorten=charts.shorten, num=lambda n: f"{n:,}", f1=lambda x: f"{x:.1f}")
    env.globals.update(c=charts, NEW=NEW, TOP_SEGMENTS=TOP_SEGMENTS, dates=lambda d: d.isoformat(),
                       day_before=lambda d: (d - timedelta(days=1)).isoformat())
    return env
