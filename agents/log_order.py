"""How `backtest`, `whatif` and `replay` read logs: in event-time order (stream.timeorder), with
the same options, the same validation and the same progress for all three, and with the worker's
bound on future event times (`--max-future`, TAGSTREAM_MAX_FUTURE), so a line the worker would
dead-letter as `future_ts` is a bad line offline too.

A run has two passes: the sort pass (its own `sorting:` progress line, by bytes read) and the main
pass over the sorted lines (by lines, now that their number is known). With `--presorted` there is
one pass, measured by bytes read as before.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from agents.progress import Progress
from config.settings import load_settings
from schemas.events import future_bound
from stream.logfile import LogLine, LogReader, blocks_of
from stream.timeorder import Cutoff, Decode, OnReject, SortedLog, event_times, presorted, time_ordered
from stream.timeutil import parse_duration

DEFAULT_SORT_MEMORY = "512M"
PROGRESS_EVERY = 4096  # lines between progress updates of the main pass
ORDER_NOTE = """Logs are processed in event-time order, stable by (ts, line number), not in file
order: a sort pass reads them first (bounded memory, spilling sorted runs to temporary files under
$TMPDIR), so the result is the same for a log sorted by customer, by time or not at all."""

_SIZE = re.compile(r"(\d+)([KMG])", re.IGNORECASE)
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}

Status = Callable[[], tuple[int, str]]  # (count to show, extra text) for a progress line


def add_order_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--presorted",
        action="store_true",
        help="the log is already in event-time order: skip the sort pass, fail on the first line that is not",
    )
    parser.add_argument(
        "--sort-memory",
        default=DEFAULT_SORT_MEMORY,
        metavar="SIZE",
        help=f"memory for the sort pass before it spills to temporary files, like 256M or 2G (default {DEFAULT_SORT_MEMORY})",
    )
    parser.add_argument(
        "--max-future",
        metavar="DURATION",
        help="how far ahead of the wall clock an event's time may be, like 5m or 400d (default: TAGSTREAM_MAX_FUTURE, "
        "5m); later events are bad lines (future_ts), as the worker dead-letters them. Raise it for future-dated "
        "synthetic history",
    )


@dataclass(frozen=True)
class LogOrder:
    presorted: bool
    memory_bytes: int
    latest_ms: int  # the newest event time accepted: the wall clock at the start plus --max-future
    until: int | None = None  # `backtest --until`: events at or after it are left out

    @classmethod
    def from_args(cls, args: argparse.Namespace, until: int | None = None) -> LogOrder:
        """Raises ValueError with a one-line message, for the command to print before any work starts."""
        try:
            max_future_ms = parse_duration(args.max_future) if args.max_future else load_settings().max_future_ms
        except ValueError as error:
            raise ValueError(f"--max-future: {error}") from None
        return cls(args.presorted, parse_size(args.sort_memory), future_bound(int(time.time() * 1000), max_future_ms), until)

    @property
    def _decode(self) -> Decode:
        """The native decoder with the future bound; with `until` at or before it, no bound: what
        the bound would reject the cutoff leaves out, as a log cut there would not hold it."""
        unbounded = self.until is not None and self.until <= self.latest_ms
        return partial(event_times, latest_ms=None if unbounded else self.latest_ms)

    def check_presorted(self, reader: LogReader) -> None:
        """Read a log declared presorted once, without using it: raises `OutOfOrder` before
        `replay` sends anything, since records in Kafka cannot be taken back."""
        for _ in presorted(reader, lambda line, rejection: None, decode=self._decode):
            pass

    @contextmanager
    def open(self, reader: LogReader, on_reject: OnReject, label: str) -> Iterator[OrderedLines]:
        """The reader's valid lines in time order (before `until`, when set); bad lines go to
        `on_reject` as they are read."""
        decode = self._decode
        cutoff = Cutoff(self.until) if self.until is not None else None
        if self.presorted:
            lines = presorted(reader, on_reject, decode=decode, cutoff=cutoff)
            yield OrderedLines(lines, label, reader.total_bytes, lambda yielded: reader.bytes_read, cutoff)
            return
        progress = Progress("sorting", total=reader.total_bytes, stream=sys.stderr)

        def update(lines_read: int) -> None:
            progress.update(lines_read, reader.bytes_read)

        with time_ordered(reader, on_reject, decode=decode, memory_bytes=self.memory_bytes, on_progress=update,
                          cutoff=cutoff) as ordered:
            runs = f"{ordered.spilled_runs:,} runs spilled" if ordered.spilled_runs else "in memory"
            progress.finish(ordered.lines_read, extra=f"{ordered.count:,} events, {runs}")
            yield OrderedLines(ordered, label, ordered.count, lambda yielded: yielded, cutoff)


class OrderedLines:
    """Lines to process and the progress line of that pass (created here, after any sort pass, so
    its rate and ETA describe this pass alone)."""

    def __init__(self, lines: Iterable[LogLine], label: str, total: int, position: Callable[[int], int],
                 cutoff: Cutoff | None = None) -> None:
        self._lines = lines
        self._position = position  # lines yielded -> units of `total` done
        self.progress = Progress(label, total=total, stream=sys.stderr)
        self.cutoff = cutoff  # what `until` left out, complete once the lines are consumed

    def blocks_with_progress(self, status: Status) -> Iterator[list[LogLine]]:
        """The lines a block at a time (what the engine takes), updating the progress line after each."""
        blocks = self._lines.blocks() if isinstance(self._lines, SortedLog) else blocks_of(self._lines, PROGRESS_EVERY)
        yielded = 0
        for block in blocks:
            yield block
            yielded += len(block)
            count, extra = status()
            self.progress.update(count, self._position(yielded), extra)

    def with_progress(self, status: Status, every: int = PROGRESS_EVERY) -> Iterator[LogLine]:
        """The lines, updating the progress line every `every` lines (it prints every few seconds)."""
        for yielded, line in enumerate(self._lines, 1):
            yield line
            if yielded % every == 0:
                count, extra = status()
                self.progress.update(count, self._position(yielded), extra)


def parse_size(text: str) -> int:
    """`256M`, `2G`, `64k` -> bytes (powers of 1024)."""
    match = _SIZE.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"--sort-memory: {text!r} is not a size like 256M or 2G")
    return int(match[1]) * _UNITS[match[2].upper()]
