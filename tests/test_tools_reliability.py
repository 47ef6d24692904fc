"""The reliability tools users run: tools/leakcheck.py and tools/soak.py can fail, and do
when something is left or grows."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.helpers import REPO, TREE_ENV, Bundle, Runtime
from tests.leakcheck import LeakCheck
from tools.soak import Sample, verdict


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=TREE_ENV, capture_output=True, text=True
    )


def test_leakcheck_script_sees_a_cgroup_and_a_state_entry(
    runtime: Runtime, workdir: str, cid: str
) -> None:
    snap = os.path.join(workdir, f"{cid}.json")
    r = _tool("tools.leakcheck", "snapshot", snap, "--root", runtime.root, "--marker", cid)
    assert r.returncode == 0, r.stderr
    planted = os.path.join(_a_cgroup_hierarchy(), cid)
    os.mkdir(planted)
    os.makedirs(os.path.join(runtime.root, cid))
    try:
        r = _tool("tools.leakcheck", "diff", snap)
        assert r.returncode == 1
        state = os.path.join(runtime.root, cid)
        assert f"cgroups: {planted}" in r.stdout and f"state: {state}" in r.stdout, r.stdout
    finally:
        os.rmdir(planted)
        os.rmdir(os.path.join(runtime.root, cid))
    r = _tool("tools.leakcheck", "diff", snap)
    assert (r.returncode, r.stdout.strip()) == (0, "no leaks"), r.stdout
    os.unlink(snap)


def _a_cgroup_hierarchy() -> str:
    """pids on a v1 host, the root itself on a v2 one."""
    v1 = "/sys/fs/cgroup/pids"
    return v1 if os.path.isdir(v1) and not os.path.islink(v1) else "/sys/fs/cgroup"


def _sample(cycle: int, **kw: int) -> Sample:
    base = dict(rss_kib=17000, own_fds=6, own_rss_kib=16000, mounts=0, cgroups=0, state=0,
                children=0, host_mounts=20, host_fds=1000)  # fmt: skip
    return Sample(cycle=cycle, elapsed=float(cycle), **{**base, **kw})


def test_soak_verdict_flags_growth() -> None:
    flat = [_sample(n) for n in range(0, 100, 10)]
    assert verdict(flat, 0.10) == []
    grown = [*flat[:-1], _sample(90, own_fds=7, mounts=1)]
    assert verdict(grown, 0.10) == ["own_fds: 6 -> 7", "mounts: 0 -> 1"]
    creeping = [_sample(n, rss_kib=17000 + 300 * n) for n in range(0, 100, 10)]
    assert any("runtime peak RSS" in p for p in verdict(creeping, 0.10))
    # Host-wide totals move with other work on the host: never a verdict on their own.
    assert verdict([*flat[:-1], _sample(90, host_fds=5000, host_mounts=40)], 0.10) == []


def test_soak_runs_a_few_cycles() -> None:
    r = _tool("tools.soak", "--cycles", "4", "--warmup", "2", "--every", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: nothing grew" in r.stdout and "4 cycles in" in r.stdout, r.stdout


def test_leak_check_sees_a_reference_runc_container_left_behind(
    runc: Runtime, bundle: Bundle, workdir: str, state_root: str, cid: str
) -> None:
    """What a killed `runc run` leaves (its state dir, a live init) in the side-by-side
    tests' runc root is a leak the suite's check reports (it once stayed on the host:
    /run/pyrunc-test-<pid>-runc/<id>/)."""
    check = LeakCheck.for_run(workdir, state_root)
    bundle.set_args("sleep", "100")
    p = subprocess.Popen([*runc.argv, "--root", runc.root, "run", "--bundle", bundle.path, cid],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while runc("state", cid).code != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        p.kill()  # as a test's timeout does
        p.wait()
        found = check.leaks(grace=0)
        assert os.path.join(runc.root, cid) in found.get("state", []), found
    finally:
        runc("delete", "--force", cid)
    assert check.leaks() == {}
