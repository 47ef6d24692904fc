"""The `mounts` section: mounting one entry, and the remounts that follow it.

`mount_entry` works against an fd opened inside the rootfs so no symlink can move
the target. Option parsing is in mount_options, /proc/self/mountinfo in mountinfo,
and tmpfs copy-up in tmpcopyup; they are imported here at the top so the container's
init has them loaded before it leaves the host.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrunc.linux import fdpass, lsm, mountinfo, paths, tmpcopyup, userns
from pyrunc.linux import syscalls as sc
from pyrunc.linux.mount_options import (
    MountOptions,
    bind_remount_flags,
    bind_wants_remount,
    locked_flags,
    locked_remount_flags,
    parse_options,
    statvfs_flags,
)
from pyrunc.record import replace
from pyrunc.spec.config import Config, Mount


def _source_for(m: Mount, bundle: str) -> str:
    if m.source and not os.path.isabs(m.source) and parse_options(m.options).is_bind:
        return os.path.join(bundle, m.source)
    return m.source


# What may be mounted over inside /proc: the files lxcfs emulates (runc's list).
_PROC_MOUNTABLE = frozenset({
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
    "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
})  # fmt: skip


def check_proc_destination(root_fd: int, m: Mount) -> None:
    """Refuse mounts that would cover part of the container's /proc (as runc does).

    A bind or tmpfs there hides what maskedPaths and readonlyPaths protect; the path
    is checked once its symlinks are resolved, so /vol -> /proc/sys is caught too.
    """
    bind = parse_options(m.options).is_bind
    if m.type in ("proc", "sysfs") and not bind:
        return
    dest = paths.resolve_in_root(root_fd, m.destination)
    if dest == "/proc":
        # A bind typed "proc" is still a bind (CVE-2019-16884's fake /proc): only a
        # real procfs may sit there, so what we later write below /proc is procfs.
        if bind and _is_procfs(m.source):
            return
        raise ValueError(f"{m.destination}: only a proc filesystem may be mounted on /proc")
    if dest.startswith("/proc/") and dest not in _PROC_MOUNTABLE:
        raise ValueError(f"{m.destination}: cannot be mounted because it is inside /proc")


def _is_procfs(path: str) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return sc.fstatfs_type(fd) == sc.PROC_SUPER_MAGIC
    finally:
        os.close(fd)


# What stage 1 prepared per idmap mount entry, in order (init inherits the fds):
# ("userns", fd) the user namespace to idmap with, the tree being cloned by init
# itself at its turn (no user namespace: it has the host's caps); or ("helper", job)
# the tree comes from the source helper's job at init's request.
_IDMAPPED: dict[Mount, list[tuple[str, int]]] = {}
# The source helper's job for each bind source outside the rootfs of a container with
# a user namespace, asked for only if init cannot reach the path (its root kept out of
# a 0700 directory): runc's mount source thread opens it from the host's user
# namespace in init's mount namespace. Not a clone made by stage 1 on the host: the
# host's mounts have no MNT_LOCK_* flags, so the container's root could then clear a
# ro or nodev the host's mount has (runc's mounts_sshfs.bats); init's copy has them.
_SOURCES: dict[Mount, list[int]] = {}
# init's end of the source helper's socket (_start_helper), if one was started.
_HELPER: list[fdpass.socket] = []
# A source helper's job: ("idmap", mount, source, userns fd) clones the source and
# idmaps the clone; ("open", mount, source, -1) opens the source O_PATH.
_Job = tuple[str, Mount, str, int]


def prepare_idmapped(cfg: Config) -> None:
    """Ready each idmap mount, and each bind source init may not reach, from the host's
    user namespace.

    Only stage 1 calls this; init inherits the fds (mount_entry). With a user
    namespace the idmapped tree is made by the source helper forked here, in the
    host's user namespace (MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the source's
    filesystem, which init then lacks). Without one, init keeps the host's
    capabilities and clones the source at its turn. Either way the clone is made in
    the container's mount namespace when init is at that entry, as runc does: a
    source below the rootfs then holds the mounts the entries before it made (runc's
    mount order tests), and the clone has the locks of that namespace's mounts.
    """
    in_userns = cfg.linux.namespace("user") is not None
    jobs: list[_Job] = []
    for m in cfg.mounts:
        is_bind = parse_options(m.options).is_bind
        if userns.wants_idmap(m):
            if not is_bind:
                raise ValueError(f"mounts: {m.destination}: idmap is only for bind mounts")
            ns = _idmap_userns(cfg, m)
            if in_userns:
                # Cloned by the helper in init's mount namespace: below the rootfs, as
                # init's earlier mounts made it; anywhere, with the kernel's locks on
                # the flags (a clone of the host's mount would have none).
                _IDMAPPED.setdefault(m, []).append(("helper", len(jobs)))
                jobs.append(("idmap", m, _source_for(m, cfg.bundle), ns))
            else:
                _IDMAPPED.setdefault(m, []).append(("userns", ns))
        elif is_bind and in_userns:
            source = _source_for(m, cfg.bundle)
            # Below the rootfs, init reaches it (and it may only exist once the
            # entries before it are mounted).
            if not _is_under(os.path.abspath(source), cfg.root_path):
                _SOURCES.setdefault(m, []).append(len(jobs))
                jobs.append(("open", m, source, -1))
    if jobs:
        _start_helper(cfg.root_path, jobs)


def _start_helper(root: str, jobs: list[_Job]) -> None:
    """Fork the source helper: it stays in the host's user namespace (it alone may
    idmap, and reach what the host's root may), joins init's mount namespace at init's
    first request and does the jobs init asks for, in any order: it clones and idmaps
    a source below the rootfs as init's earlier mounts made it, or opens a source
    init cannot reach (runc's host-side mount source thread). It ends when init has
    had them all, or closes its end."""
    ours, theirs = fdpass.socketpair(fdpass.AF_UNIX, fdpass.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper
        try:
            ours.close()
            keep = {theirs.fileno(), *(ns for *_, ns in jobs if ns >= 0)}
            sc.close_fds_except(keep, 3)  # the runtime's channel above all
            _serve(theirs, root, jobs)
        finally:
            os._exit(0)
    theirs.close()
    for *_, ns in jobs:
        if ns >= 0:
            os.close(ns)
    _HELPER.append(ours)


def _serve(sock: fdpass.socket, root: str, jobs: list[_Job]) -> None:
    joined = False
    for _ in jobs:  # each job at most once
        data, fds, _ = fdpass.recv_fds(sock, 16, 1)
        if not fds:
            return  # init is gone, or done with its mounts
        kind, m, source, ns = jobs[int(data)]
        try:
            if not joined:
                sc.setns(fds[0], sc.CLONE_NEWNS)
                joined = True
            if kind == "idmap":
                fd = _idmapped_now(m, source, ns, root)
            else:
                fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
        except ValueError as e:  # _idmapped_now's, naming the mount
            sock.send(str(e).encode())
            continue
        except OSError as e:
            sock.send(f"mounts: {m.destination}: {kind} source: {_strerror(e)}".encode())
            continue
        finally:
            fdpass.close_all(fds)
        fdpass.send_fds(sock, b"ok", [fd])
        os.close(fd)


def _from_helper(job: int) -> tuple[int, str]:
    """Have the source helper do a job, handing it our mount namespace: its fd, or -1
    and why not."""
    ns = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fdpass.send_fds(_HELPER[0], str(job).encode(), [ns])
        data, fds, _ = fdpass.recv_fds(_HELPER[0], 4096, 1)
    except OSError:
        return -1, ""  # the helper is gone
    finally:
        os.close(ns)
    if data != b"ok" or len(fds) != 1:
        fdpass.close_all(fds)
        return -1, data.decode(errors="replace")  # empty: the helper is gone
    return fds[0], ""


def _tree_from_helper(m: Mount, job: int) -> int:
    """m's idmapped tree, made by the source helper."""
    tree, why = _from_helper(job)
    if tree < 0:
        raise ValueError(why or f"mounts: {m.destination}: idmapped mount: the helper ended")
    return tree


def _idmap_userns(cfg: Config, m: Mount) -> int:
    """A user namespace with m's id mappings (its own, else the container's)."""
    uids = m.uid_mappings or cfg.linux.uid_mappings
    gids = m.gid_mappings or cfg.linux.gid_mappings
    joined = cfg.linux.namespace("user")
    if not (uids or gids) and joined is not None and joined.path:
        # The container's mappings are the joined namespace's own (runc reads them
        # from it): idmap with that namespace itself.
        return os.open(joined.path, os.O_RDONLY | os.O_CLOEXEC)
    if not uids or not gids:
        raise ValueError(
            f"mounts: {m.destination}: idmap needs uidMappings and gidMappings "
            "(on the mount or a user namespace's)"
        )
    return userns.userns_fd(uids, gids)


def _is_under(path: str, top: str) -> bool:
    path, top = paths.clean(path), paths.clean(top)
    return path == top or path.startswith(top.rstrip("/") + "/")


def release_prepared() -> None:
    """Close what stage 1 prepared and no entry used (init calls it after the mounts)."""
    fds = [fd for held in _IDMAPPED.values() for kind, fd in held if kind != "helper"]
    _IDMAPPED.clear()
    _SOURCES.clear()
    for fd in fds:
        if fd >= 0:
            os.close(fd)
    while _HELPER:
        _HELPER.pop().close()  # EOF: a helper still waiting ends


def _label_new_mount(root_fd: int, destination: str, label: str) -> None:
    fd = paths.open_in_root(root_fd, destination)  # the new mount's root, not the covered dir
    try:
        lsm.label_mountpoint(paths.fd_path(fd), label)
    finally:
        os.close(fd)


def _take_idmap(m: Mount) -> tuple[str, int] | None:
    held = _IDMAPPED.get(m)
    return held.pop(0) if held else None


def _idmapped_now(m: Mount, source: str, ns: int, root: str) -> int:
    """Clone and idmap source now: from init (no user namespace: it has the host's
    caps) or the source helper. Takes ns, the user namespace stage 1 made with the
    mappings, and closes it. A source below root is resolved inside the rootfs."""
    try:
        recursive = "ridmap" in m.options or "rbind" in m.options
        flags = sc.OPEN_TREE_CLONE | os.O_CLOEXEC | (sc.AT_RECURSIVE if recursive else 0)
        tree = _open_tree_in_root(source, root, flags)
        try:
            at = sc.AT_EMPTY_PATH | (sc.AT_RECURSIVE if "ridmap" in m.options else 0)
            sc.mount_setattr(tree, "", at, sc.MOUNT_ATTR_IDMAP, 0, ns)
        except BaseException:
            os.close(tree)
            raise
        return tree
    except OSError as e:
        raise ValueError(f"mounts: {m.destination}: idmapped mount: {e.strerror}") from None
    finally:
        os.close(ns)


def _open_tree_in_root(source: str, root: str, flags: int) -> int:
    """open_tree of source; below root, with every symlink resolved inside the rootfs
    (the image's symlinks never lead the clone to a host path)."""
    if not _is_under(os.path.abspath(source), root):
        return sc.open_tree(-100, source, flags)  # AT_FDCWD: a host path of the config's
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = paths.open_in_root(root_fd, paths.strip_root(root, os.path.abspath(source)))
    finally:
        os.close(root_fd)
    try:
        return sc.open_tree(fd, "", flags | sc.AT_EMPTY_PATH)
    finally:
        os.close(fd)


def _unreachable_source(m: Mount, source: str) -> int:
    """An O_PATH fd of the bind's source in our mount namespace, opened by the source
    helper, if we cannot reach the path (a user namespace's root kept out of a 0700
    directory); else -1, and the path is used."""
    held = _SOURCES.get(m)
    if not held:
        return -1
    job = held.pop(0)
    try:
        os.stat(source)
        return -1
    except OSError:
        pass
    fd, _ = _from_helper(job)
    return fd  # -1: the helper could not open it either; the path says why


def _covered_mode(root_fd: int, dest: str, data: str) -> str:
    """A tmpfs takes the mode of the directory it covers unless mode= says otherwise
    (runc 1.3, its issue 4971); a new mountpoint keeps tmpfs's own 1777."""
    try:
        fd = paths.open_in_root(root_fd, dest)
    except FileNotFoundError:
        return data
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    return f"mode={mode:04o}" + (f",{data}" if data else "")  # a later mode= wins


def readonly_later(m: Mount) -> bool:
    """A tmpfs or /dev asked read-only is mounted writable and made read-only last
    (finalize): /dev still gets its nodes and devpts, a tmpfs its copy-up (as runc)."""
    opts = parse_options(m.options)
    if opts.is_bind or not opts.flags & sc.MS_RDONLY:
        return False
    return m.type == "tmpfs" or paths.clean(m.destination) == "/dev"


def _refuse_non_directory(root_fd: int, m: Mount) -> None:
    """proc and sysfs go on a real directory, never through a symlink (CVE-2019-19921,
    CVE-2023-27561): a /proc -> /elsewhere would put the masked paths elsewhere."""
    st = paths.lstat_in_root(root_fd, m.destination)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ValueError(f'filesystem "{m.type}" must be mounted on ordinary directory')


# Filesystems mounted without linux.mountLabel's context= (as runc): proc and sysfs
# keep the kernel's labels, mqueue takes none as an option (its mountpoint gets it).
_UNLABELLED = frozenset({"proc", "sysfs", "mqueue"})


def mount_entry(root_fd: int, m: Mount, bundle: str, mount_label: str = "") -> None:
    """Mount one config entry at its destination inside the rootfs (before pivot_root).
    mount_label: linux.mountLabel (create refused it where SELinux is off)."""
    opts = parse_options(m.options)
    idmap = _take_idmap(m) if opts.is_bind else None
    source = _source_for(m, bundle)
    root = os.readlink(paths.fd_path(root_fd))
    m = replace(m, destination=paths.strip_root(root, m.destination))
    if m.type in ("proc", "sysfs") and not opts.is_bind:
        _refuse_non_directory(root_fd, m)
    check_proc_destination(root_fd, m)
    if mount_label and not opts.is_bind and m.type not in _UNLABELLED:
        opts = replace(opts, data=lsm.with_mount_label(opts.data, mount_label))
    if m.type == "tmpfs" and not opts.is_bind:
        opts = replace(opts, data=_covered_mode(root_fd, m.destination, opts.data))
    src_fd = _unreachable_source(m, source) if opts.is_bind and idmap is None else -1
    src_st = os.fstat(src_fd) if src_fd >= 0 else os.stat(source) if opts.is_bind else None
    src_is_dir = src_st is None or stat.S_ISDIR(src_st.st_mode)
    target_fd = paths.create_in_root(root_fd, m.destination, src_is_dir)
    copy_up = "tmpcopyup" in opts.extra and m.type == "tmpfs"
    flags = opts.flags & ~sc.MS_RDONLY if readonly_later(m) else opts.flags
    try:
        target = paths.fd_path(target_fd)
        if idmap is not None:
            kind, fd = idmap
            if kind == "helper":
                tree = _tree_from_helper(m, fd)
            else:
                tree = _idmapped_now(m, source, fd, root)
            try:
                userns.attach_tree(tree, target_fd)
            finally:
                os.close(tree)
        elif opts.is_bind:
            # The helper's fd is of our own mount namespace's copy of the source mount:
            # a bind of it keeps the kernel's locks on the flags, as one of the path.
            src = paths.fd_path(src_fd) if src_fd >= 0 else source
            sc.mount(src, target, None, sc.MS_BIND | (opts.flags & sc.MS_REC), None)
        else:
            sc.mount(source or m.type, target, m.type, flags, opts.data or None)
            if copy_up:  # target_fd still names the directory now covered
                tmpcopyup.copy_up(target_fd, root_fd, m.destination)
    finally:
        os.close(target_fd)
        if src_fd >= 0:
            os.close(src_fd)
    if mount_label and m.type == "mqueue":
        _label_new_mount(root_fd, m.destination, mount_label)
    # The fd above names the covered directory; the new mount is reached by
    # resolving the destination again (still inside the root).
    remount = opts.is_bind and bind_wants_remount(opts)
    rec_set, rec_clear = opts.recursive
    if not (remount or opts.propagation or rec_set or rec_clear):
        return
    fd = paths.open_in_root(root_fd, m.destination)
    try:
        target = paths.fd_path(fd)
        if remount:
            # Bind mounts ignore flags on creation: apply them with a remount.
            remount_bind(target, opts, m.destination)
        if rec_set or rec_clear:
            set_tree_flags(os.readlink(target), rec_set, rec_clear, fd)
        for prop in opts.propagation:
            sc.mount(None, target, None, prop, None)
    finally:
        os.close(fd)


def remount_bind(target: str, opts: MountOptions, destination: str) -> None:
    """Give the bind at target the flags its options ask for, as runc: first exactly
    those (the source's other flags cleared); if the kernel refuses, because a user
    namespace locks the source's flags, again with the locked ones the source has
    added, unless that would not be what was asked (locked_remount_flags)."""
    try:
        sc.mount(None, target, None, bind_remount_flags(opts), None)
        return
    except OSError as e:
        refused = f"remount {destination}: {_strerror(e)}"
    what = "failed to set user-requested vfs flags on bind-mount"
    # The bind still has its source's flags (and their locks): the remount failed.
    source_flags = statvfs_flags(os.statvfs(target).f_flag)
    try:
        flags = locked_remount_flags(opts, source_flags)
    except ValueError as e:
        raise ValueError(f"{what}: {e}: {refused}") from None
    try:
        sc.mount(None, target, None, flags, None)
    except OSError as e:
        raise ValueError(f"{what}: remount with locked flags re-applied: {_strerror(e)}") from None


def _strerror(e: OSError) -> str:
    return os.strerror(e.errno).lower() if e.errno else str(e)


def remount_readonly(root_fd: int, m: Mount, root: str) -> None:
    """The read-only remount readonly_later put off (after the root switch; root is the
    rootfs's host path, for a destination written as one)."""
    fd = paths.open_in_root(root_fd, paths.strip_root(root, m.destination))
    try:
        target = paths.fd_path(fd)
        keep = locked_flags(os.statvfs(target).f_flag)
        flags = parse_options(m.options).flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | flags | keep, None)
    finally:
        os.close(fd)


