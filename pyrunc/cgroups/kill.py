"""Killing every process of a container's cgroup (kill --all, delete --force)."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os
import time

from pyrunc.cgroups.manager import FROZEN, CgroupManager


def signal_all(manager: CgroupManager, sig: int) -> None:
    for pid in manager.pids():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_all(manager: CgroupManager, timeout: float = 5.0) -> None:
    """SIGKILL everything in the cgroup until it is empty (new forks race the first pass)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    if manager.pids() and manager.freezer_state() == FROZEN:
        # Frozen tasks (v1) keep SIGKILL pending: kill, then thaw so they can die.
        signal_all(manager, signal.SIGKILL)
        manager.thaw()
    while manager.pids() and time.monotonic() < deadline:
        signal_all(manager, signal.SIGKILL)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
