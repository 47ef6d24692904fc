"""Building the container's root filesystem: propagation, the mounts list,
/dev, pivot_root (or move + chroot), masked and read-only paths."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from pyrunc.linux import devices, mounts, paths
from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import Config, Mount

_ROOTFS_PROPAGATION = {
    "": sc.MS_PRIVATE | sc.MS_REC,
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


def prepare_rootfs(
    cfg: Config, in_userns: bool, cgroup_mounter: Callable[[int, Mount], None]
) -> None:
    """Everything before the root switch, run in the container's new mount namespace."""
    # Stop our mounts propagating to the host first (slave keeps host events visible).
    sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC, None)
    _make_parent_private(cfg.root_path)
    sc.mount(cfg.root_path, cfg.root_path, None, sc.MS_BIND | sc.MS_REC, None)
    root_fd = os.open(cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in cfg.mounts:
            _mount_one(root_fd, m, cfg, cgroup_mounter)
        if _needs_dev_setup(cfg):
            for dev in devices.devices_to_create(cfg.linux.devices):
                devices.create_device(root_fd, dev, bind_from_host=in_userns)
            has_ptmx = any(d.path == "/dev/ptmx" for d in cfg.linux.devices)
            devices.create_symlinks(root_fd, has_ptmx)
        else:
            for dev in cfg.linux.devices:
                devices.create_device(root_fd, dev, bind_from_host=in_userns)
    finally:
        os.close(root_fd)


def _make_parent_private(root: str) -> None:
    # pivot_root refuses a new root whose parent mount is shared.
    mnt = _mount_point_of(root)
    try:
        sc.mount(None, mnt, None, sc.MS_PRIVATE, None)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise


def _mount_point_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def _needs_dev_setup(cfg: Config) -> bool:
    """runc sets up /dev unless the config bind-mounts /dev from elsewhere."""
    for m in cfg.mounts:
        if paths.clean(m.destination) == "/dev":
            return not mounts.parse_options(m.options).is_bind
    return True


def _mount_one(
    root_fd: int, m: Mount, cfg: Config, cgroup_mounter: Callable[[int, Mount], None]
) -> None:
    if m.type == "cgroup":
        cgroup_mounter(root_fd, m)
        return
    try:
        mounts.mount_entry(root_fd, m, cfg.bundle)
    except PermissionError:
        if m.type != "sysfs":
            raise
        # Without its own network namespace the kernel refuses a new sysfs: bind the host's.
        opts = tuple(o for o in m.options if o != "ro") + ("rbind",)
        mounts.mount_entry(root_fd, Mount(m.destination, "bind", "/sys", opts), cfg.bundle)
        if "ro" in m.options:
            fd = paths.open_in_root(root_fd, m.destination)
            try:
                sc.mount(
                    None,
                    paths.fd_path(fd),
                    None,
                    sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC,
                    None,
                )
            finally:
                os.close(fd)


def switch_root(root: str, no_pivot: bool) -> None:
    """Make root the process's `/` and detach the host's tree."""
    os.chdir(root)
    if no_pivot:
        sc.mount(root, "/", None, sc.MS_MOVE, None)
        os.chroot(".")
        os.chdir("/")
        return
    old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # pivot_root(".", ".") stacks the old root on top of the new one;
        # detaching it afterwards leaves only the container's tree.
        sc.pivot_root(".", ".")
        os.fchdir(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC, None)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(old_root)
    os.chdir("/")


def set_root_propagation(propagation: str) -> None:
    sc.mount(None, "/", None, _ROOTFS_PROPAGATION[propagation], None)


def finalize_rootfs(cfg: Config) -> None:
    """After the switch: masked paths, read-only paths, read-only root."""
    for p in cfg.linux.readonly_paths:
        _readonly_path(p)
    for p in cfg.linux.masked_paths:
        _mask_path(p)
    if cfg.root_readonly:
        st = os.statvfs("/")
        sc.mount(
            None,
            "/",
            None,
            sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | mounts._statvfs_to_ms(st.f_flag),
            None,
        )


def _readonly_path(path: str) -> None:
    try:
        mounts.remount_readonly(path, recursive=True)
    except FileNotFoundError:
        pass


def _mask_path(path: str) -> None:
    try:
        sc.mount("/dev/null", path, None, sc.MS_BIND, None)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        # A directory cannot take a file bind: cover it with an empty read-only tmpfs.
        sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, None)
