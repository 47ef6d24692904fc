"""features, spec and --version: what engines read from the runtime itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from typing import Any

import pytest

from tests import host
from tests.helpers import Bundle, Runtime

UPSTREAM_SCHEMA = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "oci-runtime-spec", "schema"
)
UPSTREAM_SCHEMA = os.environ.get("OCI_RUNTIME_SPEC_SCHEMA", os.path.normpath(UPSTREAM_SCHEMA))


def _features(runtime: Runtime) -> dict:
    return runtime.ok("features").json()


def test_features_validates_against_upstream_schema(runtime: Runtime) -> None:
    """Against ../shared's features-schema.json and the files it refers to, read now."""
    jsonschema = pytest.importorskip("jsonschema")
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    path = os.path.join(UPSTREAM_SCHEMA, "features-schema.json")
    if not os.path.exists(path):
        pytest.skip(f"{path}: the runtime-spec's schema is not here (../shared absent)")
    resources = []
    for name in os.listdir(UPSTREAM_SCHEMA):
        if name.endswith(".json"):
            with open(os.path.join(UPSTREAM_SCHEMA, name)) as f:
                uri = "file://" + os.path.abspath(os.path.join(UPSTREAM_SCHEMA, name))
                resources.append((uri, Resource.from_contents(json.load(f), DRAFT4)))
    registry = Registry().with_resources(resources)
    entry = {"$ref": "file://" + os.path.abspath(path)}
    jsonschema.Draft4Validator(entry, registry=registry).validate(_features(runtime))


def test_features_report_this_host(runtime: Runtime) -> None:
    doc = _features(runtime)
    assert doc["ociVersionMax"] == "1.3.0"
    assert set(doc["hooks"]) == {
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"
    }  # fmt: skip
    linux = doc["linux"]
    kernel_ns = {"mnt": "mount", "net": "network"}
    here = {kernel_ns.get(n, n) for n in os.listdir("/proc/self/ns") if not n.endswith("children")}
    assert set(linux["namespaces"]) == here
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert len(linux["capabilities"]) == int(f.read()) + 1
    assert linux["capabilities"][21] == "CAP_SYS_ADMIN"
    assert linux["cgroup"]["v1"] is True
    # Wherever the loader finds libseccomp (not one distribution's path for one arch).
    assert linux["seccomp"]["enabled"] == host.libseccomp_loadable()
    if linux["seccomp"]["enabled"]:
        assert f"SCMP_ARCH_{os.uname().machine.upper()}" in linux["seccomp"]["archs"]
        assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    assert linux["apparmor"]["enabled"] == host.apparmor_enabled()
    assert linux["selinux"]["enabled"] == (host.selinux_label() is not None)
    # Applied (tests/test_userns.py::test_idmapped_mount reads the kernel's view).
    assert linux["mountExtensions"]["idmap"]["enabled"] is True
    assert {"rro", "rbind", "rprivate", "tmpcopyup", "nosymfollow"} <= set(doc["mountOptions"])


# features' switches and the coverage table row each speaks for: "enabled" exactly
# when the row is applied (runc's meaning: what the runtime does, not this host).
FEATURE_ROWS = {
    ("netDevices", "enabled"): "linux.netDevices",
    ("intelRdt", "enabled"): "linux.intelRdt",
    ("intelRdt", "schemata"): "linux.intelRdt.schemata",
    ("intelRdt", "monitoring"): "linux.intelRdt.enableMonitoring",
    ("cgroup", "rdma"): "linux.resources.rdma",
    ("mountExtensions", "idmap", "enabled"): "mounts[].uidMappings",
}


def test_features_agree_with_the_coverage_table(runtime: Runtime) -> None:
    from tests.unit.test_spec_coverage import ROWS

    status = {field: st for field, st, _ in ROWS}
    linux = _features(runtime)["linux"]
    for keys, field in FEATURE_ROWS.items():
        value: Any = linux
        for key in keys:
            value = value[key]
        assert value is (status[field] == "applied"), (keys, field, status[field])
    assert bool(linux["memoryPolicy"]["modes"]) is (status["linux.memoryPolicy"] == "applied")


