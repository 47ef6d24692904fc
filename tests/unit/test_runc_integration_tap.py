"""Strict counting of `bats --tap` output by the runc-integration runner
(conformance/runc-integration/rci_tap.py; the rules are README.md's "Counting" there):
ok / skip / not ok lines, `#` diagnostics for the failure they follow, every test of
the plan that never ran a failure, a failing exit without a `not ok` one failure."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

RUNNER_DIR = Path(__file__).resolve().parents[2] / "conformance" / "runc-integration"
sys.path.insert(0, str(RUNNER_DIR))

from rci_tap import FileResult, count, parse_line, parse_tap  # noqa: E402


def counted(
    text: str, exit_code: int | None = 0, timed_out: bool = False, stderr: str = ""
) -> FileResult:
    r = FileResult(name="x.bats", exit_code=exit_code, timed_out=timed_out, duration=600.0)
    count(r, text, stderr)
    return r


def totals(r: FileResult) -> tuple[int, int, int]:
    return r.passed, r.failed, r.skipped


# -- one example per rule -------------------------------------------------------------

BATS_TAP = """\
1..4
ok 1 runc run [seccomp] (SCMP_ACT_KILL)
ok 2 runc run [hugetlb] # skip test requires cgroups_hugetlb
not ok 3 runc exec --user
# (in test file exec.bats, line 12)
#   `[ "$status" -eq 0 ]' failed
# runc exec --user 1000 test_busybox id (status=1)
# exec failed: no such user
ok 4 runc delete # skip
"""


def test_bats_lines_and_diagnostics() -> None:
    r = counted(BATS_TAP, exit_code=1)
    assert totals(r) == (1, 1, 2)
    assert r.plan == 4 and r.notes == []
    names = [t.name for t in r.tests]
    assert names == [
        "runc run [seccomp] (SCMP_ACT_KILL)",
        "runc run [hugetlb]",
        "runc exec --user",
        "runc delete",
    ]
    assert r.tests[1].status == "skip" and r.tests[1].reason == "test requires cgroups_hugetlb"
    assert r.tests[3].status == "skip" and r.tests[3].reason == ""
    failed = r.tests[2]
    assert failed.status == "not ok" and failed.number == 3
    assert failed.diagnostic.splitlines()[0] == "(in test file exec.bats, line 12)"
    assert "exec failed: no such user" in failed.diagnostic
    # Passing tests keep no diagnostic.
    assert all(t.diagnostic == "" for t in r.tests if t.status != "not ok")


def test_skip_reason_in_parentheses_is_unwrapped() -> None:
    t = parse_line("ok 7 runc update (cpu) # skip (test requires cgroups_rt)")
    assert t is not None and t.status == "skip" and t.reason == "test requires cgroups_rt"
    assert t.name == "runc update (cpu)"


def test_a_bats_test_timeout_is_a_failure_of_the_same_name() -> None:
    r = counted("1..1\nnot ok 1 runc run [frozen] # timeout after 120s\n", exit_code=1)
    assert totals(r) == (0, 1, 0)
    assert r.tests[0].name == "runc run [frozen]"
    assert r.tests[0].reason == "timeout after 120s"


def test_todo_on_not_ok_is_still_a_failure() -> None:
    r = counted("1..1\nnot ok 1 flaky # TODO fix later\n", exit_code=1)
    assert totals(r) == (0, 1, 0)
    assert r.tests[0].reason == "fix later"


def test_only_column_zero_test_lines_count() -> None:
    tap = "1..1\n  ok 9 indented\n# ok 8 a comment\nok 1 real\nnot ok\nokay 2\n"
    r = counted(tap)
    assert totals(r) == (1, 0, 0)
    assert [t.name for t in r.tests] == ["real"]


def test_tests_of_the_plan_that_never_ran_are_failures() -> None:
    tap = "1..5\nok 1 a\nnot ok 2 b\nok 3 c # skip no\n"
    r = counted(tap, exit_code=-9, timed_out=True, stderr="last words\n")
    assert totals(r) == (1, 1 + 2, 1)
    synth = [t for t in r.tests if t.synthetic]
    assert len(synth) == 2
    assert synth[0].name == "(runner) test 4 of 5 never ran (timed out after 600s)"
    assert synth[0].diagnostic == "last words"
    assert "timed out after 600s" in r.notes


def test_failing_exit_without_not_ok_is_one_failure() -> None:
    r = counted("1..2\nok 1 a\nok 2 b\n", exit_code=1)
    assert totals(r) == (2, 1, 0)
    assert r.tests[-1].synthetic and "exit status 1" in r.tests[-1].name


def test_failing_exit_with_nothing_printed_is_one_failure() -> None:
    r = counted("", exit_code=1, stderr="bats: helpers.bash: syntax error\n")
    assert totals(r) == (0, 1, 0)
    assert r.tests[0].diagnostic == "bats: helpers.bash: syntax error"


def test_failing_exit_with_a_not_ok_adds_nothing() -> None:
    r = counted("1..1\nnot ok 1 a\n", exit_code=1)
    assert totals(r) == (0, 1, 0)


def test_more_lines_than_the_plan_is_noted() -> None:
    r = counted("1..1\nok 1 a\nok 2 b\n")
    assert totals(r) == (2, 0, 0)
    assert r.notes == ["plan 1..1 but 2 test lines"]


def test_json_round_trip() -> None:
    r = counted(BATS_TAP, exit_code=1)
    r.leftovers = ["container x (force-deleted)"]
    back = FileResult.from_json("x.bats", r.to_json())
    assert totals(back) == totals(r)
    assert [(t.status, t.name, t.reason, t.diagnostic) for t in back.tests] == [
        (t.status, t.name, t.reason, t.diagnostic) for t in r.tests
    ]
    assert back.leftovers == r.leftovers


# -- properties -----------------------------------------------------------------------

names = (
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" -[]()._,:="),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(lambda s: s and "#" not in s and not s[0].isdigit())
)
tests = st.lists(
    st.tuples(st.sampled_from(["ok", "not ok", "skip"]), names, st.sampled_from(["", "why"])),
    max_size=30,
)


def render(items: list[tuple[str, str, str]]) -> str:
    lines = [f"1..{len(items)}"]
    for i, (status, name, reason) in enumerate(items, 1):
        if status == "skip":
            lines.append(f"ok {i} {name} # skip" + (f" ({reason})" if reason else ""))
        else:
            lines.append(f"{status} {i} {name}")
            if status == "not ok":
                lines.append(f"# (in test file x.bats, line {i})")
    return "\n".join(lines) + "\n"


@given(tests)
def test_what_bats_writes_is_read_back(items: list[tuple[str, str, str]]) -> None:
    parsed, plans = parse_tap(render(items))
    assert plans == [len(items)]
    assert [(t.status, t.name) for t in parsed] == [(s, n) for s, n, _ in items]
    assert [t.reason for t in parsed if t.status == "skip"] == [
        r for s, _, r in items if s == "skip"
    ]


@given(tests, st.integers(min_value=0, max_value=30), st.booleans())
def test_a_cut_short_run_still_adds_up_to_the_plan(
    items: list[tuple[str, str, str]], keep: int, timed_out: bool
) -> None:
    text = render(items)
    lines = text.splitlines()
    # Keep the plan and the first `keep` tests (bats killed half-way).
    shown, seen = [lines[0]], 0
    for line in lines[1:]:
        if not line.startswith("#"):
            seen += 1
        if seen > keep:
            break
        shown.append(line)
    r = counted("\n".join(shown) + "\n", exit_code=-9 if timed_out else 1, timed_out=timed_out)
    plan, reported = len(items), min(keep, len(items))
    assert sum(1 for t in r.tests if not t.synthetic) == reported
    # Every test of the plan is counted once; a run that printed all of them, none
    # failed, and still exited non-zero gets its one failure on top.
    clean = reported == plan and all(s != "not ok" for s, _, _ in items)
    assert r.passed + r.failed + r.skipped == plan + (1 if clean else 0)
    assert r.failed >= 1  # a killed or failing file never looks clean
