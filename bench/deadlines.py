"""deadlines: one partition tracking N customers, time moved without any event.

Measured on both engines side by side: the native core (`stream._native.Engine`, one partition,
what `backtest` runs) and the Python `PartitionEngine` the worker still runs (until #15).

State is built cheaply: one order per customer at t0, applied by moving the watermark just past
it. Then:
- batch: the watermark jumps to t0 + 14 days + 1 ms, crossing every deadline of the first two weeks
  (recency thresholds and day buckets leaving windows) for all N customers at once; the wall time
  of that one `advance_to` call, which returns every change it produced;
- idle: `advance_to` at watermarks where nothing is due (1 ms steps below the next wake), per call,
  measured at 10k and at N customers: the deadline index should make it independent of N.
"""

from __future__ import annotations

import gc
import time

import orjson

from bench.common import log, median
from bench.scales import Scale
from schemas.events import EVENT_TYPES, ORDER, Event
from stream.engine import MemoryStore, PartitionEngine
from stream.native import Engine
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import load_rules
from stream.timeutil import DAY_MS, parse_instant

T0 = parse_instant("2025-03-03T10:00:00Z")
IDLE_CALLS = 100_000


def native_batch(rules, customers: int) -> tuple[float, int]:
    """The native core: N customers with one order each at T0, then one jump of the watermark."""
    engine = Engine(plan_json(rules), 1)
    raw = [orjson.dumps({"type": "order", "event_id": f"o-{n}", "customer_id": f"d{n:07d}", "ts": T0, "amount": 49.9,
                         "channel": "web", "items": [{"sku": "s", "category": "shoes"}]}) for n in range(customers)]
    for start in range(0, customers, 4096):
        engine.ingest_lines(raw[start:start + 4096])
    engine.finish(T0 + 1)
    gc.collect()
    started = time.perf_counter()
    changes = engine.finish(T0 + 14 * DAY_MS + 1)
    return time.perf_counter() - started, len(changes)


def build(rules, customers: int) -> PartitionEngine:
    engine = PartitionEngine(rules, MemoryStore(), EVENT_TYPES)
    for n in range(customers):
        engine.ingest(Event(f"o-{n}", ORDER, f"d{n:07d}", T0, 4990, False, "web", ("shoes",)), ORDER)
    applied = T0 + 1
    engine.watermark.value = applied
    engine.advance_to(applied)
    return engine


def batch(engine: PartitionEngine) -> tuple[float, int]:
    target = T0 + 14 * DAY_MS + 1
    gc.collect()
    started = time.perf_counter()
    engine.watermark.value = target
    changes = engine.advance_to(target)
    return time.perf_counter() - started, len(changes)


def idle(engine: PartitionEngine) -> float:
    """Seconds per `advance_to` call at watermarks where nothing is due."""
    start = engine.watermark.value + 1
    engine.advance_to(start)  # drop any stale heap head once, outside the timing
    next_wake = engine._wakes[0][0] if engine._wakes else start + IDLE_CALLS + 1
    calls = min(IDLE_CALLS, next_wake - start - 1)
    if calls < 1000:
        raise RuntimeError(f"only {calls} idle watermarks before the next wake")
    advance = engine.advance_to
    started = time.perf_counter()
    for watermark in range(start, start + calls):
        if advance(watermark):
            raise RuntimeError(f"a change at idle watermark {watermark}")
    return (time.perf_counter() - started) / calls


def run(scale: Scale, repeat: int) -> dict:
    rules = load_rules(None)
    n, small = scale.deadline_customers, scale.deadline_small
    log(f"deadlines: warm-up ({small:,} customers)")
    warm = build(rules, small)
    batch(warm)
    idle(warm)
    runs = []
    for i in range(repeat):
        started = time.perf_counter()
        engine = build(rules, n)
        build_s = time.perf_counter() - started
        due = engine.scheduled
        batch_s, changes = batch(engine)
        idle_n = idle(engine)
        native_s, native_changes = native_batch(rules, n)
        reference = build(rules, small)
        batch(reference)
        idle_small = idle(reference)
        runs.append({"build_s": build_s, "customers_due": due, "batch_s": batch_s, "batch_changes": changes,
                     "native_batch_s": native_s, "native_batch_changes": native_changes,
                     "idle_us_small": idle_small * 1e6, "idle_us_n": idle_n * 1e6, "idle_ratio": idle_n / idle_small})
        log(f"deadlines: run {i + 1}: {n:,} customers, batch {batch_s:.2f}s python, {native_s:.3f}s native "
            f"({changes:,} / {native_changes:,} changes); idle advance_to "
            f"{idle_small * 1e6:.2f} us at {small:,}, {idle_n * 1e6:.2f} us at {n:,}")
        del engine, reference
        gc.collect()
    batch_s = median([r["batch_s"] for r in runs])
    ratio = median([r["idle_ratio"] for r in runs])
    per_100k = batch_s * 100_000 / n
    native_per_100k = median([r["native_batch_s"] for r in runs]) * 100_000 / n
    return {
        "figures": {
            "customers": n,
            "batch_s": round(batch_s, 3),
            "batch_changes": runs[0]["batch_changes"],
            "batch_s_per_100k_customers": round(per_100k, 3),
            "batch_customers_per_s": round(n / batch_s),
            "native_batch_s_per_100k_customers": round(native_per_100k, 3),
            "native_batch_changes": runs[0]["native_batch_changes"],
            "idle_advance_us_10k": round(median([r["idle_us_small"] for r in runs]), 3),
            "idle_advance_us_n": round(median([r["idle_us_n"] for r in runs]), 3),
            "idle_n_vs_10k": round(ratio, 3),
            "build_s": round(median([r["build_s"] for r in runs]), 2),
        },
        "targets": {"100k deadline batch <= 0.5 s (native)": native_per_100k <= 0.5, "idle tick cost independent of N (ratio <= 1.5)": ratio <= 1.5},
        "runs": runs,
    }
