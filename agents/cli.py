"""`tagstream`: one command, one subcommand per job."""

from __future__ import annotations

import argparse
import sys

from agents.commands import backtest, demo, generate, lookup, redis_rebuild, replay, report, tail, topics, whatif, worker

COMMANDS = (worker, demo, topics, backtest, whatif, report, generate, replay, tail, lookup, redis_rebuild)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagstream",
        description="Real-time customer tagging on event time: lifecycle, value tier, RFM, churn risk.",
        epilog="Run `tagstream COMMAND --help` for a command's options.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError) as error:
        print(f"tagstream: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
