"""The Faust application: topics, the state table, the one agent, the clock timer.

Records are consumed as raw bytes and decoded by `schemas.events.decode_event`, so a bad record
becomes a dead letter instead of an exception inside Faust (which would crash the agent and, after
a burst, the worker). All tagging decisions happen in `stream/` through `PartitionDriver`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from faust.types import TP
from prometheus_client import generate_latest

from agents.driver import PartitionDriver
from agents.metrics import WorkerMetrics
from agents.sinks import Sinks
from agents.table_store import TableStore
from config.settings import Settings
from stream.rules.ruleset import RuleSet

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclass
class Worker:
    app: faust.App
    driver: PartitionDriver
    metrics: WorkerMetrics


def create_app(settings: Settings, rules: RuleSet) -> Worker:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_broker}",
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        web_host=settings.web_bind,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        # The default (10k) lets one partition run far ahead of the others inside the buffer.
        stream_buffer_maxsize=4096,
    )
    source = app.topic(*settings.input_topics, settings.topic_ticks, partitions=settings.partitions, allow_empty=True, **RAW)
    changes = app.topic(settings.topic_changes, partitions=settings.partitions, **RAW)
    dlq = app.topic(settings.topic_dlq, partitions=settings.partitions, **RAW)
    ticks = app.topic(settings.topic_ticks, partitions=settings.partitions, **RAW)
    # bytes key and value types make Faust use the raw codec for the table and its changelog.
    table = app.Table("customers", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes)
    metrics = WorkerMetrics()
    driver = PartitionDriver(
        rules,
        TableStore(table, settings.partitions),
        settings.input_topics,
        settings.topic_ticks,
        highwater=lambda topic, partition: _highwater(app, topic, partition),
        committed=lambda topic, partition: app.consumer._committed_offset.get(TP(topic, partition)),
        live_clock=settings.clock == "live",
    )
    sinks = Sinks(changes, dlq, metrics)

    @app.agent(source, name="tagstream.ingest")
    async def ingest(stream: faust.StreamT) -> None:
        async for record in stream.events():
            message = record.message
            handled = driver.handle(message.topic, message.partition, message.offset, message.key, message.value)
            await sinks.publish(handled)
            engine = driver.engines.get(message.partition)
            if engine is not None:
                metrics.watermark.labels(str(message.partition)).set(max(engine.watermark.value, 0) / 1000)

    @app.timer(settings.tick_interval, on_leader=True)
    async def clock() -> None:
        """Timers cannot write tables, so time reaches the engine as records on a co-partitioned
        topic; in event mode the record carries no time and only re-checks caught-up sources."""
        payload = orjson.dumps({"wall_ms": int(time.time() * 1000)} if settings.clock == "live" else {})
        for partition in range(settings.partitions):
            await ticks.send(value=payload, partition=partition)

    @app.on_partitions_revoked.connect
    async def forget(sender: Any, revoked: set[TP], **_: Any) -> None:
        driver.forget({tp.partition for tp in revoked})

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type="text/plain; version=0.0.4")

    return Worker(app, driver, metrics)


def _highwater(app: faust.App, topic: str, partition: int) -> int | None:
    try:
        return app.consumer.highwater(TP(topic, partition))
    except Exception:  # noqa: BLE001 - not assigned / not yet fetched: unknown, so not caught up
        return None
