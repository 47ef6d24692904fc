"""Subcommands checkpoint and restore: runc's options and help, over CRIU.

The work is pyrunc/container/checkpoint.py and restore.py; this module parses and
reports. Only these two commands import it (and, through it, CRIU's modules).
"""

from __future__ import annotations

import os

from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli import flagtexts as texts
from pyrunc.cli.log import Log

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.container.checkpoint import CriuOptions

# Help texts: runc's (checkpoint.go, restore.go).
_CHECKPOINT_ARGS = """<container-id>

Where "<container-id>" is the name for the instance of the container to be
checkpointed."""
_RESTORE_ARGS = """<container-id>

Where "<container-id>" is the name for the instance of the container to be
restored."""
_RESTORE_DESCRIPTION = (
    "Restores the saved state of the container instance that was previously saved\n"
    "using the %(name)s checkpoint command."
)
_MANAGE_CGROUPS_MODE = "cgroups mode: soft|full|strict|ignore (default: soft)"
_EMPTY_NS = "create a namespace, but don't restore its properties"
_AUTO_DEDUP = "enable auto deduplication of memory images"
_LAZY_PAGES = "use userfaultfd to lazily restore memory pages"

# Options common to both, by name: (usage, kind) with kind "bool", "str" or "list".
_COMMON = {
    "work-path": ("path for saving work files and logs", "str"),
    "tcp-established": ("allow open tcp connections", "bool"),
    "ext-unix-sk": ("allow external unix sockets", "bool"),
    "shell-job": ("allow shell jobs", "bool"),
    "file-locks": ("handle file locks, for safety", "bool"),
    "manage-cgroups-mode": (_MANAGE_CGROUPS_MODE, "str"),
    "empty-ns": (_EMPTY_NS, "list"),
    "auto-dedup": (_AUTO_DEDUP, "bool"),
    "lazy-pages": (_LAZY_PAGES, "bool"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "checkpoint",
        help="checkpoint a running container",
        args_usage=_CHECKPOINT_ARGS,
        description="The checkpoint command saves the state of the container instance.",
    )
    _checkpoint_flags(p)
    p.add_argument("id")
    p.set_defaults(handler=cmd_checkpoint)

    p = sub.add_parser(
        "restore",
        help="restore a container from a previous checkpoint",
        args_usage=_RESTORE_ARGS,
        description=_RESTORE_DESCRIPTION,
    )
    _restore_flags(p)
    p.add_argument("id")
    p.set_defaults(handler=cmd_restore)


def _checkpoint_flags(p: argparse.ArgumentParser) -> None:
    """runc's checkpoint options, in its order."""
    p.add_argument("--image-path", default="", help="path for saving criu image files")
    _common(p, "work-path")
    p.add_argument(
        "--parent-path", default="", help="path for previous criu image files in pre-dump"
    )
    _flag(p, "--leave-running", "leave the process running after checkpointing")
    _common(p, "tcp-established")
    _flag(p, "--tcp-skip-in-flight", "skip in-flight tcp connections")
    _flag(p, "--link-remap", "allow one to link unlinked files back when possible")
    _common(p, "ext-unix-sk", "shell-job", "lazy-pages")
    p.add_argument(
        "--status-fd",
        type=int,
        default=-1,
        help="criu writes \\0 to this FD once lazy-pages is ready",
    )
    p.add_argument("--page-server", default="", help="ADDRESS:PORT of the page server")
    _common(p, "file-locks")
    _flag(
        p,
        "--pre-dump",
        "dump container's memory information only, leave the container running after this",
    )
    _common(p, "manage-cgroups-mode", "empty-ns", "auto-dedup")


def _restore_flags(p: argparse.ArgumentParser) -> None:
    """runc's restore options, in its order."""
    p.add_argument("--console-socket", default="", help=texts.CONSOLE_SOCKET)
    p.add_argument("--image-path", default="", help="path to criu image files for restoring")
    _common(p, "work-path", "tcp-established", "ext-unix-sk", "shell-job", "file-locks")
    _common(p, "manage-cgroups-mode")
    p.add_argument("--bundle", "-b", default="", help=texts.BUNDLE)
    p.add_argument("--detach", "-d", action="store_true", help=texts.DETACH)
    p.add_argument("--pid-file", default="", help=texts.PID_FILE)
    _flag(p, "--no-subreaper", "disable the use of the subreaper used to reap reparented processes")
    _flag(p, "--no-pivot", texts.NO_PIVOT)
    _common(p, "empty-ns", "auto-dedup", "lazy-pages")
    p.add_argument(
        "--lsm-profile",
        default="",
        help="Specify an LSM profile to be used during restore in the form of TYPE:NAME.",
    )
    p.add_argument(
        "--lsm-mount-context",
        default="",
        help="Specify an LSM mount context to be used during restore.",
    )


def _common(p: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        usage, kind = _COMMON[name]
        if kind == "bool":
            _flag(p, f"--{name}", usage)
        elif kind == "list":
            p.add_argument(f"--{name}", action="append", default=[], help=usage)
        else:
            p.add_argument(f"--{name}", default="", help=usage)


def _flag(p: argparse.ArgumentParser, name: str, usage: str) -> None:
    p.add_argument(name, action="store_true", help=usage)


def _criu_options(args: argparse.Namespace) -> CriuOptions:
    """The flags as given, for the container module to check (a flag restore lacks is
    checkpoint's default)."""
    from pyrunc.container.checkpoint import CriuOptions

    def flag(name: str, default: Any = False) -> Any:
        return getattr(args, name, default)

    return CriuOptions(
        image_path=args.image_path,
        work_path=args.work_path,
        parent_path=flag("parent_path", ""),
        leave_running=flag("leave_running"),
        tcp_established=args.tcp_established,
        tcp_skip_in_flight=flag("tcp_skip_in_flight"),
        link_remap=flag("link_remap"),
        ext_unix_sk=args.ext_unix_sk,
        shell_job=args.shell_job,
        file_locks=args.file_locks,
        pre_dump=flag("pre_dump"),
        auto_dedup=args.auto_dedup,
        lazy_pages=args.lazy_pages,
        status_fd=flag("status_fd", -1),
        page_server=flag("page_server", ""),
        manage_cgroups_mode=args.manage_cgroups_mode,
        empty_ns=tuple(args.empty_ns),
        lsm_profile=flag("lsm_profile", ""),
        lsm_mount_context=flag("lsm_mount_context", ""),
    )


def _warn_rootless(log: Log) -> None:
    if os.geteuid() != 0:  # runc's warning, for both commands
        log.warning("runc checkpoint is untested with rootless containers")


def cmd_checkpoint(args: argparse.Namespace, log: Log) -> int:
    from pyrunc.container.checkpoint import checkpoint
    from pyrunc.container.container import Container

    _warn_rootless(log)
    checkpoint(Container.load(args.id, options=args.options), _criu_options(args))
    return 0


def cmd_restore(args: argparse.Namespace, log: Log) -> int:
    """Detached: returns once the container runs. Otherwise waits for its init, exits
    with its status and deletes it, as `run` does."""
    from pyrunc.container.restore import restore

    _warn_rootless(log)
    if not args.detach and not args.no_subreaper:
        from pyrunc.linux.syscalls import set_child_subreaper

        set_child_subreaper(True)  # orphans of the restored tree are ours to reap
    c = restore(
        args.options,
        args.id,
        args.bundle,
        _criu_options(args),
        pid_file=args.pid_file or None,
        console_socket=args.console_socket or None,
    )
    if args.detach:
        return 0
    import _signal as signal  # not signal: CONTRIBUTING.md, Imports

    from pyrunc.cli.lifecycle import wait_reaping
    from pyrunc.cli.signals import FORWARDED, forward_signal

    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f, pid=c.pid: forward_signal(pid, s))
    code = wait_reaping(c.pid)
    c.delete(force=True)
    return code
