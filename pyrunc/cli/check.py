"""`pyrunc check`: everything wrong with a bundle and this host, before running it."""

from __future__ import annotations

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.errors import PyruncError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check a bundle and this host before running it")
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("--format", default="text", choices=("text", "json"))
    p.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, log: Log) -> int:
    raise PyruncError("check: not implemented yet")
