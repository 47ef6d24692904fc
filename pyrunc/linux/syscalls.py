"""The one seam between pyrunc and raw Linux syscalls that Python's os module lacks.

Everything here is a thin ctypes wrapper that raises OSError with errno set,
so callers handle failures exactly like os.* failures.
"""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
# The same libc, called without releasing the GIL: for the fork-like clone3 only.
_libc_gil = ctypes.PyDLL(None, use_errno=True)
_libc_gil.syscall.restype = ctypes.c_long

# clone(2) / unshare(2) flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_I_VERSION = 0x800000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

_SYS_PIVOT_ROOT = 155
_SYS_SETNS = 308
_SYS_OPENAT2 = 437
_SYS_CLOSE_RANGE = 436

CLOSE_RANGE_CLOEXEC = 1 << 2


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root", new_root)


def personality(persona: int) -> None:
    """personality(2): the execution domain the process and its children run in."""
    _check(_libc.personality(ctypes.c_ulong(persona)), "personality")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.syscall(_SYS_SETNS, ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags, mode, resolve)
    ret = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(dirfd), _b(path), ctypes.byref(how),
                        ctypes.c_size_t(ctypes.sizeof(how)))
    return _check(ret, "openat2", path)


def close_range_cloexec(first: int) -> None:
    """Mark every fd >= first close-on-exec (kernel >= 5.11)."""
    _check(_libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                         ctypes.c_uint(CLOSE_RANGE_CLOEXEC)), "close_range")


_SYS_KEYCTL = 250
_KEYCTL_JOIN_SESSION_KEYRING = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38


def join_session_keyring(name: str | None = None) -> None:
    """A fresh session keyring, so the container cannot reach the host's keys."""
    _check(_libc.syscall(_SYS_KEYCTL, _KEYCTL_JOIN_SESSION_KEYRING, _b(name)), "keyctl")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def set_dumpable(on: bool) -> None:
    _prctl(_PR_SET_DUMPABLE, int(on))


def set_child_subreaper(on: bool) -> None:
    _prctl(_PR_SET_CHILD_SUBREAPER, int(on))


def set_no_new_privs() -> None:
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


# -- filesystem identity and the new mount API (kernel >= 5.12 for mount_setattr)

PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
PROC_ROOT_INO = 1

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442

AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x00
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000


class _Statfs(ctypes.Structure):
    # struct statfs on 64-bit Linux: f_type first, the rest we never read.
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_long * 15)]


