"""Resolving paths inside the container's rootfs without ever leaving it.

The rootfs is hostile: any component may be a symlink (absolute or with
`..`) aimed at the host. openat2(RESOLVE_IN_ROOT) makes the kernel treat the
rootfs fd as `/` for the whole walk, and the fd we get back is what we mount
on (via /proc/self/fd/N), so a symlink swapped in after the check cannot
redirect the mount.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import syscalls

_IN_ROOT = syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS
_MAX_SYMLINKS = 40  # as the kernel's MAXSYMLINKS


def clean(path: str) -> str:
    """Lexically clean an absolute path, with `..` never climbing above `/`."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def strip_root(root: str, path: str) -> str:
    """A destination written as a host path below the rootfs, as a container path.

    runc's LexicallyStripRoot: configs name destinations such as `$rootfs/mnt/x`, and
    runc mounts them at /mnt/x. Purely lexical; the result is resolved in the root.
    """
    root, path = clean(root), clean(path)
    if root == "/" or not (path == root or path.startswith(root + "/")):
        return path
    return path[len(root) :] or "/"


def lstat_in_root(root_fd: int, path: str) -> os.stat_result | None:
    """The last component of path as it is (a symlink not followed), its parents
    resolved inside the rootfs; None if there is nothing there."""
    parent, name = os.path.split(clean(path))
    if not name:
        return os.fstat(root_fd)
    try:
        pfd = open_in_root(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(pfd)


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open path (relative to the rootfs) with every symlink resolved inside it."""
    rel = clean(path).lstrip("/") or "."
    return syscalls.openat2(root_fd, rel, flags | os.O_CLOEXEC, 0, _IN_ROOT)


def resolve_in_root(root_fd: int, path: str) -> str:
    """path with every symlink followed inside the rootfs, dangling ones included.

    openat2 alone cannot create through a dangling symlink (`/mnt -> /tmp/x` with no
    /tmp/x): like runc's securejoin we follow it by hand, each target taken relative
    to the rootfs, so a destination lands where the container would see it. The
    result is only ever opened again with RESOLVE_IN_ROOT, so a racing symlink swap
    can move the target within the rootfs but never out of it.
    """
    todo = path.split("/")
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        target = _readlink_in_root(root_fd, done, part)
        if target is None:
            done.append(part)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        if target.startswith("/"):
            done = []
        todo = target.split("/") + todo
    return "/" + "/".join(done)


def _readlink_in_root(root_fd: int, parents: list[str], name: str) -> str | None:
    """The target of parents/name if it is a symlink; None if it is anything else or absent."""
    try:
        dir_fd = open_in_root(root_fd, "/".join(parents), os.O_PATH | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.EINVAL:  # not a symlink
            return None
        raise
    finally:
        os.close(dir_fd)


def mkdir_all_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create every missing directory of path inside the rootfs; return an O_PATH fd to it."""
    rel = resolve_in_root(root_fd, path).lstrip("/")
    fd = os.dup(root_fd)
    try:
        for part in rel.split("/") if rel else ():
            try:
                nxt = syscalls.openat2(
                    fd, part, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY, 0, _IN_ROOT
                )
            except FileNotFoundError:
                os.mkdir(part, mode, dir_fd=fd)  # O_PATH dir fds are valid dirfds
                nxt = syscalls.openat2(
                    fd, part, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY, 0, _IN_ROOT
                )
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def create_in_root(root_fd: int, path: str, is_dir: bool, mode: int = 0o755) -> int:
    """Make sure path exists inside the rootfs as a directory or a file; return an O_PATH fd."""
    if is_dir:
        return mkdir_all_in_root(root_fd, path, mode)
    parent, name = os.path.split(resolve_in_root(root_fd, path))
    pfd = mkdir_all_in_root(root_fd, parent)
    try:
        try:
            return syscalls.openat2(pfd, name, os.O_PATH | os.O_CLOEXEC, 0, _IN_ROOT)
        except FileNotFoundError:
            # O_NOFOLLOW|O_EXCL: never create through a dangling symlink.
            flags = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644, dir_fd=pfd))
            return syscalls.openat2(pfd, name, os.O_PATH | os.O_CLOEXEC, 0, _IN_ROOT)
    finally:
        os.close(pfd)


def fd_path(fd: int) -> str:
    """The magic-link path the kernel resolves back to exactly this fd's file."""
    return f"/proc/self/fd/{fd}"


def is_dir_fd(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)


# -- /proc and /sys writes (CVE-2019-16884, CVE-2025-52881) ----------------------------

# Beneath the procfs fd, never across a mount: an overmount (a file bound over
# /proc/sys/x or /proc/self/attr/exec) fails with EXDEV instead of taking the write.
_IN_PROC = syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_XDEV | syscalls.RESOLVE_NO_MAGICLINKS


def open_procfs(path: str = "/proc") -> int:
    """An O_PATH fd of a real procfs root; refuses a directory that only looks like one."""
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if (
            syscalls.fstatfs_type(fd) != syscalls.PROC_SUPER_MAGIC
            or os.fstat(fd).st_ino != syscalls.PROC_ROOT_INO
        ):
            raise OSError(errno.EXDEV, f"{path} is not the root of a procfs", path)
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_private_procfs() -> int:
    """A procfs of our pid namespace mounted nowhere (fsopen/fsmount), with only the
    pid directories (subset=pid, where the kernel has it): a handle for /proc/self/fd
    that neither the bundle nor the container's mounts can have touched, and that shows
    nothing of the host's pid namespace. Needs CAP_SYS_ADMIN over that pid namespace."""
    fs = syscalls.fsopen("proc", syscalls.FSOPEN_CLOEXEC)
    try:
        try:
            syscalls.fsconfig(fs, syscalls.FSCONFIG_SET_STRING, "subset", "pid")
        except OSError:
            pass  # kernel < 5.8: the whole procfs, of our pid namespace all the same
        syscalls.fsconfig(fs, syscalls.FSCONFIG_CMD_CREATE)
        return syscalls.fsmount(fs, syscalls.FSMOUNT_CLOEXEC)
    finally:
        os.close(fs)


def open_in_proc(proc_fd: int, subpath: str, flags: int) -> int:
    """Open subpath below a procfs root, refusing overmounts and anything not procfs."""
    fd = syscalls.openat2(proc_fd, subpath, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0, _IN_PROC)
    if syscalls.fstatfs_type(fd) != syscalls.PROC_SUPER_MAGIC:
        os.close(fd)
        raise OSError(errno.EXDEV, f"/proc/{subpath} is not on procfs", subpath)
    return fd


def write_proc(proc_fd: int, subpath: str, data: str) -> None:
    fd = open_in_proc(proc_fd, subpath, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def open_dir_in_root(path: str) -> int:
    """O_PATH fd of directory path resolved inside our (already switched) root.

    RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: neither `..`, absolute symlinks nor
    /proc/self/fd/N (a runtime fd, CVE-2024-21626) can lead out of it. Meant for
    the cwd, with fchdir: no getcwd() check afterwards (a seccomp profile may deny
    getcwd), and it can be opened before a filter that does not know openat2.
    """
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_in_root(root, path, os.O_PATH | os.O_DIRECTORY)
    except OSError as e:
        raise OSError(e.errno, os.strerror(e.errno or 0), path) from None
    finally:
        os.close(root)


def chdir_in_root(path: str) -> None:
    fd = open_dir_in_root(path)
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
