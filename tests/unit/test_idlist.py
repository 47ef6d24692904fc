"""The "0-3,7" lists of CPUs and NUMA nodes (pyrunc/spec/idlist.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.spec.idlist import MAX_ID, parse_cpu_list, parse_id_list


def _as_list(ids: set[int], spaces: bool) -> str:
    """ids written as runc writes them: maximal runs as ranges."""
    parts, run = [], []
    for n in sorted(ids):
        if run and n != run[-1] + 1:
            parts.append(run)
            run = []
        run.append(n)
    if run:
        parts.append(run)
    sep = " , " if spaces else ","
    return sep.join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in parts)


@given(st.sets(st.integers(0, 300)), st.booleans())
def test_a_written_list_reads_back(ids: set[int], spaces: bool) -> None:
    assert parse_id_list(_as_list(ids, spaces), "CPU") == ids


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("3-1", "invalid range '3-1'"),
        ("x", "'x' is not a node number"),
        ("1,-2", "'' is not a node number"),
        (str(MAX_ID + 1), f"node numbers above {MAX_ID} are not supported"),
    ],
)
def test_bad_lists_say_why(text: str, error: str) -> None:
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(") + "$"):
        parse_id_list(text, "node")


def test_a_cpu_list_names_a_cpu() -> None:
    assert parse_cpu_list(" 0 ,, 2-3 ") == {0, 2, 3}
    with pytest.raises(ValueError, match="no CPU in ' , '"):
        parse_cpu_list(" , ")
