#!/usr/bin/env python3
"""Run the OCI runtime-tools validation suite against one or more runtimes.

The suite itself (``runtimetest`` and the ``validation/<name>/<name>.t``
programs) is not part of this repository: build it from
github.com/opencontainers/runtime-tools as README.md beside this file says,
and point ``--suite`` at the directory holding the binaries.

This file is the command line and the orchestration; beside it are tap.py
(strict TAP counting), cleanup.py (what a test leaves on the host) and
report.py (tables, comparison, results.json). What it does as runc's
integration runner does (running a program, the records, the table) is in
conformance/suitecore/. The busybox rootfs tarball comes from
tools/busybox_bundle.py, shared with the demo and the tests.

Python 3.11 standard library only (pyrunc is never imported: it is the
runtime under test).  Must run as root (the suite creates containers,
cgroups and namespaces).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The runner's own modules sit beside it (sys.path[0]); tools/ and conformance/suitecore/
# (shared with runc-integration's runner) are at the top of the checkout, after them.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

from cleanup import cleanup_cgroups, leftover_containers  # noqa: E402
from report import (  # noqa: E402
    RuntimeRun,
    compare,
    load_baseline,
    print_compare,
    print_failures,
    print_table,
    to_json,
)
from tap import TestResult, count  # noqa: E402

from conformance.suitecore import results, runner  # noqa: E402
from tools.busybox_bundle import make_rootfs_tarball  # noqa: E402

GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

LOCK_PATH = "/run/runtime-tools-conformance.lock"

# /etc/passwd and /etc/group in the rootfs the tests untar (as they were when
# the reference numbers in README.md were measured).
PASSWD = """\
root:x:0:0:root:/root:/bin/sh
bin:x:1:1:bin:/bin:/bin/false
daemon:x:2:2:daemon:/sbin:/bin/false
adm:x:3:4:adm:/var/adm:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
sys:x:3:root,bin,adm
adm:x:4:root,adm,daemon
tty:x:5:
disk:x:6:root,adm
wheel:x:10:root
users:x:100:
nogroup:x:65533:
nobody:x:65534:
"""


# --------------------------------------------------------------------------
# Suite discovery and running


def find_tests(suite: Path) -> dict[str, Path]:
    """Map test name -> binary. Layout: validation/<name>/<name>.t, else <name>.t."""
    tests: dict[str, Path] = {}
    vdir = suite / "validation"
    if vdir.is_dir():
        for d in sorted(vdir.iterdir()):
            exe = d / f"{d.name}.t"
            if exe.is_file():
                tests[d.name] = exe
    if not tests:
        for exe in sorted(suite.glob("*.t")):
            tests[exe.stem] = exe
    return tests


def run_one(
    name: str,
    exe: Path,
    runtime: str,
    workdir: Path,
    tmpdir: Path,
    outdir: Path,
    timeout: float,
) -> TestResult:
    result = TestResult(name=name)
    tmpdir.mkdir(parents=True, exist_ok=True)
    os.chmod(tmpdir, 0o1777)
    env = dict(os.environ)
    env["RUNTIME"] = runtime
    env["TMPDIR"] = str(tmpdir)
    # Each test program gets its own mount namespace: some tests make the
    # runtime mount /proc, /dev, /sys into the bundle in the caller's
    # namespace, and those mounts must die with the test, not leak to the host.
    cmd = ["unshare", "--mount", "--propagation", "unchanged", "--", str(exe)]
    text, stderr_text = runner.run_captured(
        result, cmd, outdir, name, timeout, cwd=workdir, env=env, stdin=subprocess.DEVNULL
    )
    count(result, text, stderr_text)
    # Containers the test left behind (it failed before deleting them).
    result.notes.extend(leftover_containers(runtime, tmpdir))
    # Bundles the test left behind (it normally removes its own).
    left = sorted(p.name for p in tmpdir.iterdir()) if tmpdir.exists() else []
    if left:
        result.notes.append(f"left {len(left)} entries in TMPDIR")
    if not runner.safe_rmtree(tmpdir):
        result.notes.append(f"could not remove {tmpdir}")
    return result


def run_runtime(
    label: str,
    runtime: str,
    tests: dict[str, Path],
    workdir: Path,
    out: Path,
    timeout: float,
    clean_cgroups: bool,
) -> RuntimeRun:
    run = RuntimeRun(label=label, path=runtime)
    outdir = out / label
    outdir.mkdir(parents=True, exist_ok=True)
    tmproot = workdir / "tmp" / label
    tmproot.mkdir(parents=True, exist_ok=True)
    os.chmod(tmproot, 0o755)
    for name, exe in tests.items():
        r = run_one(name, exe, runtime, workdir, tmproot / name, outdir, timeout)
        run.tests[name] = r
        extra = f" [{'; '.join(r.notes)}]" if r.notes else ""
        print(runner.summary_line(label, r, extra), file=sys.stderr, flush=True)
    if clean_cgroups:
        run.leftovers = cleanup_cgroups()
        for c in run.leftovers:
            print(f"[{label}] warning: leftover cgroup {c}", file=sys.stderr)
    runner.safe_rmtree(tmproot)
    return run


# --------------------------------------------------------------------------
# main


def parse_runtime(spec: str) -> tuple[str, str]:
    """'LABEL=PATH' or 'PATH' -> (label, absolute path)."""
    return runner.resolve_runtime(*runner.split_runtime(spec))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="Run the runtime-tools validation suite against OCI runtimes.",
    )
    ap.add_argument(
        "--suite",
        type=Path,
        help="dir with runtimetest and validation/<name>/<name>.t (or <name>.t)",
    )
    runner.add_runtime_option(ap, "runtime to test (repeatable; run one after another)")
    ap.add_argument("--only", default="", help="comma-separated test names")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per test program")
    runner.add_report_options(
        ap,
        out_help="dir for TAP files and results.json",
        json_help="print results as JSON on stdout",
        compare_help="list assertions a reference runtime passes but another runtime fails",
    )
    ap.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="LABEL",
        help="reference runtime label for --compare (default: runc and crun)",
    )
    runner.add_baseline_option(ap)
    ap.add_argument("--failures", action="store_true", help="also list every failing assertion")
    ap.add_argument("--busybox", default="/bin/busybox", help="static busybox for the rootfs")
    ap.add_argument(
        "--workdir-base",
        type=Path,
        default=Path("/var/tmp"),
        help="where to make the scratch work dir (its path must be traversable)",
    )
    ap.add_argument("--keep-cgroups", action="store_true", help="do not rmdir leftover cgroups")
    return ap


def load_baselines(ap: argparse.ArgumentParser, files: list[str]) -> list[RuntimeRun]:
    baselines: list[RuntimeRun] = []
    for b in files:
        for r in load_baseline(b):
            if r.label in {x.label for x in baselines}:
                ap.error(f"runtime label {r.label!r} appears in two baselines")
            baselines.append(r)
    return baselines


def select_tests(ap: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Path]:
    """The test programs to run, checked before anything is touched."""
    if args.suite is None:
        ap.error("--suite is required to run runtimes")
    suite = args.suite.resolve()
    if not (suite / "runtimetest").is_file():
        ap.error(f"{suite}/runtimetest not found")
    tests = find_tests(suite)
    if not tests:
        ap.error(f"no test programs found in {suite}")
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in tests]
        if unknown:
            ap.error(f"unknown tests: {', '.join(unknown)}")
        tests = {n: tests[n] for n in wanted}
    if os.geteuid() != 0:
        ap.error("the suite must run as root")
    if not shutil.which("unshare"):
        ap.error("unshare (util-linux) not found")
    return tests


def run_all(
    args: argparse.Namespace,
    runtimes: list[tuple[str, str]],
    tests: dict[str, Path],
    out: Path,
    meta: dict,
) -> list[RuntimeRun]:
    """Run every runtime, one after another, in one scratch work dir."""
    suite = args.suite.resolve()
    arch = GOARCH.get(platform.machine(), platform.machine())
    runs: list[RuntimeRun] = []
    with runner.scratch_dir("rt-work-", args.workdir_base) as workdir:
        shutil.copy2(suite / "runtimetest", workdir / "runtimetest")
        os.chmod(workdir / "runtimetest", 0o755)
        make_rootfs_tarball(
            workdir / f"rootfs-{arch}.tar.gz",
            args.busybox,
            etc={"passwd": PASSWD, "group": GROUP},
        )
        meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        for label, path in runtimes:
            runs.append(
                run_runtime(label, path, tests, workdir, out, args.timeout, not args.keep_cgroups)
            )
    return runs


def report(
    ap: argparse.ArgumentParser,
    args: argparse.Namespace,
    runs: list[RuntimeRun],
    names: list[str],
    meta: dict,
    out: Path | None,
) -> int:
    refs = args.reference or [r.label for r in runs if r.label in ("runc", "crun")]
    for ref in refs:
        if ref not in {r.label for r in runs}:
            ap.error(f"reference {ref!r} is not among the runtimes")
    cmp = compare(runs, refs) if (args.compare and refs) else None

    doc = to_json(runs, names, meta, cmp)
    results.write_results(doc, out, args.json)
    if args.json:
        return 0
    print_table(runs, names)
    if args.failures:
        print_failures(runs)
    if cmp is not None:
        print_compare(cmp, refs, runs)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)

    runtimes = [parse_runtime(s) for s in args.runtime]
    baselines = load_baselines(ap, args.baseline)
    if not runtimes and not baselines:
        ap.error("give at least one --runtime (or --baseline)")
    clash = runner.label_clash([lbl for lbl, _ in runtimes] + [r.label for r in baselines])
    if clash:
        ap.error(clash)
    tests = select_tests(ap, args) if runtimes else {}

    runs: list[RuntimeRun] = []
    out = args.out
    meta: dict = {"suite": str(args.suite.resolve()) if args.suite else None}
    if runtimes:
        if out is None:
            out = Path(tempfile.mkdtemp(prefix="runtime-tools-results-", dir="/var/tmp"))
        out = out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        # One run at a time: the suite uses fixed cgroup paths.
        lock_path = LOCK_PATH if os.access("/run", os.W_OK) else "/tmp/rt-conformance.lock"
        lock = runner.take_lock(lock_path)
        if lock is None:
            print(
                "another runtime-tools run is in progress (the suite uses fixed cgroup "
                "paths; never run two at once)",
                file=sys.stderr,
            )
            return 2
        with lock:
            runs = run_all(args, runtimes, tests, out, meta)

    runs = baselines + runs
    if tests:
        names = list(tests)
    else:
        names = sorted({n for r in runs for n in r.tests})
        if args.only:
            names = [n.strip() for n in args.only.split(",") if n.strip() in names]
    for r in baselines:
        r.tests = {n: r.tests[n] for n in names if n in r.tests}
    return report(ap, args, runs, names, meta, out)


if __name__ == "__main__":
    sys.exit(main())
