"""linux.resources as systemd unit properties, as runc 1.1+ asks systemd for them on v2.

Pure: no D-Bus here (pyrunc/linux/dbus_systemd.py sends them). A property is
(name, (D-Bus signature, value)), jeepney's shape of an `a(sv)` entry. systemd owns the
limits it knows as properties (it writes them again on a daemon-reload, so a value
written only to a file would be undone); the files are written too, after, as runc does,
for what systemd has no property for and so both views agree at once.
"""

from __future__ import annotations

from pyrunc.cgroups import resources_v2
from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    Prop = tuple[str, tuple[str, Any]]

UINT64_MAX = 2**64 - 1  # systemd's "infinity"
DEFAULT_PERIOD = 100000  # the kernel's cpu.max period (µs) when none is given
# systemd versions that first knew a property (older ones get the files alone, as runc)
CPU_QUOTA_PERIOD_SINCE = 242
ALLOWED_CPUS_SINCE = 244


def unit_properties(
    container_id: str, slice_name: str, pid: int, resources: dict[str, Any], version: int
) -> tuple[list[Prop], dict[str, Any]]:
    """StartTransientUnit's properties for the container's scope, and the resources to
    write to its files (cpu.quota rounded as systemd will have it)."""
    props: list[Prop] = [
        ("Description", ("s", f"libcontainer container {container_id}")),
        ("Slice", ("s", slice_name)),
        ("Delegate", ("b", True)),
        ("PIDs", ("au", [pid])),
        ("MemoryAccounting", ("b", True)),
        ("CPUAccounting", ("b", True)),
        ("IOAccounting", ("b", True)),
        ("TasksAccounting", ("b", True)),
        ("DefaultDependencies", ("b", False)),
    ]
    limits, resources = resource_properties(resources, version)
    return props + limits, resources


def resource_properties(
    resources: dict[str, Any], version: int
) -> tuple[list[Prop], dict[str, Any]]:
    """The limits systemd has properties for (create and update alike), and the
    resources for the files (a rounded cpu quota replaced)."""
    props: list[Prop] = []
    props += device_properties(resources.get("devices"))
    props += memory_properties(resources.get("memory") or {})
    cpu = resources.get("cpu") or {}
    weight = resources_v2.shares_to_weight(cpu.get("shares") or 0)
    if weight:
        props.append(("CPUWeight", ("t", weight)))
    quota_props, quota = cpu_quota_properties(cpu.get("quota") or 0, cpu.get("period") or 0)
    if cpu.get("period") and version < CPU_QUOTA_PERIOD_SINCE:
        quota_props = [p for p in quota_props if p[0] != "CPUQuotaPeriodUSec"]
    props += quota_props
    if quota != (cpu.get("quota") or 0):
        resources = {**resources, "cpu": {**cpu, "quota": quota}}
    if version >= ALLOWED_CPUS_SINCE:
        props += cpuset_properties(cpu.get("cpus") or "", cpu.get("mems") or "")
    pids = resources.get("pids") or {}
    if "limit" in pids:
        props.append(("TasksMax", ("t", tasks_max(pids["limit"]))))
    weight = (resources.get("blockIO") or {}).get("weight") or 0
    if weight:
        # runc sets no IO property on v2; systemd's IOWeight is the same mapped value it
        # writes to io.weight (and io.bfq.weight), so its view agrees with the files.
        props.append(("IOWeight", ("t", resources_v2.blkio_to_io_weight(weight))))
    return props, resources


def memory_properties(mem: dict[str, Any]) -> list[Prop]:
    props: list[Prop] = []
    limit = _no_limit_if_negative(mem.get("limit") or 0)
    if limit:
        props.append(("MemoryMax", ("t", _bytes(limit))))
    reservation = _no_limit_if_negative(mem.get("reservation") or 0)
    if reservation:
        props.append(("MemoryLow", ("t", _bytes(reservation))))
    swap = _no_limit_if_negative(mem.get("swap") or 0)
    converted = resources_v2.swap_max(swap, limit)
    if converted or swap > 0:
        # swap == limit is "no swap": 0, which the file gets too (runc leaves systemd's
        # property unset there, so a daemon-reload would lift it)
        props.append(("MemorySwapMax", ("t", _bytes(converted))))
    return props


def _no_limit_if_negative(value: int) -> int:
    return -1 if value < 0 else value


def _bytes(value: int) -> int:
    """A memory value: negative is no limit (systemd's infinity)."""
    return UINT64_MAX if value < 0 else value


def cpu_quota_properties(quota: int, period: int) -> tuple[list[Prop], int]:
    """CPUQuotaPeriodUSec and CPUQuotaPerSecUSec, and the quota to write to cpu.max.

    systemd keeps the quota per second in steps of 10 ms (1% of a CPU): a quota that
    is not a multiple is rounded up, and the file gets the rounded quota too (runc's
    rule), or systemd's next write would change it."""
    props: list[Prop] = []
    if period:
        props.append(("CPUQuotaPeriodUSec", ("t", period)))
    if quota or period:
        per_sec = UINT64_MAX
        if quota > 0:
            per = period or DEFAULT_PERIOD
            per_sec = quota * 1_000_000 // per
            if per_sec % 10000:
                per_sec = (per_sec // 10000 + 1) * 10000
                quota = per_sec * per // 1_000_000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    return props, quota


def tasks_max(limit: int) -> int:
    """pids.limit as TasksMax: negative is infinity; 0 is 1 (systemd refuses 0, runc)."""
    if limit < 0:
        return UINT64_MAX
    return limit or 1


def cpuset_properties(cpus: str, mems: str) -> list[Prop]:
    props: list[Prop] = []
    if cpus:
        props.append(("AllowedCPUs", ("ay", range_to_bits(cpus, "linux.resources.cpu.cpus"))))
    if mems:
        props.append(
            ("AllowedMemoryNodes", ("ay", range_to_bits(mems, "linux.resources.cpu.mems")))
        )
    return props


def range_to_bits(ranges: str, field: str) -> bytes:
    """ "0-2,7" -> a bitmask, least significant byte first (systemd's AllowedCPUs)."""
    mask = 0
    for part in ranges.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            start, end = int(lo), int(hi if sep else lo)
        except ValueError:
            raise CgroupError(f"{field}: invalid range {part!r} in {ranges!r}") from None
        if start < 0 or start > end:
            raise CgroupError(f"{field}: invalid range {part!r} in {ranges!r}")
        mask |= ((1 << (end - start + 1)) - 1) << start
    if not mask:
        raise CgroupError(f"{field}: empty value {ranges!r}")
    return mask.to_bytes((mask.bit_length() + 7) // 8, "little")


# -- devices -----------------------------------------------------------------------------
def device_properties(
    spec_rules: list[dict[str, Any]] | None, proc_devices: str = "/proc/devices"
) -> list[Prop]:
    """DevicePolicy and DeviceAllow for the config's rules plus runc's defaults.

    systemd's list can only allow on top of "deny all" (strict) or allow everything
    (auto): a rule it cannot express (a deny after allows, a major with no name) leaves
    the devices to our own eBPF filter alone, which is installed in any case."""
    from pyrunc.cgroups.resources_v1 import DEFAULT_DEVICE_RULES

    rules = [_spec_rule(r) for r in spec_rules or [{"allow": False}]]
    rules += [_text_rule(t) for t in DEFAULT_DEVICE_RULES]
    allow_all = False  # ebpf.py's start: deny all
    allowed: list[tuple[str, str]] = []
    for allow, kind, major, minor, access in rules:
        if kind == "a" and set(access) >= set("rwm"):
            allow_all, allowed = allow, []  # a wildcard rule replaces all before it
            continue
        if allow_all or not allow:
            if allow_all and allow:
                continue  # allowed already
            return []  # a deny systemd's allow list cannot say
        entry = _device_entry(kind, major, minor, proc_devices)
        if entry is None:
            return []
        allowed.append((entry, access))
    if allow_all:
        return [("DevicePolicy", ("s", "auto")), ("DeviceAllow", ("a(ss)", []))]
    return [("DevicePolicy", ("s", "strict")), ("DeviceAllow", ("a(ss)", allowed))]


def _spec_rule(rule: dict[str, Any]) -> tuple[bool, str, int | None, int | None, str]:
    major, minor = rule.get("major"), rule.get("minor")
    return (
        bool(rule.get("allow")),
        rule.get("type") or "a",
        None if major is None or major < 0 else major,
        None if minor is None or minor < 0 else minor,
        rule.get("access") or "rwm",
    )


def _text_rule(text: str) -> tuple[bool, str, int | None, int | None, str]:
    kind, numbers, access = text.split()
    major, _, minor = numbers.partition(":")
    return (
        True,
        kind,
        None if major == "*" else int(major),
        None if minor == "*" else int(minor),
        access,
    )


def _device_entry(kind: str, major: int | None, minor: int | None, proc_devices: str) -> str | None:
    """systemd's name for a device (or a class of them); None where it has none."""
    if kind not in ("c", "b"):
        return None  # "a" with partial access: no single systemd entry
    group = "char" if kind == "c" else "block"
    if major is None:
        return f"{group}-*" if minor is None else None
    if minor is not None:
        return f"/dev/{group}/{major}:{minor}"  # systemd parses these without a node
    name = _major_name(group, major, proc_devices)
    return f"{group}-{name}" if name else None


def _major_name(group: str, major: int, proc_devices: str) -> str | None:
    """The driver's name of a major in /proc/devices ("136 pts" -> "pts")."""
    section = ""
    try:
        with open(proc_devices) as f:
            for line in f:
                if line.endswith("devices:\n"):
                    section = "char" if line.startswith("Character") else "block"
                    continue
                parts = line.split()
                if section == group and len(parts) == 2 and parts[0] == str(major):
                    return parts[1]
    except OSError:
        return None
    return None
