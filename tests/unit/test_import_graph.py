"""pyrunc's import graph, read from the source with `ast`: errors.py is the ground floor.

Every module may raise pyrunc's errors, so if errors.py imported anything of pyrunc
back (even lazily, inside a function or a module `__getattr__`), every module would
sit on one import circle with it. Every import statement is an edge: at a module's
top, inside its functions and under `if TYPE_CHECKING:` (a type checker follows those).
"""

from __future__ import annotations

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "pyrunc"
GROUND_FLOOR = (
    "pyrunc.errors", "pyrunc.notices", "pyrunc.options", "pyrunc.record",
    "pyrunc.rootless",  # the rules of the --rootless mode, read by options
)  # fmt: skip


def module_files(root: str = REPO) -> dict[str, str]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, PACKAGE)):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), root)[: -len(".py")]
            dotted = rel.replace(os.sep, ".").removesuffix(".__init__")
            found[dotted] = os.path.join(dirpath, name)
    return found


def _targets(node: ast.Import | ast.ImportFrom, importer: str, modules: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importer's package upwards
            package = importer.split(".")[: -node.level]
            base = ".".join([*package, base] if base else package)
        # `from pkg import mod` imports the submodule mod; `from mod import name` mod only.
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    return {n for n in names if n in modules}


def import_graph(root: str = REPO) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere (itself excluded)."""
    files = module_files(root)
    modules = set(files)
    graph = {}
    for name, path in files.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(node, name, modules)
        graph[name] = edges - {name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def circle_through(graph: dict[str, set[str]], module: str) -> set[str]:
    """The modules on an import circle with `module`: reachable from it and back."""
    return {m for m in reachable(graph, module) if module in reachable(graph, m) | {m}}


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    assert "pyrunc.errors" in graph["pyrunc.container.store"]  # at the top
    assert "pyrunc.cgroups.manager" in graph["pyrunc.container.create"]  # in a function
    assert "pyrunc.spec.config" in graph["pyrunc.container.exec"]  # for the type checker


def test_no_import_circle_goes_through_errors() -> None:
    graph = import_graph()
    assert circle_through(graph, "pyrunc.errors") == set()


def test_the_ground_floor_imports_nothing_of_pyrunc_above_it() -> None:
    """The ground floor imports no pyrunc module but its own and `pyrunc`."""
    graph = import_graph()
    allowed = {PACKAGE, *GROUND_FLOOR}
    above = {m: sorted(reachable(graph, m) - allowed) for m in GROUND_FLOOR}
    assert above == {m: [] for m in GROUND_FLOOR}


def test_errors_resolves_nothing_lazily() -> None:
    """No module __getattr__: every class is defined in errors.py itself."""
    with open(module_files()["pyrunc.errors"], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "__getattr__" not in functions
    import pyrunc.errors as errors

    assert all(getattr(errors, name).__module__ == "pyrunc.errors" for name in errors.__all__)
