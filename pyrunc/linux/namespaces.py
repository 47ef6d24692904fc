"""The `linux.namespaces` section: which to create, which to join, in what order."""

from __future__ import annotations

import os

from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import Namespace

# ioctl(2) on an nsfs file (/proc/<pid>/ns/*): the CLONE_NEW* type of its namespace.
NS_GET_NSTYPE = 0xB703

NS_FLAGS: dict[str, int] = {
    "user": sc.CLONE_NEWUSER,
    "mount": sc.CLONE_NEWNS,
    "uts": sc.CLONE_NEWUTS,
    "ipc": sc.CLONE_NEWIPC,
    "network": sc.CLONE_NEWNET,
    "cgroup": sc.CLONE_NEWCGROUP,
    "pid": sc.CLONE_NEWPID,
    "time": sc.CLONE_NEWTIME,
}

# /proc/<pid>/ns/<name> for each spec type.
PROC_NAMES: dict[str, str] = {
    "user": "user",
    "mount": "mnt",
    "uts": "uts",
    "ipc": "ipc",
    "network": "net",
    "cgroup": "cgroup",
    "pid": "pid",
    "time": "time",
}

# Mount last: it changes our view of the paths of the remaining ones (all opened before
# any is joined, all the same).
_JOIN_ORDER = ("ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def join_namespaces(namespaces: tuple[Namespace, ...]) -> None:
    """setns into every namespace given by path, opening all paths before joining any.

    A namespace need not belong to the user namespace joined with it (runc#4390: a
    network namespace of the host's with a container's user namespace). So each is
    joined before the user namespace where our present credentials may join it, and
    only those we may not (EPERM: owned by a user namespace we hold no CAP_SYS_ADMIN
    over, as a rootless runtime) after it, as runc does.
    """
    by_type = {ns.type: ns for ns in namespaces if ns.path}
    opened: list[tuple[int, int]] = []
    try:
        for t in ("user", *_JOIN_ORDER):
            if t in by_type:
                fd = os.open(by_type[t].path, os.O_RDONLY | os.O_CLOEXEC)
                opened.append((fd, NS_FLAGS[t]))
        user = [(fd, flag) for fd, flag in opened if flag == NS_FLAGS["user"]]
        later = _join_where_allowed([(fd, f) for fd, f in opened if f != NS_FLAGS["user"]])
        for fd, flag in user + later:
            sc.setns(fd, flag)
    finally:
        for fd, _ in opened:
            os.close(fd)


def _join_where_allowed(fds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join each namespace our credentials allow; the ones refused with EPERM, in order."""
    refused = []
    for fd, flag in fds:
        try:
            sc.setns(fd, flag)
        except PermissionError:
            refused.append((fd, flag))
    return refused


def new_namespace_flags(namespaces: tuple[Namespace, ...], exclude_user: bool = True) -> int:
    flags = 0
    for ns in namespaces:
        if not ns.path and not (exclude_user and ns.type == "user"):
            flags |= NS_FLAGS[ns.type]
    return flags


def joins(namespaces: tuple[Namespace, ...], ns_type: str) -> bool:
    return any(ns.type == ns_type and ns.path for ns in namespaces)


def wants_new(namespaces: tuple[Namespace, ...], ns_type: str) -> bool:
    return any(ns.type == ns_type and not ns.path for ns in namespaces)


def open_time_offsets() -> int:
    """Open our timens_offsets for writing while we are still the host's root.

    The kernel checks CAP_SYS_TIME against the opener's credentials, and once we are
    non-dumpable inside a new user namespace our /proc files belong to an unmapped
    root, so opening it there fails with EACCES.
    """
    return os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)


def write_time_offsets(fd: int, offsets: dict[str, tuple[int, int]]) -> None:
    """Set clock offsets of a fresh time namespace before any process enters it."""
    if not offsets:
        return
    lines = "".join(f"{clock} {secs} {nsecs}\n" for clock, (secs, nsecs) in offsets.items())
    os.write(fd, lines.encode())
