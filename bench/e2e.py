"""e2e: events/s through the real broker, tagstream against two baselines on the same topics.

A log is produced once with `tagstream replay`; then, run after run and side by side:
- tagstream: `tagstream worker --clock event` (full tagging, changes published, states written to
  the changelog, profiles to Redis) as a fresh consumer group;
- raw: an aiokafka consumer that only reads and decodes (bench/raw_consumer.py);
- naive: a Faust app with `faust.Record` values and a 30 d / 1 d hopping table (bench/naive_faust.py);
- Faust's ceiling: a bare agent on raw bytes in batches of 500 (with the worker's batch intake and with
  Faust's stock one) and the same with one table write per key per batch (bench/faust_ceiling.py).
tagstream is measured by polling its group's committed offsets on the four input topics, from the
first progress seen to the end offsets and its changes and changelog topics no longer growing (or
a time budget; the rate is then over what was measured).
The naive app is measured the same way on its changelog (30 records per event: its commits run
ahead of its buffered changelog writes). The raw consumer times itself from its assignment to its last record.
"""

from __future__ import annotations

import orjson

from bench.common import (NAIVE_WINDOW_DAYS, PYTHON, Child, Deployment, GroupProgress, Throughput, dataset,
                          end_offsets, free_port, log, median, run_cli, tagstream)
from bench.scales import Scale

SEED = 11


