"""Ending and collecting the processes the runtime side forked (create and exec alike)."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc.errors import CreateFailed


def checked_pid(value: object) -> int:
    if not isinstance(value, int) or value <= 1:
        raise CreateFailed("container init reported an invalid pid")
    return value


def reap(pid: int) -> None:
    if pid <= 0:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def kill(pid: int) -> None:
    if pid > 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_and_reap(pid: int) -> None:
    kill(pid)
    if pid > 0:
        reap(pid)
