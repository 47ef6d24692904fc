"""Each CLI call pays for what it imports, so the hot paths have an import budget: the
policy, the measured costs and the stand-ins are in CONTRIBUTING.md ("Imports").

Each lifecycle command runs with this tree's CLI in a fresh interpreter and the modules
it loaded are compared with the budget.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from tests.helpers import REPO, Bundle, Runtime

# Never on a lifecycle command's path (each costs milliseconds per call).
HEAVY = {
    "argparse", "array", "ast", "collections", "contextlib", "copy", "dataclasses",
    "datetime", "enum", "functools", "inspect", "json", "re", "selectors", "shutil",
    "signal", "socket", "subprocess", "threading", "tokenize", "typing", "weakref",
}  # fmt: skip
# Only where the container is set up (create, exec): raw syscalls, ttys, rlimits.
SETUP_ONLY = {"ctypes", "termios", "resource", "_socket", "struct"}

_SCRIPT = f"""
import sys
out = sys.argv[1]
sys.path.insert(0, {REPO!r})
sys.argv = ["pyrunc", *sys.argv[2:]]
from pyrunc.cli.main import main
try:
    code = main()
finally:
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


class Recorder:
    def __init__(self, root: str, workdir: str) -> None:
        self.root, self.workdir = root, workdir

    def run(self, *args: str) -> set[str]:
        path = os.path.join(self.workdir, f"modules-{os.getpid()}-{time.monotonic_ns()}")
        runtime = Runtime(self.root, [sys.executable, "-IS", "-c", _SCRIPT, path])
        runtime.ok(*args)
        with open(path) as f:
            modules = set(f.read().split())
        os.unlink(path)
        return modules


def _over_budget(modules: set[str], allowed_setup: bool) -> set[str]:
    banned = HEAVY if allowed_setup else HEAVY | SETUP_ONLY
    return {m for m in modules if m.split(".")[0] in banned}


def test_lifecycle_commands_stay_within_their_import_budget(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    bundle.set_args("sleep", "100")
    rec = Recorder(runtime.root, workdir)
    seen = {
        "create": (rec.run("create", "--bundle", bundle.path, cid), True),
        "state": (rec.run("state", cid), False),
        "start": (rec.run("start", cid), False),
        "list": (rec.run("list"), False),
        "exec": (rec.run("exec", cid, "true"), True),
        "kill": (rec.run("kill", cid, "KILL"), False),
    }
    deadline = time.monotonic() + 10
    while runtime.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    seen["delete"] = (rec.run("delete", cid), False)
    assert "pyrunc.cli.main" in seen["state"][0], "the recorder saw no pyrunc at all"
    over = {cmd: sorted(_over_budget(mods, setup)) for cmd, (mods, setup) in seen.items()}
    assert over == {cmd: [] for cmd in seen}


@pytest.mark.parametrize("args", [("--version",), ("spec", "--help")])
def test_informational_commands_import_little(args: tuple[str, ...], workdir: str) -> None:
    rec = Recorder("/run/pyrunc-budget-unused", workdir)
    assert _over_budget(rec.run(*args), False) == set()
