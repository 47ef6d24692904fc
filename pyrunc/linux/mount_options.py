"""Mount option strings to mount(2) flags, and statvfs flags back to them: pure.

No syscalls here (tested with hypothesis); `linux/mounts.py` does the mounting.
"""

from __future__ import annotations

import os

from pyrunc.linux import syscalls as sc
from pyrunc.record import dataclass, field

# option -> (clear?, flag): "clear" options remove the flag (e.g. rw, suid).
FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
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

ATIME_FLAGS = sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME

# runc's recursive attributes: option -> (clear?, flag) for the mount and every mount
# below it (a plain `ro` on an rbind leaves the submounts writable).
RECURSIVE_OPTIONS: dict[str, tuple[bool, int]] = {
    "rro": (False, sc.MS_RDONLY),
    "rrw": (True, sc.MS_RDONLY),
    "rnosuid": (False, sc.MS_NOSUID),
    "rsuid": (True, sc.MS_NOSUID),
    "rnodev": (False, sc.MS_NODEV),
    "rdev": (True, sc.MS_NODEV),
    "rnoexec": (False, sc.MS_NOEXEC),
    "rexec": (True, sc.MS_NOEXEC),
    "rnodiratime": (False, sc.MS_NODIRATIME),
    "rdiratime": (True, sc.MS_NODIRATIME),
    "rrelatime": (False, sc.MS_RELATIME),
    "rnorelatime": (True, sc.MS_RELATIME),
    "rnoatime": (False, sc.MS_NOATIME),
    "ratime": (True, sc.MS_NOATIME),
    "rstrictatime": (False, sc.MS_STRICTATIME),
    "rnostrictatime": (True, sc.MS_STRICTATIME),
    "rnosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rsymfollow": (True, sc.MS_NOSYMFOLLOW),
}

# Options that only our runtime interprets; they never reach the kernel's data string.
_IGNORED_OPTIONS = frozenset({"tmpcopyup", "idmap", "ridmap", *RECURSIVE_OPTIONS})


@dataclass(frozen=True)
class MountOptions:
    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    extra: tuple[str, ...] = field(default=())
    cleared: int = 0  # flags an option such as rw, suid or exec explicitly turned off

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def recursive(self) -> tuple[int, int]:
        """(flags to set, flags to clear) on every mount of the tree, later options winning."""
        set_, clear = 0, 0
        for opt in self.extra:
            if opt in RECURSIVE_OPTIONS:
                is_clear, flag = RECURSIVE_OPTIONS[opt]
                if is_clear:
                    set_, clear = set_ & ~flag, clear | flag
                else:
                    # One atime mode at a time: choosing one drops the others.
                    others = ATIME_FLAGS & ~flag if flag & ATIME_FLAGS else 0
                    set_, clear = (set_ & ~others) | flag, (clear | others) & ~flag
        return set_, clear