def test_features_memory_policy_is_what_the_schema_knows(runtime: Runtime) -> None:
    from pyrunc.spec.validate import schema_document

    policy = schema_document("linux.json")["definitions"]["memoryPolicy"]["properties"]
    linux = _features(runtime)["linux"]
    assert linux["memoryPolicy"]["modes"] == sorted(policy["mode"]["enum"])
    assert linux["memoryPolicy"]["flags"] == sorted(policy["flags"]["items"]["enum"])


@pytest.mark.parametrize(
    ("policy", "shown"),
    [
        ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
        ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
         "interleave=static:0"),
    ],
)  # fmt: skip
def test_features_memory_policy_is_applied(
    runtime: Runtime, bundle: Bundle, cid: str, policy: dict, shown: str
) -> None:
    """A mode and a flag features lists, as the kernel shows the process's policy."""
    if not os.path.exists("/proc/self/numa_maps"):
        pytest.skip("kernel without CONFIG_NUMA: no numa_maps to read the policy from")
    doc = _features(runtime)["linux"]["memoryPolicy"]
    assert policy["mode"] in doc["modes"] and set(policy.get("flags", ())) <= set(doc["flags"])
    bundle.config["linux"]["memoryPolicy"] = policy
    bundle.set_args("head", "-1", "/proc/self/numa_maps")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    assert r.out.split()[1] == shown


def test_features_potentially_unsafe_annotations(runtime: Runtime) -> None:
    from pyrunc.linux.procfs_view import ANNOTATION

    # The one annotation of config.json that changes what pyrunc does (lxcfs mounts,
    # maybe an lxcfs daemon started on the host).
    assert _features(runtime)["potentiallyUnsafeConfigAnnotations"] == [ANNOTATION]


def test_features_seccomp_supported_flags_are_the_kernels(runtime: Runtime) -> None:
    """pyrunc passes the flags to seccomp(2) itself: supported = what this kernel takes."""
    seccomp = _features(runtime)["linux"]["seccomp"]
    if not seccomp["enabled"]:
        pytest.skip("libseccomp not loadable here: no seccomp section to check")
    bits = {
        "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 1 << 5,
    }
    expected = {f for f, bit in bits.items() if host.seccomp_flag_supported(bit)}
    expected.add("SECCOMP_FILTER_FLAG_TSYNC")  # since 3.17 (seccomp(2) itself)
    assert set(seccomp["supportedFlags"]) == expected
    assert set(seccomp["supportedFlags"]) <= set(seccomp["knownFlags"])


