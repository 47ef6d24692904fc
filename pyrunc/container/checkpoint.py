"""checkpoint: save a running container's processes with CRIU (`criu swrk`, its RPC).

What runc does, in its order (checkpoint.go, libcontainer/criu_linux.go): a created or
stopped container is refused; the options are checked (--parent-path relative to the
image path and present, --page-server ADDRESS:PORT, --empty-ns network only, the cgroup
mode); CRIU dumps the init's tree into the image directory (default ./checkpoint) with
its log there or in --work-path, the container's bind mounts, devices and masked files
declared external, and the init's stdio in descriptors.json for restore. Afterwards
the container is deleted, unless --leave-running or --pre-dump.

Before CRIU is given anything, pyrunc asks the host (`criu check`, bounded): where CRIU
cannot work the command fails with one line naming why, the container untouched and no
directory of ours left behind.
"""

from __future__ import annotations

import os

from pyrunc.container import criu_rpc as rpc
from pyrunc.container import status as st
from pyrunc.errors import InvalidArgument, PyruncError
from pyrunc.record import dataclass

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.cgroups.manager import CgroupManager
    from pyrunc.container.container import Container
    from pyrunc.spec.config import Config, Mount

DESCRIPTORS = "descriptors.json"  # the init's stdio, read back by restore
DEFAULT_CONFIG_FILE = "/etc/criu/runc.conf"  # runc's; org.criu.config overrides it
_CLONE_NEWNET = 0x40000000
_EMPTY_NS = {"network": _CLONE_NEWNET}  # the only namespace --empty-ns takes (runc's)
# The devices every container gets (runc's default ones): external if they are mounts.
DEFAULT_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom")
# CRIU versions (major*10000 + minor*100 + sublevel) runc requires for a feature.
_EXT_NS_VERSION = {"network": 31100, "pid": 31500}
_CRIU_NS_NAMES = {"network": "net", "pid": "pid"}


@dataclass(frozen=True)
class CriuOptions:
    """checkpoint's and restore's flags as given (checked by `checked`)."""

    image_path: str = ""
    work_path: str = ""
    parent_path: str = ""
    leave_running: bool = False
    tcp_established: bool = False
    tcp_skip_in_flight: bool = False
    link_remap: bool = False
    ext_unix_sk: bool = False
    shell_job: bool = False
    file_locks: bool = False
    pre_dump: bool = False
    auto_dedup: bool = False
    lazy_pages: bool = False
    status_fd: int = -1
    page_server: str = ""
    manage_cgroups_mode: str = ""
    empty_ns: tuple[str, ...] = ()
    lsm_profile: str = ""
    lsm_mount_context: str = ""


@dataclass(frozen=True)
class Checked:
    """CriuOptions after runc's checks: absolute paths, parsed values."""

    options: CriuOptions
    image_path: str
    work_path: str
    page_server: tuple[str, int] | None
    cg_mode: int
    empty_ns: int


def checked(options: CriuOptions) -> Checked:
    """runc's option checks, in its words (checkpoint.bats matches "--parent-path");
    nothing is made or changed here."""
    image = os.path.abspath(options.image_path or "checkpoint")
    if options.parent_path:
        _check_parent_path(image, options.parent_path)
    if options.manage_cgroups_mode not in rpc.CG_MODES:
        raise InvalidArgument("invalid manage-cgroups-mode value")
    mask = _CLONE_NEWNET  # runc leaves the network namespace's contents to others
    for ns in options.empty_ns:
        if ns not in _EMPTY_NS:
            raise InvalidArgument(f'namespace "{ns}" is not supported')
        mask |= _EMPTY_NS[ns]
    return Checked(
        options,
        image,
        os.path.abspath(options.work_path) if options.work_path else "",
        _page_server(options.page_server) if options.page_server else None,
        rpc.CG_MODES[options.manage_cgroups_mode],
        mask,
    )


def _check_parent_path(image: str, parent: str) -> None:
    if os.path.isabs(parent):
        raise InvalidArgument("--parent-path must be relative")
    # Joined lexically, as Go's filepath.Join: "../parent" needs no image dir yet.
    real = os.path.normpath(os.path.join(image, parent))
    try:
        mode = os.stat(real).st_mode
    except OSError as e:
        reason = os.strerror(e.errno or 0).lower()
        raise InvalidArgument(f"invalid --parent-path: stat {real}: {reason}") from None
    if mode & 0o170000 != 0o040000:  # S_ISDIR
        raise InvalidArgument(f"invalid --parent-path: {real}: not a directory")


