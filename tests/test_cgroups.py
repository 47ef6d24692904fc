"""linux.cgroupsPath and linux.resources on cgroup v1 (hybrid), read from the kernel:
/proc/<pid>/cgroup, the hierarchies' cgroup.procs and control files, and what the
container itself observes (its cgroup, its CPUs, refused forks, refused devices)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers import Bundle, Runtime, error_message, proc_status

CGROUP_ROOT = "/sys/fs/cgroup"


pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(CGROUP_ROOT, "memory")),
    reason="needs cgroup v1 controllers under /sys/fs/cgroup",
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
    found = []
    for top in os.listdir(CGROUP_ROOT):
        for dirpath, dirnames, _ in os.walk(os.path.join(CGROUP_ROOT, top)):
            found += [os.path.join(dirpath, d) for d in dirnames if fragment in d]
    return found


@contextmanager
def created(runtime: Runtime, bundle: Bundle, cid: str) -> Iterator[int]:
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        yield runtime.state(cid)["pid"]
    finally:
        runtime("delete", "--force", cid)


def set_cgroup(bundle: Bundle, path: str, resources: dict | None = None, *args: str) -> None:
    bundle.config["linux"]["cgroupsPath"] = path
    if resources is not None:
        bundle.config["linux"]["resources"] = resources
    if args:
        bundle.config["process"]["args"] = list(args)
    bundle.save()


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
            t0 = time.monotonic()
            r = runtime("delete", "--force", cid)
            assert r.code == 0, r.err
            assert time.monotonic() - t0 < 2, "delete waited on a directory that is not its own"
            assert runtime("state", cid).code == 1
            b_dirs = host_dirs({k: f"{parent}/b" for k in proc_cgroups("self")})
            assert all(procs(d) == [pid_b] for d in b_dirs.values())
        finally:
            r = runtime("delete", "--force", other)
        assert r.code == 0, r.err
        assert not any(os.path.exists(d) for d in b_dirs.values())


# -- resources -----------------------------------------------------------------------------


def _one_allowed_cpu() -> str:
    allowed = proc_status("self", "Cpus_allowed_list")
    last = allowed.split(",")[-1].split("-")[-1]
    return last


def test_resources_reach_the_files(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    cpu = _one_allowed_cpu()
    mem, swap = 64 << 20, 128 << 20
    resources = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": mem, "swap": swap},
        "cpu": {"shares": 512, "quota": 30000, "period": 200000, "cpus": cpu, "mems": "0"},
        "pids": {"limit": 42},
    }
    set_cgroup(bundle, f"/pyrunc-test/{cid}", resources, "grep", "Cpus_allowed_list",
               "/proc/self/status")  # fmt: skip
    with created(runtime, bundle, cid) as pid:
        d = host_dirs(proc_cgroups(pid))
        assert read(d["memory"], "memory.limit_in_bytes") == str(mem)
        if os.path.exists(os.path.join(d["memory"], "memory.memsw.limit_in_bytes")):
            assert read(d["memory"], "memory.memsw.limit_in_bytes") == str(swap)
        assert read(d["cpu"], "cpu.shares") == "512"
        assert read(d["cpu"], "cpu.cfs_period_us") == "200000"
        assert read(d["cpu"], "cpu.cfs_quota_us") == "30000"
        assert read(d["pids"], "pids.max") == "42"
        assert read(d["cpuset"], "cpuset.cpus") == cpu
        assert read(d["cpuset"], "cpuset.mems") == "0"
        assert proc_status(pid, "Cpus_allowed_list") == cpu  # the scheduler obeys it
    out = runtime.ok("run", "--bundle", bundle.path, cid).out
    assert out.split() == ["Cpus_allowed_list:", cpu]


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


def test_invalid_resource_value_fails_cleanly(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"cpu": {"cpus": "4095"}})
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "cpuset.cpus" in error_message(r.err), r.err
    assert len(r.err.strip().splitlines()) == 1
    assert runtime("state", cid).code == 1 and dirs_named(cid) == []


def test_memory_limit_too_low_is_reported(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The init is OOM-killed while it sets up: say so, not just "exited"."""
    small = 1 << 16
    set_cgroup(bundle, f"/pyrunc-test/{cid}", {"memory": {"limit": small, "swap": small}})
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
