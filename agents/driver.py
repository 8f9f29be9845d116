"""Turns a batch of Kafka records into calls of the engine; knows nothing of Faust's API.

The Faust agent hands over a batch of records (topic, partition, offset, key, value); one call of
the native engine decodes and applies each run of input records, and what comes back is the tag
changes to publish (already CloudEvent bytes with their keys), the rejections to dead-letter and
the counts for the metrics. Offsets and consumer high-water marks tell which input topics of a
partition still have records to deliver, which is what the watermark needs (`caught_up`).

The engine holds the state of the partitions this worker owns; a partition is loaded from the
changelog before the first batch that needs it (with every other newly owned one) and dropped
when revoked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from agents.changelog import StateWrites, StoredPartition
from schemas.events import EVENT_TYPES, MAX_ID_CHARS, is_identifier  # EVENT_TYPES: the engine's order of types too
from stream.changes import erasure_event
from stream.native import ChangeBatch, Engine
from stream.partitioner import partition_of_key
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import RuleSet

logger = logging.getLogger(__name__)

# (topic, partition) -> next offset the consumer will deliver, or None when not yet known
HighWater = Callable[[str, int], "int | None"]
Committed = Callable[[str, int], "int | None"]
# the durable state (the changelog) of each of these partitions, one after the other
ReadStored = Callable[[list[int]], AsyncIterator[tuple[int, StoredPartition]]]


def worker_engine(rules: RuleSet, partitions: int) -> Engine:
    """The engine as the worker runs it: each change with its customer (the record key) and its
    transition (the change counter's labels), and customers it is not working on kept as their
    stored bytes (`compact`: about a tenth of the memory of decoded states, docs/native.md)."""
    return Engine(plan_json(rules), partitions, keys=True, transitions=True, compact=True)


class Record(Protocol):
    """A consumed record: aiokafka's, or one the hole reader fetched (read-only either way)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass
class Dead:
    """A record that could not be processed, with everything needed to find and replay it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str
    message: str


@dataclass
class Handled:
    """What one batch produced."""

    changes: list[tuple[bytes, bytes]] = field(default_factory=list)  # (customer id, CloudEvent JSON)
    dead: list[Dead] = field(default_factory=list)
    consumed: dict[str, int] = field(default_factory=dict)  # event type -> decoded events
    duplicates: int = 0
    late: int = 0
    transitions: list[tuple[str, str, str, int]] = field(default_factory=list)  # family, str(from), str(to), count
    erased: list[str] = field(default_factory=list)  # customers erased on request


def is_erase_request(record: Record) -> bool:
    """A tombstone (no value) with a key on an input topic asks to erase the key's customer
    (README, "Erasure"); one without a key stays a dead letter."""
    return record.value is None and record.key is not None


def _customer_id(key: bytes) -> str | None:
    try:
        text = key.decode()
    except UnicodeDecodeError:
        return None
    return text if is_identifier(text) else None


@dataclass
class Erasure:
    """An erase request among a batch's engine calls."""

    record: Record
    customer_id: str


@dataclass
class EngineResults:
    outputs: list[Any]  # what each call returned
    states: list[tuple[int, str, bytes]]  # `Engine.take_writes`: (partition, customer id, stored state)
    watermarks: list[tuple[int, bytes]]


class EngineBatch:
    """A batch's engine calls, prepared on the event loop; `run` makes them and takes the states
    they changed, and touches nothing but the engine, so it may run on another thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.handled = Handled()
        self.runs: list[list[Record] | Erasure | None] = []  # each call's input records (None: a clock tick)
        self._calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def call(self, run: list[Record] | Erasure | None, method: Callable[..., Any], *args: Any) -> None:
        self.runs.append(run)
        self._calls.append((method, args))

    def run(self) -> EngineResults:
        outputs = [method(*args) for method, args in self._calls]
        states, watermarks = self.engine.take_writes()
        return EngineResults(outputs, states, watermarks)


class PartitionDriver:
    def __init__(
        self,
        engine: Engine,
        writes: StateWrites,
        read_stored: ReadStored,
        input_topics: dict[str, str],
        tick_topic: str,
        highwater: HighWater,
        committed: Committed,
        live_clock: bool,
        assigned: Callable[[], set[int]] = set,
        on_owned: Callable[[list[str]], None] = lambda customer_ids: None,
        idle_after_s: float = 2.0,
        max_future_ms: int = 300_000,
        now: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.writes = writes
        self.read_stored = read_stored
        self.input_topics = input_topics  # topic -> event type
        self.kind_of = {topic: EVENT_TYPES.index(event_type) for topic, event_type in input_topics.items()}
        self.tick_topic = tick_topic
        self.highwater = highwater
        self.committed = committed
        self.live_clock = live_clock
        self.assigned = assigned  # the partitions this worker processes now
        self.on_owned = on_owned  # the customers of partitions newly taken over (the serving layer)
        self.idle_after_s = idle_after_s
        self.max_future_ms = max_future_ms
        self.now = now
        self.wall_clock = wall_clock
        self.loaded: set[int] = set()
        self._revoked_while_loading: set[int] = set()
        # The last input record whose effects are in the stored state, per (topic, partition):
        # saved with the partition's watermark (after its customers), so a restart skips what it
        # re-reads below it instead of relying on each customer's window of remembered event ids,
        # which a busy customer can outrun between two offset commits.
        self.applied: dict[tuple[str, int], int] = {}
        self.last_offset: dict[tuple[str, int], int] = {}
        self.last_delivery: dict[tuple[str, int], float] = {}  # monotonic seconds
        self.fingerprint, self.tables_json = engine.tag_tables()

    def forget(self, partitions: set[int]) -> None:
        """Partitions were revoked: their state may now change elsewhere; reload on return."""
        for partition in partitions & self.loaded:
            self.engine.drop_partition(partition)
        self.loaded -= partitions
        self._revoked_while_loading |= partitions
        for partition in partitions:
            for topic in [*self.input_topics, self.tick_topic]:
                self.last_offset.pop((topic, partition), None)
                self.last_delivery.pop((topic, partition), None)
                self.applied.pop((topic, partition), None)

    def handle(self, records: Sequence[Record]) -> Handled:
        """Run a batch through the engine, in order, and stage the state it changed. Its
        partitions must be loaded (`load`). The worker runs the same three steps with the
        engine's part on a thread of its own (agents/engine_thread.py)."""
        batch = self.prepare(records)
        return self.settle(batch, batch.run())

    def prepare(self, records: Sequence[Record]) -> EngineBatch:
        """The batch as engine calls, with everything they read from the consumer and the
        clock taken now, on the event loop: runs of input records split by the clock's ticks
        and by erase requests, records applied before a restart left out (counted as duplicates)."""
        now = self.now()
        for record in records:
            self.last_offset[(record.topic, record.partition)] = record.offset
            self.last_delivery[(record.topic, record.partition)] = now
        batch = EngineBatch(self.engine)
        run: list[Record] = []
        for record in records:
            if record.topic != self.tick_topic:
                if record.offset <= self.applied.get((record.topic, record.partition), -1):
                    batch.handled.duplicates += 1  # applied before a restart: already in the stored state
                    continue
                self.applied[(record.topic, record.partition)] = record.offset
                if not is_erase_request(record):
                    run.append(record)
                    continue
            self._ingest(run, batch)
            run = []
            if record.topic == self.tick_topic:
                self._tick(record, batch)
            else:
                self._erase(record, batch)
        self._ingest(run, batch)
        return batch

    def settle(self, batch: EngineBatch, results: EngineResults) -> Handled:
        """What the engine calls returned, as the batch's outputs; their states are staged."""
        handled = batch.handled
        for run, result in zip(batch.runs, results.outputs):
            if run is None:
                self._collect(result, handled)
                continue
            if isinstance(run, Erasure):
                handled.erased.append(run.customer_id)
                handled.changes.append((run.customer_id.encode(), erasure_event(run.customer_id, run.record.topic,
                                                                               run.record.partition, run.record.offset)))
                self.writes.stage_erased(run.record.partition, run.customer_id)
                continue
            changes, rejected, consumed, duplicates, late = result
            for index, reason, message in rejected:
                r = run[index]
                handled.dead.append(Dead(r.topic, r.partition, r.offset, r.key, r.value, reason, message))
            for event_type, count in zip(EVENT_TYPES, consumed):
                if count:
                    handled.consumed[event_type] = handled.consumed.get(event_type, 0) + count
            handled.duplicates += duplicates
            handled.late += late
            self._collect(changes, handled)
        self.writes.stage(results.states, [(partition, self._with_offsets(partition, raw)) for partition, raw in results.watermarks])
        return handled

    def _with_offsets(self, partition: int, watermark: bytes) -> bytes:
        saved = orjson.loads(watermark)
        saved["applied"] = {topic: offset for (topic, p), offset in self.applied.items() if p == partition}
        return orjson.dumps(saved)

    def _ingest(self, run: list[Record], batch: EngineBatch) -> None:
        if not run:
            return
        wall_ms = int(self.wall_clock() * 1000)
        present = {r.partition for r in run}
        caught_up = [self.caught_up_bits(p) if p in present else 0 for p in range(self.writes.partitions)]
        records = [(r.partition, self.kind_of[r.topic], r.topic, r.key, r.value) for r in run]
        batch.call(run, self.engine.ingest_records, records, caught_up, wall_ms, self.max_future_ms, self.live_clock)

    def _erase(self, record: Record, batch: EngineBatch) -> None:
        """An erase request: the customer goes from the engine, its changelog key gets a
        tombstone, and one `customer.erased` event is published (`settle`). A request that
        cannot name a customer of this partition is dead-lettered."""
        key = record.key or b""  # an erase request has one (`is_erase_request`)
        customer_id = _customer_id(key)
        if customer_id is None:
            batch.handled.dead.append(Dead(record.topic, record.partition, record.offset, record.key, record.value,
                                           "bad_value", "an erase request (a record without a value) needs the "
                                           f"customer id as its key: 1..{MAX_ID_CHARS} printable characters"))
        elif partition_of_key(key, self.writes.partitions) != record.partition:
            batch.handled.dead.append(Dead(record.topic, record.partition, record.offset, record.key, record.value,
                                           "wrong_partition", f"an erase request for {customer_id!r} on partition "
                                           f"{record.partition}; Kafka's key partitioner puts it elsewhere"))
        else:
            batch.call(Erasure(record, customer_id), self.engine.erase_customer, record.partition, customer_id)

    def _tick(self, record: Record, batch: EngineBatch) -> None:
        try:
            wall_ms = int(orjson.loads(record.value or b"{}").get("wall_ms", 0))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            wall_ms = 0
        live = wall_ms if self.live_clock and wall_ms else None
        batch.call(None, self.engine.tick_partition, record.partition, live, self.caught_up_bits(record.partition))

    @staticmethod
    def _collect(changes: ChangeBatch, handled: Handled) -> None:
        if len(changes):
            handled.changes += changes.records()
            handled.transitions += changes.transition_counts()

    async def load(self, partitions: set[int]) -> None:
        """Load newly owned partitions from the changelog, one after the other (so only one
        partition's stored states are in memory besides the engine's), together with every other
        assigned one: after a restart all are new, and each batch waiting for the next would
        stall the stream once per partition. A partition revoked while it is read is left out
        (Faust revokes only once the batches in flight are done, so this is a safety net)."""
        if partitions <= self.loaded:
            return
        wanted = sorted((partitions | self.assigned()) - self.loaded)
        self._revoked_while_loading = set()
        started, count = time.perf_counter(), 0
        async for partition, stored in self.read_stored(wanted):
            if partition not in self._revoked_while_loading:
                count += self._restore(partition, stored)
        logger.info("loaded partitions %s: %d customers in %.1fs", wanted, count, time.perf_counter() - started)

    def _restore(self, partition: int, stored: StoredPartition) -> int:
        for raw in stored.tables:
            self.engine.add_tag_tables(raw)
        watermark = stored.watermark
        for topic, offset in (orjson.loads(watermark).get("applied", {}) if watermark else {}).items():
            if topic in self.input_topics:
                self.applied[(topic, partition)] = int(offset)
        failed = dict(self.engine.restore_partition(partition, stored.customers, watermark))
        for customer_id, error in failed.items():
            logger.error("partition %d: customer %r left out, its stored state is unreadable: %s", partition, customer_id, error,
                         extra={"partition": partition, "customer_id": customer_id})
        self.writes.note_tables(partition, self.fingerprint, self.tables_json)
        self.loaded.add(partition)
        self.on_owned([customer_id for customer_id, _ in stored.customers if customer_id not in failed])
        return len(stored.customers) - len(failed)

    def quiet_for(self, topic: str, partition: int) -> float:
        """Seconds since this topic last delivered a record of the partition (or since the
        partition was first checked, if it never has)."""
        now = self.now()
        return now - self.last_delivery.setdefault((topic, partition), now)

    def caught_up_bits(self, partition: int) -> int:
        """`caught_up` as the engine takes it: a bit per event type (EVENT_TYPES order)."""
        return sum(1 << EVENT_TYPES.index(event_type) for event_type in self.caught_up(partition))

    def caught_up(self, partition: int) -> frozenset[str]:
        """Event types whose topic is idle on this partition: it has delivered every record the
        consumer knows of, and none for `idle_after_s`.

        Why the wait: the high-water mark is only as fresh as the last fetch of that partition,
        and topics are fetched independently, so "nothing left" can be stale by a fetch or two
        while a producer is still writing. Dropping the topic from the watermark at once would let
        time run past its records already in Kafka (they would arrive late). After a quiet spell,
        anything still to come was produced after the newest records seen, so, written in time
        order, it cannot be late (the idleness of Flink's watermark strategies)."""
        done = []
        now = self.now()
        for topic, event_type in self.input_topics.items():
            end = self.highwater(topic, partition)
            if end is None:
                continue
            last = self.last_offset.get((topic, partition))
            position = last + 1 if last is not None else (self.committed(topic, partition) or 0)
            quiet_since = self.last_delivery.setdefault((topic, partition), now)
            if position >= end and now - quiet_since >= self.idle_after_s:
                done.append(event_type)
        return frozenset(done)
