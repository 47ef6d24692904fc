"""Stage 2: the container's init. Builds the container from inside its
namespaces, reports ready, blocks on exec.fifo until `start`, then execs."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc import timing
from pyrunc.cgroups.manager import CgroupManager
from pyrunc.container import hooks
from pyrunc.container.status import CREATED, CREATING
from pyrunc.linux import capabilities, lsm, namespaces, network, paths, rootfs, sysctl, tty
from pyrunc.linux import syscalls as sc
from pyrunc.process import attributes, importguard
from pyrunc.process.channel import Channel
from pyrunc.process.errors import go_style, step
from pyrunc.process.options import InitOptions
from pyrunc.process.preload import Prepared
from pyrunc.spec.config import Config, Process


def run(
    cfg: Config, ch: Channel, opts: InitOptions, cgroups: CgroupManager, prepared: Prepared
) -> None:
    """Never returns. Everything it imports lazily, prepared loaded (preload.for_init)."""
    first = timing.count()
    try:
        path, fifo_procfs = _set_up(cfg, opts, cgroups, ch, prepared)
        importguard.check()
        timing.mark("process")
        ch.send("ready", marks=timing.since(first))
        ch.close()
    except BaseException as e:  # noqa: BLE001
        try:
            # hook=True: the runtime then runs poststop, as the spec's lifecycle asks.
            # runc's words, its layers named: runc wraps what init reports this way.
            text = f"unable to start container process: error during container init: {go_style(e)}"
            ch.send("error", msg=text, hook=isinstance(e, hooks.HookError))
        except OSError:
            pass
        os._exit(1)
    _die_on_terminating_signals()
    if opts.joinable:
        # A non-dumpable process's /proc/<pid>/ns files are root's (its memory belongs to
        # the host's user namespace): the rootless user's `exec` could not join a created
        # container. Set up and holding nothing the user may not open anyway, init turns
        # dumpable, as runc's created init is to its user; execve decides it afresh.
        sc.set_dumpable(True)
    _wait_for_start(opts.exec_fifo_fd, fifo_procfs, cfg)
    _exec(cfg.process, path)


def _set_up(
    cfg: Config, opts: InitOptions, cgroups: CgroupManager, ch: Channel, prepared: Prepared
) -> tuple[str | None, int]:
    """Everything up to the exec: (the executable's path, the procfs that init
    reopens exec.fifo through at `start`)."""
    nss = cfg.linux.namespaces
    seccomp = prepared.seccomp_filter()  # compiled by stage 1, with the host's libseccomp
    os.setsid()
    if not opts.no_new_keyring:
        with step("joining a new session keyring"):
            sc.join_session_keyring()
    with step("preparing rootfs"):
        rootfs.prepare_rootfs(
            cfg,
            cfg.linux.namespace("user") is not None,
            lambda root_fd, m: _mount_cgroup(root_fd, m, cgroups),
        )
    if cfg.hostname is not None:
        with step("setting hostname"):
            sc.sethostname(cfg.hostname)
    if cfg.domainname is not None:
        with step("setting domainname"):
            sc.setdomainname(cfg.domainname)
    if namespaces.wants_new(nss, "network"):
        with step("bringing up loopback"):
            network.loopback_up()
    if hooks.needs_sync(cfg.hooks):
        _create_hooks(cfg, ch)
    proc = cfg.process
    if proc is not None:
        attributes.write_oom_score_adj(proc)
    capabilities.last_cap()  # cached now: after the switch /proc may be the container's or none
    # Our own procfs, opened before the switch where the bundle cannot have touched it:
    # LSM and sysctl writes go there, never through the container's /proc
    # (CVE-2019-16884, CVE-2025-52881).
    with step("opening procfs"):
        proc_fd = paths.open_procfs()
        fifo_procfs = _procfs_for_start(proc_fd)
    try:
        with step("switching root"):
            rootfs.switch_root(cfg, opts.no_pivot)
        _set_up_after_switch(cfg, opts, proc_fd)
    finally:
        os.close(proc_fd)
    if proc is None:
        return None, fifo_procfs
    return _set_up_process(proc, opts, seccomp, ch), fifo_procfs


def _procfs_for_start(host_proc_fd: int) -> int:
    """Init holds exec.fifo as an O_PATH fd and opens it for writing through
    /proc/self/fd at the end, when neither the state dir nor the host's /proc is in
    reach. The procfs for that: one of the container's pid namespace, mounted nowhere;
    without CAP_SYS_ADMIN over that namespace (one joined, owned by another user
    namespace) the host's, as runc's procfs handle falls back to it."""
    try:
        return paths.open_private_procfs()
    except OSError:
        return os.dup(host_proc_fd)  # close-on-exec, as every fd Python makes


def _set_up_after_switch(cfg: Config, opts: InitOptions, proc_fd: int) -> None:
    if opts.console_fd >= 0:
        # After the switch: /dev/ptmx is now the container's devpts, so is the pty.
        with step("setting up console"):
            size = cfg.process.console_size if cfg.process is not None else None
            tty.set_up_console(opts.console_fd, rootfs.has_mount_namespace(cfg), size)
    proc = cfg.process
    if proc is not None and proc.apparmor_profile:
        with step("unable to apply apparmor profile"):
            lsm.apply_apparmor(proc_fd, proc.apparmor_profile)
    if proc is not None and proc.selinux_label:
        with step("unable to apply SELinux label"):
            lsm.apply_selinux(proc_fd, proc.selinux_label)
    with step("writing sysctl"):
        sysctl.apply(cfg.linux.sysctl, proc_fd)
    with step("finalizing rootfs"):
        rootfs.finalize_rootfs(cfg)
    timing.mark("mounts")


def _mount_cgroup(root_fd: int, m, cgroups: CgroupManager) -> None:  # noqa: ANN001
    from pyrunc.cgroups.mount import mount_cgroups  # loaded by preload.for_init

    mount_cgroups(root_fd, m, cgroups)


def _set_up_process(proc: Process, opts: InitOptions, seccomp, ch: Channel) -> str:  # noqa: ANN001
    return attributes.apply(
        proc, opts.preserve_fds, seccomp, lambda fd: ch.send_fd("seccomp-listener", fd)
    )


# The state the runtime sent for our hooks; kept for startContainer (this process
# lives for one container, and the state must outlive _set_up).
_hook_state: dict = {}


def _create_hooks(cfg: Config, ch: Channel) -> None:
    """Namespaces and mounts exist, the root is not switched yet: the runtime runs
    prestart and createRuntime, then we run createContainer in here (runtime-spec)."""
    ch.send("hooks")
    _hook_state.update(ch.expect("hooks-done").get("state") or {})
    state = {**_hook_state, "status": CREATING}
    if cfg.hooks.get("createContainer"):
        # runc runs them from the rootfs (its fchdir before the hooks): a relative path
        # in a hook names a file of the container's root (hooks_so.bats).
        os.chdir(cfg.root_path)
    hooks.run(cfg.hooks.get("createContainer", ()), "createContainer", state)


def _process_env(cfg: Config) -> dict[str, str] | None:
    """What a startContainer hook without env runs with: the process's environment
    (HOME filled in), as runc's have it (hooks.bats)."""
    if cfg.process is None:
        return None
    from pyrunc.linux.execute import final_env

    return final_env(cfg.process.env, cfg.process.user.uid)


