"""Tag-change files (`backtest --changes-out`, or the tag-change topic saved as JSONL) read into
what a marketer asks of them: how big each audience was over time, and who moved where.

The files are read once, streaming: per family and UTC day only the net change of each value's
size and the count of each `from -> to` move are kept, so gigabytes of changes fit in memory and the
period and granularity are chosen after reading. Sizes start from zero, so they are exact when the
files begin with the customers' first values (`from: null`), as a backtest's do; a file that
begins later (a topic past its retention) gives sizes relative to its start, and the page says so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from agents.progress import Progress
from agents.report.snapshot import OTHER, tag_text
from stream.changes import CHANGE_TYPE
from stream.timeutil import DAY_MS, parse_instant

NEW = "∅ new"  # the row of a migration matrix for customers given their first value
EPOCH = date(1970, 1, 1)
# Changes outside these years are refused: a chart's buckets and periods are dates, and a date
# a bucket or a month away from date.min or date.max does not exist.
FIRST_YEAR, LAST_YEAR = 100, 9899
PROGRESS_EVERY = 65536


@dataclass(frozen=True)
class Change:
    family: str
    old: str | None  # None: the customer's first value
    new: str
    at: int  # event time, epoch ms


@dataclass(frozen=True)
class Series:
    """A family's audience sizes at the end of every bucket of a period, for a chart."""

    days: list[date]  # the last day of each bucket: the day its sizes hold for
    values: list[str]  # the largest audiences at the period's end first; OTHER last when more
    sizes: list[list[int]]  # per value, its customers at each day (below zero when `partial`)
    partial: bool  # some size went below zero: the changes begin after the customers' first values


@dataclass
class History:
    """Net size changes and moves per family and day, over every change added."""

    changes: int = 0
    erasures: int = 0  # customer.erased notices read: those customers still count in the sizes
    first_day: int | None = None
    last_day: int | None = None
    deltas: dict[str, dict[int, Counter]] = field(default_factory=dict)  # family -> day -> value -> net
    moves: dict[str, Counter] = field(default_factory=dict)  # family -> (day, from, to) -> changes

    @classmethod
    def of(cls, changes: Iterable[Change]) -> History:
        history = cls()
        for change in changes:
            history.add(change)
        return history

    def add(self, change: Change) -> None:
        day = change.at // DAY_MS
        self.changes += 1
        self.first_day = day if self.first_day is None else min(self.first_day, day)
        self.last_day = day if self.last_day is None else max(self.last_day, day)
        days = self.deltas.setdefault(change.family, {})
        sizes = days.setdefault(day, Counter())
        sizes[change.new] += 1
        if change.old is not None:
            sizes[change.old] -= 1
        self.moves.setdefault(change.family, Counter())[(day, change.old, change.new)] += 1

    def series(self, family: str, bucket: str, first: date, last: date, values: int) -> Series:
        """Sizes at the end of every bucket (`day`, `week` from Monday, `month`) from the one
        holding `first` to `last`, a point per bucket even when nothing moved; changes before
        `first` count in the sizes. The `values` largest audiences at `last` are their own series,
        the rest one OTHER, so a free-text family costs a chart no more than a few."""
        days = self.deltas.get(family, {})
        ordered = sorted(days)
        end = day_number(last)
        at_end: Counter = Counter()
        for day in ordered:
            if day <= end:
                at_end.update(days[day])
        ranked = sorted(at_end, key=lambda value: (-at_end[value], value))
        shown = ranked[:values] + ([OTHER] if len(ranked) > values else [])
        slot = {value: i for i, value in enumerate(shown[:values])}
        current = [0] * len(shown)
        running: Counter = Counter()
        partial = False
        labels: list[date] = []
        columns: list[list[int]] = []
        i = 0
        start = bucket_start(first, bucket)
        while start <= last:
            stop = min(next_bucket(start, bucket), last + timedelta(days=1))
            while i < len(ordered) and ordered[i] < day_number(stop):
                for value, net in days[ordered[i]].items():
                    running[value] += net
                    partial = partial or running[value] < 0
                    current[slot.get(value, len(shown) - 1)] += net
                i += 1
            labels.append(stop - timedelta(days=1))
            columns.append(list(current))
            start = next_bucket(start, bucket)
        return Series(labels, shown, [list(row) for row in zip(*columns)] if columns else [], partial)

    def final(self, family: str) -> Counter:
        """Each value's size after every change read."""
        total: Counter = Counter()
        for sizes in self.deltas.get(family, {}).values():
            total.update(sizes)
        return total

    def migration(self, family: str, since: date, until: date) -> Counter:
        """`(from, to) -> changes` with an event time in [since, until); `from` is NEW for a first value."""
        first, last = day_number(since), day_number(until)
        matrix: Counter = Counter()
        for (day, old, new), count in self.moves.get(family, Counter()).items():
            if first <= day < last:
                matrix[(NEW if old is None else old, new)] += count
        return matrix

    def changes_outside(self, first: date, last: date) -> tuple[int, int]:
        """(changes before `first`, changes after `last`), over all families."""
        low, high = day_number(first), day_number(last)
        before = after = 0
        for moves in self.moves.values():
            for (day, _, _), count in moves.items():
                before += count if day < low else 0
                after += count if day > high else 0
        return before, after

    def bulk_start(self, share: float) -> date | None:
        """The first day from which all but `share` of the changes happen: where a chart of the
        chosen span starts, so a stray early date (a year typed 0150) cannot stretch it over
        centuries. None without changes."""
        per_day: Counter = Counter()
        for moves in self.moves.values():
            for (day, _, _), count in moves.items():
                per_day[day] += count
        seen = 0
        for day in sorted(per_day):
            seen += per_day[day]
            if seen > share * self.changes:
                return day_date(day)
        return None

    def period(self) -> tuple[date, date] | None:
        """(first day, last day) of the changes read; None without changes."""
        if self.first_day is None or self.last_day is None:
            return None
        return day_date(self.first_day), day_date(self.last_day)


