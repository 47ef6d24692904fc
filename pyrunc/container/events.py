"""events: runc's event stream -- stats every interval, OOM kills as they happen.

Each event is one JSON line: {"type": "stats", "id": ..., "data": {...}} or
{"type": "oom", "id": ...}. The OOM count (memory.oom_control on v1,
memory.events on v2) is watched between stats; the stream ends with the container.
"""

from __future__ import annotations

import time

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.container import status as st
from pyrunc.errors import PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from pyrunc.container.container import Container

OOM_POLL = 0.1  # seconds between looks at the OOM count


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":")) + "\n"


def stats_event(c: Container) -> dict[str, Any]:
    st.check_allowed("events", c.status())
    manager = c.cgroup_manager()
    if manager is None:
        raise PyruncError("events: the container has no cgroup")
    return {"type": "stats", "id": c.id, "data": _stats(c, manager)}


def _stats(c: Container, manager) -> dict[str, Any]:  # noqa: ANN001
    """The cgroup's stats, with linux.intelRdt's group's (runc: intel_rdt) if it has one."""
    data = manager.stats()
    if c.record.get("intel_rdt"):
        from pyrunc.linux.intelrdt import IntelRdtManager

        data["intel_rdt"] = IntelRdtManager.from_state(c.id, c.record["intel_rdt"]).stats()
    return data


def stream(
    c: Container, interval: float, clock: Callable[[], float] = time.monotonic
) -> Iterator[dict[str, Any]]:
    st.check_allowed("events", c.status())
    manager = c.cgroup_manager()
    if manager is None:
        raise PyruncError("events: the container has no cgroup")
    ooms = _oom_count(manager)
    next_stats = clock()
    while True:
        alive = c.status() != st.STOPPED
        count = _oom_count(manager)
        for _ in range(max(0, count - ooms)):
            yield {"type": "oom", "id": c.id}
        ooms = count
        if not alive:
            return
        if clock() >= next_stats:
            try:
                yield {"type": "stats", "id": c.id, "data": _stats(c, manager)}
            except OSError:  # the cgroup went away with the container
                return
            next_stats += interval
        time.sleep(max(0.0, min(OOM_POLL, next_stats - clock())))


def _oom_count(manager) -> int:  # noqa: ANN001
    try:
        return manager.oom_kill_count()
    except (OSError, ValueError):
        return 0
