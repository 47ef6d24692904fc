"""Cgroups in rootless mode: the container's own cgroup when the user may make it, none
otherwise.

runc's rootless cgroupfs rule (cgroups/fs): a permission error making or joining the
container's cgroup is ignored, and the container stays in the cgroups its runtime runs
in; a limit it then cannot set is an error in runc's words ("cannot set pids limit:
container could not join or create cgroup"). A user who was delegated a subtree (a v2
directory they own) gets a real cgroup there, as root does.

Here the decision is made once, at create. On cgroup v1, hierarchy by hierarchy as
runc's fs manager: the ones the user may make are joined; name=systemd and the hybrid
cgroup2 tree are joined only where possible (runc joins name=systemd best-effort and
never the hybrid tree); a controller the user may not make is left out when the config
named no cgroup (a limit for it is then refused), and fails create when it did. On v2,
the delegated subtree or nothing. Device rules are never enforced rootless (runc: they
need CAP_SYS_ADMIN). NoCgroup, when nothing can be made, finds the container's
processes by its namespaces, so that kill --all, delete, ps and exec work without one.
"""

from __future__ import annotations

import os

from pyrunc.cgroups.manager import THAWED, CgroupManager
from pyrunc.errors import CgroupError
from pyrunc.record import dataclass, field

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from pyrunc.options import RuntimeOptions

NO_CGROUP = "none"  # the "version" of a NoCgroup's state (pyrunc/cgroups/manager.py)

# linux.resources' fields, by the v1 controller runc names when it cannot set them.
# devices is left out: runc ignores device rules rootless (no devices cgroup to write).
_CONTROLLER_OF = {
    "memory": "memory",
    "cpu": "cpu",
    "pids": "pids",
    "blockIO": "blkio",
    "hugepageLimits": "hugetlb",
    "network": "net_cls",
    "rdma": "rdma",
    "unified": "unified",
}
_CPUSET_KEYS = ("cpus", "mems")


def manager_for(container_id: str, cfg: Any, options: RuntimeOptions) -> CgroupManager:
    """The container's cgroup manager: the host's kind; rootless, the part of it the
    user may make (rootless_share), else NoCgroup, or runc's refusal when the config
    names the cgroup or asks for limits."""
    from pyrunc.cgroups.manager import is_unified, new_manager

    manager = new_manager(container_id, cfg.linux.cgroups_path, options.systemd_cgroup)
    if not options.is_rootless():
        return manager
    share = rootless_share(manager, named=bool(cfg.linux.cgroups_path))
    if share is not None:
        return share
    if cfg.linux.cgroups_path:
        # runc tolerates the permission error only for a cgroup the config did not name.
        raise CgroupError(f"unable to apply cgroup configuration: {_denied(manager)}")
    if first_limit(cfg.linux.resources) is not None and is_unified():
        raise CgroupError(  # runc's fs2 words
            "unable to apply cgroup configuration: rootless needs no limits + no cgrouppath "
            f"when no permission is granted for cgroups: {_denied(manager)}"
        )
    refuse_limits(cfg.linux.resources)
    if not any(ns.type == "pid" and not ns.path for ns in cfg.linux.namespaces):
        from pyrunc import notices

        notices.warn(  # runc's words (process_linux.go); kill --all cannot reach them all
            "Creating a rootless container with no cgroup and no private pid namespace. "
            "Such configuration is strongly discouraged (as it is impossible to properly "
            "kill all container's processes) and will result in an error in a future version."
        )
    return NoCgroup(views=own_views())


def rootless_share(manager: CgroupManager, named: bool) -> CgroupManager | None:
    """manager narrowed to what this user may make, marked rootless; None when that is
    nothing. named: the config gave linux.cgroupsPath (a v1 controller the user may not
    make is then an error, as runc's)."""
    from pyrunc.cgroups.manager import is_unified

    if not is_unified():  # new_manager made a V1Manager (no systemd driver on v1)
        return _v1_share(manager, named)
    if not may_make(manager):
        return None
    from pyrunc.cgroups.v2 import V2Manager  # loaded already: new_manager's module

    if isinstance(manager, V2Manager):
        manager.rootless = True
    return manager


def _v1_share(manager: Any, named: bool) -> CgroupManager | None:
    from pyrunc.cgroups.v1 import V1Manager

    kept: dict[str, str] = {}
    unjoined = []
    for key, directory in manager.paths.items():
        if _can_make(directory):
            kept[key] = directory
        elif key == "" or key.startswith("name="):
            continue  # not a controller: joined where possible, as runc's name=systemd
        elif named:
            raise CgroupError(
                f"unable to apply cgroup configuration: mkdir {directory}: permission denied"
            )
        else:
            unjoined.append(key)
    if all(key == "" or key.startswith("name=") for key in kept):
        return None  # no controller at all: NoCgroup (its views are the runtime's own)
    return V1Manager(kept, rootless=True, unjoined=unjoined)


def device_rules_refused(error: CgroupError, rootless: bool) -> None:
    """A manager's device rules failed: raised as root; rootless, only logged, as runc's
    managers do (devices.allow/deny and the v2 eBPF filter need CAP_SYS_ADMIN, "really
    not expected to work")."""
    if not rootless:
        raise error
    from pyrunc import notices

    notices.debug(f"rootless: device rules not enforced: {error}")


def _denied(manager: CgroupManager) -> str:
    """The first of manager's directories this process may not make, as mkdir says it."""
    for d, _ in manager.mount_views():
        if not _can_make(d):
            return f"mkdir {d}: permission denied"
    return "permission denied"


def may_make(manager: CgroupManager) -> bool:
    """Whether this process may make (or use) every directory of manager's cgroup."""
    return all(_can_make(d) for d, _ in manager.mount_views())


