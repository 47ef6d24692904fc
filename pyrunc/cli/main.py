"""`pyrunc` entry point: global flags as runc has them, then one subcommand."""

from __future__ import annotations

import os
import sys

from pyrunc import __version__ as VERSION
from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.errors import PyruncError
from pyrunc.options import DEFAULT_ROOT, RuntimeOptions

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one runc-style line and exit 1 (not 2 with usage)."""

    def error(self, message: str) -> NoReturn:
        raise PyruncError(message)

    def fail(self, message: str, status: int) -> NoReturn:
        raise _UsageFailure(message, status)


class _UsageFailure(PyruncError):
    """A command-line error with runc's own exit status (3: no such command)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# Which module registers each subcommand, in the order help lists them (runc's, then
# pyrunc's own): a call builds only its own subcommand's parser (importing and building
# all of them costs ~2 ms per call).
_COMMAND_MODULES = {
    "checkpoint": "criu", "create": "lifecycle", "delete": "lifecycle", "events": "cgroups",
    "exec": "exec", "kill": "lifecycle", "list": "info", "pause": "cgroups", "ps": "cgroups",
    "restore": "criu", "resume": "cgroups", "run": "lifecycle", "spec": "introspect",
    "start": "lifecycle", "state": "info", "update": "cgroups", "features": "introspect",
    "check": "check",
}  # fmt: skip
_ALL_MODULES = ("lifecycle", "info", "exec", "cgroups", "introspect", "criu", "check")
_VALUED_GLOBALS = ("--root", "--log", "--log-format", "--rootless", "--criu")

# runc's Usage of the runtime (main.go): the NAME line and the paragraphs under it.
USAGE = """Open Container Initiative runtime

%(name)s is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format and is a compliant implementation of
the Open Container Initiative specification.

%(name)s integrates well with existing process supervisors to provide a production
container runtime environment for applications. It can be used with your
existing process monitoring tools and the container will be spawned as a
direct child of the process supervisor.

Containers are configured using bundles. A bundle for a container is a directory
that includes a specification file named "config.json" and a root filesystem.
The root filesystem contains the contents of the container.

To start a new instance of a container:

    # %(name)s run [ -b bundle ] <container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host. Providing the bundle directory using "-b" is optional. The default
value for "bundle" is the current directory."""


def build_parser(argv: list[str] | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser; with argv, only the subcommand argv names is registered (all of them
    when it names none of them: the runtime's help lists them). prog: the name help
    shows (default: the one this process was called by)."""
    p = _Parser(prog=prog or program_name(sys.argv[0]), summary=USAGE, version=VERSION)
    _add_global_flags(p)
    sub = p.add_subparsers(dest="command", parser_class=_Parser, order=tuple(_COMMAND_MODULES))
    command = _command_of(argv) if argv is not None else None
    names = (_COMMAND_MODULES[command],) if command in _COMMAND_MODULES else _ALL_MODULES
    for name in names:
        module = __import__(f"pyrunc.cli.{name}", fromlist=["register"])
        module.register(sub)
    return p


def _add_global_flags(p: argparse.ArgumentParser) -> None:
    """runc's global flags with runc's usage texts, then pyrunc's own."""
    p.add_argument("--debug", action="store_true", help="enable debug logging")
    p.add_argument(
        "--log",
        default=None,
        help="set the log file to write %(name)s logs to (default is '/dev/stderr')",
    )
    p.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="set the log format ('text' (default), or 'json')",
    )
    p.add_argument(
        "--root",
        default=None,  # None: not given (list tells a missing default root from a wrong one)
        default_text=f'"{default_state_root()}"',  # shown as urfave quotes a string
        help="root directory for storage of container state (this should be located in tmpfs)",
    )
    p.add_argument(
        "--systemd-cgroup",
        action="store_true",
        help='enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name"'
        ' for e.g. "system.slice:runc:434234"',
    )
    p.add_argument(
        "--rootless",
        default="auto",
        help="ignore cgroup permission errors ('true', 'false', or 'auto')",
    )
    p.add_argument(
        "--procfs-view",
        action="store_true",
        help="give every container lxcfs's /proc files (meminfo, cpuinfo, uptime...), which"
        " show its own limits, as the run.pyrunc.procfs-view annotation does for one",
    )
    p.add_argument("--criu", default=None, help=argparse.SUPPRESS)  # runc 1.1's; ignored
    p.add_argument("-v", "--version", action="store_true", help="print the version")


def program_name(argv0: str) -> str:
    """The name help shows, as runc's: the basename it was called by (`python3 -m pyrunc`
    and `python3 -c` are pyrunc)."""
    name = os.path.basename(argv0)
    return "pyrunc" if not name or name.startswith("-") or name.endswith(".py") else name


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
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        args.prog = parser.prog  # runc's "runc create failed: ..." names the program
        log = _open_log(args)
        _route_warnings(log)
        if args.version:
            sys.stdout.write(_version())
            return 0
        args.options = runtime_options(args)
        handler: Callable[[argparse.Namespace, Log], int] | None = getattr(args, "handler", None)
        if handler is None:
            build_parser().print_help()
            return 0
        return handler(args, log)
    except _UsageFailure as e:
        log.error(str(e))
        return e.status
    except PyruncError as e:
        log.error(str(e))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - engines want one error line, never a traceback
        return _unexpected(e, log)


def exit_now(status: int) -> NoReturn:
    """End the call without the interpreter's teardown (the entry points' exit).

    Finalizing ~100 imported modules and collecting their objects is work for nothing
    in a process that ends anyway: 2-7 ms of a call here (`create` the most), after the
    last byte was written. Nothing of ours needs it (no atexit handler; the log is
    written unbuffered, the kernel closes the fds): stdout and stderr are flushed, then
    os._exit. A failing flush (a closed pipe) gives CPython's own status, 120.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # ValueError: the stream was closed
            status = status or 120
    os._exit(status)


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """The global flags as the options record the subcommands pass on (args.options)."""
    from pyrunc import rootless

    root = args.root
    if root is None:
        root = rootless.xdg_state_root()
        if root is None:
            root = DEFAULT_ROOT
        else:
            rootless.prepare_xdg_state_root(root)  # runc makes it for every command
    return RuntimeOptions(
        root=root,
        systemd_cgroup=args.systemd_cgroup,
        procfs_view=args.procfs_view,
        rootless=rootless.parse_flag(args.rootless),
        debug=args.debug,
    )


def default_state_root() -> str:
    """--root's default: /run/pyrunc, or $XDG_RUNTIME_DIR/pyrunc (pyrunc/rootless.py)."""
    from pyrunc.rootless import xdg_state_root

    return xdg_state_root() or DEFAULT_ROOT


def _route_warnings(log: Log) -> None:
    """Warnings from deep in an operation (pyrunc/notices.py) go to the log."""
    from pyrunc import notices

    notices.sink = log.warning
    notices.debug_sink = log.debug


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
    exit_now(main())
