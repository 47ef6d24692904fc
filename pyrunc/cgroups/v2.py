"""cgroup v2 (a pure unified hierarchy at /sys/fs/cgroup): one directory per container.

Controllers reach a cgroup only when every ancestor lists them in
cgroup.subtree_control: create() enables what each level offers on the way down
(as runc does). Devices are an eBPF program (ebpf.py), the freezer is cgroup.freeze.
"""

from __future__ import annotations

import os
import time

from pyrunc.cgroups import resources_v1, resources_v2
from pyrunc.cgroups.manager import (
    CGROUP_ROOT,
    FROZEN,
    THAWED,
    CgroupManager,
    add_pid,
    all_pids,
    read_file,
    read_keyed,
    rmdir_parent,
    rmdir_retry,
    sub_cgroup_dir,
    subdirs_deepest_first,
    write_file,
)
from pyrunc.cgroups.resources_v1 import DEFAULT_DEVICE_RULES
from pyrunc.errors import CgroupError
from pyrunc.record import dataclass, field

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.cgroups.placement import Placement


def own_cgroup(pid: str = "self") -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].rstrip("\n")
    return "/"


def cgroup_dir(cgroups_path: str, container_id: str, root: str = CGROUP_ROOT) -> str:
    """runc's fs2 rule: absolute paths from the root; relative ones (and the default,
    <id>) below the *parent* of our own cgroup, which holds no tasks of its own (our
    cgroup does: a child of it could not get controllers)."""
    path = cgroups_path or container_id
    if os.path.isabs(path):
        full = os.path.normpath(path)
    else:
        full = os.path.normpath(os.path.join(os.path.dirname(own_cgroup()), path))
    return os.path.join(root, full.lstrip("/"))


