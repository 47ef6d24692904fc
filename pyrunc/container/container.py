"""The Container type: the public handle on one container, backed by the state store.

This is the Python API (`pyrunc.Container`); the CLI is a thin user of it. Every
method imports what its operation needs when called, so `state` and `list` stay cheap.
"""

from __future__ import annotations

import os

from pyrunc.container import status as st
from pyrunc.container.store import StateStore
from pyrunc.options import DEFAULTS, RuntimeOptions
from pyrunc.record import replace

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, ParamSpec, TypeVar

    from pyrunc.cgroups.manager import CgroupManager
    from pyrunc.container.api_types import State, Stats
    from pyrunc.container.exec import Started
    from pyrunc.container.stdio import Stdio
    from pyrunc.spec.config import Process

    _P = ParamSpec("_P")
    _R = TypeVar("_R")

SPEC_VERSION = "1.3.0"


def _host_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """The API raises PyruncError only: an OSError from the kernel becomes HostError
    (still an OSError), with the line the CLI prints for it."""

    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except OSError as e:
            from pyrunc.errors import HostError, PyruncError

            if isinstance(e, PyruncError):
                raise
            raise HostError.of(e) from e

    # functools.wraps without functools (and the collections it imports).
    wrapper.__name__, wrapper.__qualname__ = method.__name__, method.__qualname__
    wrapper.__doc__, wrapper.__wrapped__ = method.__doc__, method  # type: ignore[attr-defined]
    return wrapper


def _options(root: str | None, options: RuntimeOptions | None) -> RuntimeOptions:
    """The options an API call runs with: `options` (default: the CLI's without flags),
    its state root replaced by `root` when that is given."""
    chosen = options if options is not None else DEFAULTS
    if root is not None and root != chosen.root:
        chosen = replace(chosen, root=root)
    return chosen


