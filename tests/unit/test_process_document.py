"""create keeps the process as a document in the state record; exec parses it back."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pyrunc.record import replace
from pyrunc.spec.config import (
    MemoryPolicy,
    container_defaults,
    parse_process,
    process_document,
    with_container_defaults,
)

text = st.text(max_size=8)
caps = st.lists(st.sampled_from(["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]), max_size=3)
ids = st.integers(0, 2**32 - 1)


@st.composite
def process_docs(draw: st.DrawFn) -> dict:
    doc: dict = {
        "args": draw(st.lists(text, min_size=1, max_size=3)),
        "cwd": draw(text),
        "user": {"uid": draw(ids), "gid": draw(ids)},
    }
    for key, strategy in (
        ("env", st.lists(text, max_size=3)),
        ("terminal", st.booleans()),
        ("noNewPrivileges", st.booleans()),
        ("oomScoreAdj", st.integers(-1000, 1000)),
        ("apparmorProfile", text),
        ("selinuxLabel", text),
        ("rlimits", st.lists(st.fixed_dictionaries({"type": text, "soft": ids, "hard": ids}))),
        ("capabilities", st.fixed_dictionaries({k: caps for k in ("bounding", "ambient")})),
    ):
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    if draw(st.booleans()):
        doc["user"]["umask"] = draw(st.integers(0, 0o777))
    if draw(st.booleans()):
        doc["user"]["additionalGids"] = draw(st.lists(ids, max_size=3))
    return doc


@given(process_docs())
def test_a_process_survives_the_state_record(doc: dict) -> None:
    proc = parse_process(doc)
    assert parse_process(process_document(proc)) == proc


_affinities = st.tuples(st.sampled_from(["", "0", "0-1"]), st.sampled_from(["", "1"]))
_policies = st.builds(
    MemoryPolicy,
    st.sampled_from(["MPOL_BIND", "MPOL_LOCAL"]),
    st.sampled_from(["", "0"]),
    st.lists(st.sampled_from(["MPOL_F_STATIC_NODES"]), max_size=1).map(tuple),
)


@given(
    st.none() | _affinities, st.none() | _policies, st.none() | st.sampled_from([0, 8]),
    st.none() | _affinities, st.none() | _policies, st.none() | st.sampled_from([0, 8]),
)  # fmt: skip
def test_exec_takes_the_containers_defaults_where_it_sets_none(
    aff: object, policy: object, persona: object, own_aff: object, own_policy: object,
    own_persona: object,
) -> None:  # fmt: skip
    base = parse_process({"args": ["x"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    assert base is not None
    created = replace(base, exec_cpu_affinity=aff, memory_policy=policy, personality=persona)
    defaults = json.loads(json.dumps(container_defaults(created)))  # as the record keeps it
    own = replace(base, exec_cpu_affinity=own_aff, memory_policy=own_policy,
                  personality=own_persona)  # fmt: skip
    got = with_container_defaults(own, defaults)
    assert got.exec_cpu_affinity == (own_aff if own_aff is not None else aff)
    assert got.memory_policy == (own_policy if own_policy is not None else policy)
    assert got.personality == (own_persona if own_persona is not None else persona)
