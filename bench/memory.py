"""memory: serialized state and resident memory per customer, after a year of history.

Each measurement is a fresh subprocess (bench/memory_probe.py) that streams a generated log of N
customers over 365 days through the engine and reports RSS before and after. Two forms:
- worker: what the worker keeps (its engine: every customer as stored bytes between batches, plus
  the deadline index; its durable copy is the changelog topic, in Kafka), measured `repeat`
  times: the figure the target is about;
- offline: `Backtest`'s native core, for comparison; its state bytes are state format 2.
"""

from __future__ import annotations

import subprocess

import orjson

from bench.common import PYTHON, ROOT, base_env, dataset, log, median
from bench.scales import Scale


def probe(form: str, path) -> dict:
    done = subprocess.run([PYTHON, "-m", "bench.memory_probe", form, str(path)], env=base_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {form} failed: {done.stderr[-2000:]}")
    result = orjson.loads(done.stdout.strip().splitlines()[-1])
    result["rss_per_customer"] = (result["rss_after"] - result["rss_before"]) / result["customers"]
    result["state_bytes_per_customer"] = result["state_bytes"] / result["customers"]
    return result


def run(scale: Scale, repeat: int) -> dict:
    path = dataset(scale.memory_customers, 365, seed=5)
    log(f"memory: {scale.memory_customers:,} customers over 365 days; warm-up (page cache, imports)")
    subprocess.run([PYTHON, "-c", "import bench.memory_probe"], env=base_env(), cwd=ROOT, check=True)
    runs = []
    for i in range(repeat):
        worker = probe("worker", path)
        runs.append({"rss_per_customer": worker["rss_per_customer"], "state_bytes_per_customer": worker["state_bytes_per_customer"],
                     "customers": worker["customers"], "events": worker["events"]})
        log(f"memory: run {i + 1}: worker form {worker['rss_per_customer']:,.0f} B RSS per customer, "
            f"{worker['state_bytes_per_customer']:,.0f} B serialized")
    offline = probe("offline", path)
    log(f"memory: offline {offline['rss_per_customer']:,.0f} B RSS per customer")
    rss = median([r["rss_per_customer"] for r in runs])
    return {
        "figures": {
            "customers": runs[0]["customers"],
            "events": runs[0]["events"],
            "state_bytes_per_customer": round(median([r["state_bytes_per_customer"] for r in runs])),
            "rss_bytes_per_customer": round(rss),
            "rss_bytes_per_customer_offline_objects": round(offline["rss_per_customer"]),
            "native_state_bytes_per_customer": round(offline["state_bytes_per_customer"]),
            "rss_vs_serialized": round(rss / median([r["state_bytes_per_customer"] for r in runs]), 2),
        },
        "targets": {"<= 600 B RSS per customer": rss <= 600,
                    "<= 250 B state per customer (native format 2)": offline["state_bytes_per_customer"] <= 250},
        "runs": runs,
    }
