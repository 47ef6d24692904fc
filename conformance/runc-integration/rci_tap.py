"""Strict counting of the TAP that `bats --tap` writes for one .bats file.

What bats prints, and how it counts here (README.md, "Counting"):

- `1..N` first: the plan, the number of tests in the file;
- `ok N name`: a pass; `ok N name # skip (reason)` (or `# skip`): a skip;
  `not ok N name`: a failure (`# TODO` on a `not ok` changes nothing: a failure;
  `# timeout after Ns`, bats' per-test timeout, is kept as the failure's reason);
- `# ...` lines after a test line: its diagnostic (the failing command, the output);
- anything else (warnings, stray output) is kept for nobody and counts nothing.

The runner adds what bats cannot say ("synthetic" tests, named `(runner) ...`):

- each test of the plan that never got a line (bats killed by the timeout, or died)
  counts one failure: pass + fail + skip is the plan whenever there is one;
- a file that exits non-zero (or is killed) without any `not ok` and without a plan
  (a syntax error, a failing setup_file before the plan...) counts one failure.

Python standard library only; nothing here touches the host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Self

from conformance.suitecore.results import FileRecord, SuiteTest, entry_fields, entry_of_test
from conformance.suitecore.tap import TapDialect, split_test_line, stderr_tail, truncate

BATS = TapDialect(
    # Column 0 only; bats numbers every line. The name is the rest, up to a directive.
    test_line=re.compile(r"^(not ok|ok)[ \t]+(\d+)(?:[ \t]+(.*))?$"),
    # bats writes " # skip" or " # skip (reason)", and " # timeout after Ns" on a test
    # that BATS_TEST_TIMEOUT stopped; TAP also knows TODO.
    directive=re.compile(r"[ \t]+#[ \t]*(skip|todo|timeout)\b[ \t]*(.*)$", re.IGNORECASE),
    plan_line=re.compile(r"^1\.\.(\d+)\s*$"),
)
DIAG_LIMIT = 6000


@dataclass
class BatsTest(SuiteTest):
    name: str
    reason: str = ""  # a skip's reason, or a TODO's text


@dataclass
class FileResult(FileRecord):
    """One .bats file run against one runtime."""

    leftovers: list[str] = field(default_factory=list)
    tests: list[BatsTest] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            **super().to_json(),
            "leftovers": self.leftovers,
            "tests": [
                {
                    **entry_of_test(t, name=t.name, reason=t.reason),
                    **({"diagnostic": t.diagnostic} if t.status == "not ok" else {}),
                }
                for t in self.tests
            ],
        }

    @classmethod
    def from_json(cls, name: str, d: dict) -> Self:
        r = super().from_json(name, d)
        r.leftovers = list(d.get("leftovers", []))
        r.tests = [
            BatsTest(
                **entry_fields(t),
                name=t.get("name", ""),
                reason=t.get("reason", ""),
                diagnostic=t.get("diagnostic", ""),
            )
            for t in d.get("tests", [])
        ]
        return r


def parse_line(line: str) -> BatsTest | None:
    """A TAP test line as bats writes it, or None."""
    t = split_test_line(line, BATS)
    if t is None:
        return None
    reason = t.directive_text
    if reason.startswith("(") and reason.endswith(")"):
        reason = reason[1:-1]
    if t.directive == "timeout":
        reason = f"timeout {reason}".strip()
    return BatsTest(status=t.status, number=t.number, name=t.text, reason=reason)


def parse_tap(text: str) -> tuple[list[BatsTest], list[int]]:
    """The test lines (with their `#` diagnostics) and the plans seen, in order."""
    tests: list[BatsTest] = []
    plans: list[int] = []
    diag: list[str] = []
    owner: BatsTest | None = None

    def close() -> None:
        if owner is not None and diag and owner.status == "not ok":
            owner.diagnostic = truncate("\n".join(diag), DIAG_LIMIT)
        diag.clear()

    for line in text.splitlines():
        t = parse_line(line)
        if t is not None:
            close()
            tests.append(t)
            owner = t
            continue
        planned = BATS.plan(line)
        if planned is not None:
            close()
            owner = None
            plans.append(planned)
        elif line.startswith("#") and owner is not None:
            diag.append(line[2:] if line.startswith("# ") else line[1:])
    close()
    return tests, plans


def count(result: FileResult, text: str, stderr_text: str = "") -> None:
    """Fill in result's tests and counts from its TAP and exit status (strict)."""
    tests, plans = parse_tap(text)
    result.plan = plans[0] if plans else None
    if len(plans) > 1:
        result.notes.append(f"{len(plans)} plans: {', '.join(f'1..{p}' for p in plans)}")
    tail = stderr_tail(stderr_text)
    if result.timed_out:
        ended = f"timed out after {result.duration:.0f}s"
    else:
        ended = f"exit status {result.exit_code}"
    if result.plan is not None:
        missing = result.plan - len(tests)
        if missing > 0:
            for i in range(missing):
                tests.append(
                    BatsTest(
                        "not ok",
                        None,
                        f"(runner) test {len(tests) + 1} of {result.plan} never ran ({ended})",
                        diagnostic=tail if i == 0 else "",
                        synthetic=True,
                    )
                )
        elif missing < 0:
            result.notes.append(f"plan 1..{result.plan} but {len(tests)} test lines")
    failed_somewhere = result.timed_out or result.exit_code not in (0, None)
    if failed_somewhere and not any(t.status == "not ok" for t in tests):
        tests.append(
            BatsTest(
                "not ok",
                None,
                f"(runner) bats ended with {ended} without a 'not ok'",
                diagnostic=tail,
                synthetic=True,
            )
        )
    if result.timed_out:
        result.notes.append(f"timed out after {result.duration:.0f}s")
    result.tests = tests
    result.tally(t.status for t in tests)
