"""What one .bats file leaves on the host, found by comparing the host before and after
it, and cleaned so that the next file (or the next runtime) starts clean.

- containers: in the runtime's default state root (new since the file started, with
  their bundle below the file's TMPDIR) and in the per-test state roots
  (`$ROOT/state`, below the TMPDIR) that survived the file: each is reported and
  force-deleted with the runtime's own `delete --force`;
- processes: new since the file started and the file's, i.e. whose root, cwd or
  command line is below its TMPDIR, or whose cgroup is the suite's: reported, killed
  (the suite's frozen cgroups are thawed first: a frozen process does not die);
- mounts (this mount namespace): new since the file started; those below the TMPDIR
  are reported and lazily unmounted, the others are only counted;
- cgroups: new directories in every hierarchy (4 levels deep) that are the suite's
  (below its `runc-cgroups-integration-test` parent, or named as a word of the file):
  the empty ones below that parent are removed, the others only reported; other new
  cgroups are only counted;
- loop devices: new since the file started, reported (the suite detaches its own).

Another user of the machine can show up here (a cgroup or a mount made meanwhile):
only what is clearly the suite's is ever removed. Python standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
SUITE_CGROUP = "runc-cgroups-integration-test"


@dataclass
class Snapshot:
    pids: set[int] = field(default_factory=set)
    mounts: dict[str, str] = field(default_factory=dict)  # mount id -> mount point
    cgroups: set[str] = field(default_factory=set)
    loops: set[str] = field(default_factory=set)
    containers: set[str] = field(default_factory=set)  # in the default state root


def pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def unescape(mp: str) -> str:
    return mp.encode().decode("unicode_escape")


def mounts() -> dict[str, str]:
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            w = line.split()
            out[w[0]] = unescape(w[4])
    return out


def cgroup_dirs(root: Path = CGROUP_ROOT, depth: int = 4) -> set[str]:
    found: set[str] = set()
    stack = [(str(root), 0)]
    while stack:
        d, lvl = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                found.add(e.path)
                if lvl < depth:
                    stack.append((e.path, lvl + 1))
    return found


def mount_fstype(path: str) -> str:
    """The file system type of the mount at `path` (the last one), or ""."""
    fstype = ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            w = line.split()
            if unescape(w[4]) == path and " - " in line:
                fstype = line.split(" - ", 1)[1].split()[0]
    return fstype


def cgroup_relpath(path: str, root: Path = CGROUP_ROOT, unified: bool | None = None) -> str:
    """/sys/fs/cgroup/<hierarchy>/a/b -> /a/b (v1, hybrid); /sys/fs/cgroup/a/b -> /a/b
    (cgroup2 alone, `root` itself a cgroup2 mount)."""
    if unified is None:
        unified = mount_fstype(str(root)) == "cgroup2"
    rel = os.path.relpath(path, root)
    if unified:
        return "/" + rel
    parts = rel.split("/", 1)
    return "/" + (parts[1] if len(parts) > 1 else "")


def loop_devices() -> set[str]:
    out = set()
    with contextlib.suppress(OSError):
        for d in os.listdir("/sys/block"):
            bf = Path("/sys/block") / d / "loop" / "backing_file"
            if bf.is_file():
                with contextlib.suppress(OSError):
                    out.add(f"/dev/{d} ({bf.read_text().strip()})")
    return out


def list_containers(runtime: str, root: str | None = None) -> list[dict] | None:
    """`RUNTIME [--root ROOT] list --format json`, or None when that fails."""
    cmd = [runtime] + (["--root", root] if root else []) + ["list", "--format", "json"]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
        if out.returncode != 0:
            return None
        items = json.loads(out.stdout or "null") or []
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else None


def snapshot(runtime: str) -> Snapshot:
    return Snapshot(
        pids=pids(),
        mounts=mounts(),
        cgroups=cgroup_dirs(),
        loops=loop_devices(),
        containers={str(c.get("id")) for c in list_containers(runtime) or []},
    )


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def is_below(path: str, top: str) -> bool:
    top = top.rstrip("/")
    return path == top or path.startswith(top + "/")


def stray_processes(before: set[int], tmpdir: Path) -> list[tuple[int, str]]:
    """New processes that belong to the file: (pid, short command line)."""
    me = os.getpid()
    top = str(tmpdir)
    found = []
    for pid in sorted(pids() - before):
        if pid == me:
            continue
        base = f"/proc/{pid}"
        stat = _read(f"{base}/stat")
        if not stat:
            continue
        # Kernel threads (children of kthreadd, pid 2) and zombies (dead already,
        # waiting for a parent that reaps them) are nobody's leftovers.
        with contextlib.suppress(IndexError, ValueError):
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" or int(fields[1]) == 2:
                continue
        cmdline = _read(f"{base}/cmdline").replace("\0", " ").strip()
        mine = (
            is_below(_link(f"{base}/root"), top)
            or is_below(_link(f"{base}/cwd"), top)
            or top in cmdline
            or SUITE_CGROUP in _read(f"{base}/cgroup")
        )
        if mine:
            found.append((pid, cmdline[:120] or stat.split(" ", 2)[1]))
    return found


def thaw(cg: str) -> bool:
    """Thaw a frozen cgroup (v1 freezer.state, v2 cgroup.freeze); True if it was."""
    for name, frozen, thawed in (
        ("freezer.state", ("FROZEN", "FREEZING"), "THAWED"),
        ("cgroup.freeze", ("1",), "0"),
    ):
        path = os.path.join(cg, name)
        if _read(path).strip() in frozen:
            with contextlib.suppress(OSError), open(path, "w") as f:
                f.write(thawed)
            return True
    return False


def state_roots(tmpdir: Path) -> list[Path]:
    """The per-test state roots ($ROOT/state, ROOT=$BATS_RUN_TMPDIR/runc.XXXXXX)."""
    if not tmpdir.is_dir():
        return []
    return sorted(p for p in tmpdir.glob("*/runc.*/state") if p.is_dir())


def file_words(text: str) -> set[str]:
    """The words of a .bats file that could name a container (and its cgroup)."""
    return set(re.findall(r"[A-Za-z][A-Za-z0-9_.-]{2,}", text))


def cleanup(runtime: str, before: Snapshot, tmpdir: Path, words: set[str]) -> list[str]:
    """Report, and clean, what the file left (module docstring). One line each;
    `words` are file_words() of the .bats file."""
    notes: list[str] = []

    # Containers: the default state root, then the per-test ones.
    roots: list[tuple[str | None, list[str]]] = []
    # In the default root only those whose bundle is the file's: other users of the
    # machine keep theirs there.
    now = {
        str(c.get("id"))
        for c in list_containers(runtime) or []
        if is_below(str(c.get("bundle", "")), str(tmpdir))
    }
    roots.append((None, sorted(now - before.containers)))
    for sr in state_roots(tmpdir):
        roots.append((str(sr), [str(c.get("id")) for c in list_containers(runtime, str(sr)) or []]))
    for root, ids in roots:
        for cid in ids:
            cmd = [runtime] + (["--root", root] if root else []) + ["delete", "--force", cid]
            ok = False
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                ok = (
                    subprocess.run(
                        cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL
                    ).returncode
                    == 0
                )
            where = f" in {root}" if root else ""
            notes.append(
                f"container {cid}{where} ({'force-deleted' if ok else 'force-delete FAILED'})"
            )

    # Processes: first thaw the suite's frozen cgroups (a killed process stays in a
    # frozen cgroup until it is thawed), then kill what is the file's.
    for cg in sorted(cgroup_dirs() - before.cgroups):
        if SUITE_CGROUP in cg and thaw(cg):
            notes.append(f"cgroup {cg} was frozen (thawed)")
    strays = stray_processes(before.pids, tmpdir)
    for pid, what in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        notes.append(f"process {pid} ({what}) killed")
    if strays:
        time.sleep(0.5)

    # Mounts: those below the TMPDIR are the file's; the others are only counted.
    new = {i: mp for i, mp in mounts().items() if i not in before.mounts}
    other_mounts = []
    for mp in sorted(new.values(), key=len, reverse=True):
        if is_below(mp, str(tmpdir)):
            r = subprocess.run(["umount", "-l", mp], capture_output=True)
            notes.append(f"mount {mp} ({'unmounted' if r.returncode == 0 else 'umount FAILED'})")
        else:
            other_mounts.append(mp)
    if other_mounts:
        notes.append(f"{len(other_mounts)} other new mounts (e.g. {min(other_mounts)})")

    # Cgroups: one note per path, whatever the number of hierarchies it is in. Only
    # the suite's are named (below its parent, or named as a word of the .bats file,
    # e.g. a container's default cgroup /test_busybox); the others are someone
    # else's, made meanwhile, and only counted.
    fresh = sorted(cgroup_dirs() - before.cgroups, key=len, reverse=True)
    unified = mount_fstype(str(CGROUP_ROOT)) == "cgroup2"
    by_rel: dict[str, list[bool]] = {}
    others: set[str] = set()
    for cg in fresh:
        rel = cgroup_relpath(cg, unified=unified)
        if SUITE_CGROUP not in cg and not (words & set(rel.split("/"))):
            others.add(rel)
            continue
        removed = False
        if SUITE_CGROUP in cg:
            with contextlib.suppress(OSError):
                os.rmdir(cg)
                removed = True
        by_rel.setdefault(rel, []).append(removed)
    for rel, done in sorted(by_rel.items()):
        state = "removed" if all(done) else "left" if not any(done) else "partly removed"
        where = f" in {len(done)} hierarchies" if len(done) > 1 else ""
        notes.append(f"cgroup {rel}{where} ({state})")
    if others:
        notes.append(f"{len(others)} other new cgroups, not the suite's (e.g. {min(others)})")
    notes += _strays_on_the_cgroup_tmpfs()

    for loop in sorted(loop_devices() - before.loops):
        notes.append(f"loop device {loop} (left)")
    return notes


def _strays_on_the_cgroup_tmpfs(root: Path = CGROUP_ROOT) -> list[str]:
    """On a v1 host /sys/fs/cgroup is a tmpfs whose entries are the hierarchies' mount
    points (and the kernel's symlinks, cpu -> cpu,cpuacct): anything else is a test's
    `mkdir -p` for a controller this kernel does not mount (update.bats' pod tests).
    Engines would then make their cgroups in it and fail to remove them: removed."""
    if mount_fstype(str(root)) != "tmpfs":
        return []
    points = set(mounts().values())
    notes = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_symlink() or entry.path in points:
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        notes.append(f"{entry.path}: not a cgroup hierarchy, made on the cgroup tmpfs (removed)")
    return notes


# --------------------------------------------------------------------------
# Reaping orphans


class OrphanReaper:
    """While a file runs, the runner is the child subreaper of everything bats starts
    and reaps what is orphaned to it: the containers' inits, `exec -d` processes.

    Without it they go to the machine's PID 1, and whether the suite's `kill -0` checks
    (kill.bats "wait_pids_gone") see them gone depends on how soon that PID 1 reaps:
    this kind of machine's (not systemd) leaves zombies for seconds, so a test passed
    or failed by the machine, whatever the runtime did. runc's own CI runs under an init
    that reaps at once; so does this.

    Only orphans are reaped: the children the runner started itself (bats: `keep`) are
    left to their Popen.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.keep: set[int] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> OrphanReaper:
        _set_child_subreaper()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            while _reap_one_orphan(self.keep):
                pass


def _set_child_subreaper() -> None:
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _reap_one_orphan(keep: set[int]) -> bool:
    """Reap one exited orphan; False when there is none to reap now."""
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    if info is None or info.si_pid in keep:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(info.si_pid, 0)
    return True
