"""resume: thaw a paused container."""

from __future__ import annotations

from pyrunc.container import status as st

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def resume(c: Container) -> None:
    with c.store.lock(c.id):
        st.check_allowed("resume", c.status())
        manager = c.cgroup_manager()
        if manager is not None:
            manager.thaw()
