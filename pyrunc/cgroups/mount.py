"""A `cgroup` entry of the mounts list: the container sees its own cgroups only.

On v1 (and hybrid) a tmpfs goes at the destination, and each hierarchy's
container directory is bound below it under the hierarchy's usual name. On v2 the
destination is the container's cgroup itself: a fresh cgroup2 mount when it has a
cgroup namespace (rooted at its cgroup), a bind of its directory otherwise (as runc).
"""

from __future__ import annotations

import errno
import os

from pyrunc.cgroups.manager import CGROUP_ROOT, CgroupManager
from pyrunc.linux import mount_options, paths
from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import Mount


def mount_cgroups(root_fd: int, m: Mount, manager: CgroupManager) -> None:
    opts = mount_options.parse_options(m.options)
    keep = opts.flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RELATIME)
    views = manager.mount_views()
    if len(views) == 1 and views[0][1] == "":
        _mount_v2(root_fd, m, views[0][0], keep | (opts.flags & sc.MS_RDONLY))
        return
    dest_fd = paths.create_in_root(root_fd, m.destination, True)
    try:
        sc.mount("tmpfs", paths.fd_path(dest_fd), "tmpfs", keep, "mode=755")
    finally:
        os.close(dest_fd)
    for host_dir, name in manager.mount_views():
        sub = os.path.join(m.destination, name)
        fd = paths.create_in_root(root_fd, sub, True)
        try:
            sc.mount(host_dir, paths.fd_path(fd), None, sc.MS_BIND, None)
        finally:
            os.close(fd)
        fd = paths.open_in_root(root_fd, sub)
        try:
            sc.mount(
                None,
                paths.fd_path(fd),
                None,
                sc.MS_BIND | sc.MS_REMOUNT | keep | (opts.flags & sc.MS_RDONLY),
                None,
            )
        finally:
            os.close(fd)
    if opts.flags & sc.MS_RDONLY:
        fd = paths.open_in_root(root_fd, m.destination)
        try:
            sc.mount(None, paths.fd_path(fd), None, sc.MS_REMOUNT | sc.MS_RDONLY | keep, None)
        finally:
            os.close(fd)


def _in_cgroupns() -> bool:
    """Inside a cgroup namespace our own cgroup reads as its root."""
    with open("/proc/self/cgroup") as f:
        return any(line.rstrip("\n") == "0::/" for line in f)


def _mount_v2(root_fd: int, m: Mount, host_dir: str, flags: int) -> None:
    fd = paths.create_in_root(root_fd, m.destination, True)
    try:
        if _in_cgroupns() and host_dir.rstrip("/") != CGROUP_ROOT and _fresh_cgroup2(fd, flags):
            return
        sc.mount(host_dir, paths.fd_path(fd), None, sc.MS_BIND, None)
    finally:
        os.close(fd)
    fd = paths.open_in_root(root_fd, m.destination)  # the bind mount now, not what it covers
    try:
        sc.mount(None, paths.fd_path(fd), None, sc.MS_BIND | sc.MS_REMOUNT | flags, None)
    finally:
        os.close(fd)


def _fresh_cgroup2(fd: int, flags: int) -> bool:
    """A new cgroup2 mount at fd, rooted at the container's cgroup; False where the kernel
    refuses it with EPERM or EBUSY, the two errors on which runc binds the container's
    cgroup directory instead (EBUSY seen here for a user-namespaced container in a
    delegated subtree of the v2 VM)."""
    try:
        sc.mount("cgroup2", paths.fd_path(fd), "cgroup2", flags, None)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EBUSY):
            raise
        return False
    return True
