"""engine: `stream.backtest.Backtest` events/s over a generated log, against the floor.

The floor is the least any consumer of these lines must do: `orjson.loads` each line and update a
dict keyed by customer. Both read the same lines from memory (no file or gzip in the timing), in
the same process, alternating run by run.
"""

from __future__ import annotations

import gc
import time

import orjson

from bench.common import dataset, log, median
from bench.scales import Scale
from stream.backtest import Backtest
from stream.logfile import LogLine
from stream.rules.ruleset import load_rules


def floor(raw: list[bytes]) -> float:
    seen: dict[str, int] = {}
    started = time.perf_counter()
    for line in raw:
        event = orjson.loads(line)
        customer = event["customer_id"]
        seen[customer] = seen.get(customer, 0) + 1
    return time.perf_counter() - started


def backtest(lines: list[LogLine]) -> tuple[float, int]:
    rules = load_rules(None)
    engine = Backtest(rules, 8)
    changes: list = []
    gc.collect()
    started = time.perf_counter()
    engine.run(lines, changes.append, lambda line, rejection: None)
    elapsed = time.perf_counter() - started
    return elapsed, len(changes)


def run(scale: Scale, repeat: int) -> dict:
    path = dataset(scale.engine_customers, scale.engine_days, seed=7, lines=scale.engine_events)
    raw = path.read_bytes().splitlines()
    lines = [LogLine(str(path), number, line) for number, line in enumerate(raw, 1)]
    customers = len({orjson.loads(line)["customer_id"] for line in raw})
    log(f"engine: {len(raw):,} events, {customers:,} customers; warm-up")
    warm = max(len(lines) // 10, 1)
    floor(raw[:warm])
    backtest(lines[:warm])
    runs = []
    for i in range(repeat):
        floor_s = floor(raw)
        engine_s, changes = backtest(lines)
        runs.append({"floor_eps": len(raw) / floor_s, "engine_eps": len(raw) / engine_s,
                     "ratio": floor_s / engine_s, "changes": changes})
        log(f"engine: run {i + 1}: backtest {len(raw) / engine_s:,.0f} ev/s, floor {len(raw) / floor_s:,.0f} ev/s")
    engine_eps = median([r["engine_eps"] for r in runs])
    floor_eps = median([r["floor_eps"] for r in runs])
    return {
        "figures": {
            "events": len(raw),
            "customers": customers,
            "changes": runs[0]["changes"],
            "engine_events_per_s": round(engine_eps),
            "floor_events_per_s": round(floor_eps),
            "engine_vs_floor": round(median([r["ratio"] for r in runs]), 4),
        },
        "targets": {"engine_vs_floor >= 0.25": median([r["ratio"] for r in runs]) >= 0.25},
        "runs": runs,
    }
