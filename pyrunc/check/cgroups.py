"""cgroups: the host's layout, and a controller (and file) for every limit asked for.

The writes are the ones create would make (resources_v1/resources_v2.to_files), to
the directory it would make them in, and a missing file is reported in create's words
(resources_v1.missing_file). Nothing is created: a file is looked for in the nearest
existing cgroup on the way (see _file_in_hierarchy for the root's exceptions).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pyrunc.check.findings import HOST, Finding, error, ok, warning
from pyrunc.check.sysfiles import read_text
from pyrunc.spec.lenient import obj, text

_ID = "pyrunc-check"  # stands for the container id in a default cgroupsPath


def layout() -> str:
    """'v2', 'hybrid' (v1 controllers plus an empty v2 mount) or 'v1'."""
    from pyrunc.cgroups.manager import CGROUP_ROOT, is_unified

    if is_unified():
        return "v2"
    return "hybrid" if os.path.isdir(os.path.join(CGROUP_ROOT, "unified")) else "v1"


def check(doc: dict[str, Any], systemd_cgroup: bool = False) -> Iterator[Finding]:
    """systemd_cgroup: the runtime's option (--systemd-cgroup), as create reads the path."""
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
        path = _cgroups_path(path, systemd_cgroup)
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


def _cgroups_path(path: str, systemd_cgroup: bool) -> str:
    if systemd_cgroup:
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
        at = resources_v1.field_of(name, resources)
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
    from pyrunc.cgroups.resources_v1 import BFQ_FALLBACK, missing_file

    names = [name] + ([BFQ_FALLBACK[name]] if name in BFQ_FALLBACK else [])
    found = next((n for n in names if _file_in_hierarchy(target, mountpoint, n)), None)
    if found:
        return ok(HOST, at, f"{controller}: {found} is available")
    return error(
        HOST, at, missing_file(controller, name), f"remove {at}: this kernel cannot apply it"
    )


def _file_in_hierarchy(target: str, mountpoint: str, name: str) -> bool:
    """Whether a cgroup at `target` would have file `name`, asked of the nearest existing
    cgroup on the way. Every cgroup of a hierarchy has the same files, but for those the
    kernel leaves out of the root: the root answers for them through a witness file."""
    from pyrunc.cgroups.resources_v1 import NOT_ON_ROOT

    probe = target
    while not os.path.isdir(probe) and probe not in ("/", ""):
        probe = os.path.dirname(probe)
    if os.path.exists(os.path.join(probe, name)):
        return True
    at_root = os.path.normpath(probe) == os.path.normpath(mountpoint)
    witness = NOT_ON_ROOT.get(name)
    return at_root and witness is not None and os.path.exists(os.path.join(probe, witness))


# --------------------------------------------------------------------------- v2


def _v2(resources: dict[str, Any], path: str) -> Iterator[Finding]:
    from pyrunc.cgroups import resources_v2
    from pyrunc.cgroups.manager import CGROUP_ROOT

    writes, refusal = _translated(resources_v2.to_files, resources)
    if refusal:
        yield refusal
    available = set(read_text(os.path.join(CGROUP_ROOT, "cgroup.controllers")).split())
    seen: set[str] = set()
    for name, value in writes:
        controller = resources_v2.controller_of(name)
        if name.startswith("?") or controller in seen or controller == "cgroup":
            continue
        seen.add(controller)
        at = resources_v2.field_of(name, value, resources)
        if controller in available:
            yield ok(HOST, at, f"the {controller} controller is available")
        else:
            why = resources_v2.missing_controller(controller)
            yield error(HOST, at, why, f"remove {at}, or enable {controller} on this host")
