"""cgroup v2, read from the kernel: run inside the pure-v2 VM (scripts/test.sh boots it
once for this file; see ../shared/cgroupv2-vm). Skipped on v1/hybrid hosts.

The container's cgroup files, subtree_control of the parents we made, the CPU quota
measured in cpu.stat, an OOM kill reported by `events`, refused forks, the eBPF device
filter (in a container and against mknod directly), cgroup.freeze, a cgroup namespace
with its own cgroup2 mount, update's v2 conversions, and clean-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests import host
from tests.helpers import Bundle, Runtime, error_message

ROOT = "/sys/fs/cgroup"

pytestmark = pytest.mark.skipif(
    not host.is_cgroup_v2(), reason="needs a pure cgroup v2 host (the VM)"
)


def has_hugetlb_2mb() -> bool:
    """The kernel has the hugetlb controller (not every build does) and 2 MB pages."""
    return "hugetlb" in read(ROOT, "cgroup.controllers").split() and (
        "2MB" in host.hugepage_sizes()
    )


def own_cgroup(pid: int | str) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().strip().split("::", 1)[1]


def read(*parts: str) -> str:
    with open(os.path.join(*parts)) as f:
        return f.read().strip()


def keyed(directory: str, name: str) -> dict[str, int]:
    return {k: int(v) for k, v in (ln.split() for ln in read(directory, name).splitlines())}


def set_cgroup(bundle: Bundle, path: str, resources: dict | None = None, *args: str) -> None:
    bundle.config["linux"]["cgroupsPath"] = path
    if resources is not None:
        bundle.config["linux"]["resources"] = resources
    if args:
        bundle.config["process"]["args"] = list(args)
    bundle.save()


@contextmanager
def running(runtime: Runtime, bundle: Bundle, cid: str, detach: bool = True) -> Iterator[str]:
    """The container's cgroup directory while it runs."""
    if detach:
        runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    else:
        runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        yield os.path.join(ROOT, own_cgroup(runtime.state(cid)["pid"]).lstrip("/"))
    finally:
        runtime("delete", "--force", cid)


def dirs_named(fragment: str) -> list[str]:
    return [dp for dp, _, _ in os.walk(ROOT) if fragment in os.path.basename(dp)]


# -- placement and files -----------------------------------------------------------------


