"""`tagstream worker`: start the Faust worker (consume, tag, publish, serve /metrics)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from agents.commands.arguments import port
from agents.topics import ensure_topics, replication_factor
from config.settings import load_settings
from stream.rules.ruleset import RuleError, load_rules

HELP = "start the streaming worker"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help=HELP, description=HELP + """: consumes the six
input topics, keeps per-customer state in memory, backed by a compacted changelog topic, and publishes tag changes.
Every option also has a TAGSTREAM_* environment variable (see README, Configuration).""")
    parser.add_argument("--clock", choices=["live", "event"], help="live (default): wall-clock ticks also advance "
                        "time; event: only event time does (backfills, tests)")
    parser.add_argument("--rules", help="rule pack (TOML)")
    parser.add_argument("--max-future", dest="max_future", metavar="DURATION",
                        help="how far ahead of the wall clock an event's time may be (default 5m); later events are "
                        "dead-lettered as future_ts. Raise it to replay future-dated synthetic history")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server, host:port")
    parser.add_argument("--app-id", dest="app_id", help="Faust app id (consumer group, internal topic prefix)")
    parser.add_argument("--web-port", dest="web_port", type=port, help="web server port (default 6066)")
    parser.add_argument("--data-dir", dest="data_dir", help="worker state directory")
    parser.add_argument("--loglevel", dest="log_level", help="log level (default info)")
    parser.add_argument("--log-format", dest="log_format", choices=["text", "json"],
                        help="text (default) or json: one JSON object per line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = {k: getattr(args, k) for k in ("clock", "rules", "max_future", "kafka_broker", "app_id", "web_port", "data_dir", "log_level",
                                   "log_format")}
    settings = load_settings(overrides)
    try:
        rules = load_rules(settings.rules or None)
    except RuleError as error:
        print(f"tagstream worker: {error}", file=sys.stderr)
        return 2
    created = ensure_topics(settings)
    if created:
        print(f"tagstream worker: created topics {', '.join(created)}", file=sys.stderr)
    settings = replace(settings, replication_factor=replication_factor(settings))  # Faust's topics too
    from faust import Worker as FaustWorker  # imported late: `tagstream --help` stays fast

    from agents.app import create_app
    from agents.json_logs import logging_config

    worker = create_app(settings, rules)
    print(
        f"tagstream worker: broker {settings.kafka_broker}, clock {settings.clock}, rules {rules.source}, "
        f"metrics http://{settings.web_bind}:{settings.web_port}/metrics",
        file=sys.stderr,
    )
    json_logs = settings.log_format == "json"
    # quiet: Faust's banner and startup spinner go to stdout as text, not through logging
    FaustWorker(worker.app, loglevel=settings.log_level, quiet=json_logs,
                logging_config=logging_config(settings.log_level) if json_logs else None).execute_from_commandline()
    return 0
