"""`tagstream`: one command, one subcommand per job.

Each subcommand lives in its own module under agents/commands; only the one being run is imported
(a `lookup` should not pay for Faust and Kafka clients), all of them only for the overview help.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "worker": "worker", "demo": "demo", "topics": "topics", "backtest": "backtest", "whatif": "whatif",
    "report": "report", "generate": "generate", "replay": "replay", "tail": "tail", "lookup": "lookup",
    "redis-rebuild": "redis_rebuild",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagstream",
        description="Real-time customer tagging on event time: lifecycle, value tier, RFM, churn risk.",
        epilog="Run `tagstream COMMAND --help` for a command's options.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"agents.commands.{module}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
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
