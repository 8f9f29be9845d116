"""The report page: gathers what the templates show and renders them with Jinja2 (autoescaped, so
no customer id, tag value or file name can become markup)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.report import charts
from agents.report.history import NEW, History, auto_bucket, buckets_back
from agents.report.snapshot import Summary, compare, summarise

TITLE = "tagstream — customer tags"
TOP_SEGMENTS = 10
MIGRATION_DAYS = 30  # the default period of the migration matrices: the last 30 days of changes
MAX_POINTS = 400  # an audience chart's buckets at most: 13 months of days, 7 years of weeks, 33 of months
TOP_MOVES = 12
STRAY_SHARE = 0.005  # a chosen span leaves out the earliest changes up to this share (stray dates)


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
    earlier = summarise(inputs.earlier) if inputs.earlier is not None else None  # first: records may be saved over it
    summary = summarise(inputs.records)
    families = summary.family_order()
    notes = _mismatches(inputs, summary, earlier)
    timeline = _timeline(inputs.history, inputs, summary, notes) if inputs.history is not None else None
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
        "timeline": timeline,
        "comparison": compare(earlier, summary) if earlier is not None else None,
        "earlier": earlier,
    }
    html = _environment().get_template("report.html.j2").render(context)
    return Report(html, summary.customers, notes)


def _mismatches(inputs: ReportInputs, summary: Summary, earlier: Summary | None) -> list[str]:
    """What a reader must know before trusting the page: a snapshot with families the named pack
    does not declare, change files whose final sizes are not the snapshot's counts or that erase
    customers, an "earlier" snapshot that is not."""
    notes = []
    if earlier is not None and earlier.as_of_ms is not None and summary.as_of_ms is not None and earlier.as_of_ms > summary.as_of_ms:
        notes.append(f"the snapshot compared with ({earlier.as_of}) is later than this one ({summary.as_of}): "
                     "the changes shown run backwards (swap --snapshot and --compare?)")
    if inputs.pack is not None:
        foreign = sorted(set(summary.families) - set(inputs.pack.families))
        if foreign:
            notes.append(f"the snapshot has families the rule pack {inputs.pack.name} does not declare "
                         f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}): was it made with another pack (--rules)?")
    if inputs.history is not None and inputs.history.changes:
        differing = [family for family in summary.family_order()
                     if family in inputs.history.deltas and +inputs.history.final(family) != summary.families[family]]
        if differing:
            notes.append(f"the change files end with other audience sizes than the snapshot's for "
                         f"{_counted(len(differing), 'family', 'families')} (first: {differing[0]}): they are not this snapshot's complete history "
                         "(another run, a later as-of, or a file that starts after the customers' first values)")
    if inputs.history is not None and inputs.history.erasures:
        notes.append(f"the change files erase {_counted(inputs.history.erasures, 'customer')}: an erasure notice carries no tags, "
                     "so those customers still count in the audience sizes drawn")
    return notes


def _counted(count: int, noun: str, plural: str = "") -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


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


class PeriodError(ValueError):
    """--since/--until leave no day of migration (one line, a usage error)."""


def _timeline(history: History, inputs: ReportInputs, summary: Summary, notes: list[str]) -> Timeline | None:
    """Audience charts and migration matrices of every family with changes, the snapshot's first."""
    period = history.period()
    if period is None:
        return None
    first, last, bucket = _chart_span(history, period, inputs, summary, notes)
    until = inputs.until or last + timedelta(days=1)
    since = inputs.since or max(period[0], until - timedelta(days=MIGRATION_DAYS))
    if since >= until:
        default = "" if inputs.until else " (the day after the last change drawn; give --until)"
        raise PeriodError(f"the migration period is empty: it starts {since} and ends before {until}{default}")
    families = [f for f in summary.family_order() if f in history.deltas] + sorted(set(history.deltas) - set(summary.families))
    areas = {}
    matrices = {}
    moves = []
    for family in families:
        chart = charts.area_chart(history.series(family, bucket, first, last, charts.MAX_SERIES), bucket)
        if chart is not None:
            areas[family] = chart
            order = [band.value for band in chart.bands]
            migration = history.migration(family, since, until)
            matrices[family] = charts.matrix(migration, order, NEW)
            moves += [(family, old, new, n) for (old, new), n in migration.items() if old != NEW]
    moves.sort(key=lambda move: (-move[3], move[0], move[1], move[2]))
    return Timeline(bucket, areas, since, until, matrices, moves[:TOP_MOVES], history.changes)


def _chart_span(history: History, period: tuple[date, date], inputs: ReportInputs, summary: Summary,
                notes: list[str]) -> tuple[date, date, str]:
    """(first day, last day, bucket) the audience charts draw. They end at the snapshot's as-of
    when the changes run past it and draw at most MAX_POINTS buckets. A span chosen by the report
    starts where all but STRAY_SHARE of the changes happen when the earlier ones would change its
    granularity or push it past MAX_POINTS. So a stray year in a change file costs a note, not a
    page of gigabytes or a chart of empty decades."""
    first, last = period
    as_of = _day_of(summary.as_of)
    if as_of is not None and first <= as_of < last:
        last = as_of
    bucket, hint = inputs.bucket, ""
    if bucket is None:
        bucket = auto_bucket(first, last)
        bulk = min(history.bulk_start(STRAY_SHARE) or first, last)
        if bulk > first and (auto_bucket(bulk, last) != bucket or buckets_back(last, bucket, MAX_POINTS) > first):
            bucket = auto_bucket(bulk, last)  # the earliest changes stretch the span: they are strays
            first, hint = bulk, f"--by {bucket} draws up to {MAX_POINTS} {bucket}s back"
    elif bucket != "month":
        hint = "--by month draws a longer span"
    first = max(first, buckets_back(last, bucket, MAX_POINTS))
    before, after = history.changes_outside(first, last)
    if before:
        notes.append(f"the audience charts start at {first}: {_counted(before, 'earlier change')} "
                     f"(from {period[0]}) count in their sizes but are not drawn{'; ' + hint if hint else ''}")
    if after:
        notes.append(f"{_counted(after, 'change')} after the snapshot's as-of ({last}) not drawn")
    return first, last, bucket


def _day_of(instant: str | None) -> date | None:
    """The UTC day of an RFC 3339 as-of; None when absent or not one."""
    try:
        return datetime.fromisoformat(instant).astimezone(timezone.utc).date() if instant else None
    except (ValueError, OverflowError):
        return None


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("agents.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(money=charts.money, pct=charts.pct, compact=charts.compact, signed=charts.signed, signed_money=charts.signed_money,
                       shorten=charts.shorten, num=lambda n: f"{n:,}", f1=lambda x: f"{x:.1f}")
    env.globals.update(c=charts, NEW=NEW, TOP_SEGMENTS=TOP_SEGMENTS, dates=lambda d: d.isoformat(),
                       day_before=lambda d: (d - timedelta(days=1)).isoformat())
    return env
