"""The re-sync queue of the Redis writer (agents/serving/redis_sink.py), against a real Redis:
customers of a partition taken over are written again from their state at that moment, after
every fresh profile, and an older state never replaces a newer one already in Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis


from agents.metrics import WorkerMetrics
from agents.serving.profiles import CUSTOMER
from agents.serving.redis_sink import RedisSink
from stream.native import Engine
from stream.rules.plan_export import plan_json
from tests.integration.harness import RedisServer
from tests.unit.tagspec import T0, default_rules, order, stored_states

to_profiles = Engine(plan_json(default_rules()), 1).profile_builder


def test_rechecked_customers_are_written_from_their_current_state_after_fresh_profiles(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        states = stored_states([order(f"c{n}", T0 + n) for n in range(1_200)])
        later = stored_states([order("c7", T0 + 7), order("c7", T0 + 9_000)])["c7"]
        fresh = stored_states([order("fresh", T0 + 5)])["fresh"]

        async def scenario() -> list[str]:
            client = Redis.from_url(server.url)
            sink = RedisSink(client, to_profiles, WorkerMetrics(), resync=states.keys, lookup=states.get, batch=500)
            sink.recheck(states)
            states["c7"] = later  # changed since it was queued
            sink.offer([("fresh", fresh)])
            assert sink.pending == 1_201
            await sink.flush()  # every fresh profile, then one batch of re-checks
            written = [key async for key in client.scan_iter(CUSTOMER + "*")]
            assert sink.pending == 1_200 - 500
            await sink.drain()
            await client.aclose()
            return written

        first_flush = asyncio.run(scenario())
        assert CUSTOMER + "fresh" in {key.decode() for key in first_flush} and len(first_flush) == 501
        client = server.client()
        assert len(list(client.scan_iter(CUSTOMER + "*"))) == 1_201
        assert client.hget(CUSTOMER + "c7", "orders_total") == "2"
        assert client.hget(CUSTOMER + "c7", "as_of_ms") == str(T0 + 9_000)

        async def stale() -> None:
            async_client = Redis.from_url(server.url)
            older = stored_states([order("c7", T0 + 7)])
            sink = RedisSink(async_client, to_profiles, WorkerMetrics(), resync=states.keys, lookup=older.get)
            sink.recheck(["c7"])
            await sink.drain()
            await async_client.aclose()

        asyncio.run(stale())
        assert client.hget(CUSTOMER + "c7", "as_of_ms") == str(T0 + 9_000), "an older state must not overwrite a newer profile"
    finally:
        server.kill()


def test_an_unreadable_stored_state_is_skipped_and_counted_and_the_writer_goes_on(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        states = stored_states([order(f"c{n}", T0 + n) for n in range(3)])
        states["c1"] = b"\x02garbage"
        metrics = WorkerMetrics()

        async def scenario() -> None:
            client = Redis.from_url(server.url)
            sink = RedisSink(client, to_profiles, metrics, resync=states.keys, lookup=states.get)
            sink.offer([("c1", states["c1"])])
            sink.offer([("c0", states["c0"])])
            sink.recheck(["c1", "c2"])
            assert await sink.drain()
            await client.aclose()

        asyncio.run(scenario())
        client = server.client()
        assert sorted(key for key in client.scan_iter(CUSTOMER + "*")) == [CUSTOMER + "c0", CUSTOMER + "c2"]
        assert metrics.redis_unreadable._value.get() == 2
    finally:
        server.kill()
