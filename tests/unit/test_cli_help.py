"""Help in runc's layout (urfave/cli v3), as runc's tests/integration/help.bats checks it
and scripts read it: `NAME:` then `<name> <command> - ...` for every runc command, the
name being the basename the runtime was called by; `No help topic for 'foo'` and a
non-zero exit for an unknown command; `help [command]`.

The runtime runs as it is installed (pyrunc/launcher.py's launcher), written to a
temporary directory under the name `runc`, as help.bats runs it. No root needed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.cli import args as cliargs
from pyrunc.cli import helpfmt
from pyrunc.cli.main import build_parser
from pyrunc.launcher import launcher_text
from pyrunc.options import DEFAULT_ROOT

REPO = Path(__file__).resolve().parents[2]

# help.bats's list: every command runc has.
RUNC_COMMANDS = (
    "checkpoint", "create", "delete", "events", "exec", "kill", "list", "pause", "ps",
    "restore", "resume", "run", "spec", "start", "state", "update", "features",
)  # fmt: skip
COMMANDS = (*RUNC_COMMANDS, "check")  # and pyrunc's own
TITLES = ("NAME", "USAGE", "VERSION", "DESCRIPTION", "COMMANDS", "OPTIONS", "GLOBAL OPTIONS")
SECTION = re.compile(rf"^({'|'.join(TITLES)}):$")  # not EXAMPLE: in a command's text


class Called:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.status = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = proc.stdout.splitlines()

    def section(self, title: str) -> list[str]:
        """The lines under `title:` up to the next section title (none without one)."""
        if f"{title}:" not in self.lines:
            return []
        start = self.lines.index(f"{title}:") + 1
        end = next(
            (i for i in range(start, len(self.lines)) if SECTION.match(self.lines[i])),
            len(self.lines),
        )
        return self.lines[start:end]

    def option_names(self, title: str = "OPTIONS") -> set[str]:
        return option_names(self.section(title))


def option_names(lines: list[str]) -> set[str]:
    """Every option name in a help section: `--name placeholder, -n placeholder  usage`
    (runc 1.1 says "value" for the placeholder, 1.5 the type; a repeatable one is
    followed by `[ --name ... ]`)."""
    names: set[str] = set()
    for line in lines:
        if line.startswith("   -"):
            cell = line.strip().split("  ")[0]
            names.update(re.findall(r"(?:^|, )(--?[\w-]+)", cell))
    return names


def make_runtime(directory: Path, name: str = "runc") -> Path:
    """This tree's runtime as the installer writes it, called `name`."""
    path = directory / name
    path.write_text(launcher_text(sys.executable, str(REPO)))
    path.chmod(0o755)
    return path


def call(executable: str | Path, *args: str) -> Called:
    proc = subprocess.run(
        [str(executable), *args], capture_output=True, text=True, timeout=60, cwd="/"
    )
    return Called(proc)


@pytest.fixture(scope="module")
def runc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_runtime(tmp_path_factory.mktemp("bin"))


# -- help.bats --------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_runtime_help_as_help_bats_checks_it(runc: Path, flag: str) -> None:
    got = call(runc, flag)
    assert got.status == 0, got.err
    assert re.search(r"NAME:+", got.lines[0])
    assert re.search(r"runc - Open Container Initiative runtime+", got.lines[1])
    assert got.lines[1] == "   runc - Open Container Initiative runtime"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_command_help_as_help_bats_checks_it(runc: Path, command: str, flag: str) -> None:
    got = call(runc, command, flag)
    assert got.status == 0, got.err
    assert got.err == ""
    assert re.search(r"NAME:+", got.lines[0])
    assert re.search(rf"runc {command}+", got.lines[1])
    assert got.lines[1].startswith(f"   runc {command} - ")


def test_unknown_command_help_as_help_bats_checks_it(runc: Path) -> None:
    got = call(runc, "foo", "-h")
    assert got.status != 0
    assert "No help topic for 'foo'" in got.out + got.err
    assert got.out == ""


# -- the name shown ---------------------------------------------------------------------


def test_the_name_is_the_basename_called(tmp_path: Path) -> None:
    other = make_runtime(tmp_path, "my-runtime")
    got = call(other, "kill", "--help")
    assert got.lines[1].startswith("   my-runtime kill - ")
    assert "   my-runtime kill [options] <container-id> [signal]" in got.lines
    assert "       # my-runtime kill ubuntu01 KILL" in got.lines  # texts say the name too


