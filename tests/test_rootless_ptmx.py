"""/dev/ptmx is always the link to the container's own devpts (pts/ptmx), even when
the config lists a /dev/ptmx device, as runc's setupPtmx (runc's dev.bats "redundant
default /dev/ptmx"). Rootless, that device was bound from the host and the console
could not open it ("setting up console: /dev/ptmx: no such file or directory"); as
root it was a node opening the container's devpts by the kernel's lookup of pts/.
The rootless user and its bundle are test_rootless.py's.
"""

from __future__ import annotations

import os

from tests import test_rootless as rl
from tests.helpers import Bundle, Runtime, created
from tests.test_rootless import User, _edit

# test_rootless.py's fixtures: the user, its bundle, the leak check.
rootless_user = rl.rootless_user
user_bundle = rl.user_bundle
leaks = rl.leaks

PTMX = {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}


def test_listed_ptmx_is_the_devpts_one_as_an_ordinary_user(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    _edit(user_bundle, "sh", "-c", "readlink /dev/ptmx; ls -lLn /dev/ptmx", devices=[PTMX])
    r = rootless_user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 2, (r.out, r.err)
    link, listing = lines
    assert link == "pts/ptmx"
    # The container's devpts ptmx (ptmxmode=0666), owned by the container's root.
    assert listing.split()[0] == "crw-rw-rw-" and listing.split()[2:6] == ["0", "0", "5,", "2"]


def test_listed_ptmx_is_the_devpts_one_as_root(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["linux"]["devices"] = [PTMX]
    bundle.set_args("sleep", "30").save()
    with created(runtime, bundle, cid) as pid:
        dev = f"/proc/{pid}/root/dev"
        assert os.readlink(f"{dev}/ptmx") == "pts/ptmx"
        # The kernel's view: the link leads to the container's devpts, not the host's.
        assert os.stat(f"{dev}/ptmx").st_dev == os.stat(f"{dev}/pts").st_dev
        assert os.stat(f"{dev}/ptmx").st_dev != os.stat("/dev/pts/ptmx").st_dev
