"""systemd's manager over the system D-Bus: transient units, their properties, their jobs.

jeepney (pure Python, no dependencies, no event loop) speaks the wire protocol; it is
imported here only, and this module only by the systemd cgroup driver
(pyrunc/cgroups/systemd.py), so no other command pays for it. Every call is bounded:
systemd answers in milliseconds, a job that does not end in JOB_TIMEOUT is an error
(runc waits 30 s too).
"""

from __future__ import annotations

import time

from jeepney import DBusAddress, MatchRule, new_method_call  # type: ignore[import-untyped]
from jeepney.io.blocking import (  # type: ignore[import-untyped]
    DBusConnection,
    open_dbus_connection,
)
from jeepney.wrappers import DBusErrorResponse, unwrap_msg  # type: ignore[import-untyped]

from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

CALL_TIMEOUT = 10.0
JOB_TIMEOUT = 30.0
_MANAGER = DBusAddress(
    "/org/freedesktop/systemd1",
    bus_name="org.freedesktop.systemd1",
    interface="org.freedesktop.systemd1.Manager",
)
UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"


class DBusCallError(CgroupError):
    """systemd refused a call: its error name kept (UnitExists is expected)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class Systemd:
    """One connection to the system bus, subscribed to the manager's job signals."""

    def __init__(self) -> None:
        try:
            self.conn: DBusConnection = open_dbus_connection("SYSTEM", auth_timeout=CALL_TIMEOUT)
        except (OSError, ValueError) as e:
            raise CgroupError(f"systemd cgroup driver: no system bus: {e}") from None
        self.call("Subscribe", "", ())
        self._version: int | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Systemd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, signature: str, body: tuple[Any, ...]) -> tuple[Any, ...]:
        msg = new_method_call(_MANAGER, method, signature or None, body)
        try:
            reply = self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT)
            return unwrap_msg(reply)
        except DBusErrorResponse as e:
            detail = e.data[0] if e.data else ""
            raise DBusCallError(f"systemd {method}: {e.name}: {detail}", e.name or "") from None
        except TimeoutError:
            raise CgroupError(f"systemd {method}: no answer in {CALL_TIMEOUT:.0f}s") from None

    def version(self) -> int:
        """The manager's version ("252.38-1~deb12u1" -> 252); 0 when unreadable."""
        if self._version is None:
            props = DBusAddress(
                "/org/freedesktop/systemd1",
                bus_name="org.freedesktop.systemd1",
                interface="org.freedesktop.DBus.Properties",
            )
            msg = new_method_call(props, "Get", "ss", (_MANAGER.interface, "Version"))
            try:
                (value,) = unwrap_msg(self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT))
                digits = value[1].lstrip("v")
                n = len(digits) - len(digits.lstrip("0123456789"))
                self._version = int(digits[:n] or 0)
            except (DBusErrorResponse, TimeoutError, IndexError, ValueError):
                self._version = 0
        return self._version

    # -- jobs ----------------------------------------------------------------------------
    def run_job(self, method: str, signature: str, body: tuple[Any, ...], unit: str) -> str:
        """Call a method that queues a job and wait for it: its result ("done", "failed"...).

        The filter is in place before the call: the JobRemoved signal may come before
        the call's own reply."""
        rule = MatchRule(
            type="signal",
            interface=_MANAGER.interface,
            member="JobRemoved",
            path=_MANAGER.object_path,
        )
        self.call_bus("AddMatch", rule.serialise())
        with self.conn.filter(rule, bufsize=64) as signals:
            (job,) = self.call(method, signature, body)
            end = time.monotonic() + JOB_TIMEOUT
            while True:
                while signals:
                    _id, path, _unit, result = signals.popleft().body
                    if path == job:
                        return result
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise CgroupError(
                        f"systemd: timed out after {JOB_TIMEOUT:.0f}s waiting for {unit}"
                    )
                try:
                    self.conn.recv_messages(timeout=remaining)
                except TimeoutError:
                    continue  # the deadline check above says so
                except OSError as e:
                    raise CgroupError(f"systemd: waiting for {unit}: {e}") from None

    def call_bus(self, method: str, arg: str) -> None:
        bus = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )
        unwrap_msg(
            self.conn.send_and_get_reply(
                new_method_call(bus, method, "s", (arg,)), timeout=CALL_TIMEOUT
            )
        )

    # -- units ---------------------------------------------------------------------------
    def start_transient_unit(self, unit: str, props: list[tuple[str, Any]]) -> str:
        return self.run_job(
            "StartTransientUnit", "ssa(sv)a(sa(sv))", (unit, "replace", props, []), unit
        )

    def stop_unit(self, unit: str) -> str:
        return self.run_job("StopUnit", "ss", (unit, "replace"), unit)

    def set_unit_properties(self, unit: str, props: list[tuple[str, Any]]) -> None:
        self.call("SetUnitProperties", "sba(sv)", (unit, True, props))

    def reset_failed_unit(self, unit: str) -> None:
        self.call("ResetFailedUnit", "s", (unit,))

    def unit_loaded(self, unit: str) -> bool:
        """Whether systemd has the unit now (GetUnit: loaded units only)."""
        try:
            self.call("GetUnit", "s", (unit,))
        except DBusCallError as e:
            if e.name == NO_SUCH_UNIT:
                return False
            raise
        return True
