"""tmpcopyup: fill a new tmpfs with what the directory it covers held (as runc).

Everything goes through directory fds, so nothing in the copied tree is followed.
"""

from __future__ import annotations

import os
import stat

from pyrunc.linux import paths


def copy_up(covered_fd: int, root_fd: int, dest: str) -> None:
    """Copy the directory covered_fd still names into the tmpfs now mounted on dest
    (reached again from root_fd, since covered_fd is below the new mount)."""
    src = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=covered_fd)
    try:
        dst = paths.open_in_root(root_fd, dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _copy_tree(src, dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_tree(src: int, dst: int) -> None:
    """Copy a directory's entries between two dir fds; nothing is ever followed."""
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            _copy_child_dir(src, dst, name)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src, dst, name)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISSOCK(st.st_mode):
            continue  # a socket without its listener is nothing to copy
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)


def _copy_child_dir(src: int, dst: int, name: str) -> None:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    s = os.open(name, flags, dir_fd=src)
    try:
        d = os.open(name, flags, dir_fd=dst)
        try:
            _copy_tree(s, d)
        finally:
            os.close(d)
    finally:
        os.close(s)


def _copy_file(src: int, dst: int, name: str) -> None:
    s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        d = os.open(name, flags, 0o600, dir_fd=dst)
        try:
            while os.sendfile(d, s, None, 1 << 20):
                pass
        finally:
            os.close(d)
    finally:
        os.close(s)
