"""Writes customer profiles to Redis in the background, surviving Redis outages.

The stream never waits for Redis: processing only records which customers changed, with their
profile as of the batch just committed (latest wins, so a burst of events for one customer costs
one write). A background task flushes them in
pipelined batches through an atomic, event-time-ordered Lua script. When Redis is unreachable
the pending profiles stay in memory, failures are counted, the task backs off, and once Redis
answers again every customer is re-synced from the worker's state (Redis may have restarted empty).

Re-syncs (after an outage, and for the customers of a partition this worker has just taken over,
whose last profile a dead predecessor may not have written) go through a second, low-priority
queue of customer ids: it is worked on only when no fresh profile waits, reads each customer's
current state at that moment, and pauses after each batch for as long as the batch took, so a
million-customer re-sync costs the stream at most half the event loop instead of all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from importlib.resources import files
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agents.metrics import WorkerMetrics
from agents.serving.profiles import AUDIENCE, customer_key

log = logging.getLogger(__name__)
SCRIPT = files("agents.serving").joinpath("write_profile.lua").read_text()
ERASE_SCRIPT = files("agents.serving").joinpath("erase_profile.lua").read_text()
Lookup = Callable[[str], "bytes | None"]


class ProfileBuilder(Protocol):
    """`stream._native.ProfileBuilder`: customers' stored states -> their profiles (one JSON
    object each, the script's shape) and the customers whose state could not be read, with why."""

    def build(self, customers: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]: ...


PER_SCRIPT = 100  # profiles per script call: one command instead of a hundred, Redis busy ~1-2 ms


def script_args(profiles: list[bytes]) -> list[bytes]:
    return [AUDIENCE.encode(), b"[" + b",".join(profiles) + b"]"]


