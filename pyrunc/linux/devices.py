"""Device nodes in the container's /dev: the defaults every runtime provides,
`linux.devices`, and the standard /dev symlinks."""

from __future__ import annotations

import os
import stat

from pyrunc.linux import paths
from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import Device

# The devices runc and crun always create (and allow in the device cgroup).
DEFAULT_DEVICES: tuple[Device, ...] = (
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
)

DEFAULT_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)

_TYPE_BITS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def devices_to_create(config_devices: tuple[Device, ...]) -> tuple[Device, ...]:
    """Config devices plus each default the config does not name itself; never
    /dev/ptmx: it is always the link to the container's devpts (create_symlinks), as
    runc's setupPtmx. A node of the host's ptmx (bound from the host in a user
    namespace) would open no pty of the container's devpts."""
    named = {d.path for d in config_devices}
    wanted = config_devices + tuple(d for d in DEFAULT_DEVICES if d.path not in named)
    return tuple(d for d in wanted if paths.clean(d.path) != "/dev/ptmx")


def create_device(root_fd: int, dev: Device, bind_from_host: bool) -> None:
    """mknod the device inside the rootfs; in a user namespace, bind the host's node."""
    parent, name = os.path.split(paths.clean(dev.path))
    pfd = paths.mkdir_all_in_root(root_fd, parent)
    try:
        if bind_from_host:
            _bind_host_device(root_fd, dev)
            return
        _unlink_if_present(pfd, name)
        mode = (dev.file_mode if dev.file_mode is not None else 0o666) | _TYPE_BITS[dev.type]
        rdev = os.makedev(dev.major, dev.minor) if dev.type != "p" else 0
        # mknod through the O_PATH parent: never follows a symlink at the leaf.
        os.mknod(name, mode, rdev, dir_fd=pfd)
        os.chown(name, dev.uid or 0, dev.gid or 0, dir_fd=pfd, follow_symlinks=False)
        # mknod applies the umask; chmod so fileMode is exact.
        fd = paths.open_in_root(root_fd, dev.path)
        try:
            os.chmod(paths.fd_path(fd), mode & 0o7777)
        finally:
            os.close(fd)
    finally:
        os.close(pfd)


def _unlink_if_present(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        os.rmdir(name, dir_fd=dir_fd)


def _bind_host_device(root_fd: int, dev: Device) -> None:
    fd = paths.create_in_root(root_fd, dev.path, is_dir=False)
    try:
        sc.mount(dev.path, paths.fd_path(fd), None, sc.MS_BIND, None)
    finally:
        os.close(fd)


def create_symlinks(root_fd: int) -> None:
    links = DEFAULT_SYMLINKS + (("pts/ptmx", "/dev/ptmx"),)
    if os.path.exists("/proc/kcore"):  # as runc: no dangling /dev/core without a kcore
        links += (("/proc/kcore", "/dev/core"),)
    dev_fd = paths.mkdir_all_in_root(root_fd, "/dev")
    try:
        for target, link in links:
            name = os.path.basename(link)
            try:
                os.symlink(target, name, dir_fd=dev_fd)
            except FileExistsError:
                if name == "ptmx":  # devpts may leave a real ptmx; point it at pts/ptmx
                    _unlink_if_present(dev_fd, name)
                    os.symlink(target, name, dir_fd=dev_fd)
    finally:
        os.close(dev_fd)
