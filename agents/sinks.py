"""Where results go: tag changes to the output topic, rejected records to the dead-letter topic."""

from __future__ import annotations

import asyncio
from typing import Protocol

from agents.driver import Dead, Handled
from agents.metrics import WorkerMetrics
from stream.changes import CONTENT_TYPE

HEADERS = [("content-type", CONTENT_TYPE.encode())]


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

    async def publish(self, batch: list[Handled]) -> None:
        """Send a batch's dead letters and tag changes and wait until Kafka has them all: only
        then may the state that produced them be written (see agents/table_store.py). Safe to
        call again after a failure: the copies it re-sends are byte-identical."""
        pending = []
        for handled in batch:
            if handled.dead is not None:
                dead = handled.dead
                pending.append(await self.dlq.send(key=dead.key, value=dead.value, headers=dead_letter_headers(dead)))
            for change in handled.changes:
                pending.append(await self.changes.send(key=change.customer_id.encode(), value=change.to_json(), headers=HEADERS))
        if pending:
            await asyncio.gather(*pending)

    def count(self, handled: Handled) -> None:
        metrics = self.metrics
        if handled.dead is not None:
            metrics.rejected.labels(handled.dead.reason).inc()
        if handled.event is not None:
            metrics.consumed.labels(handled.event.type).inc()
        if handled.outcome is not None:
            if handled.outcome.duplicate:
                metrics.duplicates.inc()
            if handled.outcome.late:
                metrics.late.inc()
        for change in handled.changes:
            metrics.changes.labels(change.family, str(change.old), str(change.new)).inc()
