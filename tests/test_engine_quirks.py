"""What engines send or do that the spec alone does not say, handled as runc does."""

from __future__ import annotations

import os
import stat
import time

from tests.helpers import Bundle, Runtime, is_dead


def test_podman_privileged_device_modes_with_type_bits(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """podman --privileged lists devices with fileMode 0o20666 (type bits included)."""
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse-like", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20640,
         "uid": 0, "gid": 0},
    ]
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    bundle.set_args("stat", "-c", "%f %t:%T", "/dev/fuse-like")
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.split()
    assert int(out[0], 16) == stat.S_IFCHR | 0o640 and out[1] == "1:3"


def test_device_type_bits_of_another_type_are_still_refused(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o60666},
    ]
    bundle.save()
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 1 and "linux.devices[0].fileMode" in r.err


def test_kill_all_after_init_exited_signals_what_is_left(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    """containerd's shim sends `kill --all ID 9` after the init exits (shared pid ns)."""
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "proc"]
    marker = os.path.join(bundle.rootfs, "tmp", "child")
    bundle.config["root"]["readonly"] = False
    bundle.set_args("sh", "-c", "sleep 1000 & echo $! > /tmp/child; exit 0")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    for _ in range(200):
        if runtime.state(cid)["status"] == "stopped" and os.path.exists(marker):
            break
        time.sleep(0.02)
    assert runtime.state(cid)["status"] == "stopped"
    child = int(open(marker).read())
    assert os.path.exists(f"/proc/{child}")
    runtime.ok("kill", "--all", cid, "9")
    for _ in range(200):
        if not os.path.exists(f"/proc/{child}/cmdline") or not open(
                f"/proc/{child}/cmdline", "rb").read():
            break
        time.sleep(0.02)
    assert is_dead(child)
    r = runtime("kill", cid, "9")
    assert r.code == 1 and "container not running" in r.err
    runtime.ok("delete", cid)