def _page_server(value: str) -> tuple[str, int]:
    """ADDRESS:PORT as Go's net.SplitHostPort reads it ([v6 address]:port too)."""
    address, sep, port = value.rpartition(":")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    elif ":" in address:
        address = ""  # too many colons: a v6 address needs its brackets
    if not sep or not address or not port:
        raise InvalidArgument("Use --page-server ADDRESS:PORT to specify page server")
    if not port.isdigit():
        raise InvalidArgument("Invalid port number")
    return address, int(port)


class _Dirs:
    """The directories an operation made, removed again (if still empty) on failure."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def make(self, path: str, mode: int = 0o700) -> str:
        missing = []
        d = path
        while d and not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        for d in reversed(missing):
            try:
                os.mkdir(d, mode)
                self.made.append(d)
            except FileExistsError:
                pass
        return path

    def remove_empty(self) -> None:
        for d in reversed(self.made):
            try:
                os.rmdir(d)
            except OSError:
                pass


def cannot_work(command: str, e: rpc.CriuUnusable) -> PyruncError:
    return PyruncError(f"{command}: criu cannot work on this host: {e}")


def probe(command: str) -> str:
    """The criu binary once the host passed `criu check`; one line naming why not."""
    try:
        return rpc.probe()
    except rpc.CriuUnusable as e:
        raise cannot_work(command, e) from None


def checkpoint(c: Container, options: CriuOptions) -> None:
    """Dump the container with CRIU; then delete it, unless leave_running or pre_dump."""
    with c.store.lock(c.id):
        c.record = c.store.read(c.id)
        st.check_allowed("checkpoint", c.status(), c.id)
        opts = checked(options)
        cfg = _config(c)
        binary = probe("checkpoint")
        dirs = _Dirs()
        try:
            _dump(c, cfg, opts, binary, dirs)
        except BaseException:
            dirs.remove_empty()
            raise
    if not options.leave_running and not options.pre_dump:
        # CRIU ended the processes; what is left (cgroup, state) goes as delete does.
        try:
            c.delete(force=True)
        except PyruncError as e:
            from pyrunc import notices

            notices.warn(str(e))


def _config(c: Container) -> Config:
    """The container's config, read again from its bundle (the record keeps no copy)."""
    from pyrunc.spec.config import load_config

    try:
        return load_config(c.bundle)
    except PyruncError as e:
        raise PyruncError(f"checkpoint: the container's bundle {c.bundle}: {e}") from None


