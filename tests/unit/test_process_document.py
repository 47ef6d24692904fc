"""create keeps the process as a document in the state record; exec parses it back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyrunc.spec.config import parse_process, process_document

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
