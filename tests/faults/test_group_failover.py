"""Two workers in one consumer group (same app id; a web port and a data directory each) share the
partitions of a backlog; one is SIGKILLed mid-stream and the survivor takes its partitions over
(state from the changelog, offsets from the group): the published change set is the oracle's."""

from __future__ import annotations

import pytest

import random
import signal
import time

from tests.faults.common import Collector, Timeline, compare, covers, dump, fast_failover, generate, oracle, preload, wait_consuming
from tests.integration.harness import metric_value, start_peer_worker

SEED = 20250303


@pytest.mark.known_bug  # fails intermittently: see issue #6 notes; run with `make faults`
def test_survivor_takes_over_a_killed_peers_partitions(deployment, tmp_path):
    rng = random.Random(SEED)
    fast_failover(deployment)
    log = generate(deployment, tmp_path, customers=600, days=280, seed=103)
    expected = oracle(deployment, log)
    assert len(expected) > 15000
    preload(deployment, log)

    collector = Collector(deployment, deployment.settings.topic_changes)
    mark = Timeline(collector)
    workers = {"a": deployment.start_worker("--clock", "event"), "b": start_peer_worker(deployment, "--clock", "event", name="b")}
    try:
        for worker in workers.values():  # both own partitions and are working
            wait_consuming(worker)
        mark("both consuming")
        time.sleep(rng.uniform(1.0, 3.0))
        victim = rng.choice(sorted(workers))
        survivor = workers["b" if victim == "a" else "a"]
        before = metric_value(survivor.metrics() or "", "tagstream_events_consumed_total")
        mark(f"SIGKILL {victim}")
        assert len(collector.records) < len(expected) * 0.8, "killed mid-stream"
        workers[victim].stop(signal.SIGKILL)
        converged = collector.until(covers(expected), idle_s=4, timeout_s=45, alive=lambda: survivor.alive)
        mark("converged" if converged else "gave up")
        after = metric_value(survivor.metrics() or "", "tagstream_events_consumed_total")
        assert survivor.alive, survivor.tail()
    finally:
        for worker in workers.values():
            worker.stop()
        collector.close()

    dump(collector.records, tmp_path / "published.jsonl")
    result = compare(expected, collector.records)
    print(f"\nfailover ({victim} killed): {len(expected)} expected; {result.summary()}; survivor consumed "
          f"{before:.0f} -> {after:.0f}; timeline {mark}")
    assert not result.missing, f"changes lost in the failover: {result.summary()}; timeline {mark}"
    assert not result.extra, f"changes the oracle does not have: {result.summary()}; timeline {mark}"
    assert not result.differing, f"duplicates must be byte-identical: {result.summary()}"
    assert not result.wrong_key, result.summary()
    assert after > before, "the survivor took over and kept consuming"
