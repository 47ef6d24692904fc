"""A framed message channel between the runtime and its container-side stages.

Frames are SOCK_SEQPACKET datagrams holding one JSON object each. The kernel
keeps message boundaries, so a frame can never be split or merged; we still
bound its size and check its shape, since the other end runs inside the
container's namespaces (cf. CVE-2021-43784: trust no length you did not set).
"""

from __future__ import annotations

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.linux import fdpass

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

MAX_FRAME = 1 << 16


class ChannelError(Exception):
    pass


class Channel:
    def __init__(self, sock: fdpass.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = fdpass.socketpair(fdpass.AF_UNIX, fdpass.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, **fields: Any) -> None:
        frame = json.dumps({"type": kind, **fields}).encode()
        if len(frame) > MAX_FRAME:
            raise ChannelError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
        self.sock.send(frame)

    def send_fd(self, kind: str, fd: int, **fields: Any) -> None:
        """One frame carrying one file descriptor (SCM_RIGHTS)."""
        frame = json.dumps({"type": kind, **fields}).encode()
        if len(frame) > MAX_FRAME:
            raise ChannelError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
        fdpass.send_fds(self.sock, frame, [fd])

    def recv(self) -> dict[str, Any]:
        """Next message; raises ChannelError at EOF or on a malformed frame.

        File descriptors nobody asked for are refused: a frame that carries any is
        malformed (the kernel closes what does not fit our zero-sized buffer).
        """
        return self.recv_with_fds(0)[0]

    def recv_with_fds(self, max_fds: int) -> tuple[dict[str, Any], list[int]]:
        """Next message and the fds it carried (at most max_fds; the caller owns them)."""
        data, fds, flags = fdpass.recv_fds(self.sock, MAX_FRAME + 1, max_fds)
        try:
            return _decode(data, flags), fds
        except BaseException:
            fdpass.close_all(fds)
            raise

    def expect(self, kind: str) -> dict[str, Any]:
        msg = self.recv()
        if msg["type"] == "error":
            raise ChannelError(str(msg.get("msg", "unknown error")))
        if msg["type"] != kind:
            raise ChannelError(f"expected {kind!r}, got {msg['type']!r}")
        return msg

    def close(self) -> None:
        self.sock.close()


def _decode(data: bytes, flags: int) -> dict[str, Any]:
    """A frame's message, or ChannelError: every check a forged frame must pass."""
    if not data:
        raise ChannelError("peer closed the channel")
    if len(data) > MAX_FRAME or flags & fdpass.MSG_TRUNC:
        raise ChannelError("oversized frame")
    if flags & fdpass.MSG_CTRUNC:
        raise ChannelError("frame carried file descriptors it should not have")
    try:
        msg = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested 64 KiB deep
        raise ChannelError("malformed frame") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ChannelError("malformed frame")
    return msg
