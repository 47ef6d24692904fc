"""How to fix a schema or semantic problem: one short sentence per kind of rule.

Pure functions of the problem's text (and the offending value), so they are unit
tested on their own; the validator's messages stay exactly what `create` prints.
"""

from __future__ import annotations

import difflib
import json
import re

_SPEC = "see the runtime-spec's config.md for this field"


def closest(word: str, choices: list[str] | tuple[str, ...] | frozenset[str]) -> str | None:
    """The choice `word` most likely misspells (case and a missing prefix forgiven)."""
    if not word:
        return None
    upper = {c.upper(): c for c in choices}
    key = word.upper()
    if key in upper:
        return upper[key]
    for prefix in ("CAP_", "RLIMIT_"):
        if prefix + key in upper and any(c.startswith(prefix) for c in upper):
            return upper[prefix + key]
    found = difflib.get_close_matches(key, list(upper), n=1, cutoff=0.6)
    return upper[found[0]] if found else None


def _did_you_mean(value: object, choices: list[str]) -> str:
    guess = closest(value, choices) if isinstance(value, str) else None
    return f"did you mean {json.dumps(guess)}? " if guess else ""


def schema_hint(path: tuple, rule: str, keyword: str, value: object) -> str:
    """How to fix one schema problem; `value` is what the document holds at `path`."""
    if keyword == "enum":
        allowed = rule.partition("expected one of ")[2].split(", ")
        return _did_you_mean(value, allowed) + "use one of the values listed"
    if keyword == "type":
        return f"write {rule.removeprefix('expected ')} here"
    if keyword == "const":
        return f"set it to {rule.removeprefix('expected ')}"
    if keyword == "required":
        return f"add the field {json.dumps(path[-1]) if path else ''}".rstrip()
    if keyword == "additionalProperties":
        return "remove it, or correct its spelling"
    if keyword in ("minItems", "minLength"):
        return "give at least one item" if keyword == "minItems" else "give a non-empty value"
    if keyword in ("minimum", "maximum"):
        return "pick a value that " + rule.replace("must be", "is", 1)
    if keyword == "pattern":
        return "change the value so it " + rule.replace("must match", "matches", 1)
    if keyword == "uniqueItems":
        return "remove the duplicate"
    return _SPEC


# Semantic rules (pyrunc/spec/semantic.py's texts) -> hint. First match wins.
_SEMANTIC: tuple[tuple[str, str], ...] = (
    (r"^duplicate namespace", "list each namespace type once"),
    (r"does not exist$", "create it, or correct the path"),
    (r"is not a directory$", "point it at a directory"),
    (r"^must be an absolute path$", "start the path with /"),
    (r"^needs an? (\S+) namespace$", 'add {"type": "\\1"} to linux.namespaces'),
    (r"^required to create a user namespace$",
     "give uidMappings and gidMappings, or a path to join an existing user namespace"),
    (r"^user namespace mappings given but no user namespace$",
     'add {"type": "user"} to linux.namespaces, or remove the mappings'),
    (r"^expected a non-empty array$", 'give the program to run, e.g. ["sh"]'),
    (r"^must not exceed the hard limit$", "lower soft or raise hard"),
    (r"already set by", "keep one entry per type"),
    (r"^not isolated by any namespace$", "remove it: setting it would change the host"),
    (r"^not allowed in the host's network namespace$",
     "remove it, or give the container its own network namespace"),
    (r"^not allowed: set the hostname field instead$", "set the hostname field instead"),
    (r"SELinux is disabled", "remove the label, or run on a host with SELinux"),
    (r"^overlaps", "make the ranges disjoint"),
    (r"^must be between (\S+) and (\S+)$", "pick a value from \\1 to \\2"),
    (r"^only allowed with (.*)$", "remove it, or use \\1"),
    (r"^unsupported major version", 'set ociVersion to "1.0.2" or later 1.x'),
    (r"^expected a version", 'set ociVersion to a version such as "1.0.2"'),
    (r"^required$", "add the field"),
)  # fmt: skip


def semantic_hint(rule: str) -> str:
    """How to fix one semantic problem, from the rule text the validator gave."""
    m = re.match(r"unknown capability (.*)$", rule)
    if m:
        from pyrunc.spec.semantic import CAPABILITIES

        return _did_you_mean(_unquote(m.group(1)), list(CAPABILITIES)) + (
            "use a name from capabilities(7), such as CAP_NET_ADMIN"
        )
    m = re.match(r"unknown resource limit (.*)$", rule)
    if m:
        from pyrunc.spec.semantic import RLIMITS

        return _did_you_mean(_unquote(m.group(1)), sorted(RLIMITS)) + (
            "use a name from getrlimit(2), such as RLIMIT_NOFILE"
        )
    for pattern, hint in _SEMANTIC:
        found = re.search(pattern, rule)
        if found:
            return found.expand(hint)
    return _SPEC


def _unquote(shown: str) -> str:
    # semantic.py quotes unprintable names as JSON strings.
    if shown.startswith('"'):
        try:
            return json.loads(shown)
        except ValueError:
            return shown
    return shown
