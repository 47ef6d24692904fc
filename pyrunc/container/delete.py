"""delete: remove a stopped container (with --force, kill it first)."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

from pyrunc.container import hooks
from pyrunc.container import status as st
from pyrunc.container.store import CorruptState, StateStore
from pyrunc.container.wait import wait_exit
from pyrunc.errors import ContainerNotExist, ContainerNotRunning
from pyrunc.faults import FAULT, hit

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def delete(c: Container, force: bool = False) -> None:
    with c.store.lock(c.id):
        c.record = c.store.read(c.id)  # what we loaded may predate a create that finished
        status = c.status()
        st.check_allowed("delete --force" if force else "delete", status, c.id)
        manager = c.cgroup_manager()
        if not st.allows("delete", status):  # --force: it still runs, kill it first
            try:
                c.kill(signal.SIGKILL)
            except ContainerNotRunning:  # it exited meanwhile
                pass
            wait_exit(c.pid, timeout=10)
        if FAULT:
            hit("delete-after-kill")
        if manager is not None:
            from pyrunc.cgroups.kill import kill_all

            kill_all(manager)
            manager.destroy()
        if c.record.get("intel_rdt"):  # after the cgroup, as runc
            from pyrunc.linux.intelrdt import IntelRdtManager

            IntelRdtManager.from_state(c.id, c.record["intel_rdt"]).destroy()
        if FAULT:
            hit("delete-after-cgroups")
        if c.record.get("shares_mount_ns"):
            from pyrunc.linux.rootfs import detach_mounts_under, undo_root_bind

            detach_mounts_under(c.record["rootfs"])
            if c.record.get("root_bind"):
                undo_root_bind(c.record["rootfs"])
        c.store.remove(c.id)
        _poststop(c)


def _poststop(c: Container) -> None:
    """After the container is gone, before delete returns; failures only warn."""
    entries = hooks.from_record(c.record, "poststop")
    if entries:
        hooks.run_warning(entries, "poststop", hooks.state_doc(c.record, st.STOPPED, 0))


def delete_unreadable(store: StateStore, container_id: str) -> None:
    """`delete --force` when state.json is missing or corrupt: a runtime killed mid-create
    or mid-delete, or a damaged file. Remove what can be found; nothing there is success."""
    try:
        with store.lock(container_id):
            try:
                record = store.read(container_id)
            except (ContainerNotExist, CorruptState):
                _salvage(store, container_id)
                return
    except ContainerNotExist:
        return
    # Readable after all (a create finished while we waited): the normal way.
    from pyrunc.container.container import Container

    try:
        Container(store, record).delete(force=True)
    except ContainerNotExist:  # another delete got there first: gone is what was asked
        pass


def _salvage(store: StateStore, container_id: str) -> None:
    """Without a record, the cgroup is found where a default cgroupsPath puts it
    (<our cgroup>/<id>); its processes are killed and it is removed, then the state dir."""
    from pyrunc.cgroups.kill import kill_all
    from pyrunc.cgroups.manager import manager_from_state, new_manager

    data = new_manager(container_id, "").to_state()
    if "paths" in data:  # v1: one leaf per hierarchy, only those that exist
        data["paths"] = {k: d for k, d in data["paths"].items() if os.path.isdir(d)}
        data["created"] = list(data["paths"].values())
    else:
        data["created"] = [data["path"]] if os.path.isdir(data["path"]) else []
    if data["created"]:
        manager = manager_from_state(data)
        if manager is not None:
            kill_all(manager)
            manager.destroy()
    store.remove(container_id)
