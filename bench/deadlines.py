"""deadlines: one partition of the native core tracking N customers, time moved without any event.

State is built cheaply: one order per customer at t0, applied by moving time just past it. Then:
- batch: time jumps to t0 + 14 days + 1 ms, crossing every deadline of the first two weeks
  (recency thresholds and day buckets leaving windows) for all N customers at once; the wall time
  of that one `finish` call, which returns every change it produced;
- idle: `finish` at instants where nothing is due (1 ms steps, hours before the next midnight
  edge), per call, measured at the small scale and at N customers: the deadline index should make
  it independent of N.
"""

from __future__ import annotations

import gc
import time

import orjson

from bench.common import log, median
from bench.scales import Scale
from stream.native import Engine
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import load_rules
from stream.timeutil import DAY_MS, parse_instant

T0 = parse_instant("2025-03-03T10:00:00Z")
IDLE_CALLS = 100_000
BATCH_END = T0 + 14 * DAY_MS + 1


def build(rules, customers: int) -> Engine:
    """N customers with one order each at T0, applied."""
    engine = Engine(plan_json(rules), 1)
    raw = [orjson.dumps({"type": "order", "event_id": f"o-{n}", "customer_id": f"d{n:07d}", "ts": T0, "amount": 49.9,
                         "channel": "web", "items": [{"sku": "s", "category": "shoes"}]}) for n in range(customers)]
    for start in range(0, customers, 4096):
        engine.ingest_lines(raw[start:start + 4096])
    engine.finish(T0 + 1)
    return engine


def batch(engine: Engine) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter()
    changes = engine.finish(BATCH_END)
    return time.perf_counter() - started, len(changes)


def idle(engine: Engine) -> float:
    """Seconds per `finish` call at instants where nothing is due (after `batch`)."""
    finish = engine.finish
    start = BATCH_END + 1
    started = time.perf_counter()
    for until in range(start, start + IDLE_CALLS):
        if len(finish(until)):
            raise RuntimeError(f"a change at idle instant {until}")
    return (time.perf_counter() - started) / IDLE_CALLS


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
        due = engine.scheduled()
        batch_s, changes = batch(engine)
        idle_n = idle(engine)
        reference = build(rules, small)
        batch(reference)
        idle_small = idle(reference)
        runs.append({"build_s": build_s, "customers_due": due, "batch_s": batch_s, "batch_changes": changes,
                     "idle_us_small": idle_small * 1e6, "idle_us_n": idle_n * 1e6, "idle_ratio": idle_n / idle_small})
        log(f"deadlines: run {i + 1}: {n:,} customers, batch {batch_s:.3f}s ({changes:,} changes); idle finish "
            f"{idle_small * 1e6:.2f} us at {small:,}, {idle_n * 1e6:.2f} us at {n:,}")
        del engine, reference
        gc.collect()
    batch_s = median([r["batch_s"] for r in runs])
    ratio = median([r["idle_ratio"] for r in runs])
    per_100k = batch_s * 100_000 / n
    return {
        "figures": {
            "customers": n,
            "batch_s": round(batch_s, 3),
            "batch_changes": runs[0]["batch_changes"],
            "batch_s_per_100k_customers": round(per_100k, 3),
            "batch_customers_per_s": round(n / batch_s),
            "idle_finish_us_small": round(median([r["idle_us_small"] for r in runs]), 3),
            "idle_finish_us_n": round(median([r["idle_us_n"] for r in runs]), 3),
            "idle_n_vs_small": round(ratio, 3),
            "build_s": round(median([r["build_s"] for r in runs]), 2),
        },
        "targets": {"100k deadline batch <= 0.5 s": per_100k <= 0.5, "idle tick cost independent of N (ratio <= 1.5)": ratio <= 1.5},
        "runs": runs,
    }
