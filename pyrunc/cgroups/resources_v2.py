"""`linux.resources` -> cgroup v2 file writes. Pure, table-driven, unit-tested.

Conversions follow runc 1.1 (the runc Debian ships, our differential reference):
cpu.shares -> cpu.weight and blkio weight -> io.weight are linear maps of one range
onto the other, and v2's memory.swap.max counts swap alone where the spec's swap
is memory+swap. A file name starting with "?" is optional, as in resources_v1.
Devices are not files on v2 (an eBPF program, see ebpf.py).
"""

from __future__ import annotations

from pyrunc.cgroups.resources_v1 import (
    check_swappiness,
    pids_max,
    rdma_line,
    refuse_kernel_memory,
)
from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

Write = tuple[str, str]  # (file, value); the controller is the file's prefix

# cgroup v1 ranges (runc's bounds) mapped onto v2's 1..10000.
SHARES_MIN, SHARES_MAX = 2, 262144
BLKIO_MIN, BLKIO_MAX = 10, 1000
WEIGHT_MIN, WEIGHT_MAX = 1, 10000


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def shares_to_weight(shares: int) -> int:
    """runc's ConvertCPUSharesToCgroupV2Value: 2..262144 -> 1..10000, 0 stays unset."""
    if shares == 0:
        return 0
    return 1 + _go_div((shares - 2) * 9999, 262142)


def blkio_to_io_weight(weight: int) -> int:
    """runc's ConvertBlkIOToIOWeightValue: 10..1000 -> 1..10000, 0 stays unset."""
    if weight == 0:
        return 0
    return 1 + _go_div((weight - 10) * 9999, 990)


def swap_max(swap: int, limit: int) -> int:
    """memory.swap.max from the spec's memory+swap (runc's ConvertMemorySwapToCgroupV2Value).

    -1 is unlimited, 0 unset; otherwise a limit is needed and swap must cover it.
    """
    if swap == -1 or (swap == 0 and limit == -1):  # no memory limit, no swap: unlimited too
        return -1
    if swap == 0:
        return 0
    if limit in (0, -1):
        raise CgroupError(
            "linux.resources.memory.swap: unable to set swap limit without memory limit"
        )
    if limit < 0:
        raise CgroupError(f"linux.resources.memory.limit: invalid memory value: {limit}")
    if swap < limit:
        raise CgroupError(
            "linux.resources.memory.swap: memory+swap limit should be >= memory limit"
        )
    return swap - limit


def _num(v: int) -> str:
    """runc's numToStr: -1 is "max", 0 is unset ("")."""
    if v == 0:
        return ""
    return "max" if v == -1 else str(v)


def _unlimited_if_negative(v: int) -> int:
    """Any negative limit is "no limit" (-1), as on v1: v2's files refuse "-5"."""
    return -1 if v < 0 else v


def memory_writes(mem: dict[str, Any]) -> Iterator[Write]:
    limit = _unlimited_if_negative(mem.get("limit") or 0)
    swap = _unlimited_if_negative(mem.get("swap") or 0)
    converted = swap_max(swap, limit)
    value = _num(converted)
    if value == "" and swap > 0:  # swap == limit: no swap at all
        value = "0"
    if value:
        # Without swap accounting the file is missing: fine when swap is refused or
        # unlimited anyway (runc ignores it then), an error otherwise.
        yield ("?memory.swap.max" if value in ("0", "max") else "memory.swap.max", value)
    if _num(limit):
        yield ("memory.max", _num(limit))
    reservation = _unlimited_if_negative(mem.get("reservation") or 0)
    if _num(reservation):
        yield ("memory.low", _num(reservation))
    _refuse_v1_only_memory(mem)


def _refuse_v1_only_memory(mem: dict[str, Any]) -> None:
    """v2 has no file for these: runc ignores them there; a value that asks for
    something is refused instead (unset, -1 and false ask for nothing). useHierarchy
    needs no file: v2 is always hierarchical."""
    refuse_kernel_memory(mem)
    asked = {
        "kernelTCP": (mem.get("kernelTCP") or 0) > 0,
        "swappiness": check_swappiness(mem.get("swappiness")) is not None,
        "disableOOMKiller": mem.get("disableOOMKiller") is True,
    }
    for field, set_ in asked.items():
        if set_:
            raise CgroupError(
                f"linux.resources.memory.{field}: not supported on cgroup v2 (v1 only)"
            )