def _can_make(directory: str) -> bool:
    """Whether we may create (or use) directory: its nearest existing ancestor writable."""
    d = directory
    while not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            return False
        d = parent
    return os.access(d, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids)


def unsettable(resources: dict[str, Any] | None) -> str | None:
    """The controller of the first limit in resources, or None when none is asked for."""
    first = first_limit(resources)
    return first[1] if first else None


def first_limit(resources: dict[str, Any] | None) -> tuple[str, str] | None:
    """(key in linux.resources, controller) of the first limit asked for, or None."""
    return next(asked_limits(resources), None)


def asked_limits(resources: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
    """(key in linux.resources, controller) of each limit asked for, in the config's order."""
    for key, value in (resources or {}).items():
        if key == "cpu" and isinstance(value, dict):
            cpu = {k: v for k, v in value.items() if k not in _CPUSET_KEYS}
            if any(v not in (None, 0, "") for v in cpu.values()):
                yield key, "cpu"
            if any(value.get(k) for k in _CPUSET_KEYS):
                yield key, "cpuset"
            continue
        if key == "network" and isinstance(value, dict):
            if value.get("classID"):
                yield key, "net_cls"
            if value.get("priorities"):
                yield key, "net_prio"
            continue
        controller = _CONTROLLER_OF.get(key)
        if controller is not None and _asks(value):
            yield key, controller


def _asks(value: Any) -> bool:
    """A limit is asked for: a value other than empty/absent (runc writes nothing then)."""
    if isinstance(value, dict):
        return any(_asks(v) for v in value.values())
    if isinstance(value, list):
        return bool(value)
    return value not in (None, 0, "", False)


def refuse_limits(resources: dict[str, Any] | None) -> None:
    """runc's error for a limit the container has no cgroup to hold."""
    controller = unsettable(resources)
    if controller is not None:
        raise CgroupError(
            f"cannot set {controller} limit: container could not join or create cgroup"
        )


def own_views() -> list[tuple[str, str]]:
    """(host dir, name under /sys/fs/cgroup) of the cgroups this process is in: what a
    container without a cgroup of its own sees at a `cgroup` mount."""
    from pyrunc.cgroups.manager import CGROUP_ROOT, is_unified

    if is_unified():
        from pyrunc.cgroups.v2 import own_cgroup

        return [(os.path.join(CGROUP_ROOT, own_cgroup().lstrip("/")), "")]
    from pyrunc.cgroups.v1 import V1Manager, hierarchies, own_cgroups

    own = own_cgroups()
    paths = {
        h.key: _own_dir(h.mountpoint, h.mount_root, own.get(h.key, "/")) for h in hierarchies()
    }
    return V1Manager(paths).mount_views()


def _own_dir(mountpoint: str, mount_root: str, path: str) -> str:
    root = mount_root.rstrip("/")
    if root and (path + "/").startswith(root + "/"):
        path = path[len(root) :] or "/"
    return os.path.join(mountpoint, path.lstrip("/"))


@dataclass
class NoCgroup(CgroupManager):
    """A rootless container without a cgroup of its own.

    Its processes are those in its init's pid namespace (or, sharing the host's, its
    user namespace), recorded when the init starts (started()). The runtime may read
    the init's namespaces only once it has run its program: until then the init is a
    non-dumpable copy of the runtime, whose memory belongs to the host's user namespace,
    so they are looked up again on each call until known.
    views: the runtime's own cgroup dirs, bound read-only at a `cgroup` mount.
    """

    views: list[tuple[str, str]] = field(default_factory=list)
    init: int = 0
    namespace: str = ""  # "pid:[ino]" or "user:[ino]" of the container, "" when neither

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> NoCgroup:
        views = [(d, n) for d, n in data.get("views", [])]
        return cls(views, int(data.get("init", 0)), str(data.get("namespace", "")))

    def to_state(self) -> dict[str, Any]:
        return {
            "version": NO_CGROUP,
            "views": [list(v) for v in self.views],
            "init": self.init,
            "namespace": self.namespace,
        }

    def started(self, pid: int) -> None:
        self.init = pid
        self.namespace = _container_namespace(pid)

    def create(self) -> None:
        pass

    def apply(self, pid: int, sub: dict[str, str] | None = None) -> None:
        if sub:
            raise CgroupError("exec --cgroup: the container has no cgroup (rootless)")

    def set(self, resources: dict[str, Any], update: bool = False) -> None:
        refuse_limits(resources)

    def pids(self) -> list[int]:
        namespace = self.namespace or (_container_namespace(self.init) if self.init else "")
        if not namespace:
            return [self.init] if self.init and _alive(self.init) else []
        kind = namespace.split(":", 1)[0]
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and _namespace_of(name, kind) == namespace:
                found.append(int(name))
        return found

    def freeze(self) -> None:
        raise CgroupError("cannot pause: the container has no cgroup (rootless, no freezer)")

    def thaw(self) -> None:
        pass

    def freezer_state(self) -> str:
        return THAWED

    def stats(self) -> dict[str, Any]:
        from pyrunc.cgroups.stats import no_stats

        return no_stats()  # runc's fs manager with no cgroup paths: zero-valued stats

    def oom_kill_count(self) -> int:
        return 0

    def destroy(self) -> None:
        pass

    def mount_views(self) -> list[tuple[str, str]]:
        return list(self.views)


def _namespace_of(pid: int | str, kind: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:  # gone, or another user's
        return ""


def _container_namespace(pid: int) -> str:
    """The namespace that holds the container's processes and none of ours."""
    for kind in ("pid", "user"):
        theirs = _namespace_of(pid, kind)
        if theirs and theirs != _namespace_of("self", kind):
            return theirs
    return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
