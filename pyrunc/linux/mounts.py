"""The `mounts` section: option strings to mount(2) flags, and mounting one entry.

Option parsing is pure (tested with hypothesis); `mount_entry` does the work
against an fd opened inside the rootfs so no symlink can move the target.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from pyrunc.linux import paths
from pyrunc.linux import syscalls as sc
from pyrunc.spec.config import Mount

# option -> (clear?, flag): "clear" options remove the flag (e.g. rw, suid).
_FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS),
    "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME),
    "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC),
    "iversion": (False, sc.MS_I_VERSION),
    "lazytime": (False, sc.MS_LAZYTIME),
    "loud": (True, sc.MS_SILENT),
    "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC),
    "noiversion": (True, sc.MS_I_VERSION),
    "nolazytime": (True, sc.MS_LAZYTIME),
    "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "silent": (False, sc.MS_SILENT),
    "strictatime": (False, sc.MS_STRICTATIME),
    "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "symfollow": (True, sc.MS_NOSYMFOLLOW),
}

PROPAGATION_OPTIONS: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Options that only our runtime interprets; they never reach the kernel's data string.
_IGNORED_OPTIONS = frozenset({"tmpcopyup", "idmap", "ridmap", "rro", "rrw"})


@dataclass(frozen=True)
class MountOptions:
    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    extra: tuple[str, ...] = field(default=())

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def parse_options(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Split mount option strings into mount flags, propagation flags and fs data."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    extra: list[str] = []
    for opt in options:
        if opt in _FLAG_OPTIONS:
            clear, flag = _FLAG_OPTIONS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in PROPAGATION_OPTIONS:
            propagation.append(PROPAGATION_OPTIONS[opt])
        elif opt in _IGNORED_OPTIONS:
            extra.append(opt)
        else:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data), tuple(extra))


def _source_for(m: Mount, bundle: str) -> str:
    if m.source and not os.path.isabs(m.source) and parse_options(m.options).is_bind:
        return os.path.join(bundle, m.source)
    return m.source


def mount_entry(root_fd: int, m: Mount, bundle: str) -> None:
    """Mount one config entry at its destination inside the rootfs (before pivot_root)."""
    opts = parse_options(m.options)
    source = _source_for(m, bundle)
    src_is_dir = not opts.is_bind or stat.S_ISDIR(os.stat(source).st_mode)
    target_fd = paths.create_in_root(root_fd, m.destination, src_is_dir)
    try:
        target = paths.fd_path(target_fd)
        if opts.is_bind:
            sc.mount(source, target, None, sc.MS_BIND | (opts.flags & sc.MS_REC), None)
        else:
            sc.mount(source or m.type, target, m.type, opts.flags, opts.data or None)
    finally:
        os.close(target_fd)
    # The fd above names the covered directory; the new mount is reached by
    # resolving the destination again (still inside the root).
    bind_extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT) if opts.is_bind else 0
    if not (bind_extra or opts.propagation):
        return
    fd = paths.open_in_root(root_fd, m.destination)
    try:
        target = paths.fd_path(fd)
        if bind_extra:
            # Bind mounts ignore flags on creation: apply them with a remount.
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | bind_extra, None)
        for prop in opts.propagation:
            sc.mount(None, target, None, prop, None)
    finally:
        os.close(fd)


def remount_readonly(path: str, recursive: bool = False) -> None:
    """Bind path onto itself and make that bind read-only (readonlyPaths, root.readonly)."""
    flags = sc.MS_BIND | (sc.MS_REC if recursive else 0)
    sc.mount(path, path, None, flags, None)
    st = os.statvfs(path)
    keep = _statvfs_to_ms(st.f_flag)
    sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep, None)


def _statvfs_to_ms(f_flag: int) -> int:
    """Locked flags (nosuid, nodev, noexec, atime) must be repeated on a remount."""
    table = (
        (os.ST_NOSUID, sc.MS_NOSUID),
        (os.ST_NODEV, sc.MS_NODEV),
        (os.ST_NOEXEC, sc.MS_NOEXEC),
        (os.ST_NOATIME, sc.MS_NOATIME),
        (os.ST_NODIRATIME, sc.MS_NODIRATIME),
        (os.ST_RELATIME, sc.MS_RELATIME),
    )
    return sum(ms for st, ms in table if f_flag & st)
