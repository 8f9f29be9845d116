"""`tagstream redis-rebuild`: rebuild every Redis profile and audience from table state.

The table's changelog topic is the durable state of every customer, so it is read from the start
(latest value per customer wins), Redis' tagstream keys are removed, and every profile is written
again through the same ordered script the worker uses. A worker running meanwhile keeps writing;
its newer profiles win by event time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from functools import partial

from kafka import KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from agents.metrics import WorkerMetrics
from agents.progress import Progress
from agents.serving.profiles import PREFIX, profile_of_stored
from agents.serving.redis_sink import RedisSink
from agents.table_store import META_PREFIX, TABLES_PREFIX
from config.settings import Settings, load_settings
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


def changelog_topic(settings: Settings) -> str:
    return f"{settings.app_id}-customers-changelog"


def read_table(settings: Settings) -> dict[bytes, bytes]:
    """Latest value of every key of the changelog (compacted): customers' stored states and
    the bookkeeping keys."""
    topic = changelog_topic(settings)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_broker, enable_auto_commit=False, consumer_timeout_ms=2000)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        raise RuntimeError(f"no changelog topic {topic!r}: has a worker with app id {settings.app_id!r} ever run?")
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    latest: dict[bytes, bytes | None] = {}
    progress = Progress("redis-rebuild: reading changelog", total=sum(ends.values()))
    read = 0
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for record in consumer:
            latest[record.key] = record.value
            read += 1
            progress.update(read, read)
    consumer.close()
    return {key: value for key, value in latest.items() if value is not None}


def engine_for(table: dict[bytes, bytes], rules_path: str | None) -> Engine:
    """An engine that reads the table's states, whichever version of the rule pack wrote them."""
    engine = Engine(plan_json(load_rules(rules_path)), 1)
    for key, value in table.items():
        if key.startswith(TABLES_PREFIX):
            engine.add_tag_tables(value)
    return engine


async def rebuild(settings: Settings, table: dict[bytes, bytes], rules_path: str | None) -> int:
    engine = engine_for(table, rules_path)
    customers = {key.decode(): raw for key, raw in table.items() if not key.startswith(META_PREFIX)}
    client = Redis.from_url(settings.redis_url)
    stale = [key async for key in client.scan_iter(PREFIX + "*", count=1000)]
    for start in range(0, len(stale), 1000):
        await client.unlink(*stale[start : start + 1000])

    sink = RedisSink(client, partial(profile_of_stored, engine), WorkerMetrics(), resync=customers.keys, lookup=customers.get)
    sink.offer_all(customers.items())
    if not await sink.drain():
        raise RuntimeError(f"writing to Redis at {settings.redis_url} failed")
    await client.aclose()
    return len(stale)


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"kafka_broker": args.kafka_broker, "redis_url": args.redis_url, "rules": args.rules})
    table = read_table(settings)
    removed = asyncio.run(rebuild(settings, table, settings.rules or None))
    customers = sum(not key.startswith(META_PREFIX) for key in table)
    print(f"redis-rebuild: {customers:,} customer profiles written ({removed:,} old keys removed)", file=sys.stderr)
    return 0
