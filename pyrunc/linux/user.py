"""`process.user`: groups, gid, uid and umask (uid/gid maps are in userns.py)."""

from __future__ import annotations

import ctypes
import os

from pyrunc.spec.config import User

_PR_SET_KEEPCAPS = 8
_libc = ctypes.CDLL(None, use_errno=True)


def _keepcaps(on: bool) -> None:
    if _libc.prctl(_PR_SET_KEEPCAPS, int(on), 0, 0, 0) < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def switch_user(user: User) -> None:
    """Become user.uid/gid keeping the permitted capabilities (they are set after)."""
    if _setgroups_allowed():
        os.setgroups(list(user.additional_gids))
    _keepcaps(True)
    try:
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    finally:
        _keepcaps(False)


def _setgroups_allowed() -> bool:
    """False in a user namespace whose setgroups is "deny" (a rootless runtime must deny
    it to write the gid map): the groups stay as they are, as runc leaves them."""
    try:
        with open("/proc/self/setgroups", "rb") as f:
            return f.read().strip() != b"deny"
    except OSError:
        return True


def apply_umask(user: User) -> None:
    os.umask(user.umask if user.umask is not None else 0o022)
