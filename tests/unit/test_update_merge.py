"""update's merge of new resources over the recorded ones, as runc's update reads them
(update.go): the fields whose zero is a value, memory -1 taking the memsw limit along,
per-device entries, and runc's case-blind JSON names. Pure: no root, no container.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc.cgroups import resources_v1, resources_v2
from pyrunc.container.update import check_resources, merge

FAST = settings(max_examples=200, deadline=None, database=None)


@FAST
@given(st.integers(0, 1 << 20), st.integers(0, 1 << 20), st.integers(0, 1), st.integers(-1, 99))
def test_zero_is_written_for_burst_idle_and_pids(
    old_burst: int, new_burst: int, idle: int, pids: int
) -> None:
    """runc: --cpu-burst 0 and cpu.idle 0 are written; pids.limit 0 is one task."""
    old = {"cpu": {"burst": old_burst, "idle": 1, "quota": 7}, "pids": {"limit": 50}}
    new = {"cpu": {"burst": new_burst, "idle": idle, "quota": 0}, "pids": {"limit": pids}}
    merged = merge(old, new)
    assert merged["cpu"] == {"burst": new_burst, "idle": idle, "quota": 7}
    writes = {f.lstrip("?"): v for _, f, v in resources_v1.to_files(merged)}
    assert writes["cpu.cfs_burst_us"] == str(new_burst)
    assert writes["cpu.idle"] == str(idle)
    assert writes["pids.max"] == {0: "1", -1: "max"}.get(pids, str(pids))


def test_absent_fields_stay() -> None:
    old = {"cpu": {"burst": 5, "idle": 1}, "pids": {"limit": 50}}
    assert merge(old, {"memory": {"limit": 1 << 20}})["cpu"] == {"burst": 5, "idle": 1}
    assert merge(old, {"pids": {"limit": None}})["pids"] == {"limit": 50}


@FAST
@given(st.integers(1, 1 << 40), st.sampled_from([{}, {"swap": 0}, {"swap": None}]))
def test_memory_unlimited_without_swap_unlimits_swap_too(swap: int, asked: dict) -> None:
    """runc's update: --memory -1 alone also lifts the memsw limit (v1 refuses a memory
    limit above it); on v2 swap.max becomes max as well."""
    merged = merge({"memory": {"limit": 1 << 30, "swap": swap}}, {"memory": {"limit": -1, **asked}})
    assert "swap" not in merged["memory"]
    v1 = [(f.lstrip("?"), v) for c, f, v in resources_v1.to_files(merged) if c == "memory"]
    assert ("memory.memsw.limit_in_bytes", "-1") in v1
    assert ("memory.limit_in_bytes", "-1") in v1
    v2 = dict((f.lstrip("?"), v) for f, v in resources_v2.to_files(merged))
    assert v2["memory.max"] == "max" and v2["memory.swap.max"] == "max"


def test_memory_unlimited_with_swap_keeps_the_swap_asked() -> None:
    merged = merge({"memory": {"limit": 1, "swap": 2}}, {"memory": {"limit": -1, "swap": -1}})
    assert merged["memory"] == {"limit": -1, "swap": -1}
    merged = merge({"memory": {"limit": 1 << 20, "swap": 2 << 20}}, {"memory": {"limit": 3 << 20}})
    assert merged["memory"] == {"limit": 3 << 20, "swap": 2 << 20}  # not -1: kept


def test_per_device_entries_are_updated_device_by_device() -> None:
    """runc's upsert: a device's entry is replaced (the last of duplicates), others stay."""
    old = {
        "blockIO": {
            "throttleReadBpsDevice": [
                {"major": 8, "minor": 0, "rate": 1},
                {"major": 8, "minor": 0, "rate": 2},
                {"major": 8, "minor": 16, "rate": 3},
            ],
            "weightDevice": [{"major": 8, "minor": 0, "weight": 100, "leafWeight": 50}],
        }
    }
    new = {
        "blockIO": {
            "throttleReadBpsDevice": [
                {"major": 8, "minor": 0, "rate": 9},
                {"major": 9, "minor": 0, "rate": 4},
            ],
            "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
        }
    }
    got = merge(old, new)["blockIO"]
    assert got["throttleReadBpsDevice"] == [
        {"major": 8, "minor": 0, "rate": 1},
        {"major": 8, "minor": 0, "rate": 9},
        {"major": 8, "minor": 16, "rate": 3},
        {"major": 9, "minor": 0, "rate": 4},
    ]
    assert got["weightDevice"] == [{"major": 8, "minor": 0, "weight": 200, "leafWeight": 50}]


def test_names_match_without_case_as_runcs_decoder() -> None:
    """update.bats sends {"CPU": {"Cpus": "1"}}: Go's encoding/json takes it as cpu.cpus;
    a key that is both ("cpu" and "CPU") fills one section in the document's order."""
    assert check_resources({"CPU": {"Cpus": "1"}}) == {"cpu": {"cpus": "1"}}
    doc = {"cpu": {"shares": 100, "cpus": "0"}, "CPU": {"Cpus": "1", "Mems": "0"}}
    assert check_resources(doc) == {"cpu": {"shares": 100, "cpus": "1", "mems": "0"}}
    assert check_resources({"Pids": {"LIMIT": 5}}) == {"pids": {"limit": 5}}


def test_idle_alone_forgets_the_shares() -> None:
    """runc's update: an idle cgroup refuses cpu.shares writes, so idle given without
    shares drops them; later updates then leave cpu.shares alone too."""
    merged = merge({"cpu": {"shares": 100, "quota": 5000}}, {"cpu": {"idle": 1}})
    assert merged["cpu"] == {"quota": 5000, "idle": 1}
    later = merge(merged, {"cpu": {"period": 10000}})
    assert "cpu.shares" not in {f for _, f, _ in resources_v1.to_files(later)}
    both = merge({"cpu": {"shares": 100}}, {"cpu": {"idle": 0, "shares": 200}})
    assert both["cpu"] == {"shares": 200, "idle": 0}
