"""A Faust table whose changelog writes can be awaited.

Why: Faust commits offsets after `producer.flush()`, and in faust-streaming 0.15.3
`ProducerBuffer.flush()` gives up after 0.1 s with writes still queued (reproduced in
tests/faults/test_state_write_contract.py). A worker killed just then has committed offsets for
events whose state never reached the changelog, and those events are not re-read: their effect is
lost. The agent therefore waits for its own changelog writes (`written`) before it lets Faust
ack the batch, so no commit can run ahead of the state it covers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import FutureMessage


class AckedTable(faust.Table):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        sent = super().send_changelog(*args, **kwargs)
        self._in_flight.append(sent)
        return sent

    async def written(self, timeout_s: float) -> None:
        """Return once Kafka acknowledged every changelog write made so far; raise the first
        delivery error, or `TimeoutError` (a write that never left the buffer has no error)."""
        in_flight, self._in_flight = self._in_flight, []
        if in_flight:
            await asyncio.wait_for(asyncio.gather(*in_flight), timeout_s)


def acked_table(app: faust.App, name: str, **options: Any) -> AckedTable:
    """`app.Table(...)` with the awaitable-changelog subclass."""
    return app.tables.add(AckedTable(app, name=name, beacon=app.tables.beacon, **options))
