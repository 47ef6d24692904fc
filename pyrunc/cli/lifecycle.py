"""Subcommands that drive the lifecycle: create, start, run, kill, delete."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli import flagtexts as texts
from pyrunc.cli.log import Log
from pyrunc.cli.signals import FORWARDED, forward_signal
from pyrunc.container.container import Container
from pyrunc.container.signals import parse_signal
from pyrunc.container.store import CorruptState
from pyrunc.errors import ContainerNotExist, PyruncError

# Help texts: runc's (create.go, run.go, start.go, kill.go, delete.go).
_NEW_ID = """<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host."""


def _creates(command: str) -> str:
    return f"""The {command} command creates an instance of a container for a bundle. The bundle
is a directory with a specification file named "config.json" and a root
filesystem.

The specification file includes an args parameter. The args parameter is used
to specify command(s) that get run when the container is started. To change the
command(s) that get executed on start, edit the args parameter of the spec. See
"%(name)s spec --help" for more explanation."""


_KILL_ARGS = """<container-id> [signal]

Where "<container-id>" is the name for the instance of the container and
"[signal]" is the signal to be sent to the init process.

EXAMPLE:
For example, if the container id is "ubuntu01" the following will send a "KILL"
signal to the init process of the "ubuntu01" container:

       # %(name)s kill ubuntu01 KILL"""

_DELETE_ARGS = """<container-id>

Where "<container-id>" is the name for the instance of the container.

EXAMPLE:
For example, if the container id is "ubuntu01" and %(name)s list currently shows the
status of "ubuntu01" as "stopped" the following will delete resources held for
"ubuntu01" removing "ubuntu01" from the %(name)s list of containers:

       # %(name)s delete ubuntu01"""


def _add_create_flags(p: argparse.ArgumentParser, run: bool = False) -> None:
    """create's and run's options, in runc's order (run adds --detach and --keep)."""
    p.add_argument(
        "--bundle",
        "-b",
        default=".",
        default_text="",
        help=texts.BUNDLE + ", defaults to the current directory",
    )
    p.add_argument("--console-socket", default=None, help=texts.CONSOLE_SOCKET)
    p.add_argument("--pidfd-socket", default=None, help=texts.PIDFD_SOCKET_INIT)
    if run:
        p.add_argument("--detach", "-d", action="store_true", help=texts.DETACH)
        p.add_argument(
            "--keep", action="store_true", help="do not delete the container after it exits"
        )
    p.add_argument("--pid-file", default=None, help=texts.PID_FILE)
    p.add_argument("--no-pivot", action="store_true", help=texts.NO_PIVOT)
    p.add_argument(
        "--no-new-keyring",
        action="store_true",
        help="do not create a new session keyring for the container.  This will cause the"
        " container to inherit the calling processes session key",
    )
    p.add_argument("--preserve-fds", type=int, default=0, help=texts.PRESERVE_FDS)
    p.add_argument("id")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "create", help="create a container", args_usage=_NEW_ID, description=_creates("create")
    )
    _add_create_flags(p)
    p.set_defaults(handler=cmd_create)

    p = sub.add_parser(
        "run", help="create and run a container", args_usage=_NEW_ID, description=_creates("run")
    )
    _add_create_flags(p, run=True)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "start",
        help="executes the user defined process in a created container",
        args_usage=_NEW_ID,
        description="The start command executes the user defined process in a created container.",
    )
    p.add_argument("id")
    p.set_defaults(handler=cmd_start)

    p = sub.add_parser(
        "kill",
        help="kill sends the specified signal (default: SIGTERM) to the container's init process",
        args_usage=_KILL_ARGS,
    )
    # runc 1.1's text: runc 1.5 hides --all (obsolete there), pyrunc still does it.
    p.add_argument(
        "--all",
        "-a",
        action="store_true",
        help="send the specified signal to all processes inside the container",
    )
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    p.set_defaults(handler=cmd_kill)

    p = sub.add_parser(
        "delete",
        help="delete any resources held by the container often used with detached container",
        args_usage=_DELETE_ARGS,
    )
    p.add_argument(
        "--force",
        "-f",
        action="store_true",
        help="Forcibly deletes the container if it is still running (uses SIGKILL)",
    )
    p.add_argument("id")
    p.set_defaults(handler=cmd_delete)


def _create(args: argparse.Namespace, log: Log, relay_console: bool = False) -> Container:
    if log.debug_on:
        from pyrunc import timing

        timing.mark("cli")  # from main() to here: argument parsing
    pidfd_sock = -1
    if args.pidfd_socket:
        from pyrunc.container import pidfd_socket

        pidfd_sock = pidfd_socket.connect(args.pidfd_socket)
    try:
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
        if pidfd_sock >= 0:
            _send_init_pidfd(c, pidfd_sock)
    finally:
        if pidfd_sock >= 0:
            os.close(pidfd_sock)
    if log.debug_on:
        log.debug(f"create phases (ms): {timing.report()}")
        _log_seccomp_flags(log, c)
        for step in CREATE_STEPS:
            log.debug(step)
    return c


# What runc's --debug log says of the same steps (its nsexec, init and their pipe);
# tools and runc's own tests look for these phrases, pyrunc's stage 1 and init did
# each of them by the time create returns.
CREATE_STEPS = (
    "nsexec container setup: stage 1 forked, namespaces made, cgroup joined",
    "child process in init(): the container's init runs",
    "init: closing the pipe to signal completion: init is ready",
)


def _log_seccomp_flags(log: Log, c: Container) -> None:
    """runc's debug line for the filter init loaded (seccomp.bats checks the number)."""
    section = c.record.get("seccomp")
    if section:
        from pyrunc.linux import seccomp

        log.debug(f"seccomp filter flags: {seccomp.filter_flags(section)}")


def _send_init_pidfd(c: Container, sock: int) -> None:
    """The init's pidfd to --pidfd-socket; a container that could not be handed over is
    deleted again (the caller asked for one it can signal)."""
    from pyrunc.container import pidfd_socket

    try:
        pidfd_socket.send(os.dup(sock), c.pid, pidfd_socket.INIT)
    except BaseException:
        c.delete(force=True)
        raise


def _failed(e: PyruncError, args: argparse.Namespace, command: str) -> PyruncError:
    """runc's words for a failed create or run: "runc create failed: <why>", naming the
    program as it was called (pyrunc, or runc where pyrunc stands in for it)."""
    return PyruncError(f"{getattr(args, 'prog', 'pyrunc')} {command} failed: {e}")


def cmd_create(args: argparse.Namespace, log: Log) -> int:
    try:
        _create(args, log)
    except PyruncError as e:
        raise _failed(e, args, "create") from e
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
    try:
        c = _create(args, log, relay_console=not args.detach)
        if args.detach:
            _start_or_clean(c)
            return 0
        for sig in FORWARDED:
            signal.signal(sig, lambda s, _f, pid=c.pid: forward_signal(pid, s))
        _start_or_clean(c)
    except PyruncError as e:
        raise _failed(e, args, "run") from e
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
