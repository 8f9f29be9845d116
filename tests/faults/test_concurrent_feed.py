"""No fault at all: a worker that keeps up with a moderate-rate replay (the README's backfill:
replay into the input topics while a worker runs with `--clock event`) must publish exactly the
backtest's changes. It does not: the per-partition watermark treats a topic as "caught up" when
the consumer's position reaches its *cached* high-water mark, which is only refreshed when that
partition is fetched again; meanwhile another topic of the same partition, fetched a moment
later, delivers newer events and the watermark jumps past records that are already in Kafka.
Those records then arrive "late" (stamped at the watermark, different ids from backtest). At
400 events/s over 260 days, 5 minutes of allowed lateness is ~10 ms of wall-clock skew."""

from __future__ import annotations

import time

import pytest

from tests.faults.common import Collector, Replay, compare, covers, dump, generate, oracle
from tests.integration.harness import metric_value, start_peer_worker


@pytest.mark.known_bug  # fails intermittently: see issue #6 notes; run with `make faults`
@pytest.mark.xfail(strict=False, reason="watermark race: a stale consumer high-water mark makes a topic look caught up "
                   "while its older records are already in Kafka; events become late under a concurrent replay")
def test_a_worker_keeping_up_with_a_replay_publishes_exactly_the_backtest(deployment, tmp_path):
    log = generate(deployment, tmp_path, customers=500, days=260, seed=107)
    expected = oracle(deployment, log)
    collector = Collector(deployment, deployment.settings.topic_changes)
    workers = [deployment.start_worker("--clock", "event"), start_peer_worker(deployment, "--clock", "event")]
    time.sleep(3)  # let the group settle: the race needs no rebalance
    replay = Replay(deployment, log, "--rate", "400")
    try:
        assert replay.wait(timeout_s=120) == 0, replay.stderr()
        collector.until(covers(expected), idle_s=4, timeout_s=15, alive=lambda: all(w.alive for w in workers))
        late = sum(metric_value(w.metrics() or "", "tagstream_events_late_total") for w in workers)
        assert all(w.alive for w in workers), [w.tail() for w in workers]
    finally:
        replay.kill()
        for w in workers:
            w.stop()
        collector.close()
    dump(collector.records, tmp_path / "published.jsonl")
    result = compare(expected, collector.records)
    print(f"\nconcurrent feed: {len(expected)} expected; {late:.0f} late events; {result.summary()}")
    assert late == 0, f"{late:.0f} events arrived behind the watermark although sent in time order; {result.summary()}"
    assert not result.missing and not result.extra, result.summary()
