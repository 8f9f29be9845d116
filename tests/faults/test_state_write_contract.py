"""A deterministic reproduction (no broker needed) of the Faust behaviour behind the state losses
the SIGKILL and failover tests once observed, and the reason the worker writes its state to the
changelog itself and awaits the acknowledgements before it releases a batch's offsets
(agents/checkpoint.py; the order of the steps is specified in tests/unit/test_checkpoint.py)."""

from __future__ import annotations

import asyncio
import types

import pytest
from faust.transport.producer import ProducerBuffer



@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "faust-streaming 0.15.3: ProducerBuffer.flush() returns as soon as one message takes > 0.1 s to "
    "send, with messages still queued; Consumer._commit_offsets relies on producer.flush(), so offsets "
    "can be committed before the batch's table (changelog) writes are sent, and a SIGKILL then loses "
    "state whose events will not be re-read"))
def test_producer_flush_drains_the_table_write_buffer():
    async def scenario() -> tuple[int, int]:
        published = []

        class SlowChannel:  # a broker under load: one send takes 0.3 s
            async def publish_message(self, fut, wait=False):
                await asyncio.sleep(0.3)
                published.append(fut)

        buffer = ProducerBuffer()
        buffer.app = types.SimpleNamespace(conf=types.SimpleNamespace(producer_threaded=False))
        await buffer.start()
        try:
            for _ in range(3):  # three changelog writes of one batch, queued by table[key] = value
                buffer.put(types.SimpleNamespace(message=types.SimpleNamespace(channel=SlowChannel())))
            await buffer.flush()  # what the offset commit awaits before committing
            return buffer.size, len(published)
        finally:
            await asyncio.sleep(1.2)  # let the slow sends finish, then stop cleanly
            await buffer.stop()

    left, sent = asyncio.run(scenario())
    assert (left, sent) == (0, 3), f"flush() returned with {left} writes still queued and {sent} of 3 sent"
