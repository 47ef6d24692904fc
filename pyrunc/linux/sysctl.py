"""The `linux.sysctl` section: written through a procfs the runtime checked itself."""

from __future__ import annotations

from pyrunc.linux import paths


def sysctl_path(key: str) -> str:
    """net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward; refuses `..` tricks."""
    rel = key.replace(".", "/")
    if not rel or rel.startswith("/") or any(p in ("", "..") for p in rel.split("/")):
        raise ValueError(f"invalid sysctl key {key!r}")
    return "/proc/sys/" + rel


def apply(sysctls: dict[str, str], proc_fd: int) -> None:
    """Write through proc_fd, a procfs root the runtime opened itself (CVE-2025-52881):
    the container's /proc could be a fake, or have a file bound over the sysctl."""
    for key, value in sysctls.items():
        paths.write_proc(proc_fd, sysctl_path(key).removeprefix("/proc/"), value)
