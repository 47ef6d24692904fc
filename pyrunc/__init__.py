"""pyrunc: an OCI container runtime, runc-compatible, usable as a Python library.

    import pyrunc
    bundle = pyrunc.Bundle.create("/tmp/web", rootfs="/srv/rootfs", args=["true"])
    status = pyrunc.Container.run("web", bundle.path)      # create, start, wait, delete
    with_flags = pyrunc.RuntimeOptions(systemd_cgroup=True)  # the CLI's global flags
    pyrunc.Container.run("web", bundle.path, options=with_flags)

The names in __all__ are the stable API (see the README's "Python API"). They are
resolved lazily so that the CLI's start-up imports only what it uses.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

__version__ = "0.1.0"
__all__ = ["Bundle", "Container", "RuntimeOptions", "State", "Stats", "errors", "__version__"]

if TYPE_CHECKING:
    from typing import Any

    from pyrunc import errors
    from pyrunc.bundle import Bundle
    from pyrunc.container.api_types import State, Stats
    from pyrunc.container.container import Container
    from pyrunc.options import RuntimeOptions

# name -> (module, attribute); attribute None: the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "Bundle": ("pyrunc.bundle", "Bundle"),
    "Container": ("pyrunc.container.container", "Container"),
    "RuntimeOptions": ("pyrunc.options", "RuntimeOptions"),  # the CLI's global flags
    "State": ("pyrunc.container.api_types", "State"),
    "Stats": ("pyrunc.container.api_types", "Stats"),
    "errors": ("pyrunc.errors", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pyrunc' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
