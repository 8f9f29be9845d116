"""`tagstream report`: a self-contained HTML page of tag distributions and the RFM heat-map."""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator
from typing import cast
from datetime import datetime, timezone
from pathlib import Path

import orjson

from redis import Redis
from redis.exceptions import RedisError

from agents.commands.arguments import EXIT_FAILED, UsageError
from agents.report import render_report
from agents.serving.profiles import CUSTOMER, record_from_hash
from config.settings import load_settings, without_password

HELP = "render a customer snapshot (from `backtest --snapshot-out`) as one self-contained HTML page"


class SnapshotError(Exception):
    """The snapshot file is not one (missing, not JSON, not snapshot records): one line, exit 2."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help=HELP, description=HELP + """. The page has a bar
chart for every tag family, an RFM heat-map (recency x frequency, coloured by revenue) and the
top RFM segments; it uses inline CSS and SVG only, so it opens offline and can be mailed as is.""")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--snapshot", metavar="FILE",
                        help="snapshot JSONL written by `tagstream backtest --snapshot-out` (optionally .gz)")
    source.add_argument("--redis", metavar="URL", nargs="?", const="",
                        help="read the live profiles from Redis instead (default URL: TAGSTREAM_REDIS_URL)")
    parser.add_argument("--out", required=True, metavar="FILE", help="HTML file to write (- for stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.redis is not None:
        url = args.redis or load_settings().redis_url
        records: Iterator[dict] = read_redis(url)
        snapshot, source = Path(without_password(url)), without_password(url)
    else:
        snapshot = Path(args.snapshot)
        if not snapshot.is_file():
            raise UsageError(f"no such snapshot file: {snapshot}")
        records, source = read_snapshot(snapshot), str(args.snapshot)
    counted = _Counted(records)
    generated_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        page = render_report(counted, generated_at=generated_at, source=source)
    except SnapshotError as error:
        raise UsageError(str(error)) from None
    except (OSError, EOFError, RedisError) as error:
        print(f"tagstream report: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.out == "-":
        sys.stdout.write(page)
    else:
        try:
            Path(args.out).write_text(page, encoding="utf-8")
        except OSError as error:
            print(f"tagstream report: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
            return EXIT_FAILED
    if counted.count == 0:
        print(f"tagstream report: warning: {snapshot} has no customers", file=sys.stderr)
    print(f"report: {counted.count:,} customers -> {args.out}", file=sys.stderr)
    return 0


def read_redis(url: str) -> Iterator[dict]:
    """Every customer profile the worker wrote, as report records."""
    client = Redis.from_url(url, decode_responses=True, socket_connect_timeout=3)
    for key in client.scan_iter(CUSTOMER + "*", count=1000):
        yield record_from_hash(cast(dict[str, str], client.hgetall(key)))  # decode_responses: str


def read_snapshot(path: Path) -> Iterator[dict]:
    """Snapshot records, one JSON object per line; blank lines are skipped; gzip by name or magic."""
    with open(path, "rb") as probe:
        gzipped = path.suffix == ".gz" or probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise SnapshotError(f"{path}:{number}: not JSON: {error}") from None
                if not isinstance(record, dict):
                    raise SnapshotError(f"{path}:{number}: expected a JSON object per line")
                if "customer_id" not in record or "tags" not in record:
                    raise SnapshotError(f"{path}:{number}: not a snapshot record (no customer_id and tags){_hint(record)}")
                yield record
    except (gzip.BadGzipFile, EOFError) as error:
        raise SnapshotError(f"{path}: broken gzip file: {error}") from None


def _hint(record: dict) -> str:
    if "type" in record and "ts" in record:
        return "; this is an event log: `tagstream backtest LOG --changes-out F --snapshot-out S` makes a snapshot of it"
    return ""


class _Counted:
    """Passes records through and counts them, so the summary line needs no second pass."""

    def __init__(self, records: Iterator[dict]) -> None:
        self.records, self.count = records, 0

    def __iter__(self) -> Iterator[dict]:
        for record in self.records:
            self.count += 1
            yield record
