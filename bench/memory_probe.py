"""Child process of the memory scenario: build the state of every customer of a log, report RSS.

`python -m bench.memory_probe worker|worker-compact|offline LOG` prints one JSON line.
- worker: the worker's representation. A `TableStore` over a plain dict of bytes -> bytes (what
  Faust's memory:// store keeps), eight `PartitionEngine`s with their deadline index, records fed
  in batches of 500 with a `commit` after each, as the agent does.
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

from bench.common import rss_bytes
from schemas.events import EVENT_TYPES, Event, decode_event
from stream.backtest import Backtest
from stream.engine import PartitionEngine
from stream.logfile import LogReader
from stream.partitioner import partition_for
from stream.rules.ruleset import load_rules

BATCH = 500


class CompactTable(dict):
    """A dict that stores an exact-size copy of each value (diagnostic form `worker-compact`)."""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, bytes(bytearray(value)))


def build_worker(rules, path: str, compact: bool = False) -> tuple[dict, list[PartitionEngine], int]:
    from agents.table_store import TableStore

    table: dict[bytes, bytes] = CompactTable() if compact else {}
    store = TableStore(table, 8)
    engines = [PartitionEngine(rules, store, EVENT_TYPES) for _ in range(8)]
    events = 0
    for line in LogReader([path]):
        event = decode_event(line.raw)
        if not isinstance(event, Event):
            continue
        engines[partition_for(event.customer_id, 8)].ingest(event, event.type)
        events += 1
        if events % BATCH == 0:
            store.commit()
    everything = frozenset(EVENT_TYPES)
    for engine in engines:
        engine.refresh(everything)
    store.commit()
    return table, engines, events


def main() -> None:
    form, path = sys.argv[1], sys.argv[2]
    rules = load_rules(None)
    gc.collect()
    before = rss_bytes()
    started = time.monotonic()
    if form in ("worker", "worker-compact"):
        table, engines, events = build_worker(rules, path, compact=form == "worker-compact")
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