def fstatfs_type(fd: int) -> int:
    """The filesystem magic of fd (os.fstatvfs has no f_type)."""
    buf = _Statfs()
    _check(_libc.fstatfs(ctypes.c_int(fd), ctypes.byref(buf)), "fstatfs")
    return buf.f_type & 0xFFFFFFFF


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def mount_setattr(
    dirfd: int, path: str, flags: int, attr_set: int, attr_clr: int = 0, userns_fd: int = 0
) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    _check(
        _libc.syscall(
            _SYS_MOUNT_SETATTR,
            ctypes.c_int(dirfd),
            _b(path),
            ctypes.c_uint(flags),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        "mount_setattr",
        path,
    )


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """A detached copy (OPEN_TREE_CLONE) of the mount at path, as an fd."""
    return _check(
        _libc.syscall(_SYS_OPEN_TREE, ctypes.c_int(dirfd), _b(path), ctypes.c_uint(flags)),
        "open_tree",
        path,
    )


def move_mount(from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int) -> None:
    _check(
        _libc.syscall(
            _SYS_MOVE_MOUNT,
            ctypes.c_int(from_fd),
            _b(from_path),
            ctypes.c_int(to_fd),
            _b(to_path),
            ctypes.c_uint(flags),
        ),
        "move_mount",
        to_path,
    )


_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6


def fsopen(fstype: str, flags: int) -> int:
    return _check(_libc.syscall(_SYS_FSOPEN, _b(fstype), ctypes.c_uint(flags)), "fsopen", fstype)


def fsconfig(fs_fd: int, cmd: int, key: str | None = None, value: str | None = None) -> None:
    _check(
        _libc.syscall(
            _SYS_FSCONFIG, ctypes.c_int(fs_fd), ctypes.c_uint(cmd), _b(key), _b(value),
            ctypes.c_int(0),
        ),
        "fsconfig",
        key,
    )  # fmt: skip


def fsmount(fs_fd: int, flags: int, attr: int = 0) -> int:
    """A detached mount of the superblock fsconfig created: an fd, attached nowhere."""
    return _check(
        _libc.syscall(_SYS_FSMOUNT, ctypes.c_int(fs_fd), ctypes.c_uint(flags), ctypes.c_uint(attr)),
        "fsmount",
    )


# -- clone3(2) with CLONE_INTO_CGROUP: a child born in a cgroup v2 directory ------------

_SYS_CLONE3 = 435  # the same number on every architecture (the new syscall table)
CLONE_INTO_CGROUP = 0x200000000


class _CloneArgs(ctypes.Structure):
    """struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2)."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
            "stack_size", "tls", "set_tid", "set_tid_size", "cgroup",
        )
    ]  # fmt: skip


def fork_into_cgroup(cgroup_fd: int) -> int:
    """os.fork(), the child born in the cgroup v2 directory cgroup_fd (clone3 with
    CLONE_INTO_CGROUP): no later migration, so no wait for the kernel's threadgroup lock.

    Python's own fork bookkeeping is done around the call, as os.fork does it; the GIL
    is held throughout (PyDLL), so the child finds it free. Only for a single-threaded
    caller: glibc's fork handlers (which reset other threads' state) do not run, and in
    the child glibc's cached thread id is the parent's, which nothing here reads (raise()
    asks the kernel). OSError: the kernel refused (e.g. ENOSYS before 5.7, EBUSY for a
    cgroup with children's controllers on); nothing was forked then.
    """
    args = _CloneArgs(flags=CLONE_INTO_CGROUP, exit_signal=signal.SIGCHLD, cgroup=cgroup_fd)
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid = _libc_gil.syscall(
        ctypes.c_long(_SYS_CLONE3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))
    )
    err = ctypes.get_errno()
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid


def close_fds_except(keep: set[int], first: int) -> None:
    """Close every fd >= first not in keep (what a forked stage inherited from the runtime)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own directory fd


# -- scheduling, I/O priority and NUMA memory policy (process.scheduler, ioPriority,
# linux.memoryPolicy). Numbers differ between the architectures these run on.

_SYS_SCHED = {  # sched_setattr, ioprio_set, set_mempolicy
    "x86_64": (314, 251, 238),
    "aarch64": (274, 30, 237),
}
_SYS_SCHED_SETATTR, _SYS_IOPRIO_SET, _SYS_SET_MEMPOLICY = _SYS_SCHED.get(
    os.uname().machine, _SYS_SCHED["x86_64"]
)

IOPRIO_WHO_PROCESS = 1


class SchedAttr(ctypes.Structure):
    """struct sched_attr (SCHED_ATTR_SIZE_VER1: with the utilization clamps)."""

    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def sched_setattr(attr: SchedAttr) -> None:
    """sched_setattr(2) on the calling thread (pid 0)."""
    attr.size = ctypes.sizeof(attr)
    _check(
        _libc.syscall(_SYS_SCHED_SETATTR, ctypes.c_int(0), ctypes.byref(attr), ctypes.c_uint(0)),
        "sched_setattr",
    )


def ioprio_set(ioprio: int) -> None:
    """ioprio_set(2) on the calling process only (IOPRIO_WHO_PROCESS, who 0)."""
    _check(
        _libc.syscall(
            _SYS_IOPRIO_SET, ctypes.c_int(IOPRIO_WHO_PROCESS), ctypes.c_int(0), ctypes.c_int(ioprio)
        ),
        "ioprio_set",
    )


def set_mempolicy(mode: int, nodes: frozenset[int]) -> None:
    """set_mempolicy(2) for the calling thread; mode may carry MPOL_F_* flags."""
    words = max(nodes, default=-1) // 64 + 1
    mask = (ctypes.c_ulong * max(words, 1))()
    for node in nodes:
        mask[node // 64] |= 1 << (node % 64)
    # maxnode counts bits, and the kernel reads one fewer than it is given (get_nodes).
    maxnode = words * 64 + 1 if nodes else 0
    ptr = ctypes.byref(mask) if nodes else None
    _check(
        _libc.syscall(_SYS_SET_MEMPOLICY, ctypes.c_int(mode), ptr, ctypes.c_ulong(maxnode)),
        "set_mempolicy",
    )