def parse_options(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Split mount option strings into mount flags, propagation flags and fs data."""
    flags = cleared = 0
    propagation: list[int] = []
    data: list[str] = []
    extra: list[str] = []
    for opt in options:
        if opt in FLAG_OPTIONS:
            clear, flag = FLAG_OPTIONS[opt]
            flags = flags & ~flag if clear else flags | flag
            cleared = cleared | flag if clear else cleared & ~flag
        elif opt in PROPAGATION_OPTIONS:
            propagation.append(PROPAGATION_OPTIONS[opt])
        elif opt in _IGNORED_OPTIONS:
            extra.append(opt)
        else:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data), tuple(extra), cleared)


# The flags a bind mount's own options name beyond making it (bind, rbind, remount).
_BIND_ONLY = sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT
# Every atime flag: the mode (ATIME_FLAGS) and nodiratime.
ALL_ATIME_FLAGS = ATIME_FLAGS | sc.MS_NODIRATIME
# What the kernel locks (MNT_LOCK_*) on the mounts a mount namespace of a less
# privileged user namespace copied: a remount there that drops one is refused.
LOCKABLE_FLAGS = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | ALL_ATIME_FLAGS


def bind_wants_remount(opts: MountOptions) -> bool:
    """A bind takes its source's flags as they are unless an option sets or clears one
    (rw, suid, dev... count too, as in runc: "bind,dev" must clear nodev)."""
    return bool(opts.flags & ~_BIND_ONLY or opts.cleared)


def bind_remount_flags(opts: MountOptions) -> int:
    """The first remount of a bind, as `mount --bind -o OPTS` means it: exactly the
    flags asked for, the others cleared. With no atime flag asked, the kernel keeps
    the source's atime mode (a remount's default), as runc and mount(8) do."""
    return (opts.flags & ~sc.MS_REC) | sc.MS_BIND | sc.MS_REMOUNT


def locked_remount_flags(opts: MountOptions, source_flags: int) -> int:
    """The second remount, after the kernel refused the first: in a user namespace the
    source's ro, nosuid, nodev, noexec and atime flags are locked, so they are added
    to those asked for (runc's fallback, `mount --bind -o remount,OPTS`).

    Raises ValueError where that would not give what was asked: an option clears a
    locked flag the source has ("bind,rw" of a ro source), or asks for an atime mode
    other than the source's (the kernel would silently keep noatime for relatime, or
    strictatime for either).
    """
    cannot_clear = source_flags & opts.cleared & LOCKABLE_FLAGS
    if cannot_clear:
        raise ValueError(f"cannot clear locked flags {flag_names(cannot_clear)}")
    asked_atime = opts.flags & ALL_ATIME_FLAGS
    if asked_atime and asked_atime != source_flags & ALL_ATIME_FLAGS:
        locked = flag_names(source_flags & ALL_ATIME_FLAGS)
        raise ValueError(f"cannot change locked atime flags {locked}")
    return bind_remount_flags(opts) | (source_flags & LOCKABLE_FLAGS)


def flag_names(flags: int) -> str:
    """mount(2) flags as the options that set them ("ro,nodev")."""
    names = [o for o, (clear, f) in FLAG_OPTIONS.items() if not clear and f and flags & f == f]
    return ",".join(n for n in names if n not in ("bind", "rbind", "remount"))


_ST_NOSYMFOLLOW = 0x2000  # <linux/statfs.h>; Python's os lacks it
# statvfs's f_flag bit -> mount(2) flag: per-mount flags and the superblock's ro.
_STATVFS_TO_MS = (
    (os.ST_RDONLY, sc.MS_RDONLY),
    (os.ST_NOSUID, sc.MS_NOSUID),
    (os.ST_NODEV, sc.MS_NODEV),
    (os.ST_NOEXEC, sc.MS_NOEXEC),
    (os.ST_MANDLOCK, sc.MS_MANDLOCK),
    (os.ST_SYNCHRONOUS, sc.MS_SYNCHRONOUS),
    (os.ST_NOATIME, sc.MS_NOATIME),
    (os.ST_NODIRATIME, sc.MS_NODIRATIME),
    (os.ST_RELATIME, sc.MS_RELATIME),
    (_ST_NOSYMFOLLOW, sc.MS_NOSYMFOLLOW),
)


def statvfs_flags(f_flag: int) -> int:
    """statvfs's f_flag as mount(2) flags. strictatime is no flag the kernel keeps: a
    mount with none of noatime and relatime is strictatime."""
    flags = sum(ms for st, ms in _STATVFS_TO_MS if f_flag & st)
    if not flags & ATIME_FLAGS:
        flags |= sc.MS_STRICTATIME
    return flags


def locked_flags(f_flag: int) -> int:
    """statvfs's f_flag as the mount(2) flags a remount must repeat: nosuid, nodev,
    noexec and the atime mode are locked where a user namespace owns the mount, and
    a remount without them is refused (read-only is left to the caller)."""
    keep = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME
    return statvfs_flags(f_flag) & (keep | sc.MS_RELATIME)
