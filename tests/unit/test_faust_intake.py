"""The worker's intake (agents/faust_compat/intake.py) keeps what Faust's per-record race means:
a record whose queue has room is delivered at once, without the race; a full queue waits until
it has room or until flow control is suspended (a rebalance), whichever comes first."""

from __future__ import annotations

import asyncio
import warnings

import faust._cython.streams as cython_streams
from mode import Service

from agents.faust_compat import intake


class Consumer(Service):
    """A `mode.Service`, as Faust's consumer is: its `wait_first` is the race being wrapped."""

    def __init__(self) -> None:
        super().__init__()
        self.races = 0
        race = self.wait_first

        async def counted(*coros, timeout=None):
            self.races += 1
            return await race(*coros, timeout=timeout)

        self.wait_first = counted


def test_a_record_with_room_in_its_queue_is_delivered_without_a_race():
    async def scenario():
        consumer, queue, suspended = Consumer(), asyncio.Queue(maxsize=2), asyncio.Event()
        intake.deliver_inline(consumer)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the unused wait() coroutine is closed, never leaked
            result = await consumer.wait_first(queue.put("r1"), suspended.wait())
        return consumer.races, queue.qsize(), result

    races, queued, result = asyncio.run(scenario())
    assert (races, queued) == (0, 1)
    assert not result.stopped and len(result.done) == 1


async def delivery_into_a_full_queue() -> tuple[Consumer, asyncio.Queue, asyncio.Event, asyncio.Future]:
    """Record r1 handed over while the stream's queue (room for one) still holds r0."""
    consumer, queue, suspended = Consumer(), asyncio.Queue(maxsize=1), asyncio.Event()
    intake.deliver_inline(consumer)
    await queue.put("r0")
    delivery = asyncio.ensure_future(consumer.wait_first(queue.put("r1"), suspended.wait()))
    await asyncio.sleep(0.05)
    return consumer, queue, suspended, delivery


def test_a_full_queue_waits_for_room_through_the_race():
    async def scenario():
        consumer, queue, _, delivery = await delivery_into_a_full_queue()
        waiting = not delivery.done()
        assert await queue.get() == "r0"  # the stream takes a record: room again
        await asyncio.wait_for(delivery, 1)
        return consumer.races, waiting, await queue.get()

    assert asyncio.run(scenario()) == (1, True, "r1")


def test_a_suspended_flow_ends_the_wait_of_a_full_queue():
    async def scenario():
        _, queue, suspended, delivery = await delivery_into_a_full_queue()
        suspended.set()  # a rebalance: Faust's fetch loop must not hang on the full queue
        await asyncio.wait_for(delivery, 1)
        await asyncio.sleep(0.05)
        return queue.qsize()

    assert asyncio.run(scenario()) == 1, "the pending put was given up, as the race gives it up"


def test_the_stream_yields_to_the_loop_on_every_nth_record(monkeypatch):
    monkeypatch.setattr(cython_streams, "sleep", asyncio.sleep)  # Faust's own; restored after the test
    intake.yield_every(4)
    sleep = cython_streams.sleep
    turns = [sleep(0) for _ in range(8)]
    real = [t for t in turns if asyncio.iscoroutine(t)]
    assert len(real) == 2, "every 4th call is a real sleep(0)"
    for coro in real:
        coro.close()
    delayed = sleep(0.5)
    assert asyncio.iscoroutine(delayed), "a real delay is never skipped"
    delayed.close()
