"""CRIU's RPC as pyrunc speaks it (pyrunc/container/criu_rpc.py) and checkpoint's option
checks in runc's words (pyrunc/container/checkpoint.py): no CRIU, no root needed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.container import criu_rpc as rpc
from pyrunc.container.checkpoint import CriuOptions, checked
from pyrunc.errors import InvalidArgument

_INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
_TEXT = st.text(max_size=20)

_RESPONSES = st.fixed_dictionaries(
    {"type": st.integers(0, 13), "success": st.booleans()},
    optional={
        "restore": st.fixed_dictionaries({"pid": _INT32}),
        "notify": st.fixed_dictionaries({"script": _TEXT, "pid": _INT32}),
        "cr_errno": _INT32,
        "cr_errmsg": _TEXT,
        "features": st.fixed_dictionaries({"mem_track": st.booleans()}),
    },
)


@given(_RESPONSES)
def test_a_message_decodes_to_what_was_encoded(resp: dict) -> None:
    assert rpc.decode("criu_resp", rpc.encode("criu_resp", resp)) == resp


def test_repeated_and_nested_fields_keep_their_order() -> None:
    opts = {
        "images_dir_fd": 3,
        "ext_mnt": [{"key": "/a", "val": "/b"}, {"key": "/c", "val": "/d"}],
        "external": ["net[1]:extRootNetNS", "pid[2]:extRootPidNS"],
        "pid": -1,
    }
    data = rpc.encode("criu_opts", opts)
    assert rpc.decode("criu_opts", data) == opts
    assert rpc.decode("criu_resp", b"") == {}  # an empty message: no field at all


def test_unknown_fields_are_skipped() -> None:
    # field 11 (status, int32) is not read by pyrunc; field 2 (success) after it is.
    data = bytes([1 << 3, 1, 11 << 3, 5, 2 << 3, 1])
    assert rpc.decode("criu_resp", data) == {"type": 1, "success": True}


def _system_python_with_pycriu() -> str:
    """The distribution's python with Debian's pycriu (criu's own protobuf classes)."""
    for python in ("/usr/bin/python3",):
        if os.path.exists(python):
            probe = subprocess.run(
                [python, "-c", "import pycriu.rpc_pb2"], capture_output=True, check=False
            )
            if probe.returncode == 0:
                return python
    pytest.skip("no python here imports pycriu.rpc_pb2 (Debian's criu with python3-protobuf)")


def test_criu_reads_our_request_as_we_meant_it() -> None:
    """Our bytes, parsed by protobuf with CRIU's generated rpc_pb2."""
    python = _system_python_with_pycriu()
    request = {
        "type": rpc.DUMP,
        "opts": {
            "images_dir_fd": 5,
            "pid": 1234,
            "log_level": 4,
            "log_file": "dump.log",
            "root": "/bundle/rootfs",
            "manage_cgroups_mode": rpc.CG_MODES["ignore"],
            "empty_ns": 0x40000000,
            "ext_mnt": [{"key": "/conf", "val": "/conf"}],
            "external": ["net[4026531840]:extRootNetNS"],
            "inherit_fd": [{"key": "pipe:[77]", "fd": 1}],
            "cg_root": [{"ctrl": "pids", "path": "/x"}],
            "orphan_pts_master": True,
            "status_fd": -1,
        },
    }
    script = (
        "import sys, json\n"
        "from pycriu import rpc_pb2\n"
        "from google.protobuf.json_format import MessageToDict\n"
        "m = rpc_pb2.criu_req()\n"
        "m.ParseFromString(sys.stdin.buffer.read())\n"
        "print(json.dumps(MessageToDict(m, preserving_proto_field_name=True,"
        " use_integers_for_enums=True)))\n"
    )
    out = subprocess.run(
        [python, "-c", script],
        input=rpc.encode("criu_req", request),
        capture_output=True,
        check=True,
    ).stdout
    assert json.loads(out) == request


def test_criu_check_errors_become_one_line() -> None:
    """What Debian's criu 3.17 prints where the kernel's vDSO is not what it expects."""
    text = """Error (criu/util.c:642): exited, status=1
Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds
Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable
Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.
Error (criu/crtools.c:260): Could not initialize kernel features detection.
"""
    assert rpc.summary(text.splitlines()) == (
        "Could not initialize kernel features detection"
        " (first error: vdso: Unexpected rt vDSO area bounds)"
    )
    assert rpc.summary(["(00.1) Warn: nothing bad", ""]) == ""


# -- checkpoint's option checks (runc's checkpoint.go), before anything is made -----------


def _refusal(tmp_path: Path, **flags: object) -> str:
    with pytest.raises(InvalidArgument) as e:
        checked(CriuOptions(image_path=str(tmp_path / "image"), **flags))  # type: ignore[arg-type]
    return str(e.value)


def test_parent_path_must_be_relative(tmp_path: Path) -> None:
    assert _refusal(tmp_path, parent_path=str(tmp_path)) == "--parent-path must be relative"


def test_parent_path_must_exist_below_the_image_path(tmp_path: Path) -> None:
    want = f"invalid --parent-path: stat {tmp_path}/image/parent: no such file or directory"
    assert _refusal(tmp_path, parent_path="parent") == want
    assert not (tmp_path / "image").exists()  # nothing made by a refusal


def test_parent_path_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    want = f"invalid --parent-path: {tmp_path}/file: not a directory"
    assert _refusal(tmp_path, parent_path="../file") == want


def test_parent_path_is_joined_as_go_joins_it(tmp_path: Path) -> None:
    """ "../parent-dir" from an image dir not made yet: filepath.Join cleans lexically."""
    (tmp_path / "parent-dir").mkdir()
    opts = checked(CriuOptions(image_path=str(tmp_path / "image"), parent_path="../parent-dir"))
    assert opts.image_path == str(tmp_path / "image")


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("localhost", "Use --page-server ADDRESS:PORT to specify page server"),
        (":27277", "Use --page-server ADDRESS:PORT to specify page server"),
        ("::1:27277", "Use --page-server ADDRESS:PORT to specify page server"),
        ("0.0.0.0:port", "Invalid port number"),
    ],
)
def test_page_server_is_address_and_port(tmp_path: Path, value: str, want: str) -> None:
    assert _refusal(tmp_path, page_server=value) == want


