"""`linux.resources` -> cgroup v1 file writes. Pure, table-driven, unit-tested.

A file name starting with "?" is optional: written only where this kernel (and this
host's mounted controllers) have it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyrunc.errors import CgroupError

Write = tuple[str, str, str]  # (controller, file, value)

# Devices every container may use whatever its rules say (as runc and crun allow).
DEFAULT_DEVICE_RULES: tuple[str, ...] = (
    # mknod (not open) of any node: init creates linux.devices from inside the cgroup.
    "c *:* m",
    "b *:* m",
    # null, zero, full, random, urandom
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",  # tty console ptmx pts
)


def _limit(v: int) -> str:
    return "-1" if v < 0 else str(v)


def memory_writes(mem: dict[str, Any]) -> Iterator[Write]:
    if "limit" in mem and mem["limit"] != 0:
        yield ("memory", "memory.limit_in_bytes", _limit(mem["limit"]))
    if "swap" in mem and mem["swap"] != 0:
        yield ("memory", "?memory.memsw.limit_in_bytes", _limit(mem["swap"]))
    if "reservation" in mem and mem["reservation"] != 0:
        yield ("memory", "memory.soft_limit_in_bytes", _limit(mem["reservation"]))
    if mem.get("kernel"):
        yield ("memory", "?memory.kmem.limit_in_bytes", _limit(mem["kernel"]))
    if mem.get("kernelTCP"):
        yield ("memory", "?memory.kmem.tcp.limit_in_bytes", _limit(mem["kernelTCP"]))
    swappiness = mem.get("swappiness")
    if swappiness is not None and swappiness != -1:  # -1: unset, as runc reads it
        if not 0 <= swappiness <= 100:  # silently dropping it would hide the mistake
            raise CgroupError(
                f"linux.resources.memory.swappiness: invalid value {swappiness}, "
                "valid range is 0-100"
            )
        yield ("memory", "memory.swappiness", str(swappiness))
    if mem.get("disableOOMKiller"):
        yield ("memory", "memory.oom_control", "1")


def cpu_writes(cpu: dict[str, Any]) -> Iterator[Write]:
    if cpu.get("shares"):
        yield ("cpu", "cpu.shares", str(cpu["shares"]))
    # The period first: a quota larger than the old period may be refused otherwise.
    if cpu.get("period"):
        yield ("cpu", "cpu.cfs_period_us", str(cpu["period"]))
    if cpu.get("quota"):
        yield ("cpu", "cpu.cfs_quota_us", str(cpu["quota"]))
    if cpu.get("burst") is not None:
        yield ("cpu", "?cpu.cfs_burst_us", str(cpu["burst"]))
    if cpu.get("realtimePeriod"):
        yield ("cpu", "?cpu.rt_period_us", str(cpu["realtimePeriod"]))
    if cpu.get("realtimeRuntime"):
        yield ("cpu", "?cpu.rt_runtime_us", str(cpu["realtimeRuntime"]))
    if cpu.get("cpus"):
        yield ("cpuset", "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        yield ("cpuset", "cpuset.mems", cpu["mems"])


def pids_writes(pids: dict[str, Any]) -> Iterator[Write]:
    if "limit" in pids:
        limit = pids["limit"]
        yield ("pids", "pids.max", "max" if limit <= 0 else str(limit))


def device_rule(rule: dict[str, Any]) -> str:
    dev_type = rule.get("type", "a")
    major = rule.get("major")
    minor = rule.get("minor")
    major_s = "*" if major is None or major < 0 else str(major)
    minor_s = "*" if minor is None or minor < 0 else str(minor)
    return f"{dev_type} {major_s}:{minor_s} {rule.get('access') or 'rwm'}"


def device_writes(rules: list[dict[str, Any]]) -> Iterator[Write]:
    """Like runc: deny-all, the rules in order, then the devices every container needs.

    Without any rule the host's devices stay closed all the same (a new v1 cgroup
    inherits its parent's list, usually "a *:* rwm"); only then is the controller
    optional, since nothing was asked of it.
    """
    opt = "" if rules else "?"
    yield ("devices", opt + "devices.deny", "a")
    for rule in rules:
        name = "devices.allow" if rule.get("allow") else "devices.deny"
        yield ("devices", name, device_rule(rule))
    for r in DEFAULT_DEVICE_RULES:
        yield ("devices", opt + "devices.allow", r)


def blkio_writes(blkio: dict[str, Any]) -> Iterator[Write]:
    if blkio.get("weight"):
        yield ("blkio", "?blkio.weight", str(blkio["weight"]))
    if blkio.get("leafWeight"):
        yield ("blkio", "?blkio.leaf_weight", str(blkio["leafWeight"]))


def to_files(resources: dict[str, Any]) -> Iterator[Write]:
    yield from device_writes(resources.get("devices") or [])
    yield from memory_writes(resources.get("memory") or {})
    yield from cpu_writes(resources.get("cpu") or {})
    yield from pids_writes(resources.get("pids") or {})
    yield from blkio_writes(resources.get("blockIO") or {})
