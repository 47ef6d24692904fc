"""The runtime's modes: runc's global flags as one record, for the CLI and the Python API.

The CLI makes one from its global flags (pyrunc/cli/main.py), the API takes one as
`options=` (pyrunc.Container.create, load, list, run), and create, exec and check read
their modes from it: nothing is set on a module from outside. Every command imports
this module, so it imports only the record helper (no dataclasses, no typing).
"""

from __future__ import annotations

from pyrunc.record import dataclass

DEFAULT_ROOT = "/run/pyrunc"


@dataclass(frozen=True)
class RuntimeOptions:
    """How containers are run; each field is the CLI's global flag of the same name.

    root: the state root (--root).
    systemd_cgroup: cgroupsPath is "slice:prefix:name", mapped onto cgroupfs (--systemd-cgroup).
    procfs_view: every container gets the lxcfs /proc view, as if each config had the
        run.pyrunc.procfs-view annotation (--procfs-view); the annotation still wins.
    rootless: --rootless true (True), false (False) or auto (None, runc's default);
        is_rootless() says what auto means for this process (pyrunc/rootless.py).
    debug: log debug lines, such as create's phases, and arm the import guard of the
        container side (pyrunc/process/importguard.py) (--debug).
    """

    root: str = DEFAULT_ROOT
    systemd_cgroup: bool = False
    procfs_view: bool = False
    rootless: bool | None = None
    debug: bool = False

    def is_rootless(self) -> bool:
        """Whether containers run rootless: cgroups the user cannot write are done
        without (pyrunc/cgroups/rootless.py). The flag when given, else runc's auto rule."""
        from pyrunc.rootless import decide

        return decide(self.rootless, self.systemd_cgroup)


# The options of a runtime called without any flag.
DEFAULTS = RuntimeOptions()
