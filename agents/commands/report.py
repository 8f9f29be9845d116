"""`tagstream report`: a self-contained HTML page of customers' tags, how audiences moved over time
and how they compare with an earlier snapshot."""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from functools import partial
from pathlib import Path
from typing import cast

import orjson
from redis import Redis
from redis.exceptions import RedisError

from agents.commands.arguments import EXIT_FAILED, UsageError
from agents.progress import Progress
from agents.report import ReportInputs, render_report
from agents.report.history import FIRST_YEAR, LAST_YEAR, ChangeFileError, History, read_history
from agents.report.page import Pack, PeriodError
from agents.serving.profiles import CUSTOMER, record_from_hash
from config.settings import load_settings, without_password
from stream.rules.ruleset import CURRENCY, RuleError, load_rules

MAX_LINE = 16 * 2**20  # a snapshot record or change event is kilobytes; a longer line is a JSON array or not text
HELP = "render a customer snapshot (from `backtest --snapshot-out`, or Redis) as one self-contained HTML page"


class InputError(Exception):
    """An input file is not what its option says (missing, not JSON, wrong records): one line, exit 2."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help=HELP, description=HELP + """. It states the snapshot's
as-of instant, the rule pack (name and SHA-256) and revenue in the pack's currency, and shows every
family's distribution, an RFM heat-map and the top segments. With --changes: each family's audience
sizes over time and a from -> to migration matrix for a period (default: the last 30 days of
changes). With --compare: every value's count before and now. Inline CSS and SVG only, no scripts
or URLs: it opens offline and can be mailed as is (use --no-ids for a page without customer ids).""")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--snapshot", metavar="FILE",
                        help="snapshot JSONL written by `tagstream backtest --snapshot-out` (optionally .gz)")
    source.add_argument("--redis", metavar="URL", nargs="?", const="",
                        help="read the live profiles from Redis instead (default URL: TAGSTREAM_REDIS_URL)")
    parser.add_argument("--out", required=True, metavar="FILE", help="HTML file to write (- for stdout)")
    parser.add_argument("--changes", metavar="FILE", action="append", default=[],
                        help="tag-change JSONL (`backtest --changes-out`, optionally .gz; repeatable): audiences "
                             "over time and migration; complete from the customers' first values for exact sizes")
    parser.add_argument("--snapshot-out", metavar="FILE",
                        help="with --redis: also save the live profiles read as a snapshot file, to give as --compare "
                             "later (say, next month)")
    parser.add_argument("--compare", metavar="FILE",
                        help="an earlier snapshot: per family, each value's count before and now (e.g. from the same log: "
                             "`tagstream backtest LOG --until 2026-11-01 --changes-out /dev/null --snapshot-out F`)")
    parser.add_argument("--rules", metavar="FILE",
                        help="the rule pack the customers were tagged with, named on the page with its SHA-256 "
                             "(default: config/rules/default.toml; with --redis: TAGSTREAM_RULES, as the worker)")
    parser.add_argument("--currency", metavar="CODE", help="the unit of revenue (default: the pack's [about] currency)")
    parser.add_argument("--by", choices=("day", "week", "month"),
                        help="points of the audience charts (default: chosen by the changes' span, about 150 points at most; "
                             "a stray early date is left out of the span, with a note)")
    parser.add_argument("--since", metavar="DATE", type=date.fromisoformat,
                        help="first day (UTC) of the migration period (default: 30 days before --until)")
    parser.add_argument("--until", metavar="DATE", type=date.fromisoformat,
                        help="day after the migration period (default: the day after the last change drawn, which is "
                             "at the latest the snapshot's as-of)")
    parser.add_argument("--ids", action=argparse.BooleanOptionalAction, default=None,
                        help="show customer ids in the top-customers table (default: yes for --snapshot, "
                             "no for --redis, whose page is meant to be shared)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    try:
        inputs = _inputs(args)
        report = render_report(inputs)
    except (InputError, ChangeFileError, RuleError, PeriodError) as error:
        raise UsageError(str(error)) from None
    except (OSError, EOFError, RedisError) as error:
        print(f"tagstream report: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not _write(args.out, report.html):
        return EXIT_FAILED
    if report.customers == 0:
        print(f"tagstream report: warning: {inputs.source} has no customers", file=sys.stderr)
    for note in report.notes:
        print(f"tagstream report: note: {note}", file=sys.stderr)
    print(f"report: {report.customers:,} customers -> {args.out}", file=sys.stderr)
    return 0


def _check_options(args: argparse.Namespace) -> None:
    if args.since and args.until and args.since >= args.until:
        raise UsageError(f"--since {args.since} must come before --until {args.until}")
    if args.snapshot_out and args.redis is None:
        raise UsageError("--snapshot-out saves the live profiles of --redis; a --snapshot file is one already")
    if args.snapshot_out and Path(args.snapshot_out).name in ("", ".", ".."):
        raise UsageError(f"--snapshot-out must name a file, got {args.snapshot_out!r}")
    timeline = [option for option, value in (("--by", args.by), ("--since", args.since), ("--until", args.until)) if value]
    if timeline and not args.changes:
        raise UsageError(f"{timeline[0]} shapes the audiences and migration drawn from change files: give them with --changes")
    for option, day in (("--since", args.since), ("--until", args.until)):
        if day and not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise UsageError(f"{option} {day} is outside the years {FIRST_YEAR}–{LAST_YEAR} a report can draw")
    if args.currency is not None and not CURRENCY.fullmatch(args.currency):
        raise UsageError(f"--currency must be an ISO 4217 code such as EUR, got {args.currency!r}")


def _inputs(args: argparse.Namespace) -> ReportInputs:
    """Everything the page needs; the snapshot itself is read (once) while rendering."""
    live = args.redis is not None
    rules = load_rules(args.rules or (load_settings().rules if live else None))
    if live:
        url = args.redis or load_settings().redis_url
        records, source = read_redis(_redis(url)), without_password(url)
        if args.snapshot_out:
            records = saving(records, Path(args.snapshot_out))
    else:
        records, source = read_snapshot(_existing(args.snapshot, "snapshot")), args.snapshot
    inputs = ReportInputs(
        records=records,
        source=source,
        generated_at=_generated_at().strftime("%Y-%m-%d %H:%M UTC"),
        pack=Pack(rules.name, rules.digest, args.currency or rules.currency, tuple(f.name for f in rules.families)),
        show_ids=(not live) if args.ids is None else args.ids,
        bucket=args.by,
        since=args.since,
        until=args.until,
    )
    if args.changes:
        inputs.history, inputs.history_source = read_changes([_existing(p, "change") for p in args.changes]), ", ".join(args.changes)
    if args.compare:
        inputs.earlier, inputs.earlier_source = read_snapshot(_existing(args.compare, "snapshot")), args.compare
    return inputs


def _existing(name: str, kind: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise InputError(f"no such {kind} file: {path}")
    return path


def _write(out: str, page: str) -> bool:
    """Write the page as UTF-8; a file name that is not (a lone surrogate from undecodable bytes)
    shows as "?" on the page instead of failing the write."""
    data = page.encode("utf-8", "replace")
    if out == "-":
        sys.stdout.buffer.write(data)
        return True
    try:
        Path(out).write_bytes(data)
    except OSError as error:
        print(f"tagstream report: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return False
    return True


def _generated_at() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible-builds.org): then the same inputs give the
    same bytes, as a page kept under version control wants."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not epoch:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"SOURCE_DATE_EPOCH must be seconds since 1970, got {epoch!r}") from None


def _redis(url: str) -> Redis:
    try:
        return Redis.from_url(url, decode_responses=True, encoding_errors="replace", socket_connect_timeout=3)
    except ValueError as error:
        raise InputError(f"bad Redis URL {without_password(url)}: {error}") from None


def read_redis(client: Redis) -> Iterator[dict]:
    """Every customer profile the worker wrote, as report records: once each (SCAN may return a
    key twice while the worker adds keys), and none for a key erased between SCAN and HGETALL."""
    seen: set[str] = set()
    for key in client.scan_iter(CUSTOMER + "*", count=1000):
        if key in seen:
            continue
        seen.add(key)
        fields = cast(dict[str, str], client.hgetall(key))  # decode_responses: str
        if fields:
            yield record_from_hash(fields)


def saving(records: Iterable[dict], path: Path) -> Iterator[dict]:
    """The records as they pass, each also written to `path` as a snapshot line. The file is
    written beside it and renamed once every record is in: it is complete or absent."""
    partial = path.with_name(path.name + ".partial")
    done = False
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(partial, "wb") as out:
            for record in records:
                out.write(orjson.dumps(record) + b"\n")
                yield record
        partial.replace(path)
        done = True
    finally:
        if not done:
            partial.unlink(missing_ok=True)


def read_snapshot(path: Path) -> Iterator[dict]:
    """Snapshot records, one JSON object per line."""
    for number, record in json_lines(path):
        if "customer_id" not in record or not isinstance(record.get("tags"), dict):
            raise InputError(f"{path}:{number}: not a snapshot record (no customer_id and tags object){_hint(record)}")
        yield record


def read_changes(paths: list[Path]) -> History:
    """Every tag change of the files, read once, with a progress line for big files."""
    events = ((str(path), number, event) for path in paths for number, event in json_lines(path))
    return read_history(events, Progress("report: reading changes"))


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of a JSONL file; blank lines are skipped; gzip by its magic bytes
    (`backtest --snapshot-out F.gz` writes plain text)."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as lines:
            for number, line in enumerate(iter(partial(lines.readline, MAX_LINE + 1), b""), 1):
                if len(line) > MAX_LINE:
                    raise InputError(f"{path}:{number}: a line over {MAX_LINE // 2**20} MiB: expected one JSON object per line")
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise InputError(f"{path}:{number}: not JSON: {error}") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}:{number}: expected a JSON object per line")
                yield number, record
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise InputError(f"{path}: broken gzip file: {error}") from None


def _hint(record: dict) -> str:
    if "type" in record and "ts" in record:
        return "; this is an event log: `tagstream backtest LOG --changes-out F --snapshot-out S` makes a snapshot of it"
    if "specversion" in record:
        return "; this is a tag-change file: give it with --changes"
    return ""
