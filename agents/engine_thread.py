"""The engine's own thread: a batch's engine calls run there, off the event loop.

Why: the engine releases the GIL while it works, so the event loop meanwhile sends the previous
batch's outputs and waits for Kafka's acknowledgements (agents/checkpoint.py, `Pipeline`); on
the loop, the engine's ~30 % of a busy worker was time in which nothing else could happen.

The engine is not safe to read while a batch runs (the extension holds it exclusively and a
concurrent call fails with "Already mutably borrowed"), so whatever else reads it on the loop
(HTTP lookups, the Redis writer's re-syncs and profile builder) waits in `idle` until the thread
is done. Calls made by the agent between batches (loading partitions, metrics) need no waiting:
the agent starts the next batch only after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class EngineThread:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tagstream-engine")
        self.idle = asyncio.Lock()  # held while the thread works: `async with engine_thread.idle` to read

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` on the engine's thread. The engine counts as busy until `work` returns,
        even if the caller is cancelled meanwhile (a thread cannot be interrupted)."""
        await self.idle.acquire()
        loop = asyncio.get_running_loop()
        try:
            future: Future[T] = self._executor.submit(work)
        except BaseException:
            self.idle.release()
            raise
        future.add_done_callback(lambda _: _release_on(loop, self.idle))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _release_on(loop: asyncio.AbstractEventLoop, lock: asyncio.Lock) -> None:
    """From the thread: release the lock on its loop (unless the loop is gone, at shutdown)."""
    try:
        loop.call_soon_threadsafe(lock.release)
    except RuntimeError:
        pass
