"""Strict TAP parsing and counting for runtime-tools' validation programs.

What counts, and why, is in README.md ("Counting"): only column-0 test lines count,
a program that fails without a `not ok` counts one failure, an error that only a
stray YAML diagnostic reports counts one failure, and a silent exit 0 one pass.
Python standard library only.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Self

from conformance.suitecore.results import FileRecord, SuiteTest, entry_fields, entry_of_test
from conformance.suitecore.tap import TapDialect, split_test_line, stderr_tail, truncate

TAP_GO = TapDialect(
    # A TAP test line: column 0, "ok" or "not ok", optional number, optional
    # "- description", optional "# DIRECTIVE reason".
    test_line=re.compile(r"^(not ok|ok)\b[ \t]*(\d+)?[ \t]*(?:-[ \t]*)?(.*)$"),
    directive=re.compile(r"(?:^|\s)#\s*(SKIP|TODO)\S*\s*(.*)$", re.IGNORECASE),
    # (a plan may carry a directive: 1..0 # SKIP)
    plan_line=re.compile(r"^1\.\.(\d+)"),
)
# tap-go writes its "YAML" diagnostics as JSON objects; accept both forms.
YAML_ERROR = re.compile(r'^\s*"?error"?\s*:\s*(.*)$', re.MULTILINE)
DIAG_LIMIT = 8000


@dataclass
class Assertion(SuiteTest):
    description: str
    directive: str = ""  # "SKIP", "TODO" or ""


@dataclass
class TestResult(FileRecord):
    """One validation program run against one runtime."""

    assertions: list[Assertion] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            **super().to_json(),
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
            "assertions": [entry_of_test(a, description=a.description) for a in self.assertions],
        }

    @classmethod
    def from_json(cls, name: str, d: dict) -> Self:
        r = super().from_json(name, d)
        diags = {
            (f.get("number"), f.get("description")): f.get("diagnostic", "")
            for f in d.get("failures", [])
        }
        for a in d.get("assertions", []):
            r.assertions.append(
                Assertion(
                    **entry_fields(a),
                    description=a.get("description", ""),
                    diagnostic=diags.get((a.get("number"), a.get("description")), ""),
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
        t = split_test_line(line, TAP_GO)
        if t is not None:
            # The description keeps a directive's reason (the comparison keys on it).
            desc = f"{t.text} {t.directive_text}".strip()
            items.append(
                (
                    "test",
                    Assertion(t.status, t.number, desc, directive=t.directive.upper()),
                )
            )
        else:
            planned = TAP_GO.plan(line)
            if planned is not None:
                plans.append(planned)
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
        else:
            a.diagnostic = truncate(a.diagnostic, DIAG_LIMIT)
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
        tail = stderr_tail(stderr_text)
        if result.timed_out:
            asserts.append(
                Assertion(
                    "not ok",
                    None,
                    f"(runner) timed out after {result.duration:.0f}s",
                    diagnostic=tail,
                    synthetic=True,
                )
            )
        elif result.exit_code not in (0, None):
            asserts.append(
                Assertion(
                    "not ok",
                    None,
                    f"(runner) exited with status {result.exit_code} without a 'not ok'",
                    diagnostic=tail,
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
    result.tally(a.status for a in asserts)
