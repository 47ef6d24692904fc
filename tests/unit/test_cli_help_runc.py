"""pyrunc's options against the installed runc's, read from each command's help.

Every command runc lists is pyrunc's too, and every option runc shows is one pyrunc
shows, except those in LACKING, each with the reason pyrunc does without it. The
reference is /usr/sbin/runc (Debian's 1.1.5 here; PYRUNC_REFERENCE_RUNC names another
build); skipped where there is none. Options pyrunc has beyond runc's are listed in the
test's output (-rP), never an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.test_cli_help import Called, call, make_runtime, option_names

REFERENCE = os.environ.get("PYRUNC_REFERENCE_RUNC", "/usr/sbin/runc")

# Options of some runc version that pyrunc does not have, on purpose: (command, option)
# ("" for the runtime's global options) -> why.
LACKING: dict[tuple[str, str], str] = {
    ("", "--criu"): "runc 1.1's path to criu; accepted and ignored, unlisted, as runc 1.2"
    " dropped it: checkpoint/restore run the criu on PATH",
    ("run", "--no-subreaper"): "pyrunc's run is always the subreaper of the container's init:"
    " it reaps the orphans while it waits for its exit status",
}

pytestmark = pytest.mark.skipif(
    not os.access(REFERENCE, os.X_OK), reason=f"no reference runc at {REFERENCE}"
)


@pytest.fixture(scope="module")
def pyrunc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_runtime(tmp_path_factory.mktemp("bin"))


def _commands(root_help: Called) -> list[str]:
    rows = [r.strip() for r in root_help.section("COMMANDS") if r.strip()]
    names = [r.split("  ")[0] for r in rows]
    return [n for n in names if not n.startswith("help")]


def _global_names(root_help: Called) -> set[str]:
    return root_help.option_names("GLOBAL OPTIONS")


def test_every_runc_command_is_pyruncs(pyrunc: Path) -> None:
    theirs = _commands(call(REFERENCE, "--help"))
    ours = _commands(call(pyrunc, "--help"))
    assert theirs, "no commands read from the reference's help"
    assert [c for c in theirs if c not in ours] == []


def test_global_options_match_runcs(pyrunc: Path) -> None:
    theirs = _global_names(call(REFERENCE, "--help"))
    ours = _global_names(call(pyrunc, "--help"))
    assert theirs >= {"--debug", "--root", "--help"}, "the reference's help was not read"
    _compare("", theirs, ours)


def test_command_options_match_runcs(pyrunc: Path) -> None:
    report = []
    for command in _commands(call(REFERENCE, "--help")):
        theirs = _options(REFERENCE, command)
        ours = _options(pyrunc, command)
        _compare(command, theirs, ours)
        extra = sorted(ours - theirs)
        if extra:
            report.append(f"{command}: {' '.join(extra)}")
    print("pyrunc's options beyond the reference's:", "; ".join(report) or "none")


def _options(runtime: str | Path, command: str) -> set[str]:
    got = call(runtime, command, "--help")
    assert got.status == 0, f"{runtime} {command} --help: {got.err}"
    # runc 1.1 lists the flags under OPTIONS only; 1.5 adds the global ones after.
    return option_names(got.section("OPTIONS")) - {"--help", "-h"}


def _compare(command: str, theirs: set[str], ours: set[str]) -> None:
    lacking = {name for name in theirs - ours if (command, name) not in LACKING}
    assert lacking == set(), f"runc {command or '(global)'} options pyrunc lacks: {lacking}"
