"""`linux.resources` -> cgroup v1 file writes. Pure, table-driven, unit-tested.

A file name starting with "?" is optional: written only where this kernel (and this
host's mounted controllers) have it. Every other write needs its controller mounted
and its file present, as runc's fs manager does ("cannot set hugetlb limit: ...").
Zero (or absence) means "leave the kernel's value alone", as runc and docker read it.
"""

from __future__ import annotations

from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

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
    "c 5:0 rwm",  # tty
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts (a terminal's /dev/console is one of them)
    "c 10:200 rwm",  # tun/tap (runc 1.1 allows it; /dev/console 5:1 it does not)
)

# Without CFQ's weight files (gone since Linux 5.0) the kernel may have BFQ's: runc
# writes there instead. A host whose block devices have no BFQ scheduler has neither.
BFQ_FALLBACK = {
    "blkio.weight": "blkio.bfq.weight",
    "blkio.weight_device": "blkio.bfq.weight_device",
}

# Files the kernel leaves out of a hierarchy's root cgroup (CFTYPE_NOT_ON_ROOT), each
# with a file the root does show whenever every other cgroup of it has the first one:
# pids and rdma limits come with their controller; BFQ's weights with BFQ's policy,
# whose statistics the root shows.
NOT_ON_ROOT = {
    "pids.max": "cgroup.procs",
    "rdma.max": "cgroup.procs",
    "blkio.bfq.weight": "blkio.bfq.io_service_bytes",
    "blkio.bfq.weight_device": "blkio.bfq.io_service_bytes",
}

# The linux.resources field each v1 file is written for (errors name the field).
_FIELDS = {
    "memory.limit_in_bytes": "memory.limit",
    "memory.memsw.limit_in_bytes": "memory.swap",
    "memory.soft_limit_in_bytes": "memory.reservation",
    "memory.kmem.limit_in_bytes": "memory.kernel",
    "memory.kmem.tcp.limit_in_bytes": "memory.kernelTCP",
    "memory.swappiness": "memory.swappiness",
    "memory.oom_control": "memory.disableOOMKiller",
    "memory.use_hierarchy": "memory.useHierarchy",
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
    "devices.allow": "devices",
    "devices.deny": "devices",
}


def field_of(name: str, resources: dict[str, Any]) -> str:
    """The linux.resources field a write of file `name` comes from."""
    name = name.lstrip("?")
    if name.startswith("hugetlb."):
        size = name.split(".")[1]
        for i, h in enumerate(resources.get("hugepageLimits") or ()):
            if isinstance(h, dict) and h.get("pageSize") == size:
                return f"linux.resources.hugepageLimits[{i}]"
        return "linux.resources.hugepageLimits"
    throttle = next((key for key, file in THROTTLES if file == name), None)
    sub = f"blockIO.{throttle}" if throttle else _FIELDS.get(name, "")
    return "linux.resources" + (f".{sub}" if sub else "")


def missing_file(controller: str, name: str) -> str:
    """What create and check both say of a file this host's controller lacks."""
    names = " or ".join([name, *([BFQ_FALLBACK[name]] if name in BFQ_FALLBACK else [])])
    return f"this host's {controller} controller has no {names}"


def _limit(v: int) -> str:
    return "-1" if v < 0 else str(v)


def check_swappiness(swappiness: int | None) -> int | None:
    """-1 (or absent) means unset, as runc reads it; outside 0-100 is an error.
    2**64-1 is -1 too: docker sends its -1 default as a u64 (runc compares int64(v))."""
    if swappiness is None or swappiness in (-1, 2**64 - 1):
        return None
    if not 0 <= swappiness <= 100:  # silently dropping it would hide the mistake
        raise CgroupError(
            f"linux.resources.memory.swappiness: invalid value {swappiness}, valid range is 0-100"
        )
    return swappiness


def check_memory_usage(mem: dict[str, Any], usage: int) -> None:
    """memory.checkBeforeUpdate: refuse a limit the cgroup already uses, in runc's words
    (runc checks on v2 only; v1's kernel would reclaim or fail with EBUSY instead)."""
    if not mem.get("checkBeforeUpdate"):
        return
    swap, limit = mem.get("swap") or 0, mem.get("limit") or 0
    if 0 < swap <= usage:
        raise CgroupError(f"rejecting memory+swap limit {swap} <= usage {usage}")
    if 0 < limit <= usage:
        raise CgroupError(f"rejecting memory limit {limit} <= usage {usage}")