class Container:
    """One container under a state root. Obtain one with `create`, `load` or `list`."""

    def __init__(
        self, store: StateStore, record: dict[str, Any], options: RuntimeOptions | None = None
    ) -> None:
        self.store = store
        self.record = record
        # The modes it was created or loaded with; operations read theirs from here.
        self.options = options if options is not None else RuntimeOptions(root=store.root)
        # The pty master of a terminal the caller relays itself (create's relay_console).
        self.console_master: int | None = None
        self._exit_status: int | None = None  # once wait() reaped the init

    # -- construction ---------------------------------------------------------------
    @classmethod
    @_host_errors
    def create(
        cls,
        container_id: str,
        bundle: str = ".",
        root: str | None = None,
        *,
        options: RuntimeOptions | None = None,
        pid_file: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
        console_socket: str | None = None,
        stdin: Stdio = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        relay_console: bool = False,
    ) -> Container:
        """Create the container: its init waits for `start` when this returns.

        root: the state root (default: options.root, /run/pyrunc). options: the modes
        the CLI's global flags set (systemd_cgroup, procfs_view, ...); default none.
        stdin/stdout/stderr (an fd or a file object; default: this process's own) become
        the container process's fds 0-2. This process becomes a child subreaper (as
        conmon and containerd's shim are): the init is its child, for `wait`.
        """
        from pyrunc.container.create import create

        chosen = _options(root, options)

        def create_here() -> Container:
            return create(
                chosen,
                container_id,
                bundle,
                pid_file=pid_file,
                no_pivot=no_pivot,
                no_new_keyring=no_new_keyring,
                preserve_fds=preserve_fds,
                console_socket=console_socket,
                relay_console=relay_console,
            )

        if stdin is None and stdout is None and stderr is None:
            return create_here()  # the CLI's case: no at-fork hook, no threading import
        from pyrunc.container.stdio import redirected

        with redirected(stdin, stdout, stderr):
            return create_here()

    @classmethod
    @_host_errors
    def run(
        cls,
        container_id: str,
        bundle: str = ".",
        root: str | None = None,
        *,
        options: RuntimeOptions | None = None,
        stdin: Stdio = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        keep: bool = False,
    ) -> int:
        """create, start, wait and (unless keep) delete: the process's exit status
        (128+N when signal N ended it), as `pyrunc run` exits with."""
        c = cls.create(
            container_id,
            bundle,
            root,
            options=options,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            c.start()
            status = c.wait()
        except BaseException:
            c.delete(force=True)
            raise
        if not keep:
            c.delete(force=True)
        return 0 if status is None else status

    @classmethod
    @_host_errors
    def load(
        cls, container_id: str, root: str | None = None, *, options: RuntimeOptions | None = None
    ) -> Container:
        """The container with this ID (ContainerNotExist if there is none)."""
        chosen = _options(root, options)
        store = StateStore(chosen.root)
        return cls(store, store.read(container_id), chosen)

    @classmethod
    @_host_errors
    def list(
        cls, root: str | None = None, *, options: RuntimeOptions | None = None
    ) -> builtins.list[Container]:
        """Every container under root, as `pyrunc list` shows them."""
        chosen = _options(root, options)
        store = StateStore(chosen.root)
        out = []
        for cid in store.ids():
            try:
                out.append(cls(store, store.read(cid), chosen))
            except Exception:  # noqa: BLE001 - a half-written or vanished entry is skipped
                continue
        return out

    # -- facts ------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def pid(self) -> int:
        """The init's host pid (0 while creating)."""
        return int(self.record["pid"])

    @property
    def bundle(self) -> str:
        return str(self.record["bundle"])

    @property
    def root(self) -> str:
        """The state root this container is recorded under."""
        return self.store.root

    @property
    def state_dir(self) -> str:
        return self.store.dir(self.id)

    def status(self) -> str:
        """creating, created, running, paused or stopped, as the kernel says now."""
        if not self.record["pid"]:
            return self._creation_status()
        frozen = st.freezer_state(self.record.get("cgroup") or {})
        return st.derive(self.record["pid"], self.record["pid_start_time"], self.state_dir, frozen)

    def _creation_status(self) -> str:
        # No init recorded yet: creating while the runtime that creates it lives; if it
        # was killed, the creation is abandoned and only `delete` makes sense.
        creator = self.record.get("creator") or [0, None]
        return st.CREATING if st.is_alive(*creator) else st.STOPPED

    def state(self) -> State:
        """The OCI state document (with runc's extra fields), as `pyrunc state` prints."""
        status = self.status()
        doc: State = {
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
    @_host_errors
    def start(self) -> None:
        """Run the user's process in the created container (returns once it exec'd)."""
        from pyrunc.container.start import start

        start(self)

    @_host_errors
    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the init exits. Its exit status (128+N for signal N) when this
        process is its parent (it created the container, or is the child subreaper the
        init was re-parented to); None when another process is."""
        from pyrunc.container.wait import wait_exit

        if self._exit_status is not None or self.pid <= 0:
            return self._exit_status
        if not wait_exit(self.pid, timeout):
            from pyrunc.errors import Timeout

            raise Timeout(f"container {self.id}: still running after {timeout}s")
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return None
        self._exit_status = _exit_code(status)
        return self._exit_status

    @_host_errors
    def kill(self, sig: int | str = "SIGTERM", all_processes: bool = False) -> None:
        """Signal the init (all_processes: every process in the container's cgroup).
        sig: a number or a name as `pyrunc kill` takes it (TERM, SIGKILL, RTMIN+1)."""
        from pyrunc.container.kill import kill
        from pyrunc.container.signals import parse_signal

        if not isinstance(sig, str) and not _is_int(sig):
            from pyrunc.errors import InvalidArgument

            raise InvalidArgument(f"invalid signal: {sig!r}")
        kill(self, parse_signal(str(sig)), all_processes)

    @_host_errors
    def exec(
        self,
        args: Sequence[str],
        *,
        env: Sequence[str] = (),
        cwd: str = "",
        user: str | int = "",
        stdin: Stdio = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        detach: bool = False,
        ignore_paused: bool = False,
    ) -> int:
        """Run args in the container with its config's process settings, as `pyrunc exec`
        (env added to the config's, cwd and user "uid[:gid]" replacing them).

        Waits and returns the exit status (128+N for signal N); with detach=True returns
        the process's host pid at once (the caller then reaps it: os.waitpid).
        Errors read "exec failed: ...", as the CLI prints them.
        """
        from pyrunc.container.exec import Overrides, process_from_config
        from pyrunc.errors import InvalidArgument, PyruncError

        try:
            if isinstance(args, str):
                raise InvalidArgument("exec: args: expected a list of strings")
            wanted = Overrides(args=tuple(args), env=tuple(env), cwd=cwd, user=str(user))
            proc = process_from_config(self, wanted)
            with _stdio(stdin, stdout, stderr):
                started = self.exec_process(proc, ignore_paused=ignore_paused)
        except PyruncError as e:
            e.args = (f"exec failed: {e}",)  # the class stays: callers catch InvalidState...
            raise
        if detach:
            return started.pid
        _, status = os.waitpid(started.pid, 0)
        return _exit_code(status)

    @_host_errors
    def exec_process(self, process: Process, **options: Any) -> Started:
        """Start a spec.config.Process in the container (the CLI's exec): see container.exec."""
        from pyrunc.container.exec import exec_process

        return exec_process(self, process, **options)

    @_host_errors
    def delete(self, force: bool = False) -> None:
        """Remove the stopped container (force: kill it first), leaving nothing behind."""
        from pyrunc.container.delete import delete

        delete(self, force)
        self._reap()

    def _reap(self) -> None:
        # A container this process created has its init as our child: no zombie left.
        if self._exit_status is None and self.pid > 0:
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass

    # -- cgroups (pyrunc/container/{pause,resume,update,ps,events}.py) ----------------------
    @_host_errors
    def pause(self) -> None:
        """Freeze every process of the container."""
        from pyrunc.container.pause import pause

        pause(self)

    @_host_errors
    def resume(self) -> None:
        from pyrunc.container.resume import resume

        resume(self)

    @_host_errors
    def update(
        self,
        resources: Mapping[str, Any],
        *,
        l3_cache_schema: str | None = None,
        mem_bw_schema: str | None = None,
    ) -> None:
        """Merge LinuxResources (zero or absent: unchanged) into the live container's
        limits, as `pyrunc update -r` does: {"memory": {"limit": 128 << 20}}; the
        schemas (`update --l3-cache-schema/--mem-bw-schema`) go to its resctrl group."""
        from pyrunc.container.update import update

        schemas = {"l3CacheSchema": l3_cache_schema or "", "memBwSchema": mem_bw_schema or ""}
        update(self, dict(resources), schemas)

    @_host_errors
    def stats(self) -> Stats:
        """Cgroup statistics: the `data` of `pyrunc events --stats`, key for key."""
        from pyrunc.container.events import stats_event

        data: Stats = stats_event(self)["data"]
        return data

    @_host_errors
    def processes(self) -> builtins.list[int]:
        """Host pids of every process in the container's cgroup (`pyrunc ps -f json`)."""
        from pyrunc.container.ps import pids

        return pids(self)

    @_host_errors
    def ps(self, args: Sequence[str] = ()) -> str:
        """`ps` output (default -ef) filtered to the container, as `pyrunc ps` prints it."""
        from pyrunc.container.ps import table

        return table(self, list(args))

    def cgroup_manager(self) -> CgroupManager | None:
        from pyrunc.cgroups.manager import manager_from_state

        return manager_from_state(self.record.get("cgroup") or {})

    def __repr__(self) -> str:
        return f"Container(id={self.id!r}, pid={self.pid}, root={self.store.root!r})"


def _stdio(stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Any:
    from pyrunc.container.stdio import redirected

    return redirected(stdin, stdout, stderr)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _exit_code(status: int) -> int:
    """As `pyrunc run` and `exec` exit: the code, or 128+N when signal N ended it."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
