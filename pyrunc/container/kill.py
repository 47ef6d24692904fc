"""kill: signal the container's init (or, with --all, every process in its cgroup)."""

from __future__ import annotations

import _signal as signal_mod  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc.container import status as st
from pyrunc.container.wait import open_pidfd
from pyrunc.errors import ContainerNotRunning

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def kill(c: Container, sig: int, all_processes: bool = False) -> None:
    status = c.status()
    if sig == signal_mod.SIGKILL and not c.record.get("private_pid_ns", True):
        # runc: killing the init of a new pid namespace kills everything in it; in a
        # shared (or joined) one the rest would live on: every process of the cgroup
        # gets it, whether the init is still there or not.
        if _signal_cgroup(c, sig):
            _thaw_if_killed(c, sig, status)
            return
    if not st.allows("kill", status):
        # With --all, what the init left in its cgroup still gets the signal; and a
        # container that is not running is no error (runc; containerd's shim sends
        # `kill --all ID 9` after the init exits).
        if all_processes:
            _signal_leftovers(c, sig)
            return
        raise st.refusal("kill", status)
    if all_processes:
        from pyrunc.cgroups.kill import signal_all

        manager = c.cgroup_manager()
        if manager is not None:
            signal_all(manager, sig)
            _thaw_if_killed(c, sig, status)
            return
    _signal_init(c, sig)
    _thaw_if_killed(c, sig, status)


def _signal_leftovers(c: Container, sig: int) -> bool:
    from pyrunc.cgroups.kill import signal_all

    manager = c.cgroup_manager()
    if manager is None:
        return False
    signal_all(manager, sig)
    return True


def _signal_cgroup(c: Container, sig: int) -> bool:
    """sig to every process of the container's cgroup; False if there is none."""
    from pyrunc.cgroups.kill import signal_all

    manager = c.cgroup_manager()
    if manager is None or not manager.pids():
        return False
    signal_all(manager, sig)
    return True


def _thaw_if_killed(c: Container, sig: int, status: str) -> None:
    # A v1 frozen task keeps a SIGKILL pending until thawed (runc thaws too).
    if sig == signal_mod.SIGKILL and status == st.PAUSED:
        manager = c.cgroup_manager()
        if manager is not None:
            manager.thaw()


def _signal_init(c: Container, sig: int) -> None:
    # A pidfd pins the process: checked by start time, then signalled, with no pid-reuse race.
    fd = open_pidfd(c.pid)
    if fd is None:
        raise ContainerNotRunning()
    try:
        if not st.is_alive(c.pid, c.record["pid_start_time"]):
            raise ContainerNotRunning()
        try:
            signal_mod.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            raise ContainerNotRunning() from None
    finally:
        os.close(fd)
