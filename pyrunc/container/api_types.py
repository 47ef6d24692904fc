"""The shapes the Python API returns: the OCI state and runc's `events --stats` data.

Typing only (TypedDicts are plain dicts at run time); imported where a caller or a
type checker asks for them, never on the CLI's paths.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class State(TypedDict):
    """The OCI state document `pyrunc state` prints (with runc's extra fields)."""

    ociVersion: str
    id: str
    pid: int  # 0 once stopped
    status: str  # creating, created, running, paused, stopped
    bundle: str
    rootfs: str
    created: str  # RFC 3339, UTC
    owner: str
    annotations: NotRequired[dict[str, str]]


class MemoryEntry(TypedDict):
    """One memory counter in bytes; usage and max are absent when zero (runc's omitempty)."""

    limit: int
    failcnt: int
    usage: NotRequired[int]
    max: NotRequired[int]


class MemoryStats(TypedDict):
    usage: MemoryEntry
    swap: MemoryEntry
    kernel: MemoryEntry
    kernelTCP: MemoryEntry
    cache: NotRequired[int]
    raw: NotRequired[dict[str, int]]  # memory.stat as the kernel writes it


class CpuUsage(TypedDict):
    kernel: int  # nanoseconds
    user: int
    total: NotRequired[int]
    percpu: NotRequired[list[int]]


class CpuStats(TypedDict):
    usage: CpuUsage
    throttling: dict[str, int]  # periods, throttledPeriods, throttledTime when non-zero


class PidsStats(TypedDict, total=False):
    current: int
    limit: int  # absent: no limit


class Stats(TypedDict):
    """runc's types.Stats: the `data` of `pyrunc events --stats`, key for key."""

    cpu: CpuStats
    cpuset: dict[str, Any]
    memory: MemoryStats
    pids: PidsStats
    blkio: dict[str, Any]
    hugetlb: dict[str, Any]
    intel_rdt: dict[str, Any]
    network_interfaces: list[dict[str, Any]] | None
