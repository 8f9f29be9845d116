"""Every input record of a batch, in offset order, with what Faust skipped read from Kafka.

Why: faust-streaming 0.15.3 can skip input records at a start or a rebalance and ack them
unprocessed (agents/faust_compat/offsets.py). The offset guard sees a skip as a hole (a record
further on than expected) or a repeat; a hole's records are read straight from Kafka
(hole_reader.py) and processed before the record that revealed it. A hole at the end of a
partition has no later record to reveal it, so a partition that Kafka holds records for but that
has delivered nothing for `STALL_AFTER_S` is read the same way (the clock ticks, which keep
coming, look for it). Reproduced by tests/faults/test_graceful_restarts.py and
tests/integration/test_hole_reader.py.

Records of a partition this worker no longer owns are dropped here, unprocessed and unacked:
the intake (batch_intake.py) may hold records taken for the next batch when a rebalance begins,
and they arrive after it. Processed, its state would be written after the
new owner read the changelog, and that owner would never see it (the group failover test lost a
customer's first order this way); the new owner reads it from the committed offset instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.driver import Record
from agents.faust_compat.hole_reader import RawRecord, read_range
from agents.faust_compat.offsets import STALL_AFTER_S, TAIL_READ_MAX, OffsetGuard, Verdict
from agents.metrics import WorkerMetrics

logger = logging.getLogger(__name__)


@dataclass
class InOrder:
    guard: OffsetGuard
    connection: dict[str, Any]  # Kafka client options (agents/kafka_clients.py) for the hole reader
    input_topics: Sequence[str]
    tick_topic: str
    highwater: Callable[[str, int], "int | None"]
    quiet_for: Callable[[str, int], float]  # seconds since a topic last delivered a partition's record
    owned: Callable[[], set[int]]  # the partitions assigned to this worker now
    metrics: WorkerMetrics

    async def records(self, messages: Sequence[Any]) -> tuple[list[Record], list[Any]]:
        """The records to process, in offset order, holes filled; and the repeats to skip."""
        records: list[Record] = []
        repeats = []
        owned = self.owned()
        for m in messages:
            if m.partition not in owned:
                continue
            if m.topic == self.tick_topic:
                records += await self._stalled_tails(m.partition)
                records.append(m)
                continue
            verdict, expected = self.guard.check(m.topic, m.partition, m.offset)
            if verdict is Verdict.REPEAT:
                repeats.append(m)
                continue
            if verdict is Verdict.HOLE:
                filled = await read_range(self.connection, m.topic, m.partition, expected, m.offset)
                self.metrics.offset_holes.inc()
                where = {"topic": m.topic, "partition": m.partition}
                logger.warning("%s[%d]: the consumer skipped offsets %d-%d; read %d of them from Kafka directly",
                               m.topic, m.partition, expected, m.offset - 1, len(filled), extra=where)
                if len(filled) != m.offset - expected:
                    logger.error("%s[%d]: offsets %d-%d are no longer in Kafka; going on without them",
                                 m.topic, m.partition, expected, m.offset - 1, extra=where)
                records += filled
            records.append(m)
        return records, repeats

    async def _stalled_tails(self, partition: int) -> list[RawRecord]:
        found: list[RawRecord] = []
        for topic in self.input_topics:
            expected, end = self.guard.next_offset(topic, partition), self.highwater(topic, partition)
            if expected is None or end is None or expected >= end or self.quiet_for(topic, partition) < STALL_AFTER_S:
                continue
            filled = await read_range(self.connection, topic, partition, expected, min(end, expected + TAIL_READ_MAX))
            self.metrics.offset_holes.inc()
            logger.warning("%s[%d]: offsets %d-%d were not delivered for %.0fs; read %d of them from Kafka directly",
                           topic, partition, expected, end - 1, STALL_AFTER_S, len(filled),
                           extra={"topic": topic, "partition": partition})
            for record in filled:
                self.guard.check(topic, partition, record.offset)
            found += filled
        return found
