"""linux.mountLabel's mount option: go-selinux's form, data kept in front."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyrunc.linux.lsm import with_mount_label

_labels = st.from_regex(r"[a-z_]+:[a-z_]+:[a-z_]+:s0(:c[0-9]+,c[0-9]+)?", fullmatch=True)
_data = st.from_regex(r"([a-z]+=[0-9a-z]+(,[a-z]+=[0-9a-z]+)*)?", fullmatch=True)


@given(_data, _labels)
def test_label_is_one_quoted_context_option_after_the_data(data: str, label: str) -> None:
    out = with_mount_label(data, label)
    assert out.endswith(f'context="{label}"')
    assert out.removesuffix(f'context="{label}"').removesuffix(",") == data


@given(_data)
def test_no_label_leaves_the_data_alone(data: str) -> None:
    assert with_mount_label(data, "") == data