def test_resources_reach_the_v2_files(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    mem = 64 << 20
    resources = {
        "memory": {"limit": mem, "swap": mem + (16 << 20), "reservation": 8 << 20},
        "cpu": {"shares": 512, "quota": 30000, "period": 200000, "cpus": "0", "mems": "0",
                "idle": 0, "burst": 1000},
        "pids": {"limit": 42},
        "unified": {"memory.high": str(48 << 20)},
    }  # fmt: skip
    hugetlb = has_hugetlb_2mb()  # else: test_hugetlb_applied_or_refused_by_name
    if hugetlb:
        resources["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 << 20}]
    set_cgroup(bundle, f"/pyrunc-test/{cid}/inner", resources, "sleep", "100")
    with running(runtime, bundle, cid) as d:
        assert d == f"{ROOT}/pyrunc-test/{cid}/inner"
        assert read(d, "memory.max") == str(mem)
        assert read(d, "memory.swap.max") == str(16 << 20)  # swap alone on v2
        assert read(d, "memory.low") == str(8 << 20)
        assert read(d, "memory.high") == str(48 << 20)  # unified, written last
        assert read(d, "cpu.weight") == "20"  # runc 1.1: 1 + (512-2)*9999/262142
        assert read(d, "cpu.max") == "30000 200000"
        assert read(d, "cpu.max.burst") == "1000"
        assert read(d, "cpuset.cpus") == "0" and read(d, "cpuset.mems") == "0"
        assert read(d, "pids.max") == "42"
        if hugetlb:
            assert read(d, "hugetlb.2MB.max") == str(4 << 20)
        # Every level we made hands the controllers down (nested creation).
        for parent in (f"{ROOT}/pyrunc-test", f"{ROOT}/pyrunc-test/{cid}"):
            enabled = set(read(parent, "cgroup.subtree_control").split())
            want = {"cpu", "memory", "pids", "cpuset", "io"} | ({"hugetlb"} if hugetlb else set())
            assert want <= enabled, parent
    assert dirs_named(cid) == [] and not os.path.exists(f"{ROOT}/pyrunc-test")


def test_hugetlb_applied_or_refused_by_name(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Where the kernel has no hugetlb controller (or no 2 MB pages), create fails in one
    line naming the field, and leaves nothing behind."""
    limits = [{"pageSize": "2MB", "limit": 4 << 20}]
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"hugepageLimits": limits}, "sleep", "100")
    if has_hugetlb_2mb():
        with running(runtime, bundle, cid) as d:
            assert read(d, "hugetlb.2MB.max") == str(4 << 20)
        return
    r = runtime("create", "--bundle", bundle.path, cid)
    msg = error_message(r.err)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert msg.startswith("linux.resources.hugepageLimits[0]: ") and "hugetlb" in msg, msg
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


@pytest.mark.parametrize(
    "memory, field",
    [({"swappiness": 10}, "swappiness"), ({"disableOOMKiller": True}, "disableOOMKiller"),
     ({"kernelTCP": 16 << 20}, "kernelTCP"), ({"kernel": 64 << 20}, "kernel")],
    ids=["swappiness", "disableOOMKiller", "kernelTCP", "kernel"],
)  # fmt: skip
def test_v1_only_memory_fields_are_refused_by_name(
    runtime: Runtime, bundle: Bundle, cid: str, memory: dict, field: str
) -> None:
    """v2 has no file for them (runc drops them): refused in one line naming the field,
    nothing left behind."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": memory})
    r = runtime("create", "--bundle", bundle.path, cid)
    msg = error_message(r.err)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert msg.startswith(f"linux.resources.memory.{field}: "), msg
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


@pytest.mark.parametrize("kind", ["absolute", "default"])
def test_cgroups_path_forms(runtime: Runtime, bundle: Bundle, cid: str, kind: str) -> None:
    """runc's fs2 rule: the default (<id>, as any relative path) below the parent of our own
    cgroup.
    The absolute one goes below a parent that exists already: delete must leave it."""
    base = os.path.dirname(own_cgroup("self"))
    path, want = {
        "absolute": (f"/pyrunc-test-{cid}/a", f"/pyrunc-test-{cid}/a"),
        "default": ("", os.path.join(base, cid)),
    }[kind]
    parent = f"{ROOT}/pyrunc-test-{cid}"
    if kind == "absolute":
        os.mkdir(parent)
    try:
        set_cgroup(bundle, path, {"pids": {"limit": 5}}, "sleep", "100")
        with running(runtime, bundle, cid, detach=False) as d:
            assert d == os.path.join(ROOT, want.lstrip("/"))
            assert read(d, "cgroup.procs").split() == [str(runtime.state(cid)["pid"])]
            assert read(d, "pids.max") == "5"
        assert os.path.isdir(parent) == (kind == "absolute")
        assert not os.path.exists(os.path.join(ROOT, want.lstrip("/")))
    finally:
        if kind == "absolute":
            os.rmdir(parent)
    assert dirs_named(cid) == []


# -- the seeds' demo and friends -----------------------------------------------------------

BUSY = ("sh", "-c", "while :; do :; done")


def _cpu_share(directory: str, seconds: float) -> float:
    u0, t0 = keyed(directory, "cpu.stat")["usage_usec"], time.monotonic()
    time.sleep(seconds)
    u1, t1 = keyed(directory, "cpu.stat")["usage_usec"], time.monotonic()
    return (u1 - u0) / 1e6 / (t1 - t0)


def test_cpu_quota_holds_a_busy_loop_at_20_percent(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"cpu": {"quota": 20000, "period": 100000}}, *BUSY)
    with running(runtime, bundle, cid) as d:
        share = _cpu_share(d, 3.0)
        print(f"v2: busy loop under 20000/100000: {share:.3f} of one CPU")
        assert 0.15 <= share <= 0.25, share
        runtime.ok("update", "--cpu-quota", "-1", cid)  # the control: no quota, a whole CPU
        assert read(d, "cpu.max") == "max 100000"
        assert _cpu_share(d, 1.0) > 0.6