def test_python_m_pyrunc_is_pyrunc() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyrunc", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == "   pyrunc - Open Container Initiative runtime"


# -- the runtime's help -----------------------------------------------------------------


def test_runtime_help_sections(runc: Path) -> None:
    got = call(runc, "--help")
    titles = [line for line in got.lines if SECTION.match(line)]
    assert titles == ["NAME:", "USAGE:", "VERSION:", "COMMANDS:", "GLOBAL OPTIONS:"]
    assert got.section("USAGE") == ["   runc [global options] [command [command options]]", ""]
    assert got.lines[2:4] == [
        "",
        "          runc is a command line client for running applications packaged according to",
    ]
    assert "              # runc run [ -b bundle ] <container-id>" in got.lines


def test_runtime_help_lists_every_command_in_runcs_order(runc: Path) -> None:
    rows = [line for line in call(runc, "-h").section("COMMANDS") if line]
    names = [row.strip().split("  ")[0] for row in rows]
    assert names == [*RUNC_COMMANDS, "check", "help, h"]
    columns = {len(row) - len(row[3:].split("  ", 1)[1].lstrip()) for row in rows}
    assert columns == {3 + len("checkpoint") + 2}  # one usage column, as runc's


def test_runtime_help_global_options(runc: Path) -> None:
    got = call(runc, "-h")
    rows = [line for line in got.section("GLOBAL OPTIONS") if line]
    assert [r.split()[0] for r in rows] == [
        "--debug", "--log", "--log-format", "--root", "--systemd-cgroup", "--rootless",
        "--procfs-view", "--help,", "--version,",
    ]  # fmt: skip
    assert rows[-2:] == [
        "   --help, -h           show help",
        "   --version, -v        print the version",
    ]
    assert (
        "   --log-format string  set the log format ('text' (default), or 'json')"
        ' (default: "text")'
    ) in rows
    assert any(r.endswith(f'(default: "{DEFAULT_ROOT}")') for r in rows if "--root" in r)
    assert "   --debug              enable debug logging" in rows


@pytest.mark.parametrize("args", [(), ("help",), ("h",)])
def test_help_command_and_no_command_print_the_runtime_help(runc: Path, args: tuple) -> None:
    got = call(runc, *args)
    assert (got.status, got.err) == (0, "")
    assert got.out == call(runc, "--help").out


# -- a command's help -------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_sections(runc: Path, command: str) -> None:
    got = call(runc, command, "-h")
    titles = [line for line in got.lines if SECTION.match(line)]
    assert titles[:2] == ["NAME:", "USAGE:"]
    assert titles[-2:] == ["OPTIONS:", "GLOBAL OPTIONS:"]
    assert set(titles) <= {"NAME:", "USAGE:", "DESCRIPTION:", "OPTIONS:", "GLOBAL OPTIONS:"}
    assert got.lines[4].startswith(f"   runc {command} [options]")
    options = got.section("OPTIONS")
    assert options[-1] == "" and options[-2].split() == ["--help,", "-h", "show", "help"]
    # The runtime's options, without --help and --version.
    assert got.option_names("GLOBAL OPTIONS") == {
        "--debug", "--log", "--log-format", "--root", "--systemd-cgroup", "--rootless",
        "--procfs-view",
    }  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_options_the_parser_takes(command: str) -> None:
    """Every option shown is one the command accepts, and every accepted one is shown
    (except those hidden on purpose, as runc hides its obsolete ones)."""
    parser = build_parser([command], prog="runc")
    cmd = dict((names[0], p) for names, p in parser.commands())[command]
    shown = option_names(cmd.format_help().split("\nGLOBAL OPTIONS:")[0].splitlines())
    accepted = {n for o in cmd._options if not o.positional for n in o.names}
    hidden = {n for o in cmd._options if o.help == cliargs.SUPPRESS for n in o.names}
    assert shown == (accepted - hidden) | {"--help", "-h"}
    assert hidden <= HIDDEN.get(command, set())


# Options accepted but not listed, as runc lists them not either (obsolete) or because
# pyrunc refuses them: each with its reason.
HIDDEN = {
    "update": {
        "--kernel-memory", "--kernel-memory-tcp",  # runc hides them too: obsolete, refused
        "--cpu-shares",  # docker's spelling of --cpu-share, accepted besides runc's
    },
}  # fmt: skip


