"""Side-by-side lifecycle latency of pyrunc, runc and crun on one busybox bundle.

    python3 benchmarks/bench.py [--rounds 30] [--runtimes pyrunc,runc,crun] [--json]

Runtimes run interleaved (a shuffled order every round) on the same bundle, in a
private mount namespace where crun accepts this host's hybrid cgroup layout. Each
invocation is timed with a monotonic clock and its peak RSS read from wait4().
Reports median / p90 / max per operation and the ratios pyrunc/runc, pyrunc/crun.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tools.busybox_bundle import default_config, make_bundle  # noqa: E402

OPS = ("run", "create", "start", "state", "exec", "kill+delete", "cycle")
_UNSHARED = "PYRUNC_BENCH_UNSHARED"


def _spawn(argv: list[str]) -> tuple[float, int, int]:
    """Run argv to completion: (seconds, exit code, peak RSS in KiB)."""
    t0 = time.monotonic()
    with open(os.devnull, "wb") as null:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, null.fileno(), 0),
                (os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, null.fileno(), 2),
            ],
        )
        _, status, usage = os.wait4(pid, 0)
    return time.monotonic() - t0, os.waitstatus_to_exitcode(status), usage.ru_maxrss


class Runtime:
    def __init__(self, name: str, binary: str, root: str) -> None:
        self.name, self.binary, self.root = name, binary, root

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def timed(self, *args: str, check: bool = True) -> tuple[float, int]:
        secs, code, rss = _spawn(self.cmd(*args))
        if check and code != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)} exited {code}")
        return secs, rss


def _binary(name: str) -> str | None:
    """The real executable: pyenv-style shims in PATH would add their own start-up."""
    if name == "pyrunc":
        # The launcher scripts/install.sh writes, else the console script.
        for candidate in ("/usr/local/bin/pyrunc",
                          os.path.join(os.path.dirname(sys.executable), "pyrunc")):
            if os.access(candidate, os.X_OK):
                return candidate
    return shutil.which(name)


def peak_rss(rt: Runtime, bundle: str, rounds: int = 3) -> int:
    """Peak RSS (KiB) of `run true` under /usr/bin/time: wait4() from this process would
    count our own pages, shared with the child until it execs."""
    worst = 0
    for i in range(rounds):
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *rt.cmd("run", "--bundle", bundle, f"rss-{rt.name}-{i}")],
            capture_output=True,
            text=True,
        )
        worst = max(worst, int(out.stderr.strip().splitlines()[-1]))
    return worst


def _bundle(workdir: str, name: str, args: list[str]) -> str:
    cfg = default_config(args)
    cfg["linux"]["resources"]["memory"] = {"limit": 256 * 1024 * 1024}
    rootfs = os.path.join(workdir, "rootfs-template")
    path = make_bundle(
        os.path.join(workdir, name), cfg, rootfs_from=rootfs if os.path.isdir(rootfs) else None
    )
    if not os.path.isdir(rootfs):
        shutil.copytree(os.path.join(path, "rootfs"), rootfs, symlinks=True)
    return path


def one_round(
    rt: Runtime, n: int, true_b: str, sleep_b: str, samples: dict, with_exec: bool
) -> None:
    cid = f"bench-{rt.name}-{n}"
    t, _ = rt.timed("run", "--bundle", true_b, cid + "-run")
    samples[(rt.name, "run")].append(t)

    t_create, _ = rt.timed("create", "--bundle", sleep_b, cid)
    t_start, _ = rt.timed("start", cid)
    t_state, _ = rt.timed("state", cid)
    samples[(rt.name, "create")].append(t_create)
    samples[(rt.name, "start")].append(t_start)
    samples[(rt.name, "state")].append(t_state)
    if with_exec:
        t, r = rt.timed("exec", cid, "true", check=False)
        samples[(rt.name, "exec")].append(t)
    t_kill, _ = rt.timed("kill", cid, "KILL")
    t_del, _ = rt.timed("delete", "--force", cid)
    samples[(rt.name, "kill+delete")].append(t_kill + t_del)

    t0 = time.monotonic()
    rt.timed("create", "--bundle", true_b, cid + "-c")
    rt.timed("start", cid + "-c")
    _wait_stopped(rt, cid + "-c")
    rt.timed("delete", cid + "-c")
    samples[(rt.name, "cycle")].append(time.monotonic() - t0)


def _wait_stopped(rt: Runtime, cid: str) -> None:
    for _ in range(2000):
        out = subprocess.run(rt.cmd("state", cid), capture_output=True, text=True)
        if '"stopped"' in out.stdout:
            return
        time.sleep(0.001)
    raise RuntimeError(f"{rt.name}: {cid} never stopped")


def concurrency(rt: Runtime, bundle: str, count: int) -> dict:
    ids = [f"conc-{rt.name}-{count}-{i}" for i in range(count)]

    def up(cid: str) -> bool:
        return _spawn(rt.cmd("run", "--detach", "--bundle", bundle, cid))[1] == 0

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        ok = list(pool.map(up, ids))
    wall = time.monotonic() - t0
    with ThreadPoolExecutor(max_workers=min(count, 16)) as pool:
        list(pool.map(lambda c: _spawn(rt.cmd("delete", "--force", c)), ids))
    return {"containers": count, "wall_s": wall, "errors": ok.count(False)}


def stats(values: list[float]) -> dict:
    if not values:
        return {}
    v = sorted(values)
    return {
        "median_ms": statistics.median(v) * 1000,
        "p90_ms": v[int(0.9 * (len(v) - 1))] * 1000,
        "max_ms": v[-1] * 1000,
        "n": len(v),
    }


def report(results: dict) -> str:
    names = results["runtimes"]
    lines = [f"{results['date']} · {results['host']} · {results['rounds']} rounds, interleaved"]
    lines += [f"  {n}: {results['versions'].get(n, '?')}" for n in names]
    header = "".join(f"{n:>28}" for n in names)
    lines.append(f"operation      {header}   pyrunc/runc  pyrunc/crun")
    for op in OPS:
        cells, med = [], {}
        for n in names:
            s = results["ops"].get(n, {}).get(op)
            if s:
                med[n] = s["median_ms"]
                cells.append(f"{s['median_ms']:6.1f} /{s['p90_ms']:6.1f} /{s['max_ms']:6.1f}")
            else:
                cells.append(f"{'-':>26}")
        ratio = [
            f"{med['pyrunc'] / med[o]:11.2f}" if "pyrunc" in med and o in med else f"{'-':>11}"
            for o in ("runc", "crun")
        ]
        lines.append(f"{op:<15}" + "".join(f"{c:>28}" for c in cells) + "  " + "  ".join(ratio))
    rss = results["rss_kib"]
    rss_ratio = [
        f"{rss['pyrunc'] / rss[o]:11.2f}" if rss.get("pyrunc") and rss.get(o) else f"{'-':>11}"
        for o in ("runc", "crun")
    ]
    lines.append(
        "peak RSS (KiB) "
        + "".join(f"{rss.get(n, 0):>28}" for n in names)
        + "  "
        + "  ".join(rss_ratio)
        + "   (of `run true`, the runtime process itself)"
    )
    lines.append("(ms: median / p90 / max over the rounds; ratios of medians, <1: pyrunc faster)")
    for n in names:
        for c in results["concurrency"].get(n, []):
            lines.append(
                f"concurrent {n:>7}: {c['containers']:>3} run --detach in "
                f"{c['wall_s'] * 1000:7.0f} ms, {c['errors']} errors"
            )
    return "\n".join(lines)


def _reexec_unshared() -> None:
    """crun refuses the hybrid layout; hide the unified mount's controllers, privately."""
    script = (
        "mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null "
        '|| true; exec "$@"'
    )
    os.execvp(
        "unshare",
        [
            "unshare",
            "--mount",
            "--propagation",
            "slave",
            "sh",
            "-c",
            script,
            "sh",
            sys.executable,
            *sys.argv,
        ],
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--runtimes", default="pyrunc,runc,crun")
    p.add_argument("--concurrency", default="1,8,64")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if os.environ.get(_UNSHARED) != "1":
        os.environ[_UNSHARED] = "1"
        _reexec_unshared()
    names = [n for n in args.runtimes.split(",") if _binary(n)]
    workdir = tempfile.mkdtemp(prefix="pyrunc-bench-", dir="/tmp")
    os.chmod(workdir, 0o755)
    try:
        true_b = _bundle(workdir, "true", ["true"])
        sleep_b = _bundle(workdir, "sleep", ["sleep", "1000"])
        rts = [Runtime(n, _binary(n) or n, os.path.join(workdir, f"root-{n}")) for n in names]
        with_exec = {rt.name: _supports_exec(rt) for rt in rts}
        samples: dict = defaultdict(list)
        for n in range(args.rounds):
            random.shuffle(rts)
            for rt in rts:
                one_round(rt, n, true_b, sleep_b, samples, with_exec[rt.name])
        rss = {rt.name: peak_rss(rt, true_b) for rt in rts}
        conc = {
            rt.name: [concurrency(rt, sleep_b, int(c)) for c in args.concurrency.split(",")]
            for rt in rts
        }
        results = {
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "host": f"{os.uname().release}, {os.cpu_count()} CPUs",
            "versions": {rt.name: _version(rt) for rt in rts},
            "runtimes": names,
            "rounds": args.rounds,
            "ops": {n: {op: stats(samples[(n, op)]) for op in OPS} for n in names},
            "rss_kib": dict(rss),
            "concurrency": conc,
        }
        print(json.dumps(results, indent=2) if args.json else report(results))
    finally:
        for n in names:
            subprocess.run(
                [_binary(n) or n, "--root", os.path.join(workdir, f"root-{n}"), "list", "-q"],
                capture_output=True,
            )
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _version(rt: Runtime) -> str:
    out = subprocess.run([rt.binary, "--version"], capture_output=True, text=True).stdout
    lines = out.splitlines()
    first = lines[0] if lines else "?"
    python = next((line for line in lines if line.startswith("python:")), "")
    return f"{first} ({rt.binary}{', ' + python if python else ''})"


def _supports_exec(rt: Runtime) -> bool:
    return subprocess.run(rt.cmd("exec", "--help"), capture_output=True).returncode == 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
