"""Running a suite's files, alike in both runners: one file in its own process group
with a timeout (stdout, its TAP, and stderr into files beside each other), the summary
line printed after it, `[LABEL=]PATH` runtimes, the run-wide lock, the scratch dir and
the rmtree that never removes what is still mounted."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .results import FileRecord


def run_captured(
    result: FileRecord,
    cmd: list[str],
    outdir: Path,
    stem: str,
    timeout: float,
    on_start: Callable[[int], None] | None = None,
    **popen: Any,
) -> tuple[str, str]:
    """Run `cmd` in a new session, stdout to OUTDIR/STEM.tap and stderr to
    OUTDIR/STEM.stderr; fill in result's files, exit code, timeout and duration; return
    the TAP and stderr texts. Whatever is left in the process group when the command
    ends, is killed or is interrupted (SIGINT; the exception goes on) is killed: a
    file's processes never outlive it. on_start gets the command's pid."""
    outdir.mkdir(parents=True, exist_ok=True)
    tap_path, err_path = outdir / f"{stem}.tap", outdir / f"{stem}.stderr"
    result.tap_file, result.stderr_file = str(tap_path), str(err_path)
    start = time.monotonic()
    with open(tap_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True, **popen)
        if on_start is not None:
            on_start(proc.pid)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            result.timed_out = True
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    result.duration = time.monotonic() - start
    result.exit_code = proc.returncode
    return tap_path.read_text(errors="replace"), err_path.read_text(errors="replace")


def summary_line(label: str, r: FileRecord, extra: str = "") -> str:
    """What a runner prints on stderr after each file."""
    return (
        f"[{label}] {r.name}: {r.passed} passed, {r.failed} failed, "
        f"{r.skipped} skipped ({r.duration:.1f}s){extra}"
    )


def add_runtime_option(ap: argparse.ArgumentParser, help_text: str) -> None:
    """--runtime [LABEL=]PATH, repeatable (split_runtime, resolve_runtime)."""
    ap.add_argument(
        "--runtime", action="append", default=[], metavar="[LABEL=]PATH", help=help_text
    )


def add_report_options(
    ap: argparse.ArgumentParser, out_help: str, json_help: str, compare_help: str
) -> None:
    """--out DIR, --json and --compare, in that order."""
    ap.add_argument("--out", type=Path, help=out_help)
    ap.add_argument("--json", action="store_true", help=json_help)
    ap.add_argument("--compare", action="store_true", help=compare_help)


def add_baseline_option(ap: argparse.ArgumentParser) -> None:
    """--baseline RESULTS.json, repeatable (results.load_runs)."""
    ap.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="RESULTS.json",
        help="add the runtimes of an earlier run's results.json (not re-run)",
    )


def split_runtime(spec: str) -> tuple[str, str]:
    """'LABEL=PATH' or 'PATH' -> (label or "", path), as given."""
    if "=" in spec and not spec.startswith(("/", ".")):
        label, path = spec.split("=", 1)
        return label, path
    return "", spec


def resolve_runtime(label: str, path: str) -> tuple[str, str]:
    """(label, absolute path) of an executable runtime; a bare name is looked up in
    PATH; the label defaults to the file's name without .sh or .py."""
    found = path if os.sep in path else shutil.which(path)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise SystemExit(f"runtime not found or not executable: {path}")
    found = os.path.abspath(found)
    if not label:
        label = Path(found).name.removesuffix(".sh").removesuffix(".py")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", label):
        raise SystemExit(f"runtime label must be one word: {label!r}")
    return label, found


def label_clash(labels: list[str]) -> str | None:
    """The error to give when two runtimes (run or loaded) share a label, else None."""
    if len(set(labels)) != len(labels):
        return "two runtimes (or a runtime and a baseline) have the same label; use LABEL=PATH"
    return None


def take_lock(path: str) -> io.TextIOWrapper | None:
    """The run-wide lock, held until the file is closed, or None if another run has it."""
    lock = open(path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


@contextlib.contextmanager
def scratch_dir(prefix: str, base: Path) -> Iterator[Path]:
    """A work dir for the run below `base`, removed after it (unless something is still
    mounted below it: then left, with a warning). Mode 0755: the suites run processes
    as other users below it."""
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    os.chmod(work, 0o755)
    try:
        yield work
    finally:
        if not safe_rmtree(work):
            print(f"warning: left work dir {work}", file=sys.stderr)


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below path in this process's mount namespace."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == str(path) or mp.startswith(prefix):
                found.append(mp)
    return found


def safe_rmtree(path: Path) -> bool:
    """Remove path unless something is still mounted below it (never unmounted here:
    the leftover is reported instead). True when it is gone."""
    if not path.exists():
        return True
    left = mounts_below(path)
    if left:
        print(
            f"warning: not removing {path}: still mounted below it: {', '.join(left[:5])}",
            file=sys.stderr,
        )
        return False

    def onerror(func: Callable[[str], object], p: str, exc: object) -> None:
        # chattr'ed or read-only leftovers: make writable and retry once.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            func(p)

    shutil.rmtree(path, onerror=onerror)
    return not path.exists()
