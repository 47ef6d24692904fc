"""User namespaces from the runtime's side: writing a child's uid/gid maps, and
idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP) prepared before the container
leaves the host's user namespace.

Why the runtime side: MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the user namespace
that owns the source filesystem (the host's), which init no longer has once it is
in the container's user namespace. So stage 1 clones each source into a detached
tree (open_tree), idmaps it, and init only attaches the fd (move_mount), as runc
1.2 does with its mount fds.
"""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import errno
import os

from pyrunc.linux import idmap_tools
from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import IdMapping, Mount

_CAP_SETGID = 6


def format_map(mappings: tuple[IdMapping, ...]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def _has_cap(cap: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def write_id_maps(
    pid: int, uid_mappings: tuple[IdMapping, ...], gid_mappings: tuple[IdMapping, ...]
) -> None:
    """Map pid's new user namespace from outside it (only an outside process may).

    setgroups: a writer without CAP_SETGID in the parent namespace (rootless) may
    only write a gid_map after setgroups is "deny" (kernel rule since 3.19, what runc
    does for rootless). With CAP_SETGID we leave "allow", so the container's
    additionalGids still work. A map the kernel refuses us (rootless, more than our
    own id) goes through newuidmap/newgidmap (pyrunc/linux/idmap_tools.py).
    """
    if uid_mappings:
        idmap_tools.write_map(pid, "uid", format_map(uid_mappings), uid_mappings)
    if gid_mappings:
        # More than our own gid goes through newgidmap, which sets setgroups itself.
        if not _has_cap(_CAP_SETGID) and idmap_tools.is_own_id(gid_mappings, os.getegid()):
            _write(f"/proc/{pid}/setgroups", "deny")
        idmap_tools.write_map(pid, "gid", format_map(gid_mappings), gid_mappings)


def _write(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def userns_fd(uid_mappings: tuple[IdMapping, ...], gid_mappings: tuple[IdMapping, ...]) -> int:
    """An fd of a fresh user namespace with these maps (held by no process).

    A child unshares a user namespace and waits; we map it, open its ns file, end it.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.read(r, 1)  # until the parent has what it needs
        finally:
            os._exit(0)
    os.close(r)
    try:
        _wait_unshared(pid)
        write_id_maps(pid, uid_mappings, gid_mappings)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(w)  # EOF: the child exits
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def _wait_unshared(pid: int) -> None:
    ours = os.stat("/proc/self/ns/user").st_ino
    for _ in range(10000):
        if os.stat(f"/proc/{pid}/ns/user").st_ino != ours:
            return
        os.sched_yield()
    raise OSError(errno.ETIMEDOUT, "child did not create its user namespace")


def wants_idmap(m: Mount) -> bool:
    return bool(m.uid_mappings or m.gid_mappings) or any(
        o in ("idmap", "ridmap") for o in m.options
    )


def attach_tree(tree_fd: int, target_fd: int) -> None:
    """Attach a detached tree on the O_PATH target (inside the rootfs)."""
    flags = sc.MOVE_MOUNT_F_EMPTY_PATH | _MOVE_MOUNT_T_EMPTY_PATH
    sc.move_mount(tree_fd, "", target_fd, "", flags)


_MOVE_MOUNT_T_EMPTY_PATH = 0x40
