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

# runc update's single-value flags: flag -> (section, field, parser)
_SIZE = "size"
_INT = "int"
UPDATE_FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("--blkio-weight", "blockIO", "weight", _INT),
    ("--cpu-period", "cpu", "period", _INT),
    ("--cpu-quota", "cpu", "quota", _INT),
    ("--cpu-burst", "cpu", "burst", _INT),
    ("--cpu-share", "cpu", "shares", _INT),
    ("--cpu-rt-period", "cpu", "realtimePeriod", _INT),
    ("--cpu-rt-runtime", "cpu", "realtimeRuntime", _INT),
    ("--cpu-idle", "cpu", "idle", _INT),
    ("--cpuset-cpus", "cpu", "cpus", "str"),
    ("--cpuset-mems", "cpu", "mems", "str"),
    ("--kernel-memory", "memory", "kernel", _SIZE),
    ("--kernel-memory-tcp", "memory", "kernelTCP", _SIZE),
    ("--memory", "memory", "limit", _SIZE),
    ("--memory-reservation", "memory", "reservation", _SIZE),
    ("--memory-swap", "memory", "swap", _SIZE),
    ("--pids-limit", "pids", "limit", _INT),
)
_ALIASES = {"--cpu-share": ["--cpu-shares"]}  # docker's spelling too


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("update", help="update the resource limits of a container")
    p.add_argument("-r", "--resources", default=None, help="resources JSON file, - for stdin")
    for flag, _, _, _ in UPDATE_FLAGS:
        p.add_argument(flag, *_ALIASES.get(flag, []), dest=_dest(flag), default=None)
    p.add_argument("--l3-cache-schema", default=None, help="Intel RDT/CAT L3 cache schema")
    p.add_argument("--mem-bw-schema", default=None, help="Intel RDT/MBA memory bandwidth schema")
    p.add_argument("id")
    p.set_defaults(handler=cmd_update)

    p = sub.add_parser("pause", help="suspend every process of a container")
    p.add_argument("id")
    p.set_defaults(handler=cmd_pause)

    p = sub.add_parser("resume", help="resume a paused container")
    p.add_argument("id")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("ps", help="list the processes of a container")
    p.add_argument("-f", "--format", default="table", choices=("table", "json"))
    p.add_argument("id")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, help="arguments for ps (default -ef)")
    p.set_defaults(handler=cmd_ps)

    p = sub.add_parser("events", help="stats and OOM notifications of a container")
    p.add_argument("--stats", action="store_true", help="print the stats once and exit")
    p.add_argument("--interval", default="5s", help="stats interval (default 5s)")
    p.add_argument("id")
    p.set_defaults(handler=cmd_events)


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
    for flag, section, field, kind in UPDATE_FLAGS:
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
