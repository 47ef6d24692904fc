"""The cgroup manager interface and the choice of implementation for this host.

v1 (and hybrid: v1 controllers plus a v2 mount without them) or pure v2, chosen by
what is mounted at /sys/fs/cgroup. Implementations are imported lazily: `state`
and friends must not pay for code they do not run.
"""

from __future__ import annotations

import errno
import os
import time
from abc import ABC, abstractmethod

from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.cgroups.placement import Placement

_CGROUP2_SUPER_MAGIC = 0x63677270
CGROUP_ROOT = "/sys/fs/cgroup"

THAWED, FROZEN = "THAWED", "FROZEN"


class CgroupWriteError(CgroupError):
    """The kernel refused a value: errno kept, since some refusals depend on the order
    of writes (a period checked against the current quota) and are tried again later."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.errno = code


class CgroupManager(ABC):
    """Owns the cgroup(s) of one container."""

    @abstractmethod
    def create(self) -> None:
        """Create the container's cgroup directories (remembering which ones we made)."""

    @abstractmethod
    def apply(self, pid: int, sub: dict[str, str] | None = None) -> None:
        """Move pid (and so its future children) into the container's cgroup, or into
        existing sub-cgroups of it (exec --cgroup: {controller: path}, "" for all)."""

    def placement(self, sub: dict[str, str] | None = None) -> Placement | None:
        """Where a new process joins by itself, without the kernel's migration wait
        (cgroups/placement.py); None: the runtime moves it by pid (apply)."""
        return None

    @abstractmethod
    def set(self, resources: dict[str, Any], update: bool = False) -> None:
        """Write `linux.resources` into the cgroup files.

        update: a running container's limits change (`update`): device rules are left
        as they are, and memory.checkBeforeUpdate is honoured.
        """

    @abstractmethod
    def pids(self) -> list[int]:
        """Every pid in the container's cgroup and below it."""

    @abstractmethod
    def freeze(self) -> None:
        """Freeze every task (returns once the kernel reports them frozen)."""

    @abstractmethod
    def thaw(self) -> None:
        """Let every task run again."""

    @abstractmethod
    def freezer_state(self) -> str:
        """THAWED or FROZEN."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """runc's `events --stats` data: cpu, memory, pids, blkio, hugetlb."""

    @abstractmethod
    def oom_kill_count(self) -> int:
        """How many times the kernel's OOM killer has struck in this cgroup."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove every directory create() made, deepest first; never another's."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """What delete needs to rebuild this manager (stored in state.json)."""

    @abstractmethod
    def mount_views(self) -> list[tuple[str, str]]:
        """(host dir of the container's cgroup, name under /sys/fs/cgroup) per hierarchy."""

    def started(self, pid: int) -> None:  # noqa: B027 - a hook: most managers need none
        """The container's init runs as pid (a manager without a cgroup keeps it)."""

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has struck in this cgroup (False if unknown)."""
        try:
            return self.oom_kill_count() > 0
        except (OSError, ValueError):
            return False


def is_unified(root: str = CGROUP_ROOT) -> bool:
    """True on a pure cgroup v2 host."""
    import ctypes

    class _Statfs(ctypes.Structure):
        _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]

    buf = _Statfs()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(root.encode(), ctypes.byref(buf)) != 0:
        return False
    return buf.f_type == _CGROUP2_SUPER_MAGIC


def new_manager(container_id: str, cgroups_path: str, systemd: bool = False) -> CgroupManager:
    """The manager for this host; `systemd`: cgroupsPath is "slice:prefix:name"."""
    if systemd:
        unified = is_unified()
        from pyrunc.cgroups import systemd as driver

        why = driver.unusable_reason() if unified else "not a pure cgroup v2 host"
        if why is None:
            return driver.SystemdManager.for_container(container_id, cgroups_path)
        from pyrunc import notices
        from pyrunc.cgroups.paths import systemd_to_cgroupfs

        cgroups_path = systemd_to_cgroupfs(cgroups_path, container_id)
        notices.debug(f"--systemd-cgroup: {why}: cgroup {cgroups_path} made on cgroupfs")
    if is_unified():
        from pyrunc.cgroups.v2 import V2Manager

        return V2Manager.for_container(container_id, cgroups_path)
    from pyrunc.cgroups.v1 import V1Manager

    return V1Manager.for_container(container_id, cgroups_path)


def manager_from_state(data: dict[str, Any]) -> CgroupManager | None:
    if not data:
        return None
    if data.get("driver") == "systemd":
        from pyrunc.cgroups.systemd import SystemdManager

        return SystemdManager.from_state(data)
    if data.get("version") == "v2":
        from pyrunc.cgroups.v2 import V2Manager

        return V2Manager.from_state(data)
    if data.get("version") == "none":  # rootless, no cgroup of its own
        from pyrunc.cgroups.rootless import NoCgroup

        return NoCgroup.from_state(data)
    from pyrunc.cgroups.v1 import V1Manager

    return V1Manager.from_state(data)


def subdirs_deepest_first(directory: str) -> list[str]:
    """The cgroups below directory, children before parents (the order rmdir needs)."""
    found = []
    for dirpath, dirnames, _ in os.walk(directory):
        found += [os.path.join(dirpath, d) for d in dirnames]
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def sub_cgroup_dir(base: str, sub: str) -> str:
    """base/sub, never outside base (runc's words when it would be)."""
    joined = os.path.normpath(os.path.join(base, sub.lstrip("/")))
    if joined != base and not joined.startswith(base.rstrip("/") + "/"):
        raise CgroupError(f"bad sub cgroup path: {sub}")
    return joined


def add_pid(directory: str, pid: int, sub: bool = True) -> None:
    """pid into one cgroup by its cgroup.procs. sub: exec --cgroup's sub-cgroup, whose
    failure runc words as "error adding pid"; else the file's own error."""
    if not sub:
        write_file(directory, "cgroup.procs", pid)
        return
    try:
        write_file(directory, "cgroup.procs", pid)
    except CgroupError as e:
        raise CgroupError(f"error adding pid {pid} to cgroups: {e}") from None


def write_file(directory: str, name: str, value: str | int) -> None:
    """Write one cgroup control file, with the file named in the error."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise CgroupError(f"open {path}: {e.strerror.lower()}") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise CgroupWriteError(f"write {path} ({value}): {e.strerror.lower()}", e.errno) from None
    finally:
        os.close(fd)


def read_file(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read()


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """A flat keyed file ("key value" lines: cpu.stat, memory.stat, memory.events)."""
    out = {}
    for line in read_file(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def all_pids(directory: str) -> list[int]:
    """cgroup.procs of a cgroup and of every cgroup below it (runc's GetAllPids)."""
    found: list[int] = []
    for dirpath, _, files in os.walk(directory):
        if "cgroup.procs" in files:
            try:
                found += [int(x) for x in read_file(dirpath, "cgroup.procs").split()]
            except FileNotFoundError:  # removed while we walked
                continue
    return found


def rmdir_parent(directory: str) -> bool:
    """Remove a parent we created unless it still has children (EBUSY) or is gone."""
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise CgroupError(f"rmdir {directory}: {e.strerror.lower()}") from None
    return True


def rmdir_retry(directory: str, attempts: int = 50) -> bool:
    # The kernel keeps a cgroup busy for a moment after its last task exits.
    for i in range(attempts):
        try:
            os.rmdir(directory)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY:
                return False
        time.sleep(0.002 * (i + 1))
    return False
