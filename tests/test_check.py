"""`pyrunc check`: every problem of a bundle and of this host for it, in one run.

Real bundles, the real CLI; the host facts are read here independently of the code
under test. The differential test holds check to its promise: it flags an error
exactly when `pyrunc create` of the same bundle fails.
"""

from __future__ import annotations

import copy
import json
import os
import resource
from collections.abc import Callable
from typing import Any

import pytest

from tests import host
from tests.helpers import PYRUNC, Bundle, Result, Runtime, error_message

Config = dict[str, Any]


def check(runtime: Runtime, bundle: Bundle, *extra: str) -> Result:
    return runtime("check", "--bundle", bundle.path, *extra)


def check_json(runtime: Runtime, bundle: Bundle) -> dict[str, Any]:
    r = check(runtime, bundle, "--format", "json")
    assert r.code in (0, 1) and "Traceback" not in r.err, r
    doc = r.json()
    assert doc["ok"] == (r.code == 0)
    return doc


def by_path(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        out.setdefault(f["path"], []).append(f)
    return out


def controller_mounted(name: str) -> bool:
    """From /proc/cgroups: a v1 controller sits in hierarchy 0 when nothing mounts it."""
    with open("/proc/cgroups") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == name:
                return fields[1] != "0"
    return False


def hard_limit(kind: int) -> int:
    return resource.getrlimit(kind)[1]


# -- a good bundle -------------------------------------------------------------------------


def test_good_busybox_bundle_passes_every_check(runtime: Runtime, bundle: Bundle) -> None:
    r = check(runtime, bundle)
    assert r.code == 0, r.out
    assert r.out.rstrip().endswith("bundle would run")
    assert "✗" not in r.out and "!" not in r.out.replace("bundle would run", "")
    for title in ("Bundle: schema", "Bundle: semantics", "Rootfs", "Host"):
        assert title in r.out
    report = check_json(runtime, bundle)
    assert report["ok"] and report["findings"] == []
    assert {c["severity"] for c in report["checks"]} == {"ok"}
    paths = {c["path"] for c in report["checks"]}
    assert {"process.args[0]", "process.cwd", "root.path"} <= paths
    assert "linux.namespaces[0].type" in paths  # the host is asked about each namespace


def test_check_creates_nothing(runtime: Runtime, bundle: Bundle, workdir: str) -> None:
    """No state root, state dir or cgroup: the leak check covers the rest."""
    root = os.path.join(workdir, "check-root-never-made")
    r = runtime("--root", root, "check", "--bundle", bundle.path)
    assert r.code == 0, r.out
    assert f"state root {root} is writable (would be made in {workdir})" in r.out
    assert not os.path.exists(root)


# -- many problems at once -----------------------------------------------------------------


def test_every_problem_is_reported_in_one_run(runtime: Runtime, bundle: Bundle) -> None:
    cfg = bundle.config
    cfg["linux"]["namespaces"][2]["type"] = "networking"  # schema: enum
    cfg["linux"]["resources"]["memory"] = {"limit": -5}  # works, but means "no limit"
    cfg["process"]["args"] = ["no-such-program"]  # rootfs
    cfg["process"]["capabilities"]["effective"].append("CAP_NET_ADMN")  # semantics (warning)
    nofile = hard_limit(resource.RLIMIT_NOFILE)
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": nofile + 1}]
    cfg["process"]["cwd"] = "/no/such/dir"
    bundle.save()

    r = check(runtime, bundle)
    assert r.code == 1 and "Traceback" not in r.err, r
    report = check_json(runtime, bundle)
    found = by_path(report)
    assert found["linux.namespaces[2].type"][0]["group"] == "bundle/schema"
    assert '"network"' in found["linux.namespaces[2].type"][0]["hint"]  # did you mean
    cap = found["process.capabilities.effective[3]"][0]
    assert cap["group"] == "bundle/semantics" and "CAP_NET_ADMIN" in cap["hint"]
    assert cap["severity"] == "warning"  # runtime-spec 1.1+: ignored with a warning
    args0 = found["process.args[0]"][0]
    assert args0["group"] == "rootfs" and args0["severity"] == "error"
    assert '"no-such-program" not found' in args0["message"]
    assert found["process.cwd"][0]["severity"] == "error"
    memory = found["linux.resources.memory.limit"][0]
    assert memory["severity"] == "warning" and "no limit" in memory["message"]
    if not host.can_raise_nofile_to(nofile + 1):  # no CAP_SYS_RESOURCE, or above nr_open
        rl = found["process.rlimits[0].hard"][0]
        assert rl["severity"] == "error" and str(nofile) in rl["message"]
    else:  # the bounding set has CAP_SYS_RESOURCE here: raising it is fine
        assert "process.rlimits[0].hard" not in found
    assert all(f["hint"] for f in report["findings"])
    # The text form: one line per check, the hint under it, a count at the end.
    assert "✗ process.args[0]: " in r.out and "      fix: " in r.out
    assert "! linux.resources.memory.limit: " in r.out
    errors = sum(f["severity"] == "error" for f in report["findings"])
    assert r.out.rstrip().endswith(f"{errors} problems (2 warnings): the bundle would not run")
    assert r.out.count("✗") == errors


def test_unreadable_config_is_one_finding(runtime: Runtime, bundle: Bundle) -> None:
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2",\n  "root": {"path": "rootfs"}\n  "process": {}}\n')
    r = check(runtime, bundle)
    assert r.code == 1 and "Traceback" not in r.out + r.err, r
    assert "invalid JSON: Expecting ',' delimiter at line 3 column 3" in r.out
    report = check_json(runtime, bundle)
    assert len(report["findings"]) == 1 and report["findings"][0]["hint"]

    os.remove(os.path.join(bundle.path, "config.json"))
    report = check_json(runtime, bundle)
    assert not report["ok"] and "config.json: not found" in report["findings"][0]["message"]


def test_json_output_is_one_document(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["process"]["user"]["username"] = "bob"  # a warning: still runs
    bundle.save()
    r = check(runtime, bundle, "--format", "json")
    assert r.code == 0, r.out
    doc = json.loads(r.out)
    assert set(doc) >= {"ok", "bundle", "findings", "checks"}
    assert doc["ok"] is True and doc["bundle"] == bundle.path
    assert [f["path"] for f in doc["findings"]] == ["process.user.username"]
    assert doc["findings"][0]["severity"] == "warning"
    for entry in doc["checks"]:
        assert set(entry) == {"severity", "group", "path", "message", "hint"}
        assert entry["group"] in ("bundle/schema", "bundle/semantics", "rootfs", "host")


# -- the host ------------------------------------------------------------------------------

# Controllers some hosts of this kind mount and others do not, with the file a limit needs.
OPTIONAL_CONTROLLERS = [
    ("hugetlb", "hugetlb.2MB.limit_in_bytes", "hugepageLimits",
     [{"pageSize": "2MB", "limit": 2097152}], "linux.resources.hugepageLimits[0]"),
    ("net_cls", "net_cls.classid", "network", {"classID": 7},
     "linux.resources.network.classID"),
]  # fmt: skip


@pytest.mark.skipif(host.is_cgroup_v2(), reason="v1 controllers: a v2 host has none")
@pytest.mark.parametrize(("controller", "file", "key", "value", "path"), OPTIONAL_CONTROLLERS)
def test_a_controller_this_host_may_lack(
    runtime: Runtime, bundle: Bundle, controller: str, file: str, key: str, value: Any, path: str
) -> None:
    """Not mounted: an error naming the field and the controller. Mounted with the file:
    the limit passes (tests/test_cgroups.py checks that it reaches the file)."""
    bundle.config["linux"]["resources"][key] = value
    bundle.save()
    report = check_json(runtime, bundle)
    if host.v1_has(controller, file):
        assert report["ok"] and report["findings"] == [], report["findings"]
        assert [c["severity"] for c in report["checks"] if c["path"] == path] == ["ok"]
        return
    assert not report["ok"]
    [finding] = report["findings"]
    assert finding["path"] == path and finding["group"] == "host"
    if controller_mounted(controller):  # mounted, but this kernel lacks the file
        assert file in finding["message"], finding
    else:
        assert f"the {controller} cgroup controller is not mounted" in finding["message"]


def test_namespace_path_of_the_wrong_type(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/self/ns/uts"}
    bundle.save()
    found = by_path(check_json(runtime, bundle))
    [f] = found["linux.namespaces[1].path"]
    assert f["message"] == "/proc/self/ns/uts is a uts namespace, not a network one"


def test_user_namespace_must_map_the_process_user(runtime: Runtime, bundle: Bundle) -> None:
    lx = bundle.config["linux"]
    lx["namespaces"].append({"type": "user"})
    lx["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 5, "additionalGids": [5, 5]}
    bundle.save()
    found = by_path(check_json(runtime, bundle))
    assert found["process.user.uid"][0]["message"] == "1000 is not mapped by linux.uidMappings"
    assert "process.user.gid" not in found
    assert found["process.user.additionalGids[1]"][0]["severity"] == "warning"


def test_args0_symlinks_resolve_inside_the_rootfs(runtime: Runtime, bundle: Bundle) -> None:
    """An absolute symlink in the rootfs points into it, never at the host's file."""
    os.symlink("/bin/busybox-moved", os.path.join(bundle.rootfs, "bin", "prog"))
    bundle.set_args("/bin/prog")
    [f] = check_json(runtime, bundle)["findings"]
    assert f["path"] == "process.args[0]" and "/bin/prog does not exist" in f["message"]
    os.rename(os.path.join(bundle.rootfs, "bin", "busybox"),
              os.path.join(bundle.rootfs, "bin", "busybox-moved"))  # fmt: skip
    os.symlink("/bin/busybox", os.path.join(bundle.rootfs, "bin", "hostlink"))
    bundle.set_args("/bin/hostlink")  # /bin/busybox exists on the host, not in the rootfs
    [f] = check_json(runtime, bundle)["findings"]
    assert f["path"] == "process.args[0]" and "does not exist" in f["message"]
    bundle.set_args("/bin/prog")
    assert check_json(runtime, bundle)["ok"]


# -- differential: check says error iff create fails ---------------------------------------


def _set(path: str, value: Any) -> Callable[[Config], None]:
    def edit(cfg: Config) -> None:
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[int(key)]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _append(path: str, value: Any) -> Callable[[Config], None]:
    def edit(cfg: Config) -> None:
        node = cfg
        for key in path.split("."):
            node = node[key]
        node.append(value)

    return edit


def _userns(cfg: Config, uid: int) -> None:
    lx = cfg["linux"]
    lx["namespaces"].append({"type": "user"})
    lx["uidMappings"] = lx["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    cfg["process"]["user"] = {"uid": uid, "gid": uid}
    cfg["process"]["args"] = ["/bin/true"]


MUTATIONS: dict[str, Callable[[Config], None]] = {
    "as is": lambda cfg: None,
    "bad namespace type": _set("linux.namespaces.0", {"type": "pids"}),
    "namespace path of another type": _set(
        "linux.namespaces.1", {"type": "network", "path": "/proc/self/ns/ipc"}
    ),
    "args[0] missing": _set("process.args", ["/bin/not-there"]),
    "args[0] not executable": _set("process.args", ["/etc/passwd"]),
    "args[0] on PATH": _set("process.args", ["sleep", "0"]),
    "cwd missing": _set("process.cwd", "/nowhere"),
    "unknown capability": _append("process.capabilities.bounding", "CAP_FLY"),
    # Refused on every host: the kernel never lets an effective capability be unpermitted.
    "effective not permitted": _append("process.capabilities.effective", "CAP_SYS_RESOURCE"),
    # Refused where the runtime lacks it (this project's VMs), granted where it has it.
    "capability we may lack": lambda cfg: [
        cfg["process"]["capabilities"][s].append("CAP_SYS_RESOURCE")
        for s in ("bounding", "effective", "permitted")
    ],
    "rlimit above our hard limit": _set(  # refused without CAP_SYS_RESOURCE, else applied
        "process.rlimits",
        [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": hard_limit(resource.RLIMIT_NOFILE) + 1}],
    ),
    "rlimit within our hard limit": _set(
        "process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64}]
    ),
    "negative memory limit": _set("linux.resources.memory", {"limit": -5}),
    "memory limit": _set("linux.resources.memory", {"limit": 64 << 20}),
    "swappiness out of range": _set("linux.resources.memory", {"swappiness": 101}),
    "blkio weight": _set("linux.resources.blockIO", {"weight": 500}),
    "pids limit": _set("linux.resources.pids", {"limit": 32}),
    "hugetlb limit": _set(
        "linux.resources.hugepageLimits", [{"pageSize": "2MB", "limit": 2097152}]
    ),
    "net_cls classid": _set("linux.resources.network", {"classID": 7}),
    "bind source missing": _append(
        "mounts", {"destination": "/mnt", "type": "bind", "source": "/no/such", "options": ["bind"]}
    ),
    "prestart hook missing": _set("hooks", {"prestart": [{"path": "/no/such/hook"}]}),
    "user namespace, user mapped": lambda cfg: _userns(cfg, uid=1000),
    "user namespace, user not mapped": lambda cfg: _userns(cfg, uid=70000),
    "username (Windows only)": _set("process.user.username", "bob"),
    "duplicate additional gids": _set("process.user.additionalGids", [5, 5]),
}


@pytest.mark.slow
def test_check_fails_exactly_when_create_fails(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    base = copy.deepcopy(bundle.config)
    disagree = []
    for i, (name, mutate) in enumerate(MUTATIONS.items()):
        bundle.config = copy.deepcopy(base)
        mutate(bundle.config)
        bundle.save()
        checked = check(runtime, bundle)
        assert checked.code in (0, 1) and "Traceback" not in checked.err, (name, checked)
        created = runtime("create", "--bundle", bundle.path, f"{cid}-{i}")
        if created.code == 0:
            runtime.ok("delete", "--force", f"{cid}-{i}")
        if (checked.code == 0) != (created.code == 0):
            disagree.append(f"{name}: check {checked.code}, create {created.code} {created.err}")
    assert not disagree, "\n".join(disagree)


VIEW = "run.pyrunc.procfs-view"


def test_the_proc_view_annotation_is_checked(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["annotations"] = {VIEW: "yes"}
    bundle.save()
    found = by_path(check_json(runtime, bundle)).get(f'annotations["{VIEW}"]', [])
    assert [f["severity"] for f in found] == ["error"] and 'not "yes"' in found[0]["message"]
    bundle.config["annotations"] = {VIEW: "true"}
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "mount"
    ]
    bundle.save()
    found = by_path(check_json(runtime, bundle)).get(f'annotations["{VIEW}"]', [])
    assert any("mount namespace" in f["message"] for f in found), found


# -- check and create agree where the host lacks a controller's files ----------------------

# One linux.resources field at a time, with the v1 controller whose files it needs.
# Not pids (nor rdma): every file of theirs is one the kernel leaves out of the root, so
# a covered hierarchy's root looks like theirs, and no kernel has the controller without
# its limit file.
# (?) marks a field runc and pyrunc skip where the kernel lacks its file (no swap
# accounting for an unlimited swap, burst 0): there both must still agree.
V1_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("memory", "memory.limit", {"memory": {"limit": 64 << 20}}),
    ("memory", "memory.reservation", {"memory": {"reservation": 32 << 20}}),
    ("memory", "memory.swappiness", {"memory": {"swappiness": 10}}),
    ("memory", "memory.disableOOMKiller", {"memory": {"disableOOMKiller": True}}),
    ("memory", "memory.swap (?)", {"memory": {"limit": 64 << 20, "swap": 128 << 20}}),
    ("memory", "memory.kernelTCP", {"memory": {"kernelTCP": 16 << 20}}),
    ("cpu", "cpu.shares", {"cpu": {"shares": 512}}),
    ("cpu", "cpu.quota", {"cpu": {"quota": 20000}}),
    ("cpu", "cpu.period", {"cpu": {"period": 50000}}),
    ("cpu", "cpu.burst", {"cpu": {"burst": 1000}}),
    ("cpu", "cpu.idle", {"cpu": {"idle": 1}}),
    ("cpuset", "cpu.cpus", {"cpu": {"cpus": "0"}}),
    ("cpuset", "cpu.mems", {"cpu": {"mems": "0"}}),
    ("blkio", "blockIO.weight", {"blockIO": {"weight": 300}}),
    ("blkio", "blockIO.throttleReadBpsDevice",
     {"blockIO": {"throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 1 << 20}]}}),
    ("blkio", "blockIO.weightDevice",
     {"blockIO": {"weightDevice": [{"major": 1, "minor": 3, "weight": 300}]}}),
    ("hugetlb", "hugepageLimits[0]", {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}),
    ("net_cls", "network.classID", {"network": {"classID": 7}}),
    ("devices", "devices", {"devices": [{"allow": False, "access": "rwm"}]}),
]  # fmt: skip


def hidden(state_root: str, controller: str, mountpoint: str) -> Runtime:
    """pyrunc run in a mount namespace of its own where `controller`'s v1 hierarchy is
    covered by a bind of another, existing hierarchy: its directories are there, but none
    of the controller's files, as on a kernel built without them (what differs between
    hosts of this kind: BFQ's weights, hugetlb, net_cls...). A bind makes no hierarchy:
    a new one (mount -t cgroup -o none,name=...) would show in every process's
    /proc/<pid>/cgroup, host-wide, and may outlive the namespace by minutes."""
    others = (host.v1_mountpoint(c) for c in ("freezer", "devices", "pids", "memory"))
    other = next(m for m in others if m and m != mountpoint)
    cover = f'mount --bind {other} {mountpoint} && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", cover, "sh"]
    return Runtime(state_root, [*argv, *PYRUNC])


@pytest.mark.slow
@pytest.mark.skipif(host.is_cgroup_v2(), reason="v1 hierarchies: a v2 host has none")
def test_check_and_create_agree_where_the_host_lacks_the_file(
    state_root: str, bundle: Bundle, cid: str
) -> None:
    base = copy.deepcopy(bundle.config)
    tried, disagree = 0, []
    for i, (controller, field, resources) in enumerate(V1_FIELDS):
        mountpoint = host.v1_mountpoint(controller)
        if mountpoint is None:
            continue  # not mounted here: test_a_controller_this_host_lacks_is_reported
        bundle.config = copy.deepcopy(base)
        bundle.config["linux"]["resources"] = resources
        bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-test/{cid}-{i}"
        bundle.save()
        runtime = hidden(state_root, controller, mountpoint)
        at = f"linux.resources.{field.removesuffix(' (?)')}"
        report = check_json(runtime, bundle)
        errors = [f for f in report["findings"] if f["severity"] == "error"]
        created = runtime("create", "--bundle", bundle.path, f"{cid}-{i}")
        if created.code == 0:
            runtime.ok("delete", "--force", f"{cid}-{i}")
        tried += 1
        if field.endswith("(?)"):  # skipped by both, or refused by both
            if bool(errors) != (created.code != 0):
                disagree.append(f"{field}: check {errors}, create {created.code} {created.err}")
            continue
        msg = error_message(created.err)
        said = [f["message"] for f in errors if f["path"] == at]
        if created.code == 0 or not said:
            disagree.append(f"{field}: check {errors}, create {created.code} {created.err}")
        elif not (msg.startswith(f"{at}: ") and any(m in msg for m in said)):
            disagree.append(f"{field}: create says {msg!r}, check {said}")
    assert tried >= 10, "fewer v1 controllers than any host of this kind mounts"
    assert not disagree, "\n".join(disagree)