# mount(2) flag -> mount_setattr(2) attribute, for the recursive options.
_MS_TO_ATTR: dict[int, int] = {
    sc.MS_RDONLY: sc.MOUNT_ATTR_RDONLY,
    sc.MS_NOSUID: sc.MOUNT_ATTR_NOSUID,
    sc.MS_NODEV: sc.MOUNT_ATTR_NODEV,
    sc.MS_NOEXEC: sc.MOUNT_ATTR_NOEXEC,
    sc.MS_NODIRATIME: sc.MOUNT_ATTR_NODIRATIME,
    sc.MS_NOSYMFOLLOW: sc.MOUNT_ATTR_NOSYMFOLLOW,
}
_MS_ATIME_TO_ATTR: dict[int, int] = {
    sc.MS_NOATIME: sc.MOUNT_ATTR_NOATIME,
    sc.MS_STRICTATIME: sc.MOUNT_ATTR_STRICTATIME,
    sc.MS_RELATIME: sc.MOUNT_ATTR_RELATIME,
}


def _setattr_recursive(fd: int, set_: int, clear: int) -> bool:
    """One atomic mount_setattr(AT_RECURSIVE) on the tree at fd; False where the
    kernel lacks it (< 5.12), and the caller falls back to per-mount remounts."""
    attr_set = sum(a for f, a in _MS_TO_ATTR.items() if set_ & f)
    attr_clr = sum(a for f, a in _MS_TO_ATTR.items() if clear & f)
    atime = [a for f, a in _MS_ATIME_TO_ATTR.items() if set_ & f]
    if atime:  # the atime mode is one field: clear it whole, set the one chosen
        attr_set |= atime[0]
        attr_clr |= sc.MOUNT_ATTR__ATIME
    elif clear & (sc.MS_NOATIME | sc.MS_STRICTATIME):
        attr_clr |= sc.MOUNT_ATTR__ATIME  # back to relatime, the default mode
    elif clear & sc.MS_RELATIME:
        return False  # "norelatime" names no mode mount_setattr can set
    try:
        sc.mount_setattr(fd, "", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE, attr_set, attr_clr)
        return True
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EINVAL):
            return False
        raise


def set_tree_flags(top: str, set_: int, clear: int, fd: int = -1) -> None:
    """Set and clear flags on the mount at top and every mount below it.

    With fd (the mount's root), mount_setattr(AT_RECURSIVE) does it atomically.
    Otherwise remount each: parents come first in mountinfo, so a read-only
    parent never hides a child's mount point from us.
    """
    if fd >= 0 and _setattr_recursive(fd, set_, clear):
        return
    for m in mountinfo.entries():
        if m.point == top or m.point.startswith(top.rstrip("/") + "/"):
            flags = (current_flags(m.point) | set_) & ~clear
            sc.mount(None, m.point, None, sc.MS_BIND | sc.MS_REMOUNT | flags, None)


def current_flags(path: str) -> int:
    """The per-mount flags of the mount at path, as mount(2) flags."""
    f_flag = os.statvfs(path).f_flag
    return locked_flags(f_flag) | (sc.MS_RDONLY if f_flag & os.ST_RDONLY else 0)
