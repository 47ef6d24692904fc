"""The cgroup manager interface and the choice of implementation for this host."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

_CGROUP2_SUPER_MAGIC = 0x63677270
CGROUP_ROOT = "/sys/fs/cgroup"


class CgroupManager(ABC):
    """Owns the cgroup(s) of one container."""

    @abstractmethod
    def create(self) -> None:
        """Create the container's cgroup directories (remembering which ones we made)."""

    @abstractmethod
    def apply(self, pid: int) -> None:
        """Move pid (and so its future children) into the container's cgroup."""

    @abstractmethod
    def set(self, resources: dict[str, Any]) -> None:
        """Write `linux.resources` into the cgroup files."""

    @abstractmethod
    def pids(self) -> list[int]:
        """Every pid in the container's cgroup."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove every directory create() made, deepest first; never another's."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """What delete needs to rebuild this manager (stored in state.json)."""

    @abstractmethod
    def mount_views(self) -> list[tuple[str, str]]:
        """(host dir of the container's cgroup, name under /sys/fs/cgroup) per hierarchy."""

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has struck in this cgroup (False if unknown)."""
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


def new_manager(container_id: str, cgroups_path: str) -> CgroupManager:
    if is_unified():
        raise NotImplementedError("cgroup v2 hosts are not supported yet")
    from pyrunc.cgroups.v1 import V1Manager

    return V1Manager.for_container(container_id, cgroups_path)


def manager_from_state(data: dict[str, Any]) -> CgroupManager | None:
    if not data:
        return None
    from pyrunc.cgroups.v1 import V1Manager

    return V1Manager.from_state(data)


def write_file(directory: str, name: str, value: str | int) -> None:
    """Write one cgroup control file, with the file named in the error."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        from pyrunc.errors import CgroupError

        raise CgroupError(f"open {path}: {e.strerror.lower()}") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        from pyrunc.errors import CgroupError

        raise CgroupError(f"write {path} ({value}): {e.strerror.lower()}") from None
    finally:
        os.close(fd)
