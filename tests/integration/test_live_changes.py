"""Live clock, default rule pack, real broker: an event's own changes are published as soon as it is
processed, stamped at its own time, although the pack's 5-minute lateness bound has not passed it;
deadlines of the same customer do not fire early; an event from the future is dead-lettered."""

from __future__ import annotations

import time

import orjson

from stream.timeutil import format_ts


def test_an_event_s_changes_do_not_wait_for_the_lateness_bound(deployment):
    worker = deployment.start_worker("--clock", "live")
    try:
        producer = deployment.producer()
        # Stamped four minutes ahead (inside the 5-minute skew allowed): the old buffered clock
        # released it only once the watermark (wall clock - 5 minutes) passed it, ~9 minutes later.
        ahead = int(time.time() * 1000) + 4 * 60_000
        order = {"event_id": "o-live", "type": "order", "customer_id": "c-live", "ts": ahead, "amount": 1500.0}
        future = {"event_id": "o-future", "type": "order", "customer_id": "c-live", "ts": ahead + 3_600_000, "amount": 1.0}
        for event in (order, future):
            producer.send(deployment.settings.topic_orders, key=b"c-live", value=orjson.dumps(event))
        producer.flush()
        producer.close()
        changes = deployment.read_all(deployment.settings.topic_changes, expect=12, idle_s=2, timeout_s=60)
        dead = deployment.read_all(deployment.settings.topic_dlq, expect=1, idle_s=0, timeout_s=30)
        assert worker.alive, worker.tail()
    finally:
        worker.stop()

    data = [orjson.loads(record.value)["data"] for record in changes]
    assert len(data) == 12, "one first assignment per family of the default pack, nothing else"
    assert {d["at"] for d in data} == {format_ts(ahead)}
    assert {d["cause_event_id"] for d in data} == {"o-live"}
    assert {(d["family"], d["to"]) for d in data} >= {("lifecycle", "new"), ("value_tier", "high")}
    assert [dict(r.headers)["tagstream.error.reason"] for r in dead] == [b"future_ts"]
