"""A container's status, derived from the kernel rather than from our records."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs ~11 ms per CLI call

if TYPE_CHECKING:
    from typing import Any

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
STOPPED = "stopped"
PAUSED = "paused"


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks); None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def is_alive(pid: int, start_time: int) -> bool:
    """The recorded process still runs (a reused pid has another start time)."""
    return pid > 0 and process_start_time(pid) == start_time


def freezer_state(cgroup: dict[str, Any]) -> str | None:
    """FROZEN or THAWED as the kernel says for the container's recorded cgroup; read
    directly (no cgroups import) since every `state` and `list` asks."""
    try:
        if cgroup.get("version") == "v2":
            with open(os.path.join(cgroup["path"], "cgroup.events")) as f:
                return "FROZEN" if "frozen 1\n" in f.read() else "THAWED"
        for key, directory in (cgroup.get("paths") or {}).items():
            if "freezer" in key.split(","):
                with open(os.path.join(directory, "freezer.state")) as f:
                    return f.read().strip()
    except OSError:
        return None
    return None


def derive(pid: int, start_time: int, state_dir: str, freezer_state: str | None = None) -> str:
    if not is_alive(pid, start_time):
        return STOPPED
    if freezer_state == "FROZEN":  # before created: runc reports a frozen created one paused
        return PAUSED
    if os.path.exists(os.path.join(state_dir, "exec.fifo")):
        return CREATED
    return RUNNING
