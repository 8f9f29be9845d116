"""Every input record processed once, in offset order, and acked only once processed.

Why: faust-streaming 0.15.3 acks records it never hands to the agent. While a worker starts (or
rebalances), records fetched before "Seek stream partitions to committed offsets" reach the
stream while flow control is off; the stream skips them and acks them ("otherwise the lag would
increase"), and a race between that seek and the fetch loop drops their re-fetched copies. The
next offset commit then moves past events nobody processed: after a SIGTERM restart the first
batch began at n + 2 on every partition (tests/faults/test_graceful_restarts.py) and those
events were lost for good. So:

- `AckGate` lets Faust ack an input record only when the agent has finished it;
- `OffsetGuard` notices a hole (the next record is further on than expected) and a repeat;
- the agent reads a hole's records straight from Kafka (`agents/faust_compat/hole_reader.py`), processes them
  before the record that revealed the hole, and acks them through the gate;
- a hole at the end of a partition has no later record to reveal it, so a partition that Kafka
  holds records for but that has delivered nothing for `STALL_AFTER_S` is read the same way
  (found by the clock ticks, which keep coming);
- `fetch_only_active` stops the fetcher from draining paused partitions. Faust hands its *live* set
  of active partitions to aiokafka's `fetched_records`, which takes an empty set for "all
  partitions". At the end of table recovery Faust pauses the changelog partitions while the stream
  partitions are still paused, so the set is empty for a moment; a fetch returning then drains
  every partition, moving the fetch position past its records, and Faust drops those of inactive
  partitions. A partition with a committed offset is re-read by the seek to committed offsets
  that follows; one without (a new group) is not: the worker never read the records waiting in
  `orders` when it started (the recovery bench: 0 of 8 probes answered, in 2 of 25 starts);
- `dropped_by_clear` finds the input records a flow-control resume is about to throw away: the
  same recovery resumes the stream partitions and seeks *before* `flow_control.resume()`, which
  clears the stream queues, so records fetched in between are lost while the fetch position has
  moved past them (7 of 8 probes answered, 1 of 30 starts). The agent rewinds the guard to them
  (the next record reveals a hole) and seeks back (so they come again even if none follows).

Without a committed offset (a new group) the guard cannot see either loss by itself: the first
record to arrive sets the start.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
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

    def rewind(self, topic: str, partition: int, offset: int) -> None:
        """Faust dropped this partition's records from `offset` on before the agent saw them:
        expect `offset` next, so a later record reveals them as a hole and their re-fetched
        copies are not taken for repeats."""
        expected = self.next_offset(topic, partition)
        if expected is None or offset < expected:
            self.expected[(topic, partition)] = offset

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


def dropped_by_clear(queues: Iterable[Any], input_topics: Collection[str]) -> dict[Key, int]:
    """(topic, partition) -> lowest offset of the input records waiting in these queues."""
    lowest: dict[Key, int] = {}
    for queue in list(queues):
        for item in list(getattr(queue, "_queue", ())):
            message = getattr(item, "message", None)
            if message is not None and message.topic in input_topics:
                key = (message.topic, message.partition)
                lowest[key] = min(lowest.get(key, message.offset), message.offset)
    return lowest


@dataclass(eq=False)
class Filled:
    """A record the agent read and processed itself; acked through the gate like Faust's own
    messages (the consumer reads `topic`, `tp`, `offset`, `acked`)."""

    topic: str
    partition: int
    offset: int
    acked: bool = False

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


class AckGate:
    """Wraps `consumer.ack` so that an input record is acked only after the agent finished it."""

    def __init__(self, consumer: Any, input_topics: Collection[str]) -> None:
        self.consumer = consumer
        self.input_topics = set(input_topics)
        self.finished: set[tuple[str, int, int]] = set()
        self._ack = consumer.ack
        consumer.ack = self.ack

    def ack(self, message: Any) -> bool:
        if message.topic in self.input_topics:
            key = (message.topic, message.partition, message.offset)
            if key not in self.finished:
                # Faust skipped it (it is processed later, or read as part of a hole). Faust's
                # stop and rebalance wait until every delivered record is acked; this one never
                # will be, so it must not be waited for: no offset commit passes it either way.
                self.consumer._unacked_messages.discard(message)
                return False
            self.finished.discard(key)
        return self._ack(message)

    def finish(self, topic: str, partition: int, offset: int) -> None:
        if topic in self.input_topics:  # other topics are acked freely, so never remembered
            self.finished.add((topic, partition, offset))

    def ack_filled(self, record: Filled) -> None:
        self.finish(record.topic, record.partition, record.offset)
        self.ack(record)

    def forget(self, partitions: Collection[int]) -> None:
        self.finished = {key for key in self.finished if key[1] not in partitions}
