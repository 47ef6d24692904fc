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


def mountpoint_of(fstype: str) -> str | None:
    """Where the first mount of a filesystem type is, as mountinfo says (None: none)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[0] == fstype:
                return pre.split()[4]
    return None


@functools.cache
def cgroup2_mountpoint() -> str | None:
    """Where a cgroup2 hierarchy is mounted (pure v2, or a hybrid host's unified)."""
    return mountpoint_of("cgroup2")


def kernel_at_least(major: int, minor: int) -> bool:
    found = os.uname().release.split("-")[0].split(".")
    return (int(found[0]), int(found[1])) >= (major, minor)


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


def rdma_device() -> str | None:
    """An RDMA device the rdma controller can limit (its rdma.max names them), if any."""
    try:
        names = sorted(os.listdir("/sys/class/infiniband"))
    except FileNotFoundError:
        return None
    return names[0] if names else None


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


# -- capabilities and limits ----------------------------------------------------------------

CAP_SYS_RESOURCE = 24  # <linux/capability.h>


def userns_allowed() -> bool:
    """User namespaces may be made here (absent from a kernel built without them)."""
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            return int(f.read()) > 0
    except FileNotFoundError:
        return False


def capable(cap: int) -> bool:
    """Whether `cap` is in our effective set, and so in the runtime's (our child, root
    like us). Hosts differ: some bounding sets lack CAP_SYS_RESOURCE."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def nr_open() -> int:
    """fs.nr_open: no RLIMIT_NOFILE may exceed it, whatever the capabilities."""
    with open("/proc/sys/fs/nr_open") as f:
        return int(f.read())


def can_raise_nofile_to(hard: int) -> bool:
    """Whether setrlimit(RLIMIT_NOFILE) to `hard` would succeed for the runtime."""
    import resource

    current = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard <= current or (capable(CAP_SYS_RESOURCE) and hard <= nr_open())


# -- packages and services ------------------------------------------------------------------


def runc_binary() -> str | None:
    """The installed runc, wherever the host's PATH has it (/usr/sbin, /usr/local/sbin...)."""
    import shutil

    return shutil.which("runc")


def lxcfs_usable() -> bool:
    """lxcfs is installed and the kernel has FUSE for it (it need not be running: pyrunc
    starts it)."""
    import shutil

    return shutil.which("lxcfs") is not None and os.path.exists("/dev/fuse")


# -- security modules and seccomp -----------------------------------------------------------


def apparmor_enabled() -> bool:
    """As the kernel says it (runc's test): the module is on and securityfs shows it."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read(1) == "Y" and os.path.isdir("/sys/kernel/security/apparmor")
    except OSError:
        return False


def selinux_label() -> str | None:
    """Our own SELinux label where SELinux is enabled (selinuxfs mounted, a real label)."""
    if not os.path.exists("/sys/fs/selinux/enforce"):
        return None
    try:
        with open("/proc/self/attr/current") as f:
            label = f.read().strip("\0\n ")
    except OSError:
        return None
    return label if label and label != "kernel" else None


def libseccomp_loadable() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return True


# seccomp(2)'s number where the project's machines run (asm/unistd_64.h).
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}


def seccomp_flag_supported(flag: int) -> bool:
    """Whether this kernel knows a SECCOMP_FILTER_FLAG_* bit: seccomp(SET_MODE_FILTER)
    with no program fails EFAULT once the flags passed, EINVAL if one is unknown (a
    listener flag is asked together with NEW_LISTENER, which it needs). Nothing loads."""
    import ctypes
    import errno

    new_listener = 1 << 3
    libc = ctypes.CDLL(None, use_errno=True)
    nr = _SYS_SECCOMP[os.uname().machine]
    ret = libc.syscall(ctypes.c_long(nr), ctypes.c_uint(1), ctypes.c_uint(flag | new_listener),
                       ctypes.c_void_p(0))  # fmt: skip
    assert ret < 0, "seccomp(2) accepted a NULL program"
    return ctypes.get_errno() == errno.EFAULT


# -- scheduling and NUMA --------------------------------------------------------------------

CAP_SYS_NICE = 23  # <linux/capability.h>


def rt_group_sched() -> bool:
    """Whether the kernel groups realtime tasks (CONFIG_RT_GROUP_SCHED on v1): a new cpu
    cgroup then has cpu.rt_runtime_us at 0, and SCHED_FIFO/RR in it fail with EPERM
    until linux.resources.cpu.realtimeRuntime gives it some."""
    return not is_cgroup_v2() and v1_has("cpu", "cpu.rt_runtime_us")


def numa_online_nodes() -> list[int]:
    """The NUMA nodes online, as the kernel lists them ("0-1,3"); [] without NUMA."""
    try:
        with open("/sys/devices/system/node/online") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return []
    nodes: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        nodes.extend(range(int(low), int(high or low) + 1))
    return nodes


# set_mempolicy(2)'s number where the project's machines run (asm/unistd_64.h).
_SYS_SET_MEMPOLICY = {"x86_64": 238, "aarch64": 237}


def mempolicy_mode_known(mode: int, node: int = 0) -> bool:
    """Whether set_mempolicy(2) takes `mode` on `node` (MPOL_WEIGHTED_INTERLEAVE is 6.9+,
    MPOL_PREFERRED_MANY 5.15+); asked in a forked child, whose policy dies with it."""
    import ctypes

    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        mask = ctypes.c_ulong(1 << node)
        nr = _SYS_SET_MEMPOLICY[os.uname().machine]
        ok = libc.syscall(ctypes.c_long(nr), ctypes.c_int(mode), ctypes.byref(mask),
                          ctypes.c_ulong(65)) == 0  # fmt: skip
        os._exit(0 if ok else 1)
    return os.waitpid(pid, 0)[1] == 0


@functools.cache
def cpuset_move_keeps_asked_affinity() -> bool:
    """Whether a task moved into another cpuset cgroup keeps the CPUs it asked for with
    sched_setaffinity (Linux 6.2+ keeps them, intersected with the cpuset's) or gets
    the cpuset's CPUs (older kernels). Asked with a child on one CPU moved into a probe
    cpuset cgroup (v1 cpuset hierarchy, else the v2 root's child); True where there is
    no cpuset to move into (nothing touches the affinity then)."""
    allowed = sorted(os.sched_getaffinity(0))
    v1 = v1_mountpoint("cpuset")
    base = v1 or (CGROUP_ROOT if is_cgroup_v2() else None)
    if base is None or len(allowed) < 2:
        return True
    probe = os.path.join(base, f"pyrunc-test-probe-{os.getpid()}")
    os.mkdir(probe)
    try:
        if v1:  # a v1 cpuset takes no task before it has CPUs and memory nodes
            for name in ("cpuset.cpus", "cpuset.mems"):
                with (
                    open(os.path.join(base, name)) as src,
                    open(os.path.join(probe, name), "w") as dst,
                ):
                    dst.write(src.read())
        return _affinity_after_move(probe, allowed[-1]) == {allowed[-1]}
    finally:
        os.rmdir(probe)


def _affinity_after_move(cgroup: str, cpu: int) -> set[int]:
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.sched_setaffinity(0, {cpu})
        os.read(read_end, 1)  # until the parent has moved and looked at us
        os._exit(0)
    try:
        while os.sched_getaffinity(child) != {cpu}:
            pass  # the child has not got there yet
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(child))
        return set(os.sched_getaffinity(child))
    finally:
        os.write(write_end, b"x")
        os.waitpid(child, 0)
        os.close(read_end)
        os.close(write_end)
