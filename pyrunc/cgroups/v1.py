"""cgroup v1 (and the hybrid layout: v1 controllers plus a v2 mount without controllers)."""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field
from typing import Any

from pyrunc.cgroups import resources_v1
from pyrunc.cgroups.manager import CgroupManager, write_file
from pyrunc.errors import CgroupError


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

    @classmethod
    def for_container(cls, container_id: str, cgroups_path: str) -> V1Manager:
        path = cgroups_path or container_id  # runc: empty means <own cgroup>/<id>
        own = own_cgroups()
        return cls({h.key: cgroup_dir(h, path, own) for h in hierarchies()})

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> V1Manager:
        return cls(dict(data.get("paths", {})), list(data.get("created", [])))

    def to_state(self) -> dict[str, Any]:
        return {"version": "v1", "paths": self.paths, "created": self.created}

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
                _inherit_cpuset(d)

    def apply(self, pid: int) -> None:
        for directory in self.paths.values():
            write_file(directory, "cgroup.procs", pid)

    def set(self, resources: dict[str, Any]) -> None:
        for controller, name, value in resources_v1.to_files(resources):
            directory = self._dir_for(controller)
            if directory is None:
                if value_required(controller) and not name.startswith("?"):
                    raise CgroupError(f"cgroup controller {controller} is not mounted")
                continue
            if name.startswith("?"):  # optional file: skip where this kernel lacks it
                name = name[1:]
                if not os.path.exists(os.path.join(directory, name)):
                    continue
            write_file(directory, name, value)

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
        if directory is None:
            return []
        try:
            with open(os.path.join(directory, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def destroy(self) -> None:
        leaves = set(self.paths.values())
        failed = []
        for d in sorted(self.created, key=lambda p: p.count("/"), reverse=True):
            if d in leaves:
                if not _rmdir_retry(d):
                    failed.append(d)
            elif not _rmdir_parent(d):
                # Another container's cgroup now lives below the parent we made: it is
                # shared, not ours alone to remove (runc never removes parents at all).
                continue
        self.created = failed
        if failed:
            raise CgroupError(f"unable to remove cgroup(s): {', '.join(failed)}")

    def oom_killed(self) -> bool:
        directory = self._dir_for("memory")
        try:
            with open(os.path.join(directory or "", "memory.oom_control")) as f:
                counts = dict(line.split() for line in f if line.strip())
        except (OSError, ValueError):
            return False
        return int(counts.get("oom_kill", "0")) > 0

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


def value_required(controller: str) -> bool:
    return controller in ("memory", "cpu", "pids", "devices")


def _inherit_cpuset(directory: str) -> None:
    """A new v1 cpuset cgroup starts empty and refuses tasks; copy the parent's sets."""
    parent = os.path.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(directory, name)) as f:
            if f.read().strip():
                continue
        with open(os.path.join(parent, name)) as f:
            write_file(directory, name, f.read().strip())


def _rmdir_parent(directory: str) -> bool:
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


def _rmdir_retry(directory: str, attempts: int = 50) -> bool:
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
