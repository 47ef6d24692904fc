"""The spec -> cgroup file tables (v1 and v2), the eBPF device filter, systemd paths
and the update/events argument parsers, checked with hypothesis against independent
models. Pure: no root, no container.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.cgroups import ebpf, resources_v1, resources_v2
from pyrunc.cgroups.paths import expand_slice, systemd_to_cgroupfs
from pyrunc.cli.cgroups import parse_duration, parse_size
from pyrunc.container.update import check_resources, merge
from pyrunc.errors import CgroupError, ConfigError, InvalidArgument

FAST = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------ conversions (runc 1.1)


@given(st.integers(2, 262144))
def test_shares_to_weight_maps_the_range(shares: int) -> None:
    w = resources_v2.shares_to_weight(shares)
    assert 1 <= w <= 10000
    # runc's formula, as a float model: a linear map of [2, 262144] onto [1, 10000].
    assert abs(w - (1 + (shares - 2) * 9999 / 262142)) < 1
    assert resources_v2.shares_to_weight(shares + 1) >= w if shares < 262144 else True


def test_shares_to_weight_known_points() -> None:
    assert [resources_v2.shares_to_weight(s) for s in (0, 2, 1024, 262144)] == [0, 1, 39, 10000]
    # shares 1 (below the v1 minimum): Go's division truncates toward zero -> weight 1,
    # not unset (found by hypothesis: Python's // floors to 0).
    assert resources_v2.shares_to_weight(1) == 1


@given(st.integers(10, 1000))
def test_blkio_weight_to_io_weight(weight: int) -> None:
    w = resources_v2.blkio_to_io_weight(weight)
    assert 1 <= w <= 10000 and abs(w - (1 + (weight - 10) * 9999 / 990)) < 1
    assert resources_v2.blkio_to_io_weight(0) == 0
    assert (resources_v2.blkio_to_io_weight(10), resources_v2.blkio_to_io_weight(1000)) == (
        1,
        10000,
    )


@given(st.integers(1, 1 << 40), st.integers(0, 1 << 40))
def test_swap_max_is_swap_minus_limit(limit: int, extra: int) -> None:
    """The spec's swap is memory+swap; v2's memory.swap.max is swap alone."""
    assert resources_v2.swap_max(limit + extra, limit) == extra
    files = dict(resources_v2.memory_writes({"limit": limit, "swap": limit + extra}))
    swap_file = "memory.swap.max" if extra else "?memory.swap.max"
    assert files == {swap_file: str(extra), "memory.max": str(limit)}  # 0: no swap at all


@given(st.integers(1, 1 << 40), st.integers(1, 1 << 30))
def test_swap_below_limit_is_an_error(limit: int, short: int) -> None:
    with pytest.raises(CgroupError, match="memory.swap"):
        resources_v2.swap_max(max(1, limit - short), limit + 1)


def test_swap_edge_cases() -> None:
    assert resources_v2.swap_max(-1, 1 << 20) == -1  # unlimited
    assert resources_v2.swap_max(0, 1 << 20) == 0  # unset
    with pytest.raises(CgroupError, match="without memory limit"):
        resources_v2.swap_max(1 << 20, 0)
    assert dict(resources_v2.memory_writes({"limit": -1, "swap": -1})) == {
        "?memory.swap.max": "max",
        "memory.max": "max",
    }


# ------------------------------------------------------------------ v2 table

V2_RESOURCES = st.fixed_dictionaries(
    {},
    optional={
        "memory": st.fixed_dictionaries(
            {},
            optional={
                "limit": st.integers(1 << 20, 1 << 40),
                "reservation": st.integers(0, 1 << 30),
            },  # fmt: skip
        ),
        "cpu": st.fixed_dictionaries(
            {},
            optional={
                "shares": st.integers(0, 262144),
                "quota": st.integers(-1, 1 << 30),
                "period": st.integers(0, 1000000),
                "burst": st.integers(0, 1 << 20),
                "idle": st.integers(0, 1),
                "cpus": st.sampled_from(["", "0", "0-1"]),
                "mems": st.sampled_from(["", "0"]),
            },
        ),
        "pids": st.fixed_dictionaries({"limit": st.integers(-1, 1 << 20)}),
        "blockIO": st.fixed_dictionaries({"weight": st.integers(0, 1000)}),
        "hugepageLimits": st.lists(
            st.fixed_dictionaries(
                {"pageSize": st.sampled_from(["2MB", "1GB"]), "limit": st.integers(0, 1 << 32)}
            ),
            max_size=2,  # fmt: skip
        ),
        "unified": st.dictionaries(
            st.from_regex(r"(memory|pids|cpu)\.x[a-z]{1,7}", fullmatch=True),
            st.text("0123456789", min_size=1, max_size=5),
            max_size=3,
        ),
    },
)
V2_CONTROLLERS = {"memory", "cpu", "cpuset", "pids", "io", "hugetlb", "rdma"}


@FAST
@given(V2_RESOURCES, st.booleans())
def test_v2_table_general(resources: dict[str, Any], bfq: bool) -> None:
    writes = list(resources_v2.to_files(resources, bfq))
    files = [n.lstrip("?") for n, _ in writes]
    for name, value in writes:
        assert resources_v2.controller_of(name) in V2_CONTROLLERS
        assert isinstance(value, str) and "\n" not in value
    cpu, mem = resources.get("cpu", {}), resources.get("memory", {})
    assert ("cpu.weight" in files) == bool(cpu.get("shares"))
    assert ("cpu.max" in files) == bool(cpu.get("quota") or cpu.get("period"))
    assert ("memory.low" in files) == bool(mem.get("reservation"))
    weight_file = "io.bfq.weight" if bfq else "io.weight"
    assert (weight_file in files) == bool(resources.get("blockIO", {}).get("weight"))
    if "cpu.max" in files:  # "<quota|max> [period]"
        value = dict((n, v) for n, v in writes)["cpu.max"].split()
        assert value[0] == (str(cpu["quota"]) if cpu.get("quota", 0) > 0 else "max")
        assert value[1:] == ([str(cpu["period"])] if cpu.get("period") else [])
    # unified keys come last: they override what the table wrote
    n_unified = len(resources.get("unified", {}))
    assert files[len(files) - n_unified :] == list(resources.get("unified", {}))


@given(st.text(min_size=1, max_size=20))
def test_unified_key_names_are_checked(key: str) -> None:
    # CONTROLLER.PARAMETER as runc accepts them, written out here rather than borrowed.
    ok = re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z0-9_.]+", key) is not None and "/" not in key
    if ok:
        assert list(resources_v2.unified_writes({key: "1"})) == [(key, "1")]
    else:
        with pytest.raises(CgroupError, match="linux.resources.unified"):
            list(resources_v2.unified_writes({key: "1"}))


def test_unified_rejects_paths() -> None:
    for key in ("../memory.max", "a/b.c", "memory", "Memory.max"):
        with pytest.raises(CgroupError, match="unified"):
            list(resources_v2.unified_writes({key: "1"}))


def test_v2_io_and_hugetlb_and_rdma_lines() -> None:
    blkio = {
        "weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 20}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 7}],
    }
    assert list(resources_v2.io_writes(blkio, bfq=False)) == [
        ("io.weight", str(resources_v2.blkio_to_io_weight(500))),
        ("io.weight", "8:0 20"),
        ("io.max", "8:0 rbps=1000"),
        ("io.max", "8:16 wiops=7"),
    ]
    assert list(resources_v2.io_writes({"weight": 500}, bfq=True)) == [("io.bfq.weight", "500")]
    assert list(resources_v2.hugetlb_writes([{"pageSize": "2MB", "limit": 4 << 20}])) == [
        ("hugetlb.2MB.max", str(4 << 20)),
        ("?hugetlb.2MB.rsvd.max", str(4 << 20)),
    ]
    assert list(resources_v2.rdma_writes({"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}})) == [
        ("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000")
    ]


def test_v2_realtime_is_refused() -> None:
    with pytest.raises(CgroupError, match="realtime"):
        list(resources_v2.to_files({"cpu": {"realtimeRuntime": 1000}}))


@pytest.mark.parametrize(
    "memory, field",
    [
        ({"kernel": 1 << 20}, "kernel"),
        ({"kernelTCP": 1 << 20}, "kernelTCP"),
        ({"swappiness": 0}, "swappiness"),
        ({"disableOOMKiller": True}, "disableOOMKiller"),
    ],
)
def test_v2_refuses_v1_only_memory_fields(memory: dict[str, Any], field: str) -> None:
    """v2 has no file for them: refused naming the field, never dropped."""
    with pytest.raises(CgroupError, match=rf"^linux\.resources\.memory\.{field}: "):
        list(resources_v2.to_files({"memory": memory}))


def test_v1_only_memory_fields_that_ask_nothing_pass_on_v2() -> None:
    memory = {"kernel": -1, "kernelTCP": 0, "swappiness": 2**64 - 1, "disableOOMKiller": False,
              "useHierarchy": True, "limit": 1 << 26}  # fmt: skip
    assert list(resources_v2.to_files({"memory": memory})) == [("memory.max", str(1 << 26))]


@given(st.integers(1, 2**63))
def test_kernel_memory_limits_are_refused_on_v1(limit: int) -> None:
    """Linux ignores writes to memory.kmem.limit_in_bytes: a limit is refused, not
    pretended; -1 and 0 ask for nothing."""
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.kernel: "):
        list(resources_v1.to_files({"memory": {"kernel": limit}}))
    assert list(resources_v1.memory_writes({"kernel": -1})) == []


def test_docker_unset_swappiness_is_unset() -> None:
    """docker sends its -1 default as a u64; runc reads int64(v) == -1 as unset."""
    assert list(resources_v1.memory_writes({"swappiness": 2**64 - 1})) == []


# ------------------------------------------------------------------ v1 additions


def test_v1_blkio_hugetlb_network_rdma_lines() -> None:
    blkio = {
        "weight": 300,
        "leafWeight": 200,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 20, "leafWeight": 30}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 7}],
    }
    assert list(resources_v1.blkio_writes(blkio)) == [
        ("blkio", "blkio.weight", "300"),
        ("blkio", "blkio.leaf_weight", "200"),
        ("blkio", "blkio.weight_device", "8:0 20"),
        ("blkio", "blkio.leaf_weight_device", "8:0 30"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1000"),
        ("blkio", "blkio.throttle.write_iops_device", "8:16 7"),
    ]
    net = {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}
    assert list(resources_v1.network_writes(net)) == [
        ("net_cls", "net_cls.classid", "1048577"),
        ("net_prio", "net_prio.ifpriomap", "eth0 5"),
    ]
    assert list(resources_v1.hugetlb_writes([{"pageSize": "2MB", "limit": 1 << 21}]))[0] == (
        "hugetlb",
        "hugetlb.2MB.limit_in_bytes",
        str(1 << 21),
    )
    assert list(resources_v1.rdma_writes({"mlx4_0": {"hcaHandles": 2}})) == [
        ("rdma", "rdma.max", "mlx4_0 hca_handle=2")
    ]
    with pytest.raises(CgroupError, match="unified"):
        list(resources_v1.to_files({"unified": {"memory.max": "1"}}))


# ------------------------------------------------------------------ eBPF device filter

_TYPES = {"a": 0, "b": ebpf.DEV_BLOCK, "c": ebpf.DEV_CHAR}


def run_program(code: bytes, dev_type: int, major: int, minor: int, access: int) -> int:
    """A tiny interpreter for the instructions the assembler emits (an independent check
    of the encoding, the jump offsets and the verdicts)."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    pc, n = 0, len(code) // 8
    for _ in range(10000):
        assert 0 <= pc < n, "jumped out of the program"
        op, regs_byte, off, imm = struct.unpack_from("<BBhi", code, pc * 8)
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if op == 0x61:  # ldxw
            assert src == 1, "loads come from the context only"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif op == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == 0xB7:
            regs[dst] = imm
        elif op == 0x55:
            pc += off if regs[dst] != imm else 0
        elif op == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("no exit")


