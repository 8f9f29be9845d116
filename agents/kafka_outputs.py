"""The Kafka outputs of a batch: tag changes to the output topic, rejected records to the
dead-letter topic. An acknowledged sink (agents/checkpoint.py): `publish` returns once Kafka has
them all, before the batch's state is written.

Tag changes (about two per event) go out as whole record batches (agents/record_batches.py), each
record keyed by its customer in Kafka's key partition; dead letters are rare and go through the
Faust topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from agents.driver import Dead, Handled
from agents.record_batches import BatchProducer, send_in_batches
from stream.changes import CONTENT_TYPE
from stream.partitioner import partition_of_key

HEADERS = [("content-type", CONTENT_TYPE.encode())]


class Topic(Protocol):
    """Faust's topic as the dead letters use it: `send` returns once the record is queued, with
    what completes when Kafka has it."""

    async def send(self, *, key: bytes | None = None, value: bytes | None = None,
                   headers: list | None = None) -> Awaitable[object]: ...


def dead_letter_headers(dead: Dead) -> list[tuple[str, bytes]]:
    """The original key and bytes stay untouched in the record; why and where go in headers."""
    return [
        ("tagstream.error.reason", dead.reason.encode()),
        ("tagstream.error.message", dead.message.encode(errors="replace")[:1024]),
        ("tagstream.source.topic", dead.topic.encode()),
        ("tagstream.source.partition", str(dead.partition).encode()),
        ("tagstream.source.offset", str(dead.offset).encode()),
    ]


class KafkaOutputs:
    name = "publish"

    def __init__(self, changes_topic: str, dlq: Topic, producer: Callable[[], BatchProducer]) -> None:
        self.changes_topic = changes_topic
        self.dlq = dlq
        self.producer = producer  # the running aiokafka producer (asked each time: it exists only once started)

    async def publish(self, handled: Handled) -> None:
        """Send a batch's dead letters and tag changes and wait until Kafka has them all: only
        then may the state that produced them be written (see agents/changelog.py). Safe to
        call again after a failure: the copies it re-sends are byte-identical."""
        pending: list[Awaitable[object]] = []
        for dead in handled.dead:
            pending.append(await self.dlq.send(key=dead.key, value=dead.value, headers=dead_letter_headers(dead)))
        pending += await self.send_changes(handled.changes)
        if pending:
            await asyncio.gather(*pending)

    async def send_changes(self, changes: list[tuple[bytes, bytes]]) -> list[Awaitable[object]]:
        """Queue the changes (customer id, CloudEvent JSON), in order within each partition;
        return the delivery futures of their record batches."""
        if not changes:
            return []
        producer, topic = self.producer(), self.changes_topic
        partitions = len(await producer.partitions_for(topic))
        return await send_in_batches(producer, topic, self._with_partitions(changes, partitions), HEADERS)

    @staticmethod
    def _with_partitions(changes: list[tuple[bytes, bytes]], partitions: int) -> Iterator[tuple[int, bytes, bytes]]:
        """Each change in its customer's partition (Kafka's default partitioner, as the
        producer's own `send` would place it)."""
        customer, partition = b"", 0
        for key, value in changes:
            if key != customer:  # a customer's changes come together
                customer, partition = key, partition_of_key(key, partitions)
            yield partition, key, value
