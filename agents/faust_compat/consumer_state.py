"""What the worker reads from Faust's consumer and producer that Faust has no public API for.

Why: the watermark needs each input partition's high-water mark and the group's committed
offset (is a topic drained?), and the changelog and change topics are written through the
worker's own aiokafka producer in whole record batches (agents/record_batches.py). Each access
is one function here, so an upgrade of faust-streaming (pinned at 0.15.x) has one place to check;
tests/integration/test_live_changes.py and the fault suite exercise all three.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP


def committed_offset(app: faust.App, topic: str, partition: int) -> int | None:
    return app.consumer._committed_offset.get(TP(topic, partition))  # type: ignore[attr-defined]  # Faust private


def flow_active(consumer: Any) -> bool:
    """Whether Faust's consumer is handing out records (off while a rebalance is under way):
    an attribute of Faust's `Consumer`, not of the `ConsumerT` interface the app exposes."""
    return bool(consumer.flow_active)


def highwater(app: faust.App, topic: str, partition: int) -> int | None:
    """The next offset the consumer will fetch for this partition, None while not known."""
    try:
        return app.consumer.highwater(TP(topic, partition))
    except Exception:  # noqa: BLE001 - not assigned / not yet fetched: unknown, so not caught up
        return None


def running_producer(app: faust.App) -> Any:
    """The started aiokafka producer underneath Faust's (it exists only once the app runs)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]  # Faust private
