"""The offline engine over event logs: what the worker would do, without Kafka.

Each event goes to the partition the worker's consumer would read it from (Kafka's murmur2
partitioner over the same partition count) and each partition keeps its own watermark, so the
tag changes, their ids and their timestamps match the live worker's exactly.

A log has an end, a stream does not; `as_of` says what happens there:
- `watermark`: stop where a worker that consumed the log would stand (each partition at its own
  watermark, the last `allowed_lateness` of events still buffered): the worker's exact output;
- `end` (default): apply everything and let time run to the newest event in the log;
- an instant: apply everything and let time run to it (dormancy, churn, expiring windows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from schemas.events import EVENT_TYPES, Event, Rejection, decode_event
from stream.changes import TagChange
from stream.engine import Arrival, PartitionEngine
from stream.logfile import LogLine
from stream.partitioner import partition_for
from stream.rules.ruleset import RuleSet
from stream.state import ORDER_INDEX, CustomerState
from stream.timeutil import format_ts
from stream.watermark import NEVER

AsOf = int | str  # an instant (epoch ms), "end" or "watermark"


class MemoryStore(dict):
    """The offline state store: live objects in a dict, no serialization."""

    def put(self, customer_id: str, state: CustomerState) -> None:
        self[customer_id] = state


@dataclass
class Totals:
    lines: int = 0
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0
    changes: int = 0
    newest: int = NEVER


def decode_lines(lines: Iterable[LogLine], totals: Totals, on_reject: Callable[[LogLine, Rejection], None]) -> Iterator[Event]:
    """The valid events of a log; every line is counted, every bad one reported and counted."""
    reject = counting_rejections(totals, on_reject)
    for line in lines:
        decoded = decode_event(line.raw)
        if isinstance(decoded, Rejection):
            reject(line, decoded)
        else:
            totals.lines += 1
            yield decoded


def counting_rejections(totals: Totals, on_reject: Callable[[LogLine, Rejection], None]) -> Callable[[LogLine, Rejection], None]:
    """`on_reject` that also counts the line as read and rejected: the time-order pass
    (stream.timeorder) drops bad lines before `decode_lines` sees them, yet totals cover every line."""

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

    def __post_init__(self) -> None:
        self.engines = [PartitionEngine(self.rules, MemoryStore(), EVENT_TYPES) for _ in range(self.partitions)]
        self._engine_of: dict[str, PartitionEngine] = {}  # customer -> engine: hash each id once

    def run(
        self,
        lines: Iterable[LogLine],
        on_change: Callable[[TagChange], None],
        on_reject: Callable[[LogLine, Rejection], None],
    ) -> None:
        """Feed every line in the order given; changes are handed over as soon as they are produced.
        The commands give lines in event-time order (stream.timeorder): in file order, a log sorted
        by customer would make most later customers' events late, unlike the worker fed by replay."""
        for event in decode_lines(lines, self.totals, on_reject):
            self._emit(self.ingest(event), on_change)

    def ingest(self, event: Event) -> list[TagChange]:
        totals = self.totals
        totals.events += 1
        totals.newest = max(totals.newest, event.ts)
        engine = self._engine_of.get(event.customer_id)
        if engine is None:
            engine = self._engine_of[event.customer_id] = self.engines[partition_for(event.customer_id, self.partitions)]
        outcome = engine.ingest(event, event.type, arrival=self.arrival)
        totals.duplicates += outcome.duplicate
        totals.late += outcome.late
        return outcome.changes

    def finish(self, as_of: AsOf, on_change: Callable[[TagChange], None]) -> None:
        """End of input: every source is now caught up; then apply `as_of` (see module doc)."""
        everything = frozenset(EVENT_TYPES)
        for engine in self.engines:
            self._emit(engine.refresh(everything), on_change)
        if as_of == "watermark":
            return
        until = self.totals.newest if as_of == "end" else int(as_of)
        if until == NEVER:
            return
        for engine in self.engines:
            self._emit(engine.finish(until), on_change)

    def _emit(self, changes: list[TagChange], on_change: Callable[[TagChange], None]) -> None:
        self.totals.changes += len(changes)
        for change in changes:
            on_change(change)

    def snapshot(self, as_of: AsOf) -> Iterator[dict[str, object]]:
        """One record per customer, sorted by id. Metrics are evaluated at the as-of instant, or
        with `watermark` at the customer's own last update, as the live worker's Redis profile
        and lookup API show it."""
        everyone = sorted(((cid, state) for engine in self.engines for cid, state in engine.store.items()), key=lambda item: item[0])
        for customer_id, state in everyone:
            at = (state.clock or 0) if as_of == "watermark" else self.totals.newest if as_of == "end" else int(as_of)
            yield customer_record(self.rules, customer_id, state, at)


def customer_record(rules: RuleSet, customer_id: str, state: CustomerState, at: int) -> dict[str, object]:
    """The snapshot form of one customer: what an analyst (and the Redis profile) reads."""
    at = max(at, state.clock or at)
    metrics = rules.plan.compute(state, at)
    first_order, last_order = state.first_ts[ORDER_INDEX], state.last_ts[ORDER_INDEX]
    windows = {w.name: metrics[w.name] for w in rules.plan.windows if not w.previous}
    return {
        "customer_id": customer_id,
        "as_of": format_ts(at),
        "orders_total": state.orders_total,
        "revenue_total": state.revenue_cents / 100,
        "events_total": state.events_total,
        "first_order_at": format_ts(first_order) if first_order is not None else None,
        "last_order_at": format_ts(last_order) if last_order is not None else None,
        "days_since_last_order": metrics.get("days_since_last_order"),
        "windows": windows,
        "rfm": {k: metrics.get(f"rfm_{k}") for k in ("r", "f", "m")},
        "updated_at": format_ts(state.changed_at) if state.changed_at is not None else None,
        "tags": dict(sorted(state.tags.items())),
        "pending_events": len(state.pending),
        "late_events": state.late_events,
    }
