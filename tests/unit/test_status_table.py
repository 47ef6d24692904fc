"""The one table of which operation each status allows (pyrunc/container/status.py):
every operation against every status, with runc's error for each refusal."""

from __future__ import annotations

import pytest

from pyrunc.container import status as st
from pyrunc.errors import ContainerNotRunning, ExecFailed, InvalidState, PyruncError

STATUSES = (st.CREATING, st.CREATED, st.RUNNING, st.PAUSED, st.STOPPED)
NOT_RUNNING = (ContainerNotRunning, "container not running")
EXEC_STOPPED = (ExecFailed, "cannot exec in a stopped container")
EXEC_PAUSED = (ExecFailed, "cannot exec in a paused container (use --ignore-paused to override)")

# operation -> status -> None (allowed) or (error class, text); the container is "web".
EXPECTED: dict[str, dict[str, tuple[type[PyruncError], str] | None]] = {
    "start": {
        st.CREATING: (InvalidState, "cannot start a container in the creating state"),
        st.CREATED: None,
        st.RUNNING: (InvalidState, "cannot start an already running container"),
        st.PAUSED: (InvalidState, "cannot start a container in the paused state"),
        st.STOPPED: (InvalidState, "cannot start a container that has stopped"),
    },
    "kill": {
        st.CREATING: NOT_RUNNING,
        st.CREATED: None,
        st.RUNNING: None,
        st.PAUSED: None,
        st.STOPPED: NOT_RUNNING,
    },
    "pause": {
        st.CREATING: NOT_RUNNING,
        st.CREATED: None,
        st.RUNNING: None,
        st.PAUSED: NOT_RUNNING,
        st.STOPPED: NOT_RUNNING,
    },
    "resume": {s: (InvalidState, "container not paused") for s in STATUSES} | {st.PAUSED: None},
    "exec": {s: None for s in STATUSES} | {st.PAUSED: EXEC_PAUSED, st.STOPPED: EXEC_STOPPED},
    "exec --ignore-paused": {s: None for s in STATUSES} | {st.STOPPED: EXEC_STOPPED},
    "update": {s: None for s in STATUSES} | {st.STOPPED: NOT_RUNNING},
    "events": {s: None for s in STATUSES} | {st.STOPPED: NOT_RUNNING},
    "delete": {
        s: (InvalidState, f"cannot delete container web that is not stopped: {s}") for s in STATUSES
    }
    | {st.STOPPED: None},
    "delete --force": {s: None for s in STATUSES},
    "checkpoint": {
        s: (InvalidState, f"Container cannot be checkpointed in {s} state") for s in STATUSES
    }
    | {st.RUNNING: None, st.PAUSED: None},
}

CASES = [(op, s, want) for op, row in EXPECTED.items() for s, want in row.items()]


def test_the_table_covers_every_operation() -> None:
    assert set(st.ALLOWED) == set(EXPECTED)
    assert all(set(row) == set(STATUSES) for row in EXPECTED.values())


@pytest.mark.parametrize(("operation", "status", "want"), CASES)
def test_each_operation_in_each_status(
    operation: str, status: str, want: tuple[type[PyruncError], str] | None
) -> None:
    assert st.allows(operation, status) is (want is None)
    if want is None:
        st.check_allowed(operation, status, "web")
        return
    with pytest.raises(PyruncError) as e:
        st.check_allowed(operation, status, "web")
    assert (type(e.value), str(e.value)) == want
    refused = st.refusal(operation, status, "web")
    assert (type(refused), str(refused)) == want


def test_the_table_module_stays_cheap() -> None:
    """state, start, kill and delete import it: only os and errors at its top."""
    import ast

    with open(st.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert names == {"os", "__future__", "pyrunc.errors"}
