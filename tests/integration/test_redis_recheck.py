"""The re-sync queue of the Redis writer (agents/serving/redis_sink.py), against a real Redis:
customers of a partition taken over are written again from their state at that moment, after
every fresh profile, and an older state never replaces a newer one already in Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from agents.metrics import WorkerMetrics
from agents.serving.profiles import CUSTOMER, profile_from_record
from agents.serving.redis_sink import RedisSink
from stream.record import customer_record
from stream.rules.ruleset import load_rules
from stream.state import CustomerState
from tests.integration.harness import RedisServer

RULES = load_rules()


def to_profile(customer_id: str, state: CustomerState):
    return profile_from_record(customer_record(RULES, customer_id, state, state.clock or 0), state.clock or 0)


def test_rechecked_customers_are_written_from_their_current_state_after_fresh_profiles(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        states = {f"c{n}": CustomerState(clock=1_000 + n, orders_total=n) for n in range(1_200)}

        async def scenario() -> list[str]:
            client = Redis.from_url(server.url)
            sink = RedisSink(client, to_profile, WorkerMetrics(), resync=states.keys, lookup=states.get, batch=500)
            sink.recheck(states)
            states["c7"] = CustomerState(clock=9_000, orders_total=70)  # changed since it was queued
            sink.offer("fresh", CustomerState(clock=5, orders_total=1))
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
        assert client.hget(CUSTOMER + "c7", "orders_total") == "70"
        assert client.hget(CUSTOMER + "c7", "as_of_ms") == "9000"

        async def stale() -> None:
            async_client = Redis.from_url(server.url)
            sink = RedisSink(async_client, to_profile, WorkerMetrics(), resync=states.keys, lookup={"c7": CustomerState(clock=1_007)}.get)
            sink.recheck(["c7"])
            await sink.drain()
            await async_client.aclose()

        asyncio.run(stale())
        assert client.hget(CUSTOMER + "c7", "as_of_ms") == "9000", "an older state must not overwrite a newer profile"
    finally:
        server.kill()


def test_a_profile_is_taken_when_offered_so_a_state_changed_afterwards_does_not_leak_into_redis(tmp_path):
    """The worker's state cache may hand a written state to the engine again before Redis is
    written: what Redis gets must be the state as committed, not as changed since."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        async def scenario() -> None:
            client = Redis.from_url(server.url)
            sink = RedisSink(client, to_profile, WorkerMetrics(), resync=lambda: [], lookup=lambda customer_id: None)
            state = CustomerState(clock=1_000, orders_total=3)
            sink.offer("c1", state)
            state.orders_total, state.clock = 4, 2_000  # the next batch, not yet committed
            await sink.drain()
            await client.aclose()

        asyncio.run(scenario())
        client = server.client()
        assert client.hget(CUSTOMER + "c1", "orders_total") == "3"
        assert client.hget(CUSTOMER + "c1", "as_of_ms") == "1000"
    finally:
        server.kill()
