#!/usr/bin/env python3
"""Run the OCI runtime-tools validation suite against one or more runtimes.

The suite itself (``runtimetest`` and the ``validation/<name>/<name>.t``
programs) is not part of this repository: build it from
github.com/opencontainers/runtime-tools as README.md beside this file says,
and point ``--suite`` at the directory holding the binaries.

Python 3.11 standard library only.  Must run as root (the suite creates
containers, cgroups and namespaces).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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

# A TAP test line: column 0, "ok" or "not ok", optional number, optional
# "- description", optional "# DIRECTIVE reason".
TEST_LINE = re.compile(r"^(not ok|ok)\b[ \t]*(\d+)?[ \t]*(?:-[ \t]*)?(.*)$")
DIRECTIVE = re.compile(r"(?:^|\s)#\s*(SKIP|TODO)\S*\s*(.*)$", re.IGNORECASE)
PLAN_LINE = re.compile(r"^1\.\.(\d+)")
# tap-go writes its "YAML" diagnostics as JSON objects; accept both forms.
YAML_ERROR = re.compile(r'^\s*"?error"?\s*:\s*(.*)$', re.MULTILINE)
DIAG_LIMIT = 8000


# --------------------------------------------------------------------------
# TAP parsing and counting


@dataclass
class Assertion:
    status: str  # "ok", "not ok" or "skip"
    number: int | None
    description: str
    directive: str = ""  # "SKIP", "TODO" or ""
    diagnostic: str = ""
    synthetic: bool = False  # made up by this runner (exit status, timeout...)


@dataclass
class TestResult:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    exit_code: int | None = None
    timed_out: bool = False
    duration: float = 0.0
    plan: int | None = None
    tap_file: str = ""
    stderr_file: str = ""
    notes: list[str] = field(default_factory=list)
    assertions: list[Assertion] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "duration": round(self.duration, 3),
            "plan": self.plan,
            "tap": self.tap_file,
            "stderr": self.stderr_file,
            "notes": self.notes,
            "failures": [
                {
                    "number": a.number,
                    "description": a.description,
                    "directive": a.directive,
                    "synthetic": a.synthetic,
                    "diagnostic": a.diagnostic,
                }
                for a in self.assertions
                if a.status == "not ok"
            ],
            "assertions": [
                {
                    "status": a.status,
                    "number": a.number,
                    "description": a.description,
                    "synthetic": a.synthetic,
                }
                for a in self.assertions
            ],
        }

    @classmethod
    def from_json(cls, name: str, d: dict) -> TestResult:
        r = cls(name=name)
        for k in ("passed", "failed", "skipped", "exit_code", "timed_out", "duration", "plan"):
            setattr(r, k, d.get(k, getattr(r, k)))
        r.tap_file = d.get("tap", "")
        r.stderr_file = d.get("stderr", "")
        r.notes = list(d.get("notes", []))
        diags = {
            (f.get("number"), f.get("description")): f.get("diagnostic", "")
            for f in d.get("failures", [])
        }
        for a in d.get("assertions", []):
            r.assertions.append(
                Assertion(
                    status=a["status"],
                    number=a.get("number"),
                    description=a.get("description", ""),
                    diagnostic=diags.get((a.get("number"), a.get("description")), ""),
                    synthetic=bool(a.get("synthetic", False)),
                )
            )
        return r


def parse_tap(text: str) -> tuple[list[Assertion], list[int], list[str]]:
    """Parse TAP strictly.

    Only lines starting at column 0 count as test lines: runtimetest's own
    TAP, when it is nested in a YAML diagnostic, is indented and ignored.
    Returns the assertions, the plan counts seen, and the error texts of
    YAML diagnostics that belong to no test line ("orphans").
    """
    items: list[tuple[str, object]] = []  # ("test", Assertion) | ("yaml", str) | ("other", str)
    lines = text.splitlines()
    i = 0
    plans: list[int] = []
    while i < len(lines):
        line = lines[i]
        if line.rstrip() == "  ---":
            block = []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "  ...":
                # YAML lines are indented by two spaces.
                block.append(lines[i][2:] if lines[i].startswith("  ") else lines[i])
                i += 1
            i += 1  # skip the "  ..." (or run off the end)
            items.append(("yaml", "\n".join(block)))
            continue
        m = TEST_LINE.match(line)
        if m:
            status, num, rest = m.group(1), m.group(2), m.group(3)
            directive = ""
            dm = DIRECTIVE.search(rest)
            desc = rest
            if dm:
                directive = dm.group(1).upper()
                desc = (rest[: dm.start()].strip() + " " + dm.group(2).strip()).strip()
            if status == "ok" and directive == "SKIP":
                status = "skip"
            items.append(
                (
                    "test",
                    Assertion(
                        status=status,
                        number=int(num) if num else None,
                        description=desc.strip(),
                        directive=directive,
                    ),
                )
            )
        else:
            pm = PLAN_LINE.match(line)
            if pm:
                plans.append(int(pm.group(1)))
            if line.startswith("#") or not line.strip():
                items.append(("comment", line))
            else:
                items.append(("other", line))
        i += 1

    # Attach YAML blocks to test lines: a block belongs to the test line just
    # before it (only YAML/comments between) or, failing that, to the one just
    # after it (runtime-tools' RuntimeInsideValidate prints the diagnostic
    # first).  Blocks next to no test line are orphans.
    orphans: list[str] = []
    n = len(items)
    for idx, (kind, val) in enumerate(items):
        if kind != "yaml":
            continue
        owner = None
        j = idx - 1
        while j >= 0 and items[j][0] in ("yaml", "comment"):
            j -= 1
        if j >= 0 and items[j][0] == "test":
            owner = items[j][1]
        else:
            j = idx + 1
            while j < n and items[j][0] in ("yaml", "comment"):
                j += 1
            if j < n and items[j][0] == "test":
                owner = items[j][1]
        if owner is None:
            m = YAML_ERROR.search(str(val))
            if m:
                orphans.append(str(val))
        elif isinstance(owner, Assertion):
            # For failures keep every diagnostic; the suite's texts are short.
            if owner.diagnostic:
                owner.diagnostic += "\n"
            owner.diagnostic += str(val)
    asserts = [v for k, v in items if k == "test" and isinstance(v, Assertion)]
    for a in asserts:
        if a.status != "not ok":
            a.diagnostic = ""
        elif len(a.diagnostic) > DIAG_LIMIT:
            a.diagnostic = a.diagnostic[:DIAG_LIMIT] + "\n[... truncated]"
    return asserts, plans, orphans


def yaml_error_text(block: str) -> str:
    """The first line of a diagnostic's "error" value."""
    with contextlib.suppress(ValueError, AttributeError):
        doc = json.loads(block)
        if isinstance(doc, dict) and "error" in doc:
            return str(doc["error"]).strip().splitlines()[0] if doc["error"] else ""
    m = YAML_ERROR.search(block)
    return m.group(1).strip().strip('",') if m else ""


