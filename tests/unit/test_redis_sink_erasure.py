"""An erasure that arrives while a profile write of the same customer is under way, and that
write fails: the profile is not kept for a retry, so the erased customer cannot come back."""

from __future__ import annotations

import asyncio

from agents.metrics import WorkerMetrics
from agents.serving.redis_sink import RedisSink


class FailingRedis:
    """Just enough of redis.asyncio.Redis: every pipeline fails, after a turn of the loop."""

    def register_script(self, source: str):
        async def script(keys, args, client):
            return None

        return script

    def pipeline(self, transaction: bool = False) -> "FailingRedis":
        return self

    async def __aenter__(self) -> "FailingRedis":
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    async def execute(self) -> None:
        await asyncio.sleep(0.01)
        raise OSError("Redis went away")


class Builder:
    def build(self, customers):
        return [(customer_id, b"{}") for customer_id, _ in customers], []


def test_a_customer_erased_during_a_failed_write_is_not_written_again():
    sink = RedisSink(FailingRedis(), Builder, WorkerMetrics(), resync=list, lookup=lambda customer_id: None)
    sink.offer([("c1", b"state-1"), ("c2", b"state-2")])

    async def scenario() -> None:
        flushing = asyncio.ensure_future(sink.flush())
        await asyncio.sleep(0.001)  # the write is under way
        sink.erase(["c1"])
        assert not await flushing

    asyncio.run(scenario())
    assert set(sink._dirty) == {"c2"} and sink._erase == ["c1"], "c1 is only to be erased; c2 kept for the retry"
