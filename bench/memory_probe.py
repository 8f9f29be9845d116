"""Child process of the memory scenario: build the state of every customer of a log, report RSS.

`python -m bench.memory_probe worker|worker-compact|offline LOG` prints one JSON line.
- worker: the worker's representation. The `PartitionDriver` with its native `Engine` as the worker
  makes it (`worker_engine`: customers kept as their stored bytes between batches, the deadline
  index) and a `TableStore` over a plain dict of bytes ->
  bytes (what Faust's memory:// store keeps), records fed in batches of 500 with a table write
  after each, as the agent does.
- worker-compact: the same, but each value is stored as an exact-size copy (diagnostic).
- offline: `Backtest`'s representation, the native core's customer states (its stored form,
  state format 2, is measured after RSS is read).
RSS is read from /proc/self/status after imports and rule loading (before) and after the build
and a full garbage collection (after); the log is streamed from disk, never held in memory.
"""

from __future__ import annotations

import gc
import sys
import time

import orjson

from agents.driver import PartitionDriver, worker_engine
from agents.faust_compat.hole_reader import RawRecord
from agents.changelog import TableStore
from bench.common import rss_bytes
from schemas.events import EVENT_TYPES
from stream.backtest import Backtest
from stream.logfile import LogReader
from stream.partitioner import partition_for
from stream.rules.ruleset import load_rules

BATCH = 500


class CompactTable(dict):
    """A dict that stores an exact-size copy of each value (diagnostic form `worker-compact`)."""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, bytes(bytearray(value)))


def build_worker(rules, path: str, compact: bool = False) -> tuple[dict, object, int]:
    table: dict[bytes, bytes] = CompactTable() if compact else {}
    store = TableStore(table, 8)
    topics = {event_type: event_type for event_type in EVENT_TYPES}  # topic named as its type
    driver = PartitionDriver(worker_engine(rules, 8), store, topics, "ticks",
                             highwater=lambda topic, partition: 0, committed=lambda topic, partition: None,
                             live_clock=False, idle_after_s=0)  # every topic caught up: time follows the log
    batch: list[RawRecord] = []
    events = 0
    for line in LogReader([path]):
        doc = orjson.loads(line.raw)
        customer = str(doc["customer_id"])
        batch.append(RawRecord(doc["type"], partition_for(customer, 8), events, customer.encode(), line.raw))
        events += 1
        if len(batch) == BATCH:
            driver.handle(batch)
            store.write(store.take_staged())
            batch = []
    driver.handle(batch)
    driver.engine.refresh()  # every source caught up: release what the watermark held back
    store.stage(*driver.engine.take_writes())
    store.write(store.take_staged())
    return table, driver, events


def main() -> None:
    form, path = sys.argv[1], sys.argv[2]
    rules = load_rules(None)
    gc.collect()
    before = rss_bytes()
    started = time.monotonic()
    if form in ("worker", "worker-compact"):
        table, driver, events = build_worker(rules, path, compact=form == "worker-compact")
        customers = sum(1 for key in table if not key.startswith(b"\x00"))
        state_bytes = sum(len(value) for key, value in table.items() if not key.startswith(b"\x00"))
    else:
        backtest = Backtest(rules, 8, json=False)
        backtest.run(LogReader([path]), lambda changes: None, lambda line, rejection: None)
        backtest.finish("watermark", lambda changes: None)
        events = backtest.totals.events
        customers = backtest.engine.customer_count()
    build_s = time.monotonic() - started
    gc.collect()
    after = rss_bytes()
    if form == "offline":
        state_bytes = sum(len(raw) for _, raw in backtest.engine.export_states())
    print(orjson.dumps({"form": form, "events": events, "customers": customers, "rss_before": before,
                        "rss_after": after, "state_bytes": state_bytes, "build_s": build_s}).decode(), flush=True)


if __name__ == "__main__":
    main()
