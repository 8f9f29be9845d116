"""Erasure end to end through the real broker and Redis: after `tagstream erase ID` nothing of the
customer remains in the worker's state (lookup, changelog), in Redis (hash, audience sets) or in
a Redis rebuilt from the changelog; exactly one `customer.erased` event is published; every
other customer is untouched."""

from __future__ import annotations

import asyncio
import time

import orjson

from agents.changelog import Changelog
from agents.kafka_clients import client_options
from agents.serving.profiles import CUSTOMER
from stream.changes import ERASED_TYPE
from tests.integration.harness import metric_value
from tests.integration.test_redis_serving import actual_redis, http_json, serving, wait_until_equal


def without(expected: tuple[dict, dict], customer_id: str) -> tuple[dict, dict]:
    hashes, audiences = expected
    rest = {key: members - {customer_id} for key, members in audiences.items()}
    return ({k: v for k, v in hashes.items() if k != CUSTOMER + customer_id}, {k: m for k, m in rest.items() if m})


def stored_customers(deployment) -> set[str]:
    settings = deployment.settings
    changelog = Changelog(settings.topic_changelog, settings.partitions, client_options(settings), producer=lambda: None)

    async def read() -> set[str]:
        return {customer_id async for _, stored in changelog.read(range(settings.partitions)) for customer_id, _ in stored.customers}

    return asyncio.run(read())


def test_an_erased_customer_is_gone_from_state_redis_and_a_rebuild_and_downstream_is_told(deployment, tmp_path):
    with serving(deployment, tmp_path, customers=80, days=150) as (worker, client, expected, victim):
        base = f"http://127.0.0.1:{worker.port}"
        assert http_json(f"{base}/customers/{victim}")[0] == 200
        erased = deployment.cli("erase", victim)
        assert erased.returncode == 0, erased.stderr
        remaining = without(expected, victim)
        assert wait_until_equal(client, remaining, timeout_s=60) == remaining, "hash and audience memberships gone"
        deadline = time.monotonic() + 30
        while http_json(f"{base}/customers/{victim}")[0] != 404 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert http_json(f"{base}/customers/{victim}")[0] == 404, "gone from the worker's state"
        events = [orjson.loads(r.value) for r in deployment.read_all(deployment.settings.topic_changes, idle_s=2)]
        told = [e for e in events if e["type"] == ERASED_TYPE]
        assert [e["data"]["customer_id"] for e in told] == [victim], "one erased event, for that customer"
        assert metric_value(worker.metrics() or "", "tagstream_customers_erased_total") == 1
        assert worker.alive, worker.tail()
    stored = stored_customers(deployment)
    assert victim not in stored and len(stored) == len(expected[0]) - 1, "the changelog holds a tombstone"
    client.flushall()
    rebuilt = deployment.cli("redis-rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert actual_redis(client) == remaining, "a rebuild does not bring the customer back"
