"""linux.intelRdt's pure logic: schemata lines as the kernel parses them, the group a
container gets, and what a host without a feature refuses (against a directory laid
out like /sys/fs/resctrl). The manager's writes with a real process are in
tests/test_intelrdt.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.linux import intelrdt
from pyrunc.linux.mountinfo import MountEntry

# -- schemata lines -----------------------------------------------------------------------

CACHE = ["L3", "L2", "L3CODE", "L3DATA", "L2CODE", "L2DATA"]
BANDWIDTH = ["MB", "SMBA"]
blanks = st.text(" \t", max_size=2)


@st.composite
def schema_lines(draw: st.DrawFn) -> tuple[str, str, dict[int, str]]:
    """A line the kernel's grammar takes, with the resource and domains it holds."""
    name = draw(st.sampled_from([*CACHE, *BANDWIDTH, "XYZ"]))
    ids = draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=6, unique=True))
    domains: dict[int, str] = {}
    items = []
    for ident in ids:
        if name in CACHE:
            value = draw(st.sampled_from(["", "0x", "0X", "+"])) + format(
                draw(st.integers(0, 2**64 - 1)), draw(st.sampled_from(["x", "X"]))
            )
        elif name in BANDWIDTH:
            value = draw(st.sampled_from(["", "+"])) + str(draw(st.integers(0, 2**64 - 1)))
        else:
            value = draw(st.text("abcdefz0123456789_,", min_size=1, max_size=8))
        domains[ident] = value
        shown_id = draw(st.sampled_from(["", "+", "0"])) + str(ident)
        items.append(f"{shown_id}={draw(blanks)}{value}{draw(blanks)}")
    trailing = draw(st.sampled_from(["", ";"]))
    line = f"{draw(blanks)}{name}{draw(blanks)}:" + ";".join(items) + trailing
    return line, name, domains


@given(schema_lines())
def test_lines_of_the_kernels_grammar_parse_back(case: tuple[str, str, dict[int, str]]) -> None:
    line, name, domains = case
    assert intelrdt.schema_problem(line) is None
    assert intelrdt.parse_schema(line) == (name, domains)
    assert intelrdt.resource_of(line) == name


@given(schema_lines(), st.text(min_size=0, max_size=5))
def test_a_newline_anywhere_is_refused(case: tuple[str, str, dict[int, str]], tail: str) -> None:
    line = case[0]
    cut = len(tail) % (len(line) + 1)
    assert "newline" in str(intelrdt.schema_problem(line[:cut] + "\n" + line[cut:]))


@given(schema_lines())
def test_a_domain_given_twice_is_refused(case: tuple[str, str, dict[int, str]]) -> None:
    line, name, domains = case
    ident = next(iter(domains))
    doubled = line.rstrip(";") + f";{ident}=1"
    assert intelrdt.schema_problem(doubled) == f"{name}: domain {ident} is given twice"


@given(schema_lines(), st.sampled_from(["", " ", ";", "x", "=1", " 1=1", "1= "]))
def test_a_broken_domain_is_refused(case: tuple[str, str, dict[int, str]], bad: str) -> None:
    # An empty item inside the list, a non-decimal or blank-led id, a missing value.
    line = case[0].rstrip(";") + ";" + bad + ";0=1"
    assert intelrdt.schema_problem(line) is not None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("L3", "expected <resource>:<id>=<value>;... (no ':')"),
        (":0=f", "expected a resource name before ':'"),
        ("L3:", "expected a value for L3"),
        ("L3:0", "L3: expected <domain id>=<value>, got '0'"),
        ("L3:x=ff", "L3: expected <domain id>=<value>, got 'x=ff'"),
        ("L3: 0=ff", "L3: expected <domain id>=<value>, got ' 0=ff'"),
        ("L3:;", "L3: expected <domain id>=<value>, got ''"),
        ("L3:0=", "L3: expected a value for domain 0"),
        ("L3:0=zz", "L3: domain 0: 'zz' is not a hexadecimal bitmask"),
        ("L3:0=0x", "L3: domain 0: '0x' is not a hexadecimal bitmask"),
        ("MB:0=0x20", "MB: domain 0: '0x20' is not a decimal bandwidth"),
        ("MB:0=1;0=2", "MB: domain 0 is given twice"),
        ("L3:18446744073709551616=1", "L3: expected <domain id>=<value>, "
                                      "got '18446744073709551616=1'"),
    ],
)  # fmt: skip
def test_malformed_lines_say_what_is_wrong(line: str, problem: str) -> None:
    assert intelrdt.schema_problem(line) == problem


@given(st.text("+0123456789abcdefxX", max_size=24), st.sampled_from([10, 16]))
def test_numbers_read_as_the_kernels_kstrtoul(text: str, base: int) -> None:
    digits = "[0-9]" if base == 10 else "[0-9a-fA-F]"
    prefix = "" if base == 10 else f"(?:0[xX](?={digits}))?"
    m = re.fullmatch(rf"\+?{prefix}({digits}+)", text)
    want = int(m.group(1), base) if m else None
    assert intelrdt._kernel_uint(text, base) == (want if want is None or want < 2**64 else None)


def test_schema_lines_keep_the_specs_order_and_skip_empty_ones() -> None:
    section = {"schemata": ["L2:0=f", "", "MB:1=70"], "memBwSchema": "MB:0=20",
               "l3CacheSchema": "L3:0=7f0", "closID": "x"}  # fmt: skip
    assert intelrdt.schema_lines(section) == ["L3:0=7f0", "MB:0=20", "L2:0=f", "MB:1=70"]
    assert intelrdt.schema_lines({"l3CacheSchema": ""}) == []


# -- the group ----------------------------------------------------------------------------


