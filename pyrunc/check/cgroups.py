"""cgroups: the host's layout, and a controller (and file) for every limit asked for.

The writes are the ones create would make (resources_v1/resources_v2.to_files), to
the directory it would make them in; nothing is created: a file is looked for in the
nearest existing cgroup on the way (all cgroups of a hierarchy but its root hold the
same files, so at the root an existing child is asked instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pyrunc.check.doc import arr, obj, text
from pyrunc.check.findings import HOST, Finding, error, ok, warning

_ID = "pyrunc-check"  # stands for the container id in a default cgroupsPath

# Resource section -> the controller(s) its v1 files live in (for messages and paths).
_V1_FIELDS: dict[str, str] = {
    "memory.limit_in_bytes": "memory.limit",
    "memory.memsw.limit_in_bytes": "memory.swap",
    "memory.soft_limit_in_bytes": "memory.reservation",
    "memory.kmem.limit_in_bytes": "memory.kernel",
    "memory.kmem.tcp.limit_in_bytes": "memory.kernelTCP",
    "memory.swappiness": "memory.swappiness",
    "memory.oom_control": "memory.disableOOMKiller",
    "cpu.shares": "cpu.shares",
    "cpu.cfs_period_us": "cpu.period",
    "cpu.cfs_quota_us": "cpu.quota",
    "cpu.cfs_burst_us": "cpu.burst",
    "cpu.rt_period_us": "cpu.realtimePeriod",
    "cpu.rt_runtime_us": "cpu.realtimeRuntime",
    "cpu.idle": "cpu.idle",
    "cpuset.cpus": "cpu.cpus",
    "cpuset.mems": "cpu.mems",
    "pids.max": "pids.limit",
    "blkio.weight": "blockIO.weight",
    "blkio.leaf_weight": "blockIO.leafWeight",
    "blkio.weight_device": "blockIO.weightDevice",
    "blkio.leaf_weight_device": "blockIO.weightDevice",
    "net_cls.classid": "network.classID",
    "net_prio.ifpriomap": "network.priorities",
    "rdma.max": "rdma",
}
_SECTIONS = {
    "memory": "memory", "cpu": "cpu", "cpuset": "cpu", "pids": "pids", "blkio": "blockIO",
    "io": "blockIO", "hugetlb": "hugepageLimits", "net_cls": "network", "net_prio": "network",
    "rdma": "rdma", "devices": "devices",
}  # fmt: skip


def layout() -> str:
    """'v2', 'hybrid' (v1 controllers plus an empty v2 mount) or 'v1'."""
    from pyrunc.cgroups.manager import CGROUP_ROOT, is_unified

    if is_unified():
        return "v2"
    return "hybrid" if os.path.isdir(os.path.join(CGROUP_ROOT, "unified")) else "v1"


def field_path(name: str, resources: dict[str, Any]) -> str:
    """The linux.resources field a cgroup file write comes from."""
    name = name.lstrip("?")
    controller = name.split(".", 1)[0]
    if controller == "hugetlb":
        size = name.split(".")[1]
        for i, h in enumerate(arr(resources.get("hugepageLimits"))):
            if obj(h).get("pageSize") == size:
                return f"linux.resources.hugepageLimits[{i}]"
    if name.startswith("blkio.throttle."):
        return "linux.resources.blockIO"
    sub = _V1_FIELDS.get(name) or _SECTIONS.get(controller) or ""
    return "linux.resources" + (f".{sub}" if sub else "")


def check(doc: dict[str, Any]) -> Iterator[Finding]:
    kind = layout()
    yield ok(
        HOST,
        "",
        f"cgroup {kind}"
        + (" (v1 controllers, v2 mounted without any)" if kind == "hybrid" else ""),
    )
    linux = obj(doc.get("linux"))
    resources = obj(linux.get("resources"))
    path = text(linux.get("cgroupsPath"))
    try:
        path = _cgroups_path(path)
    except Exception as e:  # noqa: BLE001 - the config error create would raise
        yield error(
            HOST,
            "linux.cgroupsPath",
            str(e).removeprefix("linux.cgroupsPath: "),
            'write it as "slice:prefix:name" (--systemd-cgroup)',
        )
        return
    yield from _negative_limits(resources)
    if kind == "v2":
        yield from _v2(resources, path)
    else:
        yield from _v1(resources, path)


def _cgroups_path(path: str) -> str:
    from pyrunc.container import create

    if create.SYSTEMD_CGROUP:
        from pyrunc.cgroups.paths import systemd_to_cgroupfs

        return systemd_to_cgroupfs(path, _ID)
    return path


def _negative_limits(resources: dict[str, Any]) -> Iterator[Finding]:
    mem = obj(resources.get("memory"))
    for key in ("limit", "reservation", "swap"):
        v = mem.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v < -1:
            yield warning(
                HOST,
                f"linux.resources.memory.{key}",
                f"{v} is read as no limit",
                "write -1 (or leave it out) for no limit, or a positive byte count",
            )


def _translated(to_files: Any, resources: dict[str, Any]) -> tuple[list, Finding | None]:
    """Writes for `resources`, or the refusal create would print."""
    from pyrunc.errors import CgroupError

    try:
        return list(to_files(resources)), None
    except CgroupError as e:
        at, _, rule = str(e).partition(": ")
        if not at.startswith("linux."):
            at, rule = "linux.resources", str(e)
        return [], error(HOST, at, rule, "correct the value, or leave it out")
    except (KeyError, TypeError, ValueError, AttributeError):
        return [], None  # a shape the schema check reports


# --------------------------------------------------------------------------- v1


def _v1(resources: dict[str, Any], path: str) -> Iterator[Finding]:
    from pyrunc.cgroups import resources_v1
    from pyrunc.cgroups.v1 import V1Manager, hierarchies

    writes, refusal = _translated(resources_v1.to_files, resources)
    if refusal:
        yield refusal
    dirs = V1Manager.for_container(_ID, path).paths
    mounts = {h.key: h.mountpoint for h in hierarchies()}
    reported: set[str] = set()
    for controller, name, _ in writes:
        optional, name = name.startswith("?"), name.lstrip("?")
        at = field_path(name, resources)
        key = next((k for k in dirs if controller in k.split(",")), None)
        if key is None:
            if not optional and controller not in reported:
                reported.add(controller)
                yield error(
                    HOST,
                    at,
                    f"the {controller} cgroup controller is not mounted",
                    f"remove {at}, or mount the controller "
                    f"(mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller})",
                )
            continue
        if optional or name in reported:
            continue
        reported.add(name)
        yield _v1_file(at, controller, name, dirs[key], mounts.get(key, ""))


def _v1_file(at: str, controller: str, name: str, target: str, mountpoint: str) -> Finding:
    from pyrunc.cgroups.resources_v1 import BFQ_FALLBACK

    names = [name] + ([BFQ_FALLBACK[name]] if name in BFQ_FALLBACK else [])
    found = _file_in_hierarchy(target, mountpoint, names)
    if found is None:
        return warning(
            HOST,
            at,
            f"{name}: cannot tell from the root cgroup alone",
            "create would find out: try it",
        )
    if found:
        return ok(HOST, at, f"{controller}: {found} is available")
    either = " or ".join(names)
    return error(
        HOST,
        at,
        f"this host's {controller} controller has no {either}",
        f"remove {at}: this kernel cannot apply it",
    )


def _file_in_hierarchy(target: str, mountpoint: str, names: list[str]) -> str | None:
    """The first of `names` a cgroup like `target` would have; "" if none; None if unknown."""
    probe = target
    while not os.path.isdir(probe) and probe not in ("/", ""):
        probe = os.path.dirname(probe)
    for name in names:
        if os.path.exists(os.path.join(probe, name)):
            return name
    if os.path.normpath(probe) == os.path.normpath(mountpoint):
        places = _children(probe)  # the root cgroup lacks some files (pids.max, bfq.weight)
        if not places:
            return None
        for name in names:
            if os.path.exists(os.path.join(places[0], name)):
                return name
    return ""


def _children(directory: str) -> list[str]:
    try:
        with os.scandir(directory) as it:
            return sorted(e.path for e in it if e.is_dir(follow_symlinks=False))[:1]
    except OSError:
        return []


# --------------------------------------------------------------------------- v2


def _v2(resources: dict[str, Any], path: str) -> Iterator[Finding]:
    from pyrunc.cgroups import resources_v2
    from pyrunc.cgroups.manager import CGROUP_ROOT

    writes, refusal = _translated(resources_v2.to_files, resources)
    if refusal:
        yield refusal
    available = set(_read(os.path.join(CGROUP_ROOT, "cgroup.controllers")).split())
    seen: set[str] = set()
    for name, _ in writes:
        controller = resources_v2.controller_of(name)
        if name.startswith("?") or controller in seen or controller == "cgroup":
            continue
        seen.add(controller)
        at = "linux.resources." + _SECTIONS.get(controller, "unified")
        if controller in available:
            yield ok(HOST, at, f"the {controller} controller is available")
        else:
            yield error(
                HOST,
                at,
                f"this host's cgroup v2 has no {controller} controller",
                f"remove {at}, or enable {controller} on this host",
            )


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
