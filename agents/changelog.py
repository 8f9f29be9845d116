"""The worker's durable state: a compacted Kafka topic of customer states, written in bulk after a
batch's outputs are acknowledged and read back in bulk when the worker takes partitions over.

The engine (`stream._native.Engine`) holds the live state of the partitions this worker owns;
the changelog is its durable copy, read only when a partition is (re)loaded. Keys are the
customer id as raw UTF-8 (the same bytes as the input records' keys), values the engine's state
bytes (format 3, `native/src/engine/codec.rs`; format-1 JSON written by earlier versions is still
read). A partition's states go to the same partition of the changelog, so reading partition p
back gives exactly the customers of input partition p.

Order of a batch (agents/checkpoint.py): its tag changes are acknowledged by Kafka first, then
its states are written here and acknowledged, and only then are its input offsets released for
commit. If the worker dies in between, the events are re-read and re-applied, so every change is
published at least once, with the same id and bytes; writing the state first would let a crash
record an event as applied whose change was never published.

A few bookkeeping keys start with a NUL byte, which a valid customer id never contains: per
partition, its watermark (written last, after the customers it describes) and the tag tables its
states were written with (written first, before any state that names them). Each is chosen so
that Kafka's key partitioner maps it to its partition, as for customers.

Why not a Faust table (what this replaced, under the same topic name, so existing state is read
on upgrade): Faust sends each changelog write through its producer buffer (~100 µs each, the
worker's largest cost after the engine), reads a changelog back one record at a time through its
stream machinery (116 s for a million customers) and keeps a second copy of every state in
memory. Here a batch's writes are a few record batches, recovery reads at the consumer's speed,
and the engine's own state is the only copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.record_batches import BatchProducer, send_in_batches
from stream.partitioner import partition_of_key

META_PREFIX = b"\x00"
TABLES_PREFIX = META_PREFIX + b"tables:"


@cache
def meta_key(name: bytes, partition: int, partitions: int) -> bytes:
    """The first `\\x00<name>:<p>:<n>` key that Kafka's partitioner maps to partition p."""
    n = 0
    while True:
        key = META_PREFIX + b"%s:%d:%d" % (name, partition, n)
        if partition_of_key(key, partitions) == partition:
            return key
        n += 1


def watermark_key(partition: int, partitions: int) -> bytes:
    return meta_key(b"watermark", partition, partitions)


def tables_key(fingerprint: int, partition: int, partitions: int) -> bytes:
    return meta_key(b"tables:%08x" % fingerprint, partition, partitions)


@dataclass
class Staged:
    """One batch's writes, per partition: tag tables records, customer states, the watermark."""

    tables: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # partition -> (key, JSON)
    customers: dict[int, list[tuple[str, bytes]]] = field(default_factory=dict)
    watermarks: dict[int, bytes] = field(default_factory=dict)
    erased: dict[int, list[str]] = field(default_factory=dict)  # partition -> customers erased on request

    def written_customers(self) -> list[tuple[str, bytes]]:
        return [entry for partition in sorted(self.customers) for entry in self.customers[partition]]

    def erased_customers(self) -> list[str]:
        return [customer_id for partition in sorted(self.erased) for customer_id in self.erased[partition]]

    def records(self, partitions: int) -> Iterator[tuple[int, bytes, bytes | None]]:
        """`(partition, key, value)` in the order they must be written: per partition, tag
        tables, erasures (tombstones: compaction removes the customer), customers (one erased and
        back in the same batch is written after its tombstone), then the watermark."""
        for partition in sorted(self.tables.keys() | self.customers.keys() | self.watermarks.keys() | self.erased.keys()):
            if partition in self.tables:
                yield (partition, *self.tables[partition])
            for customer_id in self.erased.get(partition, ()):
                yield partition, customer_id.encode(), None
            for customer_id, raw in self.customers.get(partition, ()):
                yield partition, customer_id.encode(), raw
            if partition in self.watermarks:
                yield partition, watermark_key(partition, partitions), self.watermarks[partition]


