"""`python -m bench`: tagstream's benchmarks, on a broker and Redis of their own.

Starts Kafka on 127.0.0.1:19092 and Redis on 127.0.0.1:16379 (scripts/services.sh with
KAFKA_PORT/REDIS_PORT/TAGSTREAM_LOCAL_DIR=.local/bench), runs the chosen scenarios, each with a
warm-up and `--repeat` measured repetitions side by side with its baselines, prints a table of
medians and, last, one JSON line with every figure, ratio and repetition. A scenario that fails is
reported as failed and the others still run. The broker is stopped at the end (and its data,
by then only deleted topics, removed) unless `--keep-broker`.
"""

from __future__ import annotations

import argparse
import importlib
import math
import shutil
import sys
import time
import traceback

import orjson

from bench.common import (BROKER, KAFKA_PORT, LOCAL, REDIS_PORT, REDIS_URL, RUNS, log, machine, port_open,
                          remove_all_live, services, stop_all_children)
from bench.scales import SCALES

SCENARIOS = ("engine", "e2e", "latency", "deadlines", "memory", "recovery", "scaleout")
NEEDS_BROKER = {"e2e", "latency", "recovery", "scaleout"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small",
                        help="small (default: the whole run in under 15 minutes) or full (the issue's sizes)")
    parser.add_argument("--repeat", type=int, default=3, help="measured repetitions per scenario (default 3)")
    parser.add_argument("--keep-broker", action="store_true", help="leave the benchmark broker and Redis running")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = SCALES[args.scale]
    started = time.monotonic()
    report: dict = {"bench": "tagstream", "scale": args.scale, "repeat": args.repeat, "machine": machine(),
                    "broker": BROKER, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "scenarios": {}}
    broker_started = False
    shutil.rmtree(RUNS, ignore_errors=True)  # logs and data directories of the previous run
    try:
        if NEEDS_BROKER & set(args.scenarios):
            log(f"starting the benchmark broker (:{KAFKA_PORT}) and Redis (:{REDIS_PORT}) under {LOCAL}")
            broker_started = not port_open(KAFKA_PORT)
            services("up")
        for name in args.scenarios:
            report["scenarios"][name] = run_scenario(name, scale, args.repeat)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        report["interrupted"] = True
    finally:
        stop_all_children()
        remove_all_live()
        if NEEDS_BROKER & set(args.scenarios):
            flush_redis()
        if NEEDS_BROKER & set(args.scenarios) and not args.keep_broker:
            try:
                services("down")
                # Every topic it held is deleted already; a broker restarted on that data replays
                # the deletions first (~15 s), so the next run starts from a fresh one instead.
                services("clean")
            except Exception as error:  # noqa: BLE001
                log(f"stopping the benchmark broker failed: {error}")
        elif broker_started:
            log(f"benchmark broker left running on {BROKER} (--keep-broker)")
    report["duration_s"] = round(time.monotonic() - started, 1)
    print_table(report)
    print(orjson.dumps(clean(report)).decode(), flush=True)
    failed = [n for n, r in report["scenarios"].items() if r["status"] != "ok"]
    return 1 if failed or report.get("interrupted") else 0


def flush_redis() -> None:
    """The benchmark's own Redis: drop the profiles the workers wrote."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=5).flushdb()
    except Exception as error:  # noqa: BLE001
        log(f"flushing the benchmark Redis failed: {error}")


def run_scenario(name: str, scale, repeat: int) -> dict:
    log(f"=== {name} ({scale.name}, {repeat} repetitions) ===")
    started = time.monotonic()
    load_before = loadavg()
    try:
        module = importlib.import_module(f"bench.{name}")
        result = module.run(scale, repeat)
        result = {"status": "ok", **result}
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001 - one scenario failing must not stop the others
        detail = traceback.format_exc()
        log(f"{name} FAILED: {error}\n{detail}")
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}"[:2000]}
    finally:
        stop_all_children()
        remove_all_live()
    result["seconds"] = round(time.monotonic() - started, 1)
    result["loadavg_1m_before_after"] = [load_before, loadavg()]  # other work on the machine shows here
    log(f"=== {name}: {result['status']} in {result['seconds']:.0f}s ===")
    return result


def loadavg() -> float | None:
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return None


def clean(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def print_table(report: dict) -> None:
    out = sys.stdout
    m = report["machine"]
    out.write(f"\ntagstream benchmarks: scale {report['scale']}, {report['repeat']} repetitions (medians), "
              f"{m['nproc']} cores {m['cpu']}, {m['ram_gib']} GiB, {report['duration_s']:.0f}s\n\n")
    width = max([len(k) for r in report["scenarios"].values() for k in (*r.get("figures", {}), *r.get("targets", {}))] + [30])
    out.write(f"{'scenario':<10} {'figure':<{width}} {'median':>14}\n")
    out.write(f"{'-' * 10} {'-' * width} {'-' * 14}\n")
    for name, result in report["scenarios"].items():
        if result["status"] != "ok":
            out.write(f"{name:<10} {'FAILED: ' + result.get('error', '')[:width + 10]}\n")
            continue
        for key, value in result.get("figures", {}).items():
            out.write(f"{name:<10} {key:<{width}} {fmt(value):>14}\n")
    out.write(f"\n{'scenario':<10} {'target':<{width}} {'holds':>14}\n")
    out.write(f"{'-' * 10} {'-' * width} {'-' * 14}\n")
    for name, result in report["scenarios"].items():
        if result["status"] != "ok":
            out.write(f"{name:<10} {'(scenario failed)':<{width}} {'n/a':>14}\n")
            continue
        for target, holds in result.get("targets", {}).items():
            out.write(f"{name:<10} {target:<{width}} {'yes' if holds else 'NO':>14}\n")
    out.write("\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
