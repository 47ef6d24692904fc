"""The suite's leak check: tools/leakcheck.py's snapshot, scoped to this test run.

conftest's autouse fixture wraps every container test in it; tests that run many
containers in one test function (hypothesis examples, fault phases) call it per step:

    check = LeakCheck.for_run(workdir, state_root)
    ... run containers ...
    check.assert_clean()          # reaps orphans, then compares with the start
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tests.helpers import reap_zombies
from tools import leakcheck as lc

# Every container a test makes has an id with this prefix, and cgroups/state roots
# name the test process, so leaks can be told apart from what else the host runs.
ID_PREFIX = f"pyt-{os.getpid()}-"
STATE_MARKER = f"pyrunc-test-{os.getpid()}"


def reference_root(state_root: str) -> str:
    """The state root of the reference runc that tests compare pyrunc with (conftest's
    `runc` fixture): beside ours, so the leak check watches both."""
    return f"{state_root}-runc"


def scope(workdir: str, state_root: str) -> lc.Scope:
    return lc.Scope(
        markers=(workdir, ID_PREFIX, STATE_MARKER),
        state_roots=(state_root, reference_root(state_root)),
        fd_pid=os.getpid(),
        ignore_pids=frozenset({os.getpid()}),
    )


@dataclass
class LeakCheck:
    scope: lc.Scope
    before: dict[str, set[str]]
    children: set[int]

    @classmethod
    def for_run(cls, workdir: str, state_root: str) -> LeakCheck:
        s = scope(workdir, state_root)
        return cls(s, lc.snapshot(s), lc.children(os.getpid()))

    def leaks(self, grace: float = 2.0) -> dict[str, list[str]]:
        """What appeared since the snapshot; the state root must be empty, not just unchanged.

        grace: processes still exiting get that long. A pid namespace's init lingers until
        every process of the namespace is reaped, and a tenant orphaned to us (exec whose
        runtime was killed) is only reaped here, so the init becomes a zombie after that.
        """
        deadline = time.monotonic() + grace
        while True:
            found = self._leaks_now()
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def _leaks_now(self) -> dict[str, list[str]]:
        reap_zombies()  # we are a subreaper: orphaned inits that exited are ours to collect
        after = lc.snapshot(self.scope)
        found = lc.diff(self.before, after)
        if after["state"]:
            found["state"] = sorted(after["state"])
        kids = lc.children(os.getpid()) - self.children
        if kids:
            found["child processes"] = [str(k) for k in sorted(kids)]
        if "fds" in found:
            found["fds"] = lc.fd_targets(os.getpid(), found["fds"]) or found["fds"]
        return found

    def assert_clean(self) -> None:
        found = self.leaks()
        assert not found, f"left behind: {found}"
