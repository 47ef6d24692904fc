"""Running the real pyrunc CLI against real bundles, and reading the kernel's view."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tools.busybox_bundle import default_config, write_config  # noqa: E402

PYRUNC = [sys.executable, "-m", "pyrunc"]
# The CLI under test is this tree's, whatever copy of pyrunc is installed.
TREE_ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Runtime:
    """The pyrunc CLI with a private state root."""

    def __init__(self, root: str, argv: list[str] | None = None) -> None:
        self.root = root
        self.argv = argv or PYRUNC

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60,
                 global_args: tuple[str, ...] = (), cwd: str | None = None) -> Result:
        cmd = [*self.argv, "--root", self.root, *global_args, *args]
        # Files, not pipes: a created or detached container keeps its stdio open,
        # and waiting for EOF on a pipe would wait for the container.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None,
                               stdout=out, stderr=err, timeout=timeout, cwd=cwd,
                               stdin=None if stdin is not None else subprocess.DEVNULL,
                               env=TREE_ENV)
            out.seek(0)
            err.seek(0)
            return Result(p.returncode, out.read().decode(errors="replace"),
                          err.read().decode(errors="replace"))

    def ok(self, *args: str, **kw: Any) -> Result:
        r = self(*args, **kw)
        assert r.code == 0, f"pyrunc {' '.join(args)} failed ({r.code}): {r.err}"
        return r

    def state(self, cid: str) -> dict[str, Any]:
        return self.ok("state", cid).json()


class Bundle:
    """A bundle dir with a busybox rootfs and an editable config."""

    def __init__(self, path: str, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    def set_args(self, *args: str) -> Bundle:
        self.config["process"]["args"] = list(args)
        return self.save()

    def save(self) -> Bundle:
        write_config(self.path, self.config)
        return self


def fresh_config(args: list[str]) -> dict[str, Any]:
    return default_config(args)


def proc_ns(pid: int | str, ns: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{ns}")


def proc_status(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(field)


def mountinfo(pid: int | str = "self") -> list[str]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return f.read().splitlines()


def reap_zombies() -> None:
    """The test process is a child subreaper (as conmon and the shim are): collect orphans."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def is_dead(pid: int) -> bool:
    reap_zombies()
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def error_line(stderr: str) -> str:
    """The msg of a runc-style `time=... level=error msg="..."` line (or the bare text)."""
    line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if ' msg="' in line:
        return json.loads(line.split(" msg=", 1)[1])
    return line


# runc's lead on every create/run error ("runc create failed: "), with pyrunc's name;
# tests/test_errors.py checks it is there.
_FAILED_LEAD = re.compile(r"pyrunc (create|run) failed: ")


def error_message(stderr: str) -> str:
    """What went wrong: error_line() without the "pyrunc create failed: " lead."""
    line = error_line(stderr)
    m = _FAILED_LEAD.match(line)
    return line[m.end() :] if m else line


@contextmanager
def created(runtime: Runtime, bundle: Bundle, cid: str) -> Iterator[int]:
    """A created container (its init parked before start, set up in full); its host pid.
    Deleted (forced) on the way out, whatever the test did."""
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        yield runtime.state(cid)["pid"]
    finally:
        runtime("delete", "--force", cid)


def create_fails(runtime: Runtime, bundle: Bundle, cid: str) -> str:
    """create must fail with one error line and leave no state (the suite's leak check
    looks for the rest); the message."""
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1, (r.code, r.err)
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    assert runtime("state", cid).code == 1
    return error_message(r.err)
