"""A /proc that shows the container's limits: lxcfs files bound over the host's.

Opt-in per container (annotation `run.pyrunc.procfs-view: "true"`) or for every
container (`pyrunc --procfs-view`). lxcfs is the engine: a FUSE filesystem whose
files answer with the cgroup limits and usage of the process that reads them, and
the uptime of that process's pid namespace init. pyrunc finds the host's lxcfs at
LXCFS_DIR or starts one there, then adds read-only bind mounts of its files to the
config's mounts list, so they are made inside the rootfs by the ordinary mount code
(openat2 inside the root), after /proc and /sys and before masked/read-only paths.

lxcfs is a host service shared by every container: pyrunc starts it when none
answers and never stops it. It runs in its own session, in the root cgroups, with
its log in LXCFS_LOG. If it dies, the files bound into running containers fail with
ENOTCONN ("Transport endpoint is not connected") until those containers are
recreated; the next create with the view detaches the dead mount and starts a new
lxcfs.
"""

from __future__ import annotations

import os
import time

from pyrunc.errors import ConfigError, CreateFailed

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.spec.config import Config, Mount

ANNOTATION = "run.pyrunc.procfs-view"
LXCFS_DIR = "/var/lib/lxcfs"  # Debian's (lxcfs.service)
LXCFS_PIDFILE = "/run/lxcfs.pid"  # lxcfs's default: its lock keeps one instance per host
LXCFS_LOG = "/var/log/pyrunc-lxcfs.log"
_LOCK = "/run/pyrunc-lxcfs.lock"  # serialises find-or-start between concurrent creates
# --enable-loadavg: without it /proc/loadavg is the host's. --enable-cfs: the CPU
# quota (cfs_quota_us / cfs_period_us) also limits the CPUs cpuinfo, stat and
# cpu/online show, not only the cpuset.
LXCFS_FLAGS = ("--enable-loadavg", "--enable-cfs")
START_TIMEOUT = 10.0
# Tests point this at a missing file to see the error a host without lxcfs gives.
BINARY_ENV = "PYRUNC_LXCFS"

# lxcfs file (under LXCFS_DIR) -> where it goes in the container.
PROC_FILES = ("meminfo", "cpuinfo", "stat", "uptime", "loadavg", "swaps")
SYS_FILES = ("devices/system/cpu/online",)
_BIND_OPTIONS = ("bind", "ro", "nosuid", "nodev", "noexec")


def wanted(annotations: dict[str, str], everywhere: bool) -> bool:
    """Whether the view is on: the annotation decides, else the global flag."""
    value = annotations.get(ANNOTATION)
    if value is None:
        return everywhere
    if value not in ("true", "false"):
        from pyrunc import jsonio as json

        raise ConfigError(f'{ANNOTATION}: must be "true" or "false", not {json.dumps(value)}')
    return value == "true"


def with_procfs_view(cfg: Config, everywhere: bool) -> Config:
    """cfg with the lxcfs binds appended to its mounts, lxcfs running; cfg if not wanted."""
    if not wanted(cfg.annotations, everywhere):
        return cfg
    destinations = _mounted_trees(cfg)
    if cfg.linux.namespace("mount") is None:
        raise ConfigError(f"{ANNOTATION}: needs a mount namespace (the binds would be the host's)")
    if "/proc" not in destinations:
        raise ConfigError(f"{ANNOTATION}: the config mounts no /proc to show it in")
    top = ensure_lxcfs()
    from pyrunc import record

    return record.replace(cfg, mounts=cfg.mounts + view_mounts(top, destinations))


def _mounted_trees(cfg: Config) -> set[str]:
    from pyrunc.linux.paths import clean

    return {clean(m.destination) for m in cfg.mounts if m.type in ("proc", "sysfs")}


def view_mounts(top: str, trees: set[str]) -> tuple[Mount, ...]:
    """The bind mounts (spec.config.Mount) of the lxcfs files into the trees the
    config mounts (/proc always; /sys/devices/system/cpu/online only with a /sys)."""
    from pyrunc.spec.config import Mount

    pairs = [(f"proc/{f}", f"/proc/{f}") for f in PROC_FILES]
    if "/sys" in trees:
        pairs += [(f"sys/{f}", f"/sys/{f}") for f in SYS_FILES]
    return tuple(Mount(dest, "bind", os.path.join(top, src), _BIND_OPTIONS) for src, dest in pairs)


# -- finding or starting the host's lxcfs ------------------------------------------------


