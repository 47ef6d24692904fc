"""The runc-integration runner's rootless mode, its pure parts
(conformance/runc-integration/rci_rootless.py): the feature sets as runc's
tests/rootless.sh names them, the sub-id range chosen clear of every other one, the
sub-id line added and removed exactly, the v1 hierarchies rootless.sh hands over."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

RUNNER_DIR = Path(__file__).resolve().parents[2] / "conformance" / "runc-integration"
sys.path.insert(0, str(RUNNER_DIR))
sys.path.insert(1, str(RUNNER_DIR.parents[1]))

import rci_rootless  # noqa: E402


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("idmap+cgroup", ("idmap", "cgroup")),
        ("cgroup+idmap", ("idmap", "cgroup")),
        ("all", ("idmap", "cgroup")),
        ("idmap", ("idmap",)),
        ("cgroup", ("cgroup",)),
        ("none", ()),
        ("", ()),
    ],
)
def test_feature_sets(text: str, want: tuple[str, ...]) -> None:
    assert rci_rootless.parse_features(text) == want


def test_unknown_feature_is_named() -> None:
    with pytest.raises(ValueError, match="unknown rootless feature systemd"):
        rci_rootless.parse_features("idmap+systemd")


@given(st.lists(st.tuples(st.integers(0, 2_000_000), st.integers(1, 300_000)), max_size=8))
def test_free_start_overlaps_no_range(taken: list[tuple[int, int]]) -> None:
    start = rci_rootless.free_start(taken)
    n = rci_rootless.SUBID_LENGTH
    assert start >= rci_rootless.SUBID_FLOOR and start % n == 0
    assert all(not (start < s + c and s < start + n) for s, c in taken)


def test_free_start_passes_another_users_range() -> None:
    text = "pyrunc-pmx:100000:65536\nbroken line\n"
    taken = [(s, n) for _, s, n in rci_rootless.subid_ranges(text)]
    assert taken == [(100000, 65536)]
    assert rci_rootless.free_start(taken) == 196608


def test_line_added_and_removed_exactly(tmp_path: Path) -> None:
    f = tmp_path / "subuid"
    before = "alice:100000:65536\nrootlessx:1:2\n"
    f.write_text(before.rstrip("\n"))  # no final newline: one is added before ours
    rci_rootless.add_line(f, "rootless:196608:65536")
    assert rci_rootless.lines_of(f, "rootless") == ["rootless:196608:65536"]
    assert rci_rootless.remove_line(f, "rootless:196608:65536")
    assert f.read_text() == before
    assert not rci_rootless.remove_line(f, "rootless:196608:65536")


def test_v1_controllers_as_rootless_sh() -> None:
    proc = "12:cpu,cpuacct:/\n11:name=systemd:/x\n3:net_cls,net_prio:/\n0::/user.slice\n"
    assert rci_rootless.v1_controllers(proc) == ["cpu", "cpuacct", "systemd", "net_cls", "net_prio"]
