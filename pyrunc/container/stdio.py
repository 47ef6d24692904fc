"""Give a container's init or an exec'd process other stdio than the caller's own.

The runtime's forked stages inherit fds 0-2 and pass them on. A library caller wants a
pipe or a file there without touching its own fds 0-2 (other threads use them), so the
fds are put in place in the child, right after the fork, by an at-fork hook. The
pending fds are per thread: only a fork by the thread inside `redirected` is affected.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Protocol

    class HasFileno(Protocol):
        def fileno(self) -> int: ...

    # An fd, an object with fileno() (an open file, a socket), or None: the caller's own.
    Stdio = int | HasFileno | None

_pending = threading.local()
_hooked = False
_hook_lock = threading.Lock()


def _fd(stream: Stdio) -> int | None:
    if stream is None or isinstance(stream, int):
        return stream
    return stream.fileno()


def _in_child() -> None:
    fds: tuple[int | None, ...] | None = getattr(_pending, "fds", None)
    if fds is None:
        return
    _pending.fds = None  # the grandchildren inherit the result, not the hook's work
    # Copies first: a source may itself be one of 0-2 (stdout=2).
    copies = [os.dup(fd) if fd is not None else None for fd in fds]
    for target, copy in enumerate(copies):
        if copy is not None:
            os.dup2(copy, target, inheritable=True)
            os.close(copy)


def _hook() -> None:
    global _hooked
    with _hook_lock:
        if not _hooked:
            os.register_at_fork(after_in_child=_in_child)
            _hooked = True


@contextmanager
def redirected(stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Iterator[None]:
    """Processes this thread forks inside the block get these as fds 0, 1 and 2."""
    fds = (_fd(stdin), _fd(stdout), _fd(stderr))
    if fds == (None, None, None):
        yield
        return
    _hook()
    _pending.fds = fds
    try:
        yield
    finally:
        _pending.fds = None
