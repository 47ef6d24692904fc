"""The runtime side of container creation: fork stage 1, place it in its cgroup,
map its user namespace, and wait until init reports ready or fails."""

from __future__ import annotations

import os
import signal

from pyrunc.cgroups.manager import CgroupManager
from pyrunc.errors import CreateFailed
from pyrunc.linux import syscalls as sc
from pyrunc.linux import user
from pyrunc.process import intermediate
from pyrunc.process.channel import Channel, ChannelError
from pyrunc.process.options import InitOptions
from pyrunc.spec.config import Config


def launch_init(cfg: Config, cgroups: CgroupManager, opts: InitOptions) -> int:
    """Start the container's init; return its host pid once it waits for `start`.

    On failure every process started here is killed and reaped before raising.
    """
    runtime_ch, stage_ch = Channel.pair()
    # As subreaper we inherit init when stage 1 exits, so a failure can still reap it.
    sc.set_child_subreaper(True)
    stage1 = os.fork()
    if stage1 == 0:
        runtime_ch.close()
        intermediate.run(cfg, stage_ch, opts, cgroups)
    stage_ch.close()
    init_pid = 0
    try:
        init_pid = _drive(cfg, runtime_ch, cgroups, stage1)
        _reap(stage1)
        return init_pid
    except BaseException:
        _kill(init_pid)
        _kill_and_reap(stage1)
        _reap(init_pid)  # ours now: we are its subreaper and stage 1 is gone
        raise
    finally:
        runtime_ch.close()


def _drive(cfg: Config, ch: Channel, cgroups: CgroupManager, stage1: int) -> int:
    init_pid = 0
    ready = False
    try:
        cgroups.apply(stage1)  # before any namespace: a cgroup namespace roots here
        ch.send("cgroup-applied")
        while True:
            msg = ch.recv()
            kind = msg["type"]
            if kind == "userns":
                user.write_id_maps(stage1, cfg.linux.uid_mappings, cfg.linux.gid_mappings)
                ch.send("userns-mapped")
            elif kind == "init-pid":
                init_pid = _checked_pid(msg.get("pid"))
                if ready:
                    return init_pid
            elif kind == "ready" and not ready:
                # Init and stage 1 share the channel: init's "ready" may come first.
                ready = True
                if init_pid:
                    return init_pid
            elif kind == "error":
                raise CreateFailed(str(msg.get("msg", "container init failed")))
            else:
                raise CreateFailed(f"unexpected message {kind!r} from container init")
    except ChannelError:
        raise CreateFailed("container init exited before it was ready") from None


def _checked_pid(value: object) -> int:
    if not isinstance(value, int) or value <= 1:
        raise CreateFailed("container init reported an invalid pid")
    return value


def _reap(pid: int) -> None:
    if pid <= 0:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill(pid: int) -> None:
    if pid > 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _kill_and_reap(pid: int) -> None:
    _kill(pid)
    if pid > 0:
        _reap(pid)


