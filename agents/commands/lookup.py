"""`tagstream lookup`: a customer's current tags and key metrics, from Redis."""

from __future__ import annotations

import argparse
import sys
from typing import cast

import orjson
from redis import Redis
from redis.exceptions import RedisError

from agents.serving.profiles import TAG, customer_key
from config.settings import load_settings, without_password

HELP = "print a customer's current tags and metrics from Redis"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lookup", help=HELP, description=HELP + " (what marketing tools read).")
    parser.add_argument("customer_id", metavar="ID", help="customer id")
    parser.add_argument("--redis", dest="redis_url", help="Redis URL (default TAGSTREAM_REDIS_URL)")
    parser.add_argument("--json", action="store_true", help="print the profile hash as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings({"redis_url": args.redis_url})
    try:
        fields = Redis.from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=3).hgetall(customer_key(args.customer_id))
    except RedisError as error:
        print(f"tagstream lookup: Redis at {without_password(settings.redis_url)}: {error}", file=sys.stderr)
        return 1
    if not fields:
        print(f"tagstream lookup: unknown customer {args.customer_id!r}", file=sys.stderr)
        return 1
    if args.json:
        print(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode())
        return 0
    print(format_profile(cast(dict[str, str], fields)))  # decode_responses: str
    return 0


def format_profile(fields: dict[str, str]) -> str:
    tags = {k[len(TAG):]: v for k, v in sorted(fields.items()) if k.startswith(TAG)}
    metrics = {k: v for k, v in sorted(fields.items()) if not k.startswith(TAG) and k != "customer_id"}
    width = max(map(len, [*tags, *metrics]), default=0)
    lines = [f"customer {fields.get('customer_id')}  (as of {fields.get('as_of')}, last change {fields.get('updated_at', '-')})", "tags:"]
    lines += [f"  {name:<{width}}  {value}" for name, value in tags.items()]
    lines.append("metrics:")
    lines += [f"  {name:<{width}}  {value}" for name, value in metrics.items()]
    return "\n".join(lines)
