"""create: validate the bundle, make the state dir, cgroups and init; undo all on failure."""

from __future__ import annotations

import os
import time

from pyrunc import notices, timing
from pyrunc.container import hooks
from pyrunc.container import status as st
from pyrunc.container.store import EXEC_FIFO, StateStore, validate_id, write_atomic
from pyrunc.errors import ConfigError, CreateFailed, InvalidArgument
from pyrunc.faults import FAULT, hit

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container
    from pyrunc.options import RuntimeOptions


def create(
    options: RuntimeOptions,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
    console_socket: str | None,
    relay_console: bool = False,
) -> Container:
    """Create the container under options.root, in options' modes (systemd_cgroup,
    procfs_view). relay_console: the caller (run in the foreground) keeps a terminal's
    master itself, as container.console_master, instead of sending it to a console socket."""
    from pyrunc.spec.config import load_config

    validate_id(container_id)
    if preserve_fds < 0:
        raise InvalidArgument("--preserve-fds: must not be negative")
    cfg = load_config(bundle)  # every input problem is reported before anything exists
    require_user_namespace(cfg)
    if cfg.process is not None:
        from pyrunc.record import replace

        cfg = replace(cfg, process=grantable(cfg.process))
    terminal = cfg.process is not None and cfg.process.terminal
    check_console_socket(terminal, console_socket or (terminal and relay_console))
    from pyrunc.container import notify

    cfg, preserve_fds = notify.with_socket_activation(cfg, preserve_fds)
    from pyrunc.linux.procfs_view import with_procfs_view

    # lxcfs binds, if asked (the annotation, or options for every container); lxcfs
    # started if need be.
    cfg = with_procfs_view(cfg, options.procfs_view)
    store = StateStore(options.root)
    state_dir = store.new(container_id)
    if FAULT:
        hit("after-state-dir")
    with store.lock(container_id):
        return _create_locked(
            store,
            options,
            container_id,
            cfg,
            state_dir,
            pid_file,
            no_pivot,
            no_new_keyring,
            preserve_fds,
            console_socket,
            terminal and relay_console and not console_socket,
        )


def _create_locked(
    store: StateStore,
    options: RuntimeOptions,
    container_id: str,
    cfg,
    state_dir: str,  # noqa: ANN001
    pid_file: str | None,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
    console_socket: str | None = None,
    relay_console: bool = False,
) -> Container:
    from pyrunc.cgroups.rootless import manager_for
    from pyrunc.container import notify
    from pyrunc.container.container import Container
    from pyrunc.process.options import InitOptions
    from pyrunc.process.parent import launch_init

    manager = None
    rdt = None  # linux.intelRdt's resctrl group
    fifo_fd = -1
    console_fd = -1
    ours = None  # our end of the console socketpair when we relay the terminal
    try:
        fifo = os.path.join(state_dir, EXEC_FIFO)
        os.mkfifo(fifo, 0o600)
        os.chmod(fifo, 0o622)  # writable by the container's user, whatever it is
        cfg = notify.with_notify_socket(cfg, state_dir)
        cgroup = manager_for(container_id, cfg, options)  # rootless: maybe none
        if FAULT:
            hit("after-fifo")
        check_cgroup_unused(cgroup)
        # Ours from here on: a failure kills what is in it and removes what we made (not
        # before: a refused cgroup holds another container's processes).
        manager = cgroup
        manager.create()
        rdt = _intel_rdt(container_id, cfg)
        if rdt is not None:
            rdt.create()  # runc's order: after the cgroup
        # Recorded before anything else can be made: a runtime killed from here on leaves
        # a state dir that `state` reads (pid 0: creating/stopped) and `delete` cleans.
        record = state_record(container_id, cfg, manager.to_state())
        if rdt is not None:
            record["intel_rdt"] = rdt.to_state()
        store.write(container_id, record)
        if FAULT:
            hit("after-cgroups")
        before, after_init = _split_pids(cfg.linux.resources)
        manager.set(before)
        if rdt is not None:
            rdt.set()
        timing.mark("cgroups")
        # The fifo alone, not its directory: init holds this fd until `start`, inside
        # the container (runc's create.bats checks what init holds open).
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        if console_socket:
            console_fd = connect_console_socket(console_socket)
        elif relay_console:
            ours, theirs = console_socketpair()
            console_fd = theirs.detach()
        opts = InitOptions(
            fifo_fd, no_pivot, no_new_keyring, preserve_fds, console_fd, options.debug,
            joinable=options.is_rootless(),
        )  # fmt: skip
        pid = launch_init(cfg, manager, opts, _runtime_hooks(container_id, cfg), rdt)
        manager.started(pid)
        if after_init:
            manager.set(after_init, update=True)
        record.update(pid=pid, pid_start_time=st.process_start_time(pid), cgroup=manager.to_state())
        store.write(container_id, record)
        timing.mark("record")
        if FAULT:
            hit("after-state")
        if pid_file:
            write_pid_file(pid_file, pid)
        c = Container(store, record, options)
        if ours is not None:
            from pyrunc.linux.tty import recv_master

            c.console_master = recv_master(ours)
        return c
    except BaseException as e:
        oom = isinstance(e, CreateFailed) and manager is not None and manager.oom_killed()
        if manager is not None:
            destroy_quietly(manager)
        if rdt is not None:
            _destroy_rdt_quietly(rdt)
        if cfg.linux.namespace("mount") is None:
            _detach_shared_mounts(cfg.root_path, cfg.root_readonly)
        store.remove(container_id)
        if isinstance(e, hooks.HookError):
            # runtime-spec lifecycle: a prestart, createRuntime or createContainer hook
            # failure stops the container and continues at poststop.
            _poststop_after_failure(container_id, cfg)
        if oom:  # "exited before it was ready" alone would leave the user guessing (runc's text)
            raise CreateFailed("container init was OOM-killed (memory limit too low?)") from None
        raise
    finally:
        for fd in (fifo_fd, console_fd):
            if fd >= 0:
                os.close(fd)
        if ours is not None:
            ours.close()


