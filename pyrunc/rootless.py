"""Rootless mode: whether this run is rootless, and where its state lives by default.

runc's rules (main.go, rootless_linux.go, moby/sys/userns), which engines rely on:
- `--rootless true|false` says it; `auto` (the default) means rootless when the euid is
  not 0, or when euid 0 runs in a user namespace other than the initial one (root in a
  user namespace cannot be sure to own the cgroups it is given). With --systemd-cgroup,
  runc asks systemd's bus who owns it and assumes root when it cannot tell; pyrunc has
  no bus client and takes that answer.
- The state root defaults to $XDG_RUNTIME_DIR/pyrunc (runc: .../runc) for an ordinary
  user and for root in a user namespace (unless $USER is root there); the real root
  keeps /run/pyrunc even when $XDG_RUNTIME_DIR is set (/run/user/0).

Every command imports this module: os only.
"""

from __future__ import annotations

import os

from pyrunc.errors import InvalidArgument

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterable

# The inode of the initial user namespace (the kernel's PROC_USER_INIT_INO).
_INIT_USER_NS_INO = 0xEFFFFFFD
# Go's strconv.ParseBool, which runc applies to --rootless values other than "auto".
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_flag(value: str) -> bool | None:
    """--rootless's value: True, False, or None for "auto" (and "", as runc)."""
    if value in ("auto", ""):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f'--rootless: strconv.ParseBool: parsing "{value}": invalid syntax')


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the initial one."""
    try:
        return os.stat("/proc/self/ns/user").st_ino != _INIT_USER_NS_INO
    except FileNotFoundError:
        return _uid_map_is_partial()
    except OSError:
        return False  # procfs in an unexpected state: assuming the initial one is safe


def _uid_map_is_partial() -> bool:
    # Kernels without /proc/self/ns/user: the initial namespace maps every id.
    try:
        with open("/proc/self/uid_map") as f:
            first = f.readline().split()
    except OSError:
        return False
    return first != ["0", "0", "4294967295"]


def decide(flag: bool | None, systemd_cgroup: bool) -> bool:
    """Whether to run rootless: the flag when it was given, else runc's auto rule."""
    if flag is not None:
        return flag
    if os.geteuid() != 0:
        return True
    if not in_user_namespace():
        return False
    return not systemd_cgroup  # see the module's docstring


def _honours_xdg_runtime_dir() -> bool:
    if os.geteuid() != 0:
        return True
    if not in_user_namespace():
        return False
    return os.environ.get("USER") != "root"


def xdg_state_root() -> str | None:
    """$XDG_RUNTIME_DIR/pyrunc when the default state root lives there, else None."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and _honours_xdg_runtime_dir():
        return os.path.join(xdg, "pyrunc")
    return None


def prepare_xdg_state_root(root: str) -> None:
    """Make the XDG state root as runc does: 0700 plus the sticky bit, so that the
    session's cleaner (XDG base directory spec) leaves it alone."""
    try:
        os.makedirs(root, 0o700, exist_ok=True)
    except OSError as e:
        raise InvalidArgument(
            f"the path in $XDG_RUNTIME_DIR must be writable by the user: mkdir {root}: "
            f"{e.strerror.lower()}"
        ) from None
    try:
        os.chmod(root, 0o1700)
    except OSError as e:
        raise InvalidArgument(
            f"you should check permission of the path in $XDG_RUNTIME_DIR: chmod {root}: "
            f"{e.strerror.lower()}"
        ) from None


# runc's validator's words (rootlessEUIDCheck), create's and check's alike.
REQUIRES_USER_NAMESPACE = "rootless container requires user namespaces"


def lacks_user_namespace(namespace_types: Iterable[str]) -> bool:
    """runc's rootlessEUIDCheck: an unprivileged caller's container needs a user
    namespace, its own or one joined (nothing else of it could be set up). Root in a
    user namespace, rootless podman's runtime, is not held to it: it may make the rest."""
    return os.geteuid() != 0 and "user" not in namespace_types
