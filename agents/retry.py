"""Retrying a batch's deliveries until Kafka takes them.

Why never give up: by the time a batch's outputs are sent, the engine has applied its events.
Dropping the outputs would lose tag changes; re-running the events would apply them twice. So a
broker outage or a not-yet-known topic is waited out, in the open (a warning per failure and
`tagstream_delivery_retries_total`), and the batch is acked only once everything is delivered.
Stopping the worker cancels the wait; the batch is then not acked and is re-read by whoever
owns the partition next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

logger = logging.getLogger(__name__)


async def until_delivered(what: str, attempt: Callable[[], Awaitable[None]], retries: Counter,
                          first_delay_s: float = 0.1, max_delay_s: float = 5.0) -> None:
    delay = first_delay_s
    while True:
        try:
            await attempt()
            return
        except Exception as exc:  # noqa: BLE001 - every failure is retried; CancelledError is not an Exception
            retries.labels(what).inc()
            logger.warning("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
