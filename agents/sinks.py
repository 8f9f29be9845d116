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
from stream.changes import CONTENT_TYPE, TagChange

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

    async def publish(self, batch: list[Handled]) -> None:
        """Send a batch's dead letters and tag changes and wait until Kafka has them all: only
        then may the state that produced them be written (see agents/table_store.py). Safe to
        call again after a failure: the copies it re-sends are byte-identical."""
        pending = []
        for handled in batch:
            if handled.dead is not None:
                dead = handled.dead
                pending.append(await self.dlq.send(key=dead.key, value=dead.value, headers=dead_letter_headers(dead)))
        pending += await self.send_changes([change for handled in batch for change in handled.changes])
        if pending:
            await asyncio.gather(*pending)

    async def send_changes(self, changes: list[TagChange]) -> list[Awaitable[object]]:
        """Queue the changes in record batches, in order within each partition; return the
        batches' delivery futures."""
        if not changes:
            return []
        producer, topic = self.producer(), self.changes_topic
        partitions = sorted(await producer.partitions_for(topic))
        builders: dict[int, Any] = {}
        sent: list[Awaitable[object]] = []
        customer, key, partition = None, b"", 0
        for change in changes:
            if change.customer_id != customer:  # a customer's changes come together
                customer, key = change.customer_id, change.customer_id.encode()
                partition = self.partitioner(key, partitions, partitions)
            value = change.to_json()
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
        if handled.dead is not None:
            metrics.rejected.labels(handled.dead.reason).inc()
        if handled.event is not None:
            self._child(metrics.consumed, handled.event.type).inc()
        if handled.outcome is not None:
            if handled.outcome.duplicate:
                metrics.duplicates.inc()
            if handled.outcome.late:
                metrics.late.inc()
        for change in handled.changes:
            self._child(metrics.changes, change.family, str(change.old), str(change.new)).inc()