def test_features_answers_fast(runtime: Runtime) -> None:
    """A few ms beyond the interpreter's own start (engines may ask on every start)."""
    import subprocess
    import sys

    def best(*argv: str) -> float:
        times = []
        for _ in range(15):  # the best of many: a loaded CI host inflates some runs
            t = time.perf_counter()
            subprocess.run([sys.executable, "-IS", *argv], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        return min(times)

    from tests.helpers import REPO

    script = (
        f"import sys; sys.path.insert(0, {REPO!r}); sys.argv = ['pyrunc', 'features'];"
        "from pyrunc.cli.main import main; sys.exit(main())"
    )
    bare = best("-c", "pass")
    cost = best("-c", script) - bare
    assert cost < 0.025, f"features took {cost * 1000:.1f} ms beyond a bare interpreter"


def test_features_mount_options_are_applied(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Options features lists are applied on a real mount (the kernel's mountinfo)."""
    sample = ["nosuid", "noexec", "nodev", "ro", "noatime", "nosymfollow"]
    assert set(sample) <= set(_features(runtime)["mountOptions"])
    bundle.config["mounts"].append(
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": sample}
    )
    bundle.set_args("grep", " /mnt ", "/proc/self/mountinfo")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    per_mount = r.out.split()[5].split(",")
    assert {"ro", "nosuid", "nodev", "noexec", "noatime", "nosymfollow"} <= set(per_mount)


def test_spec_writes_runnable_config(runtime: Runtime, workdir: str, busybox_rootfs: str,
                                     cid: str) -> None:  # fmt: skip
    path = os.path.join(workdir, cid)
    os.makedirs(path)
    try:
        shutil.copytree(busybox_rootfs, os.path.join(path, "rootfs"), symlinks=True)
        runtime.ok("spec", "--bundle", path)
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        assert cfg["process"]["terminal"] is True and cfg["process"]["args"] == ["sh"]
        from pyrunc.spec.validate import validate_config

        validate_config(cfg)
        r = runtime("spec", "--bundle", path)  # never overwrites
        assert r.code == 1 and "config.json" in r.err and "exists" in r.err
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["sh", "-c", "echo spec-ok; hostname"]
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f)
        r = runtime("run", "--bundle", path, cid)
        assert (r.code, r.out.split()) == (0, ["spec-ok", "pyrunc"]), r.err
    finally:
        shutil.rmtree(path)


def test_spec_rootless(runtime: Runtime, workdir: str, cid: str) -> None:
    path = os.path.join(workdir, cid)
    os.makedirs(path)
    try:
        runtime.ok("spec", "--rootless", "-b", path)
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        types = [ns["type"] for ns in cfg["linux"]["namespaces"]]
        assert "user" in types and "network" not in types
        assert cfg["linux"]["uidMappings"] == [
            {"containerID": 0, "hostID": os.geteuid(), "size": 1}
        ]
        assert "resources" not in cfg["linux"]
        assert not any(o.startswith("gid=") for m in cfg["mounts"] for o in m.get("options", []))
    finally:
        shutil.rmtree(path)


def test_spec_bad_bundle_names_it(runtime: Runtime, workdir: str) -> None:
    r = runtime("spec", "--bundle", os.path.join(workdir, "no", "such", "dir"))
    assert r.code == 1 and "--bundle" in r.err and "Traceback" not in r.err


def test_version_shape(runtime: Runtime) -> None:
    lines = runtime.ok("--version").out.splitlines()
    assert re.fullmatch(r"pyrunc version \d+\.\d+\.\d+\S*", lines[0])
    assert lines[1].startswith("commit: ") and len(lines[1]) > len("commit: ")
    assert lines[2] == "spec: 1.3.0"


# -- signals: run in the foreground, kill --all, delete --force ---------------------------


def test_sigterm_to_foreground_run_reaches_the_container(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    import subprocess

    from tests.helpers import PYRUNC

    bundle.set_args(
        "sh", "-c", "trap 'echo trapped; exit 42' TERM; echo up; while :; do sleep 0.05; done"
    )
    cmd = [*PYRUNC, "--root", runtime.root, "run", "--bundle", bundle.path, cid]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"up\n"
        p.send_signal(15)
        assert p.wait(timeout=10) == 42
        assert p.stdout.read() == b"trapped\n"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    assert runtime("state", cid).code == 1


def test_kill_all_signals_every_process(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    from tests.helpers import is_dead

    bundle.set_args("sh", "-c", "sleep 1000 & sleep 1000 & wait")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        init = runtime.state(cid)["pid"]
        deadline = time.monotonic() + 5
        while len(_tasks(runtime, cid)) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        pids = _tasks(runtime, cid)
        runtime.ok("kill", "--all", cid, "KILL")
        deadline = time.monotonic() + 5
        while not all(is_dead(p) for p in pids):
            assert time.monotonic() < deadline, [p for p in pids if not is_dead(p)]
            time.sleep(0.02)
        assert init in pids
    finally:
        runtime("delete", "--force", cid)


def _tasks(runtime: Runtime, cid: str) -> list[int]:
    return runtime.ok("ps", "--format", "json", cid).json()


def test_delete_force_of_a_running_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    from tests.helpers import is_dead

    bundle.set_args("sh", "-c", "trap '' TERM; sleep 1000")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    r = runtime("delete", cid)
    assert r.code == 1 and "not stopped: running" in r.err
    runtime.ok("delete", "--force", cid)
    assert is_dead(pid) and runtime("state", cid).code == 1


def test_spec_has_a_cgroup_namespace_on_pure_v2_only(runtime: Runtime, workdir: str) -> None:
    """As runc's example: on a v1 or hybrid host, a cgroup namespace would hide the
    container's cgroup paths from what it reads of itself (runc's cgroups.bats)."""
    path = os.path.join(workdir, "spec-cgroupns")
    os.makedirs(path)
    runtime.ok("spec", "--bundle", path)
    with open(os.path.join(path, "config.json")) as f:
        types = [ns["type"] for ns in json.load(f)["linux"]["namespaces"]]
    assert ("cgroup" in types) == host.is_cgroup_v2(), types
