"""Subcommands that drive the lifecycle: create, start, run, kill, delete."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli.log import Log
from pyrunc.cli.signals import FORWARDED, forward_signal
from pyrunc.container.container import Container
from pyrunc.container.signals import parse_signal
from pyrunc.container.store import CorruptState
from pyrunc.errors import ContainerNotExist


def _add_create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-b", "--bundle", default=".", help="path to the bundle (default: cwd)")
    p.add_argument("--pid-file", default=None)
    p.add_argument("--console-socket", default=None)
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("id")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("create", help="create a container")
    _add_create_flags(p)
    p.set_defaults(handler=cmd_create)

    p = sub.add_parser("run", help="create and run a container")
    _add_create_flags(p)
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--keep", action="store_true", help="do not delete the container on exit")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("start", help="start a created container")
    p.add_argument("id")
    p.set_defaults(handler=cmd_start)

    p = sub.add_parser("kill", help="send a signal to the container's init")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    p.set_defaults(handler=cmd_kill)

    p = sub.add_parser("delete", help="delete a container")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("id")
    p.set_defaults(handler=cmd_delete)


def _create(args: argparse.Namespace, log: Log, relay_console: bool = False) -> Container:
    if log.debug_on:
        from pyrunc import timing

        timing.mark("cli")  # from main() to here: argument parsing
    c = Container.create(
        args.id,
        args.bundle,
        options=args.options,
        pid_file=args.pid_file,
        no_pivot=args.no_pivot,
        no_new_keyring=args.no_new_keyring,
        preserve_fds=args.preserve_fds,
        console_socket=args.console_socket,
        relay_console=relay_console,
    )
    if log.debug_on:
        log.debug(f"create phases (ms): {timing.report()}")
    return c


def cmd_create(args: argparse.Namespace, log: Log) -> int:
    _create(args, log)
    return 0


def cmd_start(args: argparse.Namespace, log: Log) -> int:
    Container.load(args.id, options=args.options).start()
    return 0


def cmd_kill(args: argparse.Namespace, log: Log) -> int:
    sig = parse_signal(args.signal)
    Container.load(args.id, options=args.options).kill(sig, args.all)
    return 0


def cmd_delete(args: argparse.Namespace, log: Log) -> int:
    try:
        Container.load(args.id, options=args.options).delete(args.force)
    except (ContainerNotExist, CorruptState):
        if not args.force:
            raise
        # Engines clean up with --force and expect success: gone already, or a state
        # dir without a readable state.json (a runtime killed mid-way, a damaged file).
        from pyrunc.container.delete import delete_unreadable
        from pyrunc.container.store import StateStore

        delete_unreadable(StateStore(args.options.root), args.id)
    return 0


def cmd_run(args: argparse.Namespace, log: Log) -> int:
    c = _create(args, log, relay_console=not args.detach)
    if args.detach:
        _start_or_clean(c)
        return 0
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f, pid=c.pid: forward_signal(pid, s))
    _start_or_clean(c)
    if c.console_master is not None:
        relay_terminal(c.console_master, c.pid)
    code = wait_reaping(c.pid)
    if not args.keep:
        c.delete(force=True)
    return code


def relay_terminal(master: int, pid: int) -> None:
    """Be the container's terminal until the process ends (no --console-socket given)."""
    from pyrunc.container.wait import open_pidfd
    from pyrunc.linux.tty import relay

    pidfd = open_pidfd(pid)
    try:
        if pidfd is not None:
            relay(master, pidfd)
    finally:
        os.close(master)
        if pidfd is not None:
            os.close(pidfd)


def _start_or_clean(c: Container) -> None:
    try:
        c.start()
    except BaseException:
        c.delete(force=True)
        raise


def wait_reaping(pid: int) -> int:
    """We are the subreaper of init (see process.parent): reap it and any orphans."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if reaped == pid:
            return (
                os.waitstatus_to_exitcode(status)
                if os.WIFEXITED(status)
                else 128 + os.WTERMSIG(status)
            )
