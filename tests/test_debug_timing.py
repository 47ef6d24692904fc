"""`--debug create` reports where the milliseconds went, one phase per stage of create."""

from __future__ import annotations

import re

from pyrunc import timing
from tests.helpers import Bundle, Runtime

PHASES = [
    "cli",
    "parse",
    "validate",
    "cgroups",
    "fork",
    "namespaces",
    "mounts",
    "process",
    "record",
]


def test_debug_create_prints_every_phase_in_order(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    r = runtime.ok("create", "--bundle", bundle.path, cid, global_args=("--debug",))
    try:
        line = next(x for x in r.err.splitlines() if "create phases (ms)" in x)
        found = re.findall(r"([a-z]+) (\d+\.\d)", line.split("phases (ms): ", 1)[1])
        names = [name for name, _ in found]
        assert names == [*PHASES, "total"]
        values = [float(ms) for _, ms in found]
        assert all(v >= 0 for v in values) and values[-1] > 0
        assert abs(sum(values[:-1]) - values[-1]) <= 0.1 * len(PHASES)  # rounding only
    finally:
        runtime.ok("delete", "--force", cid)


def test_without_debug_no_phase_line(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    r = runtime.ok("create", "--bundle", bundle.path, cid)
    runtime.ok("delete", "--force", cid)
    assert "phases" not in r.err


def test_marks_from_the_container_side_are_checked() -> None:
    timing.reset()
    timing.mark("a")
    timing.add([["b", 5], ["x" * 40, 6], ["c", "7"], "junk", ["d", True], ["e", 8, 9]])
    timing.add({"not": "a list"})
    assert [name for name, _ in timing._marks] == ["a", "b"]
    timing.add([["z", i] for i in range(100)])
    assert len(timing._marks) == 2 + timing.MAX_RECEIVED
    timing.reset()
