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

# Join the user namespace first (it owns the others), mount last (it changes our view
# of the paths of the remaining ones).
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def join_namespaces(namespaces: tuple[Namespace, ...]) -> None:
    """setns into every namespace given by path, opening all paths before joining any."""
    by_type = {ns.type: ns for ns in namespaces if ns.path}
    fds: list[tuple[int, int]] = []
    try:
        for t in _JOIN_ORDER:
            if t in by_type:
                fds.append((os.open(by_type[t].path, os.O_RDONLY | os.O_CLOEXEC), NS_FLAGS[t]))
        for fd, flag in fds:
            sc.setns(fd, flag)
    finally:
        for fd, _ in fds:
            os.close(fd)


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
