"""Reading event logs: canonical JSONL, one event per line, optionally gzip-compressed."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

# Bytes of lines read per block (`readlines` hint): a few thousand typical events.
READ_HINT = 1 << 20


@dataclass(frozen=True, slots=True)
class LogLine:
    path: str
    number: int  # 1-based, counted across all the logs in order, blank lines included: a total order
    raw: bytes
    line: int = 0  # 1-based within its own file, for messages; 0 means the same as `number`

    @property
    def where(self) -> str:
        """`path:line` as an editor opens it (for the second log on, not the running count)."""
        return f"{self.path}:{self.line or self.number}"


class LogReader:
    """Iterates lines of several logs in order and reports how far it got (for progress bars)."""

    def __init__(self, paths: list[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"log file not found: {', '.join(missing)}")
        self.total_bytes = sum(p.stat().st_size for p in self.paths)
        self._done_bytes = 0
        self._current: BinaryIO | None = None

    @property
    def bytes_read(self) -> int:
        """Compressed bytes consumed so far, comparable with `total_bytes`."""
        return self._done_bytes + (self._current.tell() if self._current else 0)

    def __iter__(self) -> Iterator[LogLine]:
        for block in self.blocks():
            yield from block

    def blocks(self) -> Iterator[list[LogLine]]:
        """The same lines, a block at a time (about `READ_HINT` bytes of one file): read, split and
        stripped in bulk, which is most of what reading a log costs per line otherwise."""
        number = 0
        for path in self.paths:
            name = str(path)
            with path.open("rb") as raw:
                self._current = raw
                stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
                in_file = 0
                while chunk := stream.readlines(READ_HINT):
                    stripped = [line.strip() for line in chunk]
                    yield [LogLine(name, number + i, line, in_file + i) for i, line in enumerate(stripped, 1) if line]
                    number += len(chunk)
                    in_file += len(chunk)
            self._done_bytes += path.stat().st_size
            self._current = None


def blocks_of(lines: Iterable[LogLine], size: int) -> Iterator[list[LogLine]]:
    """Lines in lists of `size` (the last one shorter); a `LogReader` hands over its own blocks."""
    if isinstance(lines, LogReader):
        yield from lines.blocks()
        return
    source = iter(lines)
    while block := list(islice(source, size)):
        yield block
