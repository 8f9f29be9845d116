"""One module per `tagstream` subcommand; each exposes `add_parser(subparsers)` and `run(args)`."""
