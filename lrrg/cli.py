"""The `lrrg` command line: one subcommand per job (generate, assess, build, train, benchmark, app)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Subcommand modules under `lrrg.commands`, in the order `lrrg --help` lists them. Each exposes
# `add_parser(subparsers)`, which must import nothing heavy (torch, gradio) at registration time.
SUBCOMMANDS = ("benchmark", "build", "assess", "train", "generate", "app")


def build_parser() -> argparse.ArgumentParser:
    """Returns the top-level parser with every available subcommand registered."""
    from lrrg import __version__

    parser = argparse.ArgumentParser(
        prog="lrrg",
        description="Robust radiology report generation on low-quality chest X-rays (research use only).",
    )
    parser.add_argument("--version", action="version", version=f"lrrg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"lrrg.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"lrrg.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lrrg` console script. Returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 0
    accepts_extra = getattr(args, "accepts_extra_args", False)
    if extra and not accepts_extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if accepts_extra:
        args.extra_args = extra
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
