"""linux.resources -> systemd unit properties (pyrunc/cgroups/systemd_props.py): runc's
conversions, checked against their definitions and a few of runc's own figures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.cgroups import systemd_props as sp
from pyrunc.cgroups.paths import systemd_unit
from pyrunc.errors import CgroupError, ConfigError

V252 = 252


def props(resources: dict, version: int = V252) -> dict:
    got, _ = sp.resource_properties(resources, version)
    return dict(got)


# -- cpu -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000), (512, 20), (100, 4)]
)
def test_shares_become_runc_cpu_weight(shares: int, weight: int) -> None:
    assert props({"cpu": {"shares": shares}})["CPUWeight"] == ("t", weight)


def test_no_shares_no_cpu_weight() -> None:
    assert "CPUWeight" not in props({"cpu": {"shares": 0}})


@given(st.integers(2, 262144))
def test_weight_stays_in_systemd_range_and_grows_with_shares(shares: int) -> None:
    w = props({"cpu": {"shares": shares}})["CPUWeight"][1]
    assert 1 <= w <= 10000
    if shares < 262144:
        assert props({"cpu": {"shares": shares + 1}})["CPUWeight"][1] >= w


@pytest.mark.parametrize(
    ("quota", "period", "per_sec", "file_quota"),
    [
        (50000, 100000, 500000, 50000),  # half a CPU
        (10000, 100000, 100000, 10000),
        (5001, 100000, 60000, 6000),  # 50.01 ms/s rounds up to 60 ms/s, file follows
        (1, 1000000, 10000, 10000),
        (-1, 100000, sp.UINT64_MAX, -1),  # no quota, a period
    ],
)
def test_cpu_quota_rounded_as_systemd_keeps_it(
    quota: int, period: int, per_sec: int, file_quota: int
) -> None:
    got, res = sp.resource_properties({"cpu": {"quota": quota, "period": period}}, V252)
    got = dict(got)
    assert got["CPUQuotaPerSecUSec"] == ("t", per_sec)
    assert got["CPUQuotaPeriodUSec"] == ("t", period)
    assert res["cpu"]["quota"] == file_quota


@given(st.integers(1, 10**7), st.integers(1000, 1000000))
def test_rounded_quota_never_lower_and_a_whole_percent(quota: int, period: int) -> None:
    got, new_quota = sp.cpu_quota_properties(quota, period)
    per_sec = dict(got)["CPUQuotaPerSecUSec"][1]
    assert per_sec % 10000 == 0
    assert per_sec * period >= quota * 1_000_000 - period  # never below the asked share
    assert new_quota >= quota or per_sec == quota * 1_000_000 // period


def test_quota_without_period_uses_the_kernel_default() -> None:
    got = props({"cpu": {"quota": 20000}})
    assert got["CPUQuotaPerSecUSec"] == ("t", 200000)
    assert "CPUQuotaPeriodUSec" not in got


def test_old_systemd_gets_no_period_nor_cpuset() -> None:
    got = props({"cpu": {"quota": 20000, "period": 50000, "cpus": "0"}}, version=241)
    assert "CPUQuotaPeriodUSec" not in got and "AllowedCPUs" not in got


# -- cpuset ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ranges", "bits"),
    [("0", b"\x01"), ("0-2", b"\x07"), ("1,3", b"\x0a"), ("8", b"\x00\x01"), ("0-9", b"\xff\x03")],
)
def test_cpus_become_a_little_endian_mask(ranges: str, bits: bytes) -> None:
    assert props({"cpu": {"cpus": ranges}})["AllowedCPUs"] == ("ay", bits)


@given(st.sets(st.integers(0, 255), min_size=1))
def test_mask_holds_exactly_the_listed_cpus(cpus: set[int]) -> None:
    mask = sp.range_to_bits(",".join(map(str, sorted(cpus))), "f")
    n = int.from_bytes(mask, "little")
    assert {i for i in range(n.bit_length()) if n >> i & 1} == cpus


@pytest.mark.parametrize("bad", ["3-1", "x", "", "1-y"])
def test_bad_cpus_named(bad: str) -> None:
    with pytest.raises(CgroupError, match="linux.resources.cpu.mems"):
        sp.cpuset_properties("", bad or ",")


# -- memory, pids, io ------------------------------------------------------------------------
def test_memory_properties() -> None:
    got = props({"memory": {"limit": 1 << 26, "reservation": 1 << 25, "swap": 1 << 27}})
    assert got["MemoryMax"] == ("t", 1 << 26)
    assert got["MemoryLow"] == ("t", 1 << 25)
    assert got["MemorySwapMax"] == ("t", (1 << 27) - (1 << 26))  # v2 counts swap alone


def test_swap_equal_to_limit_is_no_swap() -> None:
    assert props({"memory": {"limit": 1 << 26, "swap": 1 << 26}})["MemorySwapMax"] == ("t", 0)


def test_unlimited_memory_is_infinity() -> None:
    got = props({"memory": {"limit": -1, "swap": -1}})
    assert got["MemoryMax"] == ("t", sp.UINT64_MAX)
    assert got["MemorySwapMax"] == ("t", sp.UINT64_MAX)


@pytest.mark.parametrize(("limit", "tasks"), [(10, 10), (0, 1), (-1, sp.UINT64_MAX)])
def test_pids_limit_as_tasks_max(limit: int, tasks: int) -> None:
    assert props({"pids": {"limit": limit}})["TasksMax"] == ("t", tasks)


def test_blkio_weight_as_io_weight() -> None:
    assert props({"blockIO": {"weight": 500}})["IOWeight"] == ("t", 4950)


def test_scope_properties() -> None:
    got, _ = sp.unit_properties("c1", "system.slice", 42, {}, V252)
    got = dict(got)
    assert got["Slice"] == ("s", "system.slice")
    assert got["Delegate"] == ("b", True)
    assert got["PIDs"] == ("au", [42])
    assert got["Description"] == ("s", "libcontainer container c1")


# -- devices ---------------------------------------------------------------------------------
def test_deny_all_then_allows_is_strict(tmp_path) -> None:  # noqa: ANN001
    devices = tmp_path / "devices"
    devices.write_text("Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n")
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rw"},
        {"allow": True, "type": "b", "major": 8, "access": "r"},
    ]
    got = dict(sp.device_properties(rules, str(devices)))
    assert got["DevicePolicy"] == ("s", "strict")
    allowed = got["DeviceAllow"][1]
    assert ("/dev/char/10:200", "rw") in allowed
    assert ("block-sd", "r") in allowed
    assert ("char-*", "m") in allowed  # runc's defaults follow the config's rules
    assert ("char-pts", "rwm") in allowed


def test_allow_all_is_auto() -> None:
    got = dict(sp.device_properties([{"allow": True, "access": "rwm"}]))
    assert got == {"DevicePolicy": ("s", "auto"), "DeviceAllow": ("a(ss)", [])}


def test_a_deny_systemd_cannot_say_leaves_devices_to_ebpf() -> None:
    rules = [
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    ]
    assert sp.device_properties(rules) == []


# -- cgroupsPath -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "slice_name", "unit"),
    [
        ("", "system.slice", "pyrunc-c1.scope"),
        ("machine.slice:libpod:abc", "machine.slice", "libpod-abc.scope"),
        (":cri-containerd:x", "system.slice", "cri-containerd-x.scope"),
        ("kubepods-besteffort-pod1.slice:cri:y", "kubepods-besteffort-pod1.slice", "cri-y.scope"),
        ("system.slice::z", "system.slice", "z.scope"),
        ("system.slice:p:k.slice", "system.slice", "k.slice"),
    ],
)
def test_cgroups_path_to_unit(path: str, slice_name: str, unit: str) -> None:
    assert systemd_unit(path, "c1") == (slice_name, unit)


@pytest.mark.parametrize("bad", ["/a/b", "a:b", "bad:p:n", "a--b.slice:p:n", "s.slice:p:"])
def test_bad_cgroups_path_named(bad: str) -> None:
    with pytest.raises(ConfigError, match="^linux.cgroupsPath: "):
        systemd_unit(bad, "c1")
