"""--pidfd-socket (runc 1.2): a pidfd of the container's init (create, run) or of an
exec'd process goes to whoever listens on an AF_UNIX socket, so that it can signal
that process without a pid-reuse race. runc's message carries "standard" (init) or
"setns" (exec) as its data, the pidfd as SCM_RIGHTS.
"""

from __future__ import annotations

import os

from pyrunc.errors import InvalidArgument

INIT, EXEC = b"standard", b"setns"


def connect(path: str) -> int:
    """Connected before anything is made: a wrong path fails the call up front."""
    from pyrunc.linux import fdpass

    return fdpass.connect_unix(path, "--pidfd-socket")


def send(sock_fd: int, pid: int, kind: bytes) -> None:
    """The process's pidfd, then the socket is closed (one message, as runc)."""
    from pyrunc.linux import fdpass

    sock = fdpass.socket(fileno=sock_fd)
    try:
        pidfd = os.pidfd_open(pid)
        try:
            fdpass.send_fds(sock, kind, [pidfd])
        finally:
            os.close(pidfd)
    except OSError as e:
        reason = os.strerror(e.errno).lower() if e.errno else str(e)
        raise InvalidArgument(f"--pidfd-socket: failed to send pidfd: {reason}") from None
    finally:
        sock.close()
