"""A rolling restart: SIGTERM the worker mid-stream and start it again (same app id, same data
directory), twice, while it works through a backlog. A clean stop flushes what it published and
commits offsets after that, so nothing is missing and nothing is published twice."""

from __future__ import annotations

import pytest

import random
import signal
import time

from tests.faults.common import Collector, Timeline, compare, covers, dump, fast_failover, generate, oracle, preload, wait_consuming

SEED = 20250302
CYCLES = 2


@pytest.mark.known_bug  # fails intermittently: see issue #6 notes; run with `make faults`
def test_sigterm_rolling_restart_has_no_duplicates_and_no_gaps(deployment, tmp_path):
    rng = random.Random(SEED)
    fast_failover(deployment)
    log = generate(deployment, tmp_path, customers=500, days=280, seed=102)
    expected = oracle(deployment, log)
    assert len(expected) > 12000
    preload(deployment, log)

    collector = Collector(deployment, deployment.settings.topic_changes)
    mark = Timeline(collector)
    worker = deployment.start_worker("--clock", "event")
    stopped = []
    try:
        for cycle in range(CYCLES):
            wait_consuming(worker)
            time.sleep(rng.uniform(0.5, 3.0))
            assert worker.alive, worker.tail()
            mark("SIGTERM")
            assert len(collector.records) < len(expected), "stopped mid-stream"
            t0 = time.monotonic()
            code = worker.stop(signal.SIGTERM, timeout_s=60)
            mark("stopped", f"exit {code} after {time.monotonic() - t0:.1f}s")
            stopped.append((code, worker))
            worker = deployment.start_worker("--clock", "event")
            mark("restarted")
        converged = collector.until(covers(expected), idle_s=4, timeout_s=40, alive=lambda: worker.alive)
        mark("converged" if converged else "gave up")
        assert worker.alive, worker.tail()
    finally:
        worker.stop()
        collector.close()

    dump(collector.records, tmp_path / "published.jsonl")
    result = compare(expected, collector.records)
    print(f"\nsigterm x{CYCLES}: {len(expected)} expected; {result.summary()}; timeline {mark}")
    for code, old in stopped:
        assert code == 0, f"a clean stop exits 0, got {code}:\n{old.tail()}"
    assert not result.missing, f"changes lost across a clean restart: {result.summary()}; timeline {mark}"
    assert not result.extra, f"changes the oracle does not have: {result.summary()}; timeline {mark}"
    assert not result.differing, result.summary()
    assert not result.wrong_key, result.summary()
    assert result.duplicates == 0, f"a clean stop must not cause re-publication: {result.summary()}; timeline {mark}"
