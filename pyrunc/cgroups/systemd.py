"""The systemd cgroup driver (--systemd-cgroup on a systemd host with pure cgroup v2).

The container's cgroup is a transient scope that systemd makes and owns, as runc's
systemd driver does: `<prefix>-<name>.scope` in the slice of cgroupsPath
("slice:prefix:name"), Delegate=yes, started with the first process of the container
(stage 1, whose fork is the init) and the limits systemd knows as unit properties
(systemd_props.py). What systemd has no property for, and the device filter, go to the
cgroup files of the scope, through the v2 manager (the scope's directory is the
container's cgroup). A missing parent slice (kubepods-besteffort-pod1.slice) is
made by systemd itself when a unit asks for it, as under runc.

Without systemd as PID 1 or without a system bus the old mapping onto cgroupfs paths
stays (pyrunc/cgroups/paths.py). D-Bus (jeepney) is loaded only here, on this path.
"""

from __future__ import annotations

import os

from pyrunc.cgroups import resources_v2, systemd_props
from pyrunc.cgroups.manager import CGROUP_ROOT, CgroupManager
from pyrunc.cgroups.paths import expand_slice, systemd_unit
from pyrunc.cgroups.v2 import V2Manager
from pyrunc.errors import CgroupError
from pyrunc.record import dataclass, field

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.cgroups.placement import Placement
    from pyrunc.linux.dbus_systemd import Systemd

SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
_DEVICE_PROPS = ("DevicePolicy", "DeviceAllow")


def unusable_reason() -> str | None:
    """Why the systemd driver cannot be used on this host (None: it can)."""
    run = "/run/systemd/system"  # sd_booted()'s test, runc's IsRunningSystemd
    if not os.path.isdir(run) or os.path.islink(run):
        return "systemd is not PID 1 (no /run/systemd/system)"
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    path = address[len("unix:path=") :] if address.startswith("unix:path=") else ""
    if not address and not os.path.exists(SYSTEM_BUS_SOCKET):
        return f"no system D-Bus ({SYSTEM_BUS_SOCKET} is missing)"
    if path and not os.path.exists(path):
        return f"no system D-Bus ({path} is missing)"
    if os.geteuid() != 0:
        return "not root (a user's systemd instance is not supported yet)"
    return None


def _connect() -> Systemd:
    try:
        from pyrunc.linux.dbus_systemd import Systemd
    except ImportError as e:  # a systemd host must not fall back silently
        raise CgroupError(f"--systemd-cgroup: the systemd driver needs jeepney: {e}") from None
    return Systemd()


@dataclass
class SystemdManager(CgroupManager):
    container_id: str
    slice: str
    unit: str
    path: str
    unit_started: bool = False
    # create writes its limits before the first process exists; the scope needs one,
    # so they are kept and given with it (runc's order too: Apply, then Set)
    pending: dict = field(default_factory=dict)  # type: ignore[type-arg]

    @classmethod
    def for_container(cls, container_id: str, cgroups_path: str) -> SystemdManager:
        slice_name, unit = systemd_unit(cgroups_path, container_id)
        path = os.path.join(CGROUP_ROOT + expand_slice(slice_name).rstrip("/"), unit)
        return cls(container_id, slice_name, unit, path)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> SystemdManager:
        return cls(data["id"], data["slice"], data["unit"], data["path"], unit_started=True)

    def to_state(self) -> dict[str, Any]:
        # "version" v2: readers of the state (status, checkpoint) see a v2 cgroup
        return {
            "version": "v2",
            "driver": "systemd",
            "id": self.container_id,
            "slice": self.slice,
            "unit": self.unit,
            "path": self.path,
        }

    def _files(self) -> V2Manager:
        return V2Manager(self.path, [self.path])

    # -- creation --------------------------------------------------------------------------
    def create(self) -> None:
        """Nothing yet: systemd makes the scope's cgroup (and its slices) at apply."""

    def apply(self, pid: int, sub: dict[str, str] | None = None) -> None:
        if self.unit_started:  # exec: the scope is delegated, its files are ours
            self._files().apply(pid, sub)
            return
        resources, self.pending = self.pending, {}
        with _connect() as sd:
            props, for_files = systemd_props.unit_properties(
                self.container_id, self.slice, pid, resources, sd.version()
            )
            self._start(sd, props)
        self.unit_started = True
        self._files().set(for_files)

    def placement(self, sub: dict[str, str] | None = None) -> Placement | None:
        # exec: into the running scope's files as on v2; create: systemd moves the pid
        return self._files().placement(sub) if self.unit_started else None

    def _start(self, sd: Systemd, props: list[Any]) -> None:
        from pyrunc.linux.dbus_systemd import UNIT_EXISTS, DBusCallError

        try:
            result = sd.start_transient_unit(self.unit, props)
        except DBusCallError as e:
            if e.name != UNIT_EXISTS:
                raise
            # a failed unit of that name lingers until reset (runc resets and retries once)
            _reset_quietly(sd, self.unit)
            result = sd.start_transient_unit(self.unit, props)
        if result != "done":
            _reset_quietly(sd, self.unit)
            raise CgroupError(f"error creating systemd unit `{self.unit}`: got `{result}`")

    # -- resources ---------------------------------------------------------------------------
    def set(self, resources: dict[str, Any], update: bool = False) -> None:
        if not self.unit_started:
            # every refusal now, as the v2 manager would give it, the writes at apply
            systemd_props.resource_properties(resources, systemd_props.ALLOWED_CPUS_SINCE)
            list(resources_v2.to_files(resources))
            self.pending = resources
            return
        with _connect() as sd:
            props, for_files = systemd_props.resource_properties(resources, sd.version())
            if update:  # runc's update has no device rules: systemd's list stays too
                props = [p for p in props if p[0] not in _DEVICE_PROPS]
            if props:
                sd.set_unit_properties(self.unit, props)
        self._files().set(for_files, update)

    # -- state -------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        return self._files().pids()

    def freeze(self) -> None:
        self._files().freeze()

    def thaw(self) -> None:
        self._files().thaw()

    def freezer_state(self) -> str:
        return self._files().freezer_state()

    def stats(self) -> dict[str, Any]:
        return self._files().stats()

    def oom_kill_count(self) -> int:
        return self._files().oom_kill_count()

    def mount_views(self) -> list[tuple[str, str]]:
        return [(self.path, "")]

    # -- removal -----------------------------------------------------------------------------
    def destroy(self) -> None:
        """Stop the scope and wait for systemd (which removes its cgroup), then remove
        what may be left below it (sub-cgroups the container made)."""
        if self.unit_started or os.path.isdir(self.path):
            from pyrunc.linux.dbus_systemd import NO_SUCH_UNIT, DBusCallError

            with _connect() as sd:
                try:
                    sd.stop_unit(self.unit)  # a result other than done: runc goes on too
                except DBusCallError as e:
                    if e.name != NO_SUCH_UNIT:
                        raise
                _reset_quietly(sd, self.unit)
        self._files().destroy()
        self.unit_started = False


def _reset_quietly(sd: Systemd, unit: str) -> None:
    from pyrunc.linux.dbus_systemd import DBusCallError

    try:
        sd.reset_failed_unit(unit)
    except DBusCallError:
        pass  # not failed, or gone: nothing to reset
