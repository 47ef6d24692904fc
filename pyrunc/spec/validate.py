"""Fast JSON-schema validation of config.json and the state document.

`jsonschema` costs ~80 ms to import and every `create` would pay it, so this
module interprets the small keyword subset our schemas (package
``pyrunc.schemas``, source dir ``<repo>/spec``) are written in. Semantics are
those of JSON Schema draft-04, which the schema files declare: in particular
1.0 is not an integer and keywords next to ``$ref`` are ignored. The unit tests
check verdicts against ``jsonschema`` on the same files.

Problems are reported as one line each: ``<doc>: <json path>: <rule>``.
"""

from __future__ import annotations

import os
import sys

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.errors import ConfigError
from pyrunc.spec import pattern as pattern_subset

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    import re
    from collections.abc import Iterator

    from pyrunc.spec.pattern import Pattern

    Matcher = Pattern | re.Pattern[str]

# One problem: (path from the document root, rule text, keyword that failed).
Problem = tuple[tuple, str, str]

#: Keywords the interpreter understands; the schema files must not use others.
SUPPORTED_KEYWORDS = frozenset(
    {
        "$ref", "type", "enum", "const", "properties", "required", "additionalProperties",
        "patternProperties", "minProperties", "items", "minItems", "maxItems", "uniqueItems",
        "pattern", "minLength", "maxLength", "minimum", "maximum", "allOf", "anyOf", "oneOf",
        "not",
        # annotations, never checked
        "$schema", "description", "title", "definitions", "default", "$comment",
    }
)  # fmt: skip

_SOURCE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "spec")
_files: dict[str, dict] = {}
_refs: dict[tuple[str, str], tuple[str, dict]] = {}
_regexes: dict[str, Matcher] = {}


# ---------------------------------------------------------------- loading


def _read_schema_text(name: str) -> str:
    """Text of a schema file: this source tree's when the code runs from one (the schemas
    must be the code's own, whatever other copy is installed), else the package's."""
    if os.path.isfile(os.path.join(_SOURCE_DIR, "..", "setup.cfg")):
        with open(os.path.join(_SOURCE_DIR, name), encoding="utf-8") as f:
            return f.read()
    try:
        import pyrunc.schemas as pkg
    except ImportError:
        pkg = None
    if pkg is not None:
        # A plain directory install is read directly: importlib.resources costs
        # ~15 ms of imports when site has not loaded it already.
        for folder in getattr(pkg, "__path__", ()):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    return f.read()
        try:
            from importlib import resources

            return resources.files(pkg).joinpath(name).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError, TypeError):
            pass  # e.g. a namespace package without the data: use the source tree
    with open(os.path.join(_SOURCE_DIR, name), encoding="utf-8") as f:
        return f.read()


def schema_document(name: str) -> dict:
    """One of our schema files (spec/*.json), parsed once."""
    doc = _files.get(name)
    if doc is None:
        doc = _files[name] = json.loads(_read_schema_text(name))
    return doc


def _resolve(base: str, ref: str) -> tuple[str, dict]:
    """Target of `ref` seen from file `base`: (file it lives in, subschema)."""
    key = (base, ref)
    hit = _refs.get(key)
    if hit is None:
        name, _, pointer = ref.partition("#")
        name = name or base
        node = schema_document(name)
        for part in pointer.split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        hit = _refs[key] = (name, node)
    return hit


def _regex(pattern: str) -> Matcher:
    """A `search`-able pattern: our schemas' patterns need no `re` (~6 ms to import)."""
    rx = _regexes.get(pattern)
    if rx is None:
        rx = pattern_subset.compile(pattern)
        if rx is None:
            import re

            rx = re.compile(pattern)
        _regexes[pattern] = rx
    return rx


# ------------------------------------------------------------ interpreter

_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _is_type(inst: object, name: str) -> bool:
    # bool is a subclass of int in Python but never a JSON number.
    if name == "string":
        return isinstance(inst, str)
    if name == "object":
        return isinstance(inst, dict)
    if name == "array":
        return isinstance(inst, list)
    if name == "integer":
        return isinstance(inst, int) and not isinstance(inst, bool)
    if name == "boolean":
        return isinstance(inst, bool)
    if name == "number":
        return isinstance(inst, (int, float)) and not isinstance(inst, bool)
    if name == "null":
        return inst is None
    raise ValueError(f"unknown JSON type {name!r} in schema")


