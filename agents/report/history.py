"""Tag-change files (`backtest --changes-out`, or the tag-change topic saved as JSONL) read into
what a marketer asks of them: how big each audience was over time, and who moved where.

The files are read once, streaming: per family and UTC day only the net change of each value's
size and the count of each `from -> to` move are kept, so gigabytes of changes fit in memory and the
period and granularity are chosen after reading. Sizes start from zero, so they are exact when the
files begin with the customers' first values (`from: null`), as a backtest's do; a file that
begins later (a topic past its retention) gives sizes relative to its start, and the page says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from agents.report.snapshot import tag_text
from stream.timeutil import DAY_MS, parse_instant

NEW = "∅ new"  # the row of a migration matrix for customers given their first value
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Change:
    family: str
    old: str | None  # None: the customer's first value
    new: str
    at: int  # event time, epoch ms


@dataclass
class History:
    """Net size changes and moves per family and day, over every change added."""

    changes: int = 0
    first_day: int | None = None
    last_day: int | None = None
    deltas: dict[str, dict[int, Counter]] = field(default_factory=dict)  # family -> day -> value -> net
    moves: dict[str, Counter] = field(default_factory=dict)  # family -> (day, from, to) -> changes

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

    def sizes(self, family: str, bucket: str) -> list[tuple[date, dict[str, int]]]:
        """Each value's audience size at the end of every bucket (`day`, `week` from Monday,
        `month`) from the first change to the last, a bucket per point even when nothing moved."""
        if self.first_day is None or self.last_day is None:
            return []
        days = self.deltas.get(family, {})
        current: Counter = Counter()
        points: list[tuple[date, dict[str, int]]] = []
        start = bucket_start(day_date(self.first_day), bucket)
        while start <= day_date(self.last_day):
            end = next_bucket(start, bucket)
            for day in range(day_number(start), day_number(end)):
                current.update(days.get(day, {}))
            points.append((start, dict(current)))
            start = end
        return points

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

    def period(self) -> tuple[date, date] | None:
        """(first day, the day after the last) of the changes read; None without changes."""
        if self.first_day is None or self.last_day is None:
            return None
        return day_date(self.first_day), day_date(self.last_day + 1)


def read_history(changes: Iterable[Change]) -> History:
    history = History()
    for change in changes:
        history.add(change)
    return history


def changes_of(events: Iterable[tuple[str, int, dict]]) -> Iterator[Change]:
    """(source, line number, decoded JSON) of tag-change CloudEvents -> `Change`s. Other CloudEvents
    on the topic (a customer's erasure) are skipped; anything else is a `ChangeFileError`."""
    for source, number, event in events:
        if event.get("type", "").startswith("dev.tagstream.customer."):
            continue
        data = event.get("data")
        if event.get("type") != "dev.tagstream.tag.changed.v1" or not isinstance(data, dict):
            raise ChangeFileError(f"{source}:{number}: not a tag-change event (no type dev.tagstream.tag.changed.v1 with data)")
        try:
            family, at = data["family"], data["at"]
            if not isinstance(family, str) or not isinstance(at, str):
                raise TypeError
            old = data["from"]
            yield Change(family, None if old is None else tag_text(old), tag_text(data["to"]), parse_instant(at))
        except (KeyError, TypeError, ValueError):
            raise ChangeFileError(f"{source}:{number}: a tag change needs data.family, data.from, data.to and an RFC 3339 data.at") from None


class ChangeFileError(Exception):
    """A change file is not one: one line naming the file and line."""


def day_date(day: int) -> date:
    return EPOCH + timedelta(days=day)


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


def auto_bucket(period: tuple[date, date] | None) -> str:
    """Day for up to ~4 months, week up to ~3 years, month beyond: at most ~150 points a chart."""
    if period is None:
        return "day"
    span = (period[1] - period[0]).days
    return "day" if span <= 120 else "week" if span <= 1100 else "month"
