"""The `re`-free pattern matcher agrees with re.search wherever it accepts a pattern."""

from __future__ import annotations

import json
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc.spec import pattern

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "spec")


def _schema_patterns() -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            found.update(
                node.get("patternProperties", {})
                if isinstance(node.get("patternProperties"), dict)
                else ()
            )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in os.listdir(SCHEMA_DIR):
        if name.endswith(".json"):
            with open(os.path.join(SCHEMA_DIR, name)) as f:
                walk(json.load(f))
    return found


SCHEMA_PATTERNS = sorted(_schema_patterns())
ALPHABET = "RLIMT_ANOFXcbupKMGB019, -:\n\t.x[]^$\\é"


def test_every_schema_pattern_is_in_the_subset() -> None:
    assert SCHEMA_PATTERNS, "no patterns found: the walk is wrong"
    assert [p for p in SCHEMA_PATTERNS if pattern.compile(p) is None] == []


@settings(max_examples=400)
@given(st.sampled_from(SCHEMA_PATTERNS), st.text(alphabet=ALPHABET, max_size=12))
def test_schema_patterns_match_as_re_does(pat: str, text: str) -> None:
    compiled = pattern.compile(pat)
    assert compiled is not None
    assert compiled.search(text) == (re.search(pat, text) is not None)


ATOMS = ["a", "b", ".", "[a-c]", "[^a]", "[0-9, -]", "\\n", "\\.", "[^\\n]", "x"]


@st.composite
def subset_patterns(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.tuples(st.sampled_from(ATOMS), st.sampled_from(["", "*", "+", "?"])), max_size=5
        )
    )
    body = "".join(a + q for a, q in parts)
    return ("^" if draw(st.booleans()) else "") + body + ("$" if draw(st.booleans()) else "")


@settings(max_examples=600)
@given(subset_patterns(), st.text(alphabet="abcx09, -.\n", max_size=10))
def test_generated_patterns_match_as_re_does(pat: str, text: str) -> None:
    compiled = pattern.compile(pat)
    assert compiled is not None, pat
    assert compiled.search(text) == (re.search(pat, text) is not None), (pat, text)


def test_dollar_also_matches_before_a_final_newline_as_re() -> None:
    compiled = pattern.compile("^RLIMIT_[A-Z]+$")
    assert compiled is not None
    assert compiled.search("RLIMIT_NOFILE\n") and not compiled.search("RLIMIT_NOFILE\n\n")


def test_syntax_outside_the_subset_is_left_to_re() -> None:
    for pat in ("a|b", "(ab)+", "a{2}", "\\d+", "a*?", "[[:alpha:]]", "a$b", "x^"):
        assert pattern.compile(pat) is None, pat
