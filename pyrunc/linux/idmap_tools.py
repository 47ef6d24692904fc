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


def subordinate_ranges(path: str, name: str, uid: int) -> list[tuple[int, int]]:
    """(start, count) of the ranges /etc/subuid or /etc/subgid (path) gives the user,
    named or by number, as newuidmap reads them; [] when the file is missing."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        if parts[1].isdigit() and parts[2].isdigit() and int(parts[2]) > 0:
            found.append((int(parts[1]), int(parts[2])))
    return found


def uncovered(start: int, size: int, ranges: list[tuple[int, int]]) -> int | None:
    """The first id of [start, start + size) that no range holds, or None."""
    at, end = start, start + size
    while at < end:
        holder = next((s + n for s, n in ranges if s <= at < s + n), None)
        if holder is None:
            return at
        at = holder
    return None


def privilege(tool: str) -> str | None:
    """How tool may write another process's maps: "setuid root", "file capabilities",
    or None (it would be refused like us)."""
    st = os.stat(tool)
    if st.st_mode & 0o4000 and st.st_uid == 0:
        return "setuid root"
    try:
        os.getxattr(tool, "security.capability")
    except OSError:
        return None
    return "file capabilities"
