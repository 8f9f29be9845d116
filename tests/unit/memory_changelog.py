"""The changelog topic in memory, for fast driver specs: each partition an append-only list of
(key, value) records, read back as Kafka log compaction would leave it (`agents.changelog.fold`).
The real topic is exercised by the integration and fault suites."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable

from agents.changelog import Staged, StoredPartition, fold
from stream.partitioner import partition_of_key


class MemoryChangelog:
    def __init__(self, partitions: int = 8, initial: dict[bytes, bytes] | None = None) -> None:
        self.partitions = partitions
        self.logs: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in range(partitions)}
        self.reads: Counter[int] = Counter()
        for key, value in (initial or {}).items():
            self.logs[partition_of_key(key, partitions)].append((key, value))

    async def write(self, staged: Staged) -> None:
        for partition, key, value in staged.records(self.partitions):
            self.logs[partition].append((key, value))

    async def read(self, partitions: Iterable[int]) -> AsyncIterator[tuple[int, StoredPartition]]:
        for partition in partitions:
            self.reads[partition] += 1
            yield partition, fold(self.logs[partition], partition, self.partitions)

    def latest(self, key: bytes) -> bytes | None:
        found = [value for k, value in self.logs[partition_of_key(key, self.partitions)] if k == key]
        return found[-1] if found else None
