"""The `linux.sysctl` section: written through the container's own /proc/sys."""

from __future__ import annotations

import os


def sysctl_path(key: str) -> str:
    """net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward; refuses `..` tricks."""
    rel = key.replace(".", "/")
    if not rel or rel.startswith("/") or any(p in ("", "..") for p in rel.split("/")):
        raise ValueError(f"invalid sysctl key {key!r}")
    return "/proc/sys/" + rel


def apply(sysctls: dict[str, str]) -> None:
    for key, value in sysctls.items():
        path = sysctl_path(key)
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
