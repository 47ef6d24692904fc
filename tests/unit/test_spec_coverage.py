"""docs/spec-coverage.md against the runtime-spec's config schema and our tests.

The table has one row per Linux-related field of the upstream config schema, found by
walking the schema files (not a hand list); each `applied` row names a test that exists.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.unit.upstream import NON_LINUX, REPO, upstream_schema_dir

TABLE = REPO / "docs" / "spec-coverage.md"
HEADER = "| Field | Status | Test or reason |"
STATUSES = {"applied", "refused", "not-linux"}


def schema_fields(folder: Path) -> list[str]:
    """Every field of config-schema.json and what it refers to, as table paths:
    `.` for a property, `[]` for an array's items, `*` for a map's values."""
    files: dict[str, dict] = {}

    def load(name: str) -> dict:
        if name not in files:
            files[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        return files[name]

    def resolve(base: str, ref: str) -> tuple[str, dict]:
        name, _, pointer = ref.partition("#")
        name = name or base
        node = load(name)
        for part in pointer.split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return name, node

    found: dict[str, None] = {}

    def walk(base: str, node: dict, path: str, trail: frozenset[str]) -> None:
        while "$ref" in node:
            base, node = resolve(base, node["$ref"])
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, ()):
                walk(base, sub, path, trail)
        for name, sub in node.get("properties", {}).items():
            if not path and name in NON_LINUX:
                continue
            here = f"{path}.{name}" if path else name
            found[here] = None
            if here not in trail:  # a schema that refers to itself ends here
                walk(base, sub, here, trail | {here})
        if isinstance(node.get("items"), dict):
            walk(base, node["items"], path + "[]", trail)
        if isinstance(node.get("additionalProperties"), dict):
            walk(base, node["additionalProperties"], path + ".*", trail)
        for sub in node.get("patternProperties", {}).values():
            walk(base, sub, path + ".*", trail)

    walk("config-schema.json", load("config-schema.json"), "", frozenset())
    return list(found)


def table_rows(text: str) -> list[tuple[str, str, str]]:
    """(field, status, test or reason) of each row after the fixed header."""
    lines = text.splitlines()
    assert HEADER in lines, f"{TABLE.name}: no table with the header {HEADER!r}"
    start = lines.index(HEADER) + 2  # the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"not three cells: {line!r}"
        field, status, evidence = cells
        assert field.startswith("`") and field.endswith("`"), f"field not in backticks: {line!r}"
        rows.append((field.strip("`"), status, evidence))
    return rows


def _test_names(path: Path) -> set[str]:
    """Top-level test functions of a test file (parsed, not imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


ROWS = table_rows(TABLE.read_text(encoding="utf-8"))
UPSTREAM = upstream_schema_dir()
needs_upstream = pytest.mark.skipif(
    UPSTREAM is None, reason="no runtime-spec schemas (../shared/oci-runtime-spec beside the repo)"
)


def test_table_rows_are_well_formed() -> None:
    fields = [f for f, _, _ in ROWS]
    assert ROWS, "the coverage table is empty"
    assert len(fields) == len(set(fields)), "a field is listed twice"
    for field, status, evidence in ROWS:
        assert status in STATUSES, f"{field}: status {status!r} is not one of {sorted(STATUSES)}"
        assert evidence, f"{field}: no test or reason"


def test_every_applied_field_names_a_test_that_exists() -> None:
    missing = []
    cache: dict[str, set[str]] = {}
    for field, status, evidence in ROWS:
        if status != "applied":
            continue
        path, sep, name = evidence.partition("::")
        if not (sep and path.startswith("tests/") and path.endswith(".py")):
            missing.append((field, evidence, "not a tests/<file>.py::<test> reference"))
            continue
        if not (REPO / path).is_file():
            missing.append((field, evidence, "no such file"))
            continue
        if path not in cache:
            cache[path] = _test_names(REPO / path)
        if name not in cache[path]:
            missing.append((field, evidence, "no such test"))
    assert missing == []


def test_counts_in_the_text_match_the_table() -> None:
    count = {s: sum(1 for _, st, _ in ROWS if st == s) for s in STATUSES}
    line = (
        f"Counts: {count['applied']} applied, {count['refused']} refused, "
        f"{count['not-linux']} not-linux."
    )
    assert line in TABLE.read_text(encoding="utf-8")


@needs_upstream
def test_table_lists_every_field_of_the_schema() -> None:
    assert UPSTREAM is not None
    in_schema = schema_fields(UPSTREAM)
    listed = {f for f, _, _ in ROWS}
    assert [f for f in in_schema if f not in listed] == [], "fields the table lacks"
    assert sorted(listed - set(in_schema)) == [], "rows for fields the schema does not have"


def test_schema_walk_finds_nested_fields(tmp_path: Path) -> None:
    """The walker follows $refs across files, arrays, maps, and skips other platforms."""
    (tmp_path / "config-schema.json").write_text(
        json.dumps({
            "properties": {
                "a": {"$ref": "defs.json#/definitions/A"},
                "windows": {"properties": {"x": {}}},
                "m": {"type": "object", "additionalProperties": {"properties": {"n": {}}}},
            }
        })
    )  # fmt: skip
    (tmp_path / "defs.json").write_text(
        json.dumps({"definitions": {"A": {"items": {"properties": {"b": {}}}}}})
    )
    assert schema_fields(tmp_path) == ["a", "a[].b", "m", "m.*.n"]


# config.md: "commandLine (string, OPTIONAL) ... This property is only supported on
# Windows"; user "username (string, OPTIONAL) ... (Windows)". Nothing else may be
# waved through as another platform's.
SPEC_WINDOWS_ONLY = {"process.commandLine", "process.user.username"}


def test_only_the_specs_windows_fields_are_not_linux() -> None:
    assert {f for f, st, _ in ROWS if st == "not-linux"} <= SPEC_WINDOWS_ONLY
