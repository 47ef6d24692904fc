"""A time namespace made by pyrunc run by an ordinary user (runc's run.bats "joining
existing container namespaces", rootless): the offsets are written, as runc writes
them, and the container's clocks are shifted by them.

The offsets file is opened before stage 1 turns non-dumpable: a non-dumpable
process's /proc/self files are root's, and the ordinary user could not open
/proc/self/timens_offsets for writing ("opening time offsets: permission denied").
The user, its bundle and its leak check are test_rootless.py's.
"""

from __future__ import annotations

import json
import os

import pytest

from tests import test_rootless as rl
from tests.test_rootless import User, _edit

# test_rootless.py's fixtures: the user, its bundle, the leak check.
rootless_user = rl.rootless_user
user_bundle = rl.user_bundle
leaks = rl.leaks

OFFSETS = {
    "monotonic": {"secs": 7881, "nanosecs": 2718281},
    "boottime": {"secs": 1337, "nanosecs": 3141519},
}


def test_time_namespace_offsets_as_an_ordinary_user(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    if not os.path.exists("/proc/self/timens_offsets"):
        pytest.skip("no time namespaces in this kernel")
    with open(os.path.join(user_bundle, "config.json")) as f:
        namespaces = json.load(f)["linux"]["namespaces"]
    _edit(
        user_bundle,
        "cat", "/proc/self/timens_offsets",
        namespaces=[*namespaces, {"type": "time"}],
        timeOffsets=OFFSETS,
    )  # fmt: skip
    r = rootless_user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 0, r.err
    # The kernel's own table of the container's time namespace.
    got = {line.split()[0]: line.split()[1:] for line in r.out.splitlines() if line.strip()}
    assert got == {
        "monotonic": ["7881", "2718281"],
        "boottime": ["1337", "3141519"],
    }
