"""A guard that makes a container-side stage fail loudly if it imports after leaving the host.

Once a stage joins the container's namespaces, becomes the mapped user or switches
its root, the host's Python installation is either out of reach (a 0700 directory
above it, such as Debian's /root) or, worse, `sys.path` resolves inside the
container's image, where a planted module would run as the container's root
before seccomp and the capability drop. So everything such a stage needs is
loaded before (pyrunc/process/preload.py), and this guard proves it.

`arm()` is called right before the stage leaves the host. When the guard is
requested (PYRUNC_IMPORT_GUARD=1 in the runtime's environment, as the test suite
sets it, or the runtime's debug option: `--debug`, RuntimeOptions.debug, passed
down in InitOptions/TenantOptions), it puts a finder first on `sys.meta_path` that
refuses every import that is not already loaded, and an audit hook that refuses
to open a Python source, bytecode or extension file under the installation's
roots (traceback's linecache, a codec module) or to dlopen a library by name
(ctypes, find_library). Each refusal raises ImportAfterLeavingHost naming what
was asked for; `check()`, called before the stage reports ready, fails again in
case some `except` swallowed the first error.

Not armed, nothing of this is installed: the stage then costs nothing extra.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

ENV = "PYRUNC_IMPORT_GUARD"
# What the audit hook treats as the Python installation's own files.
_PYTHON_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw", ".so", ".pth", ".zip")


class ImportAfterLeavingHost(RuntimeError):
    """Not an ImportError: `try: import x except ImportError` must not hide it."""


def requested(debug: bool) -> bool:
    """The runtime's debug option (--debug, RuntimeOptions.debug), or PYRUNC_IMPORT_GUARD=1."""
    return debug or os.environ.get(ENV) == "1"


def arm(who: str, debug: bool) -> None:
    """Called right before `who` (e.g. "the container's init") leaves the host."""
    if not requested(debug) or _armed() is not None:
        return
    guard = _Guard(who, _python_roots())
    sys.meta_path.insert(0, guard)
    sys.addaudithook(guard.audit)  # for the rest of this process: it execs or exits


def check() -> None:
    """Fail if anything was refused, even if the error was caught on the way."""
    guard = _armed()
    if guard is not None and guard.refused:
        raise ImportAfterLeavingHost(guard.message(guard.refused[0]))


def _armed() -> _Guard | None:
    for finder in sys.meta_path:
        if isinstance(finder, _Guard):
            return finder
    return None


def _python_roots() -> tuple[str, ...]:
    """The directories of the Python installation and of every sys.path entry."""
    found = (
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        *sys.path,
    )  # fmt: skip
    roots: set[str] = set()
    for path in found:
        if not path or not os.path.isabs(path):
            continue  # "" is the cwd: not a place of the installation
        for form in (os.path.normpath(path), os.path.realpath(path)):
            if form != "/":
                roots.add(form + "/")
    return tuple(sorted(roots))


class _Guard:
    """A meta path finder that finds nothing but an error, and the matching audit hook."""

    def __init__(self, who: str, roots: tuple[str, ...]) -> None:
        self.who = who
        self.roots = roots
        self.refused: list[str] = []

    def message(self, what: str) -> str:
        return (
            f"{what} after {self.who} left the host (credentials, user namespace or "
            "root switch): load it before, in pyrunc/process/preload.py"
        )

    def refuse(self, what: str) -> None:
        self.refused.append(what)
        raise ImportAfterLeavingHost(self.message(what))

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: Any = None) -> None:
        self.refuse(f"module {name!r} was imported")

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path = args[0]
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(path, str) and self._is_python_file(path):
                self.refuse(f"file {path!r} of the Python installation was opened")
        elif event == "ctypes.dlopen" and args[0] is not None:
            self.refuse(f"library {args[0]!r} was loaded")

    def _is_python_file(self, path: str) -> bool:
        return path.endswith(_PYTHON_SUFFIXES) and path.startswith(self.roots)