def last_match_wins(rules: list[dict[str, Any]], t: int, major: int, minor: int, acc: int) -> bool:
    """The spec's semantics written plainly: the last rule that matches decides; none: deny."""
    verdict = False
    for r in rules:
        access = sum(ebpf._ACCESS[c] for c in set(r.get("access") or "rwm"))
        if (
            _TYPES[r.get("type", "a")] in (0, t)
            and r.get("major") in (None, -1, major)
            and r.get("minor") in (None, -1, minor)
            and acc & access == acc
        ):
            verdict = r["allow"]
    return verdict


RULES = st.lists(
    st.fixed_dictionaries(
        {"allow": st.booleans()},
        optional={
            "type": st.sampled_from(["a", "b", "c"]),
            "major": st.sampled_from([-1, 1, 5, 136]),
            "minor": st.sampled_from([-1, 0, 3, 9]),
            "access": st.sampled_from(["r", "w", "m", "rw", "rwm", "wm"]),
        },
    ),
    max_size=8,
)
REQUEST = st.tuples(
    st.sampled_from([ebpf.DEV_BLOCK, ebpf.DEV_CHAR]),
    st.sampled_from([1, 5, 136, 240]),
    st.sampled_from([0, 3, 9, 11]),
    st.sampled_from([1, 2, 4, 6]),
)


