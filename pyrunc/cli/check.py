"""`pyrunc check`: everything wrong with a bundle and this host, before running it."""

from __future__ import annotations

import sys

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check a bundle and this host before running it")
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("--format", default="text", choices=("text", "json"))
    p.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, log: Log) -> int:
    """Exit 0 iff the bundle would run: no errors (warnings are fine)."""
    from pyrunc.check import render, run

    report = run(args.bundle, args.options)
    sys.stdout.write(render.as_json(report) if args.format == "json" else render.text(report))
    return 0 if report.ok else 1
