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
- the agent reads a hole's records straight from Kafka (`agents/hole_reader.py`), processes them
  before the record that revealed the hole, and acks them through the gate;
- a hole at the end of a partition has no later record to reveal it, so a partition that Kafka
  holds records for but that has delivered nothing for `STALL_AFTER_S` is read the same way
  (found by the clock ticks, which keep coming).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
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
