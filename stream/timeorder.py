"""Event logs in event-time order, whatever their file order.

The worker sees each topic partition in the order a log was produced, and its watermark follows
the newest event it has read (an empty topic counts as idle). A log sorted by customer therefore
makes most later customers' events *late* in the worker, while an offline run over the same file
would accept them: the two disagree. The offline tools sort every log by event time first, so
`replay` sends each partition in time order and `backtest`/`whatif` see what the worker will see.

The order is `(ts, line number)`: a total order (line numbers are unique across the logs), so it
is stable (ties keep file order) and the same inputs always give the same sequence.

Logs can be far larger than memory, so this is an external merge sort: lines gather in a chunk up
to a byte budget; a full chunk is sorted and spilled to a temporary run file; at the end the runs
and the last chunk are merged. A log that fits in one chunk never touches disk.

Bad lines are reported (once, in file order) during the sort pass and never yielded; callers get
raw `LogLine`s back and decode them again, which keeps the run files free of pickled objects.
"""

from __future__ import annotations

import heapq
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

from schemas.events import Rejection
from stream import native
from stream.bulk import collector_paused
from stream.logfile import LogLine, blocks_of
from stream.timeutil import format_ts

# Event times of a batch of raw lines, each an epoch-ms int or the Rejection of a bad line.
Decode = Callable[[list[bytes]], list["int | Rejection"]]
# Lines decoded per call, and per block handed on: the native decoder's per-call cost vanishes,
# and a bad line is still reported within a few thousand lines of being read.
BLOCK_LINES = 4096


def event_times(raws: list[bytes], latest_ms: int | None = None) -> list[int | Rejection]:
    """The default `Decode`: the native decoder's checks (`schemas/events.py` rules and messages)."""
    return [ts if isinstance(ts, int) else Rejection(*ts) for ts in native.event_times(raws, latest_ms)]


def decoded_blocks(lines: Iterable[LogLine], decode: Decode) -> Iterator[tuple[list[LogLine], list[int | Rejection]]]:
    """Blocks of lines with the event time (or rejection) of each, decoded a block at a time."""
    for block in blocks_of(lines, BLOCK_LINES):
        yield block, decode([line.raw for line in block])
OnReject = Callable[[LogLine, Rejection], None]
OnProgress = Callable[[int], None]  # lines read so far

DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
# What a buffered line costs besides its raw bytes: the record tuple, its three ints, the bytes
# object's header and the list slot (about 221 bytes measured with tracemalloc on CPython 3.11):
# the budget is real memory.
RECORD_OVERHEAD = 224
PROGRESS_EVERY = 4096  # lines between progress callbacks
MERGE_FAN_IN = 64  # runs of one level merged into one run of the next, to bound open files

# (ts, line number, path index, line in its file, raw): tuples compare by (ts, number), and numbers
# are unique.
Record = tuple[int, int, int, int, bytes]
_HEADER = struct.Struct("<qQIII")  # ts, line number, path index, line in its file, raw length
_READ_BUFFER = 64 * 1024


@dataclass
class Cutoff:
    """`backtest --until`: events at or after `until` (epoch ms) are left out, counted."""

    until: int
    left_out: int = 0

    def keeps(self, ts: int) -> bool:
        if ts < self.until:
            return True
        self.left_out += 1
        return False


class OutOfOrder(Exception):
    """A log declared presorted is not: names the first offending line, both instants and the fix."""

    def __init__(self, line: LogLine, ts: int, previous_ts: int) -> None:
        super().__init__(
            f"{line.where}: event time {format_ts(ts)} is earlier than the previous event's "
            f"{format_ts(previous_ts)}: the log is not in event-time order; drop --presorted to sort it"
        )
        self.line = line


class SortedLog:
    """The outcome of the sort pass: spilled runs plus the last in-memory chunk, merged on iteration
    (once: the chunk is let go of as it is handed on)."""

    def __init__(self, runs: _RunFiles, last_chunk: list[Record], paths: list[str], lines_read: int, count: int) -> None:
        self._runs = runs
        self._last_chunk = last_chunk
        self._paths = paths
        self.lines_read = lines_read  # every line the pass read, rejected ones included
        self.count = count  # valid lines, the ones iteration yields

    @property
    def spilled_runs(self) -> int:
        return len(self._runs.paths)

    def __iter__(self) -> Iterator[LogLine]:
        return chain.from_iterable(self.blocks())

    def blocks(self, size: int = BLOCK_LINES) -> Iterator[list[LogLine]]:
        """The lines in order, `size` at a time (built in bulk: the engine takes them so)."""
        paths = self._paths
        runs = self._runs.readers()
        records = heapq.merge(*runs, _drain(self._last_chunk)) if runs else _drain(self._last_chunk)
        while block := list(islice(records, size)):
            yield [LogLine(paths[index], number, raw, in_file) for _ts, number, index, in_file, raw in block]


@contextmanager
def time_ordered(
    lines: Iterable[LogLine],
    on_reject: OnReject,
    *,
    decode: Decode = event_times,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    on_progress: OnProgress | None = None,
    temp_dir: str | Path | None = None,
    cutoff: Cutoff | None = None,
) -> Iterator[SortedLog]:
    """Read every line (the sort pass), then hand over a `SortedLog` to iterate in (ts, number)
    order, without the events `cutoff` leaves out. Run files live in a private directory under
    `temp_dir` (default: `tempfile`'s, i.e. $TMPDIR or /tmp) that is removed when the block exits,
    also on an error or Ctrl-C."""
    runs = _RunFiles(temp_dir)
    try:
        with collector_paused():
            sorted_log = _sort_pass(lines, on_reject, decode, memory_bytes, on_progress, runs, cutoff)
        yield sorted_log
    finally:
        runs.remove()


