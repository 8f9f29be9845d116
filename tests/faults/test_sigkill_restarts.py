"""SIGKILL the worker at seeded-random moments while it works through a backlog, restarting it
each time with the same app id and data directory: no tag change is missing, none is invented,
every duplicate (same id) is byte-identical to its first copy, and Redis converges to the
backtest snapshot."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable

import orjson

from tests.faults.common import (
    Backlog,
    Collector,
    fast_failover,
    ids_of,
    input_drained,
    mid_stream,
    wait_consuming,
    wait_for_share,
)
from tests.integration.test_redis_serving import describe_difference, expected_redis, wait_until_equal

SEED = 20250301
CYCLES = 3


def test_sigkill_mid_stream_loses_nothing_and_duplicates_are_identical(deployment, tmp_path):
    rng = random.Random(SEED)
    fast_failover(deployment)
    mid_stream(deployment)
    snapshot = tmp_path / "snapshot.jsonl"
    run = Backlog.produced(deployment, tmp_path, customers=600, days=300, seed=101, at_least=15000, snapshot=snapshot)
    worker = deployment.start_worker("--clock", "event")
    try:
        for cycle in range(CYCLES):
            if not wait_consuming(worker, drained=input_drained(deployment)):
                run.mark("drained", "the backlog was consumed before this cycle: no more stops")
                break
            # a random point of the stream, batches in flight: by progress, which a faster worker
            # cannot outrun the way it outran a random sleep of up to 2.5 s (stop 26)
            wait_for_share(run, (cycle + rng.uniform(0.2, 0.8)) / (CYCLES + 1), timeout_s=60)
            assert worker.alive, worker.tail()
            run.mark("SIGKILL")
            to_come = len(run.expected.keys() - ids_of(run.collector.records))
            assert to_come > 0, "killed mid-stream"
            worker.stop(signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 1.0))
            worker = deployment.start_worker("--clock", "event")
            run.mark("restarted", f"{to_come} changes were still to come")
        run.converge(alive=lambda: worker.alive, timeout_s=40)
        redis_expected = expected_redis(snapshot.read_bytes())
        redis_actual = wait_until_equal(deployment.redis.client(), redis_expected, timeout_s=30)
        run.mark("redis compared")
        assert worker.alive, worker.tail()
    finally:
        worker.stop()
        run.collector.close()

    # At-least-once: duplicates are allowed after a crash; their count is reported, not bounded.
    run.check(f"sigkill x{CYCLES}", tmp_path, duplicates=True)
    assert redis_actual == redis_expected, describe_difference(redis_expected, redis_actual)


def test_a_worker_restarted_after_sigkill_takes_its_partitions_back_without_waiting_out_its_session(deployment):
    """Default settings (a 60 s session): the restarted worker rejoins the group as the static
    member it was (TAGSTREAM_INSTANCE_ID), so changes flow again in seconds, not after the dead
    process's session expires."""
    changes = Collector(deployment, deployment.settings.topic_changes)
    producer = deployment.producer()

    def order_now(customer: str) -> None:
        doc = {"type": "order", "event_id": f"o-{customer}", "customer_id": customer, "ts": int(time.time() * 1000), "amount": 10.0}
        producer.send(deployment.settings.topic_orders, key=customer.encode(), value=orjson.dumps(doc))
        producer.flush()

    def changed(customer: str) -> Callable[[list], bool]:
        return lambda records: any(orjson.loads(r.value)["data"]["customer_id"] == customer for r in records)

    worker = deployment.start_worker("--clock", "live")
    try:
        order_now("first")  # a first event makes every partition's clock live
        wait_consuming(worker)
        worker.stop(signal.SIGKILL)
        killed = time.monotonic()
        worker = deployment.start_worker("--clock", "live")
        order_now("after-restart")
        assert changes.until(changed("after-restart"), idle_s=0, timeout_s=120, alive=lambda: worker.alive), worker.tail()
        seconds = time.monotonic() - killed
        print(f"SIGKILL -> change of a new event readable: {seconds:.1f} s")
        # Half the session: with dynamic membership the group would wait it out (>= 60 s).
        assert seconds < 30, worker.tail()
    finally:
        worker.stop()
        changes.consumer.close()
