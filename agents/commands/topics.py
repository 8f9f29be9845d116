"""`tagstream topics`: create the project's topics (idempotent)."""

from __future__ import annotations

import argparse

from agents.topics import ensure_topics
from config.settings import load_settings

HELP = "create the input, tick, output and dead-letter topics with equal partition counts"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("topics", help=HELP, description=HELP + " (existing topics are checked, not changed).")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server, host:port")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"kafka_broker": args.kafka_broker})
    created = ensure_topics(settings)
    print(f"topics: created {', '.join(created)}" if created else f"topics: all {len(settings.all_topics)} present")
    return 0
