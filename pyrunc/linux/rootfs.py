"""Building the container's root filesystem: propagation, the mounts list,
/dev, pivot_root (or move + chroot), masked and read-only paths."""

from __future__ import annotations

import errno
import os
import stat

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc import rootless
from pyrunc.linux import devices, lsm, mountinfo, mounts, paths
from pyrunc.linux import syscalls as sc
from pyrunc.linux.mount_options import PROPAGATION_OPTIONS, locked_flags, parse_options
from pyrunc.process.errors import step
from pyrunc.spec.config import Config, Mount

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable


def prepare_rootfs(
    cfg: Config, in_userns: bool, cgroup_mounter: Callable[[int, Mount], None]
) -> None:
    """Everything before the root switch, run in the container's mount namespace.

    Without a mount namespace (the config asked to share the runtime's), the mounts
    and devices go into the shared mount table as runc does; delete detaches them.
    """
    if has_mount_namespace(cfg):
        # Stop our mounts propagating to the host first (slave keeps host events visible).
        sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC, None)
        _make_parent_private(cfg.root_path)
        sc.mount(cfg.root_path, cfg.root_path, None, sc.MS_BIND | sc.MS_REC, None)
    else:
        _refuse_without_mount_namespace(cfg)
        if cfg.root_readonly:
            # A bind of the rootfs on itself, made read-only after the switch: only this
            # container's view of it (the host's shares the mount until delete undoes
            # it, undo_root_bind). runc skips root.readonly here without a word.
            sc.mount(cfg.root_path, cfg.root_path, None, sc.MS_BIND | sc.MS_REC, None)
    # mknod is not for a user namespace, the config's or the one the runtime runs in
    # (rootless podman's): the host's nodes are bound instead (runc's RunningInUserNS).
    in_userns = in_userns or rootless.in_user_namespace()
    root_fd = os.open(cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in cfg.mounts:
            # runc's text, naming the mount: a bare "no such device" leaves users guessing.
            where = f"{json.dumps(m.source)} to rootfs at {json.dumps(m.destination)}"
            with step(f"error mounting {where}"):
                _mount_one(root_fd, m, cfg, cgroup_mounter)
        if _needs_dev_setup(cfg):
            for dev in devices.devices_to_create(cfg.linux.devices):
                devices.create_device(root_fd, dev, bind_from_host=in_userns)
            devices.create_symlinks(root_fd)
        else:
            for dev in cfg.linux.devices:
                devices.create_device(root_fd, dev, bind_from_host=in_userns)
    finally:
        os.close(root_fd)
        mounts.release_prepared()


def has_mount_namespace(cfg: Config) -> bool:
    """A new or joined mount namespace, rather than the runtime's own."""
    return cfg.linux.namespace("mount") is not None


def _refuse_without_mount_namespace(cfg: Config) -> None:
    # These would act on paths the container shares with the host (a masked /proc/kcore
    # would be masked for the host too), so runc refuses them too.
    wanted = [
        name
        for name, given in (
            ("linux.maskedPaths", cfg.linux.masked_paths),
            ("linux.readonlyPaths", cfg.linux.readonly_paths),
            ("linux.rootfsPropagation", cfg.linux.rootfs_propagation),
        )
        if given
    ]
    if wanted:
        raise ValueError(f"{', '.join(wanted)}: need a mount namespace")


def undo_root_bind(root: str) -> None:
    """Detach the read-only bind of a rootfs on itself (prepare_rootfs, no mount
    namespace): the top mount at root only, never the engine's own mount below it."""
    try:
        sc.umount2(root, sc.MNT_DETACH)
    except OSError:
        pass  # already gone


def detach_mounts_under(root: str) -> None:
    """Undo the mounts a container without its own mount namespace left in ours."""
    points = [m.point for m in mountinfo.entries() if m.point != root and _is_under(m.point, root)]
    for point in sorted(points, key=len, reverse=True):
        try:
            sc.umount2(point, sc.MNT_DETACH)
        except OSError:
            pass  # already gone with its parent


def _make_parent_private(root: str) -> None:
    # pivot_root refuses a new root whose parent mount is shared; after the rslave
    # above that only happens in a joined mount namespace. Slaves stay slaves, so
    # host unmounts still reach the container (runc does the same).
    mnt, fields = _mount_of(root)
    if any(f.startswith("shared:") for f in fields):
        sc.mount(None, mnt, None, sc.MS_PRIVATE, None)


def _mount_of(path: str) -> tuple[str, list[str]]:
    """The mount point holding path (path itself included) and its optional fields."""
    best, best_fields = "/", []
    for m in mountinfo.entries():
        if _is_under(path, m.point) and len(m.point) >= len(best):
            best, best_fields = m.point, m.fields
    return best, best_fields


def _needs_dev_setup(cfg: Config) -> bool:
    """runc sets up /dev unless the config bind-mounts /dev from elsewhere."""
    for m in cfg.mounts:
        if paths.clean(m.destination) == "/dev":
            return not parse_options(m.options).is_bind
    return True


def _mount_one(
    root_fd: int, m: Mount, cfg: Config, cgroup_mounter: Callable[[int, Mount], None]
) -> None:
    if m.type == "cgroup":
        cgroup_mounter(root_fd, m)
        return
    try:
        mounts.mount_entry(root_fd, m, cfg.bundle, cfg.linux.mount_label)
    except PermissionError:
        if m.type != "sysfs":
            raise
        # Without its own network namespace the kernel refuses a new sysfs: bind the host's.
        opts = tuple(o for o in m.options if o != "ro") + ("rbind",)
        mounts.mount_entry(root_fd, Mount(m.destination, "bind", "/sys", opts), cfg.bundle)
        if "ro" in m.options:
            fd = paths.open_in_root(root_fd, m.destination)
            try:
                sc.mount(
                    None,
                    paths.fd_path(fd),
                    None,
                    sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC,
                    None,
                )
            finally:
                os.close(fd)


def switch_root(cfg: Config, no_pivot: bool) -> None:
    """Make the rootfs the process's `/`, detach the host's tree, set `/`'s propagation."""
    root = cfg.root_path
    os.chdir(root)
    if not has_mount_namespace(cfg):
        # pivot_root here would move the root of every host process: chroot only.
        _chroot_here()
        return
    if no_pivot:
        _hide_host_pseudo_fs(root)
        sc.mount(root, "/", None, sc.MS_MOVE, None)
        _chroot_here()
    else:
        _pivot_here()
    propagation = cfg.linux.rootfs_propagation
    if propagation and propagation not in _UNBINDABLE:
        # Only now: done before the switch it would change the host's view of the rootfs.
        sc.mount(None, "/", None, PROPAGATION_OPTIONS[propagation], None)


# Applied last, in finalize_rootfs: an unbindable mount cannot be a bind source, and the
# console and the masked and read-only paths are binds of paths on the rootfs, /dev and
# /proc (unbindable makes "/" one, runbindable every mount).
_UNBINDABLE = ("unbindable", "runbindable")


def _hide_host_pseudo_fs(root: str) -> None:
    """Without pivot_root the host's tree stays in our mount namespace, and a full
    proc or sysfs there lets the kernel allow a fresh, unmasked (and writable) one
    inside the container. Detach them, or cover the ones we may not unmount (as runc).
    """
    gone: list[str] = []
    for m in mountinfo.entries():
        if m.fstype not in ("proc", "sysfs") or m.root != "/":
            continue
        if any(_is_under(m.point, p) for p in (root, *gone)):
            continue
        try:
            sc.mount(None, m.point, None, sc.MS_SLAVE | sc.MS_REC, None)
            sc.umount2(m.point, sc.MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            # Locked in our user namespace: unmounting would reveal what is below.
            sc.mount("tmpfs", m.point, "tmpfs", 0, None)
        gone.append(m.point)


def _is_under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _chroot_here() -> None:
    os.chroot(".")
    os.chdir("/")


def _pivot_here() -> None:
    old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # pivot_root(".", ".") stacks the old root on top of the new one;
        # detaching it afterwards leaves only the container's tree.
        sc.pivot_root(".", ".")
        os.fchdir(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC, None)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(old_root)
    os.chdir("/")


def finalize_rootfs(cfg: Config) -> None:
    """After the switch: masked paths, read-only paths, read-only root.

    Every path is opened inside our new root with openat2 (no symlink, `..` or
    /proc magic link leads out) and the mount made on the fd.
    """
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for p in cfg.linux.readonly_paths:
            _readonly_path(root_fd, p)
        if cfg.linux.masked_paths:
            _mask_paths(root_fd, cfg.linux.masked_paths, cfg.linux.mount_label)
        for m in cfg.mounts:
            if mounts.readonly_later(m):
                mounts.remount_readonly(root_fd, m, cfg.root_path)
    finally:
        os.close(root_fd)
    if cfg.root_readonly:
        st = os.statvfs("/")
        sc.mount(
            None,
            "/",
            None,
            sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | locked_flags(st.f_flag),
            None,
        )
    propagation = cfg.linux.rootfs_propagation
    if propagation in _UNBINDABLE and has_mount_namespace(cfg):
        sc.mount(None, "/", None, PROPAGATION_OPTIONS[propagation], None)  # last: _UNBINDABLE


def _open_existing(root_fd: int, path: str) -> int | None:
    try:
        return paths.open_in_root(root_fd, path)
    except FileNotFoundError:
        return None


def _readonly_path(root_fd: int, path: str) -> None:
    fd = _open_existing(root_fd, path)
    if fd is None:
        return
    try:
        sc.mount(paths.fd_path(fd), paths.fd_path(fd), None, sc.MS_BIND | sc.MS_REC, None)
    finally:
        os.close(fd)
    # fd named what the bind now covers: reopen to reach the bind itself.
    fd = paths.open_in_root(root_fd, path)
    try:
        target = paths.fd_path(fd)
        keep = locked_flags(os.statvfs(target).f_flag)
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep, None)
    finally:
        os.close(fd)


def _open_dev_null(root_fd: int, masking: str) -> int:
    """The container's /dev/null, proven to be the null device (CVE-2025-31133).

    A /dev/null swapped for a symlink or another file would have us bind *that*
    (say /proc/sys/kernel/core_pattern, writable) over a masked path.
    """
    try:
        fd = paths.open_in_root(root_fd, "/dev/null")
    except FileNotFoundError:
        # Only /dev/null can be missing now (a /dev bound from elsewhere): fail closed.
        raise ValueError(f"masking {masking}: the container has no /dev/null") from None
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise ValueError(f"masking {masking}: the container's /dev/null is not the null device")
    return fd


# runc's maskDir: one block and one inode (its root): nothing can be written even
# if remounted writable. Some kernels (Ubuntu's 5.4) refuse nr_inodes=1: then 2.
_MASK_DATA = ("nr_blocks=1,nr_inodes=1", "nr_blocks=1,nr_inodes=2")


def _mask_dir(target: str, mount_label: str) -> None:
    for data in _MASK_DATA:
        try:
            label = lsm.with_mount_label(data, mount_label)
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY, label)
            return
        except OSError as e:
            if e.errno != errno.EINVAL or data == _MASK_DATA[-1]:
                raise


