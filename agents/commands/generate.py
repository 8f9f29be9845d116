"""`tagstream generate`: deterministic synthetic event logs for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from datetime import datetime, timedelta, timezone

import orjson

from agents.commands.arguments import positive_int, start_day
from stream.synthetic import PROFILES, generate_events

HELP = "write a deterministic synthetic event log (JSONL, .gz if the name ends so)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help=HELP, description=HELP + """. Customers follow
realistic archetypes (loyal high spenders, occasional and one-time buyers, slow churners,
reactivated customers, email-only prospects, bargain hunters, night owls) with seasonality and a
weekly rhythm. Besides orders, opens, clicks and visits (with page, source, delivery, model and
price band) it writes each customer's profile (region, birth date, e-mail consent; gender and
company for e-commerce; the lead form's budget for auto) and custom events (support tickets,
inquiries). The same arguments always give the same bytes.""")
    parser.add_argument("--customers", type=positive_int, default=1000, help="number of customers (default 1000)")
    parser.add_argument("--days", type=positive_int, default=365, help="days of history (default 365)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--profile", choices=PROFILES, default="ecommerce", help="business profile (default ecommerce)")
    parser.add_argument("--start", type=start_day, default="2025-01-01",
                        help="first day: a date (UTC) or an RFC 3339 instant (default 2025-01-01)")
    parser.add_argument("--allow-future", action="store_true", help="write events after the current time too "
                        "(every other command rejects them unless its --max-future covers them)")
    parser.add_argument("--out", required=True, help="output file (- for stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    start = args.start
    if not args.allow_future and start + timedelta(days=args.days) > datetime.now(timezone.utc):
        print(f"tagstream generate: {args.days} days from {start:%Y-%m-%d} reach past today, and future-dated events are "
              "rejected by backtest, replay and the worker; choose an earlier --start or fewer --days, "
              "or pass --allow-future", file=sys.stderr)
        return 2
    events = generate_events(args.customers, args.days, args.seed, args.profile, start)
    if args.out == "-":
        _write(sys.stdout.buffer, events)
    else:
        opener = gzip.open if args.out.endswith(".gz") else open
        with opener(args.out, "wb") as out:
            _write(out, events)
    elapsed = time.monotonic() - started
    print(f"generate: {len(events):,} events for {args.customers:,} customers over {args.days} days "
          f"in {elapsed:.1f}s -> {args.out}", file=sys.stderr)
    return 0


def _write(out, events: list[dict]) -> None:
    out.write(b"".join(orjson.dumps(event) + b"\n" for event in events))