@FAST
@given(RULES, st.lists(REQUEST, min_size=1, max_size=10))
def test_device_program_is_last_match_wins(rules: list[dict], requests: list[tuple]) -> None:
    compiled = [ebpf.rule_from_spec(r) for r in rules]
    code = ebpf.assemble(compiled)
    assert len(code) % 8 == 0 and len(code) // 8 < 4096
    for req in requests:
        want = last_match_wins(rules, *req)
        assert ebpf.decide(compiled, *req) == want
        assert run_program(code, *req) == int(want), (rules, req)


def test_default_rules_with_podmans_deny_all() -> None:
    """podman lists only deny-all: null/zero/ptys must work, a disk must not, mknod may."""
    rules = [ebpf.rule_from_spec({"allow": False, "access": "rwm"})]
    rules += [ebpf.rule_from_text(t) for t in resources_v1.DEFAULT_DEVICE_RULES]
    code = ebpf.assemble(rules)
    rw = ebpf.ACC_READ | ebpf.ACC_WRITE
    assert run_program(code, ebpf.DEV_CHAR, 1, 3, rw) == 1  # /dev/null
    assert run_program(code, ebpf.DEV_CHAR, 136, 4, rw) == 1  # a pty
    assert run_program(code, ebpf.DEV_BLOCK, 8, 0, ebpf.ACC_READ) == 0  # a disk
    assert run_program(code, ebpf.DEV_CHAR, 240, 0, ebpf.ACC_READ) == 0
    assert run_program(code, ebpf.DEV_BLOCK, 8, 0, ebpf.ACC_MKNOD) == 1


