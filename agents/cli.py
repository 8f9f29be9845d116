"""`tagstream`: one command, one subcommand per job.

Each subcommand lives in its own module under agents/commands; only the one being run is imported
(a `lookup` should not pay for Faust and Kafka clients), all of them only for the overview help.
"""

from __future__ import annotations

import argparse
import importlib
from importlib.metadata import PackageNotFoundError, version
import sys

from agents.commands.arguments import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, OneLineErrors, UsageError
from stream.rules.ruleset import RuleError

COMMANDS = {
    "worker": "worker", "demo": "demo", "topics": "topics", "backtest": "backtest", "whatif": "whatif",
    "report": "report", "generate": "generate", "replay": "replay", "tail": "tail", "lookup": "lookup",
    "redis-rebuild": "redis_rebuild", "erase": "erase",
}


def installed_version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" when run from a bare checkout."""
    try:
        return version("tagstream")
    except PackageNotFoundError:
        return "unknown"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="tagstream",
        description="Real-time customer tagging on event time: lifecycle, value tier, RFM, churn risk.",
        epilog="Run `tagstream COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"tagstream {installed_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=OneLineErrors)
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"agents.commands.{module}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status means the same for every command (agents/commands/arguments.py)."""
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        args = build_parser(command).parse_args(argv)
    except SystemExit as exit:  # --help (0) or a usage error (2, one line already printed)
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, RuleError, FileNotFoundError) as error:
        print(f"tagstream {command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError, RuntimeError) as error:
        print(f"tagstream {command}: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