def _same(a: object, b: object) -> bool:
    """JSON equality: true/false differ from 1/0, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _show(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _problems(node: dict, inst: object, path: tuple, base: str) -> Iterator[Problem]:
    """Every way `inst` (found at `path`) breaks schema `node` of file `base`."""
    ref = node.get("$ref")
    if ref is not None:
        # Draft-04: a $ref replaces the whole schema object it sits in.
        base, node = _resolve(base, ref)
        yield from _problems(node, inst, path, base)
        return
    expected = node.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else expected
        if not any(_is_type(inst, t) for t in names):
            yield path, "expected " + " or ".join(_TYPE_NAMES[t] for t in names), "type"
            return  # the other keywords would only repeat the type mismatch
    for keyword, value in node.items():
        check = _CHECKS.get(keyword)
        if check is not None:
            yield from check(value, node, inst, path, base)


def _check_enum(value: list, node: dict, inst: object, path: tuple, base: str) -> Iterator[Problem]:
    if not any(_same(inst, v) for v in value):
        rule = "expected one of " + ", ".join(_show(v) for v in value)
        title = node.get("title")
        if isinstance(title, str) and isinstance(inst, str):
            # runc's words for a name it does not know ('invalid memory policy mode
            # "X"'), which scripts match, ahead of ours.
            rule = f"invalid {title} {json.dumps(inst)}: {rule}"
        yield path, rule, "enum"


def _check_const(
    value: object, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if not _same(inst, value):
        yield path, "expected " + _show(value), "const"


def _check_properties(
    value: dict, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, dict):
        for key, sub in value.items():
            if key in inst:
                yield from _problems(sub, inst[key], (*path, key), base)


def _check_required(
    value: list, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, dict):
        for key in value:
            if key not in inst:
                yield (*path, key), "required", "required"


def _check_pattern_properties(
    value: dict, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, dict):
        for pattern, sub in value.items():
            rx = _regex(pattern)
            for key, item in inst.items():
                if rx.search(key):
                    yield from _problems(sub, item, (*path, key), base)


def _check_additional(
    value: dict | bool, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if not isinstance(inst, dict):
        return
    known = node.get("properties", {})
    patterns = [_regex(p) for p in node.get("patternProperties", ())]
    for key, item in inst.items():
        if key in known or any(rx.search(key) for rx in patterns):
            continue
        if value is False:
            yield (*path, key), "unknown property", "additionalProperties"
        elif isinstance(value, dict):
            yield from _problems(value, item, (*path, key), base)


def _check_min_properties(
    value: int, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, dict) and len(inst) < value:
        yield path, f"expected at least {value} properties", "minProperties"


def _check_items(
    value: dict | list, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if not isinstance(inst, list):
        return
    if isinstance(value, dict):
        for i, item in enumerate(inst):
            yield from _problems(value, item, (*path, i), base)
    else:  # tuple form: one schema per position
        for i, (sub, item) in enumerate(zip(value, inst, strict=False)):
            yield from _problems(sub, item, (*path, i), base)


def _check_min_items(
    value: int, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, list) and len(inst) < value:
        rule = "expected a non-empty array" if value == 1 else f"expected at least {value} items"
        yield path, rule, "minItems"


def _check_max_items(
    value: int, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, list) and len(inst) > value:
        yield path, f"expected at most {value} items", "maxItems"


def _check_unique(
    value: bool, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if value and isinstance(inst, list):
        for j in range(1, len(inst)):
            for i in range(j):
                if _same(inst[i], inst[j]):
                    yield (*path, j), f"duplicate of item [{i}]", "uniqueItems"
                    break


def _check_pattern(
    value: str, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, str) and not _regex(value).search(inst):
        yield path, f"must match {value}", "pattern"


def _check_min_length(
    value: int, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, str) and len(inst) < value:
        rule = "expected a non-empty string" if value == 1 else f"expected at least {value} chars"
        yield path, rule, "minLength"


def _check_max_length(
    value: int, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if isinstance(inst, str) and len(inst) > value:
        yield path, f"expected at most {value} characters", "maxLength"


def _range_rule(node: dict) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"must be between {low} and {high}"
    return f"must be >= {low}" if low is not None else f"must be <= {high}"


def _is_number(inst: object) -> bool:
    return isinstance(inst, (int, float)) and not isinstance(inst, bool)


def _check_minimum(
    value: float, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if _is_number(inst) and inst < value:
        yield path, _range_rule(node), "minimum"


def _check_maximum(
    value: float, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    if _is_number(inst) and inst > value:
        yield path, _range_rule(node), "maximum"


def _check_all_of(
    value: list, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    for sub in value:
        yield from _problems(sub, inst, path, base)


def _check_any_of(
    value: list, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    failures = []
    for sub in value:
        found = list(_problems(sub, inst, path, base))
        if not found:
            return
        failures.append(found)
    yield from _most_relevant(failures, path)


def _check_one_of(
    value: list, node: dict, inst: object, path: tuple, base: str
) -> Iterator[Problem]:
    failures = []
    matched = 0
    for sub in value:
        found = list(_problems(sub, inst, path, base))
        if found:
            failures.append(found)
        else:
            matched += 1
    if matched > 1:
        yield path, f"matches {matched} alternatives where exactly one is allowed", "oneOf"
    elif matched == 0:
        yield from _most_relevant(failures, path)


def _check_not(value: dict, node: dict, inst: object, path: tuple, base: str) -> Iterator[Problem]:
    if next(_problems(value, inst, path, base), None) is None:
        yield path, "is not allowed here", "not"


def _most_relevant(failures: list[list[Problem]], path: tuple) -> list[Problem]:
    """The problems of the alternative the author most likely meant.

    Alternatives rejected on the value's type alone are merged into one
    "expected X or Y" line. Otherwise an alternative whose own fields hold a
    wrong enum/const value (a tag such as "type") is the least plausible; then
    the one that got furthest wins: fewest problems, deepest first problem,
    schema order.
    """

    def wrong_type(found: list[Problem]) -> bool:
        return len(found) == 1 and found[0][0] == path and found[0][2] == "type"

    def rank(found: list[Problem]) -> tuple[bool, int, int]:
        tag = any(k in ("enum", "const") and len(p) == len(path) + 1 for p, _, k in found)
        return tag, len(found), -len(found[0][0])

    plausible = [found for found in failures if not wrong_type(found)]
    if not plausible:
        wanted: list[str] = []
        for found in failures:
            for name in found[0][1].removeprefix("expected ").split(" or "):
                if name not in wanted:
                    wanted.append(name)
        return [(path, "expected " + " or ".join(wanted), "type")]
    return min(plausible, key=rank)


_CHECKS = {
    "enum": _check_enum,
    "const": _check_const,
    "properties": _check_properties,
    "required": _check_required,
    "patternProperties": _check_pattern_properties,
    "additionalProperties": _check_additional,
    "minProperties": _check_min_properties,
    "items": _check_items,
    "minItems": _check_min_items,
    "maxItems": _check_max_items,
    "uniqueItems": _check_unique,
    "pattern": _check_pattern,
    "minLength": _check_min_length,
    "maxLength": _check_max_length,
    "minimum": _check_minimum,
    "maximum": _check_maximum,
    "allOf": _check_all_of,
    "anyOf": _check_any_of,
    "oneOf": _check_one_of,
    "not": _check_not,
}

# ------------------------------------------------------------- reporting


def format_path(path: tuple) -> str:
    """JSON path as written in messages: ``linux.sysctl["net.ipv4.ip_forward"]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isascii() and part.isidentifier():  # [A-Za-z_][A-Za-z0-9_]*
            out.append("." + part if out else part)
        else:
            out.append("[" + json.dumps(part) + "]")
    return "".join(out)


