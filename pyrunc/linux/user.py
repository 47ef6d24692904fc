"""`process.user`: groups, gid, uid, umask; uid/gid maps of a new user namespace."""

from __future__ import annotations

import ctypes
import os

from pyrunc.spec.config import IdMapping, User

_PR_SET_KEEPCAPS = 8
_libc = ctypes.CDLL(None, use_errno=True)


def _keepcaps(on: bool) -> None:
    if _libc.prctl(_PR_SET_KEEPCAPS, int(on), 0, 0, 0) < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def switch_user(user: User) -> None:
    """Become user.uid/gid keeping the permitted capabilities (they are set after)."""
    os.setgroups(list(user.additional_gids))
    _keepcaps(True)
    try:
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    finally:
        _keepcaps(False)


def apply_umask(user: User) -> None:
    os.umask(user.umask if user.umask is not None else 0o022)


def format_map(mappings: tuple[IdMapping, ...]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def write_id_maps(
    pid: int, uid_mappings: tuple[IdMapping, ...], gid_mappings: tuple[IdMapping, ...]
) -> None:
    """Written by the parent: only a process outside the new namespace may map it."""
    for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        if mappings:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(format_map(mappings))
