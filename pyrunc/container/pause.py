"""pause: freeze every process of the container (v1 freezer, v2 cgroup.freeze)."""

from __future__ import annotations

from pyrunc.container import status as st
from pyrunc.errors import InvalidState

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def pause(c: Container) -> None:
    with c.store.lock(c.id):
        st.check_allowed("pause", c.status())
        manager = c.cgroup_manager()
        if manager is None:
            raise InvalidState("cannot pause a container without cgroups")
        manager.freeze()
