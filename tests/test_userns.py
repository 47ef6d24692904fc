"""User namespaces and idmapped mounts, read from the kernel (maps, ownership seen
from both sides) on real containers."""

from __future__ import annotations

import os

import pytest

from tests.helpers import Bundle, Runtime, error_message, proc_status

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _userns(bundle: Bundle, uid_map=MAP, gid_map=MAP) -> None:  # noqa: ANN001
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = uid_map
    bundle.config["linux"]["gidMappings"] = gid_map


def _run(runtime: Runtime, bundle: Bundle, cid: str, script: str) -> str:
    bundle.set_args("sh", "-c", script)
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    return r.out


def test_maps_written_by_runtime_and_setgroups_allowed(runtime, bundle, cid) -> None:
    _userns(bundle)
    out = _run(runtime, bundle, cid, "id -u; cat /proc/self/uid_map /proc/self/gid_map "
               "/proc/self/setgroups; stat -c '%u %t:%T' /dev /dev/null")  # fmt: skip
    lines = [ln.split() for ln in out.strip().splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == ["0", "100000", "65536"] and lines[2] == ["0", "100000", "65536"]
    assert lines[3] == ["allow"]  # we hold CAP_SETGID: additionalGids keep working
    assert lines[4] == ["0", "0:0"]  # /dev: a tmpfs the container's root owns
    assert lines[5][1] == "1:3"  # /dev/null: the host's node, bound in


def test_container_root_is_host_uid_from_outside(runtime, bundle, cid) -> None:
    _userns(bundle)
    bundle.set_args("sleep", "30")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        pid = runtime.state(cid)["pid"]
        assert proc_status(pid, "Uid").split() == ["100000"] * 4
        with open(f"/proc/{pid}/uid_map") as f:
            assert f.read().split() == ["0", "100000", "65536"]
        st = os.stat(f"/proc/{pid}/root/dev")  # the container's /dev as the host sees it
        assert (st.st_uid, st.st_gid) == (100000, 100000)
    finally:
        runtime.ok("delete", "--force", cid)


def test_rootless_style_single_mapping(runtime, bundle, cid) -> None:
    one = [{"containerID": 0, "hostID": 1000, "size": 1}]
    _userns(bundle, one, one)
    for m in bundle.config["mounts"]:  # as `runc spec --rootless`: gid 5 is not mapped
        m["options"] = [o for o in m.get("options", []) if o != "gid=5"]
    out = _run(runtime, bundle, cid, "id -u; id -g; cat /proc/self/uid_map")
    assert out.split() == ["0", "0", "0", "1000", "1"]


def _idmap_bundle(bundle: Bundle, workdir: str, cid: str, **mount: object) -> str:
    src = os.path.join(workdir, f"{cid}-idsrc")
    os.makedirs(os.path.join(src, "sub"))
    open(os.path.join(src, "owned-by-root"), "w").close()
    os.makedirs(os.path.join(bundle.rootfs, "data"))
    os.makedirs(os.path.join(bundle.rootfs, "plain"))
    entry = {"destination": "/data", "type": "bind", "source": src, "options": ["bind"]}
    entry.update(mount)
    bundle.config["mounts"] += [
        entry,
        {"destination": "/plain", "type": "bind", "source": src, "options": ["bind"]},
    ]
    return src


@pytest.mark.parametrize("how", ["mount-maps", "idmap-option-container-maps", "ridmap"])
def test_idmapped_mount(runtime, bundle, cid, workdir, how) -> None:
    _userns(bundle)
    opts = {"mount-maps": ["bind"], "idmap-option-container-maps": ["bind", "idmap"],
            "ridmap": ["rbind", "ridmap"]}[how]  # fmt: skip
    extra = {"uidMappings": MAP, "gidMappings": MAP} if how == "mount-maps" else {}
    src = _idmap_bundle(bundle, workdir, cid, options=opts, **extra)
    out = _run(runtime, bundle, cid, "stat -c %u /data/owned-by-root /plain/owned-by-root; "
               "touch /data/made-inside")  # fmt: skip
    assert out.split() == ["0", "65534"]  # through the idmap: root's file is root's
    st = os.stat(os.path.join(src, "made-inside"))
    assert (st.st_uid, st.st_gid) == (0, 0)  # and what root makes is the host's root's


def test_idmapped_mount_without_user_namespace(runtime, bundle, cid, workdir) -> None:
    m = [{"containerID": 0, "hostID": 1000, "size": 1}]
    _idmap_bundle(bundle, workdir, cid, options=["bind"], uidMappings=m, gidMappings=m)
    out = _run(runtime, bundle, cid, "stat -c %u /data/owned-by-root /plain/owned-by-root")
    assert out.split() == ["1000", "0"]


@pytest.mark.parametrize(
    ("mount", "text"),
    [
        (
            {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]},
            "idmap is only for bind mounts",
        ),
        (
            {"destination": "/t", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]},
            "idmap needs uidMappings and gidMappings",
        ),
    ],
)
def test_idmap_errors_are_one_line(runtime, bundle, cid, mount, text) -> None:
    bundle.config["mounts"].append(mount)
    bundle.save()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code != 0 and text in error_message(r.err) and "/t" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