def presorted(lines: Iterable[LogLine], on_reject: OnReject, *, decode: Decode = event_times,
              cutoff: Cutoff | None = None) -> Iterator[LogLine]:
    """The valid lines as they come, for logs known to be in time order: no sort pass, no memory,
    and `OutOfOrder` on the first line earlier than the previous valid one (ties are in order).
    A `cutoff`'s events are still read to the end: a log that is not in order (rotated files given
    newest first) must fail, not pass for a short history."""
    previous: int | None = None
    for block, times in decoded_blocks(lines, decode):
        for line, ts in zip(block, times):
            if isinstance(ts, Rejection):
                on_reject(line, ts)
                continue
            if previous is not None and ts < previous:
                raise OutOfOrder(line, ts, previous)
            previous = ts
            if cutoff is None or cutoff.keeps(ts):
                yield line


def _sort_pass(
    lines: Iterable[LogLine],
    on_reject: OnReject,
    decode: Decode,
    memory_bytes: int,
    on_progress: OnProgress | None,
    runs: _RunFiles,
    cutoff: Cutoff | None,
) -> SortedLog:
    path_index: dict[str, int] = {}
    chunk: list[Record] = []
    chunk_bytes = lines_read = count = 0
    for block, times in decoded_blocks(lines, decode):
        if on_progress is not None:
            for done in range(lines_read - lines_read % PROGRESS_EVERY + PROGRESS_EVERY, lines_read + len(block) + 1, PROGRESS_EVERY):
                on_progress(done)
        lines_read += len(block)
        for line, ts in zip(block, times):
            if not isinstance(ts, int):
                on_reject(line, ts)
        records = [(ts, line.number, path_index.setdefault(line.path, len(path_index)), line.line, line.raw)
                   for line, ts in zip(block, times) if isinstance(ts, int) and (cutoff is None or cutoff.keeps(ts))]
        count += len(records)
        size = sum(len(record[4]) for record in records) + RECORD_OVERHEAD * len(records)
        if chunk_bytes + size < memory_bytes:
            chunk += records
            chunk_bytes += size
            continue
        for record in records:  # the budget runs out inside this block: spill at the exact line
            chunk.append(record)
            chunk_bytes += len(record[4]) + RECORD_OVERHEAD
            if chunk_bytes >= memory_bytes:
                chunk.sort()
                runs.spill(chunk)
                chunk, chunk_bytes = [], 0
    chunk.sort()
    return SortedLog(runs, chunk, list(path_index), lines_read, count)


class _RunFiles:
    """Sorted runs on disk in a compact binary form (header, then the raw line). The directory is
    created on the first spill only, so small logs never touch the disk."""

    def __init__(self, parent: str | Path | None) -> None:
        self._parent = parent
        self._directory: tempfile.TemporaryDirectory | None = None
        self._written = 0  # run files ever written: each gets a fresh name
        self._levels: list[list[Path]] = []  # level k holds runs merged from MERGE_FAN_IN runs of level k - 1

    @property
    def paths(self) -> list[Path]:
        return [path for level in self._levels for path in level]

    def spill(self, records: Iterable[Record]) -> None:
        self._add(0, self._write(records))

    def readers(self) -> list[Iterator[Record]]:
        return [_read_run(path) for path in self.paths]

    def remove(self) -> None:
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def _add(self, level: int, path: Path) -> None:
        """A full level is merged into one run of the next, like a merge tree: a record is
        rewritten once per level (log base MERGE_FAN_IN of the run count), never once per merge,
        and the final merge opens fewer than MERGE_FAN_IN files per level."""
        if level == len(self._levels):
            self._levels.append([])
        runs = self._levels[level]
        runs.append(path)
        if len(runs) < MERGE_FAN_IN:
            return
        merged = self._write(heapq.merge(*(_read_run(run) for run in runs)))
        for run in runs:
            run.unlink()
        runs.clear()
        self._add(level + 1, merged)

    def _write(self, records: Iterable[Record]) -> Path:
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix="tagstream-sort-", dir=self._parent)
        path = Path(self._directory.name) / f"run-{self._written}"
        self._written += 1
        pack = _HEADER.pack
        with path.open("wb") as out:
            out.writelines(pack(ts, number, index, in_file, len(raw)) + raw for ts, number, index, in_file, raw in records)
        return path


def _drain(chunk: list[Record]) -> Iterator[Record]:
    """The in-memory chunk in order, letting go of each record as it is handed on: a log that fits
    in memory is processed while its chunk shrinks, instead of holding the whole of it to the end."""
    chunk.reverse()
    while chunk:
        yield chunk.pop()


def _read_run(path: Path) -> Iterator[Record]:
    size, unpack = _HEADER.size, _HEADER.unpack
    with path.open("rb", buffering=_READ_BUFFER) as run:
        while header := run.read(size):
            ts, number, index, in_file, length = unpack(header)
            yield ts, number, index, in_file, run.read(length)
