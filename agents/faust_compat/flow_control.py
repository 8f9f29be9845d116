"""Input records that Faust's flow control throws away are read again.

Why: Faust's flow control clears the stream queues on `resume()` (end of recovery) and at a
rebalance; input records in them are lost to Faust, whose fetch position is already past them
(agents/faust_compat/offsets.py has the whole story; reproduced by the recovery bench and
tests/faults/test_graceful_restarts.py). From the first batch on, such records rewind the offset
guard (the next record reveals them as a hole) and the consumer seeks back to them (so they come
again even if no record follows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import faust
from faust.types import TP

from agents.faust_compat.offsets import OffsetGuard, dropped_by_clear

logger = logging.getLogger(__name__)


def rewind_on_clear(app: faust.App, guard: OffsetGuard, input_topics: Collection[str]) -> None:
    clear_queues = app.flow_control.clear

    def clear_and_rewind() -> None:
        dropped = dropped_by_clear(app.flow_control._queues, input_topics)
        clear_queues()
        for (topic, partition), offset in dropped.items():
            logger.warning("%s[%d]: Faust dropped queued records from offset %d; reading them again", topic, partition, offset)
            guard.rewind(topic, partition, offset)
        if dropped and not app.should_stop:
            asyncio.ensure_future(_seek_back(app, dropped))

    app.flow_control.clear = clear_and_rewind  # FlowControlEvent.resume() calls self.clear()


async def _seek_back(app: faust.App, dropped: dict[tuple[str, int], int]) -> None:
    """On the consumer's thread; also resets Faust's read offset, so the copies are not dropped
    as already read."""
    assigned = app.consumer.assignment()
    offsets = {TP(topic, partition): offset for (topic, partition), offset in dropped.items() if TP(topic, partition) in assigned}
    try:
        await app.consumer.seek_wait(offsets)
    except Exception:  # noqa: BLE001 - revoked meanwhile: the next owner starts from the commit
        logger.exception("seek back to %s failed", offsets)