def count(result: TestResult, text: str, stderr_text: str = "") -> None:
    """Fill in result's counts from its TAP text and exit status (strict)."""
    asserts, plans, orphans = parse_tap(text)
    result.plan = plans[-1] if plans else None
    has_fail = any(a.status == "not ok" for a in asserts)
    if not has_fail:
        tail = stderr_text.strip().splitlines()[-5:]
        if result.timed_out:
            asserts.append(
                Assertion(
                    "not ok",
                    None,
                    f"(runner) timed out after {result.duration:.0f}s",
                    diagnostic="\n".join(tail),
                    synthetic=True,
                )
            )
        elif result.exit_code not in (0, None):
            asserts.append(
                Assertion(
                    "not ok",
                    None,
                    f"(runner) exited with status {result.exit_code} without a 'not ok'",
                    diagnostic="\n".join(tail),
                    synthetic=True,
                )
            )
        elif orphans:
            asserts.append(
                Assertion(
                    "not ok",
                    None,
                    "(runner) error reported only in a YAML diagnostic: "
                    + yaml_error_text(orphans[0])[:200],
                    diagnostic="\n".join(orphans)[:DIAG_LIMIT],
                    synthetic=True,
                )
            )
        elif not asserts:
            # The *_fail tests pass by exiting 0 without a word once the runtime
            # refused the bad config: that is one check passed, not none.
            asserts.append(
                Assertion(
                    "ok", None, "(runner) passed silently: exit 0, no TAP output", synthetic=True
                )
            )
    elif result.timed_out:
        result.notes.append("timed out")
    n_tests = sum(1 for a in asserts if not a.synthetic)
    # (Some tests print two plans, e.g. 1..112 then 1..0; a test that passes
    # by printing nothing, like process_rlimits_fail, has none.)
    if plans and n_tests not in plans:
        result.notes.append(f"plan 1..{plans[-1]} but {n_tests} test lines")
    result.assertions = asserts
    result.passed = sum(1 for a in asserts if a.status == "ok")
    result.failed = sum(1 for a in asserts if a.status == "not ok")
    result.skipped = sum(1 for a in asserts if a.status == "skip")