# Signals whose default action ends a process, as runc's init (a Go program) dies of them.
_TERMINATING = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM")


def _die_on_terminating_signals() -> None:
    """A created container's init is PID 1 of its pid namespace: the kernel drops any
    signal it has no handler for, even from the host, but SIGKILL. runc's init has Go's
    handlers and dies of SIGTERM (pidfd-socket.bats kills a created container so);
    ours end the process too. exec resets them (caught signals do not survive it)."""
    sigs = [getattr(signal, name) for name in _TERMINATING]
    for sig in sigs:
        signal.signal(sig, lambda s, _f: os._exit(128 + s))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)


def _wait_for_start(fifo_fd: int, procfs: int, cfg: Config) -> None:
    """Opening the fifo for writing blocks until `start` opens it for reading.

    startContainer hooks run then, before the user's process; `start` reads "0" for
    success or "1" and the error, which it reports (we exit: the container stops).
    """
    try:
        fd = os.open(f"self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=procfs)
    except OSError:
        os._exit(1)
    os.close(procfs)
    os.close(fifo_fd)
    try:
        state = {**_hook_state, "status": CREATED}
        hooks.run(cfg.hooks.get("startContainer", ()), "startContainer", state, _process_env(cfg))
        importguard.check()
    except Exception as e:  # noqa: BLE001 - start reports it; we stop the container
        os.write(fd, b"1" + go_style(e).encode()[:4000])
        os._exit(1)
    try:
        os.write(fd, b"0")
        os.close(fd)
    except OSError:
        os._exit(1)


def _exec(proc: Process | None, path: str | None) -> None:
    if proc is None or path is None:
        os._exit(1)  # created without a process: start refuses before it gets here
    attributes.exec_or_die(proc, path)
