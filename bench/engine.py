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
from stream.native import ChangeBatch
from stream.logfile import LogLine
from stream.rules.ruleset import load_rules
from stream.whatif import compare

# whatif's B side: the auto pack, as different from the default as a candidate pack gets
VARIANT = "config/rules/auto.toml"


def floor(raw: list[bytes]) -> float:
    seen: dict[str, int] = {}
    started = time.perf_counter()
    for line in raw:
        event = orjson.loads(line)
        customer = event["customer_id"]
        seen[customer] = seen.get(customer, 0) + 1
    return time.perf_counter() - started


def backtest(lines: list[LogLine]) -> tuple[float, int]:
    """The native engine over the lines, every change serialized as its CloudEvent bytes."""
    engine = Backtest(load_rules(None), 8)
    written = 0

    def write(changes: ChangeBatch) -> None:
        nonlocal written
        written += len(changes.json_lines())

    gc.collect()
    started = time.perf_counter()
    engine.run(lines, write, lambda line, rejection: None)
    engine.finish("end", write)
    elapsed = time.perf_counter() - started
    return elapsed, engine.totals.changes


def whatif(lines: list[LogLine]) -> float:
    """Two packs over the same lines (`tagstream whatif`), the default against a variant."""
    rules = load_rules(None)
    started = time.perf_counter()
    compare(rules, load_rules(VARIANT), lines, "end")
    return time.perf_counter() - started


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
        whatif_s = whatif(lines)
        runs.append({"floor_eps": len(raw) / floor_s, "engine_eps": len(raw) / engine_s,
                     "ratio": floor_s / engine_s, "changes": changes, "whatif_vs_engine": engine_s / whatif_s})
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
            "whatif_vs_engine": round(median([r["whatif_vs_engine"] for r in runs]), 3),
        },
        "targets": {"engine_vs_floor >= 0.25": median([r["ratio"] for r in runs]) >= 0.25},
        "runs": runs,
    }
