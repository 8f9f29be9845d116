"""Turns Kafka records into engine calls, per partition; knows nothing of Faust's API.

The Faust agent hands each record's topic, partition, offset, key and value to `handle`; what
comes back is the tag changes to publish and the rejections to dead-letter. Offsets and consumer
high-water marks tell which input topics of a partition still have records to deliver, which is
what the watermark needs (see stream/watermark.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from agents.table_store import TableStore
from schemas.events import EVENT_TYPES, Event, Rejection, decode_event, future_bound
from stream.changes import TagChange
from stream.engine import Arrival, Outcome, PartitionEngine
from stream.rules.ruleset import RuleSet

logger = logging.getLogger(__name__)

# (topic, partition) -> next offset the consumer will deliver, or None when not yet known
HighWater = Callable[[str, int], "int | None"]
Committed = Callable[[str, int], "int | None"]


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
    changes: list[TagChange] = field(default_factory=list)
    dead: Dead | None = None
    event: Event | None = None
    outcome: Outcome | None = None


class PartitionDriver:
    def __init__(
        self,
        rules: RuleSet,
        store: TableStore,
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
        self.rules = rules
        self.store = store
        self.input_topics = input_topics  # topic -> event type
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
        self.engines: dict[int, PartitionEngine] = {}
        self.last_offset: dict[tuple[str, int], int] = {}
        self.last_delivery: dict[tuple[str, int], float] = {}  # monotonic seconds

    def forget(self, partitions: set[int]) -> None:
        """Partitions were revoked: their state may now change elsewhere; rebuild on return."""
        for partition in partitions:
            self.engines.pop(partition, None)
            for topic in [*self.input_topics, self.tick_topic]:
                self.last_offset.pop((topic, partition), None)
                self.last_delivery.pop((topic, partition), None)

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Handled:
        self.last_offset[(topic, partition)] = offset
        self.last_delivery[(topic, partition)] = self.now()
        engine = self.engine(partition)
        if topic == self.tick_topic:
            return Handled(self._on_tick(engine, partition, value))
        wall_ms = int(self.wall_clock() * 1000)
        latest = future_bound(wall_ms, self.max_future_ms)
        decoded = decode_event(value, key, latest) if value is not None else Rejection("not_json", "empty record (tombstone)")
        if isinstance(decoded, Event) and decoded.type != self.input_topics[topic]:
            decoded = Rejection("wrong_topic", f"a {decoded.type!r} event on topic {topic!r} (expects {self.input_topics[topic]!r})")
        if isinstance(decoded, Rejection):
            return Handled(dead=Dead(topic, partition, offset, key, value, decoded.reason, decoded.message))
        try:
            outcome = engine.ingest(decoded, decoded.type, self.caught_up(partition), self._arrival(engine, decoded, wall_ms))
        except Exception as exc:  # noqa: BLE001 - a rule or engine fault on one event must not stop the partition
            logger.exception("engine failed on %s[%d]@%d", topic, partition, offset)
            return Handled(dead=Dead(topic, partition, offset, key, value, "engine_error", f"{type(exc).__name__}: {exc}"))
        # Always, not only when the watermark moved: the newest event time of each source is part
        # of it, and a restart that lost one (a source read ahead while another held time back)
        # would stop short of it once every source is idle, leaving its buffered events unreleased.
        self.store.save_meta(partition, engine.watermark.to_dict())
        return Handled(outcome.changes, event=decoded, outcome=outcome)

    def _arrival(self, engine: PartitionEngine, event: Event, wall_ms: int) -> Arrival:
        """Live clock: live events at once, a backlog in event-time order; event clock: always
        in event-time order (stream/engine.py)."""
        if not self.live_clock:
            return Arrival.BUFFERED
        return engine.live_arrival(event.ts, wall_ms)

    def _on_tick(self, engine: PartitionEngine, partition: int, value: bytes | None) -> list[TagChange]:
        before = engine.watermark.value
        caught_up = self.caught_up(partition)
        try:
            wall_ms = int(orjson.loads(value or b"{}").get("wall_ms", 0))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            wall_ms = 0
        if self.live_clock and wall_ms:
            changes = engine.tick(wall_ms, caught_up)
        else:
            changes = engine.refresh(caught_up)
        if engine.watermark.value != before:  # a tick moves only the value
            self.store.save_meta(partition, engine.watermark.to_dict())
        return changes

    def engine(self, partition: int) -> PartitionEngine:
        engine = self.engines.get(partition)
        if engine is None:
            self._build({partition} | (self.assigned() - self.engines.keys()))
            engine = self.engines[partition]
        return engine

    def _build(self, partitions: set[int]) -> None:
        """Index newly owned partitions from the table, all in one pass over it: after a restart
        every partition is new, and a pass per partition would read a million customers 8 times."""
        grouped = self.store.wakes_by_partition(partitions)
        for partition, customers in grouped.items():
            engine = PartitionEngine(self.rules, self.store, EVENT_TYPES)
            engine.watermark.restore(self.store.load_meta(partition))
            engine.rebuild_index(iter(customers))
            self.engines[partition] = engine
            self.on_owned([customer_id for customer_id, _ in customers])
        logger.info("indexed partitions %s: %d customers", sorted(partitions), sum(map(len, grouped.values())))

    def quiet_for(self, topic: str, partition: int) -> float:
        """Seconds since this topic last delivered a record of the partition (or since the
        partition was first checked, if it never has)."""
        now = self.now()
        return now - self.last_delivery.setdefault((topic, partition), now)

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
