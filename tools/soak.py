"""Soak: create/start/kill/delete the same kind of container over and over, bounded, and
show that nothing grows: the runtime's memory (peak RSS of each CLI call), our fds, the
host's mounts and fds, cgroup dirs and state entries.

    python3 -m tools.soak                          # 2000 cycles or 10 minutes, first reached
    python3 -m tools.soak --cycles 300 --every 50  # shorter; a line every 50 cycles

Runs as root with a private state root; acts like an engine's shim (a child subreaper
that reaps the container inits). Exits 1 if anything grew: the counts that are ours alone
(mounts under the bundle, our cgroups, state entries, our fds, unreaped children) must come
back to where they were, and the runtime's peak RSS may not creep by more than --rss-slack.
Host-wide mount and fd totals are printed for information (other work on the host moves them).
At the end tools/leakcheck.py compares the host with a snapshot taken before the first cycle.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tools import leakcheck as lc  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}


@dataclass
class Sample:
    cycle: int
    elapsed: float
    rss_kib: int  # the largest peak RSS of a runtime call since the previous sample
    own_fds: int
    own_rss_kib: int
    mounts: int  # mounts naming the soak's bundle or state root
    cgroups: int  # cgroup dirs named after the soak's containers
    state: int  # entries in the state root
    children: int  # our children (unreaped inits would count here)
    host_mounts: int
    host_fds: int

    HEADER = (
        "cycle  elapsed  runtime-rss  own-fds  own-rss  mounts  cgroups  state  children"
        "  host-mounts  host-fds"
    )

    def line(self) -> str:
        return (
            f"{self.cycle:5d}  {self.elapsed:6.0f}s  {self.rss_kib:8d} KiB  {self.own_fds:7d}"
            f"  {self.own_rss_kib:4d} KiB  {self.mounts:6d}  {self.cgroups:7d}  {self.state:5d}"
            f"  {self.children:8d}  {self.host_mounts:11d}  {self.host_fds:8d}"
        )


class Runtime:
    """The CLI as an engine calls it; remembers the peak RSS of every call."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.peak_rss = 0

    def __call__(self, *args: str, check: bool = True) -> tuple[int, bytes]:
        with tempfile.TemporaryFile() as out:
            p = subprocess.Popen(
                [sys.executable, "-m", "pyrunc", "--root", self.root, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ENV,
            )
            _, status, usage = os.wait4(p.pid, 0)  # rusage of this call alone
            p.returncode = os.waitstatus_to_exitcode(status)
            self.peak_rss = max(self.peak_rss, usage.ru_maxrss)
            out.seek(0)
            text = out.read()
        if check and p.returncode != 0:
            raise SystemExit(f"pyrunc {' '.join(args)} failed ({p.returncode}): {text.decode()}")
        return p.returncode, text


def reap() -> None:
    """Collect container inits orphaned to us (we are their subreaper, like a shim)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def cycle(rt: Runtime, bundle: str, cid: str) -> None:
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    rt("kill", cid, "KILL")
    deadline = time.monotonic() + 10
    while b'"stopped"' not in rt("state", cid)[1]:
        if time.monotonic() > deadline:
            raise SystemExit(f"{cid} did not stop after SIGKILL")
        reap()
        time.sleep(0.01)
    rt("delete", cid)
    reap()


def _own_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sample(n: int, started: float, rt: Runtime, scope: lc.Scope) -> Sample:
    snap = lc.snapshot(scope)
    with open("/proc/self/mountinfo") as f:
        host_mounts = sum(1 for _ in f)
    with open("/proc/sys/fs/file-nr") as f:
        host_fds = int(f.read().split()[0])
    s = Sample(
        cycle=n,
        elapsed=time.monotonic() - started,
        rss_kib=rt.peak_rss,
        own_fds=len(snap["fds"]),
        own_rss_kib=_own_rss_kib(),
        mounts=len(snap["mounts"]),
        cgroups=len(snap["cgroups"]),
        state=len(snap["state"]),
        children=len(lc.children(os.getpid())),
        host_mounts=host_mounts,
        host_fds=host_fds,
    )
    rt.peak_rss = 0
    return s


def verdict(samples: list[Sample], rss_slack: float) -> list[str]:
    """What grew between the first sample (after warm-up) and the last."""
    first, last = samples[0], samples[-1]
    problems = [
        f"{name}: {getattr(first, name)} -> {getattr(last, name)}"
        for name in ("own_fds", "mounts", "cgroups", "state", "children")
        if getattr(last, name) > getattr(first, name)
    ]
    # Peak RSS of a call: compare the worst of the last third with the worst of the first.
    third = max(len(samples) // 3, 1)
    early = max(s.rss_kib for s in samples[:third])
    late = max(s.rss_kib for s in samples[-third:])
    if late > early * (1 + rss_slack):
        problems.append(f"runtime peak RSS: {early} KiB -> {late} KiB")
    if last.own_rss_kib > first.own_rss_kib * (1 + rss_slack) + 1024:
        problems.append(f"soak process RSS: {first.own_rss_kib} KiB -> {last.own_rss_kib} KiB")
    return problems


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m tools.soak", description=__doc__.split("\n")[0])
    p.add_argument("--cycles", type=int, default=2000, help="stop after this many (2000)")
    p.add_argument("--minutes", type=float, default=10, help="or after this long (10)")
    p.add_argument("--every", type=int, default=100, help="print a sample every N cycles")
    p.add_argument("--warmup", type=int, default=10, help="cycles before the baseline")
    p.add_argument("--rss-slack", type=float, default=0.10, help="allowed RSS growth (0.10)")
    p.add_argument("--bundle", default=None, help="a bundle to use (default: busybox)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    from pyrunc.linux.syscalls import set_child_subreaper
    from tools.busybox_bundle import make_rootfs, write_config

    set_child_subreaper(True)
    work = tempfile.mkdtemp(prefix="pyrunc-soak-", dir="/tmp")
    root = f"/run/pyrunc-soak-{os.getpid()}"
    prefix = f"soak-{os.getpid()}-"
    try:
        bundle = args.bundle or os.path.join(work, "bundle")
        if not args.bundle:
            make_rootfs(os.path.join(bundle, "rootfs"))
            from tools.busybox_bundle import default_config

            write_config(bundle, default_config(["sleep", "1000"]))
        scope = lc.Scope((work, root, prefix), (root,), os.getpid(), frozenset({os.getpid()}))
        before = lc.snapshot(scope)
        rt = Runtime(root)
        started = time.monotonic()
        deadline = started + args.minutes * 60
        samples: list[Sample] = []
        print(Sample.HEADER, flush=True)
        n = 0
        while n < args.cycles and time.monotonic() < deadline:
            cycle(rt, bundle, f"{prefix}{n}")
            n += 1
            if n == args.warmup or (n > args.warmup and n % args.every == 0):
                samples.append(sample(n, started, rt, scope))
                print(samples[-1].line(), flush=True)
        if not samples or samples[-1].cycle != n:
            samples.append(sample(n, started, rt, scope))
            print(samples[-1].line(), flush=True)
        took = time.monotonic() - started
        print(f"{n} cycles in {took:.0f}s (create, start, kill, state until stopped, delete)")
        problems = verdict(samples, args.rss_slack)
        leaks = lc.diff(before, lc.snapshot(scope))
        problems += [f"left behind ({kind}): {items}" for kind, items in leaks.items()]
        for p in problems:
            print(f"GREW: {p}")
        print("FAIL" if problems else "OK: nothing grew")
        return 1 if problems else 0
    finally:
        if os.path.isdir(root) and not os.listdir(root):
            os.rmdir(root)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
