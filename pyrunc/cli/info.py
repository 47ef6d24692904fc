"""Subcommands that only read: state, list."""

from __future__ import annotations

import os
import sys

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.container.container import Container
from pyrunc.errors import PyruncError
from pyrunc.options import DEFAULT_ROOT

# Help texts: runc's (state.go, list.go), with pyrunc's default root.
_LIST_ARGS = f"""

Where the given root is specified via the global option "--root"
(default: "{DEFAULT_ROOT}").

EXAMPLE 1:
To list containers created via the default "--root":
       # %(name)s list

EXAMPLE 2:
To list containers created using a non-default value for "--root":
       # %(name)s --root value list"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "state",
        help="output the state of a container",
        args_usage='<container-id>\n\nWhere "<container-id>" is your name for the instance of'
        " the container.",
        description="The state command outputs current state information for the\n"
        "instance of a container.",
    )
    p.add_argument("id")
    p.set_defaults(handler=cmd_state)

    p = sub.add_parser(
        "list",
        help="lists containers started by %(name)s with the given root",
        args_usage=_LIST_ARGS,
    )
    p.add_argument(
        "--format",
        "-f",
        default="table",
        choices=("table", "json"),
        help="select one of: table or json",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="display only container IDs")
    p.set_defaults(handler=cmd_list)


def cmd_state(args: argparse.Namespace, log: Log) -> int:
    doc = Container.load(args.id, options=args.options).state()
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def cmd_list(args: argparse.Namespace, log: Log) -> int:
    root = args.options.root
    if args.root is not None and not os.path.isdir(root):
        # runc: no containers yet under the default root is an empty list; a --root
        # that does not exist is an error (a typo must not look like "nothing runs").
        raise PyruncError(f"open {root}: no such file or directory")
    states = [
        c.state() | {"owner": _owner(root, c.id)} for c in Container.list(options=args.options)
    ]
    if args.quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif args.format == "json":
        # runc's encoding: compact, and null for no containers (a nil slice).
        sys.stdout.write(json.dumps(states or None, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(_table(states))
    return 0


def _owner(root: str, container_id: str) -> str:
    """runc's OWNER: the user owning the container's state dir (a rootless user's own)."""
    import pwd

    try:
        uid = os.stat(os.path.join(root, container_id)).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


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
