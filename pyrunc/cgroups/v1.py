"""cgroup v1 (and the hybrid layout: v1 controllers plus a v2 mount without controllers)."""

from __future__ import annotations

import errno
import os
import time

from pyrunc.cgroups import devices_v1, resources_v1
from pyrunc.cgroups.manager import (
    FROZEN,
    THAWED,
    CgroupManager,
    CgroupWriteError,
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
from pyrunc.cgroups.resources_v1 import Write
from pyrunc.errors import CgroupError
from pyrunc.record import dataclass, field

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.cgroups.placement import Placement


@dataclass(frozen=True)
class Hierarchy:
    key: str  # as in /proc/self/cgroup: "cpu,cpuacct", "name=systemd", "" (unified)
    mountpoint: str
    mount_root: str  # the hierarchy path that the mount shows at its mountpoint


def _mounted_hierarchies() -> list[tuple[frozenset[str], str, str]]:
    """(controllers, mountpoint, root) of every cgroup mount, v2 with an empty set."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, post_fields = pre.split(), post.split()
            fstype, super_opts = post_fields[0], post_fields[2]
            if fstype == "cgroup":
                ctrls = frozenset(o for o in super_opts.split(",") if o not in ("rw", "ro"))
                found.append((ctrls, fields[4], fields[3]))
            elif fstype == "cgroup2":
                found.append((frozenset(), fields[4], fields[3]))
    return found


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """hierarchy key -> cgroup path of the process."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, key, path = line.rstrip("\n").split(":", 2)
            out[key] = path
    return out


def hierarchies() -> list[Hierarchy]:
    mounted = _mounted_hierarchies()
    result = []
    for key in own_cgroups():
        wanted = frozenset(key.split(",")) if key else frozenset()
        for ctrls, mountpoint, root in mounted:
            if ctrls == wanted or (wanted and wanted <= ctrls):
                result.append(Hierarchy(key, mountpoint, root))
                break
    return result


def cgroup_dir(h: Hierarchy, cgroups_path: str, own: dict[str, str]) -> str:
    """Host directory of the container's cgroup in hierarchy h."""
    if os.path.isabs(cgroups_path):
        full = os.path.normpath(cgroups_path)
    else:
        full = os.path.normpath(os.path.join(own.get(h.key, "/"), cgroups_path))
    if h.mount_root != "/" and (full + "/").startswith(h.mount_root.rstrip("/") + "/"):
        full = full[len(h.mount_root.rstrip("/")) :] or "/"
    return os.path.join(h.mountpoint, full.lstrip("/"))


@dataclass
class V1Manager(CgroupManager):
    paths: dict[str, str]  # hierarchy key -> directory
    created: list[str] = field(default_factory=list)
    # Rootless (runc's fs rule): hierarchies the user may not make are left out, and
    # device rules, which need CAP_SYS_ADMIN, are not enforced.
    rootless: bool = False
    unjoined: list[str] = field(default_factory=list)  # keys left out for permission

    @classmethod
    def for_container(cls, container_id: str, cgroups_path: str) -> V1Manager:
        path = cgroups_path or container_id  # runc: empty means <own cgroup>/<id>
        own = own_cgroups()
        return cls({h.key: cgroup_dir(h, path, own) for h in hierarchies()})

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> V1Manager:
        return cls(
            dict(data.get("paths", {})),
            list(data.get("created", [])),
            bool(data.get("rootless", False)),
            list(data.get("unjoined", [])),
        )

    def to_state(self) -> dict[str, Any]:
        state = {"version": "v1", "paths": self.paths, "created": self.created}
        if self.rootless:
            state.update(rootless=True, unjoined=self.unjoined)
        return state

    def create(self) -> None:
        for key, directory in self.paths.items():
            self._mkdirs(directory, is_cpuset="cpuset" in key.split(","))

    def _mkdirs(self, directory: str, is_cpuset: bool) -> None:
        missing = []
        d = directory
        while not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        for d in reversed(missing):
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                continue
            except OSError as e:
                raise CgroupError(f"mkdir {d}: {e.strerror.lower()}") from None
            self.created.append(d)
        if is_cpuset:
            _fill_cpusets(directory)

    def apply(self, pid: int, sub: dict[str, str] | None = None) -> None:
        for directory in self._targets(sub).values():
            add_pid(directory, pid, sub=bool(sub))

    def placement(self, sub: dict[str, str] | None = None) -> Placement:
        from pyrunc.cgroups.placement import Placement

        targets = self._targets(sub)
        birth = targets.pop("", None)  # the hybrid host's cgroup2 mount
        return Placement(birth, tuple(targets.values()), bool(sub))

    def _targets(self, sub: dict[str, str] | None) -> dict[str, str]:
        """hierarchy key -> the directory a process joins: the container's cgroup, or
        exec --cgroup's sub-cgroup of it ({controller: path}, "" for all)."""
        if not sub:
            return dict(self.paths)
        known = {c for key in self.paths for c in key.split(",")} | {""}
        unknown = sorted(set(sub) - known)
        if unknown:
            raise CgroupError(f"unknown controller {unknown[0]} in --cgroup")
        targets = {}
        for key, directory in self.paths.items():
            where = sub.get("", next((sub[c] for c in key.split(",") if c in sub), None))
            targets[key] = directory if where is None else sub_cgroup_dir(directory, where)
        return targets

    def set(self, resources: dict[str, Any], update: bool = False) -> None:
        writes = list(resources_v1.to_files(resources))
        mem = resources.get("memory") or {}
        usage = self._memory_usage() if mem.get("checkBeforeUpdate") else None
        if usage is not None:
            resources_v1.check_memory_usage(mem, usage)
        if not update:  # rules of a running container stay (runc's update has none)
            self._set_rules([w for w in writes if w[0] == "devices"], resources)
        others = [w for w in writes if w[0] != "devices"]
        self._write_all(_ordered_memory(others, self._dir_for("memory")), resources)

    def _write_all(self, writes: list[Write], resources: dict[str, Any]) -> None:
        """In order; a write refused with EINVAL that RETRY_AFTER names is tried again
        right after its partner's, when the partner comes later in this set."""
        waiting: dict[str, list[Write]] = {}
        for i, (controller, name, value) in enumerate(writes):
            try:
                self._write(controller, name, value, resources)
            except CgroupWriteError as e:
                partner = resources_v1.RETRY_AFTER.get(name.lstrip("?"))
                later = {n.lstrip("?") for _, n, _ in writes[i + 1 :]}
                if e.errno != errno.EINVAL or partner not in later:
                    raise
                waiting.setdefault(partner, []).append((controller, name, value))
                continue
            for again in waiting.pop(name.lstrip("?"), ()):
                self._write(*again, resources)

    def _set_rules(self, writes: list[Write], resources: dict[str, Any]) -> None:
        try:
            self._set_devices(writes, resources)
        except CgroupError as e:
            from pyrunc.cgroups.rootless import device_rules_refused

            device_rules_refused(e, self.rootless)

    def _set_devices(self, writes: list[Write], resources: dict[str, Any]) -> None:
        """The device rules as a minimal transition from the current list (runc's), so
        that a process already in the cgroup never loses a device it keeps."""
        directory = self._dir_for("devices")
        if directory is None or not os.path.exists(os.path.join(directory, "devices.list")):
            for controller, name, value in writes:  # refused (naming the field) or optional
                self._write(controller, name, value, resources)
            return
        wanted = devices_v1.target((n.lstrip("?") == "devices.allow", v) for _, n, v in writes)
        current = devices_v1.from_list(read_file(directory, "devices.list"))
        for name, rule in devices_v1.transition(current, wanted):
            write_file(directory, name, rule)
        after = devices_v1.from_list(read_file(directory, "devices.list"))
        # A blacklist's deny rules are not listed: only its mode can be compared.
        if (after[0] if wanted[0] else after) != (wanted[0] if wanted[0] else wanted):
            raise CgroupError(  # runc's words
                "linux.resources.devices: resulting devices cgroup doesn't precisely match target"
            )

    def _write(self, controller: str, name: str, value: str, resources: dict[str, Any]) -> None:
        optional = name.startswith("?")
        name = name.lstrip("?")
        directory = self._dir_for(controller)
        if directory is None:
            if optional:
                return
            if any(controller in key.split(",") for key in self.unjoined):
                raise CgroupError(  # runc's words, as for a container with no cgroup
                    f"cannot set {controller} limit: container could not join or create cgroup"
                )
            # runc's words ("cannot set hugetlb limit"), with the field and the reason.
            at = resources_v1.field_of(name, resources)
            raise CgroupError(
                f"{at}: cannot set {controller} limit: "
                f"the {controller} cgroup controller is not mounted"
            )
        if not os.path.exists(os.path.join(directory, name)):
            fallback = resources_v1.BFQ_FALLBACK.get(name)
            if fallback and os.path.exists(os.path.join(directory, fallback)):
                name = fallback
            elif optional:
                return
            else:  # the kernel lacks it (no BFQ: no weights): name the field, not an open()
                at = resources_v1.field_of(name, resources)
                raise CgroupError(f"{at}: {resources_v1.missing_file(controller, name)}")
        write_file(directory, name, value)

    def _memory_usage(self) -> int | None:
        """memory.usage_in_bytes, or None where it cannot be read (best effort, as runc)."""
        directory = self._dir_for("memory")
        try:
            return int(read_file(directory, "memory.usage_in_bytes")) if directory else None
        except (OSError, ValueError):
            return None

    def _dir_for(self, controller: str) -> str | None:
        for key, directory in self.paths.items():
            if controller in key.split(","):
                return directory
        return None

    def pids(self) -> list[int]:
        directory = (
            self._dir_for("pids")
            or self._dir_for("devices")
            or next(iter(self.paths.values()), None)
        )
        return all_pids(directory) if directory else []

    def freeze(self) -> None:
        directory = self._freezer()
        # Tasks forking meanwhile can leave it FREEZING: ask again until it sticks.
        for i in range(1000):
            write_file(directory, "freezer.state", FROZEN)
            if read_file(directory, "freezer.state").strip() == FROZEN:
                return
            time.sleep(min(0.001 * (i + 1), 0.01))
        write_file(directory, "freezer.state", THAWED)
        raise CgroupError(f"unable to freeze {directory}: tasks keep it busy")

    def thaw(self) -> None:
        write_file(self._freezer(), "freezer.state", THAWED)

    def freezer_state(self) -> str:
        directory = self._dir_for("freezer")
        if directory is None:
            return THAWED
        try:
            state = read_file(directory, "freezer.state").strip()
        except FileNotFoundError:
            return THAWED
        return FROZEN if state == FROZEN else THAWED

    def _freezer(self) -> str:
        directory = self._dir_for("freezer")
        if directory is None:
            raise CgroupError("cgroup controller freezer is not mounted: cannot pause")
        return directory

    def stats(self) -> dict[str, Any]:
        from pyrunc.cgroups.stats import v1_stats

        return v1_stats(self._dir_for)

    def oom_kill_count(self) -> int:
        directory = self._dir_for("memory")
        if directory is None:
            return 0
        return read_keyed(directory, "memory.oom_control").get("oom_kill", 0)

    def destroy(self) -> None:
        leaves = set(self.paths.values())
        failed = []
        for d in sorted(self.created, key=lambda p: p.count("/"), reverse=True):
            if d in leaves:
                # Sub-cgroups below the container's (exec --cgroup's, or its own through
                # a writable cgroupfs) go first, as runc's RemovePaths takes them too.
                for sub in subdirs_deepest_first(d):
                    rmdir_retry(sub)
                if not rmdir_retry(d):
                    failed.append(d)
            elif not rmdir_parent(d):
                # Another container's cgroup now lives below the parent we made: it is
                # shared, not ours alone to remove (runc never removes parents at all).
                continue
        self.created = failed
        if failed:
            raise CgroupError(f"unable to remove cgroup(s): {', '.join(failed)}")

    def mount_views(self) -> list[tuple[str, str]]:
        out = []
        for key, directory in self.paths.items():
            if key == "":
                out.append((directory, "unified"))
            elif key.startswith("name="):
                out.append((directory, key[5:]))
            else:
                out.append((directory, key))
        return out


def _ordered_memory(writes: list[Write], memory_dir: str | None) -> list[Write]:
    """The kernel wants limit <= memsw limit after every write: raising both means
    memsw first, lowering both the limit first (runc's order)."""
    names = [n.lstrip("?") for _, n, _ in writes]
    if "memory.limit_in_bytes" not in names or "memory.memsw.limit_in_bytes" not in names:
        return writes
    i, j = names.index("memory.limit_in_bytes"), names.index("memory.memsw.limit_in_bytes")
    swap = int(writes[j][2])
    try:
        current = int(read_file(memory_dir or "", "memory.limit_in_bytes"))
    except (OSError, ValueError):
        return writes
    if swap == -1 or current < swap:
        out = list(writes)
        out[i], out[j] = writes[j], writes[i]
        return out
    return writes


def _fill_cpusets(directory: str) -> None:
    """A v1 cpuset cgroup starts with no CPUs and no memory nodes and refuses tasks
    (ENOSPC) until given some: give every empty one from the hierarchy's root down to
    directory its parent's sets, as runc does, parents made by someone else included
    (a pod cgroup made with a bare mkdir)."""
    chain = []
    d = directory
    while os.path.exists(os.path.join(os.path.dirname(d), "cpuset.cpus")):
        chain.append(d)  # below the hierarchy's root: its parent has cpuset files
        d = os.path.dirname(d)
    for d in reversed(chain):
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read_file(d, name).strip():
                write_file(d, name, read_file(os.path.dirname(d), name).strip())
