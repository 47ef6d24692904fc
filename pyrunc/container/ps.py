"""ps: the container's processes, as host pids or as `ps` lines filtered to them."""

from __future__ import annotations

import os
import shutil
import subprocess

from pyrunc.errors import PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def pids(c: Container) -> list[int]:
    """Every host pid in the container's cgroup (containerd reads this as JSON)."""
    manager = c.cgroup_manager()
    return sorted(manager.pids()) if manager is not None else []


def _ps_binary() -> str:
    # kill/ps may come with an environment without PATH (podman passes none).
    found = shutil.which("ps") or shutil.which("ps", path="/usr/bin:/bin")
    if found is None:
        raise PyruncError('exec: "ps": executable file not found in $PATH')
    return found


def table(c: Container, ps_args: list[str]) -> str:
    """runc's way: run ps (default -ef), keep the header and the container's lines."""
    wanted = set(pids(c))
    args = ps_args or ["-ef"]
    r = subprocess.run(
        [_ps_binary(), *args], capture_output=True, text=True, env=os.environ | {"LC_ALL": "C"}
    )
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise PyruncError(f"ps: {msg}")
    lines = r.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise PyruncError("couldn't find PID field in ps output")
    index = header.index("PID")
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > index and fields[index].isdigit() and int(fields[index]) in wanted:
            out.append(line)
    return "\n".join(out) + "\n"