def test_bad_device_rules() -> None:
    with pytest.raises(CgroupError, match="devices"):
        ebpf.rule_from_spec({"allow": True, "type": "x"})
    with pytest.raises(CgroupError, match="devices"):
        ebpf.rule_from_spec({"allow": True, "access": "rwx"})


# ------------------------------------------------------------------ systemd paths


def test_systemd_paths() -> None:
    assert expand_slice("system.slice") == "/system.slice"
    assert expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert expand_slice("-.slice") == "/"
    assert systemd_to_cgroupfs("system.slice:docker:abc", "x") == "/system.slice/docker-abc.scope"
    assert systemd_to_cgroupfs("", "ctr") == "/system.slice/pyrunc-ctr.scope"
    assert systemd_to_cgroupfs(":crio:abc", "x") == "/system.slice/crio-abc.scope"
    assert systemd_to_cgroupfs("user.slice::my.slice", "x") == "/user.slice/my.slice"
    for bad in ("/abs/path", "a:b", "a.slice:b:c:d", "bad:x:y", "a--b.slice:x:y"):
        with pytest.raises(ConfigError, match="cgroupsPath"):
            systemd_to_cgroupfs(bad, "x")


# ------------------------------------------------------------------ update / events input


@given(st.integers(0, 1 << 20), st.sampled_from(["", "k", "m", "g", "K", "M", "G"]),
       st.sampled_from(["", "b", "B", "ib"]))  # fmt: skip
