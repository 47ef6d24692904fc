"""linux.personality applied (the kernel's /proc/<pid>/personality, for the init and for
an exec'd process), and the Linux fields pyrunc cannot apply yet refused at create in
one line naming them, never dropped (runtime-spec 1.3; docs/spec-coverage.md)."""

from __future__ import annotations

import os

import pytest

from tests.helpers import Bundle, Runtime, create_fails, created
from tests.test_sched_mempolicy import configure, exec_detached


def personality(pid: int) -> int:
    with open(f"/proc/{pid}/personality") as f:
        return int(f.read(), 16)


@pytest.mark.parametrize(("domain", "persona"), [("LINUX32", 0x0008), ("LINUX", 0x0000)])
def test_personality_init_and_exec(
    runtime: Runtime, bundle: Bundle, cid: str, domain: str, persona: int
) -> None:
    configure(bundle, "sleep", "100", linux={"personality": {"domain": domain}})
    with created(runtime, bundle, cid) as pid:
        assert personality(pid) == persona
        runtime.ok("start", cid)
        assert personality(pid) == persona  # what the user's process runs with
        assert personality(exec_detached(runtime, bundle, cid)) == persona
    assert personality(os.getpid()) == 0  # ours is untouched


def test_personality_linux32_seen_inside(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """uname -m under PER_LINUX32 reports a 32-bit machine (the kernel's per-task view)."""
    configure(bundle, "uname", "-m", linux={"personality": {"domain": "LINUX32"}})
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.strip()
    configure(bundle, "uname", "-m", linux={})
    bundle.config["linux"].pop("personality", None)
    bundle.save()
    native = runtime.ok("run", "--bundle", bundle.path, cid).out.strip()
    if native in ("x86_64", "aarch64"):
        assert out == {"x86_64": "i686", "aarch64": "armv8l"}[native], (native, out)
    else:
        assert out == native


@pytest.mark.parametrize(
    ("linux", "message"),
    [
        ({"personality": {"domain": "LINUX", "flags": ["X"]}},
         "config.json: linux.personality.flags: no flags are defined"),
    ],
    ids=["personality-flags"],
)  # fmt: skip
def test_fields_not_applied_are_refused_by_name(
    runtime: Runtime, bundle: Bundle, cid: str, linux: dict, message: str
) -> None:
    configure(bundle, "true", linux=linux)
    assert create_fails(runtime, bundle, cid).startswith(message)
    report = runtime("check", "--bundle", bundle.path, "--format", "json").json()
    field = f"linux.{next(iter(linux))}"
    assert any(f["path"].startswith(field) for f in report["findings"]), report
