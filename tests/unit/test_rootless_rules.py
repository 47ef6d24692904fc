"""Rootless mode's rules (pyrunc/rootless.py, pyrunc/cgroups/rootless.py): when a run
is rootless, where its state lives, and which limits need a cgroup; runc's rules."""

from __future__ import annotations

import os

import pytest

from pyrunc import rootless
from pyrunc.cgroups.rootless import NoCgroup, refuse_limits, unsettable
from pyrunc.errors import CgroupError, InvalidArgument
from pyrunc.options import RuntimeOptions


@pytest.mark.parametrize(
    ("flag", "euid", "in_userns", "systemd", "want"),
    [
        (True, 0, False, False, True),  # the flag wins
        (False, 1000, True, False, False),
        (None, 1000, False, False, True),  # auto: an ordinary user
        (None, 0, False, False, False),  # auto: the real root
        (None, 0, True, False, True),  # auto: root in a user namespace, cgroupfs
        (None, 0, True, True, False),  # ... with systemd: runc assumes root owns it
    ],
)
def test_decide(
    monkeypatch: pytest.MonkeyPatch,
    flag: bool | None,
    euid: int,
    in_userns: bool,
    systemd: bool,
    want: bool,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: in_userns)
    assert rootless.decide(flag, systemd) is want
    assert RuntimeOptions(rootless=flag, systemd_cgroup=systemd).is_rootless() is want


@pytest.mark.parametrize(
    ("value", "want"), [("auto", None), ("", None), ("true", True), ("t", True), ("0", False)]
)
def test_parse_flag(value: str, want: bool | None) -> None:
    assert rootless.parse_flag(value) is want


@pytest.mark.parametrize("value", ["yes", "on", "TRUE ", "Auto"])
def test_parse_flag_refuses_what_go_refuses(value: str) -> None:
    with pytest.raises(InvalidArgument, match="strconv.ParseBool"):
        rootless.parse_flag(value)


def test_in_user_namespace_matches_the_kernel() -> None:
    with open("/proc/self/uid_map") as f:
        initial = f.read().split() == ["0", "0", "4294967295"]
    assert rootless.in_user_namespace() is not initial


@pytest.mark.parametrize(
    ("euid", "in_userns", "user", "want"),
    [
        (1000, False, "me", "/run/user/1000/pyrunc"),
        (0, False, "root", None),  # the real root keeps /run/pyrunc
        (0, True, "me", "/run/user/1000/pyrunc"),
        (0, True, "root", None),
    ],
)
def test_xdg_state_root(
    monkeypatch: pytest.MonkeyPatch, euid: int, in_userns: bool, user: str, want: str | None
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: in_userns)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setenv("USER", user)
    assert rootless.xdg_state_root() == want
    monkeypatch.setenv("XDG_RUNTIME_DIR", "")
    assert rootless.xdg_state_root() is None


def test_prepare_xdg_state_root(tmp_path) -> None:  # noqa: ANN001
    root = tmp_path / "pyrunc"
    rootless.prepare_xdg_state_root(str(root))
    assert root.stat().st_mode & 0o7777 == 0o1700
    rootless.prepare_xdg_state_root(str(root))  # again: fine


@pytest.mark.parametrize(
    ("resources", "want"),
    [
        (None, None),
        ({}, None),
        ({"devices": [{"allow": False, "access": "rwm"}]}, None),  # runc ignores them rootless
        ({"memory": {}}, None),
        ({"pids": {"limit": 10}}, "pids"),
        ({"memory": {"limit": 1 << 20}}, "memory"),
        ({"cpu": {"shares": 512}}, "cpu"),
        ({"cpu": {"cpus": "0"}}, "cpuset"),
        ({"blockIO": {"weight": 100}}, "blkio"),
        ({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}, "hugetlb"),
        ({"network": {"classID": 7}}, "net_cls"),
        ({"network": {"priorities": [{"name": "lo", "priority": 1}]}}, "net_prio"),
    ],
)
def test_unsettable(resources: dict | None, want: str | None) -> None:
    assert unsettable(resources) == want


def test_refuse_limits_in_runcs_words() -> None:
    with pytest.raises(CgroupError) as e:
        refuse_limits({"pids": {"limit": 10}})
    assert str(e.value) == "cannot set pids limit: container could not join or create cgroup"
    refuse_limits({"devices": []})


def test_no_cgroup_state_round_trips() -> None:
    from pyrunc.cgroups.manager import manager_from_state

    m = NoCgroup([("/sys/fs/cgroup/pids/user", "pids")], 42, "pid:[4026532000]")
    again = manager_from_state(m.to_state())
    assert isinstance(again, NoCgroup) and again == m
    assert again.mount_views() == [("/sys/fs/cgroup/pids/user", "pids")]


def test_no_cgroup_finds_processes_by_namespace() -> None:
    me = os.getpid()
    ours = NoCgroup([], me, os.readlink("/proc/self/ns/pid"))
    assert me in ours.pids()  # every process of this pid namespace, this one included
    assert NoCgroup([], me, "").pids() == [me]  # no namespace of its own: init alone
    assert NoCgroup([], 0, "").pids() == []


def test_asked_limits_lists_every_controller_the_config_needs() -> None:
    """first_limit is the first of them; a cpu block can need both cpu and cpuset."""
    from pyrunc.cgroups.rootless import asked_limits, first_limit

    resources = {"cpu": {"shares": 512, "cpus": "0"}, "pids": {"limit": 5},
                 "devices": [{"allow": False}], "memory": {}}  # fmt: skip
    assert list(asked_limits(resources)) == [("cpu", "cpu"), ("cpu", "cpuset"), ("pids", "pids")]
    assert first_limit(resources) == ("cpu", "cpu")


def test_v1_rootless_state_round_trips_and_root_state_is_unchanged() -> None:
    from pyrunc.cgroups.manager import manager_from_state
    from pyrunc.cgroups.v1 import V1Manager

    root = V1Manager({"pids": "/sys/fs/cgroup/pids/c"})
    assert set(root.to_state()) == {"version", "paths", "created"}
    share = V1Manager({"pids": "/sys/fs/cgroup/pids/c"}, [], rootless=True, unjoined=["memory"])
    assert manager_from_state(share.to_state()) == share


def test_a_limit_for_a_hierarchy_left_out_rootless_is_refused_in_runcs_words() -> None:
    """Before any write: the memory hierarchy was left out (the user may not make it)."""
    from pyrunc.cgroups.v1 import V1Manager

    share = V1Manager({}, [], rootless=True, unjoined=["memory"])
    with pytest.raises(CgroupError) as e:
        share.set({"memory": {"limit": 1 << 20}})
    assert str(e.value) == "cannot set memory limit: container could not join or create cgroup"
    share.set({"devices": [{"allow": False, "access": "rwm"}]})  # rootless: not enforced


def test_no_cgroup_events_are_runcs_zero_stats() -> None:
    """runc's fs manager with no cgroup paths answers `events --stats` with zeros."""
    stats = NoCgroup([], 0, "").stats()
    assert stats["pids"] == {} and stats["memory"]["usage"] == {"limit": 0, "failcnt": 0}
    assert stats["cpu"] == {"usage": {"kernel": 0, "user": 0}, "throttling": {}}


def test_device_rules_fail_as_root() -> None:
    """Only rootless are device errors logged and passed over (runc's rule)."""
    from pyrunc.cgroups.v1 import V1Manager

    with pytest.raises(CgroupError, match="devices"):
        V1Manager({}).set({"devices": [{"allow": False, "access": "rwm"}]})
