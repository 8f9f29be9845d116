"""Child process of the memory scenario: build the state of every customer of a log, report RSS.

`python -m bench.memory_probe worker|offline LOG` prints one JSON line.
- worker: the worker's representation, which is its engine alone: the `PartitionDriver` with its
  native `Engine` as the worker makes it (`worker_engine`: customers kept as their stored bytes
  between batches, the deadline index), records fed in batches of 500, each batch's state writes
  taken as the checkpoint takes them (they go to Kafka, not into memory).
- offline: `Backtest`'s representation, the native core's customer states (its stored form,
  state format 2, is measured after RSS is read).
RSS is read from /proc/self/status after imports and rule loading (before) and after the build
and a full garbage collection (after); the log is streamed from disk, never held in memory.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator

import orjson

from agents.changelog import StateWrites, StoredPartition
from agents.driver import PartitionDriver, worker_engine
from agents.faust_compat.hole_reader import RawRecord
from bench.common import rss_bytes
from schemas.events import EVENT_TYPES
from stream.backtest import Backtest
from stream.logfile import LogReader
from stream.partitioner import partition_for
from stream.rules.ruleset import load_rules

BATCH = 500


async def _nothing_stored(partitions: list[int]) -> AsyncIterator[tuple[int, StoredPartition]]:
    for partition in partitions:
        yield partition, StoredPartition()


def build_worker(rules, path: str) -> tuple[PartitionDriver, int]:
    writes = StateWrites(8)
    topics = {event_type: event_type for event_type in EVENT_TYPES}  # topic named as its type
    driver = PartitionDriver(worker_engine(rules, 8), writes, _nothing_stored, topics, "ticks",
                             highwater=lambda topic, partition: 0, committed=lambda topic, partition: None,
                             live_clock=False, idle_after_s=0)  # every topic caught up: time follows the log
    asyncio.run(driver.load(set(range(8))))
    batch: list[RawRecord] = []
    events = 0
    for line in LogReader([path]):
        doc = orjson.loads(line.raw)
        customer = str(doc["customer_id"])
        batch.append(RawRecord(doc["type"], partition_for(customer, 8), events, customer.encode(), line.raw))
        events += 1
        if len(batch) == BATCH:
            driver.handle(batch)
            writes.take()
            batch = []
    driver.handle(batch)
    driver.engine.refresh()  # every source caught up: release what the watermark held back
    writes.stage(*driver.engine.take_writes())
    writes.take()
    return driver, events


def main() -> None:
    form, path = sys.argv[1], sys.argv[2]
    rules = load_rules(None)
    gc.collect()
    before = rss_bytes()
    started = time.monotonic()
    if form == "worker":
        driver, events = build_worker(rules, path)
        customers = driver.engine.customer_count()
    else:
        backtest = Backtest(rules, 8, json=False)
        backtest.run(LogReader([path]), lambda changes: None, lambda line, rejection: None)
        backtest.finish("watermark", lambda changes: None)
        events = backtest.totals.events
        customers = backtest.engine.customer_count()
    build_s = time.monotonic() - started
    gc.collect()
    after = rss_bytes()
    if form == "worker":
        engine = driver.engine
        state_bytes = sum(len(engine.stored_state(customer_id)) for customer_id in engine.customer_ids())
    else:
        state_bytes = sum(len(raw) for _, raw in backtest.engine.export_states())
    print(orjson.dumps({"form": form, "events": events, "customers": customers, "rss_before": before,
                        "rss_after": after, "state_bytes": state_bytes, "build_s": build_s}).decode(), flush=True)


if __name__ == "__main__":
    main()
