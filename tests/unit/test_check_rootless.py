"""Unit tests of the pure parts of `pyrunc check`'s rootless module: /etc/subuid as
newuidmap reads it, and which host ids a user's ranges hold."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given
from hypothesis import strategies as st

from pyrunc.cgroups.rootless import first_limit
from pyrunc.linux.idmap_tools import subordinate_ranges, uncovered


def _subid_file(text: str) -> str:
    fd, path = tempfile.mkstemp()
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def test_ranges_by_name_or_number_and_nothing_malformed() -> None:
    path = _subid_file(
        "alice:100000:65536\n2700:200000:10\nbob:300000:65536\nalice:bad:1\n"
        "alice:400000:0\n# alice:1:1\nalice:500000:5\n"
    )
    try:
        assert subordinate_ranges(path, "alice", 2700) == [(100000, 65536), (200000, 10),
                                                           (500000, 5)]  # fmt: skip
        assert subordinate_ranges(path, "carol", 1) == []
        assert subordinate_ranges("/nonexistent/subuid", "alice", 2700) == []
    finally:
        os.unlink(path)


ranges = st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 50)), max_size=5)


@given(ranges, st.integers(0, 1100), st.integers(1, 100))
def test_uncovered_is_the_first_id_no_range_holds(
    held: list[tuple[int, int]], start: int, size: int
) -> None:
    first = uncovered(start, size, held)

    def holds(i: int) -> bool:
        return any(s <= i < s + n for s, n in held)

    expected = next((i for i in range(start, start + size) if not holds(i)), None)
    assert first == expected


def test_first_limit_names_the_field_and_controller() -> None:
    assert first_limit(None) is None
    assert first_limit({"devices": [{"allow": False, "access": "rwm"}]}) is None
    assert first_limit({"memory": {"limit": 0}, "pids": {"limit": 10}}) == ("pids", "pids")
    assert first_limit({"cpu": {"cpus": "0"}}) == ("cpu", "cpuset")
    assert first_limit({"blockIO": {"weight": 10}}) == ("blockIO", "blkio")
