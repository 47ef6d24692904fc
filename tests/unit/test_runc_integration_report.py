"""The runc-integration runner's report and its other pure parts
(conformance/runc-integration): the comparison with the reference runc (the work
list), the table and totals, results.json read back as a baseline, the apt sources
the Debian image comes from, the `runc`-named wrapper, the image's modes."""

from __future__ import annotations

import io
import json
import lzma
import os
import sys
import tarfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

RUNNER_DIR = Path(__file__).resolve().parents[2] / "conformance" / "runc-integration"
sys.path.insert(0, str(RUNNER_DIR))

import rci_build  # noqa: E402
import rci_host  # noqa: E402
from rci_report import (  # noqa: E402
    RuntimeRun,
    compare,
    load_baseline,
    print_compare,
    print_table,
    to_json,
)
from rci_tap import FileResult, count  # noqa: E402


def file_result(name: str, tap: str, exit_code: int = 0, timed_out: bool = False) -> FileResult:
    r = FileResult(name=name, exit_code=exit_code, timed_out=timed_out, duration=1.0)
    count(r, tap)
    return r


REF_TAP = "1..5\nok 1 a\nok 2 b\nok 3 c\nnot ok 4 d\nok 5 e # skip no hugetlb\n"
MINE_TAP = "1..5\nok 1 a\nnot ok 2 b\n# oops\nok 3 c # skip why\nok 4 d\n"


def two_runs() -> list[RuntimeRun]:
    ref = RuntimeRun("runc", "/r/runc")
    ref.files["x.bats"] = file_result("x.bats", REF_TAP, exit_code=1)
    ref.files["y.bats"] = file_result("y.bats", "1..1\nok 1 same\n")
    mine = RuntimeRun("pyrunc", "/p/pyrunc")
    mine.files["x.bats"] = file_result("x.bats", MINE_TAP, exit_code=-9, timed_out=True)
    mine.files["y.bats"] = file_result("y.bats", "1..1\nok 1 same\n")
    return [ref, mine]


def test_compare_lists_what_the_reference_passes_and_the_runtime_does_not() -> None:
    cmp = compare(two_runs(), "runc", ["x.bats", "y.bats"])
    x, y = cmp
    assert x.counts == {"runc": (3, 1, 1), "pyrunc": (2, 2, 1)}
    worse = [(r["test"], r["status"]) for r in x.worse["pyrunc"]]
    # b failed, c skipped; e was skipped by runc, so it is nobody's business; the
    # never-reached fifth test is not a named test: "e" is missing but runc skipped it.
    assert worse == [("b", "not ok"), ("c", "skip")]
    assert x.worse["pyrunc"][0]["diagnostic"] == "oops"
    assert x.worse["pyrunc"][1]["reason"] == "why"
    assert [(r["test"], r["reference"]) for r in x.better["pyrunc"]] == [("d", "not ok")]
    assert y.worse["pyrunc"] == [] and y.better["pyrunc"] == []
    assert "runc" not in x.worse


def test_a_test_the_runtime_never_reached_is_missing() -> None:
    ref = RuntimeRun("runc", "r")
    ref.files["z.bats"] = file_result("z.bats", "1..2\nok 1 a\nok 2 b\n")
    mine = RuntimeRun("pyrunc", "p")
    mine.files["z.bats"] = file_result("z.bats", "1..2\nok 1 a\n", exit_code=-9, timed_out=True)
    (z,) = compare([ref, mine], "runc", ["z.bats"])
    assert [(r["test"], r["status"]) for r in z.worse["pyrunc"]] == [("b", "missing")]


def test_repeated_names_are_told_apart_by_occurrence() -> None:
    ref = RuntimeRun("runc", "r")
    ref.files["l.bats"] = file_result("l.bats", "1..2\nok 1 loop\nok 2 loop\n")
    mine = RuntimeRun("pyrunc", "p")
    mine.files["l.bats"] = file_result("l.bats", "1..2\nok 1 loop\nnot ok 2 loop\n", 1)
    (cmpd,) = compare([ref, mine], "runc", ["l.bats"])
    assert [(r["test"], r["occurrence"]) for r in cmpd.worse["pyrunc"]] == [("loop", 2)]


