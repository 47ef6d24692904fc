"""features, spec and --version: what engines read from the runtime itself."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from tests.helpers import Bundle, Runtime

UPSTREAM_SCHEMA = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "oci-runtime-spec", "schema"
)
UPSTREAM_SCHEMA = os.environ.get("OCI_RUNTIME_SPEC_SCHEMA", os.path.normpath(UPSTREAM_SCHEMA))


def _features(runtime: Runtime) -> dict:
    return runtime.ok("features").json()


def test_features_validates_against_upstream_schema(runtime: Runtime) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    path = os.path.join(UPSTREAM_SCHEMA, "features-schema.json")
    if not os.path.exists(path):
        pytest.skip(f"{path}: the runtime-spec's schema is not here")
    with open(path) as f:
        schema = json.load(f)
    base = "file://" + os.path.abspath(UPSTREAM_SCHEMA) + "/"
    resolver = jsonschema.RefResolver(base, schema)
    jsonschema.Draft4Validator(schema, resolver=resolver).validate(_features(runtime))


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
    assert linux["seccomp"]["enabled"] == os.path.exists(
        "/usr/lib/x86_64-linux-gnu/libseccomp.so.2"
    )
    if linux["seccomp"]["enabled"]:
        assert "SCMP_ARCH_X86_64" in linux["seccomp"]["archs"]
        assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    assert linux["apparmor"]["enabled"] == os.path.exists("/sys/kernel/security/apparmor")
    assert linux["mountExtensions"]["idmap"]["enabled"] is False  # not applied yet
    assert {"rro", "rbind", "rprivate", "tmpcopyup", "nosymfollow"} <= set(doc["mountOptions"])


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
