"""The engine's `StateStore` over a Faust table of raw bytes, written behind the outputs.

Keys are the customer id as raw UTF-8 (the same bytes as the input records' keys), values are
`stream.codec` bytes. Writes are held back (`put` only stages them) until `commit`, which the agent
calls after the batch's tag changes are acknowledged by Kafka: if the worker dies in between, the
events are re-read and re-applied, so every change is published at least once, with the same id
and bytes. Committing the state first would let a crash record an event as applied whose change
was never published.

A few bookkeeping keys start with a NUL byte, which a valid customer id never contains. The table
uses Kafka's key partitioner, so each partition's watermark key is chosen to hash into that
partition: written last, it lands only after the customers it describes.

Decoded states are kept between batches (`cache_size` customers, least recently written out
first), so a customer seen again is not decoded again. The cache only ever holds what the table
holds: a state goes in when its bytes are written to the table, and comes out when the engine
takes it to change it (`get`: it is then staged, and back in only once written), when its
partition is revoked (`forget`: its table entries may then change through another worker's
changelog writes or a recovery), or when it is evicted. A failed write leaves the states it did
not write staged for the retry and out of the cache. Readers (`current`) see committed state
only: the cache or the table's bytes, never a staged state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cache

import orjson

from stream.codec import decode_state, decode_wake, encode_state
from stream.partitioner import partition_for, partition_of_key
from stream.state import CustomerState

META_PREFIX = b"\x00"

Scope = Callable[[int], AbstractContextManager]


@dataclass
class Staged:
    """One batch's writes: customers (in staging order) and per-partition watermarks."""

    customers: list[tuple[str, CustomerState]]
    metas: dict[int, dict]
    generation: int = 0  # the store's count of revocations when the batch began: see `write`


@cache
def meta_key(partition: int, partitions: int) -> bytes:
    """The first `\\x00watermark:<p>:<n>` key that Kafka's partitioner maps to partition p."""
    n = 0
    while True:
        key = META_PREFIX + b"watermark:%d:%d" % (partition, n)
        if partition_of_key(key, partitions) == partition:
            return key
        n += 1


class TableStore:
    def __init__(self, table: MutableMapping[bytes, bytes], partitions: int, cache_size: int = 0) -> None:
        self.table = table
        self.partitions = partitions
        self.cache_size = cache_size
        self._staged: dict[str, CustomerState] = {}
        self._staged_meta: dict[int, dict] = {}
        self._cache: OrderedDict[str, tuple[int, CustomerState]] = OrderedDict()  # customer -> (partition, written state)
        self._generation = 0  # revocations so far
        self._staged_since = 0  # the generation when the staged batch began

    def get(self, customer_id: str) -> CustomerState | None:
        """The state to change (the engine's read): staged, else taken out of the cache, else
        decoded from the table. The caller changes it in place and `put`s it."""
        staged = self._staged.get(customer_id)
        if staged is not None:
            return staged
        cached = self._cache.pop(customer_id, None)
        if cached is not None:
            return cached[1]
        raw = self.table.get(customer_id.encode())
        return None if raw is None else decode_state(customer_id, raw)

    def current(self, customer_id: str) -> CustomerState | None:
        """The committed state, to read only (lookups, Redis re-syncs): what the table holds,
        whatever is staged; do not keep it across an await (the engine may take it)."""
        cached = self._cache.get(customer_id)
        if cached is not None:
            return cached[1]
        raw = self.table.get(customer_id.encode())
        return None if raw is None else decode_state(customer_id, raw)

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions were revoked: drop their cached customers. A batch taken before this is
        written without caching (Faust normally waits for it before revoking, but not always)."""
        gone = set(partitions)
        self._generation += 1
        if gone:
            self._cache = OrderedDict((c, entry) for c, entry in self._cache.items() if entry[0] not in gone)

    @property
    def cached(self) -> int:
        return len(self._cache)

    def put(self, customer_id: str, state: CustomerState) -> None:
        self._staged[customer_id] = state

    def commit(self, scope: Scope = lambda partition: nullcontext()) -> list[tuple[str, CustomerState]]:
        """Write everything staged (see `write`); return the customers written."""
        staged = self.take_staged()
        self.write(staged, scope)
        return staged.customers

    def take_staged(self) -> Staged:
        """Hand over the staged writes and start afresh: a failed write must neither leave stale
        entries for the next batch nor lose these (the caller retries `write` with them)."""
        staged = Staged(list(self._staged.items()), self._staged_meta, self._staged_since)
        self._staged, self._staged_meta, self._staged_since = {}, {}, self._generation
        return staged

    def write(self, staged: Staged, scope: Scope = lambda partition: nullcontext()) -> None:
        """Write the customers, then the watermarks, partition by partition (inside
        `scope(partition)`, which the worker uses to tell Faust's RocksDB store where a write
        belongs). Idempotent: writing the same `staged` twice leaves the same table."""
        grouped: dict[int, list[tuple[str, CustomerState]]] = {}
        for customer_id, state in staged.customers:
            grouped.setdefault(partition_for(customer_id, self.partitions), []).append((customer_id, state))
        cache = self._cache
        caching = self.cache_size > 0 and staged.generation == self._generation
        for partition in sorted(grouped.keys() | staged.metas.keys()):
            with scope(partition):
                for customer_id, state in grouped.get(partition, ()):
                    self.table[customer_id.encode()] = encode_state(state)
                    if caching:
                        cache.pop(customer_id, None)  # most recently written last
                        cache[customer_id] = (partition, state)
                if partition in staged.metas:
                    self.table[meta_key(partition, self.partitions)] = orjson.dumps(staged.metas[partition])
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def items(self) -> Iterator[tuple[str, CustomerState]]:
        for key, raw in list(self.table.items()):
            if not key.startswith(META_PREFIX):
                customer_id = key.decode()
                yield customer_id, self._staged.get(customer_id) or decode_state(customer_id, raw)

    def customer_ids(self) -> list[str]:
        return [key.decode() for key in list(self.table.keys()) if not key.startswith(META_PREFIX)]

    def wakes_by_partition(self, wanted: set[int]) -> dict[int, list[tuple[str, int | None]]]:
        """Each customer of the wanted partitions with its wake time (`CustomerState.wake_time`),
        in one pass over the table: what a restart needs to index its partitions, without
        decoding a million whole states."""
        grouped: dict[int, list[tuple[str, int | None]]] = {p: [] for p in wanted}
        for key, raw in list(self.table.items()):
            if key.startswith(META_PREFIX):
                continue
            partition = partition_of_key(key, self.partitions)
            if partition in grouped:
                customer_id = key.decode()
                staged = self._staged.get(customer_id)
                grouped[partition].append((customer_id, staged.wake_time() if staged else decode_wake(customer_id, raw)))
        return grouped

    def load_meta(self, partition: int) -> dict:
        if partition in self._staged_meta:
            return self._staged_meta[partition]
        raw = self.table.get(meta_key(partition, self.partitions))
        return {} if raw is None else orjson.loads(raw)

    def save_meta(self, partition: int, meta: dict) -> None:
        self._staged_meta[partition] = meta
