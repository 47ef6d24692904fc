"""Passing file descriptors over unix sockets (SCM_RIGHTS) with the C socket module.

`socket.py` wraps `_socket` in enums and selectors, about 8 ms of import on every
create and exec; what the runtime needs (socketpair, sendmsg, recvmsg and a few
constants) is all in `_socket` itself.
"""

from __future__ import annotations

import _socket
import os
import struct  # not array: it imports collections.abc (~2 ms)

_INT = struct.calcsize("i")

AF_UNIX = _socket.AF_UNIX
SOCK_STREAM = _socket.SOCK_STREAM
SOCK_SEQPACKET = _socket.SOCK_SEQPACKET
MSG_TRUNC = _socket.MSG_TRUNC
MSG_CTRUNC = _socket.MSG_CTRUNC

socket = _socket.socket
socketpair = _socket.socketpair


def dial_unix(path: str) -> socket:
    """A connected AF_UNIX stream socket, as Go's dialer (runc's) makes it: a leading
    '@' names Linux's abstract namespace. OSError as connect(2) gives it."""
    sock = socket(AF_UNIX, SOCK_STREAM)
    try:
        sock.connect("\0" + path[1:] if path.startswith("@") else path)
    except OSError:
        sock.close()
        raise
    return sock


def reason(e: OSError) -> str:
    """An OSError in Go's words ("no such file or directory")."""
    return os.strerror(e.errno).lower() if e.errno else str(e)


def connect_unix(path: str, flag: str) -> int:
    """A connected AF_UNIX stream socket's fd; a failure names the CLI flag that gave
    the path (--console-socket, --pidfd-socket), in one line."""
    from pyrunc.errors import InvalidArgument

    try:
        return dial_unix(path).detach()
    except OSError as e:
        raise InvalidArgument(f"{flag}: connect {path}: {reason(e)}") from None


def send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    """One message carrying `data` and the fds (SCM_RIGHTS)."""
    rights = struct.pack(f"{len(fds)}i", *fds)
    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])


def recv_fds(sock: _socket.socket, size: int, max_fds: int) -> tuple[bytes, list[int], int]:
    """(data, fds received, msg flags). The caller owns the fds; at most max_fds fit,
    the kernel closes the rest and sets MSG_CTRUNC."""
    space = _socket.CMSG_SPACE(max_fds * _INT) if max_fds else 0
    data, ancillary, flags, _ = sock.recvmsg(size, space)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            count = len(payload) // _INT
            fds.extend(struct.unpack(f"{count}i", payload[: count * _INT]))
    return data, fds, flags


def close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
