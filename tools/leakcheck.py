"""What a container runtime can leave behind on the host, snapshotted and compared.

    python3 -m tools.leakcheck snapshot FILE [--root /run/pyrunc] [--marker TEXT] [--pid PID]
    ... run containers, kill runtimes, `pyrunc delete --force` ...
    python3 -m tools.leakcheck diff FILE        # exit 1 and a list if anything is new

A snapshot holds the host's mount table (/proc/self/mountinfo), every cgroup directory
under every hierarchy of /sys/fs/cgroup, the processes (pid + start time, so a reused
pid counts as new), the open fds of one process (--pid; the test suite watches itself),
the entries of the state roots, and namespaces pinned without a process: /run/netns
entries and nsfs mounts. With --marker only what names the marker (a path or an ID
prefix) is kept, so other work on a busy host does not count; processes then match on
their root directory or command line. The test suite uses the same code (tests/leakcheck.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

CGROUP_ROOT = "/sys/fs/cgroup"
NETNS_DIR = "/run/netns"
KINDS = ("mounts", "cgroups", "processes", "fds", "state", "namespaces")


@dataclass
class Scope:
    """What to look at: markers filter out the rest of the host (None: everything)."""

    markers: tuple[str, ...] | None = None
    # Every runtime's root the run may fill (pyrunc's, and a reference runc's beside it).
    state_roots: tuple[str, ...] = ()
    fd_pid: int | None = None
    # Processes to ignore even if they match (the snapshotting process itself).
    ignore_pids: frozenset[int] = field(default_factory=frozenset)

    def wants(self, text: str) -> bool:
        return self.markers is None or any(m in text for m in self.markers)


def _mountinfo() -> list[list[str]]:
    with open("/proc/self/mountinfo") as f:
        return [line.split() for line in f]


def _fstype(fields: list[str]) -> str:
    # Optional fields end at "-"; the filesystem type follows it.
    return fields[fields.index("-") + 1]


def mounts(scope: Scope) -> set[str]:
    """Mount points (with their root, so a remount over the same path still counts)."""
    return {f"{f[4]} ({f[3]})" for f in _mountinfo() if scope.wants(" ".join(f))}


def cgroups(scope: Scope) -> set[str]:
    found: set[str] = set()
    try:
        hierarchies = os.listdir(CGROUP_ROOT)
    except FileNotFoundError:
        return found
    for name in hierarchies:
        top = os.path.join(CGROUP_ROOT, name)
        if os.path.islink(top):  # cpu -> cpu,cpuacct: walk each hierarchy once
            continue
        for dirpath, dirnames, _ in os.walk(top):
            found.update(os.path.join(dirpath, d) for d in dirnames if scope.wants(d))
    return found


def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return data[data.rindex(")") + 2 :].split()


def _matches(pid: str, scope: Scope) -> bool:
    if scope.markers is None:
        return True
    try:
        root = os.readlink(f"/proc/{pid}/root")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().decode(errors="replace")
    except OSError:
        return False
    return scope.wants(root) or scope.wants(cmd)


def processes(scope: Scope) -> set[str]:
    """'pid start-time' of live processes (zombies too: an unreaped child is a leak)."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in scope.ignore_pids:
            continue
        fields = _stat_fields(name)
        if fields is not None and _matches(name, scope):
            found.add(f"{name} {fields[19]}")
    return found


def children(parent: int) -> set[int]:
    """Direct children of `parent` (orphans a subreaper collected count here)."""
    kids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(name)
            if fields is not None and fields[1] == str(parent):
                kids.add(int(name))
    return kids


def fds(scope: Scope) -> set[str]:
    """Fd numbers (a number closed and reopened on another file is not a leak)."""
    if scope.fd_pid is None:
        return set()
    return set(os.listdir(f"/proc/{scope.fd_pid}/fd"))


def fd_targets(pid: int, numbers: Iterable[str]) -> list[str]:
    """'N -> what it points at', for a readable report."""
    out = []
    for n in numbers:
        try:
            out.append(f"{n} -> {os.readlink(f'/proc/{pid}/fd/{n}')}")
        except OSError:  # closed meanwhile (listdir's own fd, for one)
            continue
    return out


def state(scope: Scope) -> set[str]:
    """Each container's state dir, as root/id, in every state root."""
    found: set[str] = set()
    for root in scope.state_roots:
        try:
            found.update(os.path.join(root, entry) for entry in os.listdir(root))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def namespaces(scope: Scope) -> set[str]:
    """Namespaces kept alive by a name rather than a process: /run/netns and nsfs mounts."""
    found: set[str] = set()
    try:
        found.update(os.path.join(NETNS_DIR, n) for n in os.listdir(NETNS_DIR) if scope.wants(n))
    except (FileNotFoundError, NotADirectoryError):
        pass
    for f in _mountinfo():
        if _fstype(f) == "nsfs" and scope.wants(" ".join(f)):
            found.add(f"nsfs {f[3]} at {f[4]}")
    return found


_COLLECTORS = {
    "mounts": mounts,
    "cgroups": cgroups,
    "processes": processes,
    "fds": fds,
    "state": state,
    "namespaces": namespaces,
}


def snapshot(scope: Scope) -> dict[str, set[str]]:
    return {kind: _COLLECTORS[kind](scope) for kind in KINDS}


def diff(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, list[str]]:
    """What is in `after` and was not in `before`, per kind (empty: no leak)."""
    return {k: sorted(after[k] - before[k]) for k in KINDS if after[k] - before[k]}


def _dump(snap: dict[str, set[str]], scope: Scope, path: str) -> None:
    doc = {"scope": asdict(scope), "snapshot": {k: sorted(v) for k, v in snap.items()}}
    doc["scope"]["ignore_pids"] = []
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def _load(path: str) -> tuple[Scope, dict[str, set[str]]]:
    with open(path) as f:
        doc = json.load(f)
    s = doc["scope"]
    markers = tuple(s["markers"]) if s["markers"] is not None else None
    roots = tuple(s["state_roots"])
    scope = Scope(markers, roots, s["fd_pid"], frozenset({os.getpid()}))
    return scope, {k: set(v) for k, v in doc["snapshot"].items()}


def _comm(item: str) -> str:
    try:
        with open(f"/proc/{item.split()[0]}/comm") as f:
            return f" ({f.read().strip()})"
    except OSError:
        return ""


def _parse(argv: Iterable[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python3 -m tools.leakcheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="record the host's state in FILE")
    snap.add_argument("file")
    snap.add_argument(
        "--root", action="append", help="a state root to watch (repeatable; /run/pyrunc)"
    )
    snap.add_argument("--marker", action="append", help="keep only what names this text")
    snap.add_argument("--pid", type=int, default=None, help="watch this process's fds")
    d = sub.add_parser("diff", help="compare the host now with FILE; exit 1 on new things")
    d.add_argument("file")
    return p.parse_args(list(argv))


def main(argv: Iterable[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.command == "snapshot":
        markers = tuple(args.marker) if args.marker else None
        roots = tuple(args.root or ["/run/pyrunc"])
        scope = Scope(markers, roots, args.pid, frozenset({os.getpid()}))
        _dump(snapshot(scope), scope, args.file)
        return 0
    scope, before = _load(args.file)
    leaks = diff(before, snapshot(scope))
    if "fds" in leaks and scope.fd_pid is not None:
        leaks["fds"] = fd_targets(scope.fd_pid, leaks["fds"]) or leaks["fds"]
    for kind, items in leaks.items():
        for item in items:
            print(f"{kind}: {item}{_comm(item) if kind == 'processes' else ''}")
    if not leaks:
        print("no leaks")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
