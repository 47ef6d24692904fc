"""What this host has, asked of the kernel the way `pyrunc check` asks it, so that tests
check the right thing on every machine of the project's kind rather than on the one they
were written on (hosts differ in block schedulers, mounted controllers, lxcfs, KVM...).

Answers come from the kernel, never from pyrunc's own code: a probe cgroup made and
removed at once shows exactly the files a container's cgroup would get.
"""

from __future__ import annotations

import functools
import os

CGROUP_ROOT = "/sys/fs/cgroup"


def is_cgroup_v2() -> bool:
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


@functools.cache
def v1_mountpoint(controller: str) -> str | None:
    """Where the v1 hierarchy holding `controller` is mounted, if it is."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fstype, _, super_opts = post.split()[:3]
            if fstype == "cgroup" and controller in super_opts.split(","):
                return pre.split()[4]
    return None


@functools.cache
def v1_cgroup_files(controller: str) -> frozenset[str]:
    """The files a new cgroup of `controller`'s v1 hierarchy has (empty: not mounted).

    The root cgroup is not asked: the kernel leaves some files out of it (pids.max,
    blkio.bfq.weight), so a child is made for the question and removed at once.
    """
    mountpoint = v1_mountpoint(controller)
    if mountpoint is None:
        return frozenset()
    probe = os.path.join(mountpoint, f"pyrunc-test-probe-{os.getpid()}")
    os.mkdir(probe)
    try:
        return frozenset(os.listdir(probe))
    finally:
        os.rmdir(probe)


def v1_has(controller: str, name: str) -> bool:
    return name in v1_cgroup_files(controller)


def blkio_weight_file() -> str | None:
    """The file a blockIO.weight lands in here (CFQ's, else BFQ's), or None where the
    block layer has no proportional-weight scheduler (no BFQ: only throttling)."""
    return next((n for n in ("blkio.weight", "blkio.bfq.weight") if v1_has("blkio", n)), None)


def hugepage_sizes() -> list[str]:
    """The huge page sizes this kernel knows, as the spec writes them ("2MB", "1GB")."""
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except FileNotFoundError:
        return []
    sizes = []
    for name in sorted(names):  # hugepages-2048kB
        kb = int(name.removeprefix("hugepages-").removesuffix("kB"))
        sizes.append(f"{kb // 1024}MB" if kb < 1 << 20 else f"{kb >> 20}GB")
    return sizes
