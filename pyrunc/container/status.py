"""A container's status, derived from the kernel rather than from our records, and
which operation each status allows.

Every command imports this module (state, start, kill and delete import little else),
so it imports nothing but os and errors.
"""

from __future__ import annotations

import os

from pyrunc.errors import ContainerNotRunning, ExecFailed, InvalidState, PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
STOPPED = "stopped"
PAUSED = "paused"
_EVERY = frozenset((CREATING, CREATED, RUNNING, PAUSED, STOPPED))

# Which statuses allow each operation: the one place a rule lives (runc spreads it over
# the states of libcontainer/state_linux.go, youki over can_start, can_kill, ...).
# An operation is named as the CLI spells it, a flag that widens it as a variant.
ALLOWED: dict[str, frozenset[str]] = {
    "start": frozenset((CREATED,)),
    "kill": frozenset((CREATED, RUNNING, PAUSED)),
    "pause": frozenset((CREATED, RUNNING)),  # runc pauses created ones too
    "resume": frozenset((PAUSED,)),
    # Not refused while creating: the launch itself fails then (kept as it always was).
    "exec": _EVERY - {PAUSED, STOPPED},
    "exec --ignore-paused": _EVERY - {STOPPED},
    "update": _EVERY - {STOPPED},
    "events": _EVERY - {STOPPED},  # and events --stats
    "delete": frozenset((STOPPED,)),
    "delete --force": _EVERY,  # killed first unless "delete" allows it
    "checkpoint": frozenset((RUNNING, PAUSED)),  # CRIU dumps a frozen tree too
}

# The error for an operation a status refuses, in runc's words (engines match on them):
# (operation, status) first, then (operation, None) for any other status. A variant
# ("exec --ignore-paused") falls back to its operation's entries. None as the text:
# the class's own message. {status} and {id} are filled in.
_REFUSALS: dict[tuple[str, str | None], tuple[type[PyruncError], str | None]] = {
    ("start", RUNNING): (InvalidState, "cannot start an already running container"),
    ("start", STOPPED): (InvalidState, "cannot start a container that has stopped"),
    ("start", None): (InvalidState, "cannot start a container in the {status} state"),
    ("kill", None): (ContainerNotRunning, None),
    ("pause", None): (ContainerNotRunning, None),
    ("resume", None): (InvalidState, "container not paused"),
    ("exec", STOPPED): (ExecFailed, "cannot exec in a stopped container"),
    ("exec", PAUSED): (
        ExecFailed,
        "cannot exec in a paused container (use --ignore-paused to override)",
    ),
    ("update", None): (ContainerNotRunning, None),
    ("events", None): (ContainerNotRunning, None),
    ("delete", None): (InvalidState, "cannot delete container {id} that is not stopped: {status}"),
    ("checkpoint", None): (InvalidState, "Container cannot be checkpointed in {status} state"),
}


def allows(operation: str, status: str) -> bool:
    """Whether a container in `status` may undergo `operation` (a key of ALLOWED)."""
    return status in ALLOWED[operation]


def refusal(operation: str, status: str, container_id: str = "") -> PyruncError:
    """The error to raise for `operation` in a `status` that does not allow it."""
    base = operation.partition(" ")[0]
    for key in ((operation, status), (base, status), (operation, None), (base, None)):
        if key in _REFUSALS:
            kind, text = _REFUSALS[key]
            break
    else:
        raise KeyError(f"no refusal for {operation!r} in status {status!r}")
    if text is None:
        return kind()
    return kind(text.format(status=status, id=container_id))


def check_allowed(operation: str, status: str, container_id: str = "") -> None:
    """Raise runc's error unless a container in `status` may undergo `operation`."""
    if not allows(operation, status):
        raise refusal(operation, status, container_id)


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
