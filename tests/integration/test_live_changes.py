"""Live clock, default rule pack, real broker: an event's own changes are published as soon as it is
processed, stamped at its own time, although the pack's 5-minute lateness bound has not passed it;
an event from the future is dead-lettered."""

from __future__ import annotations

import time

import orjson

from stream.rules.ruleset import load_rules
from stream.timeutil import format_ts
from tests.integration.harness import metric_value


def wait_for_the_clock(worker, partitions: int, timeout_s: float = 30) -> None:
    """Until every partition's watermark follows the wall clock: before that, with nothing read
    yet, the worker cannot tell a live event from the head of a backlog and buffers it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metrics = worker.metrics() or ""
        if all(metric_value(metrics, "tagstream_watermark_seconds", partition=str(p)) > 0 for p in range(partitions)):
            return
        time.sleep(0.3)
    raise AssertionError(f"the live clock did not reach every partition within {timeout_s}s:\n{worker.tail()}")


def test_an_event_s_changes_do_not_wait_for_the_lateness_bound(deployment):
    worker = deployment.start_worker("--clock", "live")
    try:
        wait_for_the_clock(worker, deployment.settings.partitions)
        producer = deployment.producer()
        # A buffered event waits until the watermark (wall clock - 5 minutes) passes it, so a change
        # within the test's minute proves it was applied on arrival.
        now = int(time.time() * 1000)
        order = {"event_id": "o-live", "type": "order", "customer_id": "c-live", "ts": now, "amount": 1500.0}
        future = {"event_id": "o-future", "type": "order", "customer_id": "c-live", "ts": now + 3_600_000, "amount": 1.0}
        for event in (order, future):
            producer.send(deployment.settings.topic_orders, key=b"c-live", value=orjson.dumps(event))
        producer.flush()
        producer.close()
        families = len(load_rules().families)
        changes = deployment.read_all(deployment.settings.topic_changes, expect=families, idle_s=2, timeout_s=60)
        dead = deployment.read_all(deployment.settings.topic_dlq, expect=1, idle_s=0, timeout_s=30)
        assert worker.alive, worker.tail()
    finally:
        worker.stop()

    data = [orjson.loads(record.value)["data"] for record in changes]
    assert len(data) == families, "one first assignment per family of the default pack, nothing else"
    assert {d["at"] for d in data} == {format_ts(now)}
    assert {d["cause_event_id"] for d in data} == {"o-live"}
    assert {(d["family"], d["to"]) for d in data} >= {("lifecycle", "new"), ("value_tier", "high")}
    assert [dict(r.headers)["tagstream.error.reason"] for r in dead] == [b"future_ts"]