def test_pids_limit_refuses_forks(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    script = "for i in 1 2 3 4 5 6; do sleep 30 & echo forked $i; done"
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": 4}}, "sh", "-c", script)
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.out.split("\n") == ["forked 1", "forked 2", "forked 3", ""]
    assert "can't fork" in r.err and r.code != 0


def test_events_reports_an_oom_kill(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    limit = 32 << 20
    script = "sleep 1; tail /dev/zero; echo tail-status=$?; sleep 1"
    resources = {"memory": {"limit": limit, "swap": limit}}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sh", "-c", script)
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        d = os.path.join(ROOT, own_cgroup(runtime.state(cid)["pid"]).lstrip("/"))
        assert read(d, "memory.swap.max") == "0"  # swap == limit: no swap at all
        cmd = [*runtime.argv, "--root", runtime.root, "events", "--interval", "30s", cid]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as events:
            time.sleep(2)
            runtime.ok("start", cid)
            out, _ = events.communicate(timeout=120)
        lines = [json.loads(ln) for ln in out.splitlines()]
        assert {"type": "oom", "id": cid} in lines, lines
    finally:
        runtime("delete", "--force", cid)


# -- devices: the eBPF filter --------------------------------------------------------------

DENIED, ALLOWED = "/dev/pyrunc-test-denied", "/dev/pyrunc-test-allowed"
PROBE = (
    "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; "
    f"cat {DENIED} 2>&1; cat {ALLOWED} 2>&1; true"
)


def test_device_filter_in_a_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """podman's deny-all plus one rule: the defaults and the rule's node open (the missing
    driver answers ENXIO), the other node is refused by the cgroup (EPERM)."""
    bundle.config["linux"]["devices"] = [
        {"path": DENIED, "type": "c", "major": 240, "minor": 0},
        {"path": ALLOWED, "type": "c", "major": 241, "minor": 0},
    ]
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 241, "minor": 0, "access": "rw"},
    ]
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"devices": rules}, "sh", "-c", PROBE)
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.splitlines()
    assert out[:2] == ["null-ok", "3"]
    assert out[2].endswith("Operation not permitted"), out
    assert out[3].endswith("No such device or address"), out


def _in_cgroup(directory: str, code: str) -> subprocess.CompletedProcess:
    """Run python code in a fresh process placed in directory before it starts."""
    import sys

    pre = f"open('{directory}/cgroup.procs','w').write(str(__import__('os').getpid()))\n"
    return subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True)


def test_device_filter_against_mknod(workdir: str) -> None:
    """The program in the kernel, without a container: mknod and open of nodes the rules
    do not allow fail with EPERM, the allowed ones pass, and replacing the program
    (update path) leaves exactly one attached."""
    from pyrunc.cgroups import ebpf

    d = f"{ROOT}/pyrunc-test-mknod-{os.getpid()}"
    os.mkdir(d)
    try:
        rules = [{"allow": False, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]  # fmt: skip
        ebpf.install(d, rules, ())
        code = (
            "import os, errno\n"
            f"for name, minor in (('null', 3), ('zero', 5)):\n"
            f"    p = '{workdir}/mknod-' + name\n"
            "    try:\n"
            "        os.mknod(p, 0o666 | 0o020000, os.makedev(1, minor)); print(name, 'mknod-ok')\n"
            "    except OSError as e: print(name, errno.errorcode[e.errno])\n"
            "for dev in ('/dev/null', '/dev/zero'):\n"
            "    try:\n"
            "        os.close(os.open(dev, os.O_RDONLY)); print(dev, 'open-ok')\n"
            "    except OSError as e: print(dev, errno.errorcode[e.errno])\n"
        )
        r = _in_cgroup(d, code)
        assert r.stdout.split("\n")[:4] == [
            "null mknod-ok", "zero EPERM", "/dev/null open-ok", "/dev/zero EPERM"
        ], r.stdout + r.stderr  # fmt: skip
        ebpf.install(d, [{"allow": True, "access": "rwm"}], ())  # replace: allow all
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert len(ebpf._attached(fd)) == 1
        finally:
            os.close(fd)
        assert "/dev/zero open-ok" in _in_cgroup(d, code).stdout
    finally:
        for name in ("null", "zero"):
            if os.path.lexists(f"{workdir}/mknod-{name}"):
                os.unlink(f"{workdir}/mknod-{name}")
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.02)


