"""`pyrunc` entry point: global flags as runc has them, then one subcommand."""

from __future__ import annotations

import sys

from pyrunc import __version__ as VERSION
from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.errors import PyruncError
from pyrunc.options import DEFAULT_ROOT, RuntimeOptions

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one runc-style line and exit 1 (not 2 with usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise PyruncError(message)


# Which module registers each subcommand: a call builds only its own subcommand's
# parser (importing and building all of them costs ~2 ms per call).
_COMMAND_MODULES = {
    "create": "lifecycle", "run": "lifecycle", "start": "lifecycle", "kill": "lifecycle",
    "delete": "lifecycle", "state": "info", "list": "info", "exec": "exec",
    "update": "cgroups", "pause": "cgroups", "resume": "cgroups", "ps": "cgroups",
    "events": "cgroups", "features": "introspect", "spec": "introspect", "check": "check",
}  # fmt: skip
_ALL_MODULES = ("lifecycle", "info", "exec", "cgroups", "introspect", "check")
_VALUED_GLOBALS = ("--root", "--log", "--log-format", "--rootless", "--criu")
_MIGRATING = ("create", "run", "exec")  # commands that move a process into a cgroup
_ROOTLESS = {"auto": None, "false": False}  # runc's --rootless values; any other is "true"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with argv, only the subcommand argv names is registered (all of them
    when it names none: help, or an unknown command's error lists them)."""
    p = _Parser(prog="pyrunc", description="OCI container runtime (runc-compatible)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state root (default %(default)s)")
    p.add_argument("--log", default=None, help="log file (default stderr)")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--rootless", default="auto")
    p.add_argument("--procfs-view", action="store_true", help="lxcfs /proc view in every container")
    p.add_argument("--criu", default=None, help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    command = _command_of(argv) if argv is not None else None
    names = (_COMMAND_MODULES[command],) if command in _COMMAND_MODULES else _ALL_MODULES
    for name in names:
        module = __import__(f"pyrunc.cli.{name}", fromlist=["register"])
        module.register(sub)
    return p


def _command_of(argv: list[str]) -> str | None:
    """The first argument that is neither a global flag nor a global flag's value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED_GLOBALS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _version() -> str:
    py = ".".join(map(str, sys.version_info[:3]))
    return f"pyrunc version {VERSION}\ncommit: v{VERSION}\nspec: 1.3.0\npython: {py}\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = Log()
    try:
        if "--debug" in argv:  # the first mark of `create phases` (pyrunc/timing.py)
            from pyrunc import timing

            timing.mark("start")
        if _command_of(argv) in _MIGRATING:
            from pyrunc.cgroups import warmup

            warmup.start()  # the kernel's wait for the cgroup move begins with the call
        args = build_parser(argv).parse_args(argv)
        log = _open_log(args)
        _route_warnings(log)
        if args.version:
            sys.stdout.write(_version())
            return 0
        args.options = runtime_options(args)
        args.options.check_supported()  # every command refuses what is not supported yet
        handler: Callable[[argparse.Namespace, Log], int] | None = getattr(args, "handler", None)
        if handler is None:
            build_parser().print_help()
            return 0
        return handler(args, log)
    except PyruncError as e:
        log.error(str(e))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - engines want one error line, never a traceback
        return _unexpected(e, log)


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """The global flags as the options record the subcommands pass on (args.options)."""
    return RuntimeOptions(
        root=args.root,
        systemd_cgroup=args.systemd_cgroup,
        procfs_view=args.procfs_view,
        rootless=_ROOTLESS.get(args.rootless, True),
        debug=args.debug,
    )


def _route_warnings(log: Log) -> None:
    """Warnings from deep in an operation (a failed poststart/poststop hook) go to the log."""
    from pyrunc.container import hooks

    hooks.warning_sink = log.warning


def _open_log(args: argparse.Namespace) -> Log:
    try:
        return Log(args.log, args.log_format, args.debug)
    except OSError as e:
        raise PyruncError(f"open {args.log}: {(e.strerror or str(e)).lower()}") from None


def _unexpected(e: Exception, log: Log) -> int:
    from pyrunc.process.errors import go_style

    if log.debug_on:
        import traceback

        log.debug(traceback.format_exc())
    log.error(go_style(e) if isinstance(e, OSError) else f"internal error: {go_style(e)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
