"""newuidmap/newgidmap (Debian's uidmap, shadow's tools) for a rootless runtime's maps.

An unprivileged process may write only one line to a child's uid_map or gid_map: its
own id, mapped once (user_namespaces(7)). A config that maps more (a range from
/etc/subuid, say) needs a setuid helper that checks the ranges the user was given.
runc's order (nsexec.c): write the map directly; on EPERM run the tool with the map's
triples as arguments and an empty environment. The tool then decides setgroups
itself, so the runtime writes "deny" only for the one-line own-id map it writes.
"""

from __future__ import annotations

import errno
import os

from pyrunc.errors import CreateFailed

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.spec.config import IdMapping

_FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def is_own_id(mappings: tuple[IdMapping, ...], own: int) -> bool:
    """The one map an unprivileged writer may write: container 0 -> own, size 1 (runc's
    requiresRootOrMappingTool tells the two cases apart the same way)."""
    return len(mappings) == 1 and (
        mappings[0].container_id,
        mappings[0].host_id,
        mappings[0].size,
    ) == (0, own, 1)


def write_map(pid: int, which: str, text: str, mappings: tuple[IdMapping, ...]) -> None:
    """Write /proc/pid/{which}_map; refused (EPERM), hand it to new{which}map."""
    path = f"/proc/{pid}/{which}_map"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except PermissionError as e:
        if e.errno != errno.EPERM:
            raise
        run_tool(f"new{which}map", pid, mappings)


def find_tool(name: str) -> str | None:
    for d in (os.environ.get("PATH") or _FALLBACK_PATH).split(":") + _FALLBACK_PATH.split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_tool(name: str, pid: int, mappings: tuple[IdMapping, ...]) -> None:
    """`newuidmap PID ID HOSTID SIZE...`; its last stderr line in ours if it fails."""
    tool = find_tool(name)
    if tool is None:
        raise CreateFailed(
            f"{name} not found: mapping more than your own id needs it (Debian: uidmap)"
        )
    argv = [tool, str(pid)]
    for m in mappings:
        argv += [str(m.container_id), str(m.host_id), str(m.size)]
    r, w = os.pipe()
    try:
        child = os.posix_spawn(
            tool,
            argv,
            {},  # runc gives the setuid tool an empty environment
            file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)],
        )
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        said = f.read().decode(errors="replace").strip()
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        last = said.splitlines()[-1] if said else f"exit status {code}"
        raise CreateFailed(f"failed to use {name} on {pid}: {last}")
