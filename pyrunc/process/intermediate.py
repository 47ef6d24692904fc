"""Stage 1: joins and creates the namespaces, then forks the container init.

A new pid or time namespace applies to children only, hence the fork; this
stage then exits so that init is never left the child of a runtime process.
"""

from __future__ import annotations

import os

from pyrunc import timing
from pyrunc.cgroups import placement
from pyrunc.cgroups.manager import CgroupManager
from pyrunc.linux import mounts, namespaces
from pyrunc.linux import syscalls as sc
from pyrunc.process import importguard, init, preload
from pyrunc.process.channel import Channel
from pyrunc.process.errors import go_style, step
from pyrunc.process.options import InitOptions
from pyrunc.spec.config import Config

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.cgroups.placement import Placement


def run(
    cfg: Config,
    ch: Channel,
    opts: InitOptions,
    cgroups: CgroupManager,
    placed: tuple[Placement, bool] | None = None,
) -> None:
    """Never returns: the process ends here or in init's exec.
    placed: the cgroups this stage joins itself ((plan, born): cgroups/placement.py)."""
    try:
        if placed is not None:  # first: init and everything after follow by fork
            ch.send("cgroup-joined", left=placement.move_self(*placed))
        # Drop what the runtime had open (its state-dir lock above all) right away.
        keep = {ch.fileno(), opts.exec_fifo_fd, opts.console_fd}
        sc.close_fds_except(keep, 3 + opts.preserve_fds)
        nss = cfg.linux.namespaces
        offsets_fd = -1
        if namespaces.wants_new(nss, "time") and cfg.linux.time_offsets:
            # Opened while still dumpable: a non-dumpable process's /proc/self files
            # are root's, and a rootless runtime could not open this one for writing.
            with step("opening time offsets"):
                offsets_fd = namespaces.open_time_offsets()
        sc.set_dumpable(False)  # before entering any container namespace
        # While the runtime moves us into the cgroup: from the namespaces on, the
        # host's Python installation may be out of reach or the image's.
        prepared = preload.for_init(cfg)
        ch.expect("cgroup-applied")
        # Still in the host's user namespace: idmapped mounts need its CAP_SYS_ADMIN.
        with step("preparing idmapped mounts"):
            mounts.prepare_idmapped(cfg)
        importguard.arm("the container's init", opts.debug)
        with step("joining namespaces"):
            namespaces.join_namespaces(nss)
        if namespaces.joins(nss, "user"):
            # Host root is unmapped in there: every file we create would fail EOVERFLOW.
            _become_root("joined")
        if namespaces.wants_new(nss, "user"):
            _enter_new_userns(ch)
        with step("creating namespaces"):
            sc.unshare(namespaces.new_namespace_flags(nss))
        if offsets_fd >= 0:
            with step("setting time offsets"):
                namespaces.write_time_offsets(offsets_fd, cfg.linux.time_offsets)
                os.close(offsets_fd)
        if cfg.linux.net_devices:
            # The runtime moves them into our network namespace now, before init
            # exists, as runc: init's sysctls and every hook find them there.
            ch.send("net-devices")
            ch.expect("net-devices-moved")
        timing.mark("namespaces")
        first = timing.count()
        pid = os.fork()
        if pid == 0:
            init.run(cfg, ch, opts, cgroups, prepared)
        ch.send("init-pid", pid=pid, marks=timing.since(first - 1))
    except BaseException as e:  # noqa: BLE001 - report, never unwind into the runtime's code
        _report(ch, e)
        os._exit(1)
    os._exit(0)


def _enter_new_userns(ch: Channel) -> None:
    with step("creating user namespace"):
        sc.unshare(sc.CLONE_NEWUSER)
    # Dumpable while the runtime writes our maps: a non-dumpable process's /proc files
    # belong to root, and a rootless runtime could not open them (runc does the same).
    sc.set_dumpable(True)
    ch.send("userns")  # the runtime writes our uid/gid maps from outside
    ch.expect("userns-mapped")
    sc.set_dumpable(False)
    _become_root("new")


def _become_root(which: str) -> None:
    with step(f"becoming root in the {which} user namespace"):
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def _report(ch: Channel, e: BaseException) -> None:
    try:
        ch.send("error", msg=go_style(e))
    except OSError:
        pass