def test_print_compare_and_table() -> None:
    runs = two_runs()
    cmp = compare(runs, "runc", ["x.bats", "y.bats"])
    buf = io.StringIO()
    print_compare(cmp, "runc", ["runc", "pyrunc"], file=buf)
    text = buf.getvalue()
    assert "== pyrunc vs runc: 2 tests runc passes and pyrunc does not (1 the other" in text
    assert "x.bats: pyrunc 2/2/1, runc 3/1/1" in text
    assert "  [not ok] b" in text and "  [skip] c: why" in text
    assert "y.bats" not in text
    buf = io.StringIO()
    print_table(runs, ["x.bats", "y.bats"], file=buf)
    lines = buf.getvalue().splitlines()
    assert lines[-2:] == [
        "runc: 4 passed, 1 failed, 1 skipped",
        "pyrunc: 3 passed, 2 failed, 1 skipped",
    ]
    assert any(line.startswith("x.bats") and line.endswith("*") for line in lines)


def test_one_runtime_prints_one_line_per_file_and_the_totals_last() -> None:
    run = two_runs()[0]
    buf = io.StringIO()
    print_table([run], ["x.bats", "y.bats", "w.bats"], file=buf)
    assert buf.getvalue().splitlines() == [
        "x.bats: 3 passed, 1 failed, 1 skipped",
        "y.bats: 1 passed, 0 failed, 0 skipped",
        "w.bats: not run",
        "",
        "runc: 4 passed, 1 failed, 1 skipped",
    ]


def test_results_json_reads_back_as_a_baseline(tmp_path: Path) -> None:
    runs = two_runs()
    names = ["x.bats", "y.bats"]
    doc = to_json(runs, names, {"commit": "c"}, compare(runs, "runc", names), "runc")
    assert doc["runtimes"]["pyrunc"]["totals"] == {"passed": 3, "failed": 2, "skipped": 1}
    assert doc["compare"]["reference"] == "runc"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    back = load_baseline(str(path))
    assert [r.label for r in back] == ["runc", "pyrunc"] and all(r.baseline for r in back)
    again = compare(back, "runc", names)
    assert again[0].worse == compare(runs, "runc", names)[0].worse
    # A baseline's own baselines are not loaded twice.
    doc["runtimes"]["pyrunc"]["baseline"] = True
    path.write_text(json.dumps(doc))
    assert [r.label for r in load_baseline(str(path))] == ["runc"]


outcomes = st.lists(st.sampled_from(["ok", "not ok", "skip", None]), min_size=1, max_size=20)


@given(outcomes, outcomes)
def test_worse_is_exactly_the_reference_passes_the_runtime_does_not(
    ref: list[str | None], mine: list[str | None]
) -> None:
    def tap(statuses: list[str | None]) -> str:
        out = []
        for i, s in enumerate(statuses, 1):
            if s == "skip":
                out.append(f"ok {i} t{i} # skip")
            elif s is not None:  # None: the test is not in this run
                out.append(f"{s} {i} t{i}")
        return "\n".join(out) + "\n"

    a, b = RuntimeRun("runc", "r"), RuntimeRun("pyrunc", "p")
    a.files["f.bats"] = file_result("f.bats", tap(ref))
    b.files["f.bats"] = file_result("f.bats", tap(mine))
    (fc,) = compare([a, b], "runc", ["f.bats"])
    got = {r["test"] for r in fc.worse["pyrunc"]}
    mine_full = (mine + [None] * len(ref))[: len(ref)]
    pairs = enumerate(zip(ref, mine_full, strict=True), 1)
    want = {f"t{i}" for i, (r, m) in pairs if r == "ok" and m != "ok"}
    assert got == want


# -- rci_build's pure parts -----------------------------------------------------------


