"""The Faust application: topics, the one agent that feeds batches to the checkpoint, the clock.

Records are consumed as raw bytes and decoded by the engine, so a bad record becomes a dead
letter instead of an exception inside Faust (which would crash the agent and, after a burst, the
worker). What happens to a batch is `agents/checkpoint.py`; every Faust private and workaround is
in `agents/faust_compat/`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
import orjson
from faust.types import TP
from redis.asyncio import Redis

from agents.changelog import Changelog, StateWrites
from agents.checkpoint import Checkpoint, Pipeline
from agents.driver import PartitionDriver, worker_engine
from agents.engine_thread import EngineThread
from agents.faust_compat.batch_intake import BatchIntake, Fetched
from agents.faust_compat.consumer_state import committed_offset, flow_active, highwater, running_producer
from agents.faust_compat.in_order import InOrder
from agents.faust_compat.offsets import OffsetGuard, fetch_only_active
from agents.faust_compat.sensor import install_prometheus_sensor
from agents.kafka_clients import client_options, faust_credentials
from agents.kafka_outputs import KafkaOutputs
from agents.metrics import WorkerMetrics, declared_tag_values
from agents.serving.redis_sink import RedisSink
from agents.serving.views import register_views
from config.settings import Settings
from stream.rules.ruleset import RuleSet

# How long a stopping worker waits for the batch it applied to reach Kafka before giving up on it.
STOP_DELIVERY_S = 10.0
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclass
class Worker:
    app: faust.App
    driver: PartitionDriver
    metrics: WorkerMetrics
    redis: RedisSink


def faust_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_broker}",
        broker_credentials=faust_credentials(settings),
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        web_host=settings.web_bind,
        consumer_auto_offset_reset="earliest",
        # at_least_once: Faust's exactly_once fences the leader's clock-tick producer; we get
        # at-least-once with deterministic, byte-identical duplicates instead (README, Guarantees).
        processing_guarantee="at_least_once",
        broker_commit_interval=settings.commit_interval,
        # Static membership: a worker restarted after a crash rejoins as the member it was and gets
        # its partitions back at once; otherwise the group waits out the dead member's session
        # (60 s by default) before anything is reassigned. Static members do not leave the group
        # on a clean stop either, so a rolling restart moves no partition (README, Operations).
        consumer_group_instance_id=settings.group_instance_id,
        # A batch's tag changes and states go to Kafka as one record batch per partition
        # (agents/record_batches.py); aiokafka's default of 16 KiB would split them into several,
        # each waiting for the one before it to be sent. Under the broker's 1 MiB limit on a batch.
        producer_max_batch_size=512 * 1024,
        # Faust's own internal topics (the leader's assignor topic) as replicated as ours; the worker
        # resolves 0 (auto) before the app is made (agents/commands/worker.py).
        topic_replication_factor=settings.replication_factor or 1,
        # Faust's /router and /table views expose the cluster's layout and table contents; the
        # worker serves its own lookups (agents/serving/views.py).
        web_router_enabled=settings.faust_web_endpoints,
        web_tables_enabled=settings.faust_web_endpoints,
    )


def create_app(settings: Settings, rules: RuleSet) -> Worker:
    app = faust_app(settings)
    source = app.topic(*settings.input_topics, settings.topic_ticks, partitions=settings.partitions, allow_empty=True, **RAW)
    dlq = app.topic(settings.topic_dlq, partitions=settings.partitions, **RAW)
    ticks = app.topic(settings.topic_ticks, partitions=settings.partitions, **RAW)
    metrics = WorkerMetrics(tag_values=declared_tag_values(rules))
    engine = worker_engine(rules, settings.partitions)
    producer = partial(running_producer, app)
    changelog = Changelog(settings.topic_changelog, settings.partitions, client_options(settings), producer)
    writes = StateWrites(settings.partitions)

    redis_client = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    engine_thread = EngineThread()
    redis = RedisSink(redis_client, engine.profile_builder, metrics, resync=engine.customer_ids, lookup=engine.stored_state,
                      engine_idle=engine_thread.idle)
    source_topics = {*settings.input_topics, settings.topic_ticks}

    def owned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic in source_topics}

    driver = PartitionDriver(
        engine,
        writes,
        changelog.read,
        settings.input_topics,
        settings.topic_ticks,
        highwater=partial(highwater, app),
        committed=partial(committed_offset, app),
        live_clock=settings.clock == "live",
        assigned=owned,
        on_owned=redis.recheck,
        idle_after_s=settings.source_idle_after,
        max_future_ms=settings.max_future_ms,
    )
    guard = OffsetGuard(committed=partial(committed_offset, app))
    in_order = InOrder(guard, client_options(settings), list(settings.input_topics), settings.topic_ticks,
                       partial(highwater, app), driver.quiet_for, owned, metrics)
    monitor = install_prometheus_sensor(app, metrics.registry)
    intake = BatchIntake(app.consumer, source_topics, on_fetched=monitor.on_fetched)
    fetch_only_active(app.consumer)
    checkpoint = Checkpoint(driver, writes, changelog, metrics, intake.ack,
                            acknowledged=[KafkaOutputs(settings.topic_changes, dlq, producer)], background=[redis],
                            run_engine=engine_thread.run)
    pipeline = Pipeline(checkpoint)
    processing = asyncio.Lock()  # held while a batch is applied: a revocation waits for it

    @app.agent(source, name="tagstream.ingest")
    async def ingest(stream: faust.StreamT) -> None:
        """Batches of fetched records to the checkpoint (the intake bypasses the agent's own
        stream, which only subscribes the topics); offsets are acked once a batch is released."""
        try:
            async for fetches in intake.batches(settings.batch_size, settings.batch_wait):
                async with processing:
                    if not flow_active(app.consumer):
                        continue  # a rebalance is under way: read again from the committed offsets
                    records, repeats = await in_order.records([r for fetched in fetches for r in fetched.records])
                    await pipeline.commit(records)
                    intake.ack(repeats)
                    _observe(metrics, driver, fetches)
        finally:
            await pipeline.close(STOP_DELIVERY_S)  # a stopping worker delivers what it applied, if Kafka lets it

    @app.task
    async def write_profiles() -> None:
        await redis.run()

    @app.timer(settings.tick_interval, on_leader=True)
    async def clock() -> None:
        """Time reaches the engine as records on a co-partitioned topic, in order with the
        events; in event mode the record carries no time and only re-checks caught-up sources."""
        payload = orjson.dumps({"wall_ms": int(time.time() * 1000)} if settings.clock == "live" else {})
        for partition in range(settings.partitions):
            await ticks.send(value=payload, partition=partition)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust's stub wants `signal=` by name; it arrives in **_
    async def forget(sender: Any, revoked: set[TP], **_: Any) -> None:
        """Before the partitions go, the batches under way finish: their states reach the
        changelog before the next owner reads it."""
        async with processing:
            await pipeline.flush()
            intake.forget(revoked)
            partitions = {tp.partition for tp in revoked}
            driver.forget(partitions)
            guard.forget(partitions)

    register_views(app, app.topic(settings.topic_orders, **RAW), partial(customer_record, engine), lambda: redis_client,
                   engine_idle=engine_thread.idle, token=settings.api_token)
    return Worker(app, driver, metrics, redis)


def customer_record(engine: Any, customer_id: str) -> dict | None:
    """A customer's snapshot record from the engine's state (None: not held by this worker)."""
    raw = engine.stored_state(customer_id)
    return None if raw is None else orjson.loads(engine.stored_record(customer_id, raw)[0])


def _observe(metrics: WorkerMetrics, driver: PartitionDriver, fetches: list[Fetched]) -> None:
    done = time.monotonic()
    for fetched in fetches:
        metrics.latency.observe(max(done - fetched.arrived, 0.0), len(fetched.records))
    engine = driver.engine
    watermarks = engine.watermarks()
    for partition in {fetched.records[0].partition for fetched in fetches} & driver.loaded:
        watermark_s = max(watermarks[partition], 0) / 1000
        metrics.watermark.labels(str(partition)).set(watermark_s)
        metrics.lag.labels(str(partition)).set(time.time() - watermark_s)
    metrics.deadlines.set(engine.scheduled())
    metrics.customers.set(engine.customer_count())
    metrics.set_audiences(engine.audience_sizes())
