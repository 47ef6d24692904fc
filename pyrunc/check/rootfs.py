"""The rootfs as the container will see it: its root, cwd and the program to run.

Paths are resolved with openat2(RESOLVE_IN_ROOT) from an fd of the rootfs, as
create does: a symlink in the rootfs is followed inside it, never onto the host.
A path that a mount of the config may cover is only a warning: what the rootfs
holds there now is not what the container will see.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any

from pyrunc.check.findings import ROOTFS, Finding, error, ok, warning
from pyrunc.spec.lenient import arr, integer, obj, text


def rootfs_path(doc: dict[str, Any], bundle: str) -> str | None:
    """The rootfs directory, or None if there is none (the semantic check says why)."""
    path = text(obj(doc.get("root")).get("path"))
    full = os.path.normpath(os.path.join(bundle, path)) if path else ""
    return full if full and os.path.isdir(full) else None


def check(doc: dict[str, Any], bundle: str) -> Iterator[Finding]:
    root = rootfs_path(doc, bundle)
    if root is None:
        return  # bundle/semantics reports a missing rootfs: nothing to look into
    yield ok(ROOTFS, "root.path", f"{root} is a directory")
    proc = doc.get("process")
    if not isinstance(proc, dict):
        return
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        covered = _mount_destinations(doc)
        yield from _cwd(fd, proc, covered)
        yield from _program(fd, proc, covered)
    finally:
        os.close(fd)


def _mount_destinations(doc: dict[str, Any]) -> list[str]:
    from pyrunc.linux.paths import clean

    found = []
    for m in arr(doc.get("mounts")):
        dest = text(obj(m).get("destination"))
        if dest.startswith("/"):
            found.append(clean(dest))
    return found


def _under_mount(path: str, covered: list[str]) -> str | None:
    for dest in covered:
        if path == dest or path.startswith(dest.rstrip("/") + "/"):
            return dest
    return None


def _cwd(root_fd: int, proc: dict[str, Any], covered: list[str]) -> Iterator[Finding]:
    cwd = proc.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        return  # the schema or semantic check reports it
    st, reason = _stat_in_root(root_fd, cwd)
    if st is not None and stat.S_ISDIR(st.st_mode):
        yield ok(ROOTFS, "process.cwd", f"{cwd} is a directory in the rootfs")
        return
    problem = f"{cwd} {reason or 'is not a directory'} in the rootfs"
    hint = f"create {cwd} in the rootfs, or set process.cwd to an existing directory"
    mount = _under_mount(_resolved(root_fd, cwd), covered)
    if mount:
        yield warning(ROOTFS, "process.cwd", f"{problem} (mounts put {mount} over it)", hint)
    else:
        yield error(ROOTFS, "process.cwd", problem, hint)


def _resolved(root_fd: int, path: str) -> str:
    from pyrunc.linux.paths import resolve_in_root

    try:
        return resolve_in_root(root_fd, path)
    except OSError:
        return path


def _stat_in_root(root_fd: int, path: str) -> tuple[os.stat_result | None, str]:
    """stat of path resolved inside the rootfs, or None and why not."""
    from pyrunc.linux.paths import open_in_root

    try:
        fd = open_in_root(root_fd, path)
    except OSError as e:
        return None, _reason(e)
    try:
        return os.fstat(fd), ""
    finally:
        os.close(fd)


def _reason(e: OSError) -> str:
    import errno

    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return "does not exist"
    return os.strerror(e.errno or 0).lower()


# ------------------------------------------------------------------ args[0]


def _program(root_fd: int, proc: dict[str, Any], covered: list[str]) -> Iterator[Finding]:
    from pyrunc.linux.execute import ExecError, env_dict

    args = arr(proc.get("args"))
    if not args or not isinstance(args[0], str) or not args[0]:
        return  # the schema or semantic check reports it
    env = tuple(e for e in arr(proc.get("env")) if isinstance(e, str))
    try:
        search = env_dict(env).get("PATH")
    except ExecError as e:
        yield error(ROOTFS, "process.env", str(e), 'write each entry as "NAME=value"')
        return
    user = obj(proc.get("user"))
    ids = _Ids(
        integer(user.get("uid")) or 0,
        integer(user.get("gid")) or 0,
        {g for g in arr(user.get("additionalGids")) if integer(g) is not None},
    )
    yield _look_path(root_fd, args[0], text(proc.get("cwd")) or "/", search, ids, covered)


class _Ids:
    def __init__(self, uid: int, gid: int, groups: set[int]) -> None:
        self.uid, self.gid, self.groups = uid, gid, groups

    def may_exec(self, st: os.stat_result) -> bool:
        """access(X_OK) as the container's user would get it (root: any x bit)."""
        if self.uid == 0:
            return bool(st.st_mode & 0o111)
        if st.st_uid == self.uid:
            return bool(st.st_mode & 0o100)
        if st.st_gid == self.gid or st.st_gid in self.groups:
            return bool(st.st_mode & 0o010)
        return bool(st.st_mode & 0o001)


def candidates(arg0: str, cwd: str, search: str | None) -> list[str]:
    """Where the container's exec looks for arg0, in order (Go's LookPath, as init does)."""
    from pyrunc.linux.execute import DEFAULT_PATH

    if "/" in arg0:
        return [arg0 if arg0.startswith("/") else os.path.join(cwd, arg0)]
    dirs = (DEFAULT_PATH if search is None else search).split(":")
    return [os.path.join(d or cwd, arg0) if (d or cwd).startswith("/") else "" for d in dirs]


def _look_path(
    root_fd: int, arg0: str, cwd: str, search: str | None, ids: _Ids, covered: list[str]
) -> Finding:
    at = "process.args[0]"
    tried = [c for c in candidates(arg0, cwd, search) if c]
    denied = ""
    for path in tried:
        st, _ = _stat_in_root(root_fd, path)
        if st is None:
            continue
        if stat.S_ISREG(st.st_mode) and ids.may_exec(st):
            shown = _resolved(root_fd, path)
            via = f" ({shown})" if shown != path else ""
            return ok(ROOTFS, at, f"{path}{via} is an executable file in the rootfs")
        denied = denied or path
        if "/" in arg0:
            break
    if denied:
        what = f"{denied} is not an executable file for uid {ids.uid}"
        hint = f"chmod +x {denied} in the rootfs, or run another program"
    elif "/" in arg0:
        what = f"{tried[0]} does not exist in the rootfs"
        hint = "install it in the rootfs, or correct the path"
    else:
        what = f'"{arg0}" not found in the rootfs along PATH {search or "(default)"}'
        hint = "install it in the rootfs, give its full path, or set PATH in process.env"
    mount = next((m for p in tried if (m := _under_mount(_resolved(root_fd, p), covered))), None)
    if mount and not denied:
        return warning(ROOTFS, at, f"{what} (mounts put {mount} over part of the search)", hint)
    return error(ROOTFS, at, what, hint)
