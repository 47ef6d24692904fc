"""`pyrunc check`: everything wrong with a bundle and this host, before running it."""

from __future__ import annotations

import sys

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli import flagtexts as texts
from pyrunc.cli.log import Log

_DESCRIPTION = """The check command reports everything that would stop the bundle from running
on this host, at once: what is wrong in its "config.json", and what the config asks
for that this host or pyrunc lacks, each finding naming its config field. Nothing is
created (no state, cgroup or mount). Warnings do not stop a container.

It exits 0 when the bundle would run, 1 when it would not."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a bundle and this host before running it",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--bundle",
        "-b",
        default=".",
        default_text="",
        help=texts.BUNDLE + ", defaults to the current directory",
    )
    p.add_argument(
        "--format", default="text", choices=("text", "json"), help="select one of: text or json"
    )
    p.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, log: Log) -> int:
    """Exit 0 iff the bundle would run: no errors (warnings are fine)."""
    from pyrunc.check import render, run

    report = run(args.bundle, args.options)
    sys.stdout.write(render.as_json(report) if args.format == "json" else render.text(report))
    return 0 if report.ok else 1
