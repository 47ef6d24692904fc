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

# Runnable as a script from a checkout: the package lives beside tools/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BUSYBOX = "/bin/busybox"

def _base_config() -> dict[str, Any]:
    """`runc spec`'s example (pyrunc ships it for `pyrunc spec`), minus the terminal and
    the cgroup namespace: a config every runtime here accepts as is."""
    from pyrunc.spec.example import example

    cfg = example()
    cfg["process"]["terminal"] = False
    lx = cfg["linux"]
    lx["namespaces"] = [ns for ns in lx["namespaces"] if ns["type"] != "cgroup"]
    return cfg


BASE_CONFIG: dict[str, Any] = _base_config()


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