def test_delete_help_is_runcs(runc: Path) -> None:
    """runc 1.5's `runc delete -h`, line for line up to its global options."""
    want = """NAME:
   runc delete - delete any resources held by the container often used with detached container

USAGE:
   runc delete [options] <container-id>

Where "<container-id>" is the name for the instance of the container.

EXAMPLE:
For example, if the container id is "ubuntu01" and runc list currently shows the
status of "ubuntu01" as "stopped" the following will delete resources held for
"ubuntu01" removing "ubuntu01" from the runc list of containers:

       # runc delete ubuntu01

OPTIONS:
   --force, -f  Forcibly deletes the container if it is still running (uses SIGKILL)
   --help, -h   show help

GLOBAL OPTIONS:
   --debug              enable debug logging
"""
    assert call(runc, "delete", "-h").out.startswith(want)


def test_descriptions_are_indented_as_runcs(runc: Path) -> None:
    got = call(runc, "pause", "--help")
    assert got.section("DESCRIPTION") == [
        "   The pause command suspends all processes in the instance of the container.",
        "",
        "   Use runc list to identify instances of containers and their current status.",
        "",
    ]
    assert "   runc pause [options] <container-id>" in got.lines
    assert "paused. " in got.lines  # runc's trailing space, kept


def test_option_defaults_and_placeholders_as_runcs(runc: Path) -> None:
    rows = call(runc, "exec", "-h").section("OPTIONS")
    cells = {r.strip().split("  ")[0]: r.split("  ")[-1].strip() for r in rows if r.strip()}
    assert cells["--additional-gids int, -g int [ --additional-gids int, -g int ]"] == (
        "additional gids"
    )
    assert cells["--env string, -e string [ --env string, -e string ]"] == (
        "set environment variables"
    )
    assert cells["--tty, -t"] == "allocate a pseudo-TTY"
    assert cells["--preserve-fds int"].endswith("+ N in total) (default: 0)")
    assert cells["--cwd string"] == "current working directory in the container"  # "": none
    events = call(runc, "events", "-h").section("OPTIONS")
    assert "   --interval duration  set the stats collection interval (default: 5s)" in events
    create = call(runc, "create", "-h").section("OPTIONS")
    assert create[0] == (
        "   --bundle string, -b string  path to the root of the bundle directory, defaults to"
        " the current directory"
    )  # runc shows no default: its default is "", pyrunc's "." means the same
    checkpoint = call(runc, "checkpoint", "-h").section("OPTIONS")
    assert any(r.endswith("ready (default: -1)") for r in checkpoint)


def test_a_usage_of_several_lines_starts_a_new_alignment(runc: Path) -> None:
    """update --resources: its usage goes on over lines indented by 6, and the options
    after it are aligned among themselves (text/tabwriter's runs)."""
    rows = call(runc, "update", "-h").section("OPTIONS")
    assert rows[0].startswith("   --resources string, -r string  path to the file")
    assert rows[1:4] == [
        "",
        "      The accepted format is as follow (unchanged values can be omitted):",
        "",
    ]
    after = rows[rows.index("      other options are ignored.") + 1 :]
    assert after[0] == (
        "   --blkio-weight int           Specifies per cgroup weight, range is from 10 to 1000"
        " (default: 0)"
    )
    assert after[-2:] == ["   --help, -h                   show help", ""]


# -- help [command], unknown commands ---------------------------------------------------


@pytest.mark.parametrize(
    "args", [("help", "kill"), ("h", "kill"), ("-h", "kill"), ("--help", "kill"), ("kill", "-help")]
)
def test_every_way_to_ask_for_a_commands_help(runc: Path, args: tuple[str, ...]) -> None:
    got = call(runc, *args)
    assert (got.status, got.err) == (0, "")
    assert got.out == call(runc, "kill", "--help").out


def test_help_of_help(runc: Path) -> None:
    got = call(runc, "help", "help")
    assert got.status == 0
    assert got.lines[:5] == [
        "NAME:",
        "   runc help - Shows a list of commands or help for one command",
        "",
        "USAGE:",
        "   runc help [command]",
    ]
    assert "OPTIONS:" not in got.lines and "GLOBAL OPTIONS:" in got.lines


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("foo",), 3),  # runc: urfave's Exit(..., 3)
        (("foo", "bar"), 3),
        (("help", "foo"), 3),
        (("foo", "-h"), 1),  # runc 1.5: the error returned through its fatal()
        (("foo", "--help"), 1),
        (("-h", "foo"), 1),
    ],
)
def test_no_help_topic(runc: Path, args: tuple[str, ...], status: int) -> None:
    got = call(runc, *args)
    assert got.status == status
    assert got.out == ""
    assert len(got.err.splitlines()) == 1
    assert "No help topic for 'foo'" in got.err


