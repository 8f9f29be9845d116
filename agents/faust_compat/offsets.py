"""Every input record processed once, in offset order.

Why: a consumer position can move past records the worker never processed, and records it did
process can come again. With the batch intake (batch_intake.py) records of a fetch that a
rebalance interrupts, or that arrive while flow control is off, are dropped and read again from
the committed offset; faust-streaming 0.15.3 itself skipped records at a start or rebalance and
a race between its seek and its fetch loop dropped their re-fetched copies
(tests/faults/test_graceful_restarts.py, which saw the first batch begin at n + 2 after a SIGTERM
restart). So:

- `OffsetGuard` notices a hole (the next record is further on than expected) and a repeat;
- the agent reads a hole's records straight from Kafka (`agents/faust_compat/hole_reader.py`) and
  processes them before the record that revealed it (`in_order.py`);
- a hole at the end of a partition has no later record to reveal it, so a partition that Kafka
  holds records for but that has delivered nothing for `STALL_AFTER_S` is read the same way
  (found by the clock ticks, which keep coming);
- `fetch_only_active` stops the fetcher from draining paused partitions. Faust hands its *live* set
  of active partitions to aiokafka's `fetched_records`, which takes an empty set for "all
  partitions". During a rebalance Faust pauses every partition, so the set is empty for a moment;
  a fetch returning then drains every partition, moving the fetch position past its records
  (the recovery bench: 0 of 8 probes answered, in 2 of 25 starts, when the group was new).

Without a committed offset (a new group) the guard cannot see a loss by itself: the first
record to arrive sets the start.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from faust.types import TP

Key = tuple[str, int]  # (topic, partition)
# Quiet this long with records waiting in Kafka, a partition is read directly. A partition with a
# backlog is delivered every second or so even when the worker is saturated (fetches rotate over
# all partitions); a wrong guess costs only a re-read whose records then arrive as repeats.
STALL_AFTER_S = 10.0
TAIL_READ_MAX = 10_000  # records read per stalled partition and tick


class Verdict(Enum):
    NEXT = "next"  # the expected record
    REPEAT = "repeat"  # already processed: skip it
    HOLE = "hole"  # records between the expected offset and this one never came


@dataclass
class OffsetGuard:
    committed: Callable[[str, int], "int | None"]  # the group's committed offset, if known
    expected: dict[Key, int] = field(default_factory=dict)

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The offset the next record of this partition should have, if known."""
        expected = self.expected.get((topic, partition))
        return self.committed(topic, partition) if expected is None else expected

    def check(self, topic: str, partition: int, offset: int) -> tuple[Verdict, int]:
        """The verdict and the offset that was expected (the start of a hole)."""
        key = (topic, partition)
        expected = self.next_offset(topic, partition)
        if expected is None:
            expected = offset
        if offset < expected:
            return Verdict.REPEAT, expected
        self.expected[key] = offset + 1
        return (Verdict.HOLE if offset > expected else Verdict.NEXT), expected

    def forget(self, partitions: Collection[int]) -> None:
        """Revoked partitions: whoever owns them next starts from the committed offset."""
        for key in [k for k in self.expected if k[1] in partitions]:
            del self.expected[key]


class ActivePartitions:
    """Faust's live set of active partitions as aiokafka's fetcher sees it: membership follows the
    set, but it is never falsy, so an emptied set means "none" rather than "all"."""

    def __init__(self, live: Collection[TP]) -> None:
        self.live = live

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.live

    def __iter__(self) -> Iterator[TP]:
        return iter(list(self.live))

    def __len__(self) -> int:
        return len(self.live)


def fetch_only_active(consumer: Any) -> None:
    """Wraps `consumer._getmany` (the fetcher's call into aiokafka) with `ActivePartitions`."""
    getmany = consumer._getmany

    async def _getmany(active_partitions: Any, timeout: float) -> Any:
        if active_partitions is not None:
            active_partitions = ActivePartitions(active_partitions)
        return await getmany(active_partitions=active_partitions, timeout=timeout)

    consumer._getmany = _getmany