def read_history(events: Iterable[tuple[str, int, dict]], progress: Progress | None = None) -> History:
    """(source, line number, decoded JSON) of the tag-change topic's CloudEvents -> `History`, with
    a progress line for big files. Erasure notices are counted; anything else is a `ChangeFileError`."""
    history = History()
    for source, number, event in events:
        change = change_of(source, number, event)
        if change is None:
            history.erasures += 1
            continue
        history.add(change)
        if progress is not None and history.changes % PROGRESS_EVERY == 0:
            progress.update(history.changes)
    if progress is not None and history.changes >= PROGRESS_EVERY:
        progress.finish(history.changes)
    return history


def change_of(source: str, number: int, event: dict) -> Change | None:
    """One CloudEvent -> its `Change`; None for a customer's erasure notice (the other event the
    topic carries)."""
    kind = event.get("type")
    if isinstance(kind, str) and kind.startswith("dev.tagstream.customer."):
        return None
    data = event.get("data")
    if kind != CHANGE_TYPE or not isinstance(data, dict):
        raise ChangeFileError(f"{source}:{number}: not a tag-change event (no type {CHANGE_TYPE} with data)")
    try:
        family, at = data["family"], data["at"]
        if not isinstance(family, str) or not isinstance(at, str):
            raise TypeError
        old = data["from"]
        change = Change(family, None if old is None else tag_text(old), tag_text(data["to"]), parse_instant(at))
    except (KeyError, TypeError, ValueError):
        raise ChangeFileError(f"{source}:{number}: a tag change needs data.family, data.from, data.to and an RFC 3339 data.at") from None
    if not FIRST_YEAR <= day_date_year(change.at // DAY_MS) <= LAST_YEAR:
        raise ChangeFileError(f"{source}:{number}: data.at {at} is outside the years {FIRST_YEAR}–{LAST_YEAR} a report can draw")
    return change


class ChangeFileError(Exception):
    """A change file is not one: one line naming the file and line."""


def day_date(day: int) -> date:
    return EPOCH + timedelta(days=day)


def day_date_year(day: int) -> int:
    """The year of a day number, for any day number (no date is made: it may not exist)."""
    return 1970 + math.floor(day / 365.2425)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def bucket_start(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, bucket: str) -> date:
    if bucket == "week":
        return start + timedelta(days=7)
    if bucket == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def buckets_back(last: date, bucket: str, count: int) -> date:
    """The first day of the bucket `count - 1` buckets before the one holding `last`."""
    start = bucket_start(last, bucket)
    if bucket == "month":
        months = start.year * 12 + start.month - 1 - (count - 1)
        return date(months // 12, months % 12 + 1, 1)
    return start - timedelta(days=(7 if bucket == "week" else 1) * (count - 1))


def auto_bucket(first: date, last: date) -> str:
    """Day for up to ~4 months, week up to ~3 years, month beyond: ~150 points a chart at most
    for spans up to ~12 years."""
    span = (last - first).days
    return "day" if span <= 120 else "week" if span <= 1100 else "month"
