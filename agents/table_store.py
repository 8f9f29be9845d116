"""The engine's `StateStore` over a Faust table of raw bytes.

Keys are the customer id as raw UTF-8 (the same bytes as the input records' keys), values are
`stream.codec` bytes. A few bookkeeping keys start with a NUL byte, which a valid customer id
never contains, so they can share the table (and its changelog) without colliding.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import orjson

from stream.codec import decode_state, encode_state
from stream.partitioner import partition_for
from stream.state import CustomerState

META_PREFIX = b"\x00"


class TableStore:
    def __init__(self, table: MutableMapping[bytes, bytes], partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        self._written: dict[str, CustomerState] = {}

    def get(self, customer_id: str) -> CustomerState | None:
        raw = self.table.get(customer_id.encode())
        return None if raw is None else decode_state(customer_id, raw)

    def put(self, customer_id: str, state: CustomerState) -> None:
        self.table[customer_id.encode()] = encode_state(state)
        self._written[customer_id] = state

    def drain_written(self) -> list[tuple[str, CustomerState]]:
        """Customers written since the last call, each once with its latest state."""
        written, self._written = list(self._written.items()), {}
        return written

    def items(self) -> Iterator[tuple[str, CustomerState]]:
        for key, raw in list(self.table.items()):
            if not key.startswith(META_PREFIX):
                customer_id = key.decode()
                yield customer_id, decode_state(customer_id, raw)

    def by_partition(self, wanted: set[int]) -> dict[int, list[tuple[str, CustomerState]]]:
        """One pass over the table, grouped by the partition each customer belongs to."""
        grouped: dict[int, list[tuple[str, CustomerState]]] = {p: [] for p in wanted}
        for customer_id, state in self.items():
            partition = partition_for(customer_id, self.partitions)
            if partition in grouped:
                grouped[partition].append((customer_id, state))
        return grouped

    def load_meta(self, partition: int) -> dict:
        raw = self.table.get(META_PREFIX + b"watermark:%d" % partition)
        return {} if raw is None else orjson.loads(raw)

    def save_meta(self, partition: int, meta: dict) -> None:
        self.table[META_PREFIX + b"watermark:%d" % partition] = orjson.dumps(meta)
