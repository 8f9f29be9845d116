"""Where results go: tag changes to the output topic, rejected records to the dead-letter topic.

Tag changes (about two per event) skip Faust's per-record send path (a `FutureMessage`, a
`PendingMessage`, four sensor calls and an aiokafka `send` each, a fifth of the worker's time in
py-spy): they are appended to one aiokafka record batch per partition and handed to the
producer batch by batch, and the batch's delivery futures are awaited as before. Same records
(key, value, headers, partition from Kafka's key partitioner, timestamp = send time); dead
letters are rare and keep going through the Faust topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiokafka.partitioner import DefaultPartitioner

from agents.driver import Dead, Handled
from agents.metrics import LabelledChildren, WorkerMetrics
from stream.changes import CONTENT_TYPE

HEADERS = [("content-type", CONTENT_TYPE.encode())]


class Topic(Protocol):
    async def send(self, *, key: bytes | None = None, value: bytes | None = None, headers: list | None = None) -> object: ...


class BatchProducer(Protocol):
    """The part of `aiokafka.AIOKafkaProducer` that sends whole record batches."""

    async def partitions_for(self, topic: str) -> set[int]: ...
    def create_batch(self) -> Any: ...
    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Awaitable[object]: ...


def dead_letter_headers(dead: Dead) -> list[tuple[str, bytes]]:
    """The original key and bytes stay untouched in the record; why and where go in headers."""
    return [
        ("tagstream.error.reason", dead.reason.encode()),
        ("tagstream.error.message", dead.message.encode(errors="replace")[:1024]),
        ("tagstream.source.topic", dead.topic.encode()),
        ("tagstream.source.partition", str(dead.partition).encode()),
        ("tagstream.source.offset", str(dead.offset).encode()),
    ]


class Sinks:
    def __init__(self, changes_topic: str, dlq: Topic, metrics: WorkerMetrics, producer: Callable[[], BatchProducer]) -> None:
        self.changes_topic = changes_topic
        self.dlq = dlq
        self.metrics = metrics
        self.producer = producer  # the running aiokafka producer (asked each time: it exists only once started)
        self.partitioner = DefaultPartitioner()
        self._child = LabelledChildren()  # event types and the rule pack's values: closed sets

    async def publish(self, handled: Handled) -> None:
        """Send a batch's dead letters and tag changes and wait until Kafka has them all: only
        then may the state that produced them be written (see agents/table_store.py). Safe to
        call again after a failure: the copies it re-sends are byte-identical."""
        pending = []
        for dead in handled.dead:
            pending.append(await self.dlq.send(key=dead.key, value=dead.value, headers=dead_letter_headers(dead)))
        pending += await self.send_changes(handled.changes)
        if pending:
            await asyncio.gather(*pending)

    async def send_changes(self, changes: list[tuple[bytes, bytes]]) -> list[Awaitable[object]]:
        """Queue the changes (customer id, CloudEvent JSON) in record batches, in order within
        each partition; return the batches' delivery futures."""
        if not changes:
            return []
        producer, topic = self.producer(), self.changes_topic
        partitions = sorted(await producer.partitions_for(topic))
        builders: dict[int, Any] = {}
        sent: list[Awaitable[object]] = []
        customer, partition = b"", 0
        for key, value in changes:
            if key != customer:  # a customer's changes come together
                customer, partition = key, self.partitioner(key, partitions, partitions)
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=HEADERS) is None:  # full
                sent.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[partition] = producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None, headers=HEADERS) is None:
                    raise ValueError(f"a tag change of {len(value)} bytes does not fit in an empty record batch")
        for partition, builder in builders.items():
            sent.append(await producer.send_batch(builder, topic, partition=partition))
        return sent

    def count(self, handled: Handled) -> None:
        metrics = self.metrics
        for dead in handled.dead:
            metrics.rejected.labels(dead.reason).inc()
        for event_type, consumed in handled.consumed.items():
            self._child(metrics.consumed, event_type).inc(consumed)
        if handled.duplicates:
            metrics.duplicates.inc(handled.duplicates)
        if handled.late:
            metrics.late.inc(handled.late)
        for family, old, new, count in handled.transitions:
            self._child(metrics.changes, family, old, new).inc(count)