def _poststop_after_failure(container_id: str, cfg) -> None:  # noqa: ANN001
    entries = cfg.hooks.get("poststop", ())
    if entries:
        base = {"id": container_id, "bundle": cfg.bundle, "annotations": cfg.annotations}
        hooks.run_warning(entries, "poststop", hooks.state_doc(base, st.STOPPED, 0))


def state_record(container_id: str, cfg, cgroup: dict) -> dict:  # noqa: ANN001
    """The state record; pid 0 until init is ready, with its creator to tell a creation
    in progress ("creating") from one whose runtime died ("stopped")."""
    from pyrunc.spec.config import container_defaults, process_document

    me = os.getpid()
    return {
        "id": container_id,
        "pid": 0,
        "pid_start_time": None,
        "creator": [me, st.process_start_time(me)],
        "bundle": cfg.bundle,
        "rootfs": cfg.root_path,
        "created": utc_now(),
        "owner": "",
        "annotations": cfg.annotations,
        "has_process": cfg.process is not None,
        # Without its own mount namespace the container's mounts sit in ours.
        "shares_mount_ns": cfg.linux.namespace("mount") is None,
        # ...and a read-only root there is a bind of the rootfs on itself, ours to undo.
        "root_bind": cfg.linux.namespace("mount") is None and cfg.root_readonly,
        # A new pid namespace of its own (runc's IsPrivate: no path to join): its init's
        # death takes every process with it; without one, kill KILL reaches each.
        "private_pid_ns": _private(cfg.linux.namespace("pid")),
        "cgroup": cgroup,
        "resources": cfg.linux.resources,  # what `update` merges its changes into
        "hooks": hooks.to_record(cfg.hooks),  # poststart, poststop
        "seccomp": cfg.linux.seccomp,  # exec loads it too
        # What exec'd processes take from config.json (affinity, memory policy, persona).
        "exec_defaults": container_defaults(cfg.process) if cfg.process is not None else {},
        # exec's base process: the one created with, as runc (config.json may change).
        "process": process_document(cfg.process) if cfg.process is not None else None,
    }


def check_cgroup_unused(manager) -> None:  # noqa: ANN001 - a CgroupManager
    """runc's refusals (its factory, in its words): a cgroup with processes would be
    another container's, a frozen one would freeze ours before it ran."""
    pids = manager.pids()
    if pids:
        raise CreateFailed(f"container's cgroup is not empty: {len(pids)} process(es) found")
    from pyrunc.cgroups.manager import FROZEN

    if manager.freezer_state() == FROZEN:
        raise CreateFailed("container's cgroup unexpectedly frozen")


def _split_pids(resources: dict | None) -> tuple[dict, dict]:
    """(what is written before the fork, what once init is alone in the cgroup): the
    pids limit waits for stage 1 to be gone, as runc sets its limits at procReady,
    else a limit of 1 (runc's reading of 0) would stop stage 1 forking init."""
    resources = resources or {}
    if "pids" not in resources:
        return resources, {}
    before = {k: v for k, v in resources.items() if k != "pids"}
    return before, {"pids": resources["pids"]}


def _private(ns) -> bool:  # noqa: ANN001
    return ns is not None and not ns.path


def require_user_namespace(cfg) -> None:  # noqa: ANN001 - a spec.config.Config
    """Said before anything is made, not as the EPERM of the first namespace."""
    from pyrunc import rootless

    if rootless.lacks_user_namespace(ns.type for ns in cfg.linux.namespaces):
        raise ConfigError(f"config.json: linux.namespaces: {rootless.REQUIRES_USER_NAMESPACE}")


