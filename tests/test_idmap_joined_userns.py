"""An idmap mount of a container that joins another's user namespace (by path, with no
mappings of its own): the mappings are the joined namespace's, as runc reads them
(idmap.bats "implied mapping, userns join"). Ownership read from inside the container."""

from __future__ import annotations

import os
import shutil

from tests.helpers import Bundle, Runtime, created, fresh_config

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_idmap_takes_the_joined_user_namespace_mappings(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str, busybox_rootfs: str
) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = MAP
    bundle.config["linux"]["gidMappings"] = MAP
    bundle.set_args("sleep", "1000")

    src = os.path.join(bundle.path, "idsrc")
    os.mkdir(src)
    owned = os.path.join(src, "owned")
    open(owned, "w").close()
    os.chown(owned, 5, 7)  # on disk: 5:7; idmapped through 0->100000, seen as 5:7 inside

    joiner_path = os.path.join(workdir, f"{cid}-joiner")
    os.makedirs(joiner_path)
    shutil.copytree(busybox_rootfs, os.path.join(joiner_path, "rootfs"), symlinks=True)
    joiner = Bundle(joiner_path, fresh_config(["stat", "-c", "%u:%g", "/data/owned"]))
    os.makedirs(os.path.join(joiner.rootfs, "data"))
    joiner.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": src, "options": ["bind", "idmap"]}
    )
    try:
        with created(runtime, bundle, cid) as pid:
            joiner.config["linux"]["namespaces"].append(
                {"type": "user", "path": f"/proc/{pid}/ns/user"}
            )
            joiner.save()
            r = runtime("run", "--bundle", joiner.path, f"{cid}-j")
    finally:
        shutil.rmtree(joiner_path, ignore_errors=True)
    assert r.code == 0, r.err
    assert r.out.split() == ["5:7"], r.out
