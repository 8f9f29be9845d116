"""`tagstream whatif`: two rule packs over the same logs, and what would change between them."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TextIO

from agents.commands.arguments import UsageError, add_max_rejected, as_of, non_negative_int, positive_int, rejected_status
from agents.log_order import ORDER_NOTE, LogOrder, add_order_options
from config.settings import load_settings
from schemas.events import Rejection
from stream.backtest import AsOf, counting_rejections
from stream.logfile import LogLine, LogReader
from stream.rules.ruleset import RuleError, RuleSet, load_rules
from stream.timeorder import OutOfOrder
from stream.whatif import FamilyComparison, TransitionRow, WhatIf, WhatIfReport

HELP = "compare two rule packs over the same event logs: distributions, transitions, differing customers"
MAX_REPORTED = 20  # bad lines printed; all are counted
TOP_TRANSITIONS = 8


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("whatif", help=HELP, description=HELP + """. Each line is decoded
once and fed to two offline engines (A: --rules, B: --rules-b) with the same partitioning as the
worker, so the only difference between the sides is the rules.\n\n""" + ORDER_NOTE)
    parser.add_argument("logs", nargs="+", metavar="LOG", help="canonical JSONL event log(s), optionally .gz")
    parser.add_argument("--rules", help="rule pack A, the baseline (default: config/rules/default.toml)")
    parser.add_argument("--rules-b", required=True, help="rule pack B, the candidate")
    parser.add_argument(
        "--as-of",
        type=as_of,
        default="end",
        help="where time stops after the last event: `end` (default), `watermark` or an RFC 3339 instant",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    parser.add_argument("--sample", type=non_negative_int, default=10, help="differing customer ids listed per family (default 10)")
    parser.add_argument("--partitions", type=positive_int, help="partition count to simulate (default: the worker's, 8)")
    add_max_rejected(parser)
    add_order_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    as_of, rules_a, rules_b, reader, order = _inputs(args)
    whatif = WhatIf(rules_a, rules_b, args.partitions or load_settings().partitions)

    def report_line(line: LogLine, rejection: Rejection) -> None:
        if whatif.rejected <= MAX_REPORTED:
            print(f"{line.where}: {rejection.reason}: {rejection.message}", file=sys.stderr)

    try:
        with order.open(reader, counting_rejections(whatif.read, report_line), "whatif") as ordered:
            whatif.run_blocks(ordered.blocks_with_progress(lambda: (whatif.lines, "")), report_line)
            whatif.finish(as_of)
            report = whatif.report(as_of, args.sample)
            ordered.progress.finish(whatif.lines, extra=f"events {report.events:,}, {report.rejected:,} rejected lines")
    except OutOfOrder as error:
        raise UsageError(str(error)) from None
    if args.json:
        sys.stdout.buffer.write(report.to_json() + b"\n")
        sys.stdout.flush()
    else:
        write_text(report, sys.stdout)
    return rejected_status(report.rejected, args.max_rejected, "whatif")


def _inputs(args: argparse.Namespace) -> tuple[AsOf, RuleSet, RuleSet, LogReader, LogOrder]:
    """Everything that can be wrong with the invocation is checked before any work starts
    (options by argparse, then the order options, rule packs and logs)."""
    try:
        order = LogOrder.from_args(args)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        rules_a, rules_b = load_rules(args.rules), load_rules(args.rules_b)
        reader = LogReader(args.logs)
    except (RuleError, OSError) as error:
        raise UsageError(str(error)) from None
    return args.as_of, rules_a, rules_b, reader, order


# --- the text report ---------------------------------------------------------------------------


def write_text(report: WhatIfReport, out: TextIO) -> None:
    """Header, then one block per family; families where nothing moved take a single line."""
    out.write(f"whatif: A = {report.a.rules}\n        B = {report.b.rules}\n")
    out.write(
        f"as of {report.as_of}: {report.lines:,} lines, {report.events:,} events, {report.rejected:,} rejected, "
        f"{report.customers:,} customers; tag changes A {report.a.changes:,}, B {report.b.changes:,}\n"
    )
    for family in report.families:
        out.write("\n" + "\n".join(family_lines(family)) + "\n")


def family_lines(family: FamilyComparison) -> list[str]:
    if family.only_in:
        side = family.only_in.upper()
        values = ", ".join(f"{row.value} {getattr(row, family.only_in):,}" for row in family.distribution)
        return [f"{family.family}: only in {side}", *_wrap(f"{side}: {values}")]
    if family.differing == 0 and all(row.delta == 0 for row in family.transitions):
        values = ", ".join(f"{row.value} {row.a:,}" for row in family.distribution)
        return [f"{family.family}: unchanged", *_wrap(values)]
    lines = [f"{family.family}: {family.differing:,} customers differ"]
    a, b = family.changes_per_customer_year
    if a != b:
        lines.append(f"  changes per customer per year: A {a:.2f}, B {b:.2f}")
    lines += _table(["value", "A", "B", "delta"], [[r.value, r.a, r.b, r.delta] for r in family.distribution])
    lines += ["  top transitions:"]
    lines += _table(["from → to", "A", "B", "delta"], [[f"{r.from_value} → {r.to_value}", r.a, r.b, r.delta]
                                                      for r in top_transitions(family.transitions)])
    if family.differing_sample:
        lines.append(f"  differing (sample): {', '.join(family.differing_sample)}")
    return lines


def top_transitions(rows: list[TransitionRow], limit: int = TOP_TRANSITIONS) -> list[TransitionRow]:
    """The rows a reviewer needs first: the biggest shifts, then the busiest paths."""
    return sorted(rows, key=lambda r: (-abs(r.delta), -(r.a + r.b), r.from_value, r.to_value))[:limit]


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    """Left-aligned first column, right-aligned counts, signed deltas."""
    cells = [header] + [[str(r[0]), f"{r[1]:,}", f"{r[2]:,}", f"{r[3]:+,}" if r[3] else "0"] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  " + "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip()
            for row in cells]
