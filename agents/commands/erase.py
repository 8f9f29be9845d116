"""`tagstream erase`: ask the worker to erase customers (the right to be forgotten)."""

from __future__ import annotations

import argparse
import sys

from kafka import KafkaProducer

from agents.commands.arguments import UsageError
from agents.kafka_clients import client_options
from config.settings import load_settings
from schemas.events import MAX_ID_CHARS, is_identifier

HELP = "erase customers: their state, Redis profile and audience memberships; downstream is told"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("erase", help=HELP, description=HELP + """. Sends one erase
request per id: a record without a value (a tombstone) keyed by the customer id, to the orders
topic, where the worker that owns the customer reads it in order with the customer's events. It
then removes the customer's state (a changelog tombstone), its Redis hash and audience
memberships, and publishes one `dev.tagstream.customer.erased.v1` event on the change topic.
Events of the customer that arrive later start a new customer. README, "Erasure".""")
    parser.add_argument("customer_ids", nargs="+", metavar="ID", help="customer id(s) to erase")
    parser.add_argument("--broker", dest="kafka_broker", help="Kafka bootstrap server, host:port")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for customer_id in args.customer_ids:
        if not is_identifier(customer_id):
            raise UsageError(f"{customer_id!r} is not a customer id (1..{MAX_ID_CHARS} printable characters)")
    settings = load_settings({"kafka_broker": args.kafka_broker})
    producer = KafkaProducer(**client_options(settings), acks="all", max_block_ms=30000)
    try:
        for customer_id in args.customer_ids:
            producer.send(settings.topic_orders, key=customer_id.encode(), value=None)
        producer.flush(timeout=30)
    finally:
        producer.close()
    print(f"erase: {len(args.customer_ids)} erase request(s) sent to {settings.topic_orders}", file=sys.stderr)
    return 0
