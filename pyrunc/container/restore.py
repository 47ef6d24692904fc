"""restore: a new container from a bundle and a checkpoint's images (CRIU's RPC).

What runc does (restore.go, libcontainer/criu_linux.go's Restore): the container is
made as create makes it (state dir, cgroup, record), but its processes come from CRIU:
the rootfs is bound at <state dir>/criu-root for CRIU's root, the mountpoints the
config needs are made in the rootfs (binds mounted for the while, so that nested
mountpoints land in their sources), CRIU is put into the container's cgroup before it
forks the restored tree (as a sibling: our child), the checkpoint's external mounts
are bound from their sources, joined namespaces handed over, and the init's stdio that
were pipes become this call's own. CRIU's notifications run the prestart and
createRuntime hooks (setup-namespaces), name the restored init (post-restore) and pass
a terminal's master (orphan-pts-master) to --console-socket.

Nothing is made before the host passed `criu check`; a failure afterwards removes all
that was made, as a failed create does.
"""

from __future__ import annotations

import os

from pyrunc.container import checkpoint as cp
from pyrunc.container import criu_rpc as rpc
from pyrunc.container import hooks
from pyrunc.container import status as st
from pyrunc.errors import InvalidArgument, PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.cgroups.manager import CgroupManager
    from pyrunc.container.container import Container
    from pyrunc.container.store import StateStore
    from pyrunc.options import RuntimeOptions
    from pyrunc.spec.config import Config

# The kernel's names of namespaces CRIU joins (join_ns), by the spec's types.
_JOIN_NS = {"ipc": "ipc", "uts": "uts", "mount": "mnt", "user": "user", "time": "time"}
_MS_BIND, _MS_REC, _MNT_DETACH = 0x1000, 0x4000, 2


def restore(
    options: RuntimeOptions,
    container_id: str,
    bundle: str,
    criu: cp.CriuOptions,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
) -> Container:
    """Restore the checkpoint in criu.image_path (default ./checkpoint) as container_id
    from bundle; returns the running container (its init is our child)."""
    from pyrunc.container.create import check_console_socket
    from pyrunc.container.store import StateStore, validate_id
    from pyrunc.spec.config import load_config

    validate_id(container_id)
    opts = cp.checked(criu)
    cfg = load_config(bundle or ".")  # every input problem before anything exists
    terminal = cfg.process is not None and cfg.process.terminal
    check_console_socket(terminal, console_socket)
    descriptors = read_descriptors(opts.image_path)
    store = StateStore(options.root)
    if store.exists(container_id):  # as runc: refused before CRIU is asked
        from pyrunc.errors import ContainerExists

        raise ContainerExists(container_id)
    binary = cp.probe("restore")
    ver = rpc.version(binary)
    _check_version(ver, criu)
    state_dir = store.new(container_id)
    with store.lock(container_id):
        job = _Restore(store, options, container_id, cfg, state_dir, opts, binary)
        return job.run(descriptors, pid_file, console_socket)


def read_descriptors(image_path: str) -> list[str]:
    """The dumped init's stdio names (checkpoint's descriptors.json)."""
    from pyrunc import jsonio as json

    path = os.path.join(image_path, cp.DESCRIPTORS)
    try:
        with open(path, "rb") as f:
            names = json.loads(f.read())
    except OSError as e:
        raise InvalidArgument(f"open {path}: {os.strerror(e.errno or 0).lower()}") from None
    except ValueError as e:
        raise InvalidArgument(f"{path}: {e}") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidArgument(f"{path}: not a list of strings")
    return names


def _check_version(ver: int, criu: cp.CriuOptions) -> None:
    if ver < 30000:
        raise PyruncError(f"CRIU version {ver} must be 30000 or higher")
    lsm = (("--lsm-profile", criu.lsm_profile), ("--lsm-mount-context", criu.lsm_mount_context))
    for flag, value in lsm:
        if value and ver < 31600:
            raise PyruncError(f"{flag} requires at least CRIU 3.16")