class RedisSink:
    def __init__(
        self,
        client: Redis,
        profile_builder: Callable[[], ProfileBuilder],
        metrics: WorkerMetrics,
        resync: Callable[[], Iterable[str]],
        lookup: Lookup,
        batch: int = 500,
        interval_s: float = 0.1,
        engine_idle: AbstractAsyncContextManager = nullcontext(),
    ) -> None:
        self.client = client
        self.profile_builder = profile_builder  # `Engine.profile_builder`, taken on the loop's thread
        self.metrics = metrics
        self.resync = resync  # every customer id, for a full re-sync
        self.lookup = lookup  # a customer's current state, for the re-sync queue
        self.batch = batch
        self.interval_s = interval_s
        self.engine_idle = engine_idle  # entered to call the three above (agents/engine_thread.py)
        self.script = client.register_script(SCRIPT)
        self._dirty: dict[str, bytes] = {}  # customer -> stored state: its profile is made when written
        self._recheck: deque[str] = deque()
        self._erase: list[str] = []
        self.erase_script = client.register_script(ERASE_SCRIPT)
        self._backoff_s = 0.0
        self._resync_due = False

    def offer(self, customers: Iterable[tuple[str, bytes]]) -> None:
        """Customers whose state was just written (or, for a rebuild, all of them): a profile is
        made when it is written to Redis, so a customer written many times before that costs one."""
        for customer_id, raw in customers:
            self._dirty[customer_id] = raw
        self.metrics.redis_pending.set(len(self._dirty))

    def erase(self, customer_ids: Iterable[str]) -> None:
        """Customers erased on request: their hash and audience memberships go, before any
        profile offered after this (one erased and back again)."""
        for customer_id in customer_ids:
            self._dirty.pop(customer_id, None)
            self._erase.append(customer_id)
        self.metrics.redis_pending.set(self.pending)

    def recheck(self, customer_ids: Iterable[str]) -> None:
        """Write these customers again, in the background, from whatever their state is then."""
        self._recheck.extend(customer_ids)
        self.metrics.redis_pending.set(self.pending)

    @property
    def pending(self) -> int:
        return len(self._dirty) + len(self._recheck) + len(self._erase)

    async def run(self) -> None:
        """Flush forever; cancelled with the worker."""
        while True:
            await asyncio.sleep(self.interval_s + self._backoff_s)
            await self.flush()

    async def flush(self) -> bool:
        """Erase what was erased, write every fresh profile, then one batch of re-syncs; False
        (and nothing lost) if Redis failed."""
        if self._erase and not await self._erase_all():
            return False
        while self._dirty:
            batch = [self._dirty.popitem() for _ in range(min(self.batch, len(self._dirty)))]
            if not await self._write(batch):
                erased = set(self._erase)  # erased while the write was under way: not to be written again
                for customer_id, pending in batch:
                    if customer_id not in erased:
                        self._dirty.setdefault(customer_id, pending)  # a newer one may have arrived
                self.metrics.redis_pending.set(self.pending)
                return False
            await asyncio.sleep(0)  # let the stream run between batches
        if self._resync_due:
            self._resync_due = False
            self._recheck.clear()  # all of them are queued again
            async with self.engine_idle:
                self.recheck(self.resync())
            log.info("Redis is back: re-syncing all %d customers from the worker's state in the background", len(self._recheck))
        ok = await self._recheck_batch()
        self.metrics.redis_pending.set(self.pending)
        return ok

    async def drain(self) -> bool:
        """Flush until nothing is pending (a one-off job, or a test); False if Redis failed."""
        while self.pending:
            if not await self.flush():
                return False
        return True

    async def _recheck_batch(self) -> bool:
        if not self._recheck:
            return True
        started = time.perf_counter()
        ids = [self._recheck.popleft() for _ in range(min(self.batch, len(self._recheck)))]
        async with self.engine_idle:
            batch = [(customer_id, raw) for customer_id in ids if (raw := self.lookup(customer_id)) is not None]
        if batch and not await self._write(batch):
            self._recheck.extendleft(reversed(ids))
            return False
        await asyncio.sleep(time.perf_counter() - started)  # at most half the loop's time
        return True

    async def _erase_all(self) -> bool:
        erasing, self._erase = self._erase, []
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for customer_id in erasing:
                    await self.erase_script(keys=[customer_key(customer_id)], args=[AUDIENCE.encode(), customer_id.encode()],
                                            client=pipe)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self._erase = erasing + self._erase
            self._failed(error, len(erasing))
            return False
        return True

    async def _profiles(self, batch: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """The profiles to write, built on a thread of their own (the engine releases the GIL, so
        the stream goes on meanwhile: ~25 µs per customer, a fifth of the worker when it ran on
        the loop). A stored state that cannot be read is logged and counted, and must not stop
        the writer: every other customer's profile still goes out."""
        async with self.engine_idle:
            builder = self.profile_builder()
        profiles, unreadable = await asyncio.get_running_loop().run_in_executor(None, builder.build, batch)
        for customer_id, error in unreadable:
            self.metrics.redis_unreadable.inc()
            log.error("customer %r: its stored state is unreadable, no Redis profile written: %s", customer_id, error)
        return profiles

    async def _write(self, batch: list[tuple[str, bytes]]) -> bool:
        started = time.perf_counter()
        profiles = await self._profiles(batch)  # of the states in `batch`, as they were when taken
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for start in range(0, len(profiles), PER_SCRIPT):
                    chunk = profiles[start:start + PER_SCRIPT]
                    await self.script(keys=[customer_key(customer_id) for customer_id, _ in chunk],
                                      args=script_args([profile for _, profile in chunk]), client=pipe)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self._failed(error, len(batch))
            return False
        self._backoff_s = 0.0
        self.metrics.redis_write_seconds.observe(time.perf_counter() - started)
        return True

    def _failed(self, error: Exception, kept: int) -> None:
        self.metrics.redis_failures.inc()
        self._backoff_s = min(max(self._backoff_s * 2, 0.2), 5.0)
        self._resync_due = True
        log.warning("Redis write failed (%s); %d kept, retrying in %.1fs", error, kept, self._backoff_s)