def test_page_server_takes_v4_and_bracketed_v6(tmp_path: Path) -> None:
    image = str(tmp_path / "image")
    assert checked(CriuOptions(image_path=image, page_server="0.0.0.0:27277")).page_server == (
        "0.0.0.0",
        27277,
    )
    assert checked(CriuOptions(image_path=image, page_server="[::1]:1")).page_server == ("::1", 1)


def test_empty_ns_takes_network_only(tmp_path: Path) -> None:
    assert _refusal(tmp_path, empty_ns=("ipc",)) == 'namespace "ipc" is not supported'
    opts = checked(CriuOptions(image_path=str(tmp_path), empty_ns=("network",)))
    assert opts.empty_ns == 0x40000000  # CLONE_NEWNET, always in the mask as runc's


def test_manage_cgroups_mode_values(tmp_path: Path) -> None:
    assert _refusal(tmp_path, manage_cgroups_mode="hard") == "invalid manage-cgroups-mode value"
    for mode, number in (("", 6), ("soft", 3), ("full", 4), ("strict", 5), ("ignore", 0)):
        opts = checked(CriuOptions(image_path=str(tmp_path), manage_cgroups_mode=mode))
        assert opts.cg_mode == number  # criu_cg_mode in criu's rpc.proto


def test_default_image_path_is_checkpoint_in_the_working_directory() -> None:
    assert checked(CriuOptions()).image_path == os.path.join(os.getcwd(), "checkpoint")
