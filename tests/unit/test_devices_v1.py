"""The v1 devices cgroup model (pyrunc/cgroups/devices_v1.py): a transition written on
top of the current state reaches the wanted one, with no deny-all unless the default
policy changes or the cgroup is a blacklist. Pure: no root, no container.

The model that checks it is independent: which (type, major, minor, access) triples a
state allows, computed by matching, not by comparing rule tables.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrunc.cgroups import devices_v1
from pyrunc.cgroups.resources_v1 import to_files
from pyrunc.errors import CgroupError

FAST = settings(max_examples=300, deadline=None, database=None)

NUMBERS = (-1, 1, 3, 5)  # -1: wildcard
PROBES = [(t, a, b, acc) for t in "bc" for a in (1, 3, 5) for b in (1, 3, 5) for acc in "rwm"]


def allows(state: devices_v1.State, kind: str, major: int, minor: int, access: str) -> bool:
    """A whitelist allows what an exception covers; a blacklist what none denies."""
    default, rules = state
    covered = any(
        k == kind and ma in (-1, major) and mi in (-1, minor) and access in perms
        for (k, ma, mi), perms in rules.items()
    )
    return not covered if default else covered


def kernel_write(state: devices_v1.State, allow: bool, text: str) -> devices_v1.State:
    """What the kernel does with one write: "a" resets; an exception is added to or
    taken from its exact entry only (a wider one stays as it is)."""
    kind, numbers, access = text.split()
    if kind == "a":
        return allow, {}
    major, minor = (-1 if n == "*" else int(n) for n in numbers.split(":"))
    default, rules = state[0], dict(state[1])
    key = (kind, major, minor)
    have = set(rules.get(key, ""))
    have = have - set(access) if allow == default else have | set(access)
    rules.pop(key, None)
    if have:
        rules[key] = "".join(ch for ch in "rwm" if ch in have)
    return default, rules


def rule_texts(state: devices_v1.State) -> str:
    return "\n".join(devices_v1.rule_text(k, v) for k, v in state[1].items())


exact_keys = st.tuples(
    st.sampled_from("bc"), st.sampled_from((1, 3, 5)), st.sampled_from((1, 3, 5))
)
any_keys = st.tuples(st.sampled_from("bc"), st.sampled_from(NUMBERS), st.sampled_from(NUMBERS))
perms = st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm"])
whitelists = st.dictionaries(any_keys, perms, max_size=6).map(lambda r: (False, r))


@FAST
@given(whitelists, whitelists)
def test_a_transition_between_whitelists_reaches_the_target_without_a_reset(
    current: devices_v1.State, wanted: devices_v1.State
) -> None:
    state = current
    for name, rule in devices_v1.transition(current, wanted):
        assert not rule.startswith("a "), rule  # never a moment with nothing allowed
        state = kernel_write(state, name == "devices.allow", rule)
    for probe in PROBES:
        assert allows(state, *probe) == allows(wanted, *probe), probe
    assert devices_v1.transition(wanted, wanted) == []


@FAST
@given(whitelists, st.booleans())
def test_from_a_blacklist_the_reset_comes_first(wanted: devices_v1.State, black: bool) -> None:
    """devices.list cannot show a blacklist's denies: only a reset is sure to drop them,
    into a blacklist as well."""
    wanted = (black, wanted[1])
    current = devices_v1.from_list("a *:* rwm\n")
    assert current == (True, {})
    writes = devices_v1.transition(current, wanted)
    assert writes[0] == ("devices.allow" if black else "devices.deny", "a *:* rwm")
    state = current
    for name, rule in writes:
        state = kernel_write(state, name == "devices.allow", rule)
    assert all(allows(state, *p) == allows(wanted, *p) for p in PROBES)


@FAST
@given(whitelists)
def test_devices_list_round_trips(state: devices_v1.State) -> None:
    assert devices_v1.from_list(rule_texts(state)) == state


def test_the_program_of_a_config_becomes_the_whitelist_it_means() -> None:
    """runc's update.bats config: deny all, deny c 1:11 with an "a" access letter (not a
    kernel one: written as is it gives EINVAL). The model ignores the letter and the
    deny of something already denied: only the defaults are allowed."""
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
    ]
    program = [(n.lstrip("?") == "devices.allow", v) for c, n, v in to_files({"devices": rules})]
    default, allowed = devices_v1.target(program)
    assert default is False
    assert allowed[("c", 1, 3)] == "rwm" and ("c", 1, 11) not in allowed
    assert not any(
        rule.endswith("a") for _, rule in devices_v1.transition((True, {}), (default, allowed))
    )


def test_type_a_resets_whatever_its_numbers_say() -> None:
    state = (False, {("c", 1, 3): "rwm"})
    assert devices_v1.apply(state, True, "a 1:3 r") == (True, {})
    assert devices_v1.apply(state, False, "a") == (False, {})


def test_a_hole_in_a_wildcard_exception_is_refused() -> None:
    """The kernel would keep "c *:* rwm" and say nothing: refused, as runc does."""
    state = (False, {("c", -1, -1): "rwm"})
    with pytest.raises(CgroupError, match="linux.resources.devices: rule c 1:3 r"):
        devices_v1.apply(state, False, "c 1:3 r")
    assert devices_v1.apply(state, False, "c *:* r") == (False, {("c", -1, -1): "wm"})
