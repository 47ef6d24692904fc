"""The `process.capabilities` section: bounding, effective, permitted, inheritable, ambient.

python-prctl has no ambient set and stops before CAP_CHECKPOINT_RESTORE, so the
sets are applied with capset(2)/prctl(2) directly.
"""

from __future__ import annotations

import ctypes
import os

from pyrunc.spec.capnames import CAPABILITIES
from pyrunc.spec.config import Capabilities

CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAPABILITIES)}

_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _fail(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


_last_cap: list[int] = []  # a cache without functools (and the collections it imports)


def last_cap() -> int:
    """Read once, before the root switch: the container may have no /proc at all."""
    if not _last_cap:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            _last_cap.append(int(f.read()))
    return _last_cap[0]


def mask_of(names: tuple[str, ...]) -> int:
    """Bit mask of capability names; unknown names raise ValueError."""
    mask = 0
    for name in names:
        if name not in CAP_NUMBERS:
            raise ValueError(f"unknown capability {name!r}")
        mask |= 1 << CAP_NUMBERS[name]
    return mask


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    ret = _libc.prctl(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )
    if ret < 0:
        _fail("prctl")
    return ret


def drop_bounding(keep_mask: int) -> None:
    """Drop every capability not in keep_mask from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(last_cap() + 1):
        if not keep_mask & (1 << cap) and _prctl(_PR_CAPBSET_READ, cap):
            _prctl(_PR_CAPBSET_DROP, cap)


def set_sets(effective: int, permitted: int, inheritable: int) -> None:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(header), data) < 0:
        _fail("capset")


def set_ambient(mask: int) -> None:
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(last_cap() + 1):
        if mask & (1 << cap):
            _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap)


def masks(caps: Capabilities | None) -> dict[str, int]:
    """The five sets as masks; no capabilities section means none at all (as runc)."""
    caps = caps or Capabilities()
    return {
        name: mask_of(getattr(caps, name))
        for name in ("bounding", "effective", "permitted", "inheritable", "ambient")
    }


def apply(m: dict[str, int]) -> None:
    """Final capability state; call after the uid switch (keepcaps held across it).

    The kernel only lets a capability be ambient if it is permitted and inheritable;
    like runc, ambient entries outside that are skipped rather than fatal (`runc spec`
    itself lists ambient caps without inheritable ones).
    """
    set_sets(m["effective"], m["permitted"], m["inheritable"])
    set_ambient(m["ambient"] & m["permitted"] & m["inheritable"])
