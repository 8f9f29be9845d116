"""`tagstream redis-rebuild`: rebuild every Redis profile and audience from the changelog.

The worker's changelog topic is the durable state of every customer, so it is read from the start
(latest value per customer wins), Redis' tagstream keys are removed, and every profile is written
again through the same ordered script the worker uses. A worker running meanwhile keeps writing;
its newer profiles win by event time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from kafka import KafkaConsumer
from redis.asyncio import Redis

from agents.changelog import Changelog
from agents.kafka_clients import client_options
from agents.metrics import WorkerMetrics
from agents.progress import Progress
from agents.record_batches import BatchProducer
from agents.serving.profiles import PREFIX
from agents.serving.redis_sink import RedisSink
from config.settings import Settings, load_settings, without_password
from stream.native import Engine
from stream.rules.plan_export import plan_json
from stream.rules.ruleset import load_rules

HELP = "rebuild Redis profiles and audiences completely from the worker's table changelog"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("redis-rebuild", help=HELP, description=HELP + ".")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server")
    parser.add_argument("--redis", dest="redis_url", help="Redis URL (default TAGSTREAM_REDIS_URL)")
    parser.add_argument("--rules", help="rule pack the worker runs (default: TAGSTREAM_RULES or the default pack)")
    parser.set_defaults(run=run)


async def read_changelog(settings: Settings) -> tuple[list[tuple[str, bytes]], list[bytes]]:
    """Every customer's latest stored state and every tag tables record, partition by partition."""
    topic = settings.topic_changelog
    partitions = _partition_count(settings, topic)
    if not partitions:
        raise RuntimeError(f"no changelog topic {topic!r}: has a worker with app id {settings.app_id!r} ever run?")
    changelog = Changelog(topic, partitions, client_options(settings), producer=_no_producer)
    customers: list[tuple[str, bytes]] = []
    tables: list[bytes] = []
    progress = Progress("redis-rebuild: reading changelog partitions", total=partitions)
    async for partition, stored in changelog.read(range(partitions)):
        customers += stored.customers
        tables += stored.tables
        progress.update(len(customers), partition + 1)
    progress.finish(len(customers))
    return customers, tables


def _no_producer() -> BatchProducer:
    raise RuntimeError("redis-rebuild only reads the changelog")


def _partition_count(settings: Settings, topic: str) -> int:
    """0 if the topic does not exist."""
    consumer = KafkaConsumer(**client_options(settings))
    try:
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def engine_for(tables: list[bytes], rules_path: str | None) -> Engine:
    """An engine that reads the changelog's states, whichever version of the rule pack wrote them."""
    engine = Engine(plan_json(load_rules(rules_path)), 1)
    for raw in tables:
        engine.add_tag_tables(raw)
    return engine


async def rebuild(settings: Settings, rules_path: str | None) -> tuple[int, int]:
    """(customers written, old keys removed)."""
    stored, tables = await read_changelog(settings)
    engine = engine_for(tables, rules_path)
    customers = dict(stored)
    client = Redis.from_url(settings.redis_url)
    stale = [key async for key in client.scan_iter(PREFIX + "*", count=1000)]
    for start in range(0, len(stale), 1000):
        await client.unlink(*stale[start : start + 1000])

    sink = RedisSink(client, engine.profile_builder, WorkerMetrics(), resync=customers.keys, lookup=customers.get)
    sink.offer(customers.items())
    if not await sink.drain():
        raise RuntimeError(f"writing to Redis at {without_password(settings.redis_url)} failed")
    await client.aclose()
    return len(customers), len(stale)


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"kafka_broker": args.kafka_broker, "redis_url": args.redis_url, "rules": args.rules})
    written, removed = asyncio.run(rebuild(settings, settings.rules or None))
    print(f"redis-rebuild: {written:,} customer profiles written ({removed:,} old keys removed)", file=sys.stderr)
    return 0
