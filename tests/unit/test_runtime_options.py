"""The runtime's modes travel as one record (pyrunc/options.py), made from the CLI's
global flags or by the API, never as attributes one module sets on another."""

from __future__ import annotations

import ast

import pytest

from pyrunc.cli.main import build_parser, runtime_options
from pyrunc.errors import InvalidArgument
from pyrunc.options import DEFAULT_ROOT, DEFAULTS, RuntimeOptions
from tests.unit.test_import_graph import module_files

# Not a mode: where warnings and debug lines go (pyrunc/notices.py), pointed at the CLI's
# log (main.py).
NOT_MODES = {("pyrunc.cli.main", "notices.sink"), ("pyrunc.cli.main", "notices.debug_sink")}


def options_of(*argv: str) -> RuntimeOptions:
    return runtime_options(build_parser([*argv, "list"]).parse_args([*argv, "list"]))


def test_no_flags_are_the_defaults() -> None:
    assert options_of() == DEFAULTS == RuntimeOptions()
    assert DEFAULTS.root == DEFAULT_ROOT == "/run/pyrunc"


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (("--root", "/tmp/r"), RuntimeOptions(root="/tmp/r")),
        (("--systemd-cgroup",), RuntimeOptions(systemd_cgroup=True)),
        (("--procfs-view",), RuntimeOptions(procfs_view=True)),
        (("--debug",), RuntimeOptions(debug=True)),
        (("--rootless", "auto"), RuntimeOptions(rootless=None)),
        (("--rootless", "false"), RuntimeOptions(rootless=False)),
        (("--rootless", "true"), RuntimeOptions(rootless=True)),
        (("--rootless", "1"), RuntimeOptions(rootless=True)),  # Go's ParseBool, as runc
        (("--rootless", "F"), RuntimeOptions(rootless=False)),
    ],
)
def test_each_global_flag_is_a_field(argv: tuple[str, ...], want: RuntimeOptions) -> None:
    assert options_of(*argv) == want


def test_a_rootless_value_go_cannot_parse_is_refused() -> None:
    with pytest.raises(InvalidArgument, match='^--rootless: strconv.ParseBool: parsing "yes"'):
        options_of("--rootless", "yes")


def _module_names(tree: ast.Module) -> set[str]:
    """Names an import binds to a module (import a.b as c, from pyrunc import x)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def test_no_module_sets_an_attribute_of_another() -> None:
    """`create.SYSTEMD_CGROUP = True` from main.py was how modes travelled: no more."""
    found = set()
    for module, path in module_files().items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        imported = _module_names(tree)
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id in imported
                ):
                    found.add((module, f"{t.value.id}.{t.attr}"))
    assert found - NOT_MODES == set()


def test_the_old_mode_globals_are_gone() -> None:
    with open(module_files()["pyrunc.container.create"], encoding="utf-8") as f:
        source = f.read()
    assert "SYSTEMD_CGROUP" not in source and "PROCFS_VIEW" not in source
