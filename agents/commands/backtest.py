"""`tagstream backtest`: the offline engine over event logs, no Kafka needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.background_writer import BackgroundWriter
from agents.commands.arguments import UsageError, add_max_rejected, as_of, positive_int, rejected_status, until_instant
from agents.log_order import ORDER_NOTE, LogOrder, add_order_options
from config.settings import load_settings
from stream.backtest import Backtest, counting_rejections
from stream.logfile import LogLine, LogReader
from stream.native import ChangeBatch
from schemas.events import Rejection
from stream.rules.ruleset import load_rules
from stream.timeorder import Cutoff, OutOfOrder
from stream.timeutil import format_ts

HELP = "run the tagging engine offline over JSONL event logs (optionally .gz)"
MAX_REPORTED = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backtest", help=HELP, description=HELP + """.
Events go through the same engine, partitioner and per-partition watermarks as the worker, so
the tag changes equal what a worker on the event clock publishes for the same events (replayed with
`tagstream replay`, which sends them in the same order); README, "Time, lateness and deadlines",
says which equalities hold for a live worker.

""" + ORDER_NOTE)
    parser.add_argument("logs", nargs="+", metavar="LOG", help="canonical JSONL event log(s), optionally .gz")
    parser.add_argument("--rules", help="rule pack (TOML); default: config/rules/default.toml")
    parser.add_argument(
        "--as-of",
        type=as_of,
        help="where time stops after the last event: `end` (default: the newest event's time), "
        "`watermark` (exactly where a worker on the event clock that read the same events would stand), or an RFC 3339 instant",
    )
    parser.add_argument(
        "--until",
        type=until_instant,
        metavar="WHEN",
        help="the state as of WHEN (a date, meaning 00:00 UTC, or an RFC 3339 instant): events at or after it are "
        "left out (counted) and time stops there, as a snapshot taken then would show it; e.g. last month's "
        "snapshot for `tagstream report --compare`",
    )
    parser.add_argument("--changes-out", required=True, help="write tag-change CloudEvents here, one JSON per line")
    parser.add_argument("--snapshot-out", help="write one JSON object per customer here (final state and tags)")
    parser.add_argument("--partitions", type=positive_int, help="partition count to simulate (default: the worker's, 8)")
    add_max_rejected(parser)
    add_order_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.until is not None and args.as_of is not None:
        raise UsageError("--until stops time at its instant: leave out --as-of")
    as_of = args.until if args.until is not None else args.as_of if args.as_of is not None else "end"
    try:
        order = LogOrder.from_args(args, until=args.until)
    except ValueError as error:
        raise UsageError(str(error)) from None
    rules = load_rules(args.rules)
    partitions = args.partitions or load_settings().partitions
    reader = LogReader(args.logs)
    backtest = Backtest(rules, partitions)
    totals = backtest.totals

    def report(line: LogLine, rejection: Rejection) -> None:
        if totals.rejected <= MAX_REPORTED:
            print(f"{line.where}: {rejection.reason}: {rejection.message}", file=sys.stderr)

    reject = counting_rejections(totals, report)
    try:
        with open(args.changes_out, "wb") as out, BackgroundWriter(out) as writer, \
                order.open(reader, reject, "backtest") as ordered:
            def write(changes: ChangeBatch) -> None:
                writer.write(changes.json_lines())

            backtest.run_blocks(ordered.blocks_with_progress(lambda: (totals.lines, f"changes {totals.changes:,}")), write, report)
            backtest.finish(as_of, write)
            ordered.progress.finish(totals.lines, extra=f"events {totals.events:,}")
            cutoff = ordered.cutoff
    except OutOfOrder as error:
        if Path(args.changes_out).is_file():  # half a history must not pass for a result (but /dev/null stays)
            Path(args.changes_out).unlink()
        raise UsageError(str(error)) from None
    if args.snapshot_out:
        with open(args.snapshot_out, "wb") as snap:
            for record in backtest.snapshot_lines(as_of):
                snap.write(record + b"\n")
    if totals.rejected > MAX_REPORTED:
        print(f"backtest: ... and {totals.rejected - MAX_REPORTED:,} more rejected lines not shown", file=sys.stderr)
    if cutoff is not None:
        print(f"backtest: {_left_out(cutoff)}", file=sys.stderr)
    print(
        f"backtest: {totals.events:,} events, {totals.changes:,} tag changes, {totals.rejected:,} rejected lines, "
        f"{totals.duplicates:,} duplicates, {totals.late:,} late -> {Path(args.changes_out)}",
        file=sys.stderr,
    )
    return rejected_status(totals.rejected, args.max_rejected, "backtest")


def _left_out(cutoff: Cutoff) -> str:
    return f"{cutoff.left_out:,} event{'' if cutoff.left_out == 1 else 's'} at or after --until {format_ts(cutoff.until)} left out"
