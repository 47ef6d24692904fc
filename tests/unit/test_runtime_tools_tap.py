"""Strict TAP counting of the runtime-tools runner (conformance/runtime-tools/tap.py).

The rules are README.md's "Counting" there: column-0 test lines only, a failing exit
without a `not ok` is one failure, an error only in a stray YAML diagnostic is one
failure, a silent exit 0 one pass. The reference numbers depend on them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

RUNNER_DIR = Path(__file__).resolve().parents[2] / "conformance" / "runtime-tools"
# The runner is scripts beside each other, not a package: import them as run.py does.
sys.path.insert(0, str(RUNNER_DIR))

from tap import DIAG_LIMIT, count, parse_tap, yaml_error_text  # noqa: E402
from tap import TestResult as ProgramResult  # noqa: E402  (not a pytest class)


def counted(text: str, exit_code: int | None = 0, timed_out: bool = False) -> ProgramResult:
    r = ProgramResult(name="t", exit_code=exit_code, timed_out=timed_out, duration=60.0)
    count(r, text, "stderr line 1\nstderr line 2\n")
    return r


def totals(r: ProgramResult) -> tuple[int, int, int]:
    return r.passed, r.failed, r.skipped


# -- the rules, one example each ------------------------------------------------------


def test_ok_skip_not_ok_and_todo() -> None:
    tap = (
        "TAP version 13\nok 1 - a\nok 2 - b # SKIP no hugetlb\n"
        "not ok 3 - c\nnot ok 4 - d # TODO\n1..4\n"
    )
    r = counted(tap, exit_code=1)
    assert totals(r) == (1, 2, 1)
    assert [a.status for a in r.assertions] == ["ok", "skip", "not ok", "not ok"]
    assert r.assertions[1].description == "b no hugetlb"
    assert r.assertions[3].directive == "TODO"
    assert r.plan == 4 and r.notes == []


def test_indented_tap_nested_in_a_diagnostic_does_not_count() -> None:
    tap = "not ok 1 - runtimetest\n  ---\n  ok 1 - inner\n  not ok 2 - inner\n  ...\n1..1\n"
    r = counted(tap, exit_code=1)
    assert totals(r) == (0, 1, 0)
    assert "ok 1 - inner" in r.assertions[0].diagnostic


def test_failing_exit_without_not_ok_is_one_failure() -> None:
    r = counted("ok 1 - created\n", exit_code=2)
    assert totals(r) == (1, 1, 0)
    synthetic = r.assertions[-1]
    assert synthetic.synthetic and synthetic.description.startswith("(runner) exited with status 2")
    assert synthetic.diagnostic == "stderr line 1\nstderr line 2"


def test_a_timeout_without_not_ok_is_one_failure() -> None:
    r = counted("ok 1 - a\n", exit_code=-9, timed_out=True)
    assert totals(r) == (1, 1, 0)
    assert r.assertions[-1].description == "(runner) timed out after 60s"


def test_a_timeout_after_a_not_ok_adds_a_note_not_a_failure() -> None:
    r = counted("not ok 1 - a\n", exit_code=-9, timed_out=True)
    assert totals(r) == (0, 1, 0)
    assert r.notes == ["timed out"]


def test_an_error_only_in_a_stray_yaml_diagnostic_is_one_failure() -> None:
    # The hook tests report that way: a version line, a diagnostic, an empty plan.
    tap = 'TAP version 13\n  ---\n  {\n    "error": "hook failed\\nmore"\n  }\n  ...\n1..0\n'
    r = counted(tap)
    assert totals(r) == (0, 1, 0)
    assert r.assertions[0].description == (
        "(runner) error reported only in a YAML diagnostic: hook failed"
    )


def test_a_silent_exit_0_is_one_pass() -> None:
    # The *_fail tests pass by exiting 0 once the runtime refused the bad config.
    r = counted("")
    assert totals(r) == (1, 0, 0)
    assert r.assertions[0].synthetic and r.plan is None


def test_a_diagnostic_goes_to_the_line_before_else_the_line_after() -> None:
    before = "not ok 1 - a\n  ---\n  error: x\n  ...\n"
    after = "  ---\n  error: y\n  ...\nnot ok 1 - b\n"
    assert parse_tap(before)[0][0].diagnostic == "error: x"
    assert parse_tap(after)[0][0].diagnostic == "error: y"


def test_diagnostics_are_kept_for_failures_only_and_cut_at_the_limit() -> None:
    long = "x" * (DIAG_LIMIT + 10)
    tap = f"ok 1 - a\n  ---\n  {long}\n  ...\nnot ok 2 - b\n  ---\n  {long}\n  ...\n"
    passed, failed = parse_tap(tap)[0]
    assert passed.diagnostic == ""
    assert failed.diagnostic.endswith("\n[... truncated]")
    assert len(failed.diagnostic) == DIAG_LIMIT + len("\n[... truncated]")


def test_a_plan_that_disagrees_is_a_note() -> None:
    r = counted("ok 1 - a\n1..3\n")
    assert r.notes == ["plan 1..3 but 1 test lines"]
    # Two plans (1..112 then 1..0): agreeing with either is fine.
    assert counted("ok 1 - a\n1..1\n1..0\n").notes == []


def test_yaml_error_text_reads_json_and_yaml() -> None:
    assert yaml_error_text('{"error": "first\\nsecond"}') == "first"
    assert yaml_error_text('error: "quoted",') == "quoted"
    assert yaml_error_text("no error here") == ""


def test_round_trip_through_json() -> None:
    r = counted("ok 1 - a\nnot ok 2 - b\n  ---\n  error: e\n  ...\n", exit_code=1)
    back = ProgramResult.from_json("t", r.to_json())
    assert totals(back) == totals(r)
    assert [(a.status, a.number, a.description, a.diagnostic) for a in back.assertions] == [
        (a.status, a.number, a.description, a.diagnostic) for a in r.assertions
    ]


# -- properties --------------------------------------------------------------------------

STATUSES = ("ok", "not ok", "skip", "todo")
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=20).map(str.strip)
lines = st.lists(st.tuples(st.sampled_from(STATUSES), words), max_size=30)


def render(tests: list[tuple[str, str]]) -> str:
    out = ["TAP version 13"]
    for n, (kind, desc) in enumerate(tests, 1):
        if kind == "skip":
            out.append(f"ok {n} - {desc} # SKIP reason")
        elif kind == "todo":
            out.append(f"not ok {n} - {desc} # TODO later")
        else:
            out.append(f"{kind} {n} - {desc}")
    out.append(f"1..{len(tests)}")
    return "\n".join(out) + "\n"


@given(lines)
def test_each_column_0_line_counts_once_as_written(tests: list[tuple[str, str]]) -> None:
    r = counted(render(tests))
    want_fail = sum(k in ("not ok", "todo") for k, _ in tests)
    if tests:
        assert totals(r) == (
            sum(k == "ok" for k, _ in tests),
            want_fail,
            sum(k == "skip" for k, _ in tests),
        )
        assert [a.number for a in r.assertions] == list(range(1, len(tests) + 1))
        assert r.notes == []
    else:
        assert totals(r) == (1, 0, 0)  # the silent pass: a plan alone prints no test line


@given(lines, st.integers(min_value=1, max_value=8))
def test_indented_lines_never_count(tests: list[tuple[str, str]], indent: int) -> None:
    text = "".join(" " * indent + line + "\n" for line in render(tests).splitlines())
    assert parse_tap(text)[0] == []


@given(lines, st.integers(min_value=-9, max_value=255), st.booleans())
def test_every_program_counts_and_a_bad_end_is_never_clean(
    tests: list[tuple[str, str]], exit_code: int, timed_out: bool
) -> None:
    r = counted(render(tests), exit_code=exit_code, timed_out=timed_out)
    assert r.passed + r.failed + r.skipped >= 1
    if exit_code != 0 or timed_out:
        assert r.failed >= 1
    assert r.failed == sum(a.status == "not ok" for a in r.assertions)
