"""What every command checks the same way: numbers in range, and what its exit status means.

Exit status, the same for every command (README, "Exit status"):

- 0: done;
- 1: the job failed while running (Kafka, Redis or the disk);
- 2: the invocation is wrong: an option, the rule pack, an input file missing or not what the
  command reads (argparse's own usage errors are 2 as well);
- 3: the input had more rejected lines than `--max-rejected` allows (the job itself ran);
- 130: interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import NoReturn

from stream.timeutil import parse_instant

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The invocation is wrong; the message is one line saying what and how to fix it."""


class OneLineErrors(argparse.ArgumentParser):
    """A usage error as one line (`tagstream backtest: argument --partitions: must be ...`) and
    where to look, instead of argparse's usage block followed by the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _bounded(kind: Callable[[str], float], fits: Callable[[float], bool], what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not fits(value):  # nan fits nothing
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _bounded(int, lambda value: value >= 1, "a whole number of 1 or more")
non_negative_int = _bounded(int, lambda value: value >= 0, "a whole number of 0 or more")
positive_float = _bounded(float, lambda value: 0 < value < float("inf"), "a number above 0")
non_negative_float = _bounded(float, lambda value: 0 <= value < float("inf"), "a number of 0 or more")


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {text!r}")
    return int(value)


def as_of(text: str) -> int | str:
    """`--as-of`: `end`, `watermark` or an RFC 3339 instant (epoch ms), as `stream.backtest.AsOf`."""
    if text in ("end", "watermark"):
        return text
    try:
        return parse_instant(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def until_instant(text: str) -> int:
    """`backtest --until`: a date (its 00:00 UTC) or an RFC 3339 instant, as epoch ms rounded up
    (an event at a whole millisecond before a sub-millisecond instant is before it)."""
    return -((EPOCH - _day_or_instant(text)) // timedelta(milliseconds=1))


def start_day(text: str) -> datetime:
    """`generate --start`: a date (UTC midnight) or an RFC 3339 instant, in UTC to the millisecond."""
    return datetime.fromtimestamp(round(_day_or_instant(text).timestamp() * 1000) / 1000, timezone.utc)


def _day_or_instant(text: str) -> datetime:
    try:
        if len(text) == len("2025-01-01"):
            return datetime.combine(date.fromisoformat(text), time(), timezone.utc)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"{text!r} has no timezone (add Z or +00:00)")
        return moment
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be a date (2025-01-01) or an RFC 3339 instant: {error}") from None


def add_max_rejected(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-rejected", type=non_negative_int, metavar="N",
                        help=f"exit with status {EXIT_REJECTED} if more than N lines were rejected "
                             "(default: rejected lines are reported and counted, and the exit status stays 0)")


def rejected_status(rejected: int, max_rejected: int | None, command: str) -> int:
    """0, or `EXIT_REJECTED` with a one-line message when `--max-rejected` is exceeded."""
    if max_rejected is None or rejected <= max_rejected:
        return 0
    print(f"tagstream {command}: {rejected:,} rejected lines, more than --max-rejected {max_rejected:,}", file=sys.stderr)
    return EXIT_REJECTED
