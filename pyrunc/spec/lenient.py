"""Looking into a parsed config.json whatever its shape.

The document may break the schema anywhere: each accessor returns an empty value
of the expected type for a missing or wrongly typed field, so a rule looks only at
what it can understand (the schema check reports the rest). Shared by
spec/semantic.py (on every create) and check/, so it imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any


def obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def arr(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def integer(value: object) -> int | None:
    """An int that is not a bool (JSON true is no number), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def namespace_entries(doc: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(index, type, path) of each linux.namespaces entry with a string type."""
    out = []
    for i, ns in enumerate(arr(obj(doc.get("linux")).get("namespaces"))):
        kind = obj(ns).get("type")
        if isinstance(kind, str):
            out.append((i, kind, text(obj(ns).get("path"))))
    return out


def new_namespace(doc: dict[str, Any], kind: str) -> int | None:
    """The index of the config's new namespace of this kind (no path), or None."""
    return next((i for i, k, path in namespace_entries(doc) if k == kind and not path), None)
