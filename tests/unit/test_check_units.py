"""Unit tests of `pyrunc check`'s pure parts, with hypothesis: hints, JSON paths, the
report's rendering, and its agreement with create's own first-error validation."""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import string
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.cgroups.resources_v1 import field_of, to_files
from pyrunc.check import Report, check_document, hints, render
from pyrunc.check.bundle import value_at
from pyrunc.check.findings import ERROR, GROUPS, OK, WARNING, Finding
from pyrunc.check.rootfs import candidates
from pyrunc.errors import ConfigError
from pyrunc.spec.semantic import CAPABILITIES, RLIMITS, check_config, iter_semantic_problems
from pyrunc.spec.validate import format_path, iter_config_problems, validate_config
from tools.busybox_bundle import default_config

# -- documents: the busybox config with a few random edits ---------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_names = st.sampled_from(
    ["type", "path", "args", "uid", "limit", "hard", "pid", "CAP_KILL", "bounding", "weight"]
)
_values = st.one_of(
    _json,
    st.sampled_from(["pid", "networking", "CAP_FLY", "RLIMIT_NOPE", "/x", "", -1, 2**63, []]),
)


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) below node."""
    out, stack = [], [node]
    while stack:
        cur = stack.pop()
        pairs = cur.items() if isinstance(cur, dict) else enumerate(cur)
        for key, value in pairs:
            out.append((cur, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    doc = default_config(["sh"])
    doc["linux"]["resources"]["memory"] = {"limit": 1 << 26}
    doc["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 0}]
    for _ in range(draw(st.integers(0, 4))):
        container, key = draw(st.sampled_from(_slots(doc)))
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if op == "replace":
            container[key] = draw(_values)
        elif op == "delete":
            del container[key]
        elif isinstance(container[key], dict):
            container[key][draw(_names)] = draw(_values)
    return doc


_BUNDLE = tempfile.mkdtemp(prefix="pyrunc-check-unit-")
os.mkdir(os.path.join(_BUNDLE, "rootfs"))  # empty: args[0] is never there, cwd / is
# Removed at exit even when no test of this module runs (collection only, -k elsewhere).
atexit.register(shutil.rmtree, _BUNDLE, True)
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(configs())
def test_the_first_problem_is_the_one_create_reports(doc: dict[str, Any]) -> None:
    """The collect-all iterators start with exactly create's fail-first error."""
    try:
        validate_config(copy.deepcopy(doc))
    except ConfigError as e:
        path, rule, _ = next(iter_config_problems(doc))
        assert str(e) == f"config.json: {format_path(path)}: {rule}"
        return
    assert next(iter_config_problems(doc), None) is None
    try:
        check_config(copy.deepcopy(doc), _BUNDLE)
    except ConfigError as e:
        path, rule = next(iter_semantic_problems(doc, _BUNDLE))
        assert str(e) == f"config.json: {format_path(path)}: {rule}"
    else:
        assert next(iter_semantic_problems(doc, _BUNDLE), None) is None


@_SETTINGS
@given(configs())
def test_check_reports_what_create_refuses_and_never_breaks(doc: dict[str, Any]) -> None:
    refused = None
    try:
        validate_config(copy.deepcopy(doc))
        check_config(copy.deepcopy(doc), _BUNDLE)
    except ConfigError as e:
        refused = str(e).removeprefix("config.json: ")
    found = check_document(doc, _BUNDLE, os.path.join(_BUNDLE, "state"))
    assert not any("check failed" in f.message for f in found), found
    problems = [f for f in found if f.severity != OK]
    assert all(f.hint for f in problems)
    assert [f.group for f in found] == sorted((f.group for f in found), key=GROUPS.index)
    if refused is not None:
        shown = {f"{f.path}: {f.message}" if f.path else f.message for f in problems}
        assert refused in shown
    assert not os.path.exists(os.path.join(_BUNDLE, "state"))


