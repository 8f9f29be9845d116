"""Faust's per-record intake at a fraction of its cost, with the same flow-control semantics.

Why: a Faust agent that does nothing at all consumed about 13k records/s on the bench machine,
while a raw aiokafka consumer read the same topics at about 250k/s (bench/faust_ceiling.py). Two
per-record costs in faust-streaming 0.15.3 dominate a py-spy profile of the bare agent:

- `Consumer._drain_messages` (transport/consumer.py) hands each fetched record to its stream
  with `await self.wait_first(callback(message), self.suspend_flow.wait())`: four tasks and an
  `asyncio.wait` to put one record in a queue that nearly always has room.
- the stream iterator (`_cython/streams.pyx`, `StreamIterator.next`) awaits `sleep(0)` before
  every record: a full turn of the event loop, with a `select` call, per record.

`deliver_inline` runs the callback's first step inline: if it completes there (room in the
queue), that is exactly what the race would have seen first, and no task is made; if it
suspends (a full queue: flow control holds it), the race runs as before on the rest of the
callback, so a rebalance's `suspend_flow` still breaks the wait. `yield_every` lets the stream
iterator yield to the loop on every n-th record instead of every record; everything else on the
loop (the fetcher, timers, the web server, commits) still gets a turn at least every n records
and whenever the stream's queue runs empty.

Reproduced by bench/faust_ceiling.py (records/s of a bare agent, with and without); the fault
suite and tests/unit/test_faust_intake.py hold the semantics.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

import faust._cython.streams as cython_streams
from mode.services import WaitResults

YIELD_EVERY = 64


class _Resume:
    """The rest of a coroutine already run up to its first suspension: awaiting this first
    awaits what the coroutine was waiting for, then drives it on to its end."""

    def __init__(self, coro: Coroutine, waiting_for: Any) -> None:
        self.coro, self.waiting_for = coro, waiting_for

    def __await__(self) -> Generator[Any, None, Any]:
        coro, waiting_for = self.coro, self.waiting_for
        while True:
            try:
                yield waiting_for
            except BaseException as error:  # noqa: BLE001 - cancellation and errors go to the coroutine
                try:
                    waiting_for = coro.throw(error)
                except StopIteration as done:
                    return done.value
                continue
            try:
                waiting_for = coro.send(None)
            except StopIteration as done:
                return done.value


def deliver_inline(consumer: Any) -> None:
    """Wrap the consumer's `wait_first` (a `mode.Service` method) as described above."""
    race = consumer.wait_first

    async def wait_first(*coros: Any, timeout: Any = None) -> WaitResults:
        if timeout is not None or len(coros) != 2 or not inspect.iscoroutine(coros[0]):
            return await race(*coros, timeout=timeout)
        first, other = coros
        try:
            waiting_for = first.send(None)
        except StopIteration as done:
            if inspect.iscoroutine(other):
                other.close()  # never started: nothing to undo
            return WaitResults([first], [done.value], False)
        return await race(_Resume(first, waiting_for), other)

    consumer.wait_first = wait_first


class _Ready:
    """An awaitable that is done at once (what `sleep(0)` is, minus the turn of the loop)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator, so `await` accepts it


_READY = _Ready()


class _EveryNth:
    def __init__(self, n: int) -> None:
        self.n, self.count = n, 0

    def __call__(self, delay: float, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        if delay == 0:
            self.count += 1
            if self.count < self.n:
                return _READY
            self.count = 0
        return asyncio.sleep(delay, *args, **kwargs)


def yield_every(n: int = YIELD_EVERY) -> None:
    """Make the Cython stream iterator's per-record `sleep(0)` yield on every n-th call only."""
    if not isinstance(cython_streams.sleep, _EveryNth):
        cython_streams.sleep = _EveryNth(n)


def install(consumer: Any) -> None:
    deliver_inline(consumer)
    yield_every()
