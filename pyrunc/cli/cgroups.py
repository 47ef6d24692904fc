"""Subcommands: update, pause, resume, ps, events (runc's flags and output)."""

from __future__ import annotations

import sys

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.container.container import Container
from pyrunc.errors import InvalidArgument

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

# runc update's single-value flags: flag -> (section, field, parser, runc's usage text).
# runc's placeholder is "int" for the two it parses as numbers (shown with default 0),
# "string" for the rest; --kernel-memory* are hidden there ("obsoleted") and refused here.
_SIZE = "size"
_INT = "int"
UPDATE_FLAGS: tuple[tuple[str, str, str, str, str], ...] = (
    ("--blkio-weight", "blockIO", "weight", _INT,
     "Specifies per cgroup weight, range is from 10 to 1000"),
    ("--cpu-period", "cpu", "period", _INT,
     "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"),
    ("--cpu-quota", "cpu", "quota", _INT,
     "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
    ("--cpu-burst", "cpu", "burst", _INT,
     "CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for"
     " burst a given period"),
    ("--cpu-share", "cpu", "shares", _INT, "CPU shares (relative weight vs. other containers)"),
    ("--cpu-rt-period", "cpu", "realtimePeriod", _INT,
     "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"),
    ("--cpu-rt-runtime", "cpu", "realtimeRuntime", _INT,
     "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"),
    ("--cpuset-cpus", "cpu", "cpus", "str", "CPU(s) to use"),
    ("--cpuset-mems", "cpu", "mems", "str", "Memory node(s) to use"),
    ("--kernel-memory", "memory", "kernel", _SIZE, argparse.SUPPRESS),
    ("--kernel-memory-tcp", "memory", "kernelTCP", _SIZE, argparse.SUPPRESS),
    ("--memory", "memory", "limit", _SIZE, "Memory limit (in bytes)"),
    ("--cpu-idle", "cpu", "idle", _INT,
     "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE"),
    ("--memory-reservation", "memory", "reservation", _SIZE,
     "Memory reservation or soft_limit (in bytes)"),
    ("--memory-swap", "memory", "swap", _SIZE,
     "Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
    ("--pids-limit", "pids", "limit", _INT, "Maximum number of pids allowed in the container"),
)  # fmt: skip
_ALIASES = {"--cpu-share": "--cpu-shares"}  # docker's spelling too (not in help, as runc's)
_RUNC_INTS = ("--blkio-weight", "--pids-limit")  # runc's IntFlags: "int", default 0

_RESOURCES_HELP = """path to the file containing the resources to update or '-' to read from the standard input

The accepted format is as follow (unchanged values can be omitted):

{
  "memory": {
    "limit": 0,
    "reservation": 0,
    "swap": 0,
    "checkBeforeUpdate": true
  },
  "cpu": {
    "shares": 0,
    "quota": 0,
    "burst": 0,
    "period": 0,
    "realtimeRuntime": 0,
    "realtimePeriod": 0,
    "cpus": "",
    "mems": "",
    "idle": 0
  },
  "blockIO": {
    "weight": 0
  }
}

Note: if data is to be read from a file or the standard input, all
other options are ignored.
"""  # noqa: E501 - runc's text, its first line as long as runc's

# Help texts of the other commands: runc's (pause.go, ps.go, events.go).
_PAUSE_ARGS = """<container-id>

Where "<container-id>" is the name for the instance of the container to be
paused. """
_RESUME_ARGS = """<container-id>

Where "<container-id>" is the name for the instance of the container to be
resumed."""
_LIST_HINT = "\n\nUse %(name)s list to identify instances of containers and their current status."


def register(sub: argparse._SubParsersAction) -> None:
    _register_update(sub)

    p = sub.add_parser(
        "pause",
        help="pause suspends all processes inside the container",
        args_usage=_PAUSE_ARGS,
        description="The pause command suspends all processes in the instance of the container."
        + _LIST_HINT,
    )
    p.add_argument("id")
    p.set_defaults(handler=cmd_pause)

    p = sub.add_parser(
        "resume",
        help="resumes all processes that have been previously paused",
        args_usage=_RESUME_ARGS,
        description="The resume command resumes all processes in the instance of the container."
        + _LIST_HINT,
    )
    p.add_argument("id")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser(
        "ps",
        help="ps displays the processes running inside a container",
        args_usage="<container-id> [ps options]",
    )
    p.add_argument(
        "--format",
        "-f",
        default="table",
        choices=("table", "json"),
        help="select one of: table or json",
    )
    p.add_argument("id")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, help="arguments for ps (default -ef)")
    p.set_defaults(handler=cmd_ps)

    p = sub.add_parser(
        "events",
        help="display container events such as OOM notifications, cpu, memory, and IO usage"
        " statistics",
        args_usage='<container-id>\n\nWhere "<container-id>" is the name for the instance of'
        " the container.",
        description="The events command displays information about the container. By default"
        " the\ninformation is displayed once every 5 seconds.",
    )
    p.add_argument(
        "--interval", default="5s", metavar="duration", help="set the stats collection interval"
    )
    p.add_argument("--stats", action="store_true", help="display the container's stats then exit")
    p.add_argument("id")
    p.set_defaults(handler=cmd_events)


def _register_update(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "update", help="update container resource constraints", args_usage="<container-id>"
    )
    p.add_argument("--resources", "-r", default=None, help=_RESOURCES_HELP)
    for flag, _, _, _, text in UPDATE_FLAGS:
        runc_int = flag in _RUNC_INTS
        if flag in _ALIASES:
            p.add_argument(_ALIASES[flag], dest=_dest(flag), default=None, help=argparse.SUPPRESS)
        p.add_argument(
            flag,
            dest=_dest(flag),
            default=None,
            help=text,
            metavar="int" if runc_int else None,
            default_text="0" if runc_int else None,
        )
    p.add_argument(
        "--l3-cache-schema", default=None, help="The string of Intel RDT/CAT L3 cache schema"
    )
    p.add_argument(
        "--mem-bw-schema", default=None, help="The string of Intel RDT/MBA memory bandwidth schema"
    )
    p.add_argument("id")
    p.set_defaults(handler=cmd_update)


def _dest(flag: str) -> str:
    return "u_" + flag.lstrip("-").replace("-", "_")


# -- update --------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(flag: str, text: str) -> int:
    """docker's RAMInBytes: 64m, 1.5g, 1024, -1 (unlimited)."""
    import re  # here, not at the top: this module is loaded by every CLI call

    m = re.fullmatch(r"\s*(-1|\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*", text.lower())
    if m is None or (m.group(1) == "-1" and m.group(2)):
        raise InvalidArgument(f"{flag}: invalid size {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_int(flag: str, text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise InvalidArgument(f"{flag}: invalid number {text!r}") from None


def resources_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for flag, section, field, kind, _ in UPDATE_FLAGS:
        text = getattr(args, _dest(flag))
        if text is None:
            continue
        if kind == _SIZE:
            value: Any = parse_size(flag, text)
        elif kind == _INT:
            value = parse_int(flag, text)
        else:
            value = text
        out.setdefault(section, {})[field] = value
    return out


def _read_resources(source: str) -> Any:
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source) as f:
                text = f.read()
        return json.loads(text)
    except OSError as e:
        raise InvalidArgument(f"--resources: open {source}: {(e.strerror or '').lower()}") from None
    except ValueError as e:  # json.JSONDecodeError (jsonio raises the stdlib's own)
        where = f"{e.msg} at line {e.lineno}" if hasattr(e, "lineno") else str(e)  # type: ignore[attr-defined]
        raise InvalidArgument(f"--resources: invalid JSON: {where}") from None


def cmd_update(args: argparse.Namespace, log: Log) -> int:
    c = Container.load(args.id, options=args.options)
    if args.resources is not None:  # runc: the file alone, the flags are not read
        resources = _read_resources(args.resources)
    else:
        resources = resources_from_flags(args)
    # runc reads these with --resources too.
    c.update(resources, l3_cache_schema=args.l3_cache_schema, mem_bw_schema=args.mem_bw_schema)
    return 0


# -- pause, resume -------------------------------------------------------------------------


def cmd_pause(args: argparse.Namespace, log: Log) -> int:
    Container.load(args.id, options=args.options).pause()
    return 0


def cmd_resume(args: argparse.Namespace, log: Log) -> int:
    Container.load(args.id, options=args.options).resume()
    return 0


# -- ps ------------------------------------------------------------------------------------


def cmd_ps(args: argparse.Namespace, log: Log) -> int:
    from pyrunc.container import ps

    c = Container.load(args.id, options=args.options)
    ps_args = list(args.ps_args)
    if ps_args[:1] == ["--"]:
        ps_args = ps_args[1:]
    if args.format == "json":
        sys.stdout.write(json.dumps(ps.pids(c)) + "\n")
    else:
        sys.stdout.write(ps.table(c, ps_args))
    return 0


# -- events --------------------------------------------------------------------------------

_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration subset runc's --interval takes: 5s, 500ms, 1m30s."""
    import re  # here, not at the top: this module is loaded by every CLI call

    pos, total = 0, 0.0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f"--interval: invalid duration {text!r}")
    if total <= 0:
        raise InvalidArgument("--interval: duration must be greater than 0")
    return total


def cmd_events(args: argparse.Namespace, log: Log) -> int:
    from pyrunc.container import events

    interval = parse_duration(args.interval)
    c = Container.load(args.id, options=args.options)
    if args.stats:
        sys.stdout.write(events.encode(events.stats_event(c)))
        return 0
    for event in events.stream(c, interval):
        sys.stdout.write(events.encode(event))
        sys.stdout.flush()
    return 0