def grantable(proc):  # noqa: ANN001, ANN201 - a spec.config.Process (or None), the same
    """proc with the capabilities this kernel can grant, warning of the rest.

    runtime-spec 1.1+: a capability that "cannot be mapped to a relevant kernel interface,
    or cannot be granted otherwise MUST be logged as a warning", and runtimes "SHOULD NOT
    fail"; runc warns in these words and goes on. And the kernel raises an ambient
    capability only if it is permitted and inheritable: the process starts without the
    others, runc warns of each.
    """
    caps = proc.capabilities if proc is not None else None
    if caps is None:
        return proc
    from pyrunc.linux.capabilities import last_cap
    from pyrunc.record import replace
    from pyrunc.spec.capnames import unusable

    sets = ("bounding", "effective", "permitted", "inheritable", "ambient")
    dropped = set(unusable(sum((getattr(caps, s) for s in sets), ()), last_cap()))
    if dropped:
        shown = " ".join(sorted(dropped))
        notices.warn(f"ignoring unknown or unavailable capabilities: [{shown}]")
        kept = {s: tuple(n for n in getattr(caps, s) if n not in dropped) for s in sets}
        caps = replace(caps, **kept)
        proc = replace(proc, capabilities=caps)
    raisable = set(caps.permitted) & set(caps.inheritable)
    for name in caps.ambient:
        if name not in raisable:
            notices.warn(f"can't raise ambient capability {name}: operation not permitted")
    return proc


def check_console_socket(terminal: bool, console_socket: str | bool | None) -> None:
    """runc's rules: a terminal needs somewhere to send it, a socket needs a terminal."""
    if terminal and not console_socket:
        raise InvalidArgument(
            "--console-socket: required with process.terminal "
            "(cannot allocate a tty when detached without a console socket)"
        )
    if console_socket and not terminal:
        raise InvalidArgument(
            "--console-socket: cannot be used without a terminal (process.terminal is false)"
        )


def console_socketpair():  # noqa: ANN202
    from pyrunc.linux import fdpass

    return fdpass.socketpair(fdpass.AF_UNIX, fdpass.SOCK_STREAM)


def connect_console_socket(path: str) -> int:
    """Connect to the engine's console socket; the fd goes to the container side."""
    from pyrunc.linux import fdpass

    return fdpass.connect_unix(path, "--console-socket")


def _runtime_hooks(container_id: str, cfg):  # noqa: ANN001, ANN202
    """What runs prestart and createRuntime when init asks, in our (the runtime's)
    namespaces; returns the state init's own hooks get."""
    if not hooks.needs_sync(cfg.hooks):
        return None

    def run(pid: int) -> dict:
        base = {"id": container_id, "bundle": cfg.bundle, "annotations": cfg.annotations}
        # runtime-tools reads "created" in prestart's state; createRuntime is mid-create.
        prestart = hooks.state_doc(base, st.CREATED, pid)
        hooks.run(cfg.hooks.get("prestart", ()), "prestart", prestart)
        state = hooks.state_doc(base, st.CREATING, pid)
        hooks.run(cfg.hooks.get("createRuntime", ()), "createRuntime", state)
        return state

    return run


def write_pid_file(pid_file: str, pid: int) -> None:
    path = os.path.abspath(pid_file)
    try:
        # Exactly the decimal pid: containerd parses it with strconv.Atoi.
        write_atomic(path, str(pid).encode(), 0o644)
    except OSError as e:  # name the file the user gave, not our temporary one
        reason = os.strerror(e.errno).lower() if e.errno else str(e)
        raise InvalidArgument(f"--pid-file: open {path}: {reason}") from None


def _detach_shared_mounts(rootfs: str, root_bind: bool) -> None:
    from pyrunc.linux.rootfs import detach_mounts_under, undo_root_bind

    detach_mounts_under(rootfs)
    if root_bind:
        undo_root_bind(rootfs)


def destroy_quietly(manager) -> None:  # noqa: ANN001
    from pyrunc.cgroups.kill import kill_all

    try:
        kill_all(manager)
        manager.destroy()
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _destroy_rdt_quietly(rdt) -> None:  # noqa: ANN001
    try:
        rdt.destroy()  # after the cgroup's: its processes are gone
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _intel_rdt(container_id: str, cfg):  # noqa: ANN001, ANN202
    """linux.intelRdt's manager, None without it (the module is not even loaded)."""
    if cfg.linux.intel_rdt is None:
        return None
    from pyrunc.linux.intelrdt import IntelRdtManager

    return IntelRdtManager.for_container(container_id, cfg.linux.intel_rdt)


def utc_now() -> str:
    """UTC RFC 3339 with microseconds (datetime would cost ~2 ms to import)."""
    ns = time.time_ns()
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    return f"{seconds}.{ns // 1000 % 1_000_000:06d}Z"
