"""pause: freeze every process of the container (v1 freezer, v2 cgroup.freeze)."""

from __future__ import annotations

from pyrunc.container import status as st
from pyrunc.errors import ContainerNotRunning, InvalidState

TYPE_CHECKING = False  # not typing's: importing typing costs ~11 ms per CLI call

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def pause(c: Container) -> None:
    with c.store.lock(c.id):
        status = c.status()
        if status not in (st.RUNNING, st.CREATED):  # runc pauses created ones too
            raise ContainerNotRunning()
        manager = c.cgroup_manager()
        if manager is None:
            raise InvalidState("cannot pause a container without cgroups")
        manager.freeze()
