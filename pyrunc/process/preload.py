"""What a container-side stage needs from the host's Python installation, decided
from the config and loaded while the host is still in reach.

The container's init (stage 1, then init) and exec's tenant leave the host part way:
they join or create a user namespace and become its root (a host uid such as 100000,
which may not traverse a 0700 directory above the installation, such as Debian's
/root), join a mount namespace, or switch their root to the image, where `sys.path`
would resolve to the image's files. From there on they import nothing
(pyrunc/process/importguard.py proves it in the tests). Modules the stage's code
imports at its top are loaded already (the runtime forks the loaded interpreter); this
module owns the rest, the lazily imported and lazily built pieces, and loads only what
this config uses, so a plain container pays nothing for seccomp, hooks or cgroup mounts.
"""

from __future__ import annotations

from pyrunc.container import hooks
from pyrunc.process.errors import step

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.linux.seccomp import Filter
    from pyrunc.spec.config import Config


class Prepared:
    """What was built ahead for the stage: the compiled seccomp filter.

    A compile error is kept and raised where the filter is taken, so the stage
    reports it at the same step and with the same text as before it moved here.
    """

    def __init__(self, section: dict[str, Any] | None) -> None:
        self._filter: Filter | None = None
        self._error: Exception | None = None
        if not section:
            return
        from pyrunc.linux import seccomp  # libseccomp is dlopened from the host, now

        try:
            with step("compiling seccomp filter"):
                self._filter = seccomp.prepare(section)
        except Exception as e:  # noqa: BLE001 - raised by seccomp_filter(), in its place
            self._error = e

    def seccomp_filter(self) -> Filter | None:
        if self._error is not None:
            raise self._error
        return self._filter


def for_init(cfg: Config) -> Prepared:
    """Load what the container's init will need for cfg; call it before stage 1 leaves."""
    if any(m.type == "cgroup" for m in cfg.mounts):
        import pyrunc.cgroups.mount  # noqa: F401 - init's cgroup mounter uses it
    if hooks.runs_inside(cfg.hooks):
        hooks.preload()
    return Prepared(cfg.linux.seccomp)


def for_exec(seccomp_section: dict[str, Any] | None) -> Prepared:
    """Load what a process exec'd into the container will need."""
    return Prepared(seccomp_section)
