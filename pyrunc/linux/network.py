"""Network namespace set-up: a new network namespace gets its loopback up.

One SIOCSIFFLAGS ioctl does it; pyroute2 costs ~100 ms to import on every create.
"""

from __future__ import annotations

import _socket  # socket.py wraps it in enums and selectors: ~8 ms of import
import fcntl
import struct

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def loopback_up() -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, req)[:18])[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))
    finally:
        s.close()
