"""The state store: one directory per container under the root, with
state.json written atomically and an flock per container.

Layout: <root>/<id>/state.json, <root>/<id>/exec.fifo (present from create
until start), and the lock held on the container directory itself.
"""

from __future__ import annotations

import errno
import fcntl
import os

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.errors import (
    ContainerExists,
    ContainerNotExist,
    CorruptState,  # defined there; importable from here as before
    InvalidArgument,
)
from pyrunc.options import DEFAULT_ROOT  # the runtime's options own it; importable from here

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"

# Go's [\w+-\.]: ASCII word characters and the range '+' to '.' (+ , - .).
# Go's [\w+-\.]: ASCII word characters and the range + to . (+ , - .); no regex
# module on the hot path.
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+,-.")
_NAME_MAX = 255  # the ID names the state directory


def validate_id(container_id: str) -> None:
    """runc's rule: word characters, '+', ',', '-' and '.', and never '.' or '..' alone."""
    if not container_id:
        raise InvalidArgument("container id cannot be empty")
    # fullmatch: Python's `$` would also accept a trailing newline, Go's does not.
    if not _ID_CHARS.issuperset(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id format: {container_id!r}")
    if len(container_id) > _NAME_MAX:
        raise InvalidArgument(f"invalid container id: longer than {_NAME_MAX} characters")


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """tmp file in the same directory + fsync-free rename: readers see old or new, whole."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode
        )
        try:
            # A short write (full disk) would rename half a record into place.
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as e:
        # No stray tmp file; the error names the file meant, not "no space left" alone.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OSError(e.errno, e.strerror, path) from None


# What every command reads from a record; anything else is optional.
_REQUIRED = {"id": str, "pid": int, "bundle": str, "rootfs": str, "created": str}


def _parse_record(container_id: str, data: bytes) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError alike
        raise CorruptState(container_id, str(e).split(":")[0].lower()) from None
    if not isinstance(record, dict):
        raise CorruptState(container_id, "not a JSON object")
    for key, kind in _REQUIRED.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            raise CorruptState(container_id, f"{key}: missing or not a {kind.__name__}")
    if "pid_start_time" not in record:
        raise CorruptState(container_id, "pid_start_time: missing")
    if record["id"] != container_id:
        raise CorruptState(container_id, f"id: {record['id']!r} is another container's")
    return record


def _same_dir(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


class StateStore:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = os.path.abspath(root)

    def dir(self, container_id: str) -> str:
        validate_id(container_id)
        return os.path.join(self.root, container_id)

    def new(self, container_id: str) -> str:
        """Create the container's directory; an existing one means the ID is taken."""
        d = self.dir(container_id)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise ContainerExists(container_id) from None
        return d

    def exists(self, container_id: str) -> bool:
        return os.path.isdir(self.dir(container_id))

    def lock(self, container_id: str, shared: bool = False) -> _Lock:
        """`with store.lock(id) as state_dir:` holds the container's flock; raises
        ContainerNotExist if it has no directory."""
        return _Lock(self.dir(container_id), container_id, shared)

    def read(self, container_id: str) -> dict[str, Any]:
        try:
            with open(os.path.join(self.dir(container_id), STATE_FILE), "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotExist(container_id) from None
        return _parse_record(container_id, data)

    def write(self, container_id: str, state: dict[str, Any]) -> None:
        write_atomic(os.path.join(self.dir(container_id), STATE_FILE), json.dumps(state).encode())

    def remove(self, container_id: str) -> None:
        _remove_tree(self.dir(container_id))

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isfile(os.path.join(self.root, n, STATE_FILE)))


class _Lock:
    """The flock on a container's directory (a class, not contextlib: its import costs
    ~4 ms per CLI call)."""

    def __init__(self, directory: str, container_id: str, shared: bool) -> None:
        self.directory, self.container_id, self.shared = directory, container_id, shared
        self.fd = -1

    def __enter__(self) -> str:
        try:
            self.fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotExist(self.container_id) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX)
            if not _same_dir(self.fd, self.directory):  # deleted (or re-created) meanwhile
                raise ContainerNotExist(self.container_id)
        except BaseException:
            self.__exit__()
            raise
        return self.directory

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Give the lock up (before the with-block ends too); a second call is a no-op."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _remove_tree(path: str) -> None:
    """rm -rf of a state dir, never following symlinks (shutil costs ~10 ms to import)."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        entries = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _remove_tree(entry.path)
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
    try:
        os.rmdir(path)
    except NotADirectoryError:
        os.unlink(path)
    except FileNotFoundError:
        pass