class _DirMask:
    """Masked directories share one read-only tmpfs (runc 1.4): the first one is
    mounted, the others are binds of it (a bind keeps its source's read-only)."""

    def __init__(self, root_fd: int, mount_label: str) -> None:
        self.root_fd, self.label, self.shared = root_fd, mount_label, -1

    def cover(self, fd: int, path: str) -> None:
        if self.shared >= 0:
            try:
                sc.mount(paths.fd_path(self.shared), paths.fd_path(fd), None, sc.MS_BIND, None)
                return
            except OSError:
                os.close(self.shared)  # fall back to a tmpfs each, as runc
                self.shared = -2
        _mask_dir(paths.fd_path(fd), self.label)
        if self.shared == -1:
            self.shared = paths.open_in_root(self.root_fd, path)  # the new tmpfs's root

    def close(self) -> None:
        if self.shared >= 0:
            os.close(self.shared)


def _mask_paths(root_fd: int, masked: tuple[str, ...], mount_label: str = "") -> None:
    null_fd = -1  # opened (and checked) once a file needs it
    dirs = _DirMask(root_fd, mount_label)
    done: set[str] = set()
    try:
        for path in masked:
            if paths.clean(path) in done:
                continue  # masked once: a second mount would only stack (runc skips it)
            done.add(paths.clean(path))
            fd = _open_existing(root_fd, path)
            if fd is None:
                continue  # nothing there to hide
            try:
                if paths.is_dir_fd(fd):
                    # A directory cannot take a file bind: an empty read-only tmpfs.
                    dirs.cover(fd, path)
                    continue
                if null_fd < 0:
                    null_fd = _open_dev_null(root_fd, path)
                sc.mount(paths.fd_path(null_fd), paths.fd_path(fd), None, sc.MS_BIND, None)
            finally:
                os.close(fd)
    finally:
        dirs.close()
        if null_fd >= 0:
            os.close(null_fd)
