"""delete: remove a stopped container (with --force, kill it first)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from pyrunc.container import hooks
from pyrunc.container import status as st
from pyrunc.container.wait import wait_exit
from pyrunc.errors import ContainerNotRunning, InvalidState

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def delete(c: Container, force: bool = False) -> None:
    with c.store.lock(c.id):
        status = c.status()
        if status != st.STOPPED and not force:
            raise InvalidState(f"cannot delete container {c.id} that is not stopped: {status}")
        manager = c.cgroup_manager()
        if status != st.STOPPED:
            try:
                c.kill(signal.SIGKILL)
            except ContainerNotRunning:  # it exited meanwhile
                pass
            wait_exit(c.pid, timeout=10)
        if manager is not None:
            from pyrunc.cgroups.kill import kill_all

            kill_all(manager)
            manager.destroy()
        if c.record.get("shares_mount_ns"):
            from pyrunc.linux.rootfs import detach_mounts_under

            detach_mounts_under(c.record["rootfs"])
        c.store.remove(c.id)
        _poststop(c)


def _poststop(c: Container) -> None:
    """After the container is gone, before delete returns; failures only warn."""
    entries = hooks.from_record(c.record, "poststop")
    if entries:
        hooks.run_warning(entries, "poststop", hooks.state_doc(c.record, st.STOPPED, 0))
