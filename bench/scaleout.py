"""scaleout: events/s with one worker and with two workers (one consumer group) on 8 partitions.

Same method as e2e: a log produced once with `tagstream replay`, then per run a fresh consumer
group of 1 or 2 `tagstream worker --clock event` processes, started together (which of the two
configurations runs first alternates from one repetition to the next). The measured window
opens at the first committed progress seen once the group is stable with all its members, and
closes when the committed offsets reach the end offsets (or the time budget at small scale).
"""

from __future__ import annotations

from bench.common import Deployment, log, median
from bench.e2e import e2e_log, produce, tagstream_run
from bench.scales import Scale


def run(scale: Scale, repeat: int) -> dict:
    path = e2e_log(scale.scaleout_events)
    deployment = Deployment.create("scaleout")
    budget = scale.worker_budget_s
    try:
        ends = produce(deployment, path)
        log(f"scaleout: {sum(ends.values()):,} events produced")
        runs = []
        for i in range(repeat):
            if i % 2 == 0:  # alternate which goes first, so neither always follows the other
                one, _ = tagstream_run(deployment, ends, f"one{i}", workers=1, budget_s=budget)
                two, _ = tagstream_run(deployment, ends, f"two{i}", workers=2, budget_s=budget)
            else:
                two, _ = tagstream_run(deployment, ends, f"two{i}", workers=2, budget_s=budget)
                one, _ = tagstream_run(deployment, ends, f"one{i}", workers=1, budget_s=budget)
            runs.append({"one_eps": one.rate, "two_eps": two.rate, "speedup": two.rate / one.rate if one.rate else 0.0,
                         "one_events_measured": one.events, "two_events_measured": two.events})
            log(f"scaleout: run {i + 1}: 1 worker {one.rate:,.0f} ev/s, 2 workers {two.rate:,.0f} ev/s")
    finally:
        deployment.remove()
    return {
        "figures": {
            "one_worker_events_per_s": round(median([r["one_eps"] for r in runs])),
            "two_workers_events_per_s": round(median([r["two_eps"] for r in runs])),
            "two_vs_one": round(median([r["speedup"] for r in runs]), 3),
        },
        "targets": {},
        "runs": runs,
    }
