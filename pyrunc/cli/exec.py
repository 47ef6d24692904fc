"""Subcommand exec: runc's flags, `exec failed: ...` and exit 255 on any failure."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli import flagtexts as texts
from pyrunc.cli.log import Log
from pyrunc.cli.signals import FORWARDED, forward_signal
from pyrunc.errors import PyruncError

EXEC_FAILED = 255  # runc's exit status when the process could not be started


# Help texts: runc's (exec.go).
_EXEC_ARGS = """<container-id> <command> [command options]  || -p process.json <container-id>

Where "<container-id>" is the name for the instance of the container and
"<command>" is the command to be executed in the container.
"<command>" can't be empty unless a "-p" flag provided.

EXAMPLE:
For example, if the container is configured to run the linux ps command the
following will output a list of processes running in the container:

       # %(name)s exec <container-id> ps"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "exec", help="execute new process inside the container", args_usage=_EXEC_ARGS
    )
    p.add_argument("--console-socket", default=None, help=texts.CONSOLE_SOCKET)
    p.add_argument("--pidfd-socket", default=None, help=texts.PIDFD_SOCKET_EXEC)
    p.add_argument("--cwd", default="", help="current working directory in the container")
    p.add_argument("--env", "-e", action="append", default=[], help="set environment variables")
    p.add_argument("--tty", "-t", action="store_true", default=None, help="allocate a pseudo-TTY")
    p.add_argument("--user", "-u", default="", help="UID (format: <uid>[:<gid>])")
    p.add_argument(
        "--additional-gids", "-g", action="append", type=int, default=[], help="additional gids"
    )
    p.add_argument("--process", "-p", default=None, help="path to the process.json")
    p.add_argument("--detach", "-d", action="store_true", help=texts.DETACH)
    p.add_argument("--pid-file", default=None, help=texts.PID_FILE)
    p.add_argument(
        "--process-label",
        default="",
        help="set the asm process label for the process commonly used with selinux",
    )
    p.add_argument("--apparmor", default="", help="set the apparmor profile for the process")
    p.add_argument(
        "--no-new-privs",
        action="store_true",
        default=None,
        help="set the no new privileges value for the process",
    )
    p.add_argument(
        "--cap",
        "-c",
        action="append",
        default=[],
        help="add a capability to the bounding set for the process",
    )
    p.add_argument("--preserve-fds", type=int, default=0, help=texts.PRESERVE_FDS)
    p.add_argument(
        "--cgroup",
        action="append",
        default=[],
        help="run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.",
    )
    p.add_argument("--ignore-paused", action="store_true", help="allow exec in a paused container")
    p.add_argument("id")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_exec)


def cmd_exec(args: argparse.Namespace, log: Log) -> int:
    try:
        return _exec(args, log)
    except PyruncError as e:
        log.error(f"exec failed: {e}")
        return EXEC_FAILED


# runc's --debug phrases for the steps an exec takes (its nsexec and setns_init).
EXEC_STEPS = (
    "nsexec container setup: the stage joined the container's namespaces",
    "child process in init(): the process forked inside them",
    "setns_init: about to exec",
)


def _exec(args: argparse.Namespace, log: Log) -> int:
    from pyrunc.container.container import Container
    from pyrunc.container.exec import process_from_config, process_from_file

    sub_cgroups = sub_cgroup_paths(args.cgroup)
    c = Container.load(args.id, options=args.options)
    if args.process:
        proc = process_from_file(args.process)
    else:
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        proc = process_from_config(c, _overrides(args, command))
    # In the foreground, signals are caught from before the process exists: it may run
    # (and the caller signal us) before exec_process returns. Held ones go to it then.
    held: list[int] = []
    if not args.detach:
        for sig in FORWARDED:
            signal.signal(sig, lambda s, _f: held.append(s))
    pidfd_sock = -1
    if args.pidfd_socket:
        from pyrunc.container import pidfd_socket

        pidfd_sock = pidfd_socket.connect(args.pidfd_socket)
    try:
        started = c.exec_process(
            proc,
            pid_file=args.pid_file,
            preserve_fds=args.preserve_fds,
            console_socket=args.console_socket,
            relay_console=not args.detach,
            ignore_paused=args.ignore_paused,
            sub_cgroups=sub_cgroups,
        )
        if pidfd_sock >= 0:
            sock, pidfd_sock = pidfd_sock, -1  # send closes it, whatever happens
            try:
                pidfd_socket.send(sock, started.pid, pidfd_socket.EXEC)
            except BaseException:
                os.kill(started.pid, signal.SIGKILL)  # nobody was handed the process
                raise
    finally:
        if pidfd_sock >= 0:
            os.close(pidfd_sock)
    if log.debug_on:
        _log_steps(log, proc)
    if args.detach:
        return 0
    return _foreground(started.pid, started.console_master, held)


def sub_cgroup_paths(args: list[str]) -> dict[str, str] | None:
    """--cgroup values as runc reads them: controller[,controller]:path (v1), or one
    bare path ("" key: every hierarchy, or v2's one). None without any."""
    if not args:
        return None
    paths: dict[str, str] = {}
    for arg in args:
        controllers, sep, path = arg.partition(":")
        if not sep:
            if len(args) != 1:
                raise PyruncError(
                    f"invalid --cgroup argument: {arg} (missing <controller>: prefix)"
                )
            paths[""] = arg
            continue
        for ctrl in controllers.split(","):
            if not ctrl:
                raise PyruncError(f"invalid --cgroup argument: {arg} (empty <controller> prefix)")
            if ctrl in paths:
                raise PyruncError(
                    f"invalid --cgroup argument(s): controller {ctrl} specified multiple times"
                )
            paths[ctrl] = path
    return paths


def _log_steps(log: Log, proc) -> None:  # noqa: ANN001 - a spec.config.Process
    initial = (proc.exec_cpu_affinity or ("", ""))[0]
    if initial:  # runc's nsexec reports the CPU mask the process started on
        from pyrunc.spec.idlist import parse_cpu_list

        mask = sum(1 << cpu for cpu in parse_cpu_list(initial))
        log.debug(f"nsexec: affinity: {mask:#x}")
    for step in EXEC_STEPS:
        log.debug(step)


def _overrides(args: argparse.Namespace, command: list[str]):  # noqa: ANN202
    from pyrunc.container.exec import Overrides

    return Overrides(
        args=tuple(command),
        env=tuple(args.env),
        cwd=args.cwd,
        user=args.user,
        additional_gids=tuple(args.additional_gids),
        caps=tuple(args.cap),
        tty=args.tty,
        no_new_privs=args.no_new_privs,
        process_label=args.process_label,
        apparmor=args.apparmor,
    )


def _foreground(pid: int, master: int | None, held: list[int]) -> int:
    """Forward signals, relay the terminal if we hold it, reap and return the exit status."""
    from pyrunc.cli.lifecycle import relay_terminal, wait_reaping

    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: forward_signal(pid, s))
    for sig in held:  # caught while the process was being started
        forward_signal(pid, sig)
    if master is not None:
        relay_terminal(master, pid)
    return wait_reaping(pid)