def _dump(c: Container, cfg: Config, opts: Checked, binary: str, dirs: _Dirs) -> None:
    ver = rpc.version(binary)
    if ver < 30000:
        raise PyruncError(f"CRIU version {ver} must be 30000 or higher")
    kind = rpc.PRE_DUMP if opts.options.pre_dump else rpc.DUMP
    if opts.options.pre_dump:
        _require(binary, "mem_track", "MemTrack")
    if opts.options.lazy_pages:
        _require(binary, "lazy_pages", "LazyPages")
        _check_status_fd(opts.options.status_fd)
    image_fd = os.open(dirs.make(opts.image_path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    work_fd = -1
    try:
        log_dir = opts.image_path
        if opts.work_path:
            work_fd = os.open(
                dirs.make(opts.work_path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
            )
            log_dir = opts.work_path
        req_opts = _dump_options(c, cfg, opts, ver, image_fd, work_fd)
        pass_fds = [image_fd] + ([work_fd] if work_fd >= 0 else [])
        if "status_fd" in req_opts:
            pass_fds.append(opts.options.status_fd)
        if kind == rpc.DUMP:
            req_opts["ext_mnt"] = external_mounts(cfg, c.cgroup_manager(), c.pid)
            write_descriptors(opts.image_path, c.pid)
        try:
            rpc.call(
                binary,
                {"type": kind, "opts": req_opts},
                _dump_notifications(opts.options),
                pass_fds=pass_fds,
            )
        except rpc.CriuFailed as e:
            raise criu_failed(e, os.path.join(log_dir, "dump.log")) from None
    finally:
        for fd in (image_fd, work_fd):
            if fd >= 0:
                os.close(fd)


def criu_failed(e: PyruncError, log: str) -> PyruncError:
    """CRIU's refusal with the error its log gives, and where the log is."""
    why = rpc.log_summary(log)
    return PyruncError(f"{e}: {why} (log: {log})" if why else f"{e} (log: {log})")


def _require(binary: str, feature: str, runc_name: str) -> None:
    if rpc.missing_features(binary, {feature: True}):
        raise PyruncError(f"criu is missing features: [{runc_name}]")


def _check_status_fd(fd: int) -> None:
    if fd == -1:
        return
    import fcntl

    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError as e:
        reason = os.strerror(e.errno or 0).lower()
        raise InvalidArgument(f"invalid --status-fd argument {fd}: {reason}") from None
    if not flags & (os.O_WRONLY | os.O_RDWR):
        raise InvalidArgument(f"invalid --status-fd argument {fd}: not writable")


def _dump_options(
    c: Container, cfg: Config, opts: Checked, ver: int, image_fd: int, work_fd: int
) -> dict[str, Any]:
    o = opts.options
    req: dict[str, Any] = {
        "images_dir_fd": image_fd,
        "log_level": 4,
        "log_file": "dump.log",
        "root": c.record["rootfs"],
        "manage_cgroups": True,
        "manage_cgroups_mode": opts.cg_mode,
        "notify_scripts": True,
        "pid": c.pid,
        "shell_job": o.shell_job,
        "leave_running": o.leave_running,
        "tcp_established": o.tcp_established,
        "tcp_skip_in_flight": o.tcp_skip_in_flight,
        "link_remap": o.link_remap,
        "ext_unix_sk": o.ext_unix_sk,
        "file_locks": o.file_locks,
        "empty_ns": opts.empty_ns,
        "orphan_pts_master": True,
        "auto_dedup": o.auto_dedup,
        "lazy_pages": o.lazy_pages,
        "config_file": config_file(cfg),
        "external": external_namespaces(cfg, ver),
    }
    if work_fd >= 0:
        req["work_dir_fd"] = work_fd
    freezer = _freezer_cgroup(c.record.get("cgroup") or {}, ver)
    if freezer:
        req["freeze_cgroup"] = freezer
    if opts.page_server is not None:
        req["ps"] = {"address": opts.page_server[0], "port": opts.page_server[1]}
    if o.parent_path:
        req["parent_img"] = o.parent_path
        req["track_mem"] = True
    if o.lazy_pages and o.status_fd != -1 and ver < 31500:
        req["status_fd"] = o.status_fd  # newer CRIU says "status-ready" instead
    return req


def config_file(cfg: Config) -> str | None:
    """The CRIU configuration file: the org.criu.config annotation's (empty: none), else
    runc's default one (CRIU ignores a file that does not exist)."""
    if "org.criu.config" in cfg.annotations:
        return cfg.annotations["org.criu.config"] or None
    return DEFAULT_CONFIG_FILE


def external_namespaces(cfg: Config, ver: int) -> list[str]:
    """A network or pid namespace the container joined (a path) is not CRIU's to dump:
    named external as `<ns>[<inode>]:extRoot<Ns>NS`, the key restore hands it back by."""
    out = []
    for ns_type in ("network", "pid"):
        if ver < _EXT_NS_VERSION[ns_type]:
            raise PyruncError(
                f"criu lacks support for external {_CRIU_NS_NAMES[ns_type]} namespace"
                " during checkpointing process (old criu version?)"
            )
        ns = cfg.linux.namespace(ns_type)
        if ns is None or not ns.path:
            continue
        inode = os.stat(ns.path).st_ino
        out.append(f"{_CRIU_NS_NAMES[ns_type]}[{inode}]:{namespace_key(ns_type)}")
    return out


def namespace_key(ns_type: str) -> str:
    name = _CRIU_NS_NAMES[ns_type]
    return f"extRoot{name[:1].upper()}{name[1:]}NS"


def _freezer_cgroup(cgroup: dict[str, Any], ver: int) -> str:
    """The cgroup CRIU freezes the tree with (else it stops each task with ptrace);
    CRIU freezes a v2 cgroup from 3.14 on."""
    if cgroup.get("version") == "v2":
        return str(cgroup.get("path", "")) if ver >= 31400 else ""
    for key, directory in (cgroup.get("paths") or {}).items():
        if "freezer" in key.split(","):
            return str(directory)
    return ""


def external_mounts(
    cfg: Config, manager: CgroupManager | None, dumped_pid: int | None
) -> list[dict[str, str]]:
    """What CRIU must not dump as the container's own mounts: binds (and v1 cgroup
    hierarchies, bound from the host), devices, masked files (/dev/null binds). Keyed
    by the path inside the container; on dump (dumped_pid: the init) the value repeats
    the key, on restore (None) it is the host source to bind there."""
    from pyrunc.linux import paths

    restore = dumped_pid is None
    out: list[dict[str, str]] = []
    root_fd = os.open(cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in cfg.mounts:
            if is_bind(m):
                dest = paths.resolve_in_root(root_fd, m.destination)
                out.append({"key": dest, "val": bind_source(cfg, m) if restore else dest})
    finally:
        os.close(root_fd)
    if manager is not None and cfg.linux.namespace("cgroup") is None:
        out += _cgroup_v1_binds(cfg, manager)
    if cfg.linux.masked_paths:
        # Restore binds the host's /dev/null wherever the dump found a masked file.
        out += (
            [{"key": "/dev/null", "val": "/dev/null"}]
            if restore
            else _masked_files(cfg, dumped_pid or 0)
        )
    for path in (*(d.path for d in cfg.linux.devices), *DEFAULT_DEVICES):
        out.append({"key": path, "val": path})
    return out


def is_bind(m: Mount) -> bool:
    return m.type == "bind" or "bind" in m.options or "rbind" in m.options


def bind_source(cfg: Config, m: Mount) -> str:
    """A bind's host source; a relative one is the bundle's, as create takes it."""
    return os.path.join(cfg.bundle, m.source) if not os.path.isabs(m.source) else m.source


def _cgroup_v1_binds(cfg: Config, manager: CgroupManager) -> list[dict[str, str]]:
    """On v1 without a cgroup namespace each hierarchy is a bind from the host: keyed
    /sys/fs/cgroup/<name>, valued by the container's cgroup directory there."""
    out = []
    for m in cfg.mounts:
        if m.type != "cgroup":
            continue
        for host_dir, name in manager.mount_views():
            if name:  # "" is v2's single mount, a real one
                out.append({"key": f"{m.destination.rstrip('/')}/{name}", "val": host_dir})
    return out


def _masked_files(cfg: Config, pid: int) -> list[dict[str, str]]:
    out = []
    for path in cfg.linux.masked_paths:
        seen = f"/proc/{pid}/root/{path.lstrip('/')}"  # as the container sees it
        if os.path.exists(seen) and not os.path.isdir(seen):
            out.append({"key": path, "val": "/dev/null"})
    return out


def write_descriptors(image_path: str, pid: int) -> None:
    """The init's fds 0-2 as the kernel names them (pipe:[N], /dev/null, a pty): restore
    hands its own stdio to those of them that are pipes."""
    from pyrunc import jsonio as json
    from pyrunc.container.store import write_atomic

    names = []
    for fd in range(3):
        try:
            names.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            names.append("")
    write_atomic(os.path.join(image_path, DESCRIPTORS), json.dumps(names).encode())


def _dump_notifications(options: CriuOptions):  # noqa: ANN202
    """CRIU's notify scripts during a dump: "status-ready" (lazy pages are served) is
    told to --status-fd as a \\0; the others need nothing from the runtime (runc's
    network lock and unlock act on networks OCI configs do not have)."""
    status_fd = [options.status_fd]

    def on_notify(script: str, pid: int, fds: list[int]) -> None:
        if script == "status-ready" and status_fd[0] != -1:
            try:
                os.write(status_fd[0], b"\0")
            except OSError as e:
                from pyrunc import notices

                notices.warn(f"can't write \\0 to status fd: {os.strerror(e.errno or 0)}")
            os.close(status_fd[0])
            status_fd[0] = -1

    return on_notify
