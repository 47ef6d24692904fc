"""Let the kernel's cgroup-migration wait pass while the runtime does other work.

A write to cgroup.procs takes the kernel's cgroup_threadgroup_rwsem for writing, and
after ~25 ms without a migration anywhere on the host, taking it waits for an RCU
grace period: 8-15 ms asleep on this VM, the single largest cost of a `create`.
`start()` moves our own process into the cgroup it is already in (a no-op move that
takes the same lock) on a thread, at the beginning of create or exec; the main thread
meanwhile imports, validates and sets up, and the real move of the container's
process afterwards finds the lock warm (~0.1 ms). Any error is ignored: this only
saves time.
"""

from __future__ import annotations

import _thread
import os

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable

_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")  # pure v2, then the hybrid mount


def own_procs_file() -> str | None:
    """cgroup.procs of the cgroup this process is in, in its v2 hierarchy if mounted,
    else in the first v1 hierarchy found."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            candidates = [f"{root}{path.rstrip('/')}/cgroup.procs" for root in _ROOTS]
        else:
            name = controllers.split(",")[0].removeprefix("name=")
            candidates = [f"/sys/fs/cgroup/{name}{path.rstrip('/')}/cgroup.procs"]
        for candidate in candidates:
            if os.path.exists(candidate) and _is_own_v2_root(candidate, hierarchy):
                return candidate
    return None


def _is_own_v2_root(candidate: str, hierarchy: str) -> bool:
    # /sys/fs/cgroup/cgroup.procs of a v1 host is not a v2 file: need cgroup.controllers.
    if hierarchy != "0":
        return True
    return os.path.exists(os.path.join(os.path.dirname(candidate), "cgroup.controllers"))


_started: list[Callable[[], None]] = []  # one warm-up per process: main() may begin it


def start() -> Callable[[], None]:
    """Begin the no-op move on a thread (once per process); returns `wait`, to call
    before forking."""
    if _started:
        return _started[0]
    path = own_procs_file()
    if path is None:
        _started.append(_nothing)
        return _nothing
    done = _thread.allocate_lock()
    done.acquire()

    def move_self() -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        except OSError:
            pass
        finally:
            done.release()

    _thread.start_new_thread(move_self, ())

    def wait() -> None:
        done.acquire()
        done.release()

    _started.append(wait)
    return wait


def _nothing() -> None:
    return None