def refuse_kernel_memory(mem: dict[str, Any]) -> None:
    """memory.kernel: Linux takes writes to memory.kmem.limit_in_bytes and ignores them
    (deprecated since 5.16, "has no effect" since); runc ignores the field with a warning.
    A limit is refused rather than pretended; -1 (no limit) and 0 (unset) are what
    every container gets anyway."""
    kernel = mem.get("kernel") or 0
    if kernel > 0:
        raise CgroupError(
            "linux.resources.memory.kernel: kernel memory limits are not supported "
            "(Linux no longer enforces them); remove the field"
        )


def memory_writes(mem: dict[str, Any]) -> Iterator[Write]:
    # The limit and the memsw limit are ordered at write time (the kernel wants
    # limit <= memsw at every step): see V1Manager.
    if mem.get("limit"):
        yield ("memory", "memory.limit_in_bytes", _limit(mem["limit"]))
    if mem.get("swap"):
        # Without swap accounting there is no memsw file: fine for an unlimited swap,
        # an error naming the field for a limit (as runc; docker drops it beforehand).
        opt = "?" if mem["swap"] == -1 else ""
        yield ("memory", opt + "memory.memsw.limit_in_bytes", _limit(mem["swap"]))
    elif (mem.get("limit") or 0) < 0:
        # No limit and no swap asked for: memory+swap unlimited too, as runc reads it
        # (the kernel refuses a memory limit above the memsw one: EINVAL otherwise).
        yield ("memory", "?memory.memsw.limit_in_bytes", "-1")
    if mem.get("reservation"):
        yield ("memory", "memory.soft_limit_in_bytes", _limit(mem["reservation"]))
    refuse_kernel_memory(mem)
    if mem.get("kernelTCP"):
        # Mandatory: a kernel without the file cannot hold the limit (refused, never
        # dropped). runc ignores the field everywhere; Linux still enforces it on v1.
        yield ("memory", "memory.kmem.tcp.limit_in_bytes", _limit(mem["kernelTCP"]))
    swappiness = check_swappiness(mem.get("swappiness"))
    if swappiness is not None:
        yield ("memory", "memory.swappiness", str(swappiness))
    if mem.get("disableOOMKiller"):
        yield ("memory", "memory.oom_control", "1")
    if mem.get("useHierarchy"):  # always on in kernels >= 6.1 (writing 1 is accepted)
        yield ("memory", "?memory.use_hierarchy", "1")