# --------------------------------------------------------------------------
# Suite discovery and the work directory


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


def busybox_applets(busybox: str) -> list[str]:
    out = subprocess.run(
        [busybox, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    return sorted({a for a in out if a and "/" not in a and a != "busybox"})


def make_rootfs(dest: Path, busybox: str) -> None:
    """Write a busybox rootfs tarball like upstream's rootfs-<arch>.tar.gz."""
    mtime = int(os.stat(busybox).st_mtime)

    def entry(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = mtime
        ti.size = size
        ti.linkname = link
        return ti

    with tarfile.open(dest, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        # "./" becomes the bundle dir, which is the container's "/": 0755 or
        # processes running as another user cannot exec anything.
        tar.addfile(entry("./", tarfile.DIRTYPE, 0o755))
        for d in ("bin", "dev", "etc", "proc", "sys"):
            tar.addfile(entry(f"./{d}/", tarfile.DIRTYPE, 0o755))
        size = os.stat(busybox).st_size
        with open(busybox, "rb") as f:
            tar.addfile(entry("./bin/busybox", tarfile.REGTYPE, 0o755, size), f)
        for applet in busybox_applets(busybox):
            tar.addfile(entry(f"./bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, text in (("passwd", PASSWD), ("group", GROUP)):
            data = text.encode()
            tar.addfile(
                entry(f"./etc/{name}", tarfile.REGTYPE, 0o644, len(data)),
                io.BytesIO(data),
            )


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
    """Remove path unless something is still mounted below it."""
    if not path.exists():
        return True
    left = mounts_below(path)
    if left:
        print(
            f"warning: not removing {path}: still mounted below it: {', '.join(left[:5])}",
            file=sys.stderr,
        )
        return False

    def onerror(func, p, exc):
        # chattr'ed or read-only leftovers: make writable and retry once.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            func(p)

    shutil.rmtree(path, onerror=onerror)
    return not path.exists()


def cleanup_cgroups() -> list[str]:
    """rmdir leftover test cgroups (named cgrouptest, and their testdir parent).

    The suite uses /cgrouptest and testdir/cgrouptest/container (relative to
    the runtime's cgroup).  Only empty cgroups can be removed; none is killed.
    Returns the cgroups that are left.
    """
    base = Path("/sys/fs/cgroup")
    if not base.is_dir():
        return []
    roots = [base] if (base / "cgroup.procs").exists() else [p for p in base.iterdir()]
    targets: list[Path] = []
    for root in roots:
        if root.is_symlink() or not root.is_dir():
            continue
        stack = [(root, 0)]
        while stack:
            d, depth = stack.pop()
            try:
                subs = [e for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for e in subs:
                p = Path(e.path)
                if e.name == "cgrouptest":
                    targets.append(p)
                elif depth < 3:
                    stack.append((p, depth + 1))
    left = []
    for t in targets:
        for dirpath, _dirs, _files in sorted(os.walk(t, topdown=False), key=lambda x: -len(x[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        if t.exists():
            left.append(str(t))
        elif t.parent.name == "testdir":
            with contextlib.suppress(OSError):
                t.parent.rmdir()
    return left


# --------------------------------------------------------------------------
# Running


@dataclass
class RuntimeRun:
    label: str
    path: str
    tests: dict[str, TestResult] = field(default_factory=dict)
    baseline: bool = False
    leftovers: list[str] = field(default_factory=list)

    def totals(self) -> tuple[int, int, int]:
        p = sum(r.passed for r in self.tests.values())
        f = sum(r.failed for r in self.tests.values())
        s = sum(r.skipped for r in self.tests.values())
        return p, f, s


def _list_containers(runtime: str) -> list[dict] | None:
    """`RUNTIME list --format json` (runc, crun), or None if that fails."""
    try:
        out = subprocess.run(
            [runtime, "list", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        items = json.loads(out.stdout or "null") if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if items is None:
        return [] if out.returncode == 0 else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else None


def leftover_containers(runtime: str, below: Path) -> list[str]:
    """Force-delete containers whose bundle is below `below`.

    Returns one note per container found.  A runtime without
    `list --format json` is not checked.
    """
    prefix = str(below).rstrip("/") + "/"

    def mine(items: list[dict] | None) -> list[str]:
        return [
            str(i["id"])
            for i in items or []
            if i.get("id") and (str(i.get("bundle", "")) + "/").startswith(prefix)
        ]

    found = mine(_list_containers(runtime))
    if not found:
        return []
    for cid in found:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [runtime, "delete", "--force", cid],
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
    still = set(mine(_list_containers(runtime)))
    return [
        f"left container {cid} ({'force-delete FAILED' if cid in still else 'force-deleted'})"
        for cid in found
    ]


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
    tap_path = outdir / f"{name}.tap"
    err_path = outdir / f"{name}.stderr"
    result.tap_file = str(tap_path)
    result.stderr_file = str(err_path)
    tmpdir.mkdir(parents=True, exist_ok=True)
    os.chmod(tmpdir, 0o1777)
    env = dict(os.environ)
    env["RUNTIME"] = runtime
    env["TMPDIR"] = str(tmpdir)
    # Each test program gets its own mount namespace: some tests make the
    # runtime mount /proc, /dev, /sys into the bundle in the caller's
    # namespace, and those mounts must die with the test, not leak to the host.
    cmd = ["unshare", "--mount", "--propagation", "unchanged", "--", str(exe)]
    start = time.monotonic()
    with open(tap_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            result.timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        else:
            # Anything still in the test's process group is ours: end it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    result.duration = time.monotonic() - start
    result.exit_code = proc.returncode
    text = tap_path.read_text(errors="replace")
    stderr_text = err_path.read_text(errors="replace")
    count(result, text, stderr_text)
    # Containers the test left behind (it failed before deleting them).
    result.notes.extend(leftover_containers(runtime, tmpdir))
    # Bundles the test left behind (it normally removes its own).
    left = sorted(p.name for p in tmpdir.iterdir()) if tmpdir.exists() else []
    if left:
        result.notes.append(f"left {len(left)} entries in TMPDIR")
    if not safe_rmtree(tmpdir):
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
        print(
            f"[{label}] {name}: {r.passed} passed, {r.failed} failed, "
            f"{r.skipped} skipped ({r.duration:.1f}s){extra}",
            file=sys.stderr,
            flush=True,
        )
    if clean_cgroups:
        run.leftovers = cleanup_cgroups()
        for c in run.leftovers:
            print(f"[{label}] warning: leftover cgroup {c}", file=sys.stderr)
    safe_rmtree(tmproot)
    return run


# --------------------------------------------------------------------------
# Reporting


def assertion_keys(r: TestResult) -> dict[tuple[str, int], Assertion]:
    """Key assertions by (description, occurrence) so runs can be compared."""
    seen: dict[str, int] = {}
    keyed = {}
    for a in r.assertions:
        if a.synthetic:
            continue
        n = seen.get(a.description, 0)
        seen[a.description] = n + 1
        keyed[(a.description, n)] = a
    return keyed


def compare(runs: list[RuntimeRun], refs: list[str]) -> dict[str, list[dict]]:
    """For each non-reference runtime: assertions a reference passes but it fails."""
    by_label = {r.label: r for r in runs}
    out: dict[str, list[dict]] = {}
    for run in runs:
        if run.label in refs:
            continue
        rows = []
        for name in sorted(run.tests):
            mine = assertion_keys(run.tests[name])
            ref_keys: dict[tuple[str, int], list[str]] = {}
            for ref in refs:
                rr = by_label[ref].tests.get(name)
                if rr is None:
                    continue
                for k, a in assertion_keys(rr).items():
                    if a.status == "ok":
                        ref_keys.setdefault(k, []).append(ref)
            for k, passed_by in ref_keys.items():
                a = mine.get(k)
                if a is not None and a.status == "ok":
                    continue
                rows.append(
                    {
                        "test": name,
                        "assertion": k[0],
                        "occurrence": k[1] + 1,
                        "status": "missing" if a is None else a.status,
                        "passed_by": passed_by,
                        "diagnostic": a.diagnostic if a is not None else "",
                    }
                )
        out[run.label] = rows
    return out


def print_table(runs: list[RuntimeRun], names: list[str], file=sys.stdout) -> None:
    width = max([len("test")] + [len(n) for n in names]) + 2
    col = max([16] + [len(r.label) + 2 for r in runs])
    print("test".ljust(width) + "".join(r.label.rjust(col) for r in runs), file=file)
    print(" " * width + "".join("pass/fail/skip".rjust(col) for _ in runs), file=file)
    for n in names:
        cells = []
        for r in runs:
            t = r.tests.get(n)
            cells.append("-" if t is None else f"{t.passed}/{t.failed}/{t.skipped}")
        mark = ""
        if len({c for c in cells}) > 1:
            mark = "  *"
        print(n.ljust(width) + "".join(c.rjust(col) for c in cells) + mark, file=file)
    print(file=file)
    for r in runs:
        p, f, s = r.totals()
        print(f"{r.label}: {p} passed, {f} failed, {s} skipped", file=file)


def print_failures(runs: list[RuntimeRun], file=sys.stdout) -> None:
    for r in runs:
        print(f"\n== failures: {r.label} ==", file=file)
        for name in sorted(r.tests):
            fails = [a for a in r.tests[name].assertions if a.status == "not ok"]
            for a in fails:
                num = f"#{a.number} " if a.number is not None else ""
                print(f"  {name}: {num}{a.description}", file=file)


def print_compare(
    cmp: dict[str, list[dict]],
    refs: list[str],
    runs: list[RuntimeRun],
    file=sys.stdout,
) -> None:
    """Print the comparison; a test that stopped early gets one line for all
    the assertions it never reached (results.json lists them all)."""
    by_label = {r.label: r for r in runs}
    for label, rows in cmp.items():
        print(
            f"\n== {label}: {len(rows)} assertions passed by {'/'.join(refs)} "
            f"but not by {label} ==",
            file=file,
        )
        by_test: dict[str, list[dict]] = {}
        for row in rows:
            by_test.setdefault(row["test"], []).append(row)
        for test, trows in by_test.items():
            missing = [r for r in trows if r["status"] == "missing"]
            shown = [r for r in trows if r["status"] != "missing"]
            if len(missing) <= 3:
                shown, missing = trows, []
            for row in shown:
                occ = f" (#{row['occurrence']})" if row["occurrence"] > 1 else ""
                print(
                    f"  {test}: {row['assertion']}{occ} "
                    f"[{row['status']}; ok in {','.join(row['passed_by'])}]",
                    file=file,
                )
            if missing:
                why = ""
                tr = by_label[label].tests.get(test)
                if tr is not None:
                    synth = [a.description for a in tr.assertions if a.synthetic]
                    if synth:
                        why = f"; {synth[0]}"
                print(
                    f"  {test}: {len(missing)} assertions never reached{why}",
                    file=file,
                )


def to_json(runs: list[RuntimeRun], names: list[str], meta: dict, cmp) -> dict:
    doc = dict(meta)
    doc["tests"] = names
    doc["runtimes"] = {}
    for r in runs:
        p, f, s = r.totals()
        doc["runtimes"][r.label] = {
            "path": r.path,
            "baseline": r.baseline,
            "totals": {"passed": p, "failed": f, "skipped": s},
            "leftover_cgroups": r.leftovers,
            "tests": {n: t.to_json() for n, t in r.tests.items()},
        }
    if cmp is not None:
        doc["compare"] = cmp
    return doc


def load_baseline(path: str) -> list[RuntimeRun]:
    with open(path) as f:
        doc = json.load(f)
    runs = []
    for label, d in doc.get("runtimes", {}).items():
        if d.get("baseline"):
            continue  # that run's own baselines: load their files directly
        run = RuntimeRun(label=label, path=d.get("path", ""), baseline=True)
        for name, t in d.get("tests", {}).items():
            run.tests[name] = TestResult.from_json(name, t)
        runs.append(run)
    return runs


# --------------------------------------------------------------------------
# main


def parse_runtime(spec: str) -> tuple[str, str]:
    """'LABEL=PATH' or 'PATH' -> (label, absolute path)."""
    label = ""
    path = spec
    if "=" in spec and not spec.startswith(("/", ".")):
        label, path = spec.split("=", 1)
    found = path if os.sep in path else shutil.which(path)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise SystemExit(f"runtime not found or not executable: {path}")
    found = os.path.abspath(found)
    if not label:
        label = Path(found).name
        for ext in (".sh", ".py"):
            label = label.removesuffix(ext)
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", label):
        raise SystemExit(f"runtime label must be one word: {label!r}")
    return label, found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Run the runtime-tools validation suite against OCI runtimes.",
    )
    ap.add_argument(
        "--suite",
        type=Path,
        help="dir with runtimetest and validation/<name>/<name>.t (or <name>.t)",
    )
    ap.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="[LABEL=]PATH",
        help="runtime to test (repeatable; run one after another)",
    )
    ap.add_argument("--only", default="", help="comma-separated test names")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per test program")
    ap.add_argument("--out", type=Path, help="dir for TAP files and results.json")
    ap.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    ap.add_argument(
        "--compare",
        action="store_true",
        help="list assertions a reference runtime passes but another runtime fails",
    )
    ap.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="LABEL",
        help="reference runtime label for --compare (default: runc and crun)",
    )
    ap.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="RESULTS.json",
        help="add the runtimes of an earlier run's results.json (not re-run)",
    )
    ap.add_argument("--failures", action="store_true", help="also list every failing assertion")
    ap.add_argument("--busybox", default="/bin/busybox", help="static busybox for the rootfs")
    ap.add_argument(
        "--workdir-base",
        type=Path,
        default=Path("/var/tmp"),
        help="where to make the scratch work dir (its path must be traversable)",
    )
    ap.add_argument("--keep-cgroups", action="store_true", help="do not rmdir leftover cgroups")
    args = ap.parse_args(argv)

    runtimes = [parse_runtime(s) for s in args.runtime]
    baselines: list[RuntimeRun] = []
    for b in args.baseline:
        for r in load_baseline(b):
            if r.label in {x.label for x in baselines}:
                ap.error(f"runtime label {r.label!r} appears in two baselines")
            baselines.append(r)
    if not runtimes and not baselines:
        ap.error("give at least one --runtime (or --baseline)")
    labels = [lbl for lbl, _ in runtimes] + [r.label for r in baselines]
    if len(set(labels)) != len(labels):
        ap.error("two runtimes (or a runtime and a baseline) have the same label; use LABEL=PATH")

    tests: dict[str, Path] = {}
    if runtimes:
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

    runs: list[RuntimeRun] = []
    out = args.out
    meta: dict = {"suite": str(args.suite.resolve()) if args.suite else None}
    if runtimes:
        if out is None:
            out = Path(tempfile.mkdtemp(prefix="runtime-tools-results-", dir="/var/tmp"))
        out = out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        lock_path = LOCK_PATH if os.access("/run", os.W_OK) else "/tmp/rt-conformance.lock"
        lock = open(lock_path, "w")  # held for the whole run
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                "another runtime-tools run is in progress (the suite uses fixed cgroup "
                "paths; never run two at once)",
                file=sys.stderr,
            )
            return 2
        arch = GOARCH.get(platform.machine(), platform.machine())
        workdir = Path(tempfile.mkdtemp(prefix="rt-work-", dir=args.workdir_base))
        # Every path component must be traversable: tests run processes as
        # non-root users inside bundles under this dir.
        os.chmod(workdir, 0o755)
        try:
            shutil.copy2(suite / "runtimetest", workdir / "runtimetest")
            os.chmod(workdir / "runtimetest", 0o755)
            make_rootfs(workdir / f"rootfs-{arch}.tar.gz", args.busybox)
            meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            for label, path in runtimes:
                runs.append(
                    run_runtime(
                        label, path, tests, workdir, out, args.timeout, not args.keep_cgroups
                    )
                )
        finally:
            if not safe_rmtree(workdir):
                print(f"warning: left work dir {workdir}", file=sys.stderr)
            lock.close()

    runs = baselines + runs
    if tests:
        names = list(tests)
    else:
        names = sorted({n for r in runs for n in r.tests})
        if args.only:
            names = [n.strip() for n in args.only.split(",") if n.strip() in names]
    for r in baselines:
        r.tests = {n: r.tests[n] for n in names if n in r.tests}

    refs = args.reference or [r.label for r in runs if r.label in ("runc", "crun")]
    for ref in refs:
        if ref not in {r.label for r in runs}:
            ap.error(f"reference {ref!r} is not among the runtimes")
    cmp = compare(runs, refs) if (args.compare and refs) else None

    doc = to_json(runs, names, meta, cmp)
    if out is not None:
        (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"results in {out}", file=sys.stderr)

    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
        return 0
    print_table(runs, names)
    if args.failures:
        print_failures(runs)
    if cmp is not None:
        print_compare(cmp, refs, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
