"""The batch protocol, step by step: given a batch, the outputs are durable before the state,
the state before the offsets are released, and the background sinks hear last; a failed step is
retried with the same bytes and never leaks into the next batch."""

from __future__ import annotations

import asyncio
import time

import orjson

from agents.changelog import Staged, StateWrites
from agents.checkpoint import Checkpoint, Pipeline
from agents.driver import Handled, PartitionDriver, worker_engine
from agents.faust_compat.hole_reader import RawRecord
from agents.metrics import WorkerMetrics
from stream.partitioner import partition_for
from tests.unit.memory_changelog import MemoryChangelog
from tests.unit.tagspec import INPUT_TOPICS, default_rules, order

TOPICS = INPUT_TOPICS


def customer_in(partition: int) -> str:
    return next(f"c{i}" for i in range(10_000) if partition_for(f"c{i}", 8) == partition)


def order_record(partition: int, offset: int) -> RawRecord:
    """A live order: it applies on arrival."""
    doc = order(customer_in(partition), int(time.time() * 1000) - 1000, id=f"o{partition}-{offset}")
    return RawRecord("orders", partition, offset, doc["customer_id"].encode(), orjson.dumps(doc))


def tick(partition: int) -> RawRecord:
    """The live clock's record: the first one makes a drained partition live."""
    return RawRecord("ticks", partition, 0, None, orjson.dumps({"wall_ms": int(time.time() * 1000)}))


class Journal:
    """Every step's visible effect, in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []


class Outputs:
    name = "publish"

    def __init__(self, journal: Journal, failures: int = 0) -> None:
        self.journal, self.failures, self.published = journal, failures, []

    async def publish(self, handled: Handled) -> None:
        if self.failures:
            self.failures -= 1
            self.journal.steps.append("publish failed")
            raise OSError("broker gone")
        self.published.append(list(handled.changes))
        self.journal.steps.append("published")


class Log(MemoryChangelog):
    def __init__(self, journal: Journal, failures: int = 0) -> None:
        super().__init__()
        self.journal, self.failures, self.batches = journal, failures, []

    async def write(self, staged: Staged) -> None:
        if self.failures:
            self.failures -= 1
            self.journal.steps.append("state failed")
            raise TimeoutError("changelog write not acknowledged")
        self.batches.append(list(staged.records(8)))
        self.journal.steps.append("state written")
        await super().write(staged)


class Profiles:
    def __init__(self, journal: Journal) -> None:
        self.journal, self.offered = journal, []

    def offer(self, customers) -> None:
        self.offered.append([customer_id for customer_id, _ in customers])
        self.journal.steps.append("offered")

    async def run(self) -> None:
        pass


def checkpoint(journal: Journal, outputs: Outputs, log: Log, released: list) -> Checkpoint:
    writes = StateWrites(8)
    driver = PartitionDriver(worker_engine(default_rules(), 8), writes, log.read, TOPICS, "ticks",
                             highwater=lambda topic, partition: 0, committed=lambda topic, partition: 0, live_clock=True,
                             idle_after_s=0)  # every topic drained: live events apply on arrival

    def release(records) -> None:
        released.extend((r.partition, r.offset) for r in records if r.topic == "orders")
        journal.steps.append("released")

    return Checkpoint(driver, writes, log, WorkerMetrics(), release, acknowledged=[outputs], background=[Profiles(journal)])


def test_outputs_then_state_then_offsets_then_background_sinks():
    journal, released = Journal(), []
    log = Log(journal)
    outputs = Outputs(journal)
    cp = checkpoint(journal, outputs, log, released)
    handled = asyncio.run(cp.commit([order_record(0, 0), order_record(3, 0), tick(0), tick(3)]))
    assert journal.steps == ["published", "state written", "released", "offered"]
    assert outputs.published == [handled.changes] and handled.changes, "the changes of the batch"
    assert sorted(released) == [(0, 0), (3, 0)]
    assert sorted(cp.background[0].offered[0]) == sorted([customer_in(0), customer_in(3)])


def test_failed_deliveries_are_retried_with_the_same_bytes_before_anything_is_released():
    journal, released = Journal(), []
    log, outputs = Log(journal, failures=1), Outputs(journal, failures=2)
    cp = checkpoint(journal, outputs, log, released)
    asyncio.run(cp.commit([order_record(1, 0)]))
    assert journal.steps == ["publish failed", "publish failed", "published", "state failed", "state written", "released", "offered"]
    assert cp.metrics.registry.get_sample_value("tagstream_delivery_retries_total", {"what": "publish"}) == 2
    assert cp.metrics.registry.get_sample_value("tagstream_delivery_retries_total", {"what": "state"}) == 1


def test_a_batch_after_a_failed_write_writes_only_its_own_states():
    journal, released = Journal(), []
    log = Log(journal, failures=1)
    cp = checkpoint(journal, Outputs(journal), log, released)
    asyncio.run(cp.commit([order_record(1, 0)]))
    asyncio.run(cp.commit([order_record(4, 0)]))
    first, second = log.batches
    assert {partition for partition, _, _ in first} == {1}
    assert {partition for partition, _, _ in second} == {4}, "nothing of the first batch written again"
    assert customer_in(4).encode() in [key for _, key, _ in second]


def test_records_of_a_partition_revoked_while_it_loads_are_neither_applied_nor_released():
    journal, released = Journal(), []
    log = Log(journal)
    cp = checkpoint(journal, Outputs(journal), log, released)
    read = log.read

    async def revoked_meanwhile(partitions):
        async for partition, stored in read(partitions):
            if partition == 2:
                cp.driver.forget({2})
            yield partition, stored

    cp.driver.read_stored = revoked_meanwhile
    handled = asyncio.run(cp.commit([order_record(2, 0), order_record(5, 0)]))
    assert released == [(5, 0)], "its new owner reads partition 2's record again"
    assert handled.consumed == {"order": 1}


class SlowOutputs(Outputs):
    """Kafka's acknowledgement arrives only when the test says so."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.acknowledge = asyncio.Event()

    async def publish(self, handled: Handled) -> None:
        self.journal.steps.append("publishing")
        await self.acknowledge.wait()
        await super().publish(handled)


