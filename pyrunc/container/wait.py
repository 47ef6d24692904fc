"""Waiting for a process that is not our child, without polling /proc."""

from __future__ import annotations

import os
import select


def open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_exit(pid: int, timeout: float | None = None) -> bool:
    """True once pid has exited (a zombie counts); False on timeout."""
    fd = open_pidfd(pid)
    if fd is None:
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return bool(p.poll(None if timeout is None else int(timeout * 1000)))
    finally:
        os.close(fd)
