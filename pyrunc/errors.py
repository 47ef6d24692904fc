"""Exception classes of pyrunc.

Every error carries the one-line message the CLI prints (runc's text where
engines match on it), so the Python API and the CLI report the same thing.

This is the ground floor: every module imports it, so it imports nothing of pyrunc
(tests/unit/test_import_graph.py keeps it so).
"""

from __future__ import annotations

import os

__all__ = [
    "CgroupError",
    "ConfigError",
    "ContainerExists",
    "ContainerNotExist",
    "ContainerNotRunning",
    "CorruptState",
    "CreateFailed",
    "ExecFailed",
    "HookError",
    "HostError",
    "InvalidArgument",
    "InvalidState",
    "PyruncError",
    "Timeout",
]


class PyruncError(Exception):
    """Base of every error pyrunc raises on purpose."""


class ConfigError(PyruncError):
    """config.json is missing, unreadable, schema-invalid or semantically wrong."""


class InvalidArgument(PyruncError):
    """A command-line argument or API parameter is wrong (bad ID, bad signal...)."""


class ContainerNotExist(PyruncError):
    def __init__(self, container_id: str = "") -> None:
        super().__init__("container does not exist")
        self.container_id = container_id


class ContainerExists(PyruncError):
    def __init__(self, container_id: str = "") -> None:
        super().__init__("container with given ID already exists")
        self.container_id = container_id


class ContainerNotRunning(PyruncError):
    def __init__(self) -> None:
        super().__init__("container not running")


class InvalidState(PyruncError):
    """The operation is not allowed in the container's current status."""


class CreateFailed(PyruncError):
    """Setting up the container failed; everything created was undone."""


class HookError(PyruncError):
    """A hook failed, ran past its timeout or could not be started (container/hooks.py)."""


class ExecFailed(PyruncError):
    """The process could not be started in the container (container/exec.py, process/tenant.py).

    Its text is runc's ("cannot exec in a stopped container"); the CLI and the API's
    Container.exec print it after "exec failed: ".
    """


# The store's file name (container/store.py STATE_FILE), named here so that this module
# imports nothing of pyrunc: every module imports it.
_STATE_FILE = "state.json"


class CorruptState(PyruncError):
    """state.json cannot be read back (truncated, overwritten, hand-edited)."""

    def __init__(self, container_id: str, reason: str) -> None:
        super().__init__(
            f"container {container_id}: {_STATE_FILE} is corrupt ({reason}); "
            "`delete --force` removes what can be found"
        )
        self.container_id = container_id


class CgroupError(PyruncError):
    """A cgroup could not be created, configured or removed."""


class Timeout(PyruncError):
    """Waiting (Container.wait with a timeout) took longer than allowed."""


class HostError(PyruncError, OSError):
    """The host refused an operation: an OSError (errno, strerror and filename kept),
    reported as the CLI prints it ("/run/x: not a directory")."""

    def __str__(self) -> str:
        if not self.errno:
            return OSError.__str__(self)
        text = os.strerror(self.errno).lower()
        return f"{self.filename}: {text}" if self.filename else text

    @classmethod
    def of(cls, e: OSError) -> HostError:
        return cls(e.errno, e.strerror, e.filename) if e.errno else cls(*e.args)
