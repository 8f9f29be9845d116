"""One batch of input records, from the records to their released offsets, in the order on which
the worker's guarantee rests (README, Guarantees: at least once, byte-identical duplicates):

1. load any partition the batch needs from the changelog (the first batch after an assignment);
2. run the batch through the engine (`PartitionDriver`; in the worker on the engine's own
   thread, agents/engine_thread.py): tag changes, dead letters and the states it changed, all
   already bytes;
3. publish the outputs through every acknowledged sink (Kafka: changes and dead letters) and
   wait until Kafka has them;
4. write the changed states to the changelog and wait until Kafka has them;
5. release the batch's input offsets for commit;
6. hand the written customers to every background sink (Redis), which never holds the stream.

A crash anywhere before 5 re-reads the batch from the last commit and re-applies it to the last
written state, producing the same bytes again; after 5 the batch is done. Steps 3 and 4 are
retried until Kafka takes them (agents/retry.py): the engine has already applied the events, so
neither dropping the outputs nor re-running the events is an option.

In the worker, `Pipeline` overlaps one batch's steps 3-6 with the next batch's steps 1-2.

A sink is one module implementing one of the two protocols below; the Faust agent only feeds
batches in (agents/app.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

from agents.changelog import Staged, StateWrites
from agents.driver import EngineResults, Handled, PartitionDriver, Record
from agents.metrics import WorkerMetrics
from agents.retry import until_delivered

T = TypeVar("T")


class AcknowledgedSink(Protocol):
    """Outputs that must be durable before the state that produced them is written."""

    name: str  # the `what` label of `tagstream_delivery_retries_total`

    async def publish(self, handled: Handled) -> None:
        """Return once every output of the batch is durable; raise otherwise. Called again with
        the same batch after a failure, so a re-sent output must be byte-identical."""


class BackgroundSink(Protocol):
    """A copy of customers' current state kept elsewhere, written when it suits the sink."""

    def offer(self, customers: Iterable[tuple[str, bytes]]) -> None:
        """Customers (id, stored state bytes) whose state the batch wrote; must not block."""

    def erase(self, customer_ids: Iterable[str]) -> None:
        """Customers the batch erased on request (before anything `offer`ed with the same
        batch: one erased and back again is offered after); must not block."""

    async def run(self) -> None:
        """Write what was offered, forever (a worker task)."""


class StateLog(Protocol):
    async def write(self, staged: Staged) -> None:
        """Return once the batch's states are durable; raise otherwise. Idempotent."""


async def run_inline(work: Callable[[], T]) -> T:
    return work()


@dataclass
class Applied:
    """A batch the engine has applied (steps 1 and 2), to be delivered."""

    records: Sequence[Record]
    handled: Handled
    staged: Staged


@dataclass
class Checkpoint:
    driver: PartitionDriver
    writes: StateWrites  # what the driver staged
    changelog: StateLog
    metrics: WorkerMetrics
    release: Callable[[Sequence[Record]], None]  # the input records' offsets may now be committed
    acknowledged: list[AcknowledgedSink] = field(default_factory=list)
    background: list[BackgroundSink] = field(default_factory=list)
    # where the engine's calls run (the worker: `EngineThread.run`, off the event loop)
    run_engine: Callable[[Callable[[], EngineResults]], Awaitable[EngineResults]] = run_inline

    async def commit(self, records: Sequence[Record]) -> Handled:
        """Take one batch through every step (module docstring)."""
        applied = await self.apply(records)
        await self.deliver(applied)
        return applied.handled

    async def apply(self, records: Sequence[Record]) -> Applied:
        """Steps 1 and 2. Records of a partition revoked meanwhile are left alone and not
        released: its new owner reads them again."""
        await self.driver.load({record.partition for record in records})
        records = [record for record in records if record.partition in self.driver.loaded]
        batch = self.driver.prepare(records)
        handled = self.driver.settle(batch, await self.run_engine(batch.run))
        self.metrics.count(handled)
        return Applied(records, handled, self.writes.take())

    async def deliver(self, applied: Applied) -> None:
        """Steps 3 to 6."""
        for sink in self.acknowledged:
            await until_delivered(sink.name, partial(sink.publish, applied.handled), self.metrics.delivery_retries)
        await until_delivered("state", lambda: self.changelog.write(applied.staged), self.metrics.delivery_retries)
        self.release(applied.records)
        erased, written = applied.staged.erased_customers(), applied.staged.written_customers()
        for background in self.background:
            if erased:
                background.erase(erased)
            background.offer(written)


class Pipeline:
    """Batches through a checkpoint with one delivery in flight: while batch N waits for Kafka
    (steps 3-6), batch N+1 is applied (the engine on its thread). Deliveries stay in batch
    order, so states are written and offsets released in the order of the batches, and a crash
    costs what it costs without the overlap: the batches not yet released are read again."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self._delivering: asyncio.Future[None] | None = None

    async def commit(self, records: Sequence[Record]) -> Handled:
        """Apply the batch, wait for the previous batch's delivery, start this one's."""
        applied = await self.checkpoint.apply(records)
        await self.flush()
        self._delivering = asyncio.ensure_future(self.checkpoint.deliver(applied))
        return applied.handled

    async def flush(self) -> None:
        """Return once every applied batch is delivered (before partitions are revoked, and
        when the agent stops). A failed delivery raises here."""
        if self._delivering is None:
            return
        try:
            await asyncio.shield(self._delivering)
        finally:
            if self._delivering.done():
                self._delivering = None

    async def close(self, timeout_s: float) -> None:
        """The agent stops: the delivery in flight gets `timeout_s` to finish and is cancelled
        after that (Kafka unreachable): its batch's offsets were not released, so it is read again."""
        if self._delivering is None:
            return
        delivering, self._delivering = self._delivering, None
        done, _ = await asyncio.wait({delivering}, timeout=timeout_s)
        if not done:
            delivering.cancel()