class _Restore:
    """One restore: what it made, undone in full if it fails."""

    def __init__(
        self,
        store: StateStore,
        options: RuntimeOptions,
        container_id: str,
        cfg: Config,
        state_dir: str,
        opts: cp.Checked,
        binary: str,
    ) -> None:
        self.store, self.options, self.id, self.cfg = store, options, container_id, cfg
        self.state_dir, self.opts, self.binary = state_dir, opts, binary
        self.manager: CgroupManager | None = None
        self.record: dict[str, Any] = {}
        self.fds: list[int] = []  # closed when CRIU is done
        self.unmount: list[str] = []  # our temporary mounts, undone in reverse
        self.console_socket: str | None = None

    def run(self, descriptors: list[str], pid_file: str | None, console: str | None) -> Container:
        from pyrunc.container.container import Container
        from pyrunc.container.create import write_pid_file

        self.console_socket = console
        try:
            self._make_cgroup()
            request = self._request(descriptors)
            log_dir = self.opts.work_path or self.opts.image_path
            try:
                resp = rpc.call(
                    self.binary,
                    request,
                    self._on_notify,
                    pass_fds=self.fds,
                    started=lambda pid: self._enter_cgroup(pid, request["opts"]),
                    inherit_stdio=True,
                )
            except rpc.CriuFailed as e:
                raise cp.criu_failed(e, os.path.join(log_dir, "restore.log")) from None
            pid = self.record["pid"] or (resp.get("restore") or {}).get("pid", 0)
            if not pid:
                raise PyruncError("criu: restore reported no process")
            self._restored(pid)
            if pid_file:
                write_pid_file(pid_file, pid)
            return Container(self.store, self.record, self.options)
        except BaseException:
            self._undo()
            raise
        finally:
            self._release()

    # -- the container, as create makes it ---------------------------------------------
    def _make_cgroup(self) -> None:
        from pyrunc.cgroups.manager import new_manager
        from pyrunc.container.create import check_cgroup_unused, state_record

        manager = new_manager(self.id, self.cfg.linux.cgroups_path, self.options.systemd_cgroup)
        check_cgroup_unused(manager)
        self.manager = manager  # ours from here on (a refused one holds another's tasks)
        manager.create()
        self.record = state_record(self.id, self.cfg, manager.to_state())
        self.store.write(self.id, self.record)

    def _enter_cgroup(self, criu_pid: int, req_opts: dict[str, Any]) -> None:
        """CRIU joins the container's cgroup before it forks the restored tree, and is
        told where that is per controller (cg_root), as runc's criuApplyCgroups."""
        assert self.manager is not None
        self.manager.apply(criu_pid)
        self.manager.set(self.cfg.linux.resources or {})
        roots = []
        with open(f"/proc/{criu_pid}/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for ctrl in controllers.split(",") if controllers else ("",):
                    root = {"path": path}
                    if ctrl:
                        root["ctrl"] = ctrl.removeprefix("name=")
                    roots.append(root)
        req_opts["cg_root"] = roots

    def _restored(self, pid: int) -> None:
        from pyrunc.container.create import utc_now

        assert self.manager is not None
        self.record.update(
            pid=pid,
            pid_start_time=st.process_start_time(pid),
            created=utc_now(),
            cgroup=self.manager.to_state(),
        )
        self.store.write(self.id, self.record)

    # -- CRIU's request -----------------------------------------------------------------
    def _request(self, descriptors: list[str]) -> dict[str, Any]:
        o = self.opts.options
        image_fd = self._open_dir(self.opts.image_path)
        req: dict[str, Any] = {
            "images_dir_fd": image_fd,
            "evasive_devices": True,
            "log_level": 4,
            "log_file": "restore.log",
            "rst_sibling": True,
            "root": self._criu_root(),
            "manage_cgroups": True,
            "manage_cgroups_mode": self.opts.cg_mode,
            "notify_scripts": True,
            "shell_job": o.shell_job,
            "ext_unix_sk": o.ext_unix_sk,
            "tcp_established": o.tcp_established,
            "file_locks": o.file_locks,
            "empty_ns": self.opts.empty_ns,
            "orphan_pts_master": True,
            "auto_dedup": o.auto_dedup,
            "lazy_pages": o.lazy_pages,
            "lsm_profile": o.lsm_profile or None,
            "lsm_mount_context": o.lsm_mount_context or None,
            "config_file": cp.config_file(self.cfg),
        }
        if self.opts.work_path:
            os.makedirs(self.opts.work_path, 0o700, exist_ok=True)
            req["work_dir_fd"] = self._open_dir(self.opts.work_path)
        self._namespaces(req)
        self._prepare_mountpoints()
        req["ext_mnt"] = cp.external_mounts(self.cfg, self.manager, None)
        # The dumped init's pipes are this call's stdio (fd i of CRIU, ours inherited).
        req["inherit_fd"] = req.get("inherit_fd", []) + [
            {"key": name, "fd": i} for i, name in enumerate(descriptors) if "pipe:" in name
        ]
        return {"type": rpc.RESTORE, "opts": req}

    def _open_dir(self, path: str) -> int:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds.append(fd)
        return fd

    def _criu_root(self) -> str:
        """CRIU's root must be a mount point whose parent is not overmounted: the rootfs
        bound (recursively) at <state dir>/criu-root for the while."""
        from pyrunc.linux import syscalls

        root = os.path.join(self.state_dir, "criu-root")
        os.mkdir(root, 0o755)
        root = os.path.realpath(root)
        syscalls.mount(self.cfg.root_path, root, None, _MS_BIND | _MS_REC)
        self.unmount.append(root)
        return root

    def _namespaces(self, req: dict[str, Any]) -> None:
        """Namespaces the config joins (a path): network and pid are handed to CRIU as
        the fds the dump named them by (extRoot<Ns>NS), the others joined by path."""
        for ns in self.cfg.linux.namespaces:
            if not ns.path:
                continue
            if ns.type in ("network", "pid"):
                try:
                    fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    raise PyruncError(
                        f"Requested network namespace {ns.path} does not exist"
                    ) from None
                self.fds.append(fd)
                key = cp.namespace_key(ns.type)
                req.setdefault("inherit_fd", []).append({"key": key, "fd": fd})
            elif ns.type == "cgroup":
                raise PyruncError("Do not know how to handle namespace NEWCGROUP")
            elif ns.type in _JOIN_NS:
                req.setdefault("join_ns", []).append({"ns": _JOIN_NS[ns.type], "ns_file": ns.path})

    def _prepare_mountpoints(self) -> None:
        """The mountpoints the config needs, made in the rootfs as create would (none on
        a tmpfs: CRIU restores its contents, nor for cgroup mounts); binds are mounted
        for the while so a nested mountpoint is made in its bind's source."""
        from pyrunc.linux import paths, syscalls

        tmpfs = [m.destination.rstrip("/") for m in self.cfg.mounts if m.type == "tmpfs"]
        root_fd = os.open(self.cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for m in self.cfg.mounts:
                if m.type == "cgroup" or any(m.destination.startswith(t + "/") for t in tmpfs):
                    continue
                bind = cp.is_bind(m)
                source = cp.bind_source(self.cfg, m) if bind else m.source
                is_dir = not bind or os.path.isdir(source)
                fd = paths.create_in_root(root_fd, m.destination, is_dir)
                try:
                    if bind:
                        syscalls.mount(source, paths.fd_path(fd), None, _MS_BIND | _MS_REC)
                        where = paths.resolve_in_root(root_fd, m.destination)
                        self.unmount.append(self.cfg.root_path.rstrip("/") + where)
                finally:
                    os.close(fd)
        finally:
            os.close(root_fd)

    # -- CRIU's notifications ------------------------------------------------------------
    def _on_notify(self, script: str, pid: int, fds: list[int]) -> None:
        if script == "setup-namespaces":
            self._runtime_hooks(pid)
        elif script == "post-restore":
            self._restored(pid)
        elif script == "orphan-pts-master" and fds:
            self._send_console(fds[0])

    def _runtime_hooks(self, pid: int) -> None:
        """prestart and createRuntime, once the restored tree's namespaces exist."""
        base = {"id": self.id, "bundle": self.cfg.bundle, "annotations": self.cfg.annotations}
        hooks.run(
            self.cfg.hooks.get("prestart", ()), "prestart", hooks.state_doc(base, st.CREATED, pid)
        )
        state = hooks.state_doc(base, st.CREATING, pid)
        hooks.run(self.cfg.hooks.get("createRuntime", ()), "createRuntime", state)

    def _send_console(self, master: int) -> None:
        if not self.console_socket:
            return
        from pyrunc.container.create import connect_console_socket
        from pyrunc.linux.tty import send_master

        send_master(connect_console_socket(self.console_socket), master)

    # -- cleaning up ------------------------------------------------------------------------
    def _release(self) -> None:
        """CRIU's fds and our temporary mounts; the container keeps none of them."""
        from pyrunc.linux import syscalls

        for fd in self.fds:
            os.close(fd)
        self.fds = []
        for target in reversed(self.unmount):
            try:
                syscalls.umount2(target, _MNT_DETACH)
            except OSError:
                pass  # gone already: a bind under another one we detached
        self.unmount = []
        try:
            os.rmdir(os.path.join(self.state_dir, "criu-root"))
        except OSError:
            pass

    def _undo(self) -> None:
        from pyrunc.container.create import destroy_quietly

        if self.manager is not None:
            destroy_quietly(self.manager)  # restored processes included
        self._release()
        self.store.remove(self.id)