def e2e_log(events: int):
    """A steady-state history: about 25 events per customer over a year (cut to `events` lines)."""
    return dataset(max(events // 25, 100), 365, SEED, lines=events)


def produce(deployment: Deployment, path) -> dict:
    run_cli("replay", str(path), env=deployment.env)
    ends = end_offsets(deployment.input_topics, deployment.settings.partitions)
    return ends


def _timeout(ends: dict, budget_s: float | None) -> float:
    """Generous: startup plus the budget, or plus everything at 50 events/s."""
    return 300 + (budget_s if budget_s is not None else sum(ends.values()) / 50)


def tagstream_run(deployment: Deployment, ends: dict, name: str, workers: int = 1,
                  budget_s: float | None = None) -> tuple[Throughput, dict]:
    timeout_s = _timeout(ends, budget_s)
    env = deployment.group_env(name)
    children = []
    progress = GroupProgress(env["TAGSTREAM_APP_ID"], ends)
    try:
        for index in range(workers):
            own = {**env, "TAGSTREAM_WEB_PORT": str(free_port()), "TAGSTREAM_DATA_DIR": f"{env['TAGSTREAM_DATA_DIR']}-{index}"}
            children.append(tagstream("worker", "--clock", "event", env=own, log_path=deployment.dir / f"{name}-{index}.log",
                                      name=f"tagstream worker {name}-{index}"))
        outputs = [env["TAGSTREAM_TOPIC_CHANGES"], f"{env['TAGSTREAM_APP_ID']}-customers-changelog"]
        written = lambda: sum(progress.topic_end(t, deployment.settings.partitions) for t in outputs)  # noqa: E731
        measured = progress.measure(children, timeout_s, members=workers, budget_s=budget_s, settle=written)
    finally:
        for child in children:
            child.stop()
        progress.close()
    changes_topic = env["TAGSTREAM_TOPIC_CHANGES"]
    changes = sum(end_offsets([changes_topic], deployment.settings.partitions).values())
    return measured, {"changes_published": changes}


def faust_run(deployment: Deployment, ends: dict, name: str, module: str, budget_s: float | None,
              extra_env: dict[str, str] | None = None, progress_of: str | None = None) -> Throughput:
    """A Faust app of bench/ as a worker of its own group; measured by its committed offsets, or,
    given `progress_of` (a table name), by that table's changelog (one record per window update)."""
    timeout_s = _timeout(ends, budget_s)
    env = {**deployment.group_env(name), **(extra_env or {})}
    progress = GroupProgress(env["TAGSTREAM_APP_ID"], ends)
    child = Child([PYTHON, "-m", module, "worker", "-l", "warn"], env, deployment.dir / f"{name}.log", name=f"{module} {name}")
    total = sum(ends.values())
    changelog = f"{env['TAGSTREAM_APP_ID']}-{progress_of}-changelog"

    def processed() -> int:  # events whose window updates all reached the changelog
        return min(total, progress.topic_end(changelog, deployment.settings.partitions) // NAIVE_WINDOW_DAYS)

    try:
        return progress.measure([child], timeout_s, budget_s=budget_s, progress=processed if progress_of else None)
    finally:
        child.stop()
        progress.close()


def naive_run(deployment: Deployment, ends: dict, name: str, budget_s: float | None) -> Throughput:
    return faust_run(deployment, ends, name, "bench.naive_faust", budget_s, progress_of="counts")


def ceiling_run(deployment: Deployment, ends: dict, name: str, mode: str, intake: str, budget_s: float | None) -> Throughput:
    """Faust's ceiling (bench/faust_ceiling.py): `mode` bare or table, `intake` batch or stock."""
    return faust_run(deployment, ends, name, "bench.faust_ceiling", budget_s, {"FAUST_CEILING": mode, "FAUST_INTAKE": intake})


def raw_run(deployment: Deployment, name: str, timeout_s: float = 300) -> dict:
    env = deployment.group_env(name)
    child = Child([PYTHON, "-m", "bench.raw_consumer", env["TAGSTREAM_APP_ID"], *deployment.input_topics], env,
                  deployment.dir / f"{name}.log", name=f"raw consumer {name}")
    try:
        child.wait(timeout_s)
    finally:
        child.stop()
    if child.process.returncode != 0:
        raise RuntimeError(f"raw consumer failed:\n{child.tail()}")
    return orjson.loads(child.log_path.read_text().strip().splitlines()[-1])


def run(scale: Scale, repeat: int) -> dict:
    path = e2e_log(scale.e2e_events)
    deployment = Deployment.create("e2e")
    try:
        ends = produce(deployment, path)
        total = sum(ends.values())
        log(f"e2e: {total:,} events produced; warm-up (raw consumer)")
        raw_run(deployment, "warm")
        budget = scale.worker_budget_s
        runs = []
        for i in range(repeat):
            measured, extra = tagstream_run(deployment, ends, f"ts{i}", budget_s=budget)
            raw = raw_run(deployment, f"raw{i}")
            naive = naive_run(deployment, ends, f"naive{i}", budget_s=scale.naive_budget_s)
            bare = ceiling_run(deployment, ends, f"bare{i}", "bare", "batch", budget)
            stock = ceiling_run(deployment, ends, f"stock{i}", "bare", "stock", budget)
            table = ceiling_run(deployment, ends, f"table{i}", "table", "batch", budget)
            runs.append({
                "faust_bare_eps": bare.rate, "faust_bare_stock_eps": stock.rate, "faust_table_eps": table.rate,
                "vs_bare": measured.rate / bare.rate if bare.rate else 0.0,
                "intake_gain": bare.rate / stock.rate if stock.rate else 0.0,
                "tagstream_eps": measured.rate, "tagstream_events_measured": measured.events,
                "tagstream_seconds": measured.seconds, "tagstream_startup_s": measured.startup_s,
                "changes_published": extra["changes_published"],
                "raw_eps": raw["rate"], "naive_eps": naive.rate, "naive_events_measured": naive.events,
                "vs_raw": measured.rate / raw["rate"] if raw["rate"] else 0.0,
                "vs_naive": measured.rate / naive.rate if naive.rate else 0.0,
            })
            log(f"e2e: run {i + 1}: tagstream {measured.rate:,.0f} ev/s ({measured.events:,} events in "
                f"{measured.seconds:.1f}s), raw {raw['rate']:,.0f} ev/s, naive {naive.rate:,.0f} ev/s, Faust bare agent "
                f"{bare.rate:,.0f} ev/s ({stock.rate:,.0f} with Faust's stock intake), with a table write per key "
                f"{table.rate:,.0f} ev/s")
    finally:
        deployment.remove()
    eps = median([r["tagstream_eps"] for r in runs])
    vs_raw = median([r["vs_raw"] for r in runs])
    vs_naive = median([r["vs_naive"] for r in runs])
    vs_bare = median([r["vs_bare"] for r in runs])
    return {
        "figures": {
            "events_produced": total,
            "tagstream_events_per_s": round(eps),
            "tagstream_events_measured": round(median([r["tagstream_events_measured"] for r in runs])),
            "tagstream_startup_s": round(median([r["tagstream_startup_s"] for r in runs]), 1),
            "raw_events_per_s": round(median([r["raw_eps"] for r in runs])),
            "naive_events_per_s": round(median([r["naive_eps"] for r in runs])),
            "tagstream_vs_raw": round(vs_raw, 4),
            "tagstream_vs_naive": round(vs_naive, 2),
            "faust_bare_events_per_s": round(median([r["faust_bare_eps"] for r in runs])),
            "faust_bare_stock_intake_events_per_s": round(median([r["faust_bare_stock_eps"] for r in runs])),
            "faust_table_write_per_key_events_per_s": round(median([r["faust_table_eps"] for r in runs])),
            "intake_gain": round(median([r["intake_gain"] for r in runs]), 2),
            "tagstream_vs_faust_bare": round(vs_bare, 2),
        },
        "targets": {"tagstream >= 20000 ev/s": eps >= 20000, "tagstream >= 0.5 of the bare Faust agent": vs_bare >= 0.5,
                    "tagstream >= 0.25 of raw": vs_raw >= 0.25},
        "runs": runs,
    }
