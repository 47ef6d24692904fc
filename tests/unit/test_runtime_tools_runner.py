"""The runtime-tools runner's other parts: the rootfs tarball it gets from
tools/busybox_bundle.py, and the report (closing lines, comparison, results.json)."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path

import pytest

RUNNER_DIR = Path(__file__).resolve().parents[2] / "conformance" / "runtime-tools"
sys.path.insert(0, str(RUNNER_DIR))

from report import RuntimeRun, compare, load_baseline, print_table, to_json  # noqa: E402
from tap import TestResult as ProgramResult  # noqa: E402  (not a pytest class)
from tap import count  # noqa: E402

from tools.busybox_bundle import BUSYBOX, applets, make_rootfs_tarball  # noqa: E402


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason=f"no {BUSYBOX} (busybox-static)")
def test_rootfs_tarball_has_what_the_suite_untars(tmp_path: Path) -> None:
    dest = make_rootfs_tarball(
        tmp_path / "rootfs-amd64.tar.gz", etc={"passwd": "root:x:0:0::/:/bin/sh\n"}
    )
    with tarfile.open(dest) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("./etc/passwd")
        assert passwd is not None and passwd.read() == b"root:x:0:0::/:/bin/sh\n"
    # The bundle dir is the container's "/": others must be able to enter it.
    # (tarfile reads "./" and "./bin/" back as "." and "./bin".)
    assert members["."].isdir() and members["."].mode == 0o755
    for d in ("bin", "dev", "etc", "proc", "sys"):
        assert members[f"./{d}"].isdir() and members[f"./{d}"].mode == 0o755
    assert not any(n.startswith(("./dev/", "./proc/", "./sys/")) for n in members)
    assert members["./bin/busybox"].size == os.stat(BUSYBOX).st_size
    names = applets()
    assert "sh" in names
    for a in names:
        assert members[f"./bin/{a}"].issym() and members[f"./bin/{a}"].linkname == "busybox"
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())


def result(name: str, tap: str, exit_code: int = 0) -> ProgramResult:
    r = ProgramResult(name=name, exit_code=exit_code)
    count(r, tap)
    return r


def runs() -> list[RuntimeRun]:
    runc = RuntimeRun("runc", "/usr/sbin/runc")
    runc.tests["kill"] = result("kill", "ok 1 - a\nok 2 - b\nok 3 - c # SKIP x\n")
    mine = RuntimeRun("pyrunc", "/x/pyrunc")
    mine.tests["kill"] = result("kill", "ok 1 - a\nnot ok 2 - b\n", exit_code=1)
    return [runc, mine]


def test_table_closes_with_one_line_per_runtime() -> None:
    out = io.StringIO()
    print_table(runs(), ["kill"], file=out)
    lines = out.getvalue().splitlines()
    assert lines[-2:] == [
        "runc: 2 passed, 0 failed, 1 skipped",
        "pyrunc: 1 passed, 1 failed, 0 skipped",
    ]
    assert lines[2].endswith("  *")  # the runtimes differ on this test


def test_compare_lists_what_a_reference_passes_and_the_runtime_does_not() -> None:
    rows = compare(runs(), ["runc"])["pyrunc"]
    assert [(r["test"], r["assertion"], r["status"]) for r in rows] == [("kill", "b", "not ok")]


def test_results_json_reads_back_as_a_baseline(tmp_path: Path) -> None:
    import json

    path = tmp_path / "results.json"
    path.write_text(json.dumps(to_json(runs(), ["kill"], {"suite": None}, None)))
    back = load_baseline(str(path))
    assert [(r.label, r.baseline, r.totals()) for r in back] == [
        ("runc", True, (2, 0, 1)),
        ("pyrunc", True, (1, 1, 0)),
    ]
