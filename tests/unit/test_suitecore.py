"""conformance/suitecore: what the runc-integration and runtime-tools runners share.
Each runner's own tests check its dialect and counting on top of this; here are the
parts no runner test reaches: the line split with a dialect of the test's own, the
record's JSON round trip, the baseline loader, the table, running a file in its own
process group (what it leaves running is killed), runtimes, the lock, the scratch dir."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.suitecore.results import (
    FileRecord,
    SuiteRun,
    SuiteTest,
    entry_fields,
    entry_of_test,
    keyed_by_occurrence,
    load_runs,
    runtime_json,
    write_results,
)
from conformance.suitecore.runner import (
    label_clash,
    mounts_below,
    resolve_runtime,
    run_captured,
    scratch_dir,
    split_runtime,
    summary_line,
    take_lock,
)
from conformance.suitecore.tables import (
    counts_cell,
    occurrence_mark,
    print_side_by_side,
    print_totals,
)
from conformance.suitecore.tap import TapDialect, split_test_line, stderr_tail, truncate

# -- TAP lines ------------------------------------------------------------------------

# A dialect unlike both suites': the number optional, "- " before the text.
LOOSE = TapDialect(
    test_line=re.compile(r"^(not ok|ok)\b[ \t]*(\d+)?[ \t]*(?:-[ \t]*)?(.*)$"),
    directive=re.compile(r"[ \t]#[ \t]*(skip|todo)\b[ \t]*(.*)$", re.IGNORECASE),
    plan_line=re.compile(r"^1\.\.(\d+)$"),
)


def test_a_line_splits_into_status_number_text_and_directive() -> None:
    t = split_test_line("ok 3 - mounts # SKIP no hugetlb ", LOOSE)
    assert t is not None
    assert (t.status, t.number, t.text) == ("skip", 3, "mounts")
    assert (t.directive, t.directive_text) == ("skip", "no hugetlb")
    t = split_test_line("not ok - kill # TODO later", LOOSE)
    assert t is not None
    # A failure stays one whatever its directive; no number is None, not 0.
    assert (t.status, t.number, t.text, t.directive) == ("not ok", None, "kill", "todo")
    t = split_test_line("ok 0", LOOSE)
    assert t is not None and (t.number, t.text, t.directive) == (0, "", "")


def test_what_is_no_test_line_of_the_dialect_is_none() -> None:
    for line in ("  ok 1 indented", "okay 1", "# ok 1", "1..3", ""):
        assert split_test_line(line, LOOSE) is None, line
    assert LOOSE.plan("1..3") == 3 and LOOSE.plan("1..3 x") is None


@given(st.text(max_size=50), st.integers(min_value=0, max_value=60))
def test_truncate_keeps_the_start_and_says_it_cut(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut == text[:limit] + "\n[... truncated]"


def test_stderr_tail_is_the_last_lines_without_trailing_blanks() -> None:
    assert stderr_tail("a\nb\nc\nd\ne\nf\n\n") == "b\nc\nd\ne\nf"
    assert stderr_tail("only\n", lines=3) == "only"
    assert stderr_tail("") == ""


# -- records and results.json ---------------------------------------------------------


@dataclass
class Item(SuiteTest):
    name: str
    why: str = ""


@dataclass
class Record(FileRecord):
    items: list[Item] = field(default_factory=list)


@dataclass
class Run(SuiteRun):
    things: dict[str, Record] = field(default_factory=dict)

    def records(self) -> dict[str, Record]:
        return self.things


records = st.builds(
    Record,
    name=st.text(min_size=1, max_size=10),
    passed=st.integers(0, 99),
    failed=st.integers(0, 99),
    skipped=st.integers(0, 99),
    exit_code=st.none() | st.integers(-9, 255),
    timed_out=st.booleans(),
    duration=st.floats(0, 1e4),
    plan=st.none() | st.integers(0, 500),
    tap_file=st.text(max_size=10),
    stderr_file=st.text(max_size=10),
    notes=st.lists(st.text(max_size=10), max_size=3),
)


@given(records)
def test_a_record_reads_back_from_its_json(r: Record) -> None:
    back = Record.from_json(r.name, json.loads(json.dumps(r.to_json())))
    assert isinstance(back, Record)
    assert back == Record(**{**r.__dict__, "duration": round(r.duration, 3)})


def test_a_record_keeps_its_defaults_for_missing_keys_and_the_json_key_order() -> None:
    assert Record.from_json("f", {}) == Record(name="f")
    assert list(Record(name="f").to_json()) == [
        "passed",
        "failed",
        "skipped",
        "exit_code",
        "timed_out",
        "duration",
        "plan",
        "tap",
        "stderr",
        "notes",
    ]


def test_tally_counts_the_three_statuses() -> None:
    r = Record(name="f")
    r.tally(["ok", "skip", "not ok", "ok", "not ok", "not ok"])
    assert r.counts() == (2, 3, 1)


def test_a_tests_entry_has_the_suites_keys_between_number_and_synthetic() -> None:
    t = Item("skip", 4, "a", why="no hugetlb", diagnostic="d", synthetic=True)
    entry = entry_of_test(t, name=t.name, why=t.why)
    assert list(entry) == ["status", "number", "name", "why", "synthetic"]
    back = Item(**entry_fields(entry), name=entry["name"], why=entry["why"])
    assert back == Item("skip", 4, "a", why="no hugetlb", synthetic=True)
    assert entry_fields({"status": "ok"}) == {"status": "ok", "number": None, "synthetic": False}
    with pytest.raises(KeyError):
        entry_fields({})


def test_tests_are_keyed_by_name_and_occurrence_without_the_runners_own() -> None:
    items = [
        Item("ok", 1, "a"),
        Item("not ok", 2, "b"),
        Item("ok", 3, "a"),
        Item("not ok", None, "x", synthetic=True),
    ]
    keyed = keyed_by_occurrence(items, lambda i: i.name)
    assert list(keyed) == [("a", 0), ("b", 0), ("a", 1)]
    assert keyed[("a", 1)] is items[2]


def two_runs() -> list[Run]:
    a, b = Run("runc", "/r"), Run("pyrunc", "/p")
    a.things["f1"] = Record("f1", passed=2, skipped=1)
    a.things["f2"] = Record("f2", passed=1)
    b.things["f1"] = Record("f1", passed=1, failed=2)
    return [a, b]


def test_results_json_entries_load_back_as_baselines_but_not_their_baselines(
    tmp_path: Path,
) -> None:
    runs = two_runs()
    entry = runtime_json(runs[0], "things", {"extra": [1]})
    assert list(entry) == ["path", "baseline", "totals", "extra", "things"]
    assert entry["totals"] == {"passed": 3, "failed": 0, "skipped": 1}
    doc = {"runtimes": {r.label: runtime_json(r, "things") for r in runs}}
    doc["runtimes"]["old"] = {**runtime_json(runs[1], "things"), "baseline": True}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    back = load_runs(str(path), "things", Run, Record)
    assert [(r.label, r.path, r.baseline, r.totals()) for r in back] == [
        ("runc", "/r", True, (3, 0, 1)),
        ("pyrunc", "/p", True, (1, 2, 0)),
    ]
    assert all(isinstance(t, Record) for r in back for t in r.things.values())


def test_write_results_to_the_dir_and_with_json_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_results({"a": 1}, tmp_path, as_json=False)
    assert (tmp_path / "results.json").read_text() == '{\n "a": 1\n}\n'
    out, err = capsys.readouterr()
    assert out == "" and err == f"results in {tmp_path}\n"
    write_results({"a": 1}, None, as_json=True)
    out, err = capsys.readouterr()
    assert json.loads(out) == {"a": 1} and err == ""


# -- the table ------------------------------------------------------------------------


def test_side_by_side_marks_the_files_the_runtimes_differ_on() -> None:
    buf = io.StringIO()
    print_side_by_side("file", two_runs(), ["f1", "f2", "f3"], buf)
    print_totals(two_runs(), buf)
    assert buf.getvalue().splitlines() == [
        "file              runc          pyrunc",
        "        pass/fail/skip  pass/fail/skip",
        "f1               2/0/1           1/2/0  *",
        "f2               1/0/0               -  *",
        "f3                   -               -",
        "",
        "runc: 3 passed, 0 failed, 1 skipped",
        "pyrunc: 1 passed, 2 failed, 0 skipped",
    ]


def test_cells_and_marks() -> None:
    assert counts_cell(None) == "-" and counts_cell((1, 2, 3)) == "1/2/3"
    assert occurrence_mark(1) == "" and occurrence_mark(3) == " (#3)"
    r = Record("x.bats", passed=1, failed=2, skipped=3, duration=1.26)
    assert summary_line("pyrunc", r, " [n]") == (
        "[pyrunc] x.bats: 1 passed, 2 failed, 3 skipped (1.3s) [n]"
    )


# -- running one file -----------------------------------------------------------------


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_file_runs_with_its_tap_and_stderr_in_files(tmp_path: Path) -> None:
    r = Record("f")
    script = "echo 1..1; echo ok 1 a; echo oops >&2; exit 3"
    tap, err = run_captured(r, ["sh", "-c", script], tmp_path / "out", "f", 30, cwd=tmp_path)
    assert (tap, err) == ("1..1\nok 1 a\n", "oops\n")
    assert (r.exit_code, r.timed_out) == (3, False) and 0 < r.duration < 30
    assert r.tap_file == str(tmp_path / "out" / "f.tap")
    assert Path(r.stderr_file).read_text() == "oops\n"


def test_what_a_file_leaves_running_in_its_group_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"sleep 300 & echo $! > {pidfile}; echo ok 1"
    r = Record("f")
    run_captured(r, ["sh", "-c", script], tmp_path, "f", 30)
    assert r.exit_code == 0
    assert wait_dead(int(pidfile.read_text()))


def test_a_file_that_times_out_is_killed_with_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"sleep 300 & echo $! > {pidfile}; echo ok 1; wait"
    r = Record("f")
    tap, _ = run_captured(r, ["sh", "-c", script], tmp_path, "f", 0.5)
    assert r.timed_out and r.exit_code == -9 and tap == "ok 1\n"
    assert wait_dead(int(pidfile.read_text()))


def test_an_interrupted_file_is_killed_and_the_interrupt_goes_on(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # (The pause: the interrupt is to come while the runner waits, not while Popen
    # is still returning.)
    script = f"sleep 300 & echo $! > {pidfile}; sleep 0.5; kill -USR1 {os.getpid()}; wait"

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_captured(Record("f"), ["sh", "-c", script], tmp_path, "f", 30)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert wait_dead(int(pidfile.read_text()))


# -- runtimes, lock, scratch dir ------------------------------------------------------


def test_runtime_specs(tmp_path: Path) -> None:
    assert split_runtime("pyrunc=/usr/bin/x") == ("pyrunc", "/usr/bin/x")
    assert split_runtime("/opt/a=b/runc") == ("", "/opt/a=b/runc")
    assert split_runtime("./x=y") == ("", "./x=y")
    exe = tmp_path / "crun.sh"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert resolve_runtime("", str(exe)) == ("crun", str(exe))
    assert resolve_runtime("mine", str(exe)) == ("mine", str(exe))
    label, path = resolve_runtime("", "sh")  # a bare name: looked up in PATH
    assert label == "sh" and os.path.isabs(path) and os.access(path, os.X_OK)
    with pytest.raises(SystemExit, match="must be one word: 'a b'"):
        resolve_runtime("a b", str(exe))
    (tmp_path / "plain").write_text("")
    for bad in (str(tmp_path / "plain"), str(tmp_path / "none"), "no-such-runtime-here"):
        with pytest.raises(SystemExit, match="runtime not found or not executable"):
            resolve_runtime("", bad)


def test_label_clash() -> None:
    assert label_clash(["runc", "pyrunc"]) is None
    assert "same label" in (label_clash(["runc", "runc"]) or "")


def test_the_lock_is_held_until_closed(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    first = take_lock(path)
    assert first is not None
    assert take_lock(path) is None
    first.close()
    again = take_lock(path)
    assert again is not None
    again.close()


def test_the_scratch_dir_is_traversable_and_removed(tmp_path: Path) -> None:
    with scratch_dir("w-", tmp_path) as work:
        assert work.parent == tmp_path and (work.stat().st_mode & 0o777) == 0o755
        (work / "sub").mkdir()
        (work / "sub" / "f").write_text("x")
        (work / "sub").chmod(0o500)  # a leftover its owner cannot write into
    assert not work.exists()


def test_mounts_below_sees_the_root(tmp_path: Path) -> None:
    assert "/" in mounts_below(Path("/"))
    assert mounts_below(tmp_path / "none") == []
