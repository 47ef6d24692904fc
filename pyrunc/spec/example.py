"""The config.json `pyrunc spec` writes: runc's example (`runc spec`), and its rootless form."""

from __future__ import annotations

import copy
import os

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

EXAMPLE: dict[str, Any] = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        # No ambient set (runc's since 1.2): without inheritable ones the kernel raises
        # none, and each would be a warning at every start.
        "capabilities": {k: list(_CAPS) for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "pyrunc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
            "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
        ],
    },
}  # fmt: skip


def example(rootless: bool = False) -> dict[str, Any]:
    spec = copy.deepcopy(EXAMPLE)
    from pyrunc.cgroups.manager import is_unified

    if not is_unified():  # runc's example has a cgroup namespace on a pure v2 host only
        lx = spec["linux"]
        lx["namespaces"] = [ns for ns in lx["namespaces"] if ns["type"] != "cgroup"]
    if rootless:
        _to_rootless(spec)
    return spec


def _to_rootless(spec: dict[str, Any]) -> None:
    """As runc's ToRootless: our own user namespace mapping only us, no network
    namespace, /sys bound from the host, no uid=/gid= mount options, no resources."""
    lx = spec["linux"]
    lx["namespaces"] = [ns for ns in lx["namespaces"] if ns["type"] not in ("network", "user")] + [
        {"type": "user"}
    ]
    lx["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    lx["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    lx.pop("resources", None)
    mounts = []
    for m in spec["mounts"]:
        if m["destination"] == "/sys":
            mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})  # fmt: skip
            continue
        opts = [o for o in m.get("options", []) if not o.startswith(("uid=", "gid="))]
        mounts.append({**m, "options": opts} if "options" in m else m)
    spec["mounts"] = mounts