# -- hints ---------------------------------------------------------------------------------


@given(st.sampled_from(CAPABILITIES), st.booleans(), st.booleans())
def test_closest_forgives_case_and_a_missing_prefix(name: str, lower: bool, bare: bool) -> None:
    typed = name.removeprefix("CAP_") if bare else name
    typed = typed.lower() if lower else typed
    assert hints.closest(typed, CAPABILITIES) == name


@given(st.sampled_from(sorted(RLIMITS)), st.data())
def test_closest_finds_a_name_with_one_letter_dropped(name: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(len("RLIMIT_"), len(name) - 1))
    guess = hints.closest(name[:i] + name[i + 1 :], sorted(RLIMITS))
    assert guess in RLIMITS


@given(st.text(max_size=40))
def test_every_semantic_rule_gets_a_hint(rule: str) -> None:
    assert hints.semantic_hint(rule).strip()


@given(
    st.sampled_from(
        ["enum", "type", "const", "required", "additionalProperties", "minItems", "minLength",
         "minimum", "maximum", "pattern", "uniqueItems", "oneOf", "anyOf", "not", "maxItems"]
    ),
    st.text(max_size=30),
    _json,
)  # fmt: skip
def test_every_schema_problem_gets_a_hint(keyword: str, rule: str, value: object) -> None:
    assert hints.schema_hint(("linux", "x"), rule, keyword, value).strip()


def test_hints_name_the_likely_value() -> None:
    rule = "expected one of pid, network, mount, ipc, uts, user, cgroup, time"
    assert hints.schema_hint((), rule, "enum", "networking").startswith('did you mean "network"?')
    assert "CAP_SYS_ADMIN" in hints.semantic_hint("unknown capability sys_admin")
    assert hints.semantic_hint("needs a uts namespace") == 'add {"type": "uts"} to linux.namespaces'
    assert (
        hints.schema_hint(("process", "cwd"), "required", "required", None) == 'add the field "cwd"'
    )


# -- paths ---------------------------------------------------------------------------------


@st.composite
def doc_and_path(draw: st.DrawFn) -> tuple[Any, tuple, Any]:
    doc = draw(_json)
    node, path = doc, ()
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        node, path = node[key], (*path, key)
    return doc, path, node


@given(doc_and_path())
def test_value_at_follows_a_json_path(case: tuple[Any, tuple, Any]) -> None:
    doc, path, node = case
    assert value_at(doc, path) is node
    assert value_at(doc, (*path, "\0missing")) is None


@given(
    st.text(string.ascii_letters + "-_.", min_size=1, max_size=10),
    st.lists(st.sampled_from(["/bin", "/usr/bin", "", "rel"]), max_size=4),
)
def test_program_candidates_follow_path_in_order(name: str, dirs: list[str]) -> None:
    found = candidates(name, "/work", ":".join(dirs) if dirs else None)
    if not dirs:
        assert found[-1] == f"/bin/{name}"  # the default PATH
        return
    assert len(found) == len(dirs)
    for d, path in zip(dirs, found, strict=True):
        if d == "rel":
            assert path == ""  # a relative PATH entry is never searched
        else:
            assert path == os.path.join(d or "/work", name)


def test_program_with_a_slash_is_taken_as_is() -> None:
    assert candidates("/bin/sh", "/w", "/x") == ["/bin/sh"]
    assert candidates("./run", "/w", "/x") == ["/w/./run"]


def test_cgroup_files_map_back_to_their_field() -> None:
    res = {"hugepageLimits": [{"pageSize": "1GB"}, {"pageSize": "2MB"}]}
    assert field_of("hugetlb.2MB.limit_in_bytes", res) == "linux.resources.hugepageLimits[1]"
    assert field_of("?memory.memsw.limit_in_bytes", res) == "linux.resources.memory.swap"
    assert (
        field_of("blkio.throttle.read_bps_device", res)
        == "linux.resources.blockIO.throttleReadBpsDevice"
    )
    assert field_of("blkio.weight", res) == "linux.resources.blockIO.weight"
    assert field_of("net_cls.classid", res) == "linux.resources.network.classID"


