"""Command-line subcommands of `lrrg`; each module exposes `add_parser(subparsers)`."""
