"""A framed message channel between the runtime and its container-side stages.

Frames are SOCK_SEQPACKET datagrams holding one JSON object each. The kernel
keeps message boundaries, so a frame can never be split or merged; we still
bound its size and check its shape, since the other end runs inside the
container's namespaces (cf. CVE-2021-43784: trust no length you did not set).
"""

from __future__ import annotations

import json
import socket
from typing import Any

MAX_FRAME = 1 << 16


class ChannelError(Exception):
    pass


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, **fields: Any) -> None:
        frame = json.dumps({"type": kind, **fields}).encode()
        if len(frame) > MAX_FRAME:
            raise ChannelError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME}")
        self.sock.send(frame)

    def recv(self) -> dict[str, Any]:
        """Next message; raises ChannelError at EOF or on a malformed frame."""
        data, _, flags, _ = self.sock.recvmsg(MAX_FRAME + 1)
        if not data:
            raise ChannelError("peer closed the channel")
        if len(data) > MAX_FRAME or flags & socket.MSG_TRUNC:
            raise ChannelError("oversized frame")
        try:
            msg = json.loads(data)
        except ValueError:
            raise ChannelError("malformed frame") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ChannelError("malformed frame")
        return msg

    def expect(self, kind: str) -> dict[str, Any]:
        msg = self.recv()
        if msg["type"] == "error":
            raise ChannelError(str(msg.get("msg", "unknown error")))
        if msg["type"] != kind:
            raise ChannelError(f"expected {kind!r}, got {msg['type']!r}")
        return msg

    def close(self) -> None:
        self.sock.close()
