"""AppArmor profiles and SELinux labels for the container process.

As runc: an apparmorProfile is applied by writing `exec <profile>` to the
process's attr/apparmor/exec (attr/exec on older kernels); where AppArmor is not
enabled that write fails and so does create (runc: "unable to apply apparmor
profile: ... invalid argument"). A selinuxLabel where SELinux is disabled is
refused when the config is checked (runc's validator). Never silently ignored.

Writes go through a procfs root the runtime opened itself and checked
(paths.open_procfs), never through the container's /proc (CVE-2019-16884,
CVE-2025-52881).
"""

from __future__ import annotations

import errno
import os

from pyrunc.linux import paths


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return os.path.isdir("/sys/kernel/security/apparmor") and f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """selinuxfs is mounted and we run under a real label (go-selinux's test)."""
    if not os.path.exists("/sys/fs/selinux/enforce"):
        return False
    try:
        with open("/proc/self/attr/current") as f:
            label = f.read().strip("\0\n ")
    except OSError:
        return False
    return bool(label) and label != "kernel"


def with_mount_label(data: str, label: str) -> str:
    """A mount's data with the SELinux context option for `label` (go-selinux's form:
    the label quoted, since it holds commas: s0:c1,c2)."""
    if not label:
        return data
    option = f'context="{label}"'
    return f"{data},{option}" if data else option


def label_mountpoint(path: str, label: str) -> None:
    """The label as the file's security.selinux xattr: mqueue takes no context= option."""
    if label:
        os.setxattr(path, "security.selinux", label.encode())


def _attr_path(proc_fd: int, lsm: str, attr: str) -> str:
    """thread-self: the attr applies to the calling thread's next exec."""
    modern = f"thread-self/attr/{lsm}/{attr}"
    try:
        os.close(paths.open_in_proc(proc_fd, modern, os.O_PATH))
        return modern
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
    return f"thread-self/attr/{attr}"


def _write_attr(proc_fd: int, lsm: str, attr: str, value: str) -> None:
    sub = _attr_path(proc_fd, lsm, attr)
    try:
        paths.write_proc(proc_fd, sub, value)
    except OSError as e:
        shown = "/proc/self/" + sub.split("/", 1)[1]
        raise OSError(e.errno, f"write {shown}: {os.strerror(e.errno or 0).lower()}") from None


def apply_apparmor(proc_fd: int, profile: str) -> None:
    """Profile applied at the next exec; an error where AppArmor cannot do it."""
    if not profile:
        return
    try:
        _write_attr(proc_fd, "apparmor", "exec", f"exec {profile}")
    except OSError as e:
        raise RuntimeError(f"apparmor failed to apply profile: {e.strerror}") from None


def apply_selinux(proc_fd: int, label: str) -> None:
    """Process label for the next exec (selinux_enabled() was checked at create)."""
    if not label:
        return
    try:
        _write_attr(proc_fd, "selinux", "exec", label)
    except OSError as e:
        raise RuntimeError(f"setting SELinux label: {e.strerror}") from None
