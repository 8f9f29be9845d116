"""Fetched records go to the worker a fetch at a time, not one by one through Faust's stream.

Why: Faust turns every fetched record into a `Message`, an `Event`, a conductor callback and a
turn of the stream iterator; on the bench machine that caps an agent doing nothing at ~19k
records/s (~6k stock; ~19k with per-record patches tried in stop 23), while a raw aiokafka consumer reads the
same topics at ~200k/s (bench/faust_ceiling.py). The worker needs only what aiokafka already
hands over (topic, partition, offset, key, value), in batches. So this replaces the fetcher's
drain loop (`Consumer._drain_messages`): each fetch's records go, as aiokafka made them, into a
bounded queue the worker takes batches from, and the worker acks a batch's offsets in one step
once it is processed. Faust still runs everything else: the group, rebalances, flow control, the
seeks to committed offsets, offset commits, timers and the web server.

Semantics kept from the drain loop it replaces: nothing is handed over while flow control is off
(a fetch that returns then is dropped and the partitions seek back to their committed offsets, as
Faust's `getmany` does); a full queue holds the fetcher, and a rebalance (`suspend_flow`) breaks
that wait; gaps in a partition's offsets (transaction markers, compaction) are registered so the
commit can pass them; the commit every `broker_commit_every` acks. Records handed over and not
yet processed when a partition is revoked are dropped by the worker (agents/faust_compat/in_order.py),
and their offsets are never acked: the next owner reads them from the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from faust.types import TP

logger = logging.getLogger(__name__)

OnFetched = Callable[[TP, list, "int | None"], None]  # (partition, its records, high-water mark)
MAX_FETCHES = 64  # partition fetches waiting in the queue, each at most max_partition_fetch_bytes (1 MiB)


@dataclass(frozen=True)
class Fetched:
    """One fetch's records (aiokafka `ConsumerRecord`s, in partition order) and when it arrived."""

    records: list[Any]
    arrived: float  # time.monotonic()

    def split(self, n: int) -> tuple[Fetched, Fetched | None]:
        """The first n records, and the rest (None if nothing is left)."""
        if len(self.records) <= n:
            return self, None
        return Fetched(self.records[:n], self.arrived), Fetched(self.records[n:], self.arrived)


class BatchIntake:
    """Installs itself as the consumer's drain loop; `batches()` yields lists of records."""

    def __init__(self, consumer: Any, topics: Collection[str], on_fetched: OnFetched | None = None,
                 max_fetches: int = MAX_FETCHES) -> None:
        self.consumer = consumer
        self.on_fetched = on_fetched
        self.topics = set(topics)
        self.queue: asyncio.Queue[Fetched] = asyncio.Queue(max_fetches)
        self.held: Fetched | None = None  # the rest of a fetch split between two batches
        consumer._drain_messages = self._drain

    async def batches(self, size: int, within: float) -> AsyncIterator[list[Fetched]]:
        """Up to `size` records; a batch ends when it is full or when the current window of
        `within` seconds closes (windows run back to back from the end of the previous batch,
        as in Faust's `take_events`, so under light traffic a record waits about half a window).
        A fetch larger than what is left is split."""
        window_start = time.monotonic()
        while True:
            first = await self._first(size)
            taken = [first]
            count = len(first.records)
            windows_passed = (time.monotonic() - window_start) // within if within > 0 else 0
            deadline = window_start + within * (windows_passed + 1)
            while count < size:
                fetched = await self._next(deadline, size - count)
                if fetched is None:
                    break
                taken.append(fetched)
                count += len(fetched.records)
            yield taken
            window_start = time.monotonic()

    async def _first(self, at_most: int) -> Fetched:
        """The next fetch (or its first `at_most` records), however long it takes to come."""
        held, self.held = self.held, None
        fetched, self.held = (held or await self.queue.get()).split(at_most)
        return fetched

    async def _next(self, deadline: float, at_most: int) -> Fetched | None:
        """The next fetch (or its first `at_most` records), None once `deadline` has passed."""
        held, self.held = self.held, None
        if held is None:
            if not self.queue.empty():
                held = await self.queue.get()
            else:
                try:
                    held = await asyncio.wait_for(self.queue.get(), deadline - time.monotonic())
                except TimeoutError:
                    return None
        fetched, self.held = held.split(at_most)
        return fetched

    def ack(self, records: Sequence[Any]) -> None:
        """Mark these processed records as committable, as Faust's per-message `ack` would."""
        consumer = self.consumer
        by_tp: dict[TP, list[int]] = defaultdict(list)
        for record in records:
            by_tp[TP(record.topic, record.partition)].append(record.offset)
        for tp, offsets in by_tp.items():
            committed = consumer._committed_offset[tp]
            index = consumer._acked_index[tp]
            new = [o for o in offsets if (committed is None or o >= committed) and o not in index]
            index.update(new)
            consumer._acked[tp].extend(new)
            consumer._n_acked += len(new)

    def forget(self, revoked: Collection[TP]) -> None:
        """At a revocation, once the batch under way is done: drop what waits in the queue (the
        partitions kept are read again from their committed offsets after the rebalance) and the
        acks of revoked partitions that came after Faust cleared its own (stale acks would hold
        the partition's commits back if it came back to this worker)."""
        self.held = None
        while not self.queue.empty():
            self.queue.get_nowait()
        for tp in revoked:
            self.consumer._acked.pop(tp, None)
            self.consumer._acked_index.pop(tp, None)

    async def _drain(self, fetcher: Any) -> None:
        consumer = self.consumer
        try:
            while not (consumer._stopped.is_set() or fetcher._stopped.is_set()):
                await self._drain_one()
        except consumer.consumer_stopped_errors:
            if consumer.transport.app.should_stop:
                logger.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if consumer.transport.app.should_stop:
                return
            raise

    async def _drain_one(self) -> None:
        consumer = self.consumer
        records, active = await consumer._wait_next_records(1.0)
        await asyncio.sleep(0)  # a fetch can return at once, again and again: let the loop run
        if not records or consumer.should_stop:
            return
        if not consumer.flow_active:
            await consumer.perform_seek()  # dropped: read again from the committed offsets
            return
        for tp, fetched in records.items():
            if tp.topic not in self.topics or (active is not None and tp not in active) or not fetched:
                continue
            await self._register_gaps(tp, fetched)
            if self.on_fetched is not None:
                self.on_fetched(tp, fetched, consumer.highwater(tp))
            await consumer.wait_first(self.queue.put(Fetched(fetched, time.monotonic())), consumer.suspend_flow.wait())
            if not consumer.flow_active:
                return  # a rebalance began: what this fetch still holds is read again after it
        commit_every = consumer._commit_every
        if commit_every is not None and consumer._n_acked >= commit_every:
            consumer._n_acked = 0
            await consumer.commit()

    async def _register_gaps(self, tp: TP, fetched: list[Any]) -> None:
        """Offsets Kafka skips (transaction markers, compaction) must not hold the commit back."""
        consumer = self.consumer
        previous = consumer._read_offset[tp]
        first, last = fetched[0].offset, fetched[-1].offset
        if last - first == len(fetched) - 1 and (previous is None or first == previous + 1):
            consumer._read_offset[tp] = last  # consecutive: nothing to register
            return
        for record in fetched:
            if previous is not None and record.offset > previous + 1:
                await consumer._add_gap(tp, previous + 1, record.offset)
            previous = record.offset if previous is None else max(previous, record.offset)
        consumer._read_offset[tp] = previous
