"""The worker's durable state: a Faust table of raw bytes, written behind the outputs.

The engine (`stream._native.Engine`) holds the live state of the partitions this worker owns;
the table is its changelog-backed copy, read back only when a partition is (re)loaded. Keys are
the customer id as raw UTF-8 (the same bytes as the input records' keys), values the engine's
state bytes (format 2, `native/src/engine/codec.rs`; format-1 JSON written by earlier versions is
still read). Writes are held back (`stage` only collects them) until `write`, which the agent
calls after the batch's tag changes are acknowledged by Kafka: if the worker dies in between, the
events are re-read and re-applied, so every change is published at least once, with the same id
and bytes. Writing the state first would let a crash record an event as applied whose change was
never published.

A few bookkeeping keys start with a NUL byte, which a valid customer id never contains: per
partition, its watermark (written last, after the customers it describes) and the tag tables its
states were written with (written first, before any state that names them). The table uses
Kafka's key partitioner, so each such key is chosen to hash into its partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cache

from stream.partitioner import partition_of_key

META_PREFIX = b"\x00"
TABLES_PREFIX = META_PREFIX + b"tables:"

Scope = Callable[[int], AbstractContextManager]


@dataclass
class Staged:
    """One batch's writes, per partition: tag tables records, customer states, the watermark."""

    tables: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # partition -> (key, JSON)
    customers: dict[int, list[tuple[str, bytes]]] = field(default_factory=dict)
    watermarks: dict[int, bytes] = field(default_factory=dict)

    def written_customers(self) -> list[tuple[str, bytes]]:
        return [entry for partition in sorted(self.customers) for entry in self.customers[partition]]


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


class TableStore:
    def __init__(self, table: MutableMapping[bytes, bytes], partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        self._staged = Staged()
        self._tables_due: dict[int, tuple[bytes, bytes]] = {}

    def current(self, customer_id: str) -> bytes | None:
        """The committed state bytes of a customer (lookups, Redis re-syncs)."""
        return self.table.get(customer_id.encode())

    def customer_ids(self) -> list[str]:
        return [key.decode() for key in list(self.table.keys()) if not key.startswith(META_PREFIX)]

    def load(self, wanted: set[int]) -> tuple[dict[int, list[tuple[str, bytes]]], list[bytes]]:
        """The stored customers of the wanted partitions, and every tag tables record the table
        holds (one per rule pack version and partition), in one pass over the table: after a
        restart every partition is wanted, and a pass per partition would read a million
        customers 8 times."""
        grouped: dict[int, list[tuple[str, bytes]]] = {p: [] for p in wanted}
        tables: list[bytes] = []
        for key, raw in list(self.table.items()):
            if key.startswith(META_PREFIX):
                if key.startswith(TABLES_PREFIX):
                    tables.append(raw)
                continue
            partition = partition_of_key(key, self.partitions)
            if partition in grouped:
                grouped[partition].append((key.decode(), raw))
        return grouped, tables

    def watermark(self, partition: int) -> bytes | None:
        return self.table.get(watermark_key(partition, self.partitions))

    def note_tables(self, partition: int, fingerprint: int, tables_json: bytes) -> None:
        """The partition's states will be written with these tag tables: their record goes out
        with the partition's first write, ahead of any state that names them."""
        self._tables_due[partition] = (tables_key(fingerprint, partition, self.partitions), tables_json)

    def stage(self, states: Iterable[tuple[int, str, bytes]], watermarks: Iterable[tuple[int, bytes]]) -> None:
        """Collect the engine's writes (`Engine.take_writes`) for the next `write`."""
        staged = self._staged
        for partition, customer_id, raw in states:
            staged.customers.setdefault(partition, []).append((customer_id, raw))
        for partition, raw in watermarks:
            staged.watermarks[partition] = raw
        for partition in (staged.customers.keys() | staged.watermarks.keys()) & self._tables_due.keys():
            staged.tables[partition] = self._tables_due.pop(partition)

    def take_staged(self) -> Staged:
        """Hand over the staged writes and start afresh: a failed write must neither leave stale
        entries for the next batch nor lose these (the caller retries `write` with them)."""
        staged, self._staged = self._staged, Staged()
        return staged

    def write(self, staged: Staged, scope: Scope = lambda partition: nullcontext()) -> None:
        """Write partition by partition (inside `scope(partition)`, which the worker uses to tell
        Faust's RocksDB store where a write belongs): tag tables, customers, then the watermark.
        Idempotent: writing the same `staged` twice leaves the same table."""
        table = self.table
        for partition in sorted(staged.tables.keys() | staged.customers.keys() | staged.watermarks.keys()):
            with scope(partition):
                if partition in staged.tables:
                    key, raw = staged.tables[partition]
                    table[key] = raw
                for customer_id, raw in staged.customers.get(partition, ()):
                    table[customer_id.encode()] = raw
                if partition in staged.watermarks:
                    table[watermark_key(partition, self.partitions)] = staged.watermarks[partition]
