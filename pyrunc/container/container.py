"""The Container type: the public handle on one container, backed by the state store."""

from __future__ import annotations

from typing import Any

from pyrunc.container import status as st
from pyrunc.container.store import DEFAULT_ROOT, StateStore

SPEC_VERSION = "1.3.0"


class Container:
    """One container under a state root. Obtain one with `create` or `load`."""

    def __init__(self, store: StateStore, record: dict[str, Any]) -> None:
        self.store = store
        self.record = record
        # The pty master of a terminal the caller relays itself (create's relay_console).
        self.console_master: int | None = None

    # -- construction ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        container_id: str,
        bundle: str = ".",
        root: str = DEFAULT_ROOT,
        *,
        pid_file: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
        console_socket: str | None = None,
        relay_console: bool = False,
    ) -> Container:
        """Create the container: its init waits for `start` when this returns."""
        from pyrunc.container.create import create

        return create(
            StateStore(root),
            container_id,
            bundle,
            pid_file=pid_file,
            no_pivot=no_pivot,
            no_new_keyring=no_new_keyring,
            preserve_fds=preserve_fds,
            console_socket=console_socket,
            relay_console=relay_console,
        )

    @classmethod
    def load(cls, container_id: str, root: str = DEFAULT_ROOT) -> Container:
        store = StateStore(root)
        return cls(store, store.read(container_id))

    @classmethod
    def list(cls, root: str = DEFAULT_ROOT) -> list[Container]:
        store = StateStore(root)
        out = []
        for cid in store.ids():
            try:
                out.append(cls(store, store.read(cid)))
            except Exception:  # noqa: BLE001 - a half-written or vanished entry is skipped
                continue
        return out

    # -- facts ------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def pid(self) -> int:
        return self.record["pid"]

    @property
    def state_dir(self) -> str:
        return self.store.dir(self.id)

    def status(self) -> str:
        if not self.record["pid"]:
            return self._creation_status()
        frozen = st.freezer_state(self.record.get("cgroup") or {})
        return st.derive(self.record["pid"], self.record["pid_start_time"], self.state_dir, frozen)

    def _creation_status(self) -> str:
        # No init recorded yet: creating while the runtime that creates it lives; if it
        # was killed, the creation is abandoned and only `delete` makes sense.
        creator = self.record.get("creator") or [0, None]
        return st.CREATING if st.is_alive(*creator) else st.STOPPED

    def state(self) -> dict[str, Any]:
        """The OCI state document (with runc's extra fields)."""
        status = self.status()
        doc: dict[str, Any] = {
            "ociVersion": SPEC_VERSION,
            "id": self.id,
            "pid": self.pid if status != st.STOPPED else 0,
            "status": status,
            "bundle": self.record["bundle"],
            "rootfs": self.record["rootfs"],
            "created": self.record["created"],
            "owner": self.record.get("owner", ""),
        }
        if self.record.get("annotations"):
            doc["annotations"] = self.record["annotations"]
        return doc

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        from pyrunc.container.start import start

        start(self)

    def kill(self, sig: int, all_processes: bool = False) -> None:
        from pyrunc.container.kill import kill

        kill(self, sig, all_processes)

    def exec(self, process, **options):  # noqa: ANN001, ANN003, ANN201
        """Start process (a spec.config.Process) in the container: see container.exec."""
        from pyrunc.container.exec import exec_process

        return exec_process(self, process, **options)

    def delete(self, force: bool = False) -> None:
        from pyrunc.container.delete import delete

        delete(self, force)

    # -- cgroups (pyrunc/container/{pause,resume,update,ps,events}.py) ----------------------
    def pause(self) -> None:
        from pyrunc.container.pause import pause

        pause(self)

    def resume(self) -> None:
        from pyrunc.container.resume import resume

        resume(self)

    def update(self, resources: dict[str, Any]) -> None:
        """Merge resources (zero: unchanged) into the limits of the live container."""
        from pyrunc.container.update import update

        update(self, resources)

    def processes(self) -> list[int]:
        from pyrunc.container.ps import pids

        return pids(self)

    def cgroup_manager(self):  # noqa: ANN201 - lazy import keeps cgroups off the state path
        from pyrunc.cgroups.manager import manager_from_state

        return manager_from_state(self.record.get("cgroup") or {})

    def __repr__(self) -> str:
        return f"Container(id={self.id!r}, pid={self.pid}, root={self.store.root!r})"
