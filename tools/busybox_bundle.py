"""Build an OCI bundle around Debian's busybox-static (for the demo, tests, benchmarks).

    python3 tools/busybox_bundle.py DIR [--hostname NAME] [--memory BYTES] [-- ARGS...]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
from typing import Any

BUSYBOX = "/bin/busybox"

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

# What `runc spec` writes, minus the terminal: a config every runtime accepts.
BASE_CONFIG: dict[str, Any] = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {k: list(DEFAULT_CAPS) for k in
                         ("bounding", "effective", "permitted", "ambient")},
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
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def make_rootfs(rootfs: str) -> str:
    """A minimal busybox root: /bin/busybox, a link per applet, empty mount points."""
    if not os.path.exists(BUSYBOX):
        raise SystemExit(f"{BUSYBOX} not found: apt-get install busybox-static")
    for d in ("bin", "dev", "proc", "sys", "etc", "tmp", "root", "var", "run"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(rootfs, 0o755)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    for name in applets():
        link = os.path.join(rootfs, "bin", name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")
    return rootfs


def default_config(args: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(BASE_CONFIG)
    if args:
        cfg["process"]["args"] = list(args)
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def write_config(bundle: str, cfg: dict[str, Any]) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def make_bundle(bundle: str, cfg: dict[str, Any] | None = None,
                rootfs_from: str | None = None) -> str:
    """Create bundle/ with config.json and rootfs/ (copied from rootfs_from if given)."""
    os.makedirs(bundle, exist_ok=True)
    rootfs = os.path.join(bundle, "rootfs")
    if rootfs_from:
        shutil.copytree(rootfs_from, rootfs, symlinks=True)
    else:
        make_rootfs(rootfs)
    write_config(bundle, cfg or default_config())
    return bundle


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("--hostname", default="pyrunc")
    p.add_argument("--memory", type=int, default=None, help="memory limit in bytes")
    p.add_argument("--pids", type=int, default=None, help="pids limit")
    cmd = ["sh"]
    if "--" in argv:
        cmd, argv = argv[argv.index("--") + 1:], argv[:argv.index("--")]
    ns = p.parse_args(argv)
    cfg = default_config(cmd, hostname=ns.hostname)
    if ns.memory:
        cfg["linux"]["resources"]["memory"] = {"limit": ns.memory, "swap": ns.memory}
    if ns.pids:
        cfg["linux"]["resources"]["pids"] = {"limit": ns.pids}
    make_bundle(ns.bundle, cfg)
    print(ns.bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