# -- pause / resume / ps / update / stats --------------------------------------------------


def test_pause_resume_with_cgroup_freeze(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    # No busy loop here: under TCG it would starve every CLI call of the VM's CPUs.
    script = "sleep 100 & sleep 100 & wait"
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": 20}}, "sh", "-c", script)
    with running(runtime, bundle, cid) as d:
        runtime.ok("pause", cid)
        assert runtime.state(cid)["status"] == "paused"
        assert keyed(d, "cgroup.events")["frozen"] == 1
        runtime.ok("resume", cid)
        assert runtime.state(cid)["status"] == "running"
        assert keyed(d, "cgroup.events")["frozen"] == 0
        stats = runtime.ok("events", "--stats", cid).json()
        assert stats["data"]["pids"] == {"current": 3, "limit": 20}
        runtime.ok("pause", cid)
    # delete --force of the paused container (running's clean-up) removed everything
    assert dirs_named(cid) == []


def test_update_converts_for_v2(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    resources = {"memory": {"limit": 64 << 20}, "cpu": {"shares": 1024}}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sleep", "100")
    with running(runtime, bundle, cid) as d:
        docker = {"memory": {"limit": 100663296, "reservation": 0, "swap": 209715200,
                             "kernel": 0}, "cpu": {"shares": 0, "quota": 0, "period": 0},
                  "blockIO": {"weight": 0}}  # fmt: skip
        runtime.ok("update", "-r", "-", cid, stdin=json.dumps(docker))
        assert read(d, "memory.max") == "100663296"
        assert read(d, "memory.swap.max") == str(209715200 - 100663296)
        assert read(d, "cpu.weight") == "39"  # unchanged by the zero
        assert runtime.ok("ps", "--format", "json", cid).json() == [int(read(d, "cgroup.procs"))]
        runtime.ok("update", "--cpu-share", "2", "--pids-limit", "9", cid)
        assert (read(d, "cpu.weight"), read(d, "pids.max")) == ("1", "9")
        r = runtime("update", "--memory-swap", "32m", cid)  # below the 96m limit
        assert r.code == 1 and "memory.swap" in error_message(r.err), r.err
        assert read(d, "memory.swap.max") == str(209715200 - 100663296)


# -- cgroup namespace and the cgroup mount -------------------------------------------------

SHOW = (
    "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.max; grep -c . /sys/fs/cgroup/cgroup.procs; "
    "true"  # so that sh forks grep instead of becoming it
)


@pytest.mark.parametrize("cgroupns", [True, False], ids=["cgroupns", "no-cgroupns"])
def test_the_container_sees_its_own_cgroup(
    runtime: Runtime, bundle: Bundle, cid: str, cgroupns: bool
) -> None:
    if cgroupns:
        bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": 11}}, "sh", "-c", SHOW)
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.splitlines()
    assert out[0] == ("0::/" if cgroupns else f"0::/pyrunc-test/{cid}")
    assert out[1] == "11"  # /sys/fs/cgroup is the container's own cgroup
    assert out[2] == "2"  # sh and grep: no host process in view
