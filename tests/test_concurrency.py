"""Many runtimes at once: parallel lifecycles on distinct IDs, and commands racing on one ID.

Every racer is a real CLI process. Where the spec allows one winner there is exactly one;
every loser fails with one line from a known set (never a traceback or a half-written
state); afterwards `state` reads, `delete --force` cleans, and the leak check is green.

    PYRUNC_PARALLEL=64 python3 -m pytest tests/test_concurrency.py -q   # the full size
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import Bundle, Result, Runtime, error_message

# Distinct-ID cycles at once (CI default; PYRUNC_PARALLEL=64 for the full size).
PARALLEL = int(os.environ.get("PYRUNC_PARALLEL", "32"))
RACERS = 16

# What a loser may say (runc's texts); anything else is a bug.
CLEAN_ERRORS = frozenset(
    {
        "container with given ID already exists",
        "container does not exist",
        "container not running",
        "cannot start an already running container",
        "cannot start a container that has stopped",
        "container init exited before it could start",
        "cannot start a container in the creating state",
    }
)


def clean_failure(r: Result) -> str:
    assert r.code != 0
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    msg = error_message(r.err)
    assert msg in CLEAN_ERRORS, f"unexpected error: {msg!r}"
    return msg


def race(runtime: Runtime, commands: Sequence[Sequence[str]]) -> list[Result]:
    """Run the commands in parallel, released together by a barrier."""
    barrier = threading.Barrier(len(commands))

    def one(args: Sequence[str]) -> Result:
        barrier.wait()
        return runtime(*args, timeout=120)

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(one, commands))


def wait_status(runtime: Runtime, cid: str, status: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (got := runtime.state(cid)["status"]) != status:
        assert time.monotonic() < deadline, f"{cid}: {got}, never {status}"
        time.sleep(0.05)


def assert_consistent(runtime: Runtime, cid: str) -> str | None:
    """state reads (or the ID is unknown), and list agrees with it."""
    r = runtime("state", cid)
    listed = {c["id"]: c["status"] for c in runtime.ok("list", "--format", "json").json() or []}
    if r.code != 0:
        assert error_message(r.err) == "container does not exist", r.err
        assert cid not in listed
        return None
    status = r.json()["status"]
    assert listed.get(cid) == status
    return status


# -- distinct IDs ---------------------------------------------------------------------------


def _cycle(runtime: Runtime, bundle: str, cid: str) -> None:
    runtime.ok("create", "--bundle", bundle, cid, timeout=120)
    runtime.ok("start", cid, timeout=120)
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid, "KILL", timeout=120)
    wait_status(runtime, cid, "stopped")
    runtime.ok("delete", cid, timeout=120)


def test_parallel_lifecycles(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    ids = [f"{cid}-{i}" for i in range(PARALLEL)]
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(_cycle, runtime, bundle.path, i) for i in ids]
        errors = [f.exception() for f in futures]
    took = time.monotonic() - started
    print(f"{PARALLEL} parallel create/start/kill/delete cycles in {took:.1f}s")
    assert [e for e in errors if e] == []
    assert runtime.ok("list", "-q").out.split() == []


# -- one ID ---------------------------------------------------------------------------------


def test_racing_creates(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    results = race(runtime, [("create", "--bundle", bundle.path, cid)] * RACERS)
    winners = [r for r in results if r.code == 0]
    assert len(winners) == 1, results
    for r in results:
        if r.code:
            assert clean_failure(r) == "container with given ID already exists"
    assert assert_consistent(runtime, cid) == "created"
    runtime.ok("delete", "--force", cid)


def test_create_vs_delete(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Deletes (--force) racing creates: every create that wins owns a whole container,
    every delete succeeds, and nothing half-made survives."""
    bundle.set_args("sleep", "1000")
    half = RACERS // 2
    commands = [("create", "--bundle", bundle.path, cid)] * half + [
        ("delete", "--force", cid)
    ] * half
    results = race(runtime, commands)
    for r in results[half:]:
        assert r.code == 0, r.err  # delete --force of whatever is (or is not) there
    for r in results[:half]:
        if r.code:
            clean_failure(r)
    assert assert_consistent(runtime, cid) in (None, "created")
    runtime.ok("delete", "--force", cid)
    assert not os.path.lexists(os.path.join(runtime.root, cid))


def test_racing_starts(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    results = race(runtime, [("start", cid)] * RACERS)
    assert sum(r.code == 0 for r in results) == 1, results
    for r in results:
        if r.code:
            assert clean_failure(r) == "cannot start an already running container"
    assert assert_consistent(runtime, cid) == "running"
    runtime.ok("delete", "--force", cid)


def test_start_vs_kill(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    half = RACERS // 2
    results = race(runtime, [("start", cid)] * half + [("kill", cid, "KILL")] * half)
    starts, kills = results[:half], results[half:]
    assert sum(r.code == 0 for r in starts) <= 1, starts
    assert sum(r.code == 0 for r in kills) >= 1, kills  # the first kill finds it alive
    for r in results:
        if r.code:
            clean_failure(r)
    wait_status(runtime, cid, "stopped")
    assert assert_consistent(runtime, cid) == "stopped"
    runtime.ok("delete", cid)


@pytest.mark.parametrize("force", [True, False])
def test_racing_deletes(runtime: Runtime, bundle: Bundle, cid: str, force: bool) -> None:
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    runtime.ok("start", cid)
    if not force:
        runtime.ok("kill", cid, "KILL")
        wait_status(runtime, cid, "stopped")
    flags = ("--force",) if force else ()
    results = race(runtime, [("delete", *flags, cid)] * RACERS)
    if force:
        assert all(r.code == 0 for r in results), [r.err for r in results if r.code]
    else:
        assert sum(r.code == 0 for r in results) == 1, results
        for r in results:
            if r.code:
                assert clean_failure(r) == "container does not exist"
    assert assert_consistent(runtime, cid) is None