def cpu_writes(cpu: dict[str, Any]) -> Iterator[Write]:
    if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
        raise CgroupError(
            "linux.resources.cpu.realtimeRuntime: realtime scheduling is not supported on cgroup v2"
        )
    if cpu.get("idle") is not None:
        yield ("cpu.idle", str(cpu["idle"]))
    weight = shares_to_weight(cpu.get("shares") or 0)
    if weight:
        yield ("cpu.weight", str(weight))
    if cpu.get("burst") is not None:
        yield ("cpu.max.burst", str(cpu["burst"]))
    quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
    if quota or period:
        value = str(quota) if quota > 0 else "max"
        if period:
            value += f" {period}"
        yield ("cpu.max", value)
    if cpu.get("cpus"):
        yield ("cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        yield ("cpuset.mems", cpu["mems"])


def pids_writes(pids: dict[str, Any]) -> Iterator[Write]:
    if "limit" in pids:
        limit = pids["limit"]
        yield ("pids.max", pids_max(limit))


_IO_MAX_KEYS = (
    ("throttleReadBpsDevice", "rbps"),
    ("throttleWriteBpsDevice", "wbps"),
    ("throttleReadIOPSDevice", "riops"),
    ("throttleWriteIOPSDevice", "wiops"),
)


def io_writes(blkio: dict[str, Any], bfq: bool) -> Iterator[Write]:
    """With BFQ the blkio weight goes unconverted to io.bfq.weight (runc's choice)."""
    if blkio.get("weight"):
        if bfq:
            yield ("io.bfq.weight", str(blkio["weight"]))
        else:
            yield ("io.weight", str(blkio_to_io_weight(blkio["weight"])))
    for wd in blkio.get("weightDevice") or ():
        if wd.get("weight"):
            name = "io.bfq.weight" if bfq else "io.weight"
            yield (name, f"{wd['major']}:{wd['minor']} {wd['weight']}")
    for key, word in _IO_MAX_KEYS:
        for t in blkio.get(key) or ():
            yield ("io.max", f"{t['major']}:{t['minor']} {word}={t['rate']}")


def hugetlb_writes(limits: list[dict[str, Any]]) -> Iterator[Write]:
    for h in limits:
        yield (f"hugetlb.{h['pageSize']}.max", str(h["limit"]))
        yield (f"?hugetlb.{h['pageSize']}.rsvd.max", str(h["limit"]))


def rdma_writes(rdma: dict[str, Any]) -> Iterator[Write]:
    for device, limit in (rdma or {}).items():
        yield ("rdma.max", rdma_line(device, limit))


def check_unified_key(key: str) -> None:
    if "/" in key or key in (".", ".."):
        raise CgroupError(f"linux.resources.unified: {key!r} must be a file name (no slashes)")
    import re  # only for `unified`: every create would pay ~6 ms to import it

    if not re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z0-9_.]+", key):
        raise CgroupError(
            f"linux.resources.unified: {key!r} must be in the form CONTROLLER.PARAMETER"
        )


def unified_writes(unified: dict[str, str]) -> Iterator[Write]:
    for key, value in unified.items():
        check_unified_key(key)
        yield (key, str(value))


def to_files(resources: dict[str, Any], bfq: bool = False) -> Iterator[Write]:
    """Every file write for `resources`, in runc's order (unified last: it overrides)."""
    yield from pids_writes(resources.get("pids") or {})
    yield from memory_writes(resources.get("memory") or {})
    yield from io_writes(resources.get("blockIO") or {}, bfq)
    yield from cpu_writes(resources.get("cpu") or {})
    yield from hugetlb_writes(resources.get("hugepageLimits") or [])
    yield from rdma_writes(resources.get("rdma") or {})
    yield from unified_writes(resources.get("unified") or {})


def controller_of(name: str) -> str:
    return name.lstrip("?").split(".", 1)[0]


# The linux.resources field each v2 file is written for (errors name the field).
_FIELDS = {
    "memory.swap.max": "memory.swap",
    "memory.max": "memory.limit",
    "memory.low": "memory.reservation",
    "cpu.idle": "cpu.idle",
    "cpu.weight": "cpu.shares",
    "cpu.max.burst": "cpu.burst",
    "cpu.max": "cpu.quota",
    "cpuset.cpus": "cpu.cpus",
    "cpuset.mems": "cpu.mems",
    "pids.max": "pids.limit",
    "rdma.max": "rdma",
}


def field_of(name: str, value: str, resources: dict[str, Any]) -> str:
    """The linux.resources field a write of `value` to file `name` comes from."""
    name = name.lstrip("?")
    if name in _FIELDS:
        return f"linux.resources.{_FIELDS[name]}"
    if name in ("io.weight", "io.bfq.weight"):
        per_device = ":" in value.split(" ", 1)[0]
        return "linux.resources.blockIO." + ("weightDevice" if per_device else "weight")
    if name == "io.max":
        word = value.split(" ", 1)[-1].split("=", 1)[0]
        key = next((k for k, w in _IO_MAX_KEYS if w == word), "")
        return f"linux.resources.blockIO.{key}" if key else "linux.resources.blockIO"
    if name.startswith("hugetlb.") and name not in (resources.get("unified") or {}):
        size = name.split(".")[1]
        for i, h in enumerate(resources.get("hugepageLimits") or ()):
            if isinstance(h, dict) and h.get("pageSize") == size:
                return f"linux.resources.hugepageLimits[{i}]"
    return f'linux.resources.unified["{name}"]'


def missing_controller(controller: str) -> str:
    """What create and check both say of a controller this host's cgroup v2 lacks."""
    return f"this host's cgroup v2 has no {controller} controller"
