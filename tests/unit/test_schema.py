"""Tests of pyrunc's schemas (spec/*.json), the fast validator and the semantic checks.

The fast interpreter in pyrunc.spec.validate is checked against `jsonschema`
running our own schema files, and our schema against the upstream OCI schema
(when a copy is around), on fixed documents and on hypothesis-generated ones.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import pyrunc
from pyrunc.errors import ConfigError
from pyrunc.spec import semantic, validate
from pyrunc.spec.semantic import check_config, iter_semantic_errors
from pyrunc.spec.validate import (
    iter_config_errors,
    iter_state_errors,
    validate_config,
    validate_state,
)
from tests.unit.upstream import NON_LINUX, REPO, upstream_schema_dir

OUR_SCHEMAS = REPO / "spec"


UPSTREAM = upstream_schema_dir()
needs_upstream = pytest.mark.skipif(UPSTREAM is None, reason="no upstream runtime-spec schemas")

FAST = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------ helpers


def _validator(folder: Path, entry: str) -> Draft4Validator:
    """jsonschema validator for `entry`, resolving $refs to sibling files of `folder`."""
    resources = [
        (path.resolve().as_uri(), Resource.from_contents(_load(path), DRAFT4))
        for path in folder.glob("*.json")
    ]
    registry = Registry().with_resources(resources)
    return Draft4Validator({"$ref": (folder / entry).resolve().as_uri()}, registry=registry)


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


OUR_CONFIG = _validator(OUR_SCHEMAS, "config-schema.json")
OUR_STATE = _validator(OUR_SCHEMAS, "state-schema.json")
UP_CONFIG = _validator(UPSTREAM, "config-schema.json") if UPSTREAM else None
UP_STATE = _validator(UPSTREAM, "state-schema.json") if UPSTREAM else None

# Our schema's leniencies (docs/spec-coverage.md, "Leniencies"): values runc accepts that
# the spec's enums leave out, each with the spec value upstream is asked about instead.
LENIENT = {
    ("linux", "rootfsPropagation"): {
        "rprivate": "private",
        "rshared": "shared",
        "rslave": "slave",
        "runbindable": "unbindable",
    }
}


def as_upstream_sees(doc: object) -> object:
    """`doc` with each lenient value replaced by its spec equivalent."""
    for path, spec_value in LENIENT.items():
        node = doc
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        value = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(value, str) and value in spec_value:
            doc = copy.deepcopy(doc)
            node = doc
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = spec_value[value]
    return doc


def fast_ok(doc: object) -> bool:
    return next(iter_config_errors(doc), None) is None


def _fast_paths(doc: object, schema_file: str) -> set[tuple]:
    """Paths our interpreter complains about, normalised to where jsonschema reports them."""
    node = validate.schema_document(schema_file)
    return {
        path[:-1] if keyword == "required" else path
        for path, _, keyword in validate._problems(node, doc, (), schema_file)
    }


def _jsonschema_paths(validator: Draft4Validator, doc: object) -> set[tuple]:
    return {tuple(err.absolute_path) for err in validator.iter_errors(doc)}


def runc_default_config(*extra: str) -> dict:
    """The config.json that `runc spec` writes (runc's own defaults)."""
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    work = tmp / f"pyrunc-runc-spec-{os.getpid()}-{'-'.join(extra) or 'default'}"
    work.mkdir(exist_ok=True)
    try:
        subprocess.run(["runc", "spec", *extra], cwd=work, check=True, capture_output=True)
        return _load(work / "config.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def minimal(**extra: object) -> dict:
    doc = {"ociVersion": "1.2.0", "root": {"path": "rootfs"}}
    doc.update(extra)
    return doc


def first_error(doc: object) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(doc)
    return str(info.value)


# ------------------------------------------------- schema -> hypothesis strategy


class SchemaStrategies:
    """Builds strategies for documents a (draft-04, keyword-subset) schema accepts.

    Works for both our schemas and upstream's, so generated documents exercise
    every property the upstream schema knows, whether or not ours does.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, dict] = {}
        self.names: set[str] = set()

    def file(self, name: str) -> dict:
        if name not in self.files:
            self.files[name] = _load(self.folder / name)
        return self.files[name]

    def resolve(self, base: str, ref: str) -> tuple[str, dict]:
        name, _, pointer = ref.partition("#")
        name = name or base
        node = self.file(name)
        for part in pointer.split("/")[1:]:
            node = node[part]
        return name, node

    def deref(self, node: dict, base: str) -> tuple[dict, str]:
        while "$ref" in node:  # draft-04: the target replaces the whole node
            base, node = self.resolve(base, node["$ref"])
        return node, base

    def of(self, node: dict, base: str, skip: tuple = (), lean: bool = False) -> st.SearchStrategy:
        """Valid values of `node`; `lean` ones hold only what is required."""
        node, base = self.deref(node, base)
        if "anyOf" in node:
            return st.one_of([self.of(sub, base, lean=lean) for sub in node["anyOf"]])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        kind = node.get("type")
        if kind == "object" or "properties" in node or "allOf" in node:
            return self._object(node, base, skip, lean)
        if kind == "array":
            items = self.of(node.get("items", {}), base, lean=lean)
            low = node.get("minItems", 0)
            return st.lists(items, min_size=low, max_size=low if lean else 2)
        if kind == "string":
            pattern = node.get("pattern")
            return st.from_regex(pattern) if pattern else st.text(max_size=6)
        if kind == "integer":
            return _integers(node.get("minimum"), node.get("maximum"))
        if kind == "boolean":
            return st.booleans()
        return st.just({})

    def _merged(self, node: dict, base: str) -> tuple[dict, set, list]:
        """(properties with their file, required names, patternProperties) of node + allOf."""
        props = {k: (v, base) for k, v in node.get("properties", {}).items()}
        required = set(node.get("required", ()))
        patterns = [(p, v, base) for p, v in node.get("patternProperties", {}).items()]
        for sub in node.get("allOf", ()):
            more = self._merged(*self.deref(sub, base))
            props.update(more[0])
            required |= more[1]
            patterns += more[2]
        return props, required, patterns

    def _object(self, node: dict, base: str, skip: tuple, lean: bool) -> st.SearchStrategy:
        props, required, patterns = self._merged(node, base)
        self.names.update(props)
        fields = {k: (sub, b) for k, (sub, b) in props.items() if k not in skip}
        fixed = st.fixed_dictionaries(
            {k: self.of(*fields[k], lean=lean) for k in fields if k in required},
            optional={}
            if lean
            else {k: self.of(*v) for k, v in fields.items() if k not in required},
        )
        if lean:
            return fixed
        extras: list[st.SearchStrategy] = []
        for pattern, sub, b in patterns:
            keys = st.from_regex(pattern).filter(lambda k: k not in props)
            extras.append(st.dictionaries(keys, self.of(sub, b), max_size=2))
        extra_schema = node.get("additionalProperties")
        if isinstance(extra_schema, dict):
            keys = st.text(max_size=5).filter(lambda k: k not in props)
            extras.append(st.dictionaries(keys, self.of(extra_schema, base), max_size=2))
        if not patterns and extra_schema is None:
            # Unknown properties are allowed everywhere in the OCI schema.
            extras.append(st.dictionaries(st.sampled_from(["x-vendor", "org.example"]), _json))
        return st.tuples(fixed, *extras).map(_merge_dicts)

    def sample(self, node: dict, base: str) -> object:
        """One small valid value of `node`, without randomness."""
        node, base = self.deref(node, base)
        if "anyOf" in node:
            return self.sample(node["anyOf"][0], base)
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if kind == "object" or "properties" in node or "allOf" in node:
            props, required, _ = self._merged(node, base)
            return {k: self.sample(*props[k]) for k in sorted(required)}
        if kind == "array":
            return [self.sample(node.get("items", {}), base)] * node.get("minItems", 0)
        if kind == "string":
            pattern = node.get("pattern", "")
            return next(s for s in _SAMPLE_STRINGS if re.search(pattern, s))
        if kind == "integer":
            return max(node.get("minimum", 0), 0)
        return {} if kind is None else {"boolean": True, "number": 0}[kind]

    def chains(self, node: dict, base: str, prefix: tuple = ()) -> list[tuple]:
        """Every place a value can sit under `node`, as steps (key, schema, file)."""
        node, base = self.deref(node, base)
        out: list[tuple] = []
        for sub in node.get("anyOf", ()):
            out += self.chains(sub, base, prefix)
        children: list[tuple] = []
        if node.get("type") == "object" or "properties" in node or "allOf" in node:
            props, _, patterns = self._merged(node, base)
            children += [(key, sub, b) for key, (sub, b) in props.items()]
            children += [("k", sub, b) for _, sub, b in patterns]
            if isinstance(node.get("additionalProperties"), dict):
                children.append(("eth0", node["additionalProperties"], base))
        elif node.get("type") == "array" and isinstance(node.get("items"), dict):
            children.append((0, node["items"], base))
        for step in children:
            out.append((*prefix, step))
            out += self.chains(step[1], step[2], (*prefix, step))
        return out


# Strings matching each pattern the schemas use (the first that fits is taken).
_SAMPLE_STRINGS = ["x", "RLIMIT_NOFILE", "64KB", "MB:0=20", "c", "0-3", ""]


def _embed(chain: tuple, value: object, parent_of: Callable[[dict, str], object], root: tuple):
    """A document holding `value` (or nothing, if _GONE) at the place `chain` leads to.

    Containers on the way come from parent_of(schema, file), the root's from `root`.
    """
    for i in range(len(chain) - 1, -1, -1):
        key = chain[i][0]
        if isinstance(key, int):
            value = [] if value is _GONE else [value]
            continue
        parent = parent_of(chain[i - 1][1], chain[i - 1][2]) if i else parent_of(*root)
        container = copy.deepcopy(parent)
        container.pop(key, None)
        if value is not _GONE:
            container[key] = value
        value = container
    return value


_GONE = object()


def _merge_dicts(parts: tuple[dict, ...]) -> dict:
    out: dict = {}
    for part in reversed(parts):
        out.update(part)
    return out


def _integers(low: int | None, high: int | None) -> st.SearchStrategy:
    edges = [v for v in (low, high) if v is not None]
    return st.one_of(st.sampled_from(edges), st.integers(low, high)) if edges else st.integers()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)

# Values that sit right at or beyond what some schema rule accepts.
_EDGES = [
    -1, 0, 1, 7, 128, 511, 512, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1,
    2**63, 2**64 - 1, 2**64, -(2**31) - 1, -(2**63) - 1, 1.0, 1.5, True, False, None, "", "x",
    "pid", "net", "network", "RLIMIT_NOFILE", "RLIMIT_nofile", "RLIMIT_NO_FILE", "RLIMIT_",
    "RLIMIT_CORE\n", "64KB", "64kB", "0KB", "1TB", "MB:0=20", "mb:0=20", "MB:0\n1", "c", "cb",
    "0-3,5", "0-a", "SCMP_ACT_ALLOW", "SCMP_ACT_X", "private", "rprivate", "LINUX32",
    "IOPRIO_CLASS_BE", "SCHED_RR", "MPOL_BIND", [], {}, [1], [""],
]  # fmt: skip
_weird = st.sampled_from(_EDGES) | _json


def _slots(doc: object) -> list[tuple[object, object]]:
    """Every (container, key) pair of a JSON document."""
    out: list[tuple[object, object]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:
            out.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


def _edit(draw: st.DrawFn, doc: dict | list, names: list[str], times: int) -> None:
    """Apply `times` random edits (replace, delete, add a key) somewhere below `doc`."""
    for _ in range(times):
        slots = _slots(doc)
        op = draw(st.sampled_from(["replace", "delete", "add"] if slots else ["add"]))
        if op == "add":
            dicts = [c[k] for c, k in slots if isinstance(c[k], dict)]
            if isinstance(doc, dict):
                dicts.append(doc)
            if dicts:
                draw(st.sampled_from(dicts))[draw(st.sampled_from(names))] = draw(_weird)
            continue
        container, key = draw(st.sampled_from(slots))
        if op == "replace":
            container[key] = draw(_weird)
        else:
            del container[key]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy, names: list[str]) -> object:
    """A valid document from `base` with 1-3 random edits (most make it invalid)."""
    doc = copy.deepcopy(draw(base))
    _edit(draw, doc, names, draw(st.integers(1, 3)))
    return doc


@st.composite
def focused(draw: st.DrawFn, gen: SchemaStrategies, entry: str, skip: tuple, names: list) -> dict:
    """A lean document with one deep value generated and then (usually) edited.

    Whole random documents rarely reach e.g. a seccomp argument or a hugepage
    limit; this picks one such place and builds just enough around it.
    """
    chain = draw(st.sampled_from(gen.chains(gen.file(entry), entry)))
    if chain[0][0] in skip:
        chain = (("ociVersion", {"type": "string"}, entry),)
    holder = {"v": copy.deepcopy(draw(gen.of(chain[-1][1], chain[-1][2])))}
    _edit(draw, holder, names, draw(st.integers(0, 2)))
    lean_parent = lambda node, base: draw(gen.of(node, base, lean=True))  # noqa: E731
    return _embed(chain, holder.get("v", _GONE), lean_parent, (gen.file(entry), entry))


OURS = SchemaStrategies(OUR_SCHEMAS)
our_configs = OURS.of(OURS.file("config-schema.json"), "config-schema.json", NON_LINUX)
our_states = OURS.of(OURS.file("state-schema.json"), "state-schema.json")
if UPSTREAM is not None:
    UP = SchemaStrategies(UPSTREAM)
    up_configs = UP.of(UP.file("config-schema.json"), "config-schema.json", NON_LINUX)
    ALL_NAMES = sorted(OURS.names | UP.names)
    up_focused = focused(UP, "config-schema.json", NON_LINUX, ALL_NAMES)
else:
    up_configs = our_configs
    ALL_NAMES = sorted(OURS.names)
    up_focused = focused(OURS, "config-schema.json", NON_LINUX, ALL_NAMES)
our_focused = focused(OURS, "config-schema.json", NON_LINUX, ALL_NAMES)
any_config = st.one_of(
    our_configs,
    up_configs,
    mutated(our_configs, ALL_NAMES),
    mutated(up_configs, ALL_NAMES),
    our_focused,
    up_focused,
    up_focused,
)


# ------------------------------------------------------ schema file hygiene


def _schema_nodes(node: dict) -> Iterator[dict]:
    """Every subschema of a schema (not the property-name maps around them)."""
    yield node
    for key in ("properties", "patternProperties", "definitions"):
        for sub in node.get(key, {}).values():
            yield from _schema_nodes(sub)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            yield from _schema_nodes(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, ()):
            yield from _schema_nodes(sub)


@pytest.mark.parametrize("name", sorted(p.name for p in OUR_SCHEMAS.glob("*.json")))
def test_schema_file_uses_only_interpreted_keywords(name: str) -> None:
    doc = _load(OUR_SCHEMAS / name)
    assert doc["$schema"] == "http://json-schema.org/draft-04/schema#"
    for node in _schema_nodes(doc):
        assert set(node) <= validate.SUPPORTED_KEYWORDS, (name, node)
        if "$ref" in node:
            # Draft-04 ignores keywords next to $ref: writing any would mislead.
            assert set(node) <= {"$ref", "description"}, (name, node)
            validate._resolve(name, node["$ref"])  # must point somewhere


def test_schema_files_are_ours_not_copies() -> None:
    if UPSTREAM is None:
        pytest.skip("no upstream runtime-spec schemas")
    for ours in OUR_SCHEMAS.glob("*.json"):
        for theirs in UPSTREAM.glob("*.json"):
            assert _load(ours) != _load(theirs), (ours.name, theirs.name)


def test_validator_imports_stay_light() -> None:
    # -S: no site hooks, so nothing is preloaded that would hide an import.
    code = (
        "import sys\n"
        "import pyrunc.errors\n"  # the package's own imports are not validate's doing
        "before = set(sys.modules)\n"
        "from pyrunc.spec import validate\n"
        "validate.validate_config({'ociVersion': '1.0.0', 'root': {'path': 'r'}})\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, check=True
    )
    loaded = {name.split(".")[0] for name in out.stdout.decode().split()} | set(
        out.stdout.decode().split()
    )
    heavy = {"jsonschema", "referencing", "typing", "importlib.resources", "pathlib", "tempfile"}
    assert "pyrunc.spec.validate" in loaded
    assert not loaded & heavy


def test_schema_loads_from_installed_package(tmp_path: Path, monkeypatch) -> None:
    # Simulate an installed pyrunc (no source tree around it, as in site-packages) whose
    # pyrunc.schemas state schema forbids pid 7.
    monkeypatch.setattr(validate, "_SOURCE_DIR", str(tmp_path / "site-packages" / "spec"))
    for path in OUR_SCHEMAS.glob("*.json"):
        shutil.copy(path, tmp_path)
    state = _load(tmp_path / "state-schema.json")
    state["properties"]["pid"]["maximum"] = 6
    (tmp_path / "state-schema.json").write_text(json.dumps(state))
    package = types.ModuleType("pyrunc.schemas")
    package.__path__ = [str(tmp_path)]
    monkeypatch.setitem(sys.modules, "pyrunc.schemas", package)
    monkeypatch.setattr(pyrunc, "schemas", package, raising=False)
    monkeypatch.setattr(validate, "_files", {})
    monkeypatch.setattr(validate, "_refs", {})
    doc = {"ociVersion": "1.0.0", "id": "a", "status": "running", "bundle": "/b", "pid": 7}
    assert list(iter_state_errors(doc)) == ["state: pid: must be between 0 and 6"]


# ----------------------------------------- interpreter == jsonschema on our schemas


@FAST
@given(any_config)
def test_fast_validator_matches_jsonschema_on_our_config_schema(doc: object) -> None:
    assert fast_ok(doc) == OUR_CONFIG.is_valid(doc)
    assert _fast_paths(doc, "config-schema.json") == _jsonschema_paths(OUR_CONFIG, doc)


@FAST
@given(st.one_of(our_states, mutated(our_states, ["pid", "status", "id", "annotations", "x"])))
def test_fast_validator_matches_jsonschema_on_our_state_schema(doc: object) -> None:
    ours = next(iter_state_errors(doc), None) is None
    assert ours == OUR_STATE.is_valid(doc)
    assert _fast_paths(doc, "state-schema.json") == _jsonschema_paths(OUR_STATE, doc)


def test_generated_corpus_has_both_verdicts() -> None:
    # Guards the property tests above against generating only one kind of doc.
    quick = settings(FAST, phases=[Phase.generate])  # any example will do: skip shrinking
    find(mutated(our_configs, ALL_NAMES), lambda d: not fast_ok(d), settings=quick)
    find(any_config, fast_ok, settings=quick)


@pytest.mark.parametrize(
    ("schema", "doc"),
    [
        ({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 3}]}, 2),
        ({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 3}]}, 3),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 3),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 3.5),
        ({"allOf": [{"type": "object"}, {"required": ["a"]}]}, {"b": 1}),
        ({"not": {"type": "string"}}, "x"),
        ({"type": "array", "uniqueItems": True}, [1, True, 1.0]),
        ({"type": "array", "uniqueItems": True}, [1, True, 0]),
        ({"enum": [1, "a"]}, True),
        ({"enum": [1, "a"]}, 1.0),
        ({"const": {"a": [1]}}, {"a": [1]}),
        ({"type": ["string", "null"], "maxLength": 2}, "abc"),
        ({"additionalProperties": False, "properties": {"a": {}}, "patternProperties": {"^x": {}}},
         {"a": 1, "xy": 2, "b": 3}),
        ({"type": "array", "items": [{"type": "string"}], "maxItems": 2}, ["a", 1, 2]),
        ({"minProperties": 1, "type": "object"}, {}),
    ],
)  # fmt: skip
def test_interpreter_keywords_match_jsonschema(schema: dict, doc: object) -> None:
    ours = not list(validate._problems(schema, doc, (), "inline"))
    assert ours == Draft4Validator(schema).is_valid(doc)


def test_alternatives_merge_type_mismatches() -> None:
    schema = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert [p[:2] for p in validate._problems(schema, [], ("x",), "inline")] == [
        (("x",), "expected a string or an integer")
    ]


def test_alternatives_report_the_branch_that_got_furthest() -> None:
    branch = {
        "type": "object",
        "required": ["kind", "value"],
    }
    x = dict(branch, properties={"kind": {"enum": ["x"]}, "value": {"type": "string"}})
    y = dict(branch, properties={"kind": {"enum": ["y"]}, "value": {"type": "integer"}})
    found = list(validate._problems({"anyOf": [x, y]}, {"kind": "y", "value": "s"}, (), "-"))
    assert [p[:2] for p in found] == [(("value",), "expected an integer")]
    found = list(validate._problems({"oneOf": [{}, {"type": "object"}]}, {}, (), "-"))
    assert [p[1] for p in found] == ["matches 2 alternatives where exactly one is allowed"]


# ------------------------------------------------ our schema == upstream schema


def _upstream_examples(kind: str) -> list:
    if UPSTREAM is None:
        return [pytest.param(None, marks=needs_upstream)]
    paths = sorted((UPSTREAM / "test" / kind).glob("*/*.json"))
    return [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in paths]


@pytest.mark.parametrize("path", _upstream_examples("config"))
def test_upstream_config_examples(path: Path) -> None:
    try:
        doc = _load(path)
    except json.JSONDecodeError:
        assert path.parent.name == "bad"  # nothing to validate: the parse fails first
        return
    upstream_ok = UP_CONFIG.is_valid(doc)
    assert upstream_ok == (path.parent.name == "good")
    if isinstance(doc, dict) and any(k in doc for k in NON_LINUX):
        # Foreign platforms are only checked for shape: accept what upstream accepts.
        assert fast_ok(doc) or not upstream_ok
    else:
        assert fast_ok(doc) == upstream_ok, list(iter_config_errors(doc))


@pytest.mark.parametrize("path", _upstream_examples("state"))
def test_upstream_state_examples(path: Path) -> None:
    try:
        doc = _load(path)
    except json.JSONDecodeError:
        assert path.parent.name == "bad"
        return
    ours = next(iter_state_errors(doc), None) is None
    assert ours == UP_STATE.is_valid(doc) == (path.parent.name == "good")


@needs_upstream
@FAST
@given(any_config)
def test_our_schema_accepts_exactly_what_upstream_accepts(doc: object) -> None:
    upstream = UP_CONFIG.is_valid(as_upstream_sees(doc))
    assert fast_ok(doc) == upstream, list(iter_config_errors(doc))


def _probes(node: dict) -> list:
    """Values at and just past the limits `node` itself sets (enum members, bounds)."""
    out = list(node.get("enum", ()))
    out += [v + "x" for v in out if isinstance(v, str)]
    for bound in (node.get("minimum"), node.get("maximum")):
        if bound is not None:
            out += [bound - 1, bound, bound + 1]
    return out


def _probe_docs(gen: SchemaStrategies, entry: str) -> Iterator[object]:
    """Edge values, and a missing value, at every place of a (Linux) document."""
    for chain in gen.chains(gen.file(entry), entry):
        if chain[0][0] in NON_LINUX:
            continue
        node, base = gen.deref(chain[-1][1], chain[-1][2])
        for value in [gen.sample(node, base), _GONE, *_probes(node), *_EDGES]:
            yield _embed(chain, value, gen.sample, (gen.file(entry), entry))


def _mismatches(docs: Iterator[object], fast: Callable, slow: Draft4Validator) -> list:
    seen = as_upstream_sees if slow is UP_CONFIG else (lambda doc: doc)
    return [(doc, fast(doc)) for doc in docs if (fast(doc) == []) != slow.is_valid(seen(doc))]


def _fast_config(doc: object) -> list[str]:
    return list(iter_config_errors(doc))[:1]


def _fast_state(doc: object) -> list[str]:
    return list(iter_state_errors(doc))[:1]


@needs_upstream
def test_edge_values_everywhere_match_upstream() -> None:
    wrong = _mismatches(_probe_docs(UP, "config-schema.json"), _fast_config, UP_CONFIG)
    wrong += _mismatches(_probe_docs(UP, "state-schema.json"), _fast_state, UP_STATE)
    assert wrong == [], f"{len(wrong)} mismatches, first: {wrong[:3]}"


def test_edge_values_everywhere_match_jsonschema() -> None:
    wrong = _mismatches(_probe_docs(OURS, "config-schema.json"), _fast_config, OUR_CONFIG)
    wrong += _mismatches(_probe_docs(OURS, "state-schema.json"), _fast_state, OUR_STATE)
    assert wrong == [], f"{len(wrong)} mismatches, first: {wrong[:3]}"


@needs_upstream
@FAST
@given(st.one_of(our_states, mutated(our_states, ["pid", "status", "id", "bundle", "x"])))
def test_our_state_schema_matches_upstream(doc: object) -> None:
    assert (next(iter_state_errors(doc), None) is None) == UP_STATE.is_valid(doc)


@needs_upstream
@settings(FAST, max_examples=40)
@given(st.sampled_from(NON_LINUX), _json)
def test_foreign_platform_sections_accepted_when_upstream_accepts(key: str, value: object) -> None:
    doc = minimal(**{key: value})
    if UP_CONFIG.is_valid(doc):
        assert fast_ok(doc)


# ------------------------------------------------------------ messages


def test_runc_default_configs_are_valid() -> None:
    validate_config(runc_default_config())
    validate_config(runc_default_config("--rootless"))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "config.json: expected an object"),
        ({"root": {"path": "r"}}, "config.json: ociVersion: required"),
        (minimal(ociVersion=1), "config.json: ociVersion: expected a string"),
        (minimal(root="rootfs"), "config.json: root: expected an object"),
        (
            minimal(mounts=[{"destination": 5}]),
            "config.json: mounts[0].destination: expected a string",
        ),
        (minimal(mounts=[{}]), "config.json: mounts[0].destination: required"),
        (
            minimal(linux={"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "net"}]}),
            "config.json: linux.namespaces[2].type: "
            "expected one of pid, network, mount, ipc, uts, user, cgroup, time",
        ),
        (
            minimal(process={"cwd": "/", "user": {"uid": -1}}),
            "config.json: process.user.uid: must be between 0 and 4294967295",
        ),
        (
            minimal(process={"cwd": "/", "rlimits": [{"type": "nofile", "soft": 1, "hard": 1}]}),
            "config.json: process.rlimits[0].type: must match ^RLIMIT_[A-Z]+$",
        ),
        (minimal(process={"args": ["sh"]}), "config.json: process.cwd: required"),
        (
            minimal(process={"cwd": "/", "terminal": "yes"}),
            "config.json: process.terminal: expected a boolean",
        ),
        (
            minimal(linux={"resources": {"memory": {"limit": 1.5}}}),
            "config.json: linux.resources.memory.limit: expected an integer",
        ),
        (
            minimal(linux={"resources": {"pids": {"limit": True}}}),
            "config.json: linux.resources.pids.limit: expected an integer",
        ),
        (
            minimal(linux={"resources": {"pids": {}}}),
            "config.json: linux.resources.pids.limit: required",
        ),
        (
            minimal(linux={"resources": {"hugepageLimits": [{"pageSize": "64kB", "limit": 1}]}}),
            "config.json: linux.resources.hugepageLimits[0].pageSize: "
            "must match ^[1-9][0-9]*[KMG]B$",
        ),
        (
            minimal(
                linux={
                    "seccomp": {
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}],
                    }
                }
            ),
            "config.json: linux.seccomp.syscalls[0].names: expected a non-empty array",
        ),
        (
            minimal(linux={"devices": [{"type": "c", "path": "/dev/x", "fileMode": 512}]}),
            "config.json: linux.devices[0].fileMode: must be between 0 and 511",
        ),
        (
            minimal(hooks={"prestart": [{"path": "/bin/true", "timeout": 0}]}),
            "config.json: hooks.prestart[0].timeout: must be >= 1",
        ),
        (
            minimal(annotations={"org.example/k": 1}),
            'config.json: annotations["org.example/k"]: expected a string',
        ),
        (
            minimal(linux={"sysctl": {"net.ipv4.ip_forward": 1}}),
            'config.json: linux.sysctl["net.ipv4.ip_forward"]: expected a string',
        ),
        (
            minimal(linux={"resources": {"rdma": {"mlx5_1": {"hcaHandles": "x"}}}}),
            "config.json: linux.resources.rdma.mlx5_1.hcaHandles: expected an integer",
        ),
        (minimal(windows=[]), "config.json: windows: expected an object"),
    ],
)
def test_schema_error_messages(doc: object, message: str) -> None:
    assert first_error(doc) == message
    assert "\n" not in message


def test_iter_config_errors_lists_every_problem() -> None:
    doc = {"root": {}, "mounts": [{"destination": 1}, {}], "hostname": 3}
    assert list(iter_config_errors(doc)) == [
        "config.json: ociVersion: required",
        "config.json: root.path: required",
        "config.json: mounts[0].destination: expected a string",
        "config.json: mounts[1].destination: required",
        "config.json: hostname: expected a string",
    ]


def test_validate_config_accepts_unknown_properties() -> None:
    validate_config(minimal(future={"x": 1}, process={"cwd": "/", "vendorThing": [1]}))


def test_state_messages() -> None:
    state = {"ociVersion": "1.3.0", "id": "c1", "status": "running", "bundle": "/b", "pid": 42}
    validate_state(state)
    with pytest.raises(ConfigError, match=r"^state: status: expected one of creating, created, "):
        validate_state(dict(state, status="paused"))
    assert list(iter_state_errors({"id": "c1", "pid": -1})) == [
        "state: ociVersion: required",
        "state: status: required",
        "state: bundle: required",
        "state: pid: must be >= 0",
    ]


# ------------------------------------------------------------ semantic checks


@pytest.fixture
def tmp_bundle(tmp_path: Path) -> Path:
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def linux_config(namespaces: list[str] | tuple = (), **linux: object) -> dict:
    doc = minimal(process={"cwd": "/", "args": ["sh"]})
    doc["linux"] = {"namespaces": [{"type": t} for t in namespaces], **linux}
    return doc


def semantic_errors(doc: dict, tmp_bundle: Path) -> list[str]:
    return list(iter_semantic_errors(doc, str(tmp_bundle)))


ALL_NS = ["pid", "network", "mount", "ipc", "uts", "cgroup"]


def test_semantic_accepts_runc_default_configs(tmp_bundle: Path) -> None:
    assert semantic_errors(runc_default_config(), tmp_bundle) == []
    assert semantic_errors(runc_default_config("--rootless"), tmp_bundle) == []
    check_config(linux_config(ALL_NS), str(tmp_bundle))


def test_semantic_capability_list_is_the_kernels() -> None:
    assert len(semantic.CAPABILITIES) == 41
    assert semantic.CAPABILITIES[21] == "CAP_SYS_ADMIN"
    assert semantic.CAPABILITIES[40] == "CAP_CHECKPOINT_RESTORE"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.update(ociVersion="2.0.0"),
            "ociVersion: unsupported major version 2 (expected 1)",
        ),
        (lambda d: d.update(ociVersion="v1"), "ociVersion: expected a version such as 1.2.0"),
        (lambda d: d.pop("root"), "root: required"),
        (lambda d: d["process"].update(args=[]), "process.args: expected a non-empty array"),
        (lambda d: d["process"].update(cwd="work"), "process.cwd: must be an absolute path"),
        (
            lambda d: d.setdefault("linux", {}).update(
                devices=[
                    {"type": "c", "path": "/dev/ok", "major": 1, "minor": 3},
                    {"type": "c", "path": "dev/x", "major": 1, "minor": 3},
                ]
            ),
            "linux.devices[1].path: must be an absolute path",
        ),  # fmt: skip
        (
            lambda d: d["process"].update(
                capabilities={"effective": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_KILL"]}
            ),
            "process.capabilities.effective[0]: CAP_CHOWN is not in "
            "process.capabilities.permitted (the kernel refuses it)",
        ),
        (
            lambda d: d["process"].update(
                rlimits=[
                    {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2},
                    {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2},
                ]
            ),
            "process.rlimits[1].type: RLIMIT_NOFILE already set by process.rlimits[0]",
        ),
        (
            lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 2}]),
            "process.rlimits[0].type: unknown resource limit RLIMIT_FOO",
        ),
        (
            lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_A\n", "soft": 1, "hard": 2}]),
            'process.rlimits[0].type: unknown resource limit "RLIMIT_A\\n"',
        ),
        (
            lambda d: d["process"].update(rlimits=[{"type": "RLIMIT_CORE", "soft": 3, "hard": 2}]),
            "process.rlimits[0].soft: must not exceed the hard limit",
        ),
        (
            lambda d: d["process"].update(scheduler={"policy": "SCHED_OTHER", "priority": 5}),
            "process.scheduler.priority: only allowed with SCHED_FIFO or SCHED_RR",
        ),
        (
            lambda d: d["process"].update(ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "process.ioPriority.priority: must be between 0 and 7",
        ),
        (
            lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
            "linux.namespaces[6].type: duplicate namespace pid",
        ),
        (
            lambda d: d["linux"]["namespaces"][1].update(path="/nonexistent/netns"),
            "linux.namespaces[1].path: /nonexistent/netns does not exist",
        ),
        (
            lambda d: d["linux"]["namespaces"][1].update(path="proc/1/ns/net"),
            "linux.namespaces[1].path: must be an absolute path",
        ),
        (
            lambda d: d["linux"].update(
                uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}]
            ),
            "linux.uidMappings: user namespace mappings given but no user namespace",
        ),
        (
            lambda d: d["linux"].update(timeOffsets={"monotonic": {"secs": 1}}),
            "linux.timeOffsets: time offsets given but no time namespace",
        ),
        (
            lambda d: d["linux"].update(netDevices={"eth:0": {}}),
            'linux.netDevices["eth:0"]: invalid network interface name',
        ),
        (
            lambda d: d["linux"].update(intelRdt={"closID": "../x"}),
            "linux.intelRdt.closID: must be a plain directory name",
        ),
        (
            lambda d: d["linux"].update(netDevices={"a": {"name": "x"}, "b": {"name": "x"}}),
            "linux.netDevices.b.name: x is also the name of linux.netDevices.a in the container",
        ),
        (
            lambda d: d["linux"].update(personality={"domain": "LINUX", "flags": ["X"]}),
            "linux.personality.flags: no flags are defined (runtime-spec 1.3)",
        ),
    ],
)
def test_semantic_error_messages(tmp_bundle: Path, edit, message: str) -> None:
    doc = linux_config(ALL_NS)
    edit(doc)
    with pytest.raises(ConfigError) as info:
        check_config(doc, str(tmp_bundle))
    assert str(info.value) == "config.json: " + message


def test_semantic_root_must_be_an_existing_directory(tmp_path: Path) -> None:
    doc = linux_config(ALL_NS)
    assert semantic_errors(doc, tmp_path) == [
        f"config.json: root.path: {tmp_path}/rootfs does not exist"
    ]
    (tmp_path / "rootfs").write_text("")
    assert semantic_errors(doc, tmp_path) == [
        f"config.json: root.path: {tmp_path}/rootfs is not a directory"
    ]
    doc["root"]["path"] = str(tmp_path)  # absolute paths are taken as they are
    assert semantic_errors(doc, Path("/nonexistent")) == []


def test_semantic_config_without_process_is_fine(tmp_bundle: Path) -> None:
    doc = linux_config(ALL_NS)
    del doc["process"]
    assert semantic_errors(doc, tmp_bundle) == []


def test_semantic_user_namespace_needs_mappings_unless_joined(tmp_bundle: Path) -> None:
    doc = linux_config(["user", *ALL_NS])
    assert semantic_errors(doc, tmp_bundle) == [
        "config.json: linux.uidMappings: required to create a user namespace",
        "config.json: linux.gidMappings: required to create a user namespace",
    ]
    mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    doc["linux"].update(uidMappings=mapping, gidMappings=mapping)
    assert semantic_errors(doc, tmp_bundle) == []
    joined = linux_config(["user", *ALL_NS])
    joined["linux"]["namespaces"][0]["path"] = "/proc/self/ns/user"
    assert semantic_errors(joined, tmp_bundle) == []


def test_semantic_time_offsets(tmp_bundle: Path) -> None:
    doc = linux_config([*ALL_NS, "time"], timeOffsets={"boottime": {"secs": 5}})
    assert semantic_errors(doc, tmp_bundle) == []
    doc["linux"]["namespaces"][-1]["path"] = "/proc/self/ns/time"
    assert semantic_errors(doc, tmp_bundle) == [
        "config.json: linux.timeOffsets: not allowed when joining an existing time namespace"
    ]


def test_semantic_uts_and_mount_namespace_requirements(tmp_bundle: Path) -> None:
    doc = linux_config(["pid"], maskedPaths=["/proc/kcore"], readonlyPaths=[])
    doc.update(hostname="box", domainname="")
    assert semantic_errors(doc, tmp_bundle) == [
        "config.json: hostname: needs a uts namespace",
        "config.json: linux.maskedPaths: needs a mount namespace",
    ]


@pytest.mark.parametrize(
    ("namespaces", "key", "rule"),
    [
        (["network"], "net.ipv4.ip_forward", None),
        (["network"], "net/ipv4/conf/eth0.100/rp_filter", None),
        (["pid"], "net.ipv4.ip_forward", "needs a network namespace"),
        (["ipc"], "kernel.shmmax", None),
        (["ipc"], "fs.mqueue.msg_max", None),
        (["network"], "kernel.msgmax", "needs an ipc namespace"),
        (["pid"], "fs.mqueue.queues_max", "needs an ipc namespace"),
        (["uts"], "kernel.domainname", None),
        (["ipc"], "kernel.domainname", "needs a uts namespace"),
        (["uts"], "kernel.hostname", "not allowed: set the hostname field instead"),
        (["user"], "user.max_user_namespaces", None),
        (ALL_NS, "user.max_user_namespaces", "needs a user namespace"),
        (ALL_NS, "vm.swappiness", "not isolated by any namespace"),
        (ALL_NS, "kernel.pid_max", "not isolated by any namespace"),
    ],
)
def test_semantic_sysctl_namespaces(
    tmp_bundle: Path, namespaces: list, key: str, rule: str | None
) -> None:
    doc = linux_config(namespaces, sysctl={key: "1"})
    if "user" in namespaces:
        doc["linux"]["uidMappings"] = doc["linux"]["gidMappings"] = [
            {"containerID": 0, "hostID": 1000, "size": 1}
        ]
    expected = [] if rule is None else [f"config.json: linux.sysctl[{json.dumps(key)}]: {rule}"]
    assert semantic_errors(doc, tmp_bundle) == expected


def test_semantic_net_sysctl_refused_when_joining_our_own_netns(tmp_bundle: Path) -> None:
    doc = linux_config(["network"], sysctl={"net.core.somaxconn": "1024"})
    doc["linux"]["namespaces"][0]["path"] = "/proc/self/ns/net"
    assert semantic_errors(doc, tmp_bundle) == [
        'config.json: linux.sysctl["net.core.somaxconn"]: '
        "not allowed in the host's network namespace"
    ]


def test_unknown_capabilities_are_not_refused_but_listed(tmp_bundle: Path) -> None:
    # runtime-spec 1.1+: a warning, and the runtime SHOULD NOT fail (create drops them).
    doc = linux_config(["pid"])
    doc["process"]["capabilities"] = {"bounding": ["CAP_CHOWN", "CAP_FOO"], "ambient": ["X"]}
    assert semantic_errors(doc, tmp_bundle) == []
    assert list(semantic.unknown_capabilities(doc)) == [
        (("process", "capabilities", "bounding", 1), "unknown capability CAP_FOO"),
        (("process", "capabilities", "ambient", 0), "unknown capability X"),
    ]


def test_semantic_lists_all_problems(tmp_bundle: Path) -> None:
    doc = linux_config(["pid", "pid"], sysctl={"vm.x": "1"})
    doc["mounts"] = [{"destination": "a"}]  # relative: taken from the root, as runc
    doc["process"]["capabilities"] = {"ambient": ["CAP_NOPE"]}
    assert semantic_errors(doc, tmp_bundle) == [
        "config.json: linux.namespaces[1].type: duplicate namespace pid",
        'config.json: linux.sysctl["vm.x"]: not isolated by any namespace',
    ]


@FAST
@given(any_config)
def test_semantic_checks_survive_schema_invalid_documents(doc: object) -> None:
    for message in iter_semantic_errors(doc, "/nonexistent-bundle"):
        assert message.startswith("config.json: ") and "\n" not in message


def test_a_source_tree_reads_its_own_schemas(tmp_path: Path) -> None:
    """Code run from a source tree validates with that tree's schemas, not with those of
    another copy pip installed (an editable install maps pyrunc.schemas elsewhere)."""
    for name in ("pyrunc", "spec"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "setup.cfg", tmp_path / "setup.cfg")
    linux = tmp_path / "spec" / "linux.json"
    linux.write_text(linux.read_text().replace('"rprivate", ', "", 1))
    code = (
        "from pyrunc.spec import validate; "
        "print('rprivate' in str(validate.schema_document('linux.json')))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "False"


def test_enum_with_a_title_is_refused_in_runcs_words() -> None:
    """A title on an enum words its refusal as runc does ('invalid memory policy mode
    "X"'), the values it takes after; hints still read them."""
    from pyrunc.check.hints import schema_hint

    doc = {"ociVersion": "1.0.2", "linux": {"memoryPolicy": {"mode": "INTERLEAVE"}}}
    [(path, rule, keyword)] = list(validate.iter_config_problems(doc))
    assert rule.startswith('invalid memory policy mode "INTERLEAVE": expected one of MPOL_')
    assert schema_hint(path, rule, keyword, "INTERLEAVE").startswith('did you mean "MPOL_INT')


def test_a_null_member_is_absent_as_go_reads_it(tmp_path: Path) -> None:
    """runc's timens.bats: `"timeOffsets": null` is no offsets, not a wrong type."""
    from pyrunc.spec.config import read_document

    doc = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
           "linux": {"timeOffsets": None, "namespaces": [{"type": "time", "path": None}]},
           "annotations": {"a": None}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(doc))
    assert read_document(str(tmp_path)) == {
        "ociVersion": "1.0.2", "root": {"path": "rootfs"},
        "linux": {"namespaces": [{"type": "time"}]}, "annotations": {},
    }  # fmt: skip