def test_the_pipeline_applies_the_next_batch_while_the_previous_one_waits_for_kafka():
    journal, released = Journal(), []
    outputs = SlowOutputs(journal)
    cp = checkpoint(journal, outputs, Log(journal), released)
    pipeline = Pipeline(cp)

    async def scenario() -> None:
        await pipeline.commit([order_record(0, 0)])
        await asyncio.sleep(0)
        second = asyncio.ensure_future(pipeline.commit([order_record(1, 0)]))
        await asyncio.sleep(0.05)
        assert cp.driver.engine.stored_state(customer_in(1)) is not None, "the second batch is applied"
        assert journal.steps == ["publishing"] and not released, "the first one still waits"
        assert not second.done(), "and the second waits for it before its own delivery starts"
        outputs.acknowledge.set()
        await second
        await pipeline.flush()

    asyncio.run(scenario())
    assert journal.steps == ["publishing", "published", "state written", "released", "offered",
                             "publishing", "published", "state written", "released", "offered"]
    assert released == [(0, 0), (1, 0)], "in batch order"


def test_a_pipeline_flush_returns_once_every_applied_batch_is_delivered():
    journal, released = Journal(), []
    outputs = SlowOutputs(journal)
    pipeline = Pipeline(checkpoint(journal, outputs, Log(journal), released))

    async def scenario() -> None:
        await pipeline.commit([order_record(2, 0)])
        asyncio.get_running_loop().call_later(0.05, outputs.acknowledge.set)
        await pipeline.flush()
        assert released == [(2, 0)]
        await pipeline.flush()  # nothing in flight: returns at once

    asyncio.run(scenario())


def test_a_stopping_pipeline_gives_up_on_a_delivery_kafka_does_not_take_and_releases_nothing():
    journal, released = Journal(), []
    outputs = SlowOutputs(journal)  # never acknowledged
    pipeline = Pipeline(checkpoint(journal, outputs, Log(journal), released))

    async def scenario() -> None:
        await pipeline.commit([order_record(3, 0)])
        await pipeline.close(timeout_s=0.05)

    asyncio.run(scenario())
    assert journal.steps == ["publishing"] and released == [], "the batch is read again after the restart"
