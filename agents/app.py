"""The Faust application: topics, the state table, the one agent, the clock timer.

Records are consumed as raw bytes and decoded by `schemas.events.decode_event`, so a bad record
becomes a dead letter instead of an exception inside Faust (which would crash the agent and, after
a burst, the worker). All tagging decisions happen in `stream/` through `PartitionDriver`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
import orjson
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.streams import _current_event  # see _acting_as
from faust.types import TP
from redis.asyncio import Redis

from agents.acked_table import acked_table
from agents.driver import PartitionDriver, worker_engine
from agents.faust_sensor import LeanPrometheusMonitor
from agents.metrics import WorkerMetrics
from agents.hole_reader import RawRecord, read_range
from agents.offsets import (
    STALL_AFTER_S, TAIL_READ_MAX, AckGate, Filled, OffsetGuard, Verdict, dropped_by_clear, fetch_only_active,
)
from agents.retry import until_delivered
from agents.serving.profiles import profile_of_stored
from agents.serving.redis_sink import RedisSink
from agents.serving.views import register_views
from agents.sinks import Sinks
from agents.table_store import TableStore
from config.settings import Settings
from stream.rules.ruleset import RuleSet

logger = logging.getLogger(__name__)

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


@dataclass
class Worker:
    app: faust.App
    driver: PartitionDriver
    metrics: WorkerMetrics
    redis: RedisSink


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
        # at_least_once: Faust's exactly_once fences the leader's clock-tick producer; we get
        # at-least-once with deterministic, byte-identical duplicates instead (README, Guarantees).
        processing_guarantee="at_least_once",
        broker_commit_interval=settings.commit_interval,
        # Static membership: a worker restarted after a crash rejoins as the member it was and gets
        # its partitions back at once; otherwise the group waits out the dead member's session
        # (60 s by default) before anything is reassigned. Static members do not leave the group
        # on a clean stop either, so a rolling restart moves no partition (README, Operations).
        consumer_group_instance_id=settings.group_instance_id,
        # The default (10k) lets one partition run far ahead of the others inside the buffer.
        stream_buffer_maxsize=4096,
        # A batch's tag changes go to Kafka as one record batch per partition (agents/sinks.py);
        # aiokafka's default of 16 KiB would split them into several, each waiting for the one
        # before it to be sent. Under the broker's 1 MiB limit on a batch.
        producer_max_batch_size=512 * 1024,
    )
    source = app.topic(*settings.input_topics, settings.topic_ticks, partitions=settings.partitions, allow_empty=True, **RAW)
    dlq = app.topic(settings.topic_dlq, partitions=settings.partitions, **RAW)
    ticks = app.topic(settings.topic_ticks, partitions=settings.partitions, **RAW)
    # bytes key and value types make Faust use the raw codec for the table and its changelog.
    # use_partitioner: a changelog record goes to the partition of its key (the customer), not of
    # whatever record is being processed, so state can be written after a whole batch.
    table = acked_table(
        app, "customers", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes, use_partitioner=True
    )
    metrics = WorkerMetrics()
    store = TableStore(table, settings.partitions)
    engine = worker_engine(rules, settings.partitions)

    def record_of(customer_id: str) -> dict | None:
        """A customer's snapshot record from committed table state (None: unknown here)."""
        raw = store.current(customer_id)
        return None if raw is None else orjson.loads(engine.stored_record(customer_id, raw)[0])

    redis_client = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    redis = RedisSink(redis_client, partial(profile_of_stored, engine), metrics, resync=store.customer_ids, lookup=store.current)
    source_topics = {*settings.input_topics, settings.topic_ticks}
    driver = PartitionDriver(
        engine,
        store,
        settings.input_topics,
        settings.topic_ticks,
        highwater=lambda topic, partition: _highwater(app, topic, partition),
        committed=lambda topic, partition: app.consumer._committed_offset.get(TP(topic, partition)),
        live_clock=settings.clock == "live",
        assigned=lambda: {tp.partition for tp in app.consumer.assignment() if tp.topic in source_topics},
        on_owned=redis.recheck,
        idle_after_s=settings.source_idle_after,
        max_future_ms=settings.max_future_ms,
    )
    sinks = Sinks(settings.topic_changes, dlq, metrics, producer=lambda: app.producer._ensure_producer())

    guard = OffsetGuard(committed=lambda topic, partition: app.consumer._committed_offset.get(TP(topic, partition)))
    gates: list[AckGate] = []

    def rewind_on_clear() -> None:
        """Faust's flow control clears the stream queues on `resume()` (end of recovery) and at a
        rebalance; input records in them are lost to Faust, whose fetch position is already past
        them (see agents/offsets.py). From now on such records rewind the guard and the consumer
        seeks back to them, so they are read again."""
        clear_queues = app.flow_control.clear

        def clear_and_rewind() -> None:
            dropped = dropped_by_clear(app.flow_control._queues, settings.input_topics)
            clear_queues()
            for (topic, partition), offset in dropped.items():
                logger.warning("%s[%d]: Faust dropped queued records from offset %d; reading them again", topic, partition, offset)
                guard.rewind(topic, partition, offset)
            if dropped and not app.should_stop:
                asyncio.ensure_future(_seek_back(dropped))

        app.flow_control.clear = clear_and_rewind  # FlowControlEvent.resume() calls self.clear()

    async def _seek_back(dropped: dict[tuple[str, int], int]) -> None:
        """On the consumer's thread; also resets Faust's read offset, so the copies are not dropped
        as already read."""
        assigned = app.consumer.assignment()
        offsets = {TP(topic, partition): offset for (topic, partition), offset in dropped.items() if TP(topic, partition) in assigned}
        try:
            await app.consumer.seek_wait(offsets)
        except Exception:  # noqa: BLE001 - revoked meanwhile: the next owner starts from the commit
            logger.exception("seek back to %s failed", offsets)

    @app.agent(source, name="tagstream.ingest")
    async def ingest(stream: faust.StreamT) -> None:
        """Per batch: run the engine, publish its changes and wait for Kafka's acks, then write
        the state and wait for its changelog acks; only then may Faust ack (and commit) the
        batch. At-least-once with byte-identical duplicates: see agents/table_store.py."""
        if not gates:
            gates.append(AckGate(app.consumer, settings.input_topics))
            fetch_only_active(app.consumer)
            rewind_on_clear()
            # Faust's conductor holds every incoming record back while the producer buffer has
            # more than 100 messages, then waits for them one by one (a 0.1 s wait_for each, and a
            # warning per batch). Only the batch's state writes go through that buffer, up to one
            # per customer and partition at once (a batch with holes filled from Kafka has more
            # records than batch_size), and the agent awaits them itself (`table.written`) before
            # the next batch: the batch is the bound.
            buffer = app.producer.buffer
            buffer.max_messages = max(buffer.max_messages, 4 * settings.batch_size + settings.partitions)
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_wait):
            await _process(batch, gates[0])

    async def _process(batch: list[faust.EventT], gate: AckGate) -> None:
        records, repeats = await _in_order([event.message for event in batch])
        handled = driver.handle(records)
        sinks.count(handled)
        await until_delivered("publish", lambda: sinks.publish(handled), metrics.delivery_retries)
        staged, scope = store.take_staged(), _acting_as({e.message.partition: e for e in batch})

        async def write_state() -> None:
            store.write(staged, scope)
            await table.written(timeout_s=30)

        await until_delivered("state", write_state, metrics.delivery_retries)
        for record in records:
            if isinstance(record, RawRecord):
                gate.ack_filled(Filled(record.topic, record.partition, record.offset))
            else:
                gate.finish(record.topic, record.partition, record.offset)
        for message in repeats:
            gate.finish(message.topic, message.partition, message.offset)
        for customer_id, raw in staged.written_customers():
            redis.offer(customer_id, raw)
        done = time.monotonic()
        for event in batch:
            metrics.latency.observe(max(done - (event.message.time_in or done), 0.0))
        for partition in {event.message.partition for event in batch}:
            _observe_partition(metrics, driver, partition)

    async def _in_order(messages: list[Any]) -> tuple[list[Any], list[Any]]:
        """The records to process, in offset order, with any hole Faust left filled from Kafka;
        and the repeats to skip (see agents/offsets.py)."""
        records, repeats = [], []
        for m in messages:
            if m.topic == settings.topic_ticks:
                records += await _stalled_tails(m.partition)
            verdict, expected = (Verdict.NEXT, m.offset) if m.topic == settings.topic_ticks else guard.check(m.topic, m.partition, m.offset)
            if verdict is Verdict.REPEAT:
                repeats.append(m)
                continue
            if verdict is Verdict.HOLE:
                filled = await read_range(settings.kafka_broker, m.topic, m.partition, expected, m.offset)
                metrics.offset_holes.inc()
                logger.warning("%s[%d]: the consumer skipped offsets %d-%d; read %d of them from Kafka directly",
                               m.topic, m.partition, expected, m.offset - 1, len(filled))
                if len(filled) != m.offset - expected:
                    logger.error("%s[%d]: offsets %d-%d are no longer in Kafka; going on without them",
                                 m.topic, m.partition, expected, m.offset - 1)
                records += filled
            records.append(m)
        return records, repeats

    async def _stalled_tails(partition: int) -> list[RawRecord]:
        """Records Kafka holds for this partition that Faust has not delivered for
        `STALL_AFTER_S`: a hole at the end of a partition, which no later record reveals."""
        found: list[RawRecord] = []
        for topic in settings.input_topics:
            expected, end = guard.next_offset(topic, partition), _highwater(app, topic, partition)
            if expected is None or end is None or expected >= end or driver.quiet_for(topic, partition) < STALL_AFTER_S:
                continue
            filled = await read_range(settings.kafka_broker, topic, partition, expected, min(end, expected + TAIL_READ_MAX))
            metrics.offset_holes.inc()
            logger.warning("%s[%d]: offsets %d-%d were not delivered for %.0fs; read %d of them from Kafka directly",
                           topic, partition, expected, end - 1, STALL_AFTER_S, len(filled))
            for record in filled:
                guard.check(topic, partition, record.offset)
            found += filled
        return found

    @app.task
    async def write_profiles() -> None:
        await redis.run()

    @app.timer(settings.tick_interval, on_leader=True)
    async def clock() -> None:
        """Timers cannot write tables, so time reaches the engine as records on a co-partitioned
        topic; in event mode the record carries no time and only re-checks caught-up sources."""
        payload = orjson.dumps({"wall_ms": int(time.time() * 1000)} if settings.clock == "live" else {})
        for partition in range(settings.partitions):
            await ticks.send(value=payload, partition=partition)

    @app.on_partitions_revoked.connect
    async def forget(sender: Any, revoked: set[TP], **_: Any) -> None:
        partitions = {tp.partition for tp in revoked}
        driver.forget(partitions)
        guard.forget(partitions)
        for gate in gates:
            gate.forget(partitions)

    setup_prometheus_sensors(app, pattern="/metrics", registry=metrics.registry, name_prefix="tagstream_faust")
    app.monitor = LeanPrometheusMonitor(metrics=app.monitor._metrics)  # the same metrics, see agents/faust_sensor.py
    register_views(app, table, record_of, lambda: redis_client)
    return Worker(app, driver, metrics, redis)


def _acting_as(events: dict[int, faust.EventT]) -> Callable[[int], AbstractContextManager]:
    """Table writes after a batch happen outside Faust's per-event context, but Faust's RocksDB
    store files each write under the *current event's* partition; so each partition's writes run
    as one of the batch's events from that partition (its customers hash there too)."""

    @contextmanager
    def scope(partition: int) -> Iterator[None]:
        token = _current_event.set(weakref.ref(events[partition]))
        try:
            yield
        finally:
            _current_event.reset(token)

    return scope


def _observe_partition(metrics: WorkerMetrics, driver: PartitionDriver, partition: int) -> None:
    if partition not in driver.loaded:
        return
    engine = driver.engine
    watermark_s = max(engine.watermarks()[partition], 0) / 1000
    metrics.watermark.labels(str(partition)).set(watermark_s)
    metrics.lag.labels(str(partition)).set(time.time() - watermark_s)
    metrics.deadlines.set(engine.scheduled())
    metrics.customers.set(engine.customer_count())


def _highwater(app: faust.App, topic: str, partition: int) -> int | None:
    try:
        return app.consumer.highwater(TP(topic, partition))
    except Exception:  # noqa: BLE001 - not assigned / not yet fetched: unknown, so not caught up
        return None
