"""Where results go: tag changes to the output topic, rejected records to the dead-letter topic."""

from __future__ import annotations

from typing import Protocol

from agents.driver import Dead, Handled
from agents.metrics import WorkerMetrics
from stream.changes import CONTENT_TYPE


class Topic(Protocol):
    async def send(self, *, key: bytes | None = None, value: bytes | None = None, headers: list | None = None) -> object: ...


def dead_letter_headers(dead: Dead) -> list[tuple[str, bytes]]:
    """The original key and bytes stay untouched in the record; why and where go in headers."""
    return [
        ("tagstream.error.reason", dead.reason.encode()),
        ("tagstream.error.message", dead.message.encode(errors="replace")[:1024]),
        ("tagstream.source.topic", dead.topic.encode()),
        ("tagstream.source.partition", str(dead.partition).encode()),
        ("tagstream.source.offset", str(dead.offset).encode()),
    ]


class Sinks:
    def __init__(self, changes: Topic, dlq: Topic, metrics: WorkerMetrics) -> None:
        self.changes = changes
        self.dlq = dlq
        self.metrics = metrics

    async def publish(self, handled: Handled) -> None:
        metrics = self.metrics
        if handled.dead is not None:
            dead = handled.dead
            metrics.rejected.labels(dead.reason).inc()
            await self.dlq.send(key=dead.key, value=dead.value, headers=dead_letter_headers(dead))
            return
        if handled.event is not None:
            metrics.consumed.labels(handled.event.type).inc()
        if handled.outcome is not None:
            if handled.outcome.duplicate:
                metrics.duplicates.inc()
            if handled.outcome.late:
                metrics.late.inc()
        header = [("content-type", CONTENT_TYPE.encode())]
        for change in handled.changes:
            metrics.changes.labels(change.family, str(change.old), str(change.new)).inc()
            await self.changes.send(key=change.customer_id.encode(), value=change.to_json(), headers=header)
