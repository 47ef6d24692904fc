"""Host clean-up after runtime-tools' test programs.

A test program that fails half-way leaves containers, mounts below its TMPDIR and
cgroups at the suite's fixed paths; the next program (or the next runtime) would
trip over them. Containers go through the runtime's own `delete --force`; a dir
with something still mounted below it (conformance/suitecore's safe_rmtree), and a
cgroup that is not empty, are left (and reported), never forced.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path


def cleanup_cgroups() -> list[str]:
    """rmdir leftover test cgroups (named cgrouptest, and their testdir parent).

    The suite uses /cgrouptest and testdir/cgrouptest/container (relative to
    the runtime's cgroup).  Only empty cgroups can be removed; none is killed.
    Returns the cgroups that are left.
    """
    base = Path("/sys/fs/cgroup")
    if not base.is_dir():
        return []
    roots = [base] if (base / "cgroup.procs").exists() else [p for p in base.iterdir()]
    targets: list[Path] = []
    for root in roots:
        if root.is_symlink() or not root.is_dir():
            continue
        stack = [(root, 0)]
        while stack:
            d, depth = stack.pop()
            try:
                subs = [e for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for e in subs:
                p = Path(e.path)
                if e.name == "cgrouptest":
                    targets.append(p)
                elif depth < 3:
                    stack.append((p, depth + 1))
    left = []
    for t in targets:
        for dirpath, _dirs, _files in sorted(os.walk(t, topdown=False), key=lambda x: -len(x[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        if t.exists():
            left.append(str(t))
        elif t.parent.name == "testdir":
            with contextlib.suppress(OSError):
                t.parent.rmdir()
    return left


def _list_containers(runtime: str) -> list[dict] | None:
    """`RUNTIME list --format json` (runc, crun), or None if that fails."""
    try:
        out = subprocess.run(
            [runtime, "list", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        items = json.loads(out.stdout or "null") if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if items is None:
        return [] if out.returncode == 0 else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else None


def leftover_containers(runtime: str, below: Path) -> list[str]:
    """Force-delete containers whose bundle is below `below`.

    Returns one note per container found.  A runtime without
    `list --format json` is not checked.
    """
    prefix = str(below).rstrip("/") + "/"

    def mine(items: list[dict] | None) -> list[str]:
        return [
            str(i["id"])
            for i in items or []
            if i.get("id") and (str(i.get("bundle", "")) + "/").startswith(prefix)
        ]

    found = mine(_list_containers(runtime))
    if not found:
        return []
    for cid in found:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [runtime, "delete", "--force", cid],
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
    still = set(mine(_list_containers(runtime)))
    return [
        f"left container {cid} ({'force-delete FAILED' if cid in still else 'force-deleted'})"
        for cid in found
    ]
