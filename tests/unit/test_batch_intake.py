"""The batch intake (agents/faust_compat/batch_intake.py), given what Faust's fetcher returns: which
records reach the worker and in which batches, what a batch's ack records for Faust's commit, and
what a rebalance throws away. Through the real broker: the fault suite (tests/faults/)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from faust.types import TP

from agents.faust_compat.batch_intake import BatchIntake, Fetched

ORDERS0 = TP("orders", 0)


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int


def recs(tp: TP, *offsets: int) -> list[Rec]:
    return [Rec(tp.topic, tp.partition, o) for o in offsets]


class Consumer:
    """Faust's consumer as the intake sees it: fetches to hand out, flow control, ack bookkeeping."""

    def __init__(self, fetches: list[dict], flow_active: bool = True) -> None:
        self.fetches = fetches
        self.flow_active = flow_active
        self.suspend_flow = asyncio.Event()
        self.seeks = 0
        self.gaps: list[tuple[TP, int, int]] = []
        self._committed_offset: dict = defaultdict(lambda: None)
        self._acked: dict = defaultdict(list)
        self._acked_index: dict = defaultdict(set)
        self._read_offset: dict = defaultdict(lambda: None)
        self._n_acked = 0
        self._commit_every = None
        self.should_stop = False

    async def _wait_next_records(self, timeout: float):
        return (self.fetches.pop(0) if self.fetches else {}), None

    async def perform_seek(self) -> None:
        self.seeks += 1

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))

    def highwater(self, tp: TP) -> int:
        return 100

    async def wait_first(self, *coros):
        done, pending = await asyncio.wait([asyncio.ensure_future(c) for c in coros], return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


def offsets(batch: list[Fetched]) -> list[int]:
    return [r.offset for fetched in batch for r in fetched.records]


def test_a_batch_holds_up_to_its_size_and_a_larger_fetch_is_split_between_batches():
    async def scenario():
        intake = BatchIntake(Consumer([]), {"orders"})
        for fetch in (recs(ORDERS0, 0, 1, 2), recs(ORDERS0, *range(3, 10)), recs(ORDERS0, 10)):
            intake.queue.put_nowait(Fetched(fetch, 0.0))
        batches = intake.batches(4, within=0.05)
        return [offsets(await anext(batches)) for _ in range(3)]

    assert asyncio.run(scenario()) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]


def test_a_batch_waits_at_most_its_wait_for_more_records():
    async def scenario():
        intake = BatchIntake(Consumer([]), {"orders"})
        intake.queue.put_nowait(Fetched(recs(ORDERS0, 0), 0.0))
        return offsets(await asyncio.wait_for(anext(intake.batches(500, within=0.05)), 1))

    assert asyncio.run(scenario()) == [0]


def test_a_fetch_goes_to_the_queue_with_its_gaps_registered_and_its_fetch_counted():
    async def scenario():
        seen = []
        consumer = Consumer([{ORDERS0: recs(ORDERS0, 5, 6, 9), TP("other", 0): recs(TP("other", 0), 1)}])
        intake = BatchIntake(consumer, {"orders"}, on_fetched=lambda tp, records, high: seen.append((tp, len(records), high)))
        await intake._drain_one()
        return consumer, intake, seen

    consumer, intake, seen = asyncio.run(scenario())
    assert offsets([intake.queue.get_nowait()]) == [5, 6, 9]
    assert intake.queue.empty(), "topics not handed to the intake are not queued"
    assert consumer.gaps == [(ORDERS0, 7, 9)], "offsets 7-8 (say, transaction markers) never come: the commit may pass them"
    assert consumer._read_offset[ORDERS0] == 9
    assert seen == [(ORDERS0, 3, 100)]


def test_records_fetched_while_flow_control_is_off_are_dropped_and_read_again():
    async def scenario():
        consumer = Consumer([{ORDERS0: recs(ORDERS0, 0, 1)}], flow_active=False)
        intake = BatchIntake(consumer, {"orders"})
        await intake._drain_one()
        return consumer, intake

    consumer, intake = asyncio.run(scenario())
    assert intake.queue.empty() and consumer.seeks == 1, "sought back to the committed offsets"


def test_a_rebalance_breaks_the_wait_for_room_in_a_full_queue():
    async def scenario():
        consumer = Consumer([{ORDERS0: recs(ORDERS0, 1)}])
        intake = BatchIntake(consumer, {"orders"}, max_fetches=1)
        intake.queue.put_nowait(Fetched(recs(ORDERS0, 0), 0.0))
        draining = asyncio.ensure_future(intake._drain_one())
        await asyncio.sleep(0.05)
        waiting = not draining.done()
        consumer.flow_active = False
        consumer.suspend_flow.set()
        await asyncio.wait_for(draining, 1)
        return waiting, intake.queue.qsize()

    assert asyncio.run(scenario()) == (True, 1), "held while the queue was full; let go by the rebalance"


def test_an_ack_records_each_processed_offset_once_and_none_below_the_committed_offset():
    consumer = Consumer([])
    consumer._committed_offset[ORDERS0] = 3
    intake = BatchIntake(consumer, {"orders"})
    intake.ack(recs(ORDERS0, 2, 3, 4))
    intake.ack(recs(ORDERS0, 4, 5))
    assert consumer._acked[ORDERS0] == [3, 4, 5]
    assert consumer._n_acked == 3


def test_a_revocation_drops_what_waits_and_the_revoked_partitions_acks():
    consumer = Consumer([])
    intake = BatchIntake(consumer, {"orders"})
    intake.queue.put_nowait(Fetched(recs(ORDERS0, 7), 0.0))
    intake.held = Fetched(recs(ORDERS0, 6), 0.0)
    intake.ack(recs(ORDERS0, 5))
    intake.ack(recs(TP("orders", 1), 5))
    intake.forget({ORDERS0})
    assert intake.queue.empty() and intake.held is None, "read again from the committed offsets after the rebalance"
    assert ORDERS0 not in consumer._acked and consumer._acked[TP("orders", 1)] == [5]


def test_windows_run_back_to_back_so_a_record_arriving_late_in_one_waits_only_for_its_end():
    async def scenario():
        intake = BatchIntake(Consumer([]), {"orders"})
        batches = intake.batches(500, within=0.2)
        taking = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.15)  # three quarters into the first window
        arrived = asyncio.get_running_loop().time()
        intake.queue.put_nowait(Fetched(recs(ORDERS0, 0), 0.0))
        batch = await asyncio.wait_for(taking, 1)
        return offsets(batch), asyncio.get_running_loop().time() - arrived

    taken, waited = asyncio.run(scenario())
    assert taken == [0]
    assert waited < 0.15, f"waited {waited:.3f}s: the window closes 0.05 s after it came, not 0.2 s"
