"""The runtime side of container creation: fork stage 1, place it in its cgroup,
map its user namespace, and wait until init reports ready or fails."""

from __future__ import annotations

import os

from pyrunc import timing
from pyrunc.cgroups import placement
from pyrunc.cgroups.manager import CgroupManager
from pyrunc.container.status import CREATING
from pyrunc.errors import CreateFailed
from pyrunc.faults import FAULT, hit
from pyrunc.linux import sched, userns
from pyrunc.linux import syscalls as sc
from pyrunc.process import intermediate
from pyrunc.process.channel import Channel, ChannelError
from pyrunc.process.options import InitOptions
from pyrunc.process.reap import checked_pid, kill, kill_and_reap, reap
from pyrunc.spec.config import Config

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyrunc.cgroups.placement import Placement
    from pyrunc.linux.intelrdt import IntelRdtManager


def launch_init(
    cfg: Config,
    cgroups: CgroupManager,
    opts: InitOptions,
    on_hooks: Callable[[int], dict[str, Any]] | None = None,
    rdt: IntelRdtManager | None = None,
) -> int:
    """Start the container's init; return its host pid once it waits for `start`.
    rdt: linux.intelRdt's group, joined right after the cgroup (as runc).

    On failure every process started here is killed and reaped before raising.
    """
    runtime_ch, stage_ch = Channel.pair()
    # As subreaper we inherit init when stage 1 exits, so a failure can still reap it.
    sc.set_child_subreaper(True)
    plan = cgroups.placement()
    stage1, born = placement.fork(plan)
    if stage1 == 0:
        runtime_ch.close()
        intermediate.run(cfg, stage_ch, opts, cgroups, plan and (plan, born))
    stage_ch.close()
    if FAULT:
        hit("after-fork")
    init_pid = 0
    try:
        cid = _container_id(opts)
        init_pid = _drive(cfg, runtime_ch, cgroups, plan, stage1, cid, on_hooks, rdt)
        if FAULT:
            hit("after-init-ready")
        reap(stage1)
        return init_pid
    except BaseException:
        kill(init_pid)
        kill_and_reap(stage1)
        reap(init_pid)  # ours now: we are its subreaper and stage 1 is gone
        raise
    finally:
        runtime_ch.close()


def _container_id(opts: InitOptions) -> str:
    # The fifo's directory is named after the container (store.new): no extra plumbing.
    return os.path.basename(os.path.dirname(os.readlink(f"/proc/self/fd/{opts.exec_fifo_fd}")))


def _drive(
    cfg: Config,
    ch: Channel,
    cgroups: CgroupManager,
    plan: Placement | None,
    stage1: int,
    cid: str,
    on_hooks: Callable[[int], dict[str, Any]] | None,
    rdt: IntelRdtManager | None = None,
) -> int:
    listener = _Listener(cfg, cid)
    try:
        hook_sync = _HookSync(ch, on_hooks)
        return _drive_messages(cfg, ch, cgroups, plan, stage1, listener, hook_sync, rdt)
    finally:
        listener.close()


class _HookSync:
    """Init asks ("hooks") before its root switch; we run the runtime-namespace hooks
    once its host pid is known too (stage 1's "init-pid" may come after), then answer
    with the state for the hooks init runs itself."""

    def __init__(self, ch: Channel, on_hooks: Callable[[int], dict[str, Any]] | None) -> None:
        self.ch, self.on_hooks, self.pending = ch, on_hooks, False

    def request(self) -> None:
        if self.pending:
            raise CreateFailed("container init asked for its hooks twice")
        self.pending = True

    def deliver(self, pid: int) -> None:
        if not self.pending or not pid:
            return
        self.pending = False
        state = self.on_hooks(pid) if self.on_hooks else {}
        self.ch.send("hooks-done", state=state)


class _Listener:
    """A SCMP_ACT_NOTIFY listener fd from init, sent on once init's host pid is known."""

    def __init__(self, cfg: Config, cid: str) -> None:
        self.cfg, self.cid, self.fd = cfg, cid, -1

    def take(self, fds: list[int]) -> None:
        if self.fd >= 0 or len(fds) != 1 or not self.cfg.linux.seccomp:
            for fd in fds:
                os.close(fd)
            raise CreateFailed("container init sent an unexpected seccomp listener")
        self.fd = fds[0]

    def deliver(self, pid: int) -> None:
        if self.fd < 0 or not pid:
            return
        from pyrunc.linux import seccomp_agent

        state = {
            "ociVersion": self.cfg.oci_version,
            "id": self.cid,
            "status": CREATING,
            "pid": pid,
            "bundle": self.cfg.bundle,
            "annotations": self.cfg.annotations,
        }
        try:
            seccomp_agent.send_listener(self.cfg.linux.seccomp or {}, self.fd, state)
        except ValueError as e:
            raise CreateFailed(str(e)) from None
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _drive_messages(
    cfg: Config,
    ch: Channel,
    cgroups: CgroupManager,
    plan: Placement | None,
    stage1: int,
    listener: _Listener,
    hooks: _HookSync,
    rdt: IntelRdtManager | None = None,
) -> int:
    init_pid = 0
    ready = False
    try:
        # Before any namespace: a cgroup namespace roots here.
        if plan is None:
            cgroups.apply(stage1)
        else:  # stage 1 joined itself; what it could not, by pid
            placement.finish(plan, stage1, ch.expect("cgroup-joined")["left"])
        sched.reset_affinity(stage1)  # init follows stage 1 by fork, as with the cgroup
        if rdt is not None:
            rdt.apply(stage1)  # init and its children follow stage 1 by fork
        timing.mark("fork")
        ch.send("cgroup-applied")
        while True:
            msg, fds = ch.recv_with_fds(1)
            kind = msg["type"]
            if kind == "seccomp-listener":
                listener.take(fds)
                listener.deliver(init_pid)
                continue
            for fd in fds:  # only the listener message may carry one
                os.close(fd)
            if fds:
                raise CreateFailed(f"container init sent a file descriptor with {kind!r}")
            if kind == "userns":
                userns.write_id_maps(stage1, cfg.linux.uid_mappings, cfg.linux.gid_mappings)
                ch.send("userns-mapped")
            elif kind == "net-devices":  # stage 1 is in the container's netns
                from pyrunc.linux import netdevices

                netdevices.move_in(cfg.linux.net_devices, f"/proc/{stage1}/ns/net")
                ch.send("net-devices-moved")
            elif kind == "hooks":
                hooks.request()
                hooks.deliver(init_pid)
            elif kind == "init-pid":
                init_pid = checked_pid(msg.get("pid"))
                timing.add(msg.get("marks"))
                listener.deliver(init_pid)
                hooks.deliver(init_pid)
                if ready:
                    return init_pid
            elif kind == "ready" and not ready:
                # Init and stage 1 share the channel: init's "ready" may come first.
                ready = True
                timing.add(msg.get("marks"))
                if init_pid:
                    return init_pid
            elif kind == "error":
                text = str(msg.get("msg", "container init failed"))
                if msg.get("hook") is True:  # a createContainer hook failed
                    from pyrunc.container.hooks import HookError

                    raise HookError(text)
                raise CreateFailed(text)
            else:
                raise CreateFailed(f"unexpected message {kind!r} from container init")
    except (ChannelError, BrokenPipeError, ConnectionResetError):
        # A send to a stage that died (e.g. OOM-killed) fails with EPIPE: same meaning.
        raise CreateFailed("container init exited before it was ready") from None
