"""The `mounts` section: mounting one entry, and the remounts that follow it.

`mount_entry` works against an fd opened inside the rootfs so no symlink can move
the target. Option parsing is in mount_options, /proc/self/mountinfo in mountinfo,
and tmpfs copy-up in tmpcopyup; they are imported here at the top so the container's
init has them loaded before it leaves the host.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import lsm, mountinfo, paths, tmpcopyup, userns
from pyrunc.linux import syscalls as sc
from pyrunc.linux.mount_options import bind_remount_flags, locked_flags, parse_options
from pyrunc.record import replace
from pyrunc.spec.config import Config, Mount


def _source_for(m: Mount, bundle: str) -> str:
    if m.source and not os.path.isabs(m.source) and parse_options(m.options).is_bind:
        return os.path.join(bundle, m.source)
    return m.source


# What may be mounted over inside /proc: the files lxcfs emulates (runc's list).
_PROC_MOUNTABLE = frozenset({
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
    "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
})  # fmt: skip


def check_proc_destination(root_fd: int, m: Mount) -> None:
    """Refuse mounts that would cover part of the container's /proc (as runc does).

    A bind or tmpfs there hides what maskedPaths and readonlyPaths protect; the path
    is checked once its symlinks are resolved, so /vol -> /proc/sys is caught too.
    """
    bind = parse_options(m.options).is_bind
    if m.type in ("proc", "sysfs") and not bind:
        return
    dest = paths.resolve_in_root(root_fd, m.destination)
    if dest == "/proc":
        # A bind typed "proc" is still a bind (CVE-2019-16884's fake /proc): only a
        # real procfs may sit there, so what we later write below /proc is procfs.
        if bind and _is_procfs(m.source):
            return
        raise ValueError(f"{m.destination}: only a proc filesystem may be mounted on /proc")
    if dest.startswith("/proc/") and dest not in _PROC_MOUNTABLE:
        raise ValueError(f"{m.destination}: cannot be mounted because it is inside /proc")


def _is_procfs(path: str) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return sc.fstatfs_type(fd) == sc.PROC_SUPER_MAGIC
    finally:
        os.close(fd)


# Idmapped trees stage 1 prepared (userns.idmapped_tree), per mount entry, in order.
_IDMAPPED: dict[Mount, list[int]] = {}


def prepare_idmapped(cfg: Config) -> None:
    """Clone and idmap every idmap mount's source now, from the host's user namespace.

    Only stage 1 calls this; init inherits the fds and attaches them (mount_entry).
    """
    for m in cfg.mounts:
        if not userns.wants_idmap(m):
            continue
        if not parse_options(m.options).is_bind:
            raise ValueError(f"mounts: {m.destination}: idmap is only for bind mounts")
        tree = userns.idmapped_tree(
            m, _source_for(m, cfg.bundle), cfg.linux.uid_mappings, cfg.linux.gid_mappings
        )
        _IDMAPPED.setdefault(m, []).append(tree)


def _label_new_mount(root_fd: int, destination: str, label: str) -> None:
    fd = paths.open_in_root(root_fd, destination)  # the new mount's root, not the covered dir
    try:
        lsm.label_mountpoint(paths.fd_path(fd), label)
    finally:
        os.close(fd)


def _take_idmapped(m: Mount) -> int:
    trees = _IDMAPPED.get(m)
    return trees.pop(0) if trees else -1


# Filesystems mounted without linux.mountLabel's context= (as runc): proc and sysfs
# keep the kernel's labels, mqueue takes none as an option (its mountpoint gets it).
_UNLABELLED = frozenset({"proc", "sysfs", "mqueue"})


def mount_entry(root_fd: int, m: Mount, bundle: str, mount_label: str = "") -> None:
    """Mount one config entry at its destination inside the rootfs (before pivot_root).
    mount_label: linux.mountLabel (create refused it where SELinux is off)."""
    check_proc_destination(root_fd, m)
    opts = parse_options(m.options)
    if mount_label and not opts.is_bind and m.type not in _UNLABELLED:
        opts = replace(opts, data=lsm.with_mount_label(opts.data, mount_label))
    source = _source_for(m, bundle)
    src_is_dir = not opts.is_bind or stat.S_ISDIR(os.stat(source).st_mode)
    target_fd = paths.create_in_root(root_fd, m.destination, src_is_dir)
    copy_up = "tmpcopyup" in opts.extra and m.type == "tmpfs"
    try:
        target = paths.fd_path(target_fd)
        tree = _take_idmapped(m) if opts.is_bind else -1
        if tree >= 0:
            try:
                userns.attach_tree(tree, target_fd)
            finally:
                os.close(tree)
        elif opts.is_bind:
            sc.mount(source, target, None, sc.MS_BIND | (opts.flags & sc.MS_REC), None)
        elif copy_up:
            # Writable until filled; target_fd still names the directory now covered.
            flags = opts.flags & ~sc.MS_RDONLY
            sc.mount(source or m.type, target, m.type, flags, opts.data or None)
            tmpcopyup.copy_up(target_fd, root_fd, m.destination)
            if opts.flags & sc.MS_RDONLY:
                _remount_at(root_fd, m.destination, sc.MS_REMOUNT | opts.flags)
        else:
            sc.mount(source or m.type, target, m.type, opts.flags, opts.data or None)
    finally:
        os.close(target_fd)
    if mount_label and m.type == "mqueue":
        _label_new_mount(root_fd, m.destination, mount_label)
    # The fd above names the covered directory; the new mount is reached by
    # resolving the destination again (still inside the root).
    bind_extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT) if opts.is_bind else 0
    rec_set, rec_clear = opts.recursive
    if not (bind_extra or opts.propagation or rec_set or rec_clear):
        return
    fd = paths.open_in_root(root_fd, m.destination)
    try:
        target = paths.fd_path(fd)
        if bind_extra:
            # Bind mounts ignore flags on creation: apply them with a remount.
            flags = bind_remount_flags(opts, current_flags(target))
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags, None)
        if rec_set or rec_clear:
            set_tree_flags(os.readlink(target), rec_set, rec_clear, fd)
        for prop in opts.propagation:
            sc.mount(None, target, None, prop, None)
    finally:
        os.close(fd)


def _remount_at(root_fd: int, dest: str, flags: int) -> None:
    fd = paths.open_in_root(root_fd, dest)
    try:
        sc.mount(None, paths.fd_path(fd), None, flags, None)
    finally:
        os.close(fd)


# mount(2) flag -> mount_setattr(2) attribute, for the recursive options.
_MS_TO_ATTR: dict[int, int] = {
    sc.MS_RDONLY: sc.MOUNT_ATTR_RDONLY,
    sc.MS_NOSUID: sc.MOUNT_ATTR_NOSUID,
    sc.MS_NODEV: sc.MOUNT_ATTR_NODEV,
    sc.MS_NOEXEC: sc.MOUNT_ATTR_NOEXEC,
    sc.MS_NODIRATIME: sc.MOUNT_ATTR_NODIRATIME,
    sc.MS_NOSYMFOLLOW: sc.MOUNT_ATTR_NOSYMFOLLOW,
}
_MS_ATIME_TO_ATTR: dict[int, int] = {
    sc.MS_NOATIME: sc.MOUNT_ATTR_NOATIME,
    sc.MS_STRICTATIME: sc.MOUNT_ATTR_STRICTATIME,
    sc.MS_RELATIME: sc.MOUNT_ATTR_RELATIME,
}


def _setattr_recursive(fd: int, set_: int, clear: int) -> bool:
    """One atomic mount_setattr(AT_RECURSIVE) on the tree at fd; False where the
    kernel lacks it (< 5.12), and the caller falls back to per-mount remounts."""
    attr_set = sum(a for f, a in _MS_TO_ATTR.items() if set_ & f)
    attr_clr = sum(a for f, a in _MS_TO_ATTR.items() if clear & f)
    atime = [a for f, a in _MS_ATIME_TO_ATTR.items() if set_ & f]
    if atime:  # the atime mode is one field: clear it whole, set the one chosen
        attr_set |= atime[0]
        attr_clr |= sc.MOUNT_ATTR__ATIME
    elif clear & (sc.MS_NOATIME | sc.MS_STRICTATIME):
        attr_clr |= sc.MOUNT_ATTR__ATIME  # back to relatime, the default mode
    elif clear & sc.MS_RELATIME:
        return False  # "norelatime" names no mode mount_setattr can set
    try:
        sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE, attr_set, attr_clr)
        return True
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EINVAL):
            return False
        raise


def set_tree_flags(top: str, set_: int, clear: int, fd: int = -1) -> None:
    """Set and clear flags on the mount at top and every mount below it.

    With fd (the mount's root), mount_setattr(AT_RECURSIVE) does it atomically.
    Otherwise remount each: parents come first in mountinfo, so a read-only
    parent never hides a child's mount point from us.
    """
    if fd >= 0 and _setattr_recursive(fd, set_, clear):
        return
    for m in mountinfo.entries():
        if m.point == top or m.point.startswith(top.rstrip("/") + "/"):
            flags = (current_flags(m.point) | set_) & ~clear
            sc.mount(None, m.point, None, sc.MS_BIND | sc.MS_REMOUNT | flags, None)


def current_flags(path: str) -> int:
    """The per-mount flags of the mount at path, as mount(2) flags."""
    f_flag = os.statvfs(path).f_flag
    return locked_flags(f_flag) | (sc.MS_RDONLY if f_flag & os.ST_RDONLY else 0)