def test_apt_sources_in_both_formats(tmp_path: Path) -> None:
    one_line = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm main\n"
        "deb-src http://deb.debian.org/debian bookworm main\n"
    )
    assert rci_build.parse_apt_sources(one_line) == [("http://deb.debian.org/debian", "bookworm")]
    deb822 = (
        "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert rci_build.parse_apt_sources(deb822) == [
        ("http://deb.debian.org/debian", "bookworm"),
        ("http://deb.debian.org/debian", "bookworm-updates"),
        ("http://deb.debian.org/debian-security", "bookworm-security"),
    ]
    other = tmp_path / "other.list"
    other.write_text("deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    debian = tmp_path / "debian.sources"
    debian.write_text(deb822)
    assert rci_build.apt_debian_source([str(other), str(debian)]) == (
        "http://deb.debian.org/debian",
        "bookworm",
    )


def test_version_tuple() -> None:
    assert rci_build.version_tuple("go1.27.3") == (1, 27, 3)
    assert rci_build.version_tuple("Bats 1.8.2") == (1, 8, 2)
    assert rci_build.version_tuple("1.25.0") < rci_build.version_tuple("go1.27.3")


def test_runtime_wrapper_is_named_runc(tmp_path: Path) -> None:
    """A link named runc (the runtime sees the name, as a drop-in installed as runc)."""
    target = tmp_path / "py runc's"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o755)
    w = rci_build.runtime_wrapper(tmp_path, "pyrunc", str(target))
    assert os.path.basename(w) == "runc" and os.access(w, os.X_OK)
    assert os.readlink(w) == str(target)
    assert rci_build.runtime_wrapper(tmp_path, "pyrunc", str(target)) == w  # kept as is
    # A runtime already named runc is used as it is.
    assert rci_build.runtime_wrapper(tmp_path, "runc", "/x/runc") == "/x/runc"


def test_retar_sets_the_image_modes(tmp_path: Path) -> None:
    src = tmp_path / "in.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        for name in ("./", "./tmp/", "./root/", "./bin/"):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(ti)
        data = b"hi\n"
        ti = tarfile.TarInfo("./etc/passwd")
        ti.size, ti.mode = len(data), 0o644
        tar.addfile(ti, io.BytesIO(data))
    dest = tmp_path / "out.tar.xz"
    rci_build.retar_xz(src, dest, rci_build.BUSYBOX_MODES)
    with lzma.open(dest) as raw, tarfile.open(fileobj=raw) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
        f = tar.extractfile("./etc/passwd")
        assert f is not None and f.read() == b"hi\n"
    assert modes["./tmp"] == 0o1777 and modes["./root"] == 0o700 and modes["./bin"] == 0o755


# -- rci_host's pure parts ------------------------------------------------------------


def test_cgroup_relpath(tmp_path: Path) -> None:
    path = str(tmp_path / "memory/a/b")
    assert rci_host.cgroup_relpath(path, tmp_path, unified=False) == "/a/b"
    # A cgroup2 mount alone has no hierarchy level.
    assert rci_host.cgroup_relpath(str(tmp_path / "a/b"), tmp_path, unified=True) == "/a/b"
    # tmp_path is no cgroup2 mount: asked, the kernel says so.
    assert rci_host.cgroup_relpath(path, tmp_path) == "/a/b"


def test_is_below() -> None:
    assert rci_host.is_below("/var/tmp/w/x", "/var/tmp/w")
    assert rci_host.is_below("/var/tmp/w", "/var/tmp/w/")
    assert not rci_host.is_below("/var/tmp/wx", "/var/tmp/w")


def test_state_roots_are_the_per_test_roots(tmp_path: Path) -> None:
    (tmp_path / "bats-run-1/runc.abc/state").mkdir(parents=True)
    (tmp_path / "bats-run-1/runc.def/bundle").mkdir(parents=True)
    (tmp_path / "bats-run-1/other/state").mkdir(parents=True)
    assert rci_host.state_roots(tmp_path) == [tmp_path / "bats-run-1/runc.abc/state"]
    assert rci_host.state_roots(tmp_path / "nothing") == []
