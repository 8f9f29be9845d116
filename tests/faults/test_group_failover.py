"""Two workers in one consumer group (same app id; a web port and a data directory each) share the
partitions of a backlog; one is SIGKILLed mid-stream and the survivor takes its partitions over
(state read from the changelog, offsets from the group): the published change set is the
oracle's."""

from __future__ import annotations

import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from tests.faults.common import Backlog, fast_failover, mid_stream, wait_consuming
from tests.integration.harness import metric_value, start_peer_worker

SEED = 20250303


def consumed_by(worker) -> float:
    return metric_value(worker.metrics() or "", "tagstream_events_consumed_total")


def test_survivor_takes_over_a_killed_peers_partitions(deployment, tmp_path):
    rng = random.Random(SEED)
    fast_failover(deployment)
    mid_stream(deployment)
    run = Backlog.produced(deployment, tmp_path, customers=1500, days=280, seed=103, at_least=40000)
    with ThreadPoolExecutor(2) as pool:  # started together, so both join the first rebalance
        a = pool.submit(deployment.start_worker, "--clock", "event")
        b = pool.submit(start_peer_worker, deployment, "--clock", "event", name="b")
        workers = {"a": a.result(), "b": b.result()}
    try:
        for worker in workers.values():  # both own partitions and are working
            wait_consuming(worker)
        run.mark("both consuming")
        # by the workers' own progress, not time (speed varies) nor the change topic (read behind)
        events = sum(1 for _ in run.log.open("rb"))
        kill_at = events * rng.uniform(0.3, 0.6)
        victim = rng.choice(sorted(workers))
        survivor = workers["b" if victim == "a" else "a"]
        deadline = time.monotonic() + 60
        while (consumed := sum(consumed_by(w) for w in workers.values())) < kill_at and time.monotonic() < deadline:
            time.sleep(0.05)
        before = consumed_by(survivor)
        run.mark(f"SIGKILL {victim} at {consumed:.0f} of {events} events consumed")
        workers[victim].stop(signal.SIGKILL)
        assert consumed < events * 0.8, "killed mid-stream"
        run.converge(alive=lambda: survivor.alive, timeout_s=120)  # ends as soon as it converges; a loaded machine needs more
        after = consumed_by(survivor)
        assert survivor.alive, survivor.tail()
    finally:
        for worker in workers.values():
            worker.stop()
        run.collector.close()

    run.check(f"failover ({victim} killed; survivor consumed {before:.0f} -> {after:.0f})", tmp_path, duplicates=True)
    assert after > before, "the survivor took over and kept consuming"
