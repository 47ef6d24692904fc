"""Per-file results and their results.json form, shared by both runners.

A FileRecord is one suite file (a .bats file, a validation program) run against one
runtime: its counts, how it ended, where its TAP and stderr are, the runner's notes.
Each runner subclasses it with its own list of tests and their JSON form. A SuiteRun
is one runtime's run of the suite (or one loaded back from an earlier results.json).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self, TypeVar


@dataclass
class SuiteTest:
    """One test line of a file's TAP (or one the runner made up). A suite's subclass
    adds its own fields after `number` (its name for the test first)."""

    status: str  # "ok", "not ok" or "skip"
    number: int | None
    diagnostic: str = field(default="", kw_only=True)  # kept for failures
    synthetic: bool = field(default=False, kw_only=True)  # made up by the runner


T = TypeVar("T", bound=SuiteTest)


@dataclass
class FileRecord:
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

    def tally(self, statuses: Iterable[str]) -> None:
        """passed, failed and skipped from the tests' statuses ("ok", "not ok", "skip")."""
        seen = list(statuses)
        self.passed = seen.count("ok")
        self.failed = seen.count("not ok")
        self.skipped = seen.count("skip")

    def counts(self) -> tuple[int, int, int]:
        return self.passed, self.failed, self.skipped

    def to_json(self) -> dict:
        """The keys both runners write first; a subclass adds its tests after them."""
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
        }

    @classmethod
    def from_json(cls, name: str, d: dict) -> Self:
        """to_json() read back (a missing key keeps its default); a subclass reads its
        tests on top."""
        r = cls(name=name)
        for k in ("passed", "failed", "skipped", "exit_code", "timed_out", "duration", "plan"):
            setattr(r, k, d.get(k, getattr(r, k)))
        r.tap_file = d.get("tap", "")
        r.stderr_file = d.get("stderr", "")
        r.notes = list(d.get("notes", []))
        return r


@dataclass
class SuiteRun:
    """One runtime's run; the subclass holds the records, under its suite's name for
    them (files, tests), and returns them from records()."""

    label: str
    path: str
    baseline: bool = False  # read from an earlier results.json, not run now

    def records(self) -> dict[str, FileRecord]:
        raise NotImplementedError

    def totals(self) -> tuple[int, int, int]:
        rs = self.records().values()
        return (
            sum(r.passed for r in rs),
            sum(r.failed for r in rs),
            sum(r.skipped for r in rs),
        )


def runtime_json(run: SuiteRun, key: str, extra: dict | None = None) -> dict:
    """A runtime's entry in results.json: path, baseline, totals, `extra`, then its
    records under `key`."""
    p, f, s = run.totals()
    return {
        "path": run.path,
        "baseline": run.baseline,
        "totals": {"passed": p, "failed": f, "skipped": s},
        **(extra or {}),
        key: {n: t.to_json() for n, t in run.records().items()},
    }


Run = TypeVar("Run", bound=SuiteRun)


def load_runs(
    path: str, key: str, make_run: Callable[..., Run], record: type[FileRecord]
) -> list[Run]:
    """The runtimes an earlier results.json ran (not the baselines it had loaded
    itself: those are read from their own file), as baselines; `key` holds each
    runtime's records."""
    with open(path) as f:
        doc = json.load(f)
    runs = []
    for label, d in doc.get("runtimes", {}).items():
        if d.get("baseline"):
            continue
        run = make_run(label=label, path=d.get("path", ""), baseline=True)
        for name, t in d.get(key, {}).items():
            run.records()[name] = record.from_json(name, t)
        runs.append(run)
    return runs


def write_results(doc: dict, out: Path | None, as_json: bool) -> None:
    """results.json into `out` (if any), saying where on stderr; with --json on stdout
    too."""
    if out is not None:
        (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"results in {out}", file=sys.stderr)
    if as_json:
        json.dump(doc, sys.stdout, indent=1)
        print()


def entry_of_test(t: SuiteTest, **own: object) -> dict:
    """A test's results.json entry: status, number, the suite's own keys, synthetic."""
    return {"status": t.status, "number": t.number, **own, "synthetic": t.synthetic}


def entry_fields(d: dict) -> dict:
    """entry_of_test()'s shared fields read back, as keyword arguments for the test."""
    return {
        "status": d["status"],
        "number": d.get("number"),
        "synthetic": bool(d.get("synthetic", False)),
    }


def keyed_by_occurrence(
    items: Iterable[T], text_of: Callable[[T], str]
) -> dict[tuple[str, int], T]:
    """Tests keyed by (text, occurrence) so that runs can be compared: a name can repeat
    (tests made in a loop) and numbers shift when a run stops early. The runner's own
    (synthetic) tests are no test of the suite's: left out."""
    seen: dict[str, int] = {}
    keyed: dict[tuple[str, int], T] = {}
    for t in items:
        if t.synthetic:
            continue
        text = text_of(t)
        n = seen.get(text, 0)
        seen[text] = n + 1
        keyed[(text, n)] = t
    return keyed
