"""Reading config.json for `check`, and looking into it whatever its shape.

The document may break the schema anywhere: every accessor returns an empty
value of the expected type for a missing or wrongly typed field, so each check
looks only at what it can understand (the schema check reports the rest). The
accessors are spec/semantic.py's own (pyrunc.spec.lenient), so `check` and
`create` read a malformed document the same way.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyrunc.check.findings import SCHEMA, Finding, error

__all__ = ["read"]


def read(bundle: str) -> tuple[dict[str, Any] | None, Finding | None]:
    """The parsed config.json, or the one finding that says why there is none."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None, error(SCHEMA, "", f"{path}: not found", _NO_CONFIG_HINT)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        return None, error(SCHEMA, "", f"{path}: invalid JSON: {e.msg} at {where}", _JSON_HINT)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return None, error(SCHEMA, "", f"{path}: {reason}", "make config.json readable")
    if not isinstance(doc, dict):
        return None, error(SCHEMA, "", f"{path}: expected an object at the top level", _JSON_HINT)
    from pyrunc.spec.config import strip_device_type_bits

    strip_device_type_bits(doc)  # what create does before validating (podman's fileMode)
    return doc, None


_NO_CONFIG_HINT = "give the bundle directory with --bundle, or write one with `pyrunc spec`"
_JSON_HINT = "fix the JSON syntax at that place (`python3 -m json.tool config.json` shows it)"
