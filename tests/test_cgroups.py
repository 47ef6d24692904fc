"""linux.cgroupsPath and linux.resources on cgroup v1 (hybrid; the tests marked v1_only,
the others on pure v2 too), read from the kernel:
/proc/<pid>/cgroup, the hierarchies' cgroup.procs and control files, and what the
container itself observes (its cgroup, its CPUs, refused forks, refused devices)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from tests import host
from tests.helpers import Bundle, Runtime, create_fails, created, error_message, proc_status

CGROUP_ROOT = "/sys/fs/cgroup"


# Tests that read v1 files (memory.limit_in_bytes, freezer.state, devices.list...) or
# hierarchies run where the host has them; the others hold on a pure v2 host too (the
# systemd VM, tests/vm/v2-host-suite.sh), and test_cgroups_v2.py has the v2 files' side.
v1_only = pytest.mark.skipif(
    not os.path.isdir(os.path.join(CGROUP_ROOT, "memory")),
    reason="reads cgroup v1 files (test_cgroups_v2.py has the v2 side)",
)


# -- the kernel's view ---------------------------------------------------------------------


def proc_cgroups(pid: int | str) -> dict[str, str]:
    """/proc/<pid>/cgroup as {hierarchy key: path}; key "" is the v2 (unified) one."""
    with open(f"/proc/{pid}/cgroup") as f:
        return {key: path for _, key, path in (ln.rstrip("\n").split(":", 2) for ln in f)}


def hierarchy_mounts() -> dict[str, str]:
    """{hierarchy key: mount point} for every hierarchy we are in, from mountinfo."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fstype, _, super_opts = post.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                assert pre.split()[3] == "/", "a cgroup mount not at its root: adapt the test"
                opts = set(super_opts.split(",")) if fstype == "cgroup" else set()
                mounts.append((fstype, opts, pre.split()[4]))
    found = {}
    for key in proc_cgroups("self"):
        for fstype, opts, point in mounts:
            if (key == "" and fstype == "cgroup2") or (key and set(key.split(",")) <= opts):
                found[key] = point
                break
    return found


def host_dirs(path_by_key: dict[str, str]) -> dict[str, str]:
    mounts = hierarchy_mounts()
    return {key: os.path.join(mounts[key], path.lstrip("/")) for key, path in path_by_key.items()}