def test_the_group_is_the_closid_else_the_container_id_and_slash_is_the_root() -> None:
    assert intelrdt.group_path("/r", "c1") == "/r/c1"
    assert intelrdt.group_path("/r", "c1", "gold") == "/r/gold"
    assert intelrdt.group_path("/r", "c1", "/") == "/r"
    for bad in (".", "..", "a/b", "/a"):
        with pytest.raises(intelrdt.ResctrlError):
            intelrdt.group_path("/r", "c1", bad)


def _mount(point: str, fstype: str) -> MountEntry:
    return MountEntry(point, "/", fstype, [])


def test_the_root_is_found_where_resctrl_is_mounted() -> None:
    assert intelrdt.find_root([_mount("/", "ext4")]) is None
    assert intelrdt.find_root([_mount("/mnt/rdt", "resctrl")]) == "/mnt/rdt"
    both = [_mount("/mnt/rdt", "resctrl"), _mount("/sys/fs/resctrl", "resctrl")]
    assert intelrdt.find_root(both) == "/sys/fs/resctrl"  # runc's Root(): the default first


# -- what a host refuses (a directory laid out like /sys/fs/resctrl) ------------------------


def fake_root(tmp: Path, *info: str) -> str:
    for name in info:
        (tmp / "info" / name).mkdir(parents=True)
    return str(tmp)


def refusals(section: dict, root: str | None) -> list[str]:
    return [".".join(map(str, at)) + ": " + rule for at, rule in intelrdt.problems(section, root)]


def test_without_resctrl_every_intel_rdt_is_refused() -> None:
    assert refusals({}, None) == [
        ": Intel RDT is not enabled on this host (no resctrl filesystem is mounted)"
    ]


def test_a_missing_feature_is_refused_by_field(tmp_path: Path) -> None:
    root = fake_root(tmp_path, "L3")
    section = {"l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=20",
               "schemata": ["L3:1=f", "L2:0=3"], "enableMonitoring": True}  # fmt: skip
    assert refusals(section, root) == [
        f"memBwSchema: Intel RDT/MBA is not enabled on this host (no {root}/info/MB)",
        f"schemata.1: resource L2 is not enabled on this host (no {root}/info/L2)",
        f"enableMonitoring: Intel RDT monitoring is not enabled on this host "
        f"(no {root}/info/L3_MON)",
    ]
    root = fake_root(tmp_path / "full", "L3", "MB", "L2", "L3_MON")
    assert refusals(section, root) == []


def test_l3_cache_schema_needs_cat_as_runc_says(tmp_path: Path) -> None:
    root = fake_root(tmp_path, "MB")
    assert refusals({"l3CacheSchema": "L3:0=f"}, root) == [
        f"l3CacheSchema: Intel RDT/CAT is not enabled on this host (no {root}/info/L3)"
    ]


def test_a_closid_without_schemata_must_exist(tmp_path: Path) -> None:
    root = fake_root(tmp_path, "L3")
    assert refusals({"closID": "gold"}, root) == [
        f"closID: {root}/gold does not exist "
        "(without schemata, closID names a group made beforehand)"
    ]
    os.mkdir(os.path.join(root, "gold"))
    assert refusals({"closID": "gold"}, root) == []
    assert refusals({"closID": "silver", "schemata": ["L3:0=f"]}, root) == []  # made then
    assert refusals({"closID": "/"}, root) == []  # the root group always exists


def test_values_are_refused_before_the_host_is_asked() -> None:
    section = {"closID": "..", "schemata": ["L3:0=f", "L3:0=3"]}
    assert refusals(section, None) == [
        "closID: must be a plain directory name",
        "schemata.1: L3: domain 0 is also set by linux.intelRdt.schemata[0]",
        ": Intel RDT is not enabled on this host (no resctrl filesystem is mounted)",
    ]


# -- events --stats -----------------------------------------------------------------------


def test_stats_read_as_runc_reports_them(tmp_path: Path) -> None:
    root = tmp_path
    files = {
        "info/L3/cbm_mask": "fff\n", "info/L3/min_cbm_bits": "1\n",
        "info/L3/num_closids": "16\n", "info/MB/bandwidth_gran": "10\n",
        "info/MB/delay_linear": "1\n", "info/MB/min_bandwidth": "10\n",
        "info/MB/num_closids": "8\n", "info/L3_MON/mon_features": "llc_occupancy\n"
        "mbm_total_bytes\n", "schemata": "    L3:0=fff\n    MB:0=100\n",
        "c1/schemata": "    L3:0=0f0\n    MB:0=20\n",
        "c1/mon_groups/c1/mon_data/mon_L3_00/llc_occupancy": "4096\n",
        "c1/mon_groups/c1/mon_data/mon_L3_00/mbm_total_bytes": "123\n",
    }  # fmt: skip
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    rdt = intelrdt.IntelRdtManager(str(root), "c1", {"enableMonitoring": True})
    assert rdt.stats() == {
        "l3_cache_info": {"cbm_mask": "fff", "min_cbm_bits": 1, "num_closids": 16},
        "l3_cache_schema_root": "L3:0=fff",
        "l3_cache_schema": "L3:0=0f0",
        "mem_bw_info": {"bandwidth_gran": 10, "delay_linear": 1, "min_bandwidth": 10,
                        "num_closids": 8},
        "mem_bw_schema_root": "MB:0=100",
        "mem_bw_schema": "MB:0=20",
        "schemata": ["L3:0=0f0", "    MB:0=20"],  # runc trims the file, not each line
        "mbm_stats": [{"mbm_total_bytes": 123, "mbm_local_bytes": 0}],
        "cmt_stats": [{"llc_occupancy": 4096}],
    }  # fmt: skip
