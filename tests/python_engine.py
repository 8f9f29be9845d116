"""The pure-Python engine driven as `backtest` drove it before the native core: the oracle of the
differential tests, and the harness of the specs that look inside the Python `PartitionEngine`
the worker still runs (tests/unit/test_time_spec.py, test_live_arrival_spec.py).

It produces `TagChange` objects one by one, as the Python engine does; `stream.backtest.Backtest`
(native) is held to the same change bytes and snapshot records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from schemas.events import EVENT_TYPES, Event, Rejection, decode_event
from stream.backtest import AsOf, Totals
from stream.changes import TagChange
from stream.engine import Arrival, MemoryStore, PartitionEngine
from stream.logfile import LogLine
from stream.partitioner import partition_for
from stream.record import customer_record
from stream.rules.ruleset import RuleSet
from stream.watermark import NEVER


@dataclass
class PythonBacktest:
    rules: RuleSet
    partitions: int = 8
    totals: Totals = field(default_factory=Totals)
    arrival: Arrival = Arrival.BUFFERED

    def __post_init__(self) -> None:
        self.engines = [PartitionEngine(self.rules, MemoryStore(), EVENT_TYPES) for _ in range(self.partitions)]

    def run(self, lines: Iterable[LogLine], on_change: Callable[[TagChange], None],
            on_reject: Callable[[LogLine, Rejection], None]) -> None:
        for line in lines:
            self.totals.lines += 1
            decoded = decode_event(line.raw)
            if isinstance(decoded, Rejection):
                self.totals.rejected += 1
                on_reject(line, decoded)
            else:
                self._emit(self.ingest(decoded), on_change)

    def ingest(self, event: Event) -> list[TagChange]:
        self.totals.events += 1
        self.totals.newest = max(self.totals.newest, event.ts)
        outcome = self.engine_of(event.customer_id).ingest(event, event.type, arrival=self.arrival)
        self.totals.duplicates += outcome.duplicate
        self.totals.late += outcome.late
        return outcome.changes

    def engine_of(self, customer_id: str) -> PartitionEngine:
        return self.engines[partition_for(customer_id, self.partitions)]

    def finish(self, as_of: AsOf, on_change: Callable[[TagChange], None]) -> None:
        everything = frozenset(EVENT_TYPES)
        for engine in self.engines:
            self._emit(engine.refresh(everything), on_change)
        if as_of == "watermark":
            return
        until = self.totals.newest if as_of == "end" else int(as_of)
        if until != NEVER:
            for engine in self.engines:
                self._emit(engine.finish(until), on_change)

    def _emit(self, changes: list[TagChange], on_change: Callable[[TagChange], None]) -> None:
        self.totals.changes += len(changes)
        for change in changes:
            on_change(change)

    def snapshot(self, as_of: AsOf) -> Iterator[dict[str, object]]:
        everyone = sorted(((c, s) for engine in self.engines for c, s in engine.store.items()), key=lambda item: item[0])
        for customer_id, state in everyone:
            at = (state.clock or 0) if as_of == "watermark" else self.totals.newest if as_of == "end" else int(as_of)
            yield customer_record(self.rules, customer_id, state, at)