def test_v2_files_map_back_to_their_field() -> None:
    from pyrunc.cgroups.resources_v2 import field_of as v2_field

    res = {"hugepageLimits": [{"pageSize": "1GB"}, {"pageSize": "2MB"}], "unified": {}}
    assert v2_field("hugetlb.2MB.max", "1", res) == "linux.resources.hugepageLimits[1]"
    assert v2_field("?memory.swap.max", "0", res) == "linux.resources.memory.swap"
    assert v2_field("cpu.weight", "39", res) == "linux.resources.cpu.shares"
    assert v2_field("io.weight", "100", res) == "linux.resources.blockIO.weight"
    assert v2_field("io.bfq.weight", "8:0 100", res) == "linux.resources.blockIO.weightDevice"
    assert (
        v2_field("io.max", "8:0 wiops=5", res) == "linux.resources.blockIO.throttleWriteIOPSDevice"
    )
    assert v2_field("memory.high", "5", res) == 'linux.resources.unified["memory.high"]'


def test_every_v1_write_names_a_field() -> None:
    """Each file to_files can write maps to a field of linux.resources, never to the bare
    linux.resources: a create error must say which value the host cannot apply."""
    res = {
        "memory": {"limit": 1, "swap": 2, "reservation": 1, "kernel": -1, "kernelTCP": 1,
                   "swappiness": 5, "disableOOMKiller": True, "useHierarchy": True},
        "cpu": {"shares": 2, "period": 1000, "quota": 1000, "burst": 1, "realtimePeriod": 1,
                "realtimeRuntime": 1, "idle": 1, "cpus": "0", "mems": "0"},
        "pids": {"limit": 3},
        "blockIO": {"weight": 10, "leafWeight": 10,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 5, "leafWeight": 5}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 1}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 1}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
        "network": {"classID": 1, "priorities": [{"name": "lo", "priority": 1}]},
        "rdma": {"mlx": {"hcaHandles": 1}},
        "devices": [{"allow": False, "access": "rwm"}],
    }  # fmt: skip
    for _, name, _ in to_files(res):
        at = field_of(name, res)
        assert at.startswith("linux.resources."), (name, at)


# -- rendering -----------------------------------------------------------------------------

_findings = st.lists(
    st.builds(
        Finding,
        st.sampled_from(GROUPS),
        st.sampled_from([OK, WARNING, ERROR]),
        st.sampled_from(["", "process.args[0]", "linux.namespaces[2].type"]),
        st.text(string.ascii_letters + " ", min_size=1, max_size=20),
        st.text(string.ascii_letters + " ", min_size=1, max_size=20),
    ),
    max_size=12,
)


@given(_findings)
def test_text_has_one_line_per_check_and_a_true_summary(found: list[Finding]) -> None:
    report = Report("/b", sorted(found, key=lambda f: GROUPS.index(f.group)))
    out = render.text(report)
    errors = sum(f.severity == ERROR for f in found)
    marks = [line for line in out.splitlines() if line.startswith("  ") and line[2] in "✓!✗"]
    assert len(marks) == len(found)
    assert sum(line[2] == "✗" for line in marks) == errors
    assert out.count("      fix: ") == sum(f.severity != OK for f in found)
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("bundle would run") == (errors == 0)
    if errors:
        assert last.startswith(f"{errors} problem")


@given(_findings)
def test_json_is_one_document_with_every_check(found: list[Finding]) -> None:
    doc = json.loads(render.as_json(Report("/b", found)))
    assert doc["ok"] == (not any(f.severity == ERROR for f in found))
    assert len(doc["checks"]) == len(found)
    assert [f["severity"] for f in doc["findings"]] == [
        f.severity for f in found if f.severity != OK
    ]
