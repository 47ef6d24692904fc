"""linux.memoryPolicy's create-time rules (pyrunc/linux/mempolicy.py `problems`): runc's
words, which scripts written for runc match (its tests/integration/memorypolicy.bats
greps them), after the field's path. The online nodes are the test's, not the host's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.linux import mempolicy

NO_NODES = ["MPOL_DEFAULT", "MPOL_LOCAL"]
SOME_NODES = ["MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"]


@pytest.fixture(autouse=True)
def online_0_to_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mempolicy, "online_nodes", lambda: frozenset(range(4)))


def rules(doc: dict) -> list[tuple[str, str]]:
    return [(".".join(sub), rule) for sub, rule in mempolicy.problems(doc)]


@pytest.mark.parametrize("doc", [{}, {"nodes": "0-7"}, {"flags": ["MPOL_F_STATIC_NODES"]}])
def test_missing_mode_is_runcs_empty_mode(doc: dict) -> None:
    # runc reads the absent mode as "" and names it: 'invalid memory policy mode ""'.
    assert rules(doc) == [("mode", 'invalid memory policy mode "": the field is required')]


def test_node_list_refused_in_runcs_words() -> None:
    [(field, rule)] = rules({"mode": "MPOL_BIND", "nodes": "0-9876543210", "flags": []})
    assert field == "nodes"
    assert rule.startswith('invalid memory policy nodes "0-9876543210": ')
    assert "65536" in rule  # runc's sanity limit (configs.MaxCPU)


def test_node_list_quoted_as_go_does() -> None:
    [(_, rule)] = rules({"mode": "MPOL_BIND", "nodes": '0-"x'})
    assert rule.startswith('invalid memory policy nodes "0-\\"x": ')


@given(st.sampled_from(NO_NODES), st.frozensets(st.integers(0, 3), min_size=1))
def test_modes_without_nodes_count_them(mode: str, nodes: frozenset[int]) -> None:
    text = ",".join(map(str, sorted(nodes)))
    assert rules({"mode": mode, "nodes": text}) == [
        ("nodes", f"memory policy mode requires 0 nodes but got {len(nodes)}: {mode} takes none")
    ]


@given(st.sampled_from(SOME_NODES), st.sampled_from(["", " ", ",", " , "]))
def test_modes_with_nodes_need_one(mode: str, text: str) -> None:
    assert rules({"mode": mode, "nodes": text}) == [
        ("nodes", f"memory policy mode requires at least one node but got 0: {mode} needs one")
    ]


@given(
    st.sampled_from([*NO_NODES, "MPOL_PREFERRED"]),
    st.sampled_from([None, ""]),
)
def test_what_runc_takes_without_nodes(mode: str, text: str | None) -> None:
    # MPOL_PREFERRED takes zero nodes too (the kernel then allocates locally).
    doc = {"mode": mode} if text is None else {"mode": mode, "nodes": text}
    assert rules(doc) == []


def test_offline_node_after_the_count_rule() -> None:
    assert rules({"mode": "MPOL_BIND", "nodes": "0,9"}) == [
        ("nodes", "node 9 is not online (online: 0,1,2,3)")
    ]
    # A mode that takes no nodes: the count is the one problem, not which are online.
    assert [f for f, _ in rules({"mode": "MPOL_DEFAULT", "nodes": "9"})] == ["nodes"]
    # Relative nodes are numbered within the allowed ones: any number is valid.
    assert rules({"mode": "MPOL_BIND", "nodes": "9", "flags": ["MPOL_F_RELATIVE_NODES"]}) == []
