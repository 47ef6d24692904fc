"""The `mounts` section: option strings to mount(2) flags, and mounting one entry.

Option parsing is pure (tested with hypothesis); `mount_entry` does the work
against an fd opened inside the rootfs so no symlink can move the target.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import paths, userns
from pyrunc.linux import syscalls as sc
from pyrunc.record import dataclass, field
from pyrunc.spec.config import Config, Mount

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

_ATIME_FLAGS = sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME

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
                    others = _ATIME_FLAGS & ~flag if flag & _ATIME_FLAGS else 0
                    set_, clear = (set_ & ~others) | flag, (clear | others) & ~flag
        return set_, clear


def parse_options(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Split mount option strings into mount flags, propagation flags and fs data."""
    flags = cleared = 0
    propagation: list[int] = []
    data: list[str] = []
    extra: list[str] = []
    for opt in options:
        if opt in _FLAG_OPTIONS:
            clear, flag = _FLAG_OPTIONS[opt]
            flags = flags & ~flag if clear else flags | flag
            cleared = cleared | flag if clear else cleared & ~flag
        elif opt in PROPAGATION_OPTIONS:
            propagation.append(PROPAGATION_OPTIONS[opt])
        elif opt in _IGNORED_OPTIONS:
            extra.append(opt)
        else:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data), tuple(extra), cleared)


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


def _take_idmapped(m: Mount) -> int:
    trees = _IDMAPPED.get(m)
    return trees.pop(0) if trees else -1


def mount_entry(root_fd: int, m: Mount, bundle: str) -> None:
    """Mount one config entry at its destination inside the rootfs (before pivot_root)."""
    check_proc_destination(root_fd, m)
    opts = parse_options(m.options)
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
            _copy_up(target_fd, root_fd, m.destination)
            if opts.flags & sc.MS_RDONLY:
                _remount_at(root_fd, m.destination, sc.MS_REMOUNT | opts.flags)
        else:
            sc.mount(source or m.type, target, m.type, opts.flags, opts.data or None)
    finally:
        os.close(target_fd)
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


def bind_remount_flags(opts: MountOptions, source_flags: int) -> int:
    """The flags a bind's remount passes: those asked for, plus the source's ro, nosuid,
    nodev, noexec and atime mode unless an option turned them off. A remount sets
    exactly what it is given: dropping these would silently widen what the source
    allowed (a read-only source made writable), and where they are locked (a user
    namespace) the kernel refuses with EPERM."""
    asked = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    keep = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    flags = asked | (source_flags & keep & ~opts.cleared)
    if not (asked | opts.cleared) & _ATIME_FLAGS:
        flags |= source_flags & (_ATIME_FLAGS | sc.MS_NODIRATIME)
    return flags


def _remount_at(root_fd: int, dest: str, flags: int) -> None:
    fd = paths.open_in_root(root_fd, dest)
    try:
        sc.mount(None, paths.fd_path(fd), None, flags, None)
    finally:
        os.close(fd)


def _copy_up(covered_fd: int, root_fd: int, dest: str) -> None:
    """tmpcopyup: fill the new tmpfs with what the directory below it held (as runc)."""
    src = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=covered_fd)
    try:
        dst = paths.open_in_root(root_fd, dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _copy_tree(src, dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_tree(src: int, dst: int) -> None:
    """Copy a directory's entries between two dir fds; nothing is ever followed."""
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            _copy_child_dir(src, dst, name)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src, dst, name)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISSOCK(st.st_mode):
            continue  # a socket without its listener is nothing to copy
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)


def _copy_child_dir(src: int, dst: int, name: str) -> None:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    s = os.open(name, flags, dir_fd=src)
    try:
        d = os.open(name, flags, dir_fd=dst)
        try:
            _copy_tree(s, d)
        finally:
            os.close(d)
    finally:
        os.close(s)


def _copy_file(src: int, dst: int, name: str) -> None:
    s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        d = os.open(name, flags, 0o600, dir_fd=dst)
        try:
            while os.sendfile(d, s, None, 1 << 20):
                pass
        finally:
            os.close(d)
    finally:
        os.close(s)


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
    for m in mountinfo():
        if m.point == top or m.point.startswith(top.rstrip("/") + "/"):
            flags = (current_flags(m.point) | set_) & ~clear
            sc.mount(None, m.point, None, sc.MS_BIND | sc.MS_REMOUNT | flags, None)


def current_flags(path: str) -> int:
    """The per-mount flags of the mount at path, as mount(2) flags."""
    f_flag = os.statvfs(path).f_flag
    return _statvfs_to_ms(f_flag) | (sc.MS_RDONLY if f_flag & os.ST_RDONLY else 0)


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo (paths unescaped)."""

    point: str
    root: str
    fstype: str
    fields: list[str]  # optional fields: shared:N, master:N, unbindable


def mountinfo() -> list[MountEntry]:
    entries = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            x = line.split()
            sep = x.index("-")
            entries.append(MountEntry(_unescape(x[4]), _unescape(x[3]), x[sep + 1], x[6:sep]))
    return entries


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo octal escapes."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


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
