"""The offline engine over event logs: what the worker would do, without Kafka.

Each event goes to the partition the worker's consumer would read it from (Kafka's murmur2
partitioner over the same partition count) and each partition keeps its own watermark, so the
tag changes, their ids and their timestamps match the live worker's exactly. The work happens in
the native core (`stream._native.Engine`), a batch of lines per call.

A log has an end, a stream does not; `as_of` says what happens there:
- `watermark`: stop where a worker that consumed the log would stand (each partition at its own
  watermark, the last `allowed_lateness` of events still buffered): the worker's exact output;
- `end` (default): apply everything and let time run to the newest event in the log;
- an instant: apply everything and let time run to it (dormancy, churn, expiring windows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum

import orjson

from schemas.events import Rejection
from stream.bulk import collector_paused
from stream.logfile import LogLine, blocks_of
from stream.native import ChangeBatch, Engine
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import RuleSet

AsOf = int | str  # an instant (epoch ms), "end" or "watermark"
NEVER = -(2**62)  # no event seen yet


class Arrival(Enum):
    """When an event is applied: when the watermark passes it (backfills, `backtest`), or at once,
    as a live worker applies a live event (`tagstream worker --clock live`; spec tests)."""

    BUFFERED = "buffered"
    IMMEDIATE = "immediate"
OnChanges = Callable[[ChangeBatch], None]
OnReject = Callable[[LogLine, Rejection], None]
# Lines per call into the core: large enough that the call costs nothing per line, small enough
# that changes reach their writer (and progress moves) several times a second.
BATCH_LINES = 4096


@dataclass
class Totals:
    lines: int = 0
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0
    changes: int = 0
    newest: int = NEVER
    oldest: int = NEVER  # NEVER until an event is read


def counting_rejections(totals: Totals, on_reject: OnReject) -> OnReject:
    """`on_reject` that also counts the line as read and rejected: the time-order pass
    (stream.timeorder) drops bad lines before the engine sees them, yet totals cover every line."""

    def reject(line: LogLine, rejection: Rejection) -> None:
        totals.lines += 1
        totals.rejected += 1
        on_reject(line, rejection)

    return reject


@dataclass
class Backtest:
    rules: RuleSet
    partitions: int = 8
    totals: Totals = field(default_factory=Totals)
    arrival: Arrival = Arrival.BUFFERED  # IMMEDIATE: as a live worker applies live events (spec tests)
    json: bool = True  # each ChangeBatch carries the changes' CloudEvent JSON lines
    transitions: bool = False  # ... and their (family, from, to), for whatif
    lanes: int | None = None  # threads the partitions are spread over; None: one per core

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {self.partitions}")
        self.engine = Engine(plan_json(self.rules), self.partitions, self.arrival is Arrival.IMMEDIATE,
                             json=self.json, transitions=self.transitions, lanes=self.lanes)

    def run(self, lines: Iterable[LogLine], on_changes: OnChanges, on_reject: OnReject) -> None:
        """Feed every line in the order given; changes are handed over batch by batch as produced.
        The commands give lines in event-time order (stream.timeorder): in file order, a log sorted
        by customer would make most later customers' events late, unlike the worker fed by replay."""
        self.run_blocks(blocks_of(lines, BATCH_LINES), on_changes, on_reject)

    def run_blocks(self, blocks: Iterable[list[LogLine]], on_changes: OnChanges, on_reject: OnReject) -> None:
        """`run` over lines already in blocks (one engine call each): what the commands hand over."""
        reject = counting_rejections(self.totals, on_reject)
        with collector_paused():
            for block in blocks:
                changes, rejected = self.engine.ingest_lines([line.raw for line in block])
                self.totals.lines += len(block) - len(rejected)
                for index, reason, message in rejected:
                    reject(block[index], Rejection(reason, message))
                self._emit(changes, on_changes)

    def finish(self, as_of: AsOf, on_changes: OnChanges) -> None:
        """End of input: every source is now caught up; then apply `as_of` (see module doc)."""
        self._emit(self.engine.refresh(), on_changes)
        if as_of == "watermark":
            return
        until = self.totals.newest if as_of == "end" else int(as_of)
        if until != NEVER:
            self._emit(self.engine.finish(until), on_changes)

    def _emit(self, changes: ChangeBatch, on_changes: OnChanges) -> None:
        events, duplicates, late, newest, oldest = self.engine.totals()
        totals = self.totals
        totals.events, totals.duplicates, totals.late = events, duplicates, late
        totals.newest = NEVER if newest is None else newest
        totals.oldest = NEVER if oldest is None else oldest
        totals.changes += len(changes)
        if len(changes):
            on_changes(changes)

    def snapshot_lines(self, as_of: AsOf) -> list[bytes]:
        """One JSON record per customer, sorted by id (native/src/engine/snapshot.rs). Metrics are
        evaluated at the as-of instant, or with `watermark` at the customer's own last update, as
        the live worker's Redis profile and lookup API show it."""
        at = None if as_of == "watermark" else self.totals.newest if as_of == "end" else int(as_of)
        return self.engine.snapshot(at)

    def snapshot(self, as_of: AsOf) -> Iterator[dict[str, object]]:
        return (orjson.loads(record) for record in self.snapshot_lines(as_of))

    def tags(self, customer_id: str) -> dict[str, object]:
        """A customer's current tags (KeyError for a customer never seen)."""
        return self.engine.tags(customer_id)

    def final_tags(self) -> dict[str, dict[str, object]]:
        """Each customer's tags where the backtest stopped: the last value each family emitted."""
        return self.engine.all_tags()
