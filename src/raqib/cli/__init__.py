"""The `raqib` command. Each subcommand lives in its own module with `add_parser()` and `run()`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMANDS = ("score", "stream", "evaluate", "report", "train", "models", "challenge")
"""Subcommand modules, in the order `--help` lists them."""

log = logging.getLogger("raqib")


def build_parser() -> argparse.ArgumentParser:
    from raqib import __version__

    parser = argparse.ArgumentParser(
        prog="raqib",
        description=(
            "Score Arabic social-media posts for calls to violence (violent_call) and jihadist "
            "propaganda (propaganda). Every flag is a candidate for human review, not a verdict."
        ),
        epilog="Run 'raqib COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"raqib {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"raqib.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 a raqib error, 2 usage, 130 interrupted)."""
    from raqib.errors import RaqibError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="raqib: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.run(args) or 0)
    except RaqibError as exc:
        if args.debug:
            raise
        print(f"raqib: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("raqib: interrupted", file=sys.stderr)
        return 130
