"""Reads a range of one partition straight from Kafka, for the records Faust skipped
(see agents/faust_compat/offsets.py). Holes are rare (a worker start or a rebalance), so a short-lived
consumer of its own is simpler and safer than moving Faust's consumer position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def read_range(connection: dict[str, Any], topic: str, partition: int, start: int, end: int,
                     timeout_s: float = 30.0) -> list[RawRecord]:
    """Records with start <= offset < end, in order. Fewer if some are gone (retention)."""
    consumer = AIOKafkaConsumer(**connection, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_uncommitted")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        records: list[RawRecord] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=int(timeout_s * 1000), max_records=end - start)
            if not batch:
                break
            records += [RawRecord(topic, partition, r.offset, r.key, r.value)
                        for r in batch.get(tp, []) if start <= r.offset < end]
        return records
    finally:
        await consumer.stop()