def _message(prefix: str, problem: Problem) -> str:
    path, rule, _ = problem
    if not path:
        return f"{prefix}: {rule}"
    return f"{prefix}: {format_path(path)}: {rule}"


def iter_errors(schema_file: str, doc: object, prefix: str) -> Iterator[str]:
    """Every problem of `doc` against the schema file `schema_file`, as messages."""
    for problem in _problems(schema_document(schema_file), doc, (), schema_file):
        yield _message(prefix, problem)


def iter_config_problems(doc: object) -> Iterator[Problem]:
    """All schema problems of a parsed config.json as (path, rule, keyword), for
    `pyrunc check`, which words them itself; `validate_config` reports the first."""
    return _problems(schema_document("config-schema.json"), doc, (), "config-schema.json")


def iter_config_errors(doc: object) -> Iterator[str]:
    """All schema problems of a parsed config.json, one message each."""
    return iter_errors("config-schema.json", doc, "config.json")


def iter_state_errors(doc: object) -> Iterator[str]:
    """All schema problems of a parsed state document, one message each."""
    return iter_errors("state-schema.json", doc, "state")


def _raise_first(errors: Iterator[str]) -> None:
    first = next(errors, None)
    if first is not None:
        raise ConfigError(first)


def validate_config(doc: object) -> None:
    """Raise ConfigError naming the first schema problem of a parsed config.json."""
    _raise_first(iter_config_errors(doc))


def validate_state(doc: object) -> None:
    """Raise ConfigError naming the first schema problem of a parsed state document."""
    _raise_first(iter_state_errors(doc))


def _main(argv: list[str]) -> int:
    """`python -m pyrunc.spec.validate config.json...`: list problems (for debugging)."""
    status = 0
    for name in argv:
        with open(name, encoding="utf-8") as f:
            doc = json.load(f)
        for message in iter_config_errors(doc):
            print(f"{name}: {message}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