def lxcfs_binary() -> str:
    """The lxcfs executable; CreateFailed if there is none."""
    given = os.environ.get(BINARY_ENV)
    if given:
        candidates = [given]
    else:
        search = os.environ.get("PATH") or "/usr/bin"
        candidates = [os.path.join(d, "lxcfs") for d in search.split(os.pathsep) if d]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    where = f" at {given}" if given else ""
    raise CreateFailed(f"procfs view: lxcfs is not installed{where} (apt-get install lxcfs)")


def ensure_lxcfs(top: str = LXCFS_DIR) -> str:
    """Make sure an lxcfs answers at top, starting one if needed; returns top."""
    binary = lxcfs_binary()
    if serving(top):
        return top
    import fcntl

    lock = os.open(_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not serving(top):  # another create may have started it while we waited
            _detach_dead(top)
            _start(binary, top)
    finally:
        os.close(lock)
    return top


def is_mounted(top: str) -> bool:
    """An lxcfs FUSE mount sits at top (in our mount namespace)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fields[4] == top and fstype == "fuse.lxcfs":
                return True
    return False


def serving(top: str) -> bool:
    """Mounted and answering: a dead lxcfs leaves its mount, which fails with ENOTCONN."""
    if not is_mounted(top):
        return False
    try:
        with open(os.path.join(top, "proc", "uptime"), "rb") as f:
            return bool(f.read(64))
    except OSError:
        return False


def _detach_dead(top: str) -> None:
    from pyrunc.linux import syscalls as sc

    while is_mounted(top):
        sc.umount2(top, sc.MNT_DETACH)


def _start(binary: str, top: str) -> None:
    """Start lxcfs detached from us (grandchild, own session, root cgroups) and wait
    until it answers. A helper child supervises the start and reports by exit status,
    then exits, so lxcfs is nobody's child here: it outlives this call and is never
    ours to reap."""
    os.makedirs(top, 0o755, exist_ok=True)
    log = os.open(LXCFS_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        pid = os.fork()
        if pid == 0:
            _helper(binary, top, log)  # never returns
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(log)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise CreateFailed(f"procfs view: lxcfs did not start ({_reason(code)}); see {LXCFS_LOG}")


_EXITED, _TIMEOUT, _NO_EXEC = 3, 4, 5


def _reason(code: int) -> str:
    if code == _TIMEOUT:
        return f"not answering at {LXCFS_DIR} after {START_TIMEOUT:g}s"
    if code == _NO_EXEC:
        return "could not run it"
    return f"it exited: {_last_log_line() or 'no message'}"


def _last_log_line() -> str:
    try:
        with open(LXCFS_LOG, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    # lxcfs ends with "Running destructor lxcfs_exit": the reason is the line before.
    said = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("Running ")]
    return said[-1] if said else ""


def _helper(binary: str, top: str, log: int) -> None:
    """The forked child: never returns; its exit status says how the start went."""
    code = _EXITED
    try:
        code = _launch_and_wait(binary, top, log)
    finally:
        os._exit(code)


def _launch_and_wait(binary: str, top: str, log: int) -> int:
    import _signal as signal  # not signal: CONTRIBUTING.md, Imports
    import subprocess

    os.setsid()  # no terminal, no process group of the engine's: signals to them miss it
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    _leave_cgroups()
    _write_quietly("/proc/self/oom_score_adj", "-1000")  # as Debian's lxcfs.service
    os.write(log, f"--- pyrunc starting {binary} at {time.ctime()}\n".encode())
    try:
        child = subprocess.Popen(
            [binary, *LXCFS_FLAGS, "--pidfile", LXCFS_PIDFILE, top],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, cwd="/",
        )  # fmt: skip
    except OSError as e:
        os.write(log, f"--- {e}\n".encode())
        return _NO_EXEC
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return _EXITED
        if serving(top):
            return 0
        time.sleep(0.01)
    return _TIMEOUT


def _leave_cgroups() -> None:
    """Into the root cgroup of every hierarchy: a host service must not sit in the
    caller's cgroup (an engine's or a shim's), whose removal it would block."""
    base = "/sys/fs/cgroup"
    _write_quietly(os.path.join(base, "cgroup.procs"), "0")  # pure v2
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        if not os.path.islink(path):
            _write_quietly(os.path.join(path, "cgroup.procs"), "0")


def _write_quietly(path: str, data: str) -> None:
    """Write to an existing control file only: never create one (on a v1 host
    /sys/fs/cgroup is a tmpfs, where open(path, "w") would leave a plain file)."""
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CLOEXEC), "w") as f:
            f.write(data)
    except OSError:
        pass  # best effort: a nested or unprivileged runtime may not be allowed