def test_help_is_found_among_the_commands_options(runc: Path) -> None:
    """-h after a global option's value, or after the command's own options."""
    assert (
        call(runc, "--root", "/nonexistent", "state", "-h").lines[1].startswith("   runc state - ")
    )
    assert call(runc, "--log-format", "json", "-h", "ps").lines[1].startswith("   runc ps - ")
    assert call(runc, "list", "-q", "--help").lines[1].startswith("   runc list - ")


def test_a_commands_arguments_are_not_help(runc: Path, tmp_path: Path) -> None:
    """What exec runs is its own: `-h` there is the process's argument, not help."""
    got = call(runc, "--root", str(tmp_path), "exec", "nosuch", "ls", "-h")
    assert got.status != 0 and "NAME:" not in got.out


# -- checkpoint and restore -------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "why"),
    [("checkpoint", "container does not exist"), ("restore", "config.json: not found")],
)
def test_checkpoint_and_restore_fail_in_one_line(
    runc: Path, command: str, why: str, tmp_path: Path
) -> None:
    """No container, no bundle: refused before CRIU is asked, nothing made (the image
    path is not created)."""
    image = tmp_path / "img"
    got = call(runc, "--root", str(tmp_path), command, "--image-path", str(image), "ctr")
    assert got.status == 1
    assert got.out == ""
    assert len(got.err.splitlines()) == 1
    assert why in got.err
    assert not image.exists()


def test_checkpoint_and_restore_take_runcs_options(runc: Path) -> None:
    assert call(runc, "checkpoint", "-h").option_names() == {
        "--image-path", "--work-path", "--parent-path", "--leave-running", "--tcp-established",
        "--tcp-skip-in-flight", "--link-remap", "--ext-unix-sk", "--shell-job", "--lazy-pages",
        "--status-fd", "--page-server", "--file-locks", "--pre-dump", "--manage-cgroups-mode",
        "--empty-ns", "--auto-dedup", "--help", "-h",
    }  # fmt: skip
    assert call(runc, "restore", "-h").option_names() == {
        "--console-socket", "--image-path", "--work-path", "--tcp-established", "--ext-unix-sk",
        "--shell-job", "--file-locks", "--manage-cgroups-mode", "--bundle", "-b", "--detach",
        "-d", "--pid-file", "--no-subreaper", "--no-pivot", "--empty-ns", "--auto-dedup",
        "--lazy-pages", "--lsm-profile", "--lsm-mount-context", "--help", "-h",
    }  # fmt: skip


# -- the layout, against a model of text/tabwriter --------------------------------------

_CELL = st.text(st.sampled_from("abc-, "), min_size=1, max_size=30)
_USAGE = st.text(st.sampled_from("xyz ()\"'"), max_size=30)


@given(st.lists(st.tuples(_CELL, _USAGE), min_size=1, max_size=8))
def test_tabwriter_aligns_a_run_on_its_widest_cell(rows: list[tuple[str, str]]) -> None:
    text = "\n".join(f"   {cell}\t{usage}" for cell, usage in rows)
    out = helpfmt._tabwrite("TITLE:\n" + text + "\n").split("\n")
    assert out[0] == "TITLE:" and out[-1] == ""
    column = 3 + max(len(cell) for cell, _ in rows) + 2
    for line, (cell, usage) in zip(out[1:-1], rows, strict=True):
        assert line[:column] == f"   {cell}".ljust(column)
        assert line[column:] == usage


@given(st.lists(st.text(st.sampled_from("ab \n"), max_size=12), min_size=1, max_size=4))
def test_wrap_indents_every_line_but_the_first_and_empty_ones(parts: list[str]) -> None:
    text = "\n".join(parts)
    lines = helpfmt._wrap(text, 5).split("\n")
    originals = text.split("\n")
    assert lines[0] == originals[0]
    for got, was in zip(lines[1:], originals[1:], strict=True):
        assert got == ("     " + was if was else "")
