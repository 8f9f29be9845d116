"""`tagstream tail`: print tag changes from the output topic as they arrive."""

from __future__ import annotations

import argparse
import time

import orjson
from kafka import KafkaConsumer

from agents.commands.arguments import positive_float, positive_int
from agents.kafka_clients import client_options
from config.settings import load_settings

HELP = "follow the tag-change topic and print one line per change"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tail", help=HELP, description=HELP + ".")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server, host:port")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest change, not the newest")
    parser.add_argument("--max", type=positive_int, help="stop after this many changes")
    parser.add_argument("--idle-exit", type=positive_float, help="stop after this many seconds without a change")
    parser.add_argument("--json", action="store_true", help="print the raw CloudEvent JSON")
    parser.set_defaults(run=run)


def describe(event: dict) -> str:
    data = event["data"]
    old = "∅" if data["from"] is None else data["from"]
    cause = data["cause_event_id"] or "time passed"
    return f"{data['at']}  {data['customer_id']:<10} {data['family']:<17} {old} → {data['to']}   ({data['rule']}; {cause})"


def describe_group(events: list[dict]) -> str:
    """Several changes of one customer at one instant (one cause) as a single line."""
    if len(events) == 1:
        return describe(events[0])
    first = events[0]["data"]
    cause = first["cause_event_id"] or "time passed"
    moves = ", ".join(f"{e['data']['family']} {'∅' if e['data']['from'] is None else e['data']['from']}→{e['data']['to']}" for e in events)
    return f"{first['at']}  {first['customer_id']:<10} {moves}   ({cause})"


def same_moment(a: dict, b: dict) -> bool:
    return all(a["data"][k] == b["data"][k] for k in ("customer_id", "at", "cause_event_id"))


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"kafka_broker": args.kafka_broker})
    consumer = KafkaConsumer(
        settings.topic_changes,
        **client_options(settings),
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=500,
    )
    seen, last = 0, time.monotonic()
    try:
        while args.max is None or seen < args.max:
            for record in consumer:
                print(record.value.decode() if args.json else describe(orjson.loads(record.value)), flush=True)
                seen, last = seen + 1, time.monotonic()
                if args.max is not None and seen >= args.max:
                    break
            if args.idle_exit is not None and time.monotonic() - last > args.idle_exit:
                break
    finally:
        consumer.close()
    return 0
