"""SystemdManager's conversation with systemd (pyrunc/cgroups/systemd.py), with a stand-in
for the bus: the orders and recoveries the VM tests cannot provoke (a lingering failed
unit, a failed job, a unit already gone). The real conversation is tested against
systemd in tests/test_systemd_cgroup.py (tests/vm/run-in-systemd-v2)."""

from __future__ import annotations

import pytest

from pyrunc.cgroups import systemd
from pyrunc.cgroups.manager import manager_from_state
from pyrunc.errors import CgroupError
from pyrunc.linux.dbus_systemd import NO_SUCH_UNIT, UNIT_EXISTS, DBusCallError


class FakeSystemd:
    def __init__(self, start_errors: list[str] | None = None, result: str = "done") -> None:
        self.calls: list[tuple] = []
        self.start_errors = list(start_errors or [])
        self.result = result
        self.stop_error = ""

    def __enter__(self) -> FakeSystemd:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def version(self) -> int:
        return 252

    def start_transient_unit(self, unit: str, props: list) -> str:
        self.calls.append(("start", unit, dict(props)))
        if self.start_errors:
            name = self.start_errors.pop(0)
            raise DBusCallError(f"systemd StartTransientUnit: {name}", name)
        return self.result

    def stop_unit(self, unit: str) -> str:
        self.calls.append(("stop", unit))
        if self.stop_error:
            raise DBusCallError("systemd StopUnit", self.stop_error)
        return "done"

    def set_unit_properties(self, unit: str, props: list) -> None:
        self.calls.append(("set", unit, dict(props)))

    def reset_failed_unit(self, unit: str) -> None:
        self.calls.append(("reset", unit))


class FakeFiles:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def set(self, resources: dict, update: bool = False) -> None:
        self.calls.append(("set", resources, update))

    def apply(self, pid: int, sub: dict | None = None) -> None:
        self.calls.append(("apply", pid))

    def destroy(self) -> None:
        self.calls.append(("destroy",))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeSystemd, FakeFiles]:
    bus, files = FakeSystemd(), FakeFiles()
    monkeypatch.setattr(systemd, "_connect", lambda: bus)
    monkeypatch.setattr(systemd.SystemdManager, "_files", lambda self: files)
    return bus, files


def manager() -> systemd.SystemdManager:
    return systemd.SystemdManager.for_container("c1", "machine.slice:pyt:c1")


def test_path_is_the_scope_in_the_expanded_slice() -> None:
    m = systemd.SystemdManager.for_container("c1", "a-b.slice:p:c1")
    assert (m.slice, m.unit) == ("a-b.slice", "p-c1.scope")
    assert m.path == "/sys/fs/cgroup/a.slice/a-b.slice/p-c1.scope"


def test_limits_wait_for_the_first_process(fakes: tuple[FakeSystemd, FakeFiles]) -> None:
    bus, files = fakes
    m = manager()
    m.create()
    m.set({"memory": {"limit": 1 << 26}, "cpu": {"quota": 5001, "period": 100000}})
    assert bus.calls == [] and files.calls == []  # no process yet: nothing asked
    m.apply(4242)
    (start,) = bus.calls
    assert start[:2] == ("start", "pyt-c1.scope")
    assert start[2]["PIDs"] == ("au", [4242]) and start[2]["Delegate"] == ("b", True)
    assert start[2]["MemoryMax"] == ("t", 1 << 26)
    # the files after the unit, with the quota systemd keeps (rounded up to 1%)
    assert files.calls == [
        ("set", {"memory": {"limit": 1 << 26}, "cpu": {"quota": 6000, "period": 100000}}, False)
    ]


def test_config_errors_before_any_process(fakes: tuple[FakeSystemd, FakeFiles]) -> None:
    with pytest.raises(CgroupError, match="linux.resources.cpu.cpus"):
        manager().set({"cpu": {"cpus": "3-1"}})
    assert fakes[0].calls == []


def test_a_lingering_unit_is_reset_and_tried_once_more(
    fakes: tuple[FakeSystemd, FakeFiles],
) -> None:
    bus, _ = fakes
    bus.start_errors = [UNIT_EXISTS]
    manager().apply(1)
    assert [c[0] for c in bus.calls] == ["start", "reset", "start"]


def test_a_unit_that_exists_twice_is_refused(fakes: tuple[FakeSystemd, FakeFiles]) -> None:
    bus, files = fakes
    bus.start_errors = [UNIT_EXISTS, UNIT_EXISTS]
    with pytest.raises(CgroupError, match="UnitExists"):
        manager().apply(1)
    assert files.calls == []


def test_a_failed_job_is_an_error_and_reset(fakes: tuple[FakeSystemd, FakeFiles]) -> None:
    bus, files = fakes
    bus.result = "failed"
    with pytest.raises(
        CgroupError, match="^error creating systemd unit `pyt-c1.scope`: got `failed`"
    ):
        manager().apply(1)
    assert bus.calls[-1] == ("reset", "pyt-c1.scope") and files.calls == []


def test_update_sets_properties_then_files_without_devices(
    fakes: tuple[FakeSystemd, FakeFiles],
) -> None:
    bus, files = fakes
    m = systemd.SystemdManager.from_state(manager().to_state())
    m.set({"pids": {"limit": 30}, "devices": [{"allow": True, "access": "rwm"}]}, update=True)
    (set_call,) = bus.calls
    assert set_call[2] == {"TasksMax": ("t", 30)}
    assert files.calls[0][2] is True


def test_exec_joins_through_the_files(fakes: tuple[FakeSystemd, FakeFiles]) -> None:
    bus, files = fakes
    systemd.SystemdManager.from_state(manager().to_state()).apply(77)
    assert bus.calls == [] and files.calls == [("apply", 77)]


def test_delete_stops_the_unit_even_when_gone(fakes: tuple[FakeSystemd, FakeFiles]) -> None:
    bus, files = fakes
    bus.stop_error = NO_SUCH_UNIT  # the scope went away with its last process
    systemd.SystemdManager.from_state(manager().to_state()).destroy()
    assert [c[0] for c in bus.calls] == ["stop", "reset"]
    assert files.calls == [("destroy",)]


def test_state_names_the_driver() -> None:
    state = manager().to_state()
    assert state["version"] == "v2" and state["driver"] == "systemd"
    again = manager_from_state(state)
    assert isinstance(again, systemd.SystemdManager) and again.unit == "pyt-c1.scope"