def test_parse_size(n: int, unit: str, suffix: str) -> None:
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]
    if unit == "" and suffix == "ib":
        suffix = "b"
    assert parse_size("--memory", f"{n}{unit}{suffix}") == n * mult


def test_parse_size_rejects() -> None:
    assert parse_size("--memory", "-1") == -1
    for bad in ("", "lots", "1x", "-1m", "--1", "1.2.3g"):
        with pytest.raises(InvalidArgument, match="--memory"):
            parse_size("--memory", bad)


def test_parse_duration() -> None:
    assert parse_duration("5s") == 5 and parse_duration("500ms") == 0.5
    assert parse_duration("1m30s") == 90
    for bad in ("", "5", "s", "0s", "5x", "1s junk"):
        with pytest.raises(InvalidArgument, match="--interval"):
            parse_duration(bad)


@given(
    st.dictionaries(st.sampled_from(["limit", "swap", "reservation"]), st.integers(0, 1 << 30)),
    st.dictionaries(st.sampled_from(["limit", "swap", "reservation"]), st.integers(0, 1 << 30)),
)
def test_update_merge_zero_means_unchanged(old: dict[str, int], new: dict[str, int]) -> None:
    merged = merge({"memory": old, "pids": {"limit": 5}}, {"memory": new})["memory"]
    for key in {*old, *new}:
        assert merged.get(key) == (new.get(key) or old.get(key))


def test_update_input_errors_name_the_field() -> None:
    for doc, field in (
        ({"memory": {"limit": "1g"}}, "resources.memory.limit"),
        ({"memory": {"limit": True}}, "resources.memory.limit"),
        ({"cpu": {"cpus": 3}}, "resources.cpu.cpus"),
        ({"cpus": {}}, "resources.cpus"),
        ({"unified": {"memory.max": 5}}, "resources.unified.memory.max"),
        ([], "resources"),
    ):
        with pytest.raises(InvalidArgument, match=field.replace(".", r"\.")):
            check_resources(doc)
    check_resources({"memory": {"limit": 1, "somethingNew": "x"}})  # runc ignores unknowns


@given(st.integers(-1, 1 << 40), st.integers(-1, 1 << 40), st.integers(0, 1 << 40), st.booleans())
def test_check_before_update_is_runcs_rule(limit: int, swap: int, usage: int, on: bool) -> None:
    """Refused exactly when asked to check and a positive limit (or memory+swap limit) is
    at or below the usage, in runc's words."""
    mem = {"limit": limit, "swap": swap, "checkBeforeUpdate": on}
    refused = on and (0 < swap <= usage or 0 < limit <= usage)
    if not refused:
        resources_v1.check_memory_usage(mem, usage)
        return
    with pytest.raises(CgroupError, match=r"^rejecting memory(\+swap)? limit \d+ <= usage \d+$"):
        resources_v1.check_memory_usage(mem, usage)


@given(st.integers(-(2**40), 2**40))
def test_pids_limit_as_runc_writes_it(limit: int) -> None:
    """Negative: no limit; 0: 1 (runc #4014: systemd takes no TasksMax=0); else itself."""
    want = "max" if limit < 0 else "1" if limit == 0 else str(limit)
    assert list(resources_v1.pids_writes({"limit": limit})) == [("pids", "pids.max", want)]
    assert list(resources_v2.pids_writes({"limit": limit})) == [("pids.max", want)]