def procs(directory: str) -> list[int]:
    with open(os.path.join(directory, "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


def read(*parts: str) -> str:
    with open(os.path.join(*parts)) as f:
        return f.read().strip()


def dirs_named(fragment: str) -> list[str]:
    if host.is_cgroup_v2():  # one hierarchy, mounted at the root itself
        return [dp for dp, _, _ in os.walk(CGROUP_ROOT) if fragment in os.path.basename(dp)]
    found = []
    for top in os.listdir(CGROUP_ROOT):
        for dirpath, dirnames, _ in os.walk(os.path.join(CGROUP_ROOT, top)):
            found += [os.path.join(dirpath, d) for d in dirnames if fragment in d]
    return found


def set_cgroup(bundle: Bundle, path: str, resources: dict | None = None, *args: str) -> None:
    bundle.config["linux"]["cgroupsPath"] = path
    if resources is not None:
        bundle.config["linux"]["resources"] = resources
    if args:
        bundle.config["process"]["args"] = list(args)
    bundle.save()


def pids_dir(dirs: dict[str, str]) -> str:
    """The pids controller's directory among host_dirs(): its v1 hierarchy, else v2's."""
    return dirs.get("pids", dirs[""])


@contextmanager
def removed_after(*paths: str) -> Iterator[None]:
    """Clean-up for directories a test makes itself (children first)."""
    try:
        yield
    finally:
        for p in sorted(paths, key=len, reverse=True):
            for _ in range(100):
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# -- placement ---------------------------------------------------------------------------


def _expected(kind: str, cid: str) -> tuple[str, dict[str, str]]:
    own = proc_cgroups("self")  # the runtime is our child: the same cgroups
    if kind == "absolute":
        path = f"/pyrunc-test/{cid}"
        return path, {key: path for key in own}
    if kind == "relative":  # below the runtime's own cgroup, in each hierarchy
        path = f"pyrunc-test-{cid}/sub"
        return path, {key: os.path.join(p, path) for key, p in own.items()}
    return "", {key: os.path.join(p, cid) for key, p in own.items()}  # runc: <own>/<id>


@pytest.mark.parametrize("kind", ["absolute", "relative", "empty"])
@v1_only  # v2 places relative paths by runc's fs2 rule: test_cgroups_v2.py
def test_cgroups_path(runtime: Runtime, bundle: Bundle, cid: str, kind: str) -> None:
    path, want = _expected(kind, cid)
    parents = {os.path.dirname(d) for d in host_dirs(want).values()}
    new_parents = {p for p in parents if not os.path.exists(p)}
    set_cgroup(bundle, path)
    with created(runtime, bundle, cid) as pid:
        got = proc_cgroups(pid)
        assert got == want  # every hierarchy, the v2 one included
        leaves = host_dirs(want)
        for key, d in leaves.items():
            assert procs(d) == [pid], key  # the kernel's other side of the same fact
    for key, d in leaves.items():
        assert not os.path.exists(d), f"{key}: {d} survived delete"
    # Parents pyrunc had to make go too (runc would leave them).
    assert not [p for p in new_parents if os.path.exists(p)]


def test_init_is_in_the_cgroup_before_user_code(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The user's first instruction already runs in the container's cgroups."""
    path = f"/pyrunc-test/{cid}"
    set_cgroup(bundle, path, None, "cat", "/proc/self/cgroup")
    r = runtime.ok("run", "--bundle", bundle.path, cid)
    got = {key: p for _, key, p in (ln.split(":", 2) for ln in r.out.splitlines())}
    assert got == {key: path for key in proc_cgroups("self")}


@v1_only
def test_only_created_dirs_are_removed(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """A parent that existed before survives delete; the ones pyrunc made do not."""
    parent = f"pyrunc-test-{cid}"
    mounts = hierarchy_mounts()
    pre = [os.path.join(mounts[k], parent) for k in ("memory", "pids", "devices") if k in mounts]
    made_by_us = [os.path.join(m, parent) for k, m in mounts.items() if k not in
                  ("memory", "pids", "devices")]  # fmt: skip
    with removed_after(*pre, *made_by_us):
        for d in pre:
            os.mkdir(d)
        set_cgroup(bundle, f"/{parent}/ctr")
        with created(runtime, bundle, cid) as pid:
            for d in pre + made_by_us:
                assert procs(os.path.join(d, "ctr")) == [pid]
        for d in pre:
            assert os.path.isdir(d) and not os.path.exists(os.path.join(d, "ctr")), d
        for d in made_by_us:
            assert not os.path.exists(d), d


def test_shared_parent_does_not_break_delete(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """A made the parent, B lives in it too: deleting A must neither fail nor touch B."""
    parent = f"/pyrunc-test-{cid}"
    other = cid + "-b"
    leftovers = list(host_dirs({k: parent for k in proc_cgroups("self")}).values())
    with removed_after(*leftovers):
        set_cgroup(bundle, f"{parent}/a")
        runtime.ok("create", "--bundle", bundle.path, cid)
        set_cgroup(bundle, f"{parent}/b")
        runtime.ok("create", "--bundle", bundle.path, other)
        pid_b = runtime.state(other)["pid"]
        try:
            # Waiting on B's busy parent would be rmdir's retries: 2.5 s on top of a call.
            bound = 2 + 2 * runtime_call_seconds(runtime, cid)
            t0 = time.monotonic()
            r = runtime("delete", "--force", cid)
            assert r.code == 0, r.err
            waited = time.monotonic() - t0
            assert waited < bound, f"delete waited on a directory not its own: {waited:.1f} s"
            assert runtime("state", cid).code == 1
            b_dirs = host_dirs({k: f"{parent}/b" for k in proc_cgroups("self")})
            assert all(procs(d) == [pid_b] for d in b_dirs.values())
        finally:
            r = runtime("delete", "--force", other)
        assert r.code == 0, r.err
        assert not any(os.path.exists(d) for d in b_dirs.values())


# -- resources -----------------------------------------------------------------------------


SWAP_FILE = "memory.memsw.limit_in_bytes"  # only with swap accounting (swapaccount=1)
# Where the kernel has no swap accounting, a swap limit is refused (HOST_DEPENDENT), so
# tests that want one ask the host; swappiness 0 keeps a container's anonymous memory in
# RAM, so that a memory limit alone still ends in an OOM kill on hosts with swap space.
NO_SWAPPING = {"swappiness": 0}


def swap_limit(swap: int) -> dict[str, int]:
    """{"swap": swap} where this host has swap accounting, else nothing."""
    return {"swap": swap} if host.v1_has("memory", SWAP_FILE) else {}


def no_swap(limit: int) -> dict[str, int]:
    """memory fields beside `limit` that keep the container out of swap, so the limit ends
    in an OOM kill. v2 has no swappiness (refused by name); there swap == limit is
    memory.swap.max 0, which runc and pyrunc skip where swap accounting is missing."""
    if host.is_cgroup_v2():
        return {"swap": limit}
    return {**swap_limit(limit), **NO_SWAPPING}


def runtime_call_seconds(runtime: Runtime, cid: str) -> float:
    """What one runtime call costs here (a `state`): time bounds that mean "did not wait"
    scale with it, as a software-emulated VM is 10-20x slower than this host."""
    t0 = time.monotonic()
    runtime.ok("state", cid)
    return time.monotonic() - t0


def _one_allowed_cpu() -> str:
    allowed = proc_status("self", "Cpus_allowed_list")
    last = allowed.split(",")[-1].split("-")[-1]
    return last


@v1_only
def test_resources_reach_the_files(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    cpu = _one_allowed_cpu()
    mem, swap = 64 << 20, 128 << 20
    resources = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": mem, **swap_limit(swap)},
        "cpu": {"shares": 512, "quota": 30000, "period": 200000, "cpus": cpu, "mems": "0"},
        "pids": {"limit": 42},
    }
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "grep", "Cpus_allowed_list",
               "/proc/self/status")  # fmt: skip
    with created(runtime, bundle, cid) as pid:
        d = host_dirs(proc_cgroups(pid))
        assert read(d["memory"], "memory.limit_in_bytes") == str(mem)
        if host.v1_has("memory", SWAP_FILE):
            assert read(d["memory"], SWAP_FILE) == str(swap)
        assert read(d["cpu"], "cpu.shares") == "512"
        assert read(d["cpu"], "cpu.cfs_period_us") == "200000"
        assert read(d["cpu"], "cpu.cfs_quota_us") == "30000"
        assert read(d["pids"], "pids.max") == "42"
        assert read(d["cpuset"], "cpuset.cpus") == cpu
        assert read(d["cpuset"], "cpuset.mems") == "0"
        assert proc_status(pid, "Cpus_allowed_list") == cpu  # the scheduler obeys it
    out = runtime.ok("run", "--bundle", bundle.path, cid).out
    assert out.split() == ["Cpus_allowed_list:", cpu]


@v1_only
def test_docker_zeroes_leave_defaults(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """docker sends shares/quota/weight 0 meaning unset (writing 0 to cpu.shares gives 2)."""
    resources = {
        "memory": {"disableOOMKiller": False},
        "cpu": {"shares": 0, "quota": 0, "period": 0},
        "blockIO": {"weight": 0},
    }
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources)
    with created(runtime, bundle, cid) as pid:
        d = host_dirs(proc_cgroups(pid))
        assert read(d["cpu"], "cpu.shares") == "1024"
        assert read(d["cpu"], "cpu.cfs_quota_us") == "-1"
        assert read(d["memory"], "memory.oom_control").startswith("oom_kill_disable 0")


def test_pids_limit_refuses_forks(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    script = "for i in 1 2 3 4 5 6; do sleep 30 & echo forked $i; done"
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": 4}}, "sh", "-c", script)
    r = runtime("run", "--bundle", bundle.path, cid)
    # sh + 3 sleeps fill the limit: the 4th fork is refused by the kernel.
    assert r.out.split("\n") == ["forked 1", "forked 2", "forked 3", ""]
    assert "can't fork" in r.err and r.code != 0
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": 20}})
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0 and r.out.count("forked") == 6  # the control: the limit did it


@v1_only
def test_exec_into_a_sub_cgroup(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's exec --cgroup (exec.bats): an existing sub-cgroup of the container's, per
    controller or for all; never out of the container's (runc's words), nor a missing
    one (the kernel's, after runc's "adding pid")."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        d = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
        os.mkdir(os.path.join(d["pids"], "sub"))
        r = runtime.ok("exec", "--cgroup", "pids:sub", cid, "cat", "/proc/self/cgroup")
        lines = dict(ln.split(":", 2)[1:] for ln in r.out.splitlines())
        assert lines["pids"].endswith(f"/{cid}/sub"), r.out
        assert lines["memory"].endswith(f"/{cid}"), r.out  # the others: the container's
        r = runtime("exec", "--cgroup", "..", cid, "true")
        assert r.code != 0 and "bad sub cgroup path: .." in r.err, r.err
        r = runtime("exec", "--cgroup", "nonexistent", cid, "true")
        assert r.code != 0 and " adding pid " in r.err and "no such file or directory" in r.err
    finally:
        runtime("delete", "--force", cid)  # the sub-cgroup too, as runc removes it
    assert dirs_named(cid) == []


@v1_only
def test_a_used_or_frozen_cgroup_is_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's cgroups.bats: a cgroup with another container's processes in it, or one
    frozen beforehand, fails create in runc's words; the cgroup is left as it was."""
    path = f"/pyrunc-test/{cid}"
    set_cgroup(bundle, path, None, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        r = runtime("create", "--bundle", bundle.path, cid + "-2")
        assert r.code == 1, r.err
        assert error_message(r.err) == "container's cgroup is not empty: 1 process(es) found"
        assert runtime("state", cid + "-2").code == 1
        assert runtime.state(cid)["status"] == "running"  # the first one is untouched
    finally:
        runtime("delete", "--force", cid)
    freezer = os.path.join(CGROUP_ROOT, "freezer", path.lstrip("/"))
    os.makedirs(freezer)
    try:
        with open(os.path.join(freezer, "freezer.state"), "w") as f:
            f.write("FROZEN")
        r = runtime("create", "--bundle", bundle.path, cid)
        assert r.code == 1 and error_message(r.err) == "container's cgroup unexpectedly frozen"
        assert os.path.isdir(freezer)  # not ours to remove
    finally:
        os.rmdir(freezer)


def test_update_pids_limit_flag_as_runc(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's update.bats: --pids-limit 12345, -1 (max), 0 (1: a value given is a value
    set, runc #4014), in a --resources document as with the flag; absent: unchanged."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": 20}}, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        d = pids_dir(host_dirs(proc_cgroups(runtime.state(cid)["pid"])))
        for value, want in (("12345", "12345"), ("-1", "max"), ("0", "1")):
            runtime.ok("update", "--pids-limit", value, cid)
            assert read(d, "pids.max") == want, value
        runtime.ok("update", "--pids-limit", "7", cid)
        runtime.ok("update", "--memory", "64m", cid)
        assert read(d, "pids.max") == "7"
        runtime.ok("update", "-r", "-", cid, stdin='{"pids": {"limit": 0}}')
        assert read(d, "pids.max") == "1"
    finally:
        runtime("delete", "--force", cid)


@pytest.mark.parametrize("limit, want", [(0, "1"), (-1, "max"), (5, "5")])
def test_pids_limit_zero_means_one(
    runtime: Runtime, bundle: Bundle, cid: str, limit: int, want: str
) -> None:
    """runc's cgroups.bats (runc #4014): 0 is 1, negative is no limit."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"pids": {"limit": limit}})
    with created(runtime, bundle, cid) as pid:
        assert read(pids_dir(host_dirs(proc_cgroups(pid))), "pids.max") == want


def test_invalid_resource_value_fails_cleanly(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"cpu": {"cpus": "4095"}})
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "cpuset.cpus" in error_message(r.err), r.err
    assert len(r.err.strip().splitlines()) == 1
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


def test_memory_limit_too_low_is_reported(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The init is OOM-killed while it sets up: say so, not just "exited"."""
    small = 1 << 16
    memory = {"limit": small, **no_swap(small)}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": memory})
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "OOM-killed" in error_message(r.err), r.err
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


# -- devices -------------------------------------------------------------------------------

FAKE = "/dev/pyrunc-test-dev"  # an unregistered char device: open gives ENXIO if allowed
PROBE = f"echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; cat {FAKE} 2>&1 || true"


def _device_case(bundle: Bundle, cid: str, rules: list[dict] | None) -> None:
    bundle.config["linux"]["devices"] = [{"path": FAKE, "type": "c", "major": 240, "minor": 0}]
    resources = {} if rules is None else {"devices": rules}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sh", "-c", PROBE)


@pytest.mark.parametrize(
    "rules", [[{"allow": False, "access": "rwm"}], None], ids=["podman-deny-all", "no-rules"]
)
def test_devices_denied(
    runtime: Runtime, bundle: Bundle, cid: str, rules: list[dict] | None
) -> None:
    """podman lists only deny-all: the defaults must work, anything else must not; with no
    rule at all the host's devices stay closed too (as runc)."""
    _device_case(bundle, cid, rules)
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.splitlines()
    assert out[:2] == ["null-ok", "3"]
    assert out[2].endswith("Operation not permitted"), out


@v1_only
def test_devices_allowed_by_rule(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 240, "minor": 0, "access": "rw"},
    ]
    _device_case(bundle, cid, rules)
    with created(runtime, bundle, cid) as pid:
        listed = read(host_dirs(proc_cgroups(pid))["devices"], "devices.list").splitlines()
        assert "c 240:0 rw" in listed and "a *:* rwm" not in listed
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.splitlines()
    # The cgroup lets it through: the driver (there is none) answers instead.
    assert out[2].endswith("No such device or address"), out


# -- every resource, in the kernel's files -------------------------------------------------


def _block_device() -> tuple[int, int]:
    """A real disk's major:minor (throttle rules refuse devices without a queue)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "zram", "ram")):
            major, minor = read("/sys/block", name, "dev").split(":")
            return int(major), int(minor)
    pytest.skip("no block device")


@v1_only
def test_every_v1_resource_reaches_its_file(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    major, minor = _block_device()
    weight_file = host.blkio_weight_file()  # None: no BFQ here (see the next test)
    resources = {
        "memory": {"limit": 96 << 20, "reservation": 32 << 20, "swappiness": 10,
                   "disableOOMKiller": True, "useHierarchy": True},
        "cpu": {"shares": 300, "quota": 25000, "period": 50000},
        "pids": {"limit": 77},
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
                    "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2097152}],
                    "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 77}],
                    "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 99}]},
    }  # fmt: skip
    if weight_file:
        resources["blockIO"]["weight"] = 300
    # burst (5.14) and idle (5.15) only where this kernel has them (see HOST_DEPENDENT).
    burst, idle = host.v1_has("cpu", "cpu.cfs_burst_us"), host.v1_has("cpu", "cpu.idle")
    if burst:
        resources["cpu"]["burst"] = 1000
    if idle:
        resources["cpu"]["idle"] = 0
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources)
    with created(runtime, bundle, cid) as pid:
        d = host_dirs(proc_cgroups(pid))
        mem, cpu, blk = d["memory"], d["cpu"], d["blkio"]
        assert read(mem, "memory.limit_in_bytes") == str(96 << 20)
        assert read(mem, "memory.soft_limit_in_bytes") == str(32 << 20)
        assert read(mem, "memory.swappiness") == "10"
        assert "oom_kill_disable 1" in read(mem, "memory.oom_control")
        assert read(cpu, "cpu.shares") == "300"
        assert (read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")) == ("25000", "50000")
        if burst:
            assert read(cpu, "cpu.cfs_burst_us") == "1000"
        if idle:
            assert read(cpu, "cpu.idle") == "0"
        assert read(d["pids"], "pids.max") == "77"
        if weight_file:  # CFQ's file, else BFQ's, as runc puts it
            assert read(blk, weight_file).split()[-1] == "300"
        assert read(blk, "blkio.throttle.read_bps_device") == f"{major}:{minor} 1048576"
        assert read(blk, "blkio.throttle.write_bps_device") == f"{major}:{minor} 2097152"
        assert read(blk, "blkio.throttle.read_iops_device") == f"{major}:{minor} 77"
        assert read(blk, "blkio.throttle.write_iops_device") == f"{major}:{minor} 99"


# A limit whose controller or file this host may lack: where the kernel has it, the value
# reaches the file; where not, create fails naming the field and what is missing, leaves
# nothing behind, and `pyrunc check` reports the same problem at the same field.
# (controller, the file a new cgroup would need, resources, field, expected content)
HOST_DEPENDENT = {
    "memory-swap": ("memory", (SWAP_FILE,), {"memory": {"limit": 64 << 20, "swap": 96 << 20}},
                    "linux.resources.memory.swap", str(96 << 20)),
    "blkio-weight": ("blkio", ("blkio.weight", "blkio.bfq.weight"),
                     {"blockIO": {"weight": 300}}, "linux.resources.blockIO.weight", "300"),
    "blkio-leaf-weight": ("blkio", ("blkio.leaf_weight",), {"blockIO": {"leafWeight": 200}},
                          "linux.resources.blockIO.leafWeight", "200"),
    "hugetlb": ("hugetlb", ("hugetlb.2MB.limit_in_bytes",),
                {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]},
                "linux.resources.hugepageLimits[0]", str(1 << 21)),
    "net_cls": ("net_cls", ("net_cls.classid",), {"network": {"classID": 1048577}},
                "linux.resources.network.classID", "1048577"),
    "net_prio": ("net_prio", ("net_prio.ifpriomap",),
                 {"network": {"priorities": [{"name": "lo", "priority": 3}]}},
                 "linux.resources.network.priorities", "lo 3"),
    "cpu-burst": ("cpu", ("cpu.cfs_burst_us",), {"cpu": {"burst": 1000}},
                  "linux.resources.cpu.burst", "1000"),  # Linux >= 5.14
    "cpu-idle": ("cpu", ("cpu.idle",), {"cpu": {"idle": 1}}, "linux.resources.cpu.idle", "1"),
    "kernel-tcp": ("memory", ("memory.kmem.tcp.limit_in_bytes",),
                   {"memory": {"kernelTCP": 16 << 20}}, "linux.resources.memory.kernelTCP",
                   str(16 << 20)),  # runc ignores it; v1 Linux still enforces it
    # Needs a real disk: "{disk}" is its major:minor, filled in by the test.
    "blkio-weight-device": ("blkio", ("blkio.weight_device", "blkio.bfq.weight_device"),
                            {"blockIO": {"weightDevice": [{"weight": 300}]}},
                            "linux.resources.blockIO.weightDevice", "{disk} 300"),
    "blkio-leaf-weight-device": ("blkio", ("blkio.leaf_weight_device",),
                                 {"blockIO": {"weightDevice": [{"leafWeight": 200}]}},
                                 "linux.resources.blockIO.weightDevice", "{disk} 200"),
    "rdma": ("rdma", ("rdma.max",), {"rdma": {"{rdma}": {"hcaHandles": 3, "hcaObjects": 99}}},
             "linux.resources.rdma", "{rdma} hca_handle=3 hca_object=99"),
}  # fmt: skip


def _on_this_host(resources: dict, content: str) -> tuple[dict, str]:
    """HOST_DEPENDENT's placeholders filled in: a real disk, a real RDMA device."""
    if "weightDevice" in json.dumps(resources):
        major, minor = _block_device()
        resources = copy.deepcopy(resources)
        for entry in resources["blockIO"]["weightDevice"]:
            entry.update(major=major, minor=minor)
        content = content.replace("{disk}", f"{major}:{minor}")
    if "{rdma}" in content:
        device = host.rdma_device()
        if device is None and host.v1_mountpoint("rdma"):
            pytest.skip("the rdma controller is mounted, but there is no RDMA device")
        text = json.dumps(resources).replace("{rdma}", device or "mlx5_0")
        resources, content = json.loads(text), content.replace("{rdma}", device or "mlx5_0")
    return resources, content


@pytest.mark.parametrize("case", HOST_DEPENDENT.values(), ids=HOST_DEPENDENT.keys())
@v1_only
def test_host_dependent_limit_applied_or_refused_by_name(
    runtime: Runtime, bundle: Bundle, cid: str, case: tuple
) -> None:
    controller, files, resources, field, content = case
    resources, content = _on_this_host(resources, content)
    present = [f for f in files if host.v1_has(controller, f)]
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources)
    findings = [f for f in check_findings(runtime, bundle) if f["path"] == field]
    if present:
        assert [f["severity"] for f in findings] == ["ok"], findings
        with created(runtime, bundle, cid) as pid:
            d = host_dirs(proc_cgroups(pid))
            assert content in read(d[controller_key(d, controller)], present[0])
        return
    r = runtime("create", "--bundle", bundle.path, cid)
    msg = error_message(r.err)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert msg.startswith(f"{field}: ") and controller in msg, msg
    if host.v1_mountpoint(controller):  # mounted, but the kernel lacks the file
        assert all(f in msg for f in files), msg
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []
    assert [f["severity"] for f in findings] == ["error"], findings
    assert findings[0]["message"] in msg, (findings, msg)


def check_findings(runtime: Runtime, bundle: Bundle) -> list[dict]:
    r = runtime("check", "--bundle", bundle.path, "--format", "json")
    assert r.code in (0, 1), r.err
    return json.loads(r.out)["checks"]


def controller_key(dirs: dict[str, str], controller: str) -> str:
    """The hierarchy key ("net_cls,net_prio", "cpu,cpuacct"...) holding `controller`."""
    return next(k for k in dirs if controller in k.split(","))


@v1_only
def test_realtime_budget(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """RT time comes from the parent's budget: fine below the root, refused (as runc) below
    a new parent, which starts with none. A kernel without CONFIG_RT_GROUP_SCHED has no
    cpu.rt_* files at all: there create fails naming the field."""
    rt = {"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 100000}}
    set_cgroup(bundle, f"/{cid}", rt)
    if not host.v1_has("cpu", "cpu.rt_runtime_us"):
        r = runtime("create", "--bundle", bundle.path, cid)
        msg = error_message(r.err)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
        # The period is written first: its field and file are the ones named.
        want = "linux.resources.cpu.realtimePeriod: this host's cpu controller has no "
        assert msg == want + "cpu.rt_period_us", msg
        assert runtime("state", cid).code == 1 and dirs_named(cid) == []
        return
    with created(runtime, bundle, cid) as pid:
        cpu = host_dirs(proc_cgroups(pid))["cpu"]
        assert read(cpu, "cpu.rt_runtime_us") == "1000"
        assert read(cpu, "cpu.rt_period_us") == "100000"
    set_cgroup(bundle, f"/pyrunc-test/{cid}", rt)
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "cpu.rt_runtime_us" in error_message(r.err), r.err
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


@v1_only
def test_unified_is_refused_on_v1(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """As runc: a limit that cannot be applied is an error, not a silent skip."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"unified": {"memory.high": "100000000"}})
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and error_message(r.err) == (  # runc's words after the field
        "linux.resources.unified: invalid configuration: cannot use unified on cgroup v1"
    ), r.err
    assert len(r.err.strip().splitlines()) == 1
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


# -- the seeds' demo: a busy loop held at 20 % of a CPU ------------------------------------

BUSY = ("sh", "-c", "while :; do :; done")


def _keyed(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (ln.split() for ln in text.splitlines())}


def _cpu_share(usage_ns, seconds: float = 3.0) -> float:  # noqa: ANN001
    u0, t0 = usage_ns(), time.monotonic()
    time.sleep(seconds)
    u1, t1 = usage_ns(), time.monotonic()
    return (u1 - u0) / 1e9 / (t1 - t0)


@v1_only
def test_cpu_quota_holds_a_busy_loop_at_20_percent(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"cpu": {"quota": 20000, "period": 100000}}, *BUSY)
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        acct = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))["cpuacct"]
        share = _cpu_share(lambda: int(read(acct, "cpuacct.usage")))
        print(f"busy loop under 20000/100000: {share:.3f} of one CPU")
        assert 0.15 <= share <= 0.25, share
        # The control, immune to the host's load: the kernel throttled the loop, and stops
        # once update lifts the quota.
        cpu = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))["cpu"]

        def throttled() -> int:
            return _keyed(read(cpu, "cpu.stat"))["nr_throttled"]

        assert throttled() > 10
        runtime.ok("update", "--cpu-quota", "-1", cid)
        assert read(cpu, "cpu.cfs_quota_us") == "-1"
        before = throttled()
        time.sleep(0.5)
        assert throttled() == before
    finally:
        runtime("delete", "--force", cid)


# -- pause / resume ------------------------------------------------------------------------


@v1_only
def test_pause_freezes_and_resume_thaws(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, *BUSY)
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        d = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
        usage = lambda: int(read(d["cpuacct"], "cpuacct.usage"))  # noqa: E731
        runtime.ok("pause", cid)
        assert runtime.state(cid)["status"] == "paused"
        assert read(d["freezer"], "freezer.state") == "FROZEN"
        assert _cpu_share(usage, 0.5) < 0.01  # a frozen busy loop burns nothing
        r = runtime("pause", cid)
        assert r.code == 1 and error_message(r.err) == "container not running"
        runtime.ok("resume", cid)
        assert runtime.state(cid)["status"] == "running"
        assert read(d["freezer"], "freezer.state") == "THAWED"
        assert _cpu_share(usage, 0.5) > 0.05  # runs again (however loaded the host is)
        r = runtime("resume", cid)
        assert r.code == 1 and error_message(r.err) == "container not paused"
    finally:
        runtime("delete", "--force", cid)


def test_exec_ignore_paused_waits_for_resume(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's cgroups.bats: exec --ignore-paused into a paused container waits in the
    frozen cgroup until another call resumes the container (it must not hold the
    container's lock meanwhile), then runs; plain exec is refused in runc's words."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        runtime.ok("pause", cid)
        r = runtime("exec", cid, "echo", "ok")
        assert r.code == 255 and "cannot exec in a paused container" in r.err, r
        with ThreadPoolExecutor(1) as pool:
            execed = pool.submit(runtime, "exec", "--ignore-paused", cid, "echo", "ok")
            time.sleep(1)
            assert not execed.done()  # frozen with the container
            resumed = runtime("resume", cid, timeout=10)  # not blocked by the exec
            assert resumed.code == 0, resumed.err
            r = execed.result(timeout=30)
        assert (r.code, r.out) == (0, "ok\n"), r
    finally:
        runtime("delete", "--force", cid, timeout=10)
    assert dirs_named(cid) == []


def test_an_exec_killed_while_frozen_does_not_block_delete(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """The exec's process, frozen as it joins the paused container, must not keep the
    runtime's lock: once the exec call is gone, delete --force goes through at once."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        runtime.ok("pause", cid)
        with pytest.raises(subprocess.TimeoutExpired):
            runtime("exec", "--ignore-paused", cid, "echo", "ok", timeout=1.5)
        t0 = time.monotonic()
        r = runtime("delete", "--force", cid, timeout=20)
        assert r.code == 0 and time.monotonic() - t0 < 10, r  # not held up by the frozen exec
    finally:
        runtime("delete", "--force", cid, timeout=20)
    assert dirs_named(cid) == []


@pytest.mark.parametrize("how", ["delete-force", "kill-9"])
def test_a_paused_container_can_be_killed(
    runtime: Runtime, bundle: Bundle, cid: str, how: str
) -> None:
    """Frozen v1 tasks keep SIGKILL pending: runc thaws after signalling, so do we."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "sh", "-c", "sleep 100 & sleep 100 & wait")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    call = runtime_call_seconds(runtime, cid)
    runtime.ok("pause", cid)
    t0, calls = time.monotonic(), 1  # a kill held pending would hang until the thaw
    if how == "kill-9":
        runtime.ok("kill", cid, "9")
        calls += 2
        while runtime.state(cid)["status"] != "stopped" and calls < 200:
            calls += 1
            time.sleep(0.01)
        assert runtime.state(cid)["status"] == "stopped"
    runtime.ok("delete", "--force", cid)
    assert time.monotonic() - t0 < 3 + calls * call
    assert not os.path.exists(f"/proc/{pid}/cgroup") or proc_status(pid, "State")[0] in "ZX"
    assert dirs_named(cid) == []


# -- ps ------------------------------------------------------------------------------------


def test_ps_lists_the_containers_processes(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "sh", "-c", "sleep 100 & sleep 100 & wait")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        pid = runtime.state(cid)["pid"]
        d = host_dirs(proc_cgroups(pid))
        for _ in range(100):  # the two sleeps
            if len(procs(pids_dir(d))) == 3:
                break
            time.sleep(0.01)
        kernel = sorted(procs(pids_dir(d)))
        assert len(kernel) == 3 and pid in kernel
        assert runtime.ok("ps", "--format", "json", cid).json() == kernel
        lines = runtime.ok("ps", cid).out.splitlines()
        assert lines[0].split()[:2] == ["UID", "PID"]  # ps -ef's header
        assert sorted(int(ln.split()[1]) for ln in lines[1:]) == kernel  # ours only
        lines = runtime.ok("ps", cid, "-o", "pid,comm").out.splitlines()  # args pass through
        assert lines[0].split() == ["PID", "COMMAND"]
        assert sorted(ln.split()[1] for ln in lines[1:]) == ["sh", "sleep", "sleep"]
    finally:
        runtime("delete", "--force", cid)


# -- update --------------------------------------------------------------------------------


@v1_only
def test_update_flags_json_and_stdin(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    resources = {"memory": {"limit": 64 << 20}, "cpu": {"shares": 512}, "pids": {"limit": 10}}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        d = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
        runtime.ok("update", "--memory", "128m", "--cpu-share", "256", "--pids-limit", "20",
                   "--cpu-period", "200000", "--cpu-quota", "50000", cid)  # fmt: skip
        assert read(d["memory"], "memory.limit_in_bytes") == str(128 << 20)
        assert read(d["cpu"], "cpu.shares") == "256"
        assert read(d["pids"], "pids.max") == "20"
        assert read(d["cpu"], "cpu.cfs_period_us") == "200000"
        assert read(d["cpu"], "cpu.cfs_quota_us") == "50000"
        # docker's stdin document (engine-protocol 4.1): zeros leave values alone; memory
        # goes up with its memsw limit (the kernel wants limit <= memsw at every step).
        # (docker sends no swap where the host has no swap accounting)
        memory = {"limit": 256 << 20, "reservation": 0, **swap_limit(512 << 20), "kernel": 0}
        docker = json.dumps({"memory": memory, "cpu": {"shares": 0, "quota": 0, "period": 0},
                             "blockIO": {"weight": 0}})  # fmt: skip
        runtime.ok("update", "--resources", "-", cid, stdin=docker)
        assert read(d["memory"], "memory.limit_in_bytes") == str(256 << 20)
        if host.v1_has("memory", SWAP_FILE):
            assert read(d["memory"], SWAP_FILE) == str(512 << 20)
        assert read(d["cpu"], "cpu.shares") == "256"  # unchanged by the zero
        assert read(d["cpu"], "cpu.cfs_quota_us") == "50000"
        path = os.path.join(bundle.path, "res.json")
        cpu = _one_allowed_cpu()  # CPU 0 may be outside our cpuset
        with open(path, "w") as f:
            f.write(f'{{"pids": {{"limit": 33}}, "cpu": {{"cpus": "{cpu}"}}}}')
        runtime.ok("update", "-r", path, cid)
        assert read(d["pids"], "pids.max") == "33"
        assert read(d["cpuset"], "cpuset.cpus") == cpu
        assert read(d["memory"], "memory.limit_in_bytes") == str(256 << 20)
    finally:
        runtime("delete", "--force", cid)


@pytest.mark.parametrize(
    "args, stdin, field",
    [
        (["--memory", "lots"], None, "--memory"),
        (["--pids-limit", "1.5"], None, "--pids-limit"),
        (["-r", "-"], '{"memory": {"limit": "1g"}}', "resources.memory.limit"),
        (["-r", "-"], '{"cpu": [1]}', "resources.cpu"),
        (["-r", "-"], "{not json", "--resources"),
        (["-r", "-"], '{"memory": {"swappiness": 200}}', "swappiness"),
        (["--cpuset-cpus", "4095"], None, "cpuset.cpus"),
    ],
)
@v1_only
def test_update_bad_input_changes_nothing(
    runtime: Runtime, bundle: Bundle, cid: str, args: list[str], stdin: str | None, field: str
) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": {"limit": 64 << 20}}, "sleep", "100")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        d = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
        r = runtime("update", *args, cid, stdin=stdin)
        assert r.code == 1 and field in error_message(r.err), r.err
        assert len(r.err.strip().splitlines()) == 1
        assert read(d["memory"], "memory.limit_in_bytes") == str(64 << 20)
        assert runtime.state(cid)["status"] == "running"
    finally:
        runtime("delete", "--force", cid)


@pytest.mark.parametrize("check_first", [True, False])
@v1_only
def test_check_before_update_refuses_a_limit_below_usage(
    runtime: Runtime, bundle: Bundle, cid: str, check_first: bool
) -> None:
    """memory.checkBeforeUpdate: a new limit below the cgroup's usage is refused and the
    kernel's limit stays; without it the kernel reclaims the page cache and takes it."""
    memory = {"limit": 64 << 20, "checkBeforeUpdate": check_first}
    fill = "dd if=/dev/zero of=/fill bs=1M count=24 2>/dev/null && sync && echo filled && sleep 100"
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": memory}, "sh", "-c", fill)
    bundle.config["root"]["readonly"] = False  # /fill: disk-backed, reclaimable cache
    bundle.save()
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        d = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
        runtime.ok("start", cid)
        for _ in range(500):  # the page cache of /fill is charged to the container
            if int(read(d["memory"], "memory.usage_in_bytes")) > 20 << 20:
                break
            time.sleep(0.02)
        usage = int(read(d["memory"], "memory.usage_in_bytes"))
        assert usage > 20 << 20, usage
        r = runtime("update", "--memory", "8m", cid)
        if check_first:
            assert r.code == 1, r.err
            msg = error_message(r.err)
            assert msg.startswith(f"rejecting memory limit {8 << 20} <= usage "), msg
            assert read(d["memory"], "memory.limit_in_bytes") == str(64 << 20)
        else:
            assert r.code == 0, r.err
            assert read(d["memory"], "memory.limit_in_bytes") == str(8 << 20)
    finally:
        runtime("delete", "--force", cid)


def test_kernel_memory_limit_is_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Linux ignores memory.kmem.limit_in_bytes (runc ignores the field): refused at create,
    naming the field, nothing left behind; check says the same."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": {"kernel": 64 << 20}})
    r = runtime("create", "--bundle", bundle.path, cid)
    msg = error_message(r.err)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert msg.startswith("linux.resources.memory.kernel: kernel memory limits are not"), msg
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []
    findings = [f for f in check_findings(runtime, bundle) if f["severity"] == "error"]
    assert [f["path"] for f in findings] == ["linux.resources.memory.kernel"], findings


def test_update_of_a_stopped_container_fails(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "true")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        for _ in range(200):
            if runtime.state(cid)["status"] == "stopped":
                break
            time.sleep(0.01)
        r = runtime("update", "--memory", "64m", cid)
        assert r.code == 1 and error_message(r.err) == "container not running"
    finally:
        runtime.ok("delete", cid)


# -- events --------------------------------------------------------------------------------


@v1_only
def test_events_stats_shape(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    resources = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sh", "-c", "sleep 100 & sleep 100 & wait")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        time.sleep(0.2)
        event = runtime.ok("events", "--stats", cid).json()
        assert event["type"] == "stats" and event["id"] == cid
        data = event["data"]
        assert data["pids"] == {"current": 3, "limit": 50}
        assert data["memory"]["usage"]["limit"] == 64 << 20
        assert 0 < data["memory"]["usage"]["usage"] < 64 << 20
        assert data["cpu"]["usage"]["total"] > 0 and "throttling" in data["cpu"]
        assert {"blkio", "hugetlb", "intel_rdt", "network_interfaces"} <= set(data)
    finally:
        runtime("delete", "--force", cid)
    r = runtime("events", "--stats", cid)
    assert r.code == 1 and error_message(r.err) == "container does not exist"


def test_events_reports_an_oom_kill(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """A child buffering an endless line past the limit is OOM-killed; `events` says so."""
    limit = 32 << 20
    script = "sleep 1; tail /dev/zero; echo tail-status=$?; sleep 1"
    resources = {"memory": {"limit": limit, **no_swap(limit)}}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sh", "-c", script)
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        import subprocess

        cmd = [*runtime.argv, "--root", runtime.root, "events", "--interval", "10s", cid]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as events:
            time.sleep(0.5)  # the stream is open before the kill happens
            runtime.ok("start", cid)
            out, _ = events.communicate(timeout=30)  # it ends with the container
        lines = [json.loads(ln) for ln in out.splitlines()]
        assert {"type": "oom", "id": cid} in lines, lines
        assert lines[0]["type"] == "stats"  # the first stats come at once
    finally:
        runtime("delete", "--force", cid)


# -- systemd-style cgroupsPath -------------------------------------------------------------


@v1_only
def test_systemd_cgroup_path_maps_to_cgroupfs(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    set_cgroup(bundle, f"pyt-test.slice:pyt:{cid}")
    flag = ("--systemd-cgroup",)
    runtime.ok("create", "--bundle", bundle.path, cid, global_args=flag)
    try:
        pid = runtime.state(cid)["pid"]
        want = f"/pyt.slice/pyt-test.slice/pyt-{cid}.scope"
        assert proc_cgroups(pid) == {key: want for key in proc_cgroups("self")}
    finally:
        runtime.ok("delete", "--force", cid)
    assert dirs_named("pyt-test.slice") == [] and dirs_named("pyt.slice") == []
    # Without the flag the same string is a relative path like any other (as runc);
    # with it, a path of another form is refused.
    set_cgroup(bundle, "/not/systemd")
    r = runtime("create", "--bundle", bundle.path, cid, global_args=flag)
    assert r.code == 1 and "slice:prefix:name" in error_message(r.err), r.err
    assert runtime("state", cid).code == 1


# -- differential: the same config under runc gives the same files -------------------------

DIFF_FILES = {
    "memory": ("memory.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.memsw.limit_in_bytes", "memory.swappiness"),
    "cpu": ("cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"),
    "cpuset": ("cpuset.cpus", "cpuset.mems"),
    "pids": ("pids.max",),
    "blkio": ("blkio.weight", "blkio.bfq.weight", "blkio.throttle.read_bps_device",
              "blkio.throttle.write_iops_device"),
}  # fmt: skip


def _files(runtime: Runtime, bundle: Bundle, cid: str) -> dict[str, str] | None:
    """The cgroup files a created container got; None if create refused the config."""
    if runtime("create", "--bundle", bundle.path, cid).code != 0:
        assert runtime("state", cid).code != 0 and dirs_named(cid) == []
        return None
    try:
        d = host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
        got = {f: read(d[c], f) for c, names in DIFF_FILES.items() for f in names
               if os.path.exists(os.path.join(d[c], f))}  # fmt: skip
        got["oom_control"] = read(d["memory"], "memory.oom_control").splitlines()[0]
        got["devices.list"] = " ".join(sorted(read(d["devices"], "devices.list").splitlines()))
        return got
    finally:
        runtime.ok("delete", "--force", cid)


@pytest.mark.parametrize(
    "resources",
    [
        {"memory": {"limit": 96 << 20, "swap": 192 << 20, "reservation": 32 << 20,
                    "swappiness": 30, "disableOOMKiller": True},
         "cpu": {"shares": 300, "quota": 25000, "period": 50000, "cpus": "0", "mems": "0"},
         "pids": {"limit": 77}},
        {"memory": {"limit": -1}, "cpu": {"shares": 0, "quota": -1}, "pids": {"limit": -1},
         "blockIO": {"weight": 500}},
        {"devices": [{"allow": False, "access": "rwm"},
                     {"allow": True, "type": "c", "major": 240, "minor": 0, "access": "rw"}]},
    ],
    ids=["limits", "unlimited-and-zeros", "devices"],
)  # fmt: skip
@v1_only
def test_same_files_as_runc(
    runtime: Runtime, runc: Runtime, bundle: Bundle, cid: str, resources: dict
) -> None:
    if "blockIO" in resources:
        major, minor = _block_device()
        resources["blockIO"]["throttleReadBpsDevice"] = [
            {"major": major, "minor": minor, "rate": 4096}
        ]
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "sleep", "10")
    ours = _files(runtime, bundle, cid)  # first: it must create and remove /pyrunc-test itself
    try:
        theirs = _files(runc, bundle, cid)
    finally:
        _remove_parents_runc_leaves("pyrunc-test")
    assert ours == theirs
    if "weight" in resources.get("blockIO", {}) and not host.blkio_weight_file():
        assert ours is None  # no BFQ here: both refuse the weight (see HOST_DEPENDENT)


def _remove_parents_runc_leaves(name: str) -> None:
    """runc never removes the parent cgroups it created; this test's runc leg must not
    leave them on the host."""
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        try:
            os.rmdir(os.path.join("/sys/fs/cgroup", hierarchy, name))
        except OSError:
            pass


def test_pause_a_created_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc pauses created containers too and reports them paused; resume gives created."""
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "true")
    with created(runtime, bundle, cid):
        runtime.ok("pause", cid)
        assert runtime.state(cid)["status"] == "paused"
        r = runtime("start", cid)
        assert r.code == 1 and "paused" in error_message(r.err), r.err
        runtime.ok("resume", cid)
        assert runtime.state(cid)["status"] == "created"


# -- update as runc's update.bats does it: the kernel's order rules, runc's field rules ----


@contextmanager
def running(runtime: Runtime, bundle: Bundle, cid: str) -> Iterator[dict[str, str]]:
    """A detached container; its cgroup directories by hierarchy key. Deleted after."""
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    try:
        yield host_dirs(proc_cgroups(runtime.state(cid)["pid"]))
    finally:
        runtime("delete", "--force", cid)


@v1_only
def test_update_unlimited_memory_lifts_memsw(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """--memory -1 alone removes the memory+swap limit too (runc): written as is, the
    kernel refuses a memory limit above the old memsw one (EINVAL)."""
    memory = {"limit": 32 << 20, **swap_limit(64 << 20)}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": memory}, "sleep", "100")
    unlimited = read(host.v1_mountpoint("memory") or "", "memory.limit_in_bytes")
    with running(runtime, bundle, cid) as d:
        runtime.ok("update", "--memory", "-1", cid)
        assert read(d["memory"], "memory.limit_in_bytes") == unlimited
        if host.v1_has("memory", SWAP_FILE):
            assert read(d["memory"], SWAP_FILE) == unlimited
        runtime.ok("update", "--memory", "30m", cid)  # and a limit again, alone
        assert read(d["memory"], "memory.limit_in_bytes") == str(30 << 20)


@v1_only
def test_update_cpu_burst_zero_is_written(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's update.bats "cpu burst": 0 is a value (not "unchanged"); an update of
    something else leaves the burst alone."""
    if not host.v1_has("cpu", "cpu.cfs_burst_us"):
        pytest.skip("this kernel has no cpu.cfs_burst_us")
    cpu = {"quota": 500000, "period": 1000000}
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"cpu": cpu}, "sleep", "100")
    with running(runtime, bundle, cid) as d:
        assert read(d["cpu"], "cpu.cfs_burst_us") == "0"
        runtime.ok("update", "--cpu-period", "900000", "--cpu-burst", "500000", cid)
        assert read(d["cpu"], "cpu.cfs_burst_us") == "500000"
        runtime.ok("update", "--memory", "100m", cid)
        assert read(d["cpu"], "cpu.cfs_burst_us") == "500000"
        runtime.ok("update", "--cpu-period", "900000", "--cpu-burst", "0", cid)
        assert read(d["cpu"], "cpu.cfs_burst_us") == "0"


@v1_only
def test_update_cpu_idle_zero_is_written(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's update.bats "cpu.idle": 1, 0, 1 from a document and from the flag, with
    shares set at create (an idle cgroup refuses cpu.shares writes: not rewritten);
    values the kernel refuses fail and leave the file as it was."""
    if not host.v1_has("cpu", "cpu.idle"):
        pytest.skip("this kernel has no cpu.idle")
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"cpu": {"shares": 100}}, "sleep", "100")
    with running(runtime, bundle, cid) as d:
        assert read(d["cpu"], "cpu.idle") == "0"
        for val in ("1", "0", "1"):
            runtime.ok("update", "-r", "-", cid, stdin=f'{{"cpu": {{"idle": {val}}}}}')
            assert read(d["cpu"], "cpu.idle") == val
        for val in ("0", "1"):
            runtime.ok("update", "--cpu-idle", val, cid)
            assert read(d["cpu"], "cpu.idle") == val
        for val in ("-1", "2"):
            r = runtime("update", "--cpu-idle", val, cid)
            assert r.code == 1 and "cpu.idle" in error_message(r.err), r.err
            assert read(d["cpu"], "cpu.idle") == "1"
        runtime.ok("update", "--cpu-period", "10000", cid)
        assert read(d["cpu"], "cpu.idle") == "1"


@v1_only
def test_update_cpus_by_runcs_case_blind_names(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's decoder takes {"CPU": {"Cpus": ...}} for cpu.cpus (update.bats does so)."""
    cpu = _one_allowed_cpu()
    set_cgroup(bundle, f"/pyrunc-test/{cid}", None, "sleep", "100")
    with running(runtime, bundle, cid) as d:
        runtime.ok("update", "-r", "-", cid, stdin=f'{{"CPU": {{"Cpus": "{cpu}"}}}}')
        assert read(d["cpuset"], "cpuset.cpus") == cpu


def _parents(name: str, controllers: tuple[str, ...]) -> list[str]:
    """A parent cgroup made the way the suite makes a pod's: a bare mkdir per hierarchy
    (a cpuset one is then empty: no CPUs, no memory nodes)."""
    made = []
    for controller in controllers:
        d = os.path.join(host.v1_mountpoint(controller) or "", name)
        os.makedirs(d)
        made.append(d)
    return made


@v1_only
def test_lower_period_and_quota_below_a_limited_pod(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's update.bats pod test. The pod's cpuset is empty (a bare mkdir): the
    container still joins it (its sets come down from the root, as runc's). The pod
    holds 50% of a CPU; lowering the period under the container's quota is refused by
    the kernel, so the quota goes first; a quota over the pod's share is refused."""
    pod = f"pyrunc-pod-{cid}"
    made = _parents(pod, ("cpu", "cpuset"))
    with removed_after(*made, *(os.path.join(d, "c") for d in made)):
        cpu_pod, cpuset_pod = made
        with open(os.path.join(cpu_pod, "cpu.cfs_quota_us"), "w") as f:
            f.write("50000")
        cpu = {"shares": 100, "quota": 500000, "period": 1000000}
        set_cgroup(bundle, f"/{pod}/c", {"cpu": cpu}, "sleep", "100")
        with running(runtime, bundle, cid) as d:
            assert d["cpuset"] == os.path.join(cpuset_pod, "c")
            root = host.v1_mountpoint("cpuset") or ""
            assert read(cpuset_pod, "cpuset.cpus") == read(root, "cpuset.cpus")
            assert read(cpuset_pod, "cpuset.mems") == read(root, "cpuset.mems")
            r = runtime("update", "--cpu-quota", "600000", cid)
            assert r.code == 1 and "cpu.cfs_quota_us" in error_message(r.err), r.err
            runtime.ok("update", "--cpu-period", "10000", "--cpu-quota", "3000", cid)
            assert read(d["cpu"], "cpu.cfs_quota_us") == "3000"
            assert read(d["cpu"], "cpu.cfs_period_us") == "10000"
            runtime.ok("update", "--cpu-period", "100000", "--cpu-quota", "40000", cid)
            assert read(d["cpu"], "cpu.cfs_quota_us") == "40000"
            assert read(d["cpu"], "cpu.cfs_period_us") == "100000"


@v1_only
def test_update_rt_period_and_runtime_both_ways(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's update.bats rt test (runc #4094): a new rt period is checked against the
    current runtime, so a lower pair goes runtime first, a higher one period first."""
    if not host.rt_group_sched():
        pytest.skip("no CONFIG_RT_GROUP_SCHED: no cpu.rt_* files")
    root = host.v1_mountpoint("cpu") or ""
    period, budget = read(root, "cpu.rt_period_us"), read(root, "cpu.rt_runtime_us")
    parent = os.path.join(root, f"pyrunc-rt-{cid}")
    leaf = os.path.join(parent, "c")
    with removed_after(parent, leaf):
        for d in (parent, leaf):  # the suite's setup: the root's budget, level by level
            os.makedirs(d)
            for name, value in (("cpu.rt_period_us", period), ("cpu.rt_runtime_us", budget)):
                with open(os.path.join(d, name), "w") as f:
                    f.write(value)
        set_cgroup(bundle, f"/pyrunc-rt-{cid}/c", None, "sleep", "100")
        with running(runtime, bundle, cid) as d:
            runtime.ok("update", "-r", "-", cid, stdin='{"cpu": {"realtimeRuntime": 500001}}')
            assert read(d["cpu"], "cpu.rt_period_us") == period
            assert read(d["cpu"], "cpu.rt_runtime_us") == "500001"
            for p, rt in (("900001", "600001"), ("10000", "3000"), ("100000", "20000")):
                runtime.ok("update", "--cpu-rt-period", p, "--cpu-rt-runtime", rt, cid)
                assert read(d["cpu"], "cpu.rt_period_us") == p
                assert read(d["cpu"], "cpu.rt_runtime_us") == rt


KMSG_RULES = [  # runc's update.bats: deny all, and c 1:11 with an "a" the kernel refuses
    {"allow": False, "access": "rwm"},
    {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
]


@v1_only
def test_device_rules_are_a_transition_and_update_keeps_them(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """The rules reach devices.list as the whitelist they mean (the "a" letter is no
    access: nothing of it is written); update leaves the list alone: a rule allowing
    a device survives, and the defaults are never taken away meanwhile (a process
    opening /dev/null in a loop never fails, as in runc's "minimal transition rules")."""
    rules = [*KMSG_RULES, {"allow": True, "type": "c", "major": 240, "minor": 0, "access": "rw"}]
    bundle.config["linux"]["devices"] = [{"path": FAKE, "type": "c", "major": 240, "minor": 0}]
    loop = "while :; do echo > /dev/null || { echo FAILED; exit 1; }; done"
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"devices": rules}, "sh", "-c", loop)
    with running(runtime, bundle, cid) as d:
        listed = read(d["devices"], "devices.list").splitlines()
        assert "c 240:0 rw" in listed and "c 1:3 rwm" in listed, listed
        assert not any(ln.startswith(("a ", "c 1:11")) for ln in listed), listed
        for _ in range(30):
            runtime.ok("update", "--pids-limit", "30", cid)
        assert read(d["devices"], "devices.list").splitlines() == listed
        assert runtime.state(cid)["status"] == "running"  # the loop never failed


@pytest.mark.skipif(not host.v1_mountpoint("devices"), reason="no v1 devices hierarchy")
@v1_only
def test_device_access_naming_no_permission_is_refused(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc keeps the r, w and m of an access and ignores other letters (update.bats'
    "rwa"); an access with none of them would be a rule silently dropped: refused."""
    rules = [{"allow": False, "access": "rwm"}]
    rules.append({"allow": True, "type": "c", "major": 1, "minor": 4, "access": "q"})
    bundle.config["linux"]["resources"]["devices"] = rules
    bundle.save()
    msg = create_fails(runtime, bundle, cid)
    assert msg == "linux.resources.devices[1].access: 'q' has none of r, w, m", msg
    rules[1]["access"] = "rwa"  # /dev/port read and write; the a ignored, as runc
    bundle.set_args("sleep", "100")
    with created(runtime, bundle, cid) as pid:
        with open(f"/proc/{pid}/cgroup") as f:
            rel = next(ln.split(":", 2)[2].strip() for ln in f if ":devices:" in ln)
        path = os.path.join(host.v1_mountpoint("devices"), rel.lstrip("/"), "devices.list")
        with open(path) as f:
            listed = f.read().splitlines()
    assert "c 1:4 rw" in listed, listed
