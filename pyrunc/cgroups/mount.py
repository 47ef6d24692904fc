"""A `cgroup` entry of the mounts list: the container sees its own cgroups only.

On v1 (and hybrid) a tmpfs goes at the destination, and each hierarchy's
container directory is bound below it under the hierarchy's usual name.
"""

from __future__ import annotations

import os

from pyrunc.cgroups.manager import CgroupManager
from pyrunc.linux import mounts, paths
from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import Mount


def mount_cgroups(root_fd: int, m: Mount, manager: CgroupManager) -> None:
    opts = mounts.parse_options(m.options)
    keep = opts.flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RELATIME)
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