def cpu_writes(cpu: dict[str, Any]) -> Iterator[Write]:
    """In runc's order: each value is checked against the others' current ones, and
    RETRY_AFTER says which refusal is tried again after which later write."""
    if cpu.get("shares"):
        yield ("cpu", "cpu.shares", str(cpu["shares"]))
    if cpu.get("period"):
        yield ("cpu", "cpu.cfs_period_us", str(cpu["period"]))
    if cpu.get("burst") is not None:
        # runc: a missing file is fine for burst 0 only.
        opt = "?" if cpu["burst"] == 0 else ""
        yield ("cpu", opt + "cpu.cfs_burst_us", str(cpu["burst"]))
    if cpu.get("quota"):
        yield ("cpu", "cpu.cfs_quota_us", str(cpu["quota"]))
    if cpu.get("idle") is not None:
        yield ("cpu", "cpu.idle", str(cpu["idle"]))
    if cpu.get("realtimePeriod"):
        yield ("cpu", "cpu.rt_period_us", str(cpu["realtimePeriod"]))
    if cpu.get("realtimeRuntime"):
        yield ("cpu", "cpu.rt_runtime_us", str(cpu["realtimeRuntime"]))
    if cpu.get("cpus"):
        yield ("cpuset", "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        yield ("cpuset", "cpuset.mems", cpu["mems"])


# file -> the later file of the same set after which an EINVAL on it is tried again.
# The kernel checks each new value against the others' current ones (the quota/period
# ratio against the parent's, burst <= quota, rt runtime <= rt period), so no fixed
# order fits every change: as runc, the first is tried first and, refused, again after.
RETRY_AFTER = {
    "cpu.cfs_period_us": "cpu.cfs_quota_us",
    "cpu.cfs_burst_us": "cpu.cfs_quota_us",
    "cpu.rt_period_us": "cpu.rt_runtime_us",
}


def pids_max(limit: int) -> str:
    """pids.limit as runc writes it: negative is no limit; 0 is 1, since systemd's
    TasksMax takes no 0 and runc keeps both of its drivers alike (runc #4014)."""
    return "max" if limit < 0 else str(max(limit, 1))


def pids_writes(pids: dict[str, Any]) -> Iterator[Write]:
    if "limit" in pids:
        limit = pids["limit"]
        yield ("pids", "pids.max", pids_max(limit))


def device_rule(rule: dict[str, Any]) -> str:
    dev_type = rule.get("type", "a")
    major = rule.get("major")
    minor = rule.get("minor")
    major_s = "*" if major is None or major < 0 else str(major)
    minor_s = "*" if minor is None or minor < 0 else str(minor)
    return f"{dev_type} {major_s}:{minor_s} {rule.get('access') or 'rwm'}"


def _refuse_empty_access(index: int, access: str | None) -> None:
    """runc keeps the r, w and m of an access and ignores other letters ("rwa" is "rw",
    update.bats relies on it); an access with none of them would allow or deny nothing,
    a rule silently dropped: refused, naming it."""
    if access and not set(access) & set("rwm"):
        raise CgroupError(
            f"linux.resources.devices[{index}].access: {access!r} has none of r, w, m"
        )


def device_writes(rules: list[dict[str, Any]]) -> Iterator[Write]:
    """Like runc: deny-all, the rules in order, then the devices every container needs.

    Without any rule the host's devices stay closed all the same (a new v1 cgroup
    inherits its parent's list, usually "a *:* rwm"); only then is the controller
    optional, since nothing was asked of it.
    """
    opt = "" if rules else "?"
    yield ("devices", opt + "devices.deny", "a")
    for i, rule in enumerate(rules):
        _refuse_empty_access(i, rule.get("access"))
        name = "devices.allow" if rule.get("allow") else "devices.deny"
        yield ("devices", name, device_rule(rule))
    for r in DEFAULT_DEVICE_RULES:
        yield ("devices", opt + "devices.allow", r)


def _dev(entry: dict[str, Any]) -> str:
    return f"{entry['major']}:{entry['minor']}"


THROTTLES = (  # spec key -> v1 file
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
)


def blkio_writes(blkio: dict[str, Any]) -> Iterator[Write]:
    """blkio.weight(_device) become BFQ's files where CFQ's are absent (see V1Manager)."""
    if blkio.get("weight"):
        yield ("blkio", "blkio.weight", str(blkio["weight"]))
    if blkio.get("leafWeight"):
        yield ("blkio", "blkio.leaf_weight", str(blkio["leafWeight"]))
    for wd in blkio.get("weightDevice") or ():
        if wd.get("weight"):
            yield ("blkio", "blkio.weight_device", f"{_dev(wd)} {wd['weight']}")
        if wd.get("leafWeight"):
            yield ("blkio", "blkio.leaf_weight_device", f"{_dev(wd)} {wd['leafWeight']}")
    for key, name in THROTTLES:
        for t in blkio.get(key) or ():
            yield ("blkio", name, f"{_dev(t)} {t['rate']}")


def hugetlb_writes(limits: list[dict[str, Any]]) -> Iterator[Write]:
    for h in limits:
        yield ("hugetlb", f"hugetlb.{h['pageSize']}.limit_in_bytes", str(h["limit"]))
        # Reservations are accounted apart since 5.7: limit them alike where present.
        yield ("hugetlb", f"?hugetlb.{h['pageSize']}.rsvd.limit_in_bytes", str(h["limit"]))


def network_writes(net: dict[str, Any]) -> Iterator[Write]:
    if net.get("classID"):
        yield ("net_cls", "net_cls.classid", str(net["classID"]))
    for p in net.get("priorities") or ():
        yield ("net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}")


def rdma_line(device: str, limit: dict[str, Any]) -> str:
    """One rdma.max line (same syntax in v1 and v2); unset counts stay "max"."""
    parts = [device]
    for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
        if limit.get(key) is not None:
            parts.append(f"{name}={limit[key]}")
    return " ".join(parts)


def rdma_writes(rdma: dict[str, Any]) -> Iterator[Write]:
    for device, limit in (rdma or {}).items():
        yield ("rdma", "rdma.max", rdma_line(device, limit))


def unified_writes(unified: dict[str, str]) -> Iterator[Write]:
    if unified:  # runc: "invalid configuration: cannot use unified on cgroup v1"
        raise CgroupError(  # runc's words (cgroups.ErrV1NoUnified) after the field
            "linux.resources.unified: invalid configuration: cannot use unified on cgroup v1"
        )
    return iter(())


def to_files(resources: dict[str, Any]) -> Iterator[Write]:
    yield from unified_writes(resources.get("unified") or {})
    yield from device_writes(resources.get("devices") or [])
    yield from memory_writes(resources.get("memory") or {})
    yield from cpu_writes(resources.get("cpu") or {})
    yield from pids_writes(resources.get("pids") or {})
    yield from blkio_writes(resources.get("blockIO") or {})
    yield from hugetlb_writes(resources.get("hugepageLimits") or [])
    yield from network_writes(resources.get("network") or {})
    yield from rdma_writes(resources.get("rdma") or {})
