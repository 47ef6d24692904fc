"""Subcommands that only read: state, list."""

from __future__ import annotations

import sys

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.container.container import Container


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("state", help="output the state of a container")
    p.add_argument("id")
    p.set_defaults(handler=cmd_state)

    p = sub.add_parser("list", help="list containers")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--format", default="table", choices=("table", "json"))
    p.set_defaults(handler=cmd_list)


def cmd_state(args: argparse.Namespace, log: Log) -> int:
    doc = Container.load(args.id, options=args.options).state()
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def cmd_list(args: argparse.Namespace, log: Log) -> int:
    states = [c.state() for c in Container.list(options=args.options)]
    if args.quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif args.format == "json":
        sys.stdout.write(json.dumps(states) + "\n")
    else:
        sys.stdout.write(_table(states))
    return 0


def _table(states: list[dict]) -> str:
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [
        (s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s.get("owner") or "root")
        for s in states
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )
