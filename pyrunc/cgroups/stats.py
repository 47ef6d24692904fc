"""Cgroup statistics in the shape of runc's `events` data (types.Stats in runc's
events/types.go): the same JSON keys, so tools that read runc's output read ours.

Omitted keys follow runc's `omitempty`: a zero usage is simply absent.
"""

from __future__ import annotations

import os

from pyrunc.cgroups.manager import read_file, read_keyed

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_UNLIMITED = (1 << 63) - 4096  # what v1 prints for "no limit", page-aligned


def _int(directory: str | None, name: str, default: int = 0) -> int:
    if directory is None:
        return default
    try:
        text = read_file(directory, name).strip()
    except OSError:
        return default
    if text == "max":
        return 0 if name.startswith("pids.") else _UNLIMITED
    try:
        return int(text)
    except ValueError:
        return default


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (0, None, [], {})}


def _entry(usage: int, limit: int, max_usage: int = 0, failcnt: int = 0) -> dict[str, int]:
    # MemoryEntry: limit and failcnt always, usage and max when non-zero.
    out = {"limit": limit, "failcnt": failcnt}
    out.update(_drop_empty({"usage": usage, "max": max_usage}))
    return out


def no_stats() -> dict[str, Any]:
    """The data of a cgroup with nothing to report: runc's zero-valued types.Stats."""
    return {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": {},
        "memory": {
            "usage": _entry(0, 0),
            "swap": _entry(0, 0),
            "kernel": _entry(0, 0),
            "kernelTCP": _entry(0, 0),
        },  # fmt: skip
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


# -- v1 ------------------------------------------------------------------------------------


def _blkio_v1(directory: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if directory is None:
        return out
    for key, name in (
        ("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
        ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive"),
    ):
        entries = []
        try:
            lines = read_file(directory, name).splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append(
                    {
                        "major": int(major),
                        "minor": int(minor),
                        "op": parts[1],
                        "value": int(parts[2]),
                    }  # fmt: skip
                )
        if entries:
            out[key] = entries
    return out


_V1_MEMORY_ENTRIES = (
    ("usage", "memory"),
    ("swap", "memory.memsw"),
    ("kernel", "memory.kmem"),
    ("kernelTCP", "memory.kmem.tcp"),
)


def v1_stats(dir_for: Callable[[str], str | None]) -> dict[str, Any]:
    data = no_stats()
    acct, cpu, mem, pids = dir_for("cpuacct"), dir_for("cpu"), dir_for("memory"), dir_for("pids")
    if acct:
        tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        ticks = read_keyed(acct, "cpuacct.stat")
        usage: dict[str, Any] = {
            "total": _int(acct, "cpuacct.usage"),
            "percpu": [int(x) for x in read_file(acct, "cpuacct.usage_percpu").split()],
            "kernel": ticks.get("system", 0) * tick_ns,
            "user": ticks.get("user", 0) * tick_ns,
        }
        data["cpu"]["usage"] = _drop_empty(usage) | {"kernel": usage["kernel"],
                                                      "user": usage["user"]}  # fmt: skip
    if cpu:
        st = read_keyed(cpu, "cpu.stat")
        data["cpu"]["throttling"] = _drop_empty(
            {
                "periods": st.get("nr_periods", 0),
                "throttledPeriods": st.get("nr_throttled", 0),
                "throttledTime": st.get("throttled_time", 0),
            }  # fmt: skip
        )
    if mem:
        raw = read_keyed(mem, "memory.stat")
        m = data["memory"]
        for key, prefix in _V1_MEMORY_ENTRIES:
            m[key] = _entry(
                _int(mem, f"{prefix}.usage_in_bytes"),
                _int(mem, f"{prefix}.limit_in_bytes"),
                _int(mem, f"{prefix}.max_usage_in_bytes"),
                _int(mem, f"{prefix}.failcnt"),
            )
        if raw.get("cache"):
            m["cache"] = raw["cache"]
        m["raw"] = raw
    if pids:
        data["pids"] = _drop_empty(
            {"current": _int(pids, "pids.current"), "limit": _int(pids, "pids.max")}
        )
    data["blkio"] = _blkio_v1(dir_for("blkio"))
    return data


# -- v2 ------------------------------------------------------------------------------------


def _io_v2(directory: str) -> dict[str, Any]:
    """io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") as runc maps it."""
    try:
        lines = read_file(directory, "io.stat").splitlines()
    except OSError:
        return {}
    ops = {"rbytes": ("ioServiceBytesRecursive", "Read"),
           "wbytes": ("ioServiceBytesRecursive", "Write"),
           "rios": ("ioServicedRecursive", "Read"),
           "wios": ("ioServicedRecursive", "Write")}  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        dev, *pairs = line.split()
        major, minor = (int(x) for x in dev.split(":"))
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key in ops:
                group, op = ops[key]
                out.setdefault(group, []).append(
                    {"major": major, "minor": minor, "op": op, "value": int(value)}
                )
    return out


def v2_stats(directory: str) -> dict[str, Any]:
    data = no_stats()
    st = read_keyed(directory, "cpu.stat")  # present even without the cpu controller
    data["cpu"]["usage"] = _drop_empty({"total": st.get("usage_usec", 0) * 1000}) | {
        "kernel": st.get("system_usec", 0) * 1000,
        "user": st.get("user_usec", 0) * 1000,
    }
    data["cpu"]["throttling"] = _drop_empty(
        {
            "periods": st.get("nr_periods", 0),
            "throttledPeriods": st.get("nr_throttled", 0),
            "throttledTime": st.get("throttled_usec", 0) * 1000,
        }  # fmt: skip
    )
    if os.path.exists(os.path.join(directory, "memory.current")):
        m = data["memory"]
        raw = read_keyed(directory, "memory.stat")
        events = read_keyed(directory, "memory.events")
        m["usage"] = _entry(
            _int(directory, "memory.current"),
            _int(directory, "memory.max"),
            _int(directory, "memory.peak"),
            events.get("max", 0),
        )
        m["swap"] = _entry(
            _int(directory, "memory.swap.current") + m["usage"].get("usage", 0),
            _int(directory, "memory.swap.max"),
        )
        if raw.get("file"):
            m["cache"] = raw["file"]
        m["raw"] = raw
    if os.path.exists(os.path.join(directory, "pids.current")):
        data["pids"] = _drop_empty(
            {"current": _int(directory, "pids.current"), "limit": _int(directory, "pids.max")}
        )
    data["blkio"] = _io_v2(directory)
    data["hugetlb"] = _hugetlb_v2(directory)
    return data


def _hugetlb_v2(directory: str) -> dict[str, Any]:
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith("hugetlb.") and name.endswith(".current") and "rsvd" not in name:
            size = name[len("hugetlb.") : -len(".current")]
            events = read_keyed(directory, f"hugetlb.{size}.events")
            out[size] = {"failcnt": events.get("max", 0)} | _drop_empty(
                {"usage": _int(directory, name)}
            )
    return out
