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
