"""Build an OCI bundle around Debian's busybox-static (for the demo, tests, benchmarks),
or a busybox rootfs tarball (for the runtime-tools suite: conformance/runtime-tools).

    python3 tools/busybox_bundle.py DIR [--hostname NAME] [--memory BYTES] [-- ARGS...]

Both the rootfs directory and the tarball hold /bin/busybox, /bin/<applet> links to it,
empty mount points and a small /etc/passwd and /etc/group; the tarball's directories and
/etc files are the caller's to choose.
"""

from __future__ import annotations

import argparse
import copy
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from typing import Any

# Runnable as a script from a checkout: the package lives beside tools/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BUSYBOX = "/bin/busybox"

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"
# Mount points and the like in a rootfs directory; a tarball says its own.
ROOTFS_DIRS = ("bin", "dev", "proc", "sys", "etc", "tmp", "root", "var", "run")


@functools.cache
def _base_config() -> dict[str, Any]:
    """`runc spec`'s example (pyrunc ships it for `pyrunc spec`), minus the terminal and
    the cgroup namespace: a config every runtime here accepts as is.

    Made on first use, so that building a rootfs (the runtime-tools runner) does not
    import pyrunc: that runner tests a runtime from outside, with the stdlib only.
    """
    from pyrunc.spec.example import example

    cfg = example()
    cfg["process"]["terminal"] = False
    lx = cfg["linux"]
    lx["namespaces"] = [ns for ns in lx["namespaces"] if ns["type"] != "cgroup"]
    return cfg


def __getattr__(name: str) -> Any:
    # BASE_CONFIG stays importable (`from tools.busybox_bundle import BASE_CONFIG`).
    if name == "BASE_CONFIG":
        return _base_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def require_busybox(busybox: str = BUSYBOX) -> None:
    if not os.path.exists(busybox):
        raise SystemExit(f"{busybox} not found: apt-get install busybox-static")


def applets(busybox: str = BUSYBOX) -> list[str]:
    """The applet names busybox lists, sorted, once each (never "busybox" itself)."""
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True)
    return sorted({a for a in out.stdout.split() if a and "/" not in a and a != "busybox"})


def make_rootfs(rootfs: str, busybox: str = BUSYBOX) -> str:
    """A minimal busybox root: /bin/busybox, a link per applet, empty mount points."""
    require_busybox(busybox)
    for d in ROOTFS_DIRS:
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(rootfs, 0o755)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(rootfs, "bin", "busybox"))
    for name in applets(busybox):
        link = os.path.join(rootfs, "bin", name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(rootfs, "etc", name), "w") as f:
            f.write(text)
    return rootfs


def make_rootfs_tarball(
    dest: str | os.PathLike[str],
    busybox: str = BUSYBOX,
    *,
    dirs: tuple[str, ...] = ("bin", "dev", "etc", "proc", "sys"),
    etc: Mapping[str, str] | None = None,
) -> str:
    """The busybox rootfs as a .tar.gz, shaped like runtime-tools' rootfs-<arch>.tar.gz.

    Entries are ./ (0755), ./<dir>/ for each of `dirs` (0755, empty), ./bin/busybox,
    ./bin/<applet> -> busybox, and ./etc/<name> for each of `etc` (default: passwd and
    group as make_rootfs writes them), all owned by root and dated as busybox is, so
    the same busybox gives the same members.
    """
    require_busybox(busybox)
    etc = {"passwd": PASSWD, "group": GROUP} if etc is None else etc
    mtime = int(os.stat(busybox).st_mtime)
    with tarfile.open(dest, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        # "./" becomes the bundle dir, which is the container's "/": 0755 or
        # processes running as another user cannot exec anything.
        tar.addfile(_tar_entry("./", tarfile.DIRTYPE, 0o755, mtime))
        for d in dirs:
            tar.addfile(_tar_entry(f"./{d}/", tarfile.DIRTYPE, 0o755, mtime))
        with open(busybox, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            tar.addfile(_tar_entry("./bin/busybox", tarfile.REGTYPE, 0o755, mtime, size), f)
        for applet in applets(busybox):
            link = _tar_entry(f"./bin/{applet}", tarfile.SYMTYPE, 0o777, mtime, link="busybox")
            tar.addfile(link)
        for name, text in etc.items():
            data = text.encode()
            member = _tar_entry(f"./etc/{name}", tarfile.REGTYPE, 0o644, mtime, len(data))
            tar.addfile(member, io.BytesIO(data))
    return os.fspath(dest)


def _tar_entry(
    name: str, kind: bytes, mode: int, mtime: int, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.mtime = mtime
    ti.size = size
    ti.linkname = link
    return ti


def default_config(args: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(_base_config())
    if args:
        cfg["process"]["args"] = list(args)
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def write_config(bundle: str, cfg: dict[str, Any]) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def make_bundle(
    bundle: str, cfg: dict[str, Any] | None = None, rootfs_from: str | None = None
) -> str:
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
        cmd, argv = argv[argv.index("--") + 1 :], argv[: argv.index("--")]
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