@dataclass
class V2Manager(CgroupManager):
    path: str
    created: list[str] = field(default_factory=list)
    rootless: bool = False  # a delegated subtree: the device filter is not enforced

    @classmethod
    def for_container(cls, container_id: str, cgroups_path: str) -> V2Manager:
        return cls(cgroup_dir(cgroups_path, container_id))

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> V2Manager:
        return cls(data["path"], list(data.get("created", [])), bool(data.get("rootless")))

    def to_state(self) -> dict[str, Any]:
        state = {"version": "v2", "path": self.path, "created": self.created}
        if self.rootless:
            state["rootless"] = True
        return state

    # -- creation --------------------------------------------------------------------------
    def create(self) -> None:
        rel = os.path.relpath(self.path, CGROUP_ROOT)
        if rel.startswith(".."):
            raise CgroupError(f"linux.cgroupsPath: {self.path} is outside {CGROUP_ROOT}")
        d = CGROUP_ROOT
        for part in rel.split("/"):
            _enable_controllers(d)  # every level down to the leaf's parent
            d = os.path.join(d, part)
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                continue
            except OSError as e:
                raise CgroupError(f"mkdir {d}: {e.strerror.lower()}") from None
            self.created.append(d)

    def apply(self, pid: int, sub: dict[str, str] | None = None) -> None:
        add_pid(self._target(sub) if sub else self.path, pid, sub=bool(sub))

    def placement(self, sub: dict[str, str] | None = None) -> Placement:
        from pyrunc.cgroups.placement import Placement

        return Placement(self._target(sub) if sub else self.path, (), bool(sub))

    def _target(self, sub: dict[str, str]) -> str:
        if set(sub) != {""}:
            raise CgroupError("--cgroup: on cgroup v2 it takes one path, no controller prefix")
        return sub_cgroup_dir(self.path, sub[""])

    # -- resources ---------------------------------------------------------------------------
    def set(self, resources: dict[str, Any], update: bool = False) -> None:
        mem = resources.get("memory") or {}
        usage = self._memory_usage() if mem.get("checkBeforeUpdate") else None
        if usage is not None:
            resources_v1.check_memory_usage(mem, usage)
        bfq = os.path.exists(os.path.join(self.path, "io.bfq.weight"))
        writes = list(resources_v2.to_files(resources, bfq))  # every error before any write
        for name, value in writes:
            self._write(name, value, resources)
        if not update:  # runc's update has no device rules: the filter stays
            self._install_device_filter(resources.get("devices") or [])

    def _install_device_filter(self, rules: list[dict[str, Any]]) -> None:
        from pyrunc.cgroups import ebpf

        try:
            ebpf.install(self.path, rules, DEFAULT_DEVICE_RULES)
        except CgroupError as e:
            from pyrunc.cgroups.rootless import device_rules_refused

            device_rules_refused(e, self.rootless)

    def _write(self, name: str, value: str, resources: dict[str, Any]) -> None:
        optional = name.startswith("?")
        name = name.lstrip("?")
        if not os.path.exists(os.path.join(self.path, name)):
            if optional:
                return
            at = resources_v2.field_of(name, value, resources)
            controller = resources_v2.controller_of(name)
            available = read_file(self.path, "cgroup.controllers").split()
            if controller not in available and controller != "cgroup":
                why = resources_v2.missing_controller(controller)
                raise CgroupError(f"{at}: cannot set {name}: {why}")
            raise CgroupError(f"{at}: cannot set {name}: no such file in {self.path}")
        write_file(self.path, name, value)

    def _memory_usage(self) -> int | None:
        """memory.current, or None where it cannot be read (best effort, as runc)."""
        try:
            return int(read_file(self.path, "memory.current"))
        except (OSError, ValueError):
            return None

    # -- state -------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        return all_pids(self.path) if os.path.isdir(self.path) else []

    def freeze(self) -> None:
        write_file(self.path, "cgroup.freeze", "1")
        # The write only asks: the kernel reports "frozen 1" once every task stopped.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.freezer_state() == FROZEN:
                return
            time.sleep(0.005)
        write_file(self.path, "cgroup.freeze", "0")
        raise CgroupError(f"unable to freeze {self.path}: timed out")

    def thaw(self) -> None:
        write_file(self.path, "cgroup.freeze", "0")

    def freezer_state(self) -> str:
        try:
            frozen = read_keyed(self.path, "cgroup.events").get("frozen", 0)
        except FileNotFoundError:
            return THAWED
        return FROZEN if frozen else THAWED

    def stats(self) -> dict[str, Any]:
        from pyrunc.cgroups.stats import v2_stats

        return v2_stats(self.path)

    def oom_kill_count(self) -> int:
        try:
            return read_keyed(self.path, "memory.events").get("oom_kill", 0)
        except FileNotFoundError:
            return 0

    # -- removal -----------------------------------------------------------------------------
    def destroy(self) -> None:
        failed = []
        for d in sorted(self.created, key=lambda p: p.count("/"), reverse=True):
            if d == self.path:
                # Sub-cgroups the container made itself (with a cgroupns it may) go first.
                for sub in subdirs_deepest_first(d):
                    rmdir_retry(sub)
                if not rmdir_retry(d):
                    failed.append(d)
            elif not rmdir_parent(d):
                continue  # another container lives below the parent we made: shared
        self.created = failed
        if failed:
            raise CgroupError(f"unable to remove cgroup(s): {', '.join(failed)}")

    def mount_views(self) -> list[tuple[str, str]]:
        return [(self.path, "")]


def _enable_controllers(parent: str) -> None:
    """+every controller the parent has in its subtree_control (runc: all or, failing
    that, each one alone, ignoring refusals: a threaded or busy parent may say no)."""
    try:
        available = read_file(parent, "cgroup.controllers").split()
        enabled = set(read_file(parent, "cgroup.subtree_control").split())
    except FileNotFoundError:
        return
    wanted = [c for c in available if c not in enabled]
    if not wanted:
        return
    try:
        write_file(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
    except CgroupError:
        for c in wanted:
            try:
                write_file(parent, "cgroup.subtree_control", f"+{c}")
            except CgroupError:
                continue
