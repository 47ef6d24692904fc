"""How a new process enters the container's cgroups without the kernel's migration wait.

Moving a process by writing its pid to cgroup.procs takes the kernel's
cgroup_threadgroup_rwsem for writing, and after a few quiet milliseconds on the host
taking it waits for an RCU grace period: 6-25 ms asleep on this VM, the largest single
cost of `create` and `exec` (benchmarks/RESULTS.md). Two routes do not take it:

- cgroup v2 (the unified mount of a hybrid host too): the process is born in its
  cgroup, clone3 with CLONE_INTO_CGROUP, which only reads that lock (crun's route);
- cgroup v1: a single-threaded process moves itself by writing "0" to the
  hierarchy's `tasks` file; the kernel skips the threadgroup lock for a thread moving
  only itself (the process is that one thread: a forked Python child is).

Whatever a route could not do (a kernel without clone3, a file the user may not
write) the runtime then does the usual way, by pid, with the usual errors: the
child reports what is left (`move_self`), the runtime finishes it (`finish`).
"""

from __future__ import annotations

import os

from pyrunc.cgroups.manager import add_pid
from pyrunc.errors import CgroupError
from pyrunc.record import dataclass


@dataclass(frozen=True)
class Placement:
    """The directories one new process joins: born in `birth` (cgroup v2), moving
    itself into `moves` (cgroup v1). sub: exec --cgroup's sub-cgroups (its errors)."""

    birth: str | None
    moves: tuple[str, ...]
    sub: bool = False


def fork(plan: Placement | None) -> tuple[int, bool]:
    """os.fork(), the child born in plan.birth where the kernel allows it:
    (pid, born), born telling both sides whether it was."""
    if plan is not None and plan.birth is not None and _single_threaded():
        from pyrunc.linux import syscalls as sc

        try:
            fd = os.open(plan.birth, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return os.fork(), False  # the runtime's write will name the problem
        try:
            return sc.fork_into_cgroup(fd), True
        except OSError:
            return os.fork(), False
        finally:
            os.close(fd)  # in the parent and in the child, which inherited it
    return os.fork(), False


def _single_threaded() -> bool:
    # The raw clone3 skips glibc's fork handlers: safe only with no other thread that
    # could hold a libc lock (a program using the Python API may have some).
    return len(os.listdir("/proc/self/task")) == 1


def move_self(plan: Placement, born: bool) -> list[str]:
    """In the new process, before anything else: into each v1 directory; returns the
    directories the runtime must still move it into (by pid)."""
    left = [plan.birth] if plan.birth is not None and not born else []
    for directory in plan.moves:
        try:
            fd = os.open(os.path.join(directory, "tasks"), os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            left.append(directory)
            continue
        try:
            os.write(fd, b"0")
        except OSError:
            left.append(directory)
        finally:
            os.close(fd)
    return left


def finish(plan: Placement, pid: int, left: list[str]) -> None:
    """The runtime's part: pid into what the process could not join itself."""
    allowed = set(plan.moves) | {plan.birth}
    if not isinstance(left, list) or not all(isinstance(d, str) and d in allowed for d in left):
        raise CgroupError("cgroup placement: a malformed report from the new process")
    for directory in left:
        add_pid(directory, pid, sub=plan.sub)
