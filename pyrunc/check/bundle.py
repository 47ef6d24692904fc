"""The bundle's own problems: every schema violation and every semantic one, at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyrunc.check import hints
from pyrunc.check.findings import SCHEMA, SEMANTICS, Finding, error, ok, warning


def value_at(doc: object, path: tuple) -> object:
    """What the document holds at `path` (None where it holds nothing)."""
    node = doc
    for part in path:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def schema(doc: dict[str, Any]) -> Iterator[Finding]:
    from pyrunc.spec.validate import format_path, iter_config_problems

    seen: set[tuple[str, str]] = set()
    for path, rule, keyword in iter_config_problems(doc):
        shown = format_path(path)
        if (shown, rule) in seen:  # allOf branches can repeat one problem
            continue
        seen.add((shown, rule))
        yield error(
            SCHEMA, shown, rule, hints.schema_hint(path, rule, keyword, value_at(doc, path))
        )
    if not seen:
        yield ok(SCHEMA, "", "config.json follows the runtime-spec schema")


def semantics(doc: dict[str, Any], bundle: str) -> Iterator[Finding]:
    from pyrunc.spec.semantic import iter_semantic_problems, unknown_capabilities
    from pyrunc.spec.validate import format_path

    found = False
    for path, rule in iter_semantic_problems(doc, bundle):
        found = True
        yield error(SEMANTICS, format_path(path), rule, hints.semantic_hint(rule))
    for path, rule in unknown_capabilities(doc):
        found = True
        shown = f"{rule}: create goes on without it, with a warning"
        yield warning(SEMANTICS, format_path(path), shown, hints.semantic_hint(rule))
    if not found:
        yield ok(SEMANTICS, "", "no semantic problems (namespaces, mappings, sysctls, ...)")