class StateWrites:
    """Collects the engine's writes between batches, and remembers which partitions still owe
    their tag tables record."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._staged = Staged()
        self._tables_due: dict[int, tuple[bytes, bytes]] = {}

    def note_tables(self, partition: int, fingerprint: int, tables_json: bytes) -> None:
        """The partition's states will be written with these tag tables: their record goes out
        with the partition's first write, ahead of any state that names them."""
        self._tables_due[partition] = (tables_key(fingerprint, partition, self.partitions), tables_json)

    def stage(self, states: Iterable[tuple[int, str, bytes]], watermarks: Iterable[tuple[int, bytes]]) -> None:
        """Collect the engine's writes (`Engine.take_writes`) for the next `take`."""
        staged = self._staged
        for partition, customer_id, raw in states:
            staged.customers.setdefault(partition, []).append((customer_id, raw))
        for partition, raw in watermarks:
            staged.watermarks[partition] = raw
        for partition in (staged.customers.keys() | staged.watermarks.keys()) & self._tables_due.keys():
            staged.tables[partition] = self._tables_due.pop(partition)

    def stage_erased(self, partition: int, customer_id: str) -> None:
        """A customer erased on request: its changelog key gets a tombstone."""
        self._staged.erased.setdefault(partition, []).append(customer_id)

    def take(self) -> Staged:
        """Hand over the staged writes and start afresh: a failed write must neither leave stale
        entries for the next batch nor lose these (the caller retries with them)."""
        staged, self._staged = self._staged, Staged()
        return staged


@dataclass
class StoredPartition:
    """What the changelog holds for one partition: the latest value of each key."""

    customers: list[tuple[str, bytes]] = field(default_factory=list)
    tables: list[bytes] = field(default_factory=list)  # every tag tables record (one per pack version)
    watermark: bytes | None = None


def fold(records: Iterable[tuple[bytes | None, bytes | None]], partition: int, partitions: int) -> StoredPartition:
    """A partition's records, oldest first, as the state they leave: the latest value of each
    key wins and a tombstone (value None) removes the key, as log compaction would."""
    latest: dict[bytes, bytes | None] = {}
    for key, value in records:
        if key is not None:
            latest[key] = value
    stored = StoredPartition(watermark=latest.pop(watermark_key(partition, partitions), None))
    for key, value in latest.items():
        if value is None:
            continue
        if key.startswith(META_PREFIX):
            if key.startswith(TABLES_PREFIX):
                stored.tables.append(value)
        else:
            stored.customers.append((key.decode(), value))
    return stored


class Changelog:
    """The changelog topic: bulk writes through the worker's producer, bulk reads with a consumer
    of its own (no group: reading never moves anybody's offsets)."""

    def __init__(self, topic: str, partitions: int, connection: dict[str, Any], producer: Callable[[], BatchProducer],
                 ack_timeout_s: float = 30.0) -> None:
        self.topic = topic
        self.partitions = partitions
        self.connection = connection  # Kafka client options (agents/kafka_clients.py)
        self.producer = producer  # the running aiokafka producer (asked each time: it exists only once started)
        self.ack_timeout_s = ack_timeout_s

    async def write(self, staged: Staged) -> None:
        """Send a batch's writes and return once Kafka acknowledged them all; raise otherwise
        (`TimeoutError` included). Idempotent: writing the same `staged` again leaves the same
        latest values."""
        sent = await send_in_batches(self.producer(), self.topic, staged.records(self.partitions))
        if sent:
            await asyncio.wait_for(asyncio.gather(*sent), self.ack_timeout_s)

    async def read(self, partitions: Iterable[int]) -> AsyncIterator[tuple[int, StoredPartition]]:
        """Everything the changelog holds for each partition now, one partition after the other
        (only one partition's records are in memory at a time), each read from its start to the
        end offset it had when the read began. A worker reads a partition only once the group
        assigned it, after the previous owner's last writes (its revocation waits for them)."""
        consumer = AIOKafkaConsumer(
            **self.connection, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
            # An offsets request waits behind the fetch in flight on the connection (its long
            # poll, 500 ms by default): half a second per partition when switching partitions.
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        try:
            wanted = [TopicPartition(self.topic, partition) for partition in partitions]
            ends = await consumer.end_offsets(wanted) if wanted else {}  # one request, before any fetch
            for tp in wanted:
                stored = await self._read_one(consumer, tp, ends[tp]) if ends[tp] else StoredPartition()
                yield tp.partition, stored
        finally:
            await consumer.stop()

    async def _read_one(self, consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> StoredPartition:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records: list[tuple[bytes | None, bytes | None]] = []
        while await consumer.position(tp) < end:
            fetched = await consumer.getmany(tp, timeout_ms=1000, max_records=100_000)
            records += [(record.key, record.value) for record in fetched.get(tp, ()) if record.offset < end]
        return fold(records, tp.partition, self.partitions)
