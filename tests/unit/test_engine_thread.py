"""The engine's own thread: a batch's engine calls run off the event loop, and whoever else reads
the engine waits until they are done (the extension refuses a read while a batch holds it)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agents.engine_thread import EngineThread


def test_work_runs_on_the_engine_thread_and_the_loop_goes_on_meanwhile():
    engine_thread = EngineThread()
    started, finish = threading.Event(), threading.Event()

    def work() -> str:
        started.set()
        finish.wait(5)
        return threading.current_thread().name

    async def scenario() -> str:
        running = asyncio.ensure_future(engine_thread.run(work))
        while not started.is_set():
            await asyncio.sleep(0.001)  # the loop is free while the work runs
        finish.set()
        return await running

    assert asyncio.run(scenario()).startswith("tagstream-engine")
    engine_thread.close()


def test_a_reader_waits_until_the_engine_is_idle():
    engine_thread = EngineThread()
    seen: list[str] = []
    finish = threading.Event()

    def work() -> None:
        finish.wait(5)
        seen.append("batch done")

    async def read() -> None:
        async with engine_thread.idle:
            seen.append("read")

    async def scenario() -> None:
        batch = asyncio.ensure_future(engine_thread.run(work))
        await asyncio.sleep(0.01)
        reader = asyncio.ensure_future(read())
        await asyncio.sleep(0.05)
        assert seen == [], "the reader waits"
        finish.set()
        await asyncio.gather(batch, reader)

    asyncio.run(scenario())
    assert seen == ["batch done", "read"]
    engine_thread.close()


def test_a_cancelled_caller_leaves_the_engine_busy_until_its_work_ends():
    engine_thread = EngineThread()
    finish = threading.Event()
    seen: list[str] = []

    def work() -> None:
        finish.wait(5)
        seen.append("batch done")

    async def scenario() -> None:
        batch = asyncio.ensure_future(engine_thread.run(work))
        await asyncio.sleep(0.01)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        assert engine_thread.idle.locked(), "the thread still works"
        asyncio.get_running_loop().call_later(0.05, finish.set)
        async with engine_thread.idle:
            seen.append("read")

    asyncio.run(scenario())
    assert seen == ["batch done", "read"]
    engine_thread.close()
