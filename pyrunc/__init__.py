"""pyrunc: an OCI container runtime, runc-compatible, usable as a Python library.

    import pyrunc
    c = pyrunc.Container.create("web", bundle="/tmp/bundle")
    c.start(); c.state(); c.kill(15); c.delete(force=True)

Names are resolved lazily so that the CLI's start-up imports only what it uses.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs ~3 ms per call

__version__ = "0.1.0"
__all__ = ["Container", "errors", "__version__"]

if TYPE_CHECKING:
    from typing import Any

    from pyrunc import errors
    from pyrunc.container.container import Container


def __getattr__(name: str) -> Any:
    if name == "Container":
        from pyrunc.container.container import Container

        return Container
    if name == "errors":
        import pyrunc.errors as errors

        return errors
    raise AttributeError(f"module 'pyrunc' has no attribute {name!r}")
