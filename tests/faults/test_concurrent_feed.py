"""No fault at all: two workers that keep up with a moderate-rate replay (the README's backfill:
replay into the input topics while workers run with `--clock event`) publish exactly the
backtest's changes, and no event arrives late. The trap: a consumer's high-water mark is only as
fresh as its last fetch of that partition, so a topic can look "caught up" a moment before its
next records arrive while another topic of the same partition delivers newer events; the
watermark then jumps past records already in Kafka. At 400 events/s over 260 days, 5 minutes of
allowed lateness is ~10 ms of wall-clock skew. A topic must therefore also be quiet for
`source_idle_after` seconds before it stops holding the watermark back."""

from __future__ import annotations

import time

from tests.faults.common import Collector, Replay, compare, covers, dump, generate, oracle
from tests.integration.harness import metric_value, start_peer_worker


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
