"""pyrunc.jsonio against the stdlib json it stands in for: the same text out of dumps,
the same values out of loads, the same exceptions for bad input, and no json/re import
on the way. Pure: no root, no container.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc import jsonio

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# -- strategies -----------------------------------------------------------------------

# Any code point, lone surrogates and control characters included.
characters = st.characters(exclude_categories=()) | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()
)
texts = st.text(characters, max_size=12) | st.sampled_from(["", "\x00\x1f\x7f", '"\\/', "é€𝄞"])
integers = st.integers() | st.integers(min_value=-(10**80), max_value=10**80)
floats = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324])
scalars = st.none() | st.booleans() | integers | floats | texts
keys = texts | integers | floats | st.booleans() | st.none()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=5)
        | st.dictionaries(texts, children, max_size=5)
    ),
    max_leaves=25,
)

CYCLE: list[Any] = []
CYCLE.append(CYCLE)

DUMPS_OPTIONS: list[dict[str, Any]] = [
    {},
    {"indent": 2},
    {"indent": 4, "sort_keys": True},
    {"indent": 0},
    {"indent": "\t", "ensure_ascii": False},
    {"sort_keys": True},
    {"separators": (",", ":")},
    {"separators": (";", "="), "indent": 3},
    {"ensure_ascii": False},
    {"ensure_ascii": False, "sort_keys": True, "indent": 2, "separators": (", ", ": ")},
]


# -- helpers --------------------------------------------------------------------------


@contextmanager
def fast_path_only() -> Iterator[None]:
    """Make any hand-over to the stdlib an error: proves jsonio did the work itself."""

    def refuse() -> None:
        raise AssertionError("jsonio fell back to the stdlib json")

    saved = jsonio._stdlib_json
    jsonio._stdlib_json = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        jsonio._stdlib_json = saved  # type: ignore[assignment]


def same_value(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and -0.0 distinct from 0.0; types must match."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)


def outcome(fn: Any, *args: Any, **kw: Any) -> tuple[str, Any]:
    """('ok', value) or ('error', everything json lets a caller see of the exception)."""
    try:
        return "ok", fn(*args, **kw)
    except json.JSONDecodeError as e:
        return "error", (type(e), e.msg, e.doc, e.pos, e.lineno, e.colno)
    except Exception as e:
        return "error", (type(e), str(e))


def assert_same_loads(doc: str | bytes) -> None:
    """jsonio.loads(doc) is json.loads(doc); it decodes str and UTF-8 bytes itself."""
    expected = outcome(json.loads, doc)
    plain = isinstance(doc, str) or json.detect_encoding(doc) == "utf-8"
    if expected[0] == "ok" and plain:
        with fast_path_only():
            got = jsonio.loads(doc)
        assert same_value(got, expected[1]), (doc, got, expected)
    elif expected[0] == "ok":
        assert same_value(jsonio.loads(doc), expected[1]), doc
    else:
        assert outcome(jsonio.loads, doc) == expected, doc


# -- dumps ----------------------------------------------------------------------------


@pytest.mark.parametrize("options", DUMPS_OPTIONS, ids=repr)
@FAST
@given(value=json_values)
def test_dumps_matches_json(options: dict[str, Any], value: Any) -> None:
    expected = outcome(json.dumps, value, **options)
    if expected[0] == "ok":
        with fast_path_only():
            assert jsonio.dumps(value, **options) == expected[1]
    else:  # e.g. sort_keys over keys of mixed types: json's TypeError
        assert outcome(jsonio.dumps, value, **options) == expected


@FAST
@given(value=json_values, options=st.sampled_from(DUMPS_OPTIONS))
def test_dump_writes_what_dumps_returns(value: Any, options: dict[str, Any]) -> None:
    mine, theirs = io.StringIO(), io.StringIO()
    try:
        json.dump(value, theirs, **options)
    except TypeError:
        return
    jsonio.dump(value, mine, **options)
    assert mine.getvalue() == theirs.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        {"a": object()},  # not serializable: json's TypeError text
        {(1, 2): "tuple key"},  # bad key type
        {1: "a", "b": 2},  # sort_keys over mixed keys
        [1, 2, 3.5],
        {"x": [], "y": {}, "z": [[]], "w": [{}]},
        CYCLE,
    ],
    ids=["object", "tuple-key", "mixed-keys", "flat", "empties", "cycle"],
)
@pytest.mark.parametrize("options", DUMPS_OPTIONS, ids=repr)
def test_dumps_errors_and_edges_match_json(value: Any, options: dict[str, Any]) -> None:
    assert outcome(jsonio.dumps, value, **options) == outcome(json.dumps, value, **options)


def test_dumps_indent_layout() -> None:
    value = {"b": [1, {}, []], "a": {"c": None}}
    assert jsonio.dumps(value, indent=2, sort_keys=True) == (
        '{\n  "a": {\n    "c": null\n  },\n  "b": [\n    1,\n    {},\n    []\n  ]\n}'
    )
    assert jsonio.dumps(value) == '{"b": [1, {}, []], "a": {"c": null}}'


def test_dumps_other_types_and_options_go_to_json() -> None:
    class Point(int):
        pass

    for value, kw in [
        (Point(3), {"indent": 2}),
        ({"a": {1, 2}}, {"default": sorted}),
        ({"a": 1.5, "b": math.nan}, {"allow_nan": True, "indent": 1}),
        ([math.inf], {"allow_nan": False}),
    ]:
        assert outcome(jsonio.dumps, value, **kw) == outcome(json.dumps, value, **kw)


# -- loads ----------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"indent": 2}, {"ensure_ascii": False}], ids=repr)
@FAST
@given(value=json_values)
def test_loads_reads_what_json_writes(options: dict[str, Any], value: Any) -> None:
    try:
        doc = json.dumps(value, **options)
    except TypeError:  # keys json cannot write: nothing to read back
        return
    assert_same_loads(doc)
    assert_same_loads(" \t\n" + doc + "\r\n ")
    assert_same_loads(doc.encode("utf-8", "surrogatepass"))


@FAST
@given(doc=st.text(characters, max_size=30))
def test_loads_arbitrary_text_like_json(doc: str) -> None:
    assert_same_loads(doc)


@FAST
@given(doc=st.binary(max_size=30))
def test_loads_arbitrary_bytes_like_json(doc: bytes) -> None:
    assert_same_loads(doc)


@FAST
@given(value=json_values, data=st.data())
def test_loads_mutated_documents_like_json(value: Any, data: st.DataObject) -> None:
    try:
        doc = json.dumps(value, indent=data.draw(st.sampled_from([None, 1])))
    except TypeError:
        return
    at = data.draw(st.integers(0, len(doc)))
    kind = data.draw(st.sampled_from(["truncate", "insert", "delete", "append"]))
    junk = data.draw(
        st.text(characters, min_size=1, max_size=3)
        | st.sampled_from(
            ["\ufeff", "\x0c", "\xa0", ",", "]", "}", '"', "\\", "\\u12", "\n", "NaN", "-", "1e"]
        )
    )
    if kind == "truncate":
        doc = doc[:at]
    elif kind == "insert":
        doc = doc[:at] + junk + doc[at:]
    elif kind == "delete":
        doc = doc[:at] + doc[at + 1 :]
    else:
        doc = doc + junk
    assert_same_loads(doc)
    assert_same_loads(doc.encode("utf-8", "surrogatepass"))


# JSON's four whitespace characters and some that str.strip() would also remove.
SPACES = st.text(st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000"), max_size=3)


@FAST
@given(value=json_values, before=SPACES, after=SPACES)
def test_loads_whitespace_around_a_document_like_json(value: Any, before: str, after: str) -> None:
    try:
        doc = json.dumps(value)
    except TypeError:
        return
    assert_same_loads(before + doc + after)


@pytest.mark.parametrize(
    "doc",
    [
        "[NaN, Infinity, -Infinity]",
        "\x0c1",  # not JSON whitespace, before or after
        "1\u3000",
        '{"a": 1, "a": 2}',
        "123456789012345678901234567890123456789",
        '"\\ud83d\\ude00 \\ud800 \\u00e9"',
        '  {"a" : [1.5e300, -0, -0.0, true, false, null]}  \n',
        "\ufeff[]",  # json refuses the BOM in a str
        b"\xef\xbb\xbf[1]",  # and accepts it in bytes (utf-8-sig)
        '[1, 2] "extra"',
        "",
        " ",
        '{"a": "\x01"}',  # control character: strict mode
        "[" * 100 + "]" * 100,
        "1" * 5000,  # beyond int's digit limit: json's ValueError
        "[1,]",
        b'{"a": "\xff"}',  # invalid UTF-8
        '{"caf\u00e9": "\u20ac"}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-32-le"),
        '"x"'.encode("utf-16-be"),
        bytearray(b'{"a": [1]}'),
    ],
)
def test_loads_examples_like_json(doc: str | bytes) -> None:
    assert_same_loads(doc)


def test_loads_rejects_other_types_like_json() -> None:
    for doc in [None, 12, memoryview(b"[]")]:
        assert outcome(jsonio.loads, doc) == outcome(json.loads, doc)


def context_chain(fn: Any, doc: str) -> list[tuple[type[BaseException], str]]:
    """The exception fn(doc) raises and those it was raised while handling."""
    try:
        fn(doc)
    except Exception as e:
        chain: list[tuple[type[BaseException], str]] = []
        seen: BaseException | None = e
        while seen is not None:
            chain.append((type(seen), str(seen)))
            seen = seen.__context__
        return chain
    raise AssertionError(f"{doc!r} decoded")


@pytest.mark.parametrize("doc", ['{"a": }', "[1] 2", '"\\x"', "\ufeff1"])
def test_loads_error_is_not_chained_to_jsonio(doc: str) -> None:
    # json's own exception, not one raised while handling a jsonio failure
    assert context_chain(jsonio.loads, doc) == context_chain(json.loads, doc)


def test_load_and_keyword_arguments() -> None:
    assert jsonio.load(io.StringIO('{"a": [1]}')) == {"a": [1]}
    assert jsonio.load(io.BytesIO(b'{"a": [1]}')) == {"a": [1]}
    assert jsonio.loads('{"a": 1.5}', parse_float=str) == {"a": "1.5"}


# -- import cost ----------------------------------------------------------------------


def imported_modules(code: str) -> set[str]:
    """Modules a fresh `python3 -IS` imports while running code (from -X importtime)."""
    prelude = f"import sys; sys.path.insert(0, {REPO!r}); "
    r = subprocess.run(
        [sys.executable, "-IS", "-X", "importtime", "-c", prelude + code],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:") and "cumulative" not in line
    }


def test_import_and_fast_paths_load_nothing_heavy() -> None:
    baseline = imported_modules("pass")
    use = (
        "from pyrunc import jsonio; "
        'jsonio.loads(b\' {"a": [1, 2.5, NaN, "\\\\u00e9"]} \'); '
        "jsonio.dumps({'a': [1, {}], 2: None}, indent=2, sort_keys=False); "
        "jsonio.dumps([1.5, 'x', True], separators=(',', ':'), ensure_ascii=False); "
        "assert not {'re', 'json', 'enum', 'typing', 'collections'} & set(sys.modules)"
    )
    # __future__: pyrunc/__init__.py's `from __future__ import annotations`, paid by any
    # pyrunc import.
    expected = {"pyrunc", "pyrunc.jsonio", "_json", "__future__"}
    assert imported_modules(use) - baseline == expected
