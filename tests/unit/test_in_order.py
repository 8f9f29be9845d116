"""What the agent hands the checkpoint: records of owned partitions in offset order; a record of a
partition revoked while it waited in Faust's take buffer is dropped, unprocessed and unacked, and
does not move the offset guard (its new owner reads it from the committed offset)."""

from __future__ import annotations

import asyncio

from agents.faust_compat.hole_reader import RawRecord
from agents.faust_compat.in_order import InOrder
from agents.faust_compat.offsets import OffsetGuard, Verdict
from agents.metrics import WorkerMetrics


def intake(owned: set[int]) -> InOrder:
    guard = OffsetGuard(committed=lambda topic, partition: 0)
    return InOrder(guard, {"bootstrap_servers": "unused:9092"}, ["orders"], "ticks", highwater=lambda topic, partition: None,
                   quiet_for=lambda topic, partition: 0.0, owned=lambda: owned, metrics=WorkerMetrics())


def test_records_of_a_partition_no_longer_owned_are_dropped_and_leave_the_guard_alone():
    stream = intake(owned={0})
    batch = [RawRecord("orders", 0, 0, b"c1", b"{}"), RawRecord("orders", 2, 0, b"c2", b"{}"), RawRecord("ticks", 2, 5, None, b"{}")]
    records, repeats = asyncio.run(stream.records(batch))
    assert [(r.topic, r.partition, r.offset) for r in records] == [("orders", 0, 0)]
    assert repeats == []
    assert stream.guard.check("orders", 2, 0) == (Verdict.NEXT, 0), "partition 2 still starts at its committed offset"


def test_a_repeat_of_an_owned_partition_is_handed_back_to_be_acked():
    stream = intake(owned={0})
    first = RawRecord("orders", 0, 0, b"c1", b"{}")
    asyncio.run(stream.records([first]))
    records, repeats = asyncio.run(stream.records([first]))
    assert records == [] and repeats == [first]
