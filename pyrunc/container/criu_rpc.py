"""Talking to CRIU: the host probe, and its RPC (`criu swrk`) over a socketpair.

CRIU's RPC is protobuf (criu's rpc.proto, installed by Debian's criu as
/usr/include/criu/rpc.proto). The few messages the runtime sends and reads are encoded
here by hand from that file's field numbers: no protobuf package, no pycriu needed.

Only checkpoint and restore import this module (subprocess, socket).
"""

from __future__ import annotations

import os
import socket
import subprocess

from pyrunc.errors import PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

CHECK_TIMEOUT = 30.0  # seconds `criu check` may take before the host is judged unfit

# criu_req_type (rpc.proto)
DUMP, RESTORE, PRE_DUMP, NOTIFY, FEATURE_CHECK, VERSION = 1, 2, 4, 6, 9, 10
# criu_cg_mode (rpc.proto), by the names runc's --manage-cgroups-mode takes ("" = default)
CG_MODES = {"": 6, "soft": 3, "full": 4, "strict": 5, "ignore": 0}

# -- the messages: field name -> (number, kind); kind is a scalar kind or a message name.
# A name ending in [] is repeated.
_SCHEMA: dict[str, dict[str, tuple[int, str]]] = {
    "criu_page_server_info": {"address": (1, "string"), "port": (2, "int32")},
    "ext_mount_map": {"key": (1, "string"), "val": (2, "string")},
    "join_namespace": {"ns": (1, "string"), "ns_file": (2, "string")},
    "inherit_fd": {"key": (1, "string"), "fd": (2, "int32")},
    "cgroup_root": {"ctrl": (1, "string"), "path": (2, "string")},
    "criu_opts": {
        "images_dir_fd": (1, "int32"),
        "pid": (2, "int32"),
        "leave_running": (3, "bool"),
        "ext_unix_sk": (4, "bool"),
        "tcp_established": (5, "bool"),
        "evasive_devices": (6, "bool"),
        "shell_job": (7, "bool"),
        "file_locks": (8, "bool"),
        "log_level": (9, "int32"),
        "log_file": (10, "string"),
        "ps": (11, "criu_page_server_info"),
        "notify_scripts": (12, "bool"),
        "root": (13, "string"),
        "parent_img": (14, "string"),
        "track_mem": (15, "bool"),
        "auto_dedup": (16, "bool"),
        "work_dir_fd": (17, "int32"),
        "link_remap": (18, "bool"),
        "ext_mnt[]": (23, "ext_mount_map"),
        "manage_cgroups": (24, "bool"),
        "cg_root[]": (25, "cgroup_root"),
        "rst_sibling": (26, "bool"),
        "inherit_fd[]": (27, "inherit_fd"),
        "manage_cgroups_mode": (34, "enum"),
        "external[]": (37, "string"),
        "empty_ns": (38, "uint32"),
        "join_ns[]": (39, "join_namespace"),
        "freeze_cgroup": (44, "string"),
        "tcp_skip_in_flight": (46, "bool"),
        "lazy_pages": (48, "bool"),
        "status_fd": (49, "int32"),
        "orphan_pts_master": (50, "bool"),
        "config_file": (51, "string"),
        "lsm_profile": (53, "string"),
        "lsm_mount_context": (63, "string"),
    },
    "criu_features": {"mem_track": (1, "bool"), "lazy_pages": (2, "bool")},
    "criu_req": {
        "type": (1, "enum"),
        "opts": (2, "criu_opts"),
        "notify_success": (3, "bool"),
        "features": (5, "criu_features"),
    },
    "criu_restore_resp": {"pid": (1, "int32")},
    "criu_notify": {"script": (1, "string"), "pid": (2, "int32")},
    "criu_version": {
        "major_number": (1, "int32"),
        "minor_number": (2, "int32"),
        "sublevel": (4, "int32"),
    },
    "criu_resp": {
        "type": (1, "enum"),
        "success": (2, "bool"),
        "restore": (4, "criu_restore_resp"),
        "notify": (5, "criu_notify"),
        "cr_errno": (7, "int32"),
        "features": (8, "criu_features"),
        "cr_errmsg": (9, "string"),
        "version": (10, "criu_version"),
    },
}
_VARINT_KINDS = frozenset(("int32", "uint32", "bool", "enum"))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32 is sent as its 64-bit two's complement
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def encode(message: str, values: dict[str, Any]) -> bytes:
    """The protobuf wire form of `values` (absent or None fields are not sent)."""
    out = bytearray()
    fields = _SCHEMA[message]
    for name, value in values.items():
        repeated = f"{name}[]" in fields
        number, kind = fields[f"{name}[]" if repeated else name]
        for item in value if repeated else (value,):
            if item is None:
                continue
            if kind in _VARINT_KINDS:
                out += _varint(number << 3) + _varint(int(item))
            else:
                data = item.encode() if kind == "string" else encode(kind, item)
                out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode(message: str, data: bytes) -> dict[str, Any]:
    """The fields of `message` found in data; unknown fields are skipped."""
    by_number = {
        num: (name.removesuffix("[]"), kind, name.endswith("[]"))
        for name, (num, kind) in _SCHEMA[message].items()
    }
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        raw: int | bytes
        if wire == 0:
            raw, pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            raw, pos = data[pos : pos + size], pos + size
        elif wire in (1, 5):  # fixed64, fixed32: none of ours, skipped
            pos += 8 if wire == 1 else 4
            continue
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if number not in by_number:
            continue
        name, kind, repeated = by_number[number]
        if repeated:
            out.setdefault(name, []).append(_value(kind, raw))
        else:
            out[name] = _value(kind, raw)
    return out


def _value(kind: str, raw: int | bytes) -> Any:
    if isinstance(raw, int):
        if kind == "bool":
            return bool(raw)
        if kind == "int32":  # sign-extended on the wire, cut to 32 bits
            raw &= 0xFFFFFFFF
            return raw - (1 << 32) if raw & 0x80000000 else raw
        return raw
    if kind == "string":
        return raw.decode(errors="replace")
    return decode(kind, raw)


# -- the host probe -------------------------------------------------------------------


class CriuUnusable(PyruncError):
    """CRIU is absent or cannot work on this host (`criu check` fails)."""


class CriuFailed(PyruncError):
    """CRIU refused a request, ended without an answer, or exited with an error."""


def criu_binary() -> str:
    from shutil import which

    path = which("criu")
    if path is None:
        raise CriuUnusable("criu: executable file not found in $PATH")
    return path


def probe(timeout: float = CHECK_TIMEOUT) -> str:
    """The criu binary, once `criu check` passed on this host; CriuUnusable (with criu's
    own reason) otherwise."""
    binary = criu_binary()
    try:
        done = subprocess.run(
            [binary, "check"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CriuUnusable(f"criu check: no answer within {timeout:g}s") from None
    except OSError as e:
        raise CriuUnusable(f"criu check: {os.strerror(e.errno or 0).lower()}") from None
    if done.returncode != 0:
        text = (done.stderr + done.stdout).decode(errors="replace")
        why = summary(text.splitlines()) or f"exit status {done.returncode}"
        raise CriuUnusable(f"criu check: {why}")
    return binary


def summary(lines: Iterable[str]) -> str:
    """CRIU's errors in one line: its last error, and the first one (the cause, as CRIU
    reports from the bottom up) when they differ. "Error (file.c:N): " and the
    "exited, status=N" of its helper processes are left out."""
    errors = []
    for line in lines:
        text = line.strip()
        if "Error (" in text and "): " in text:
            text = text.split("): ", 1)[1].strip()
        elif not text.lower().startswith("error"):
            continue
        if text and not text.startswith("exited, status="):
            errors.append(text.rstrip("."))
    if not errors:
        return ""
    if len(errors) == 1:
        return errors[0]
    return f"{errors[-1]} (first error: {errors[0]})"


def log_summary(path: str) -> str:
    """summary() of a CRIU log file; "" if it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            return summary(f)
    except OSError:
        return ""


# -- criu swrk --------------------------------------------------------------------------

_RESPONSE_SIZE = 10 * 4096


class Session:
    """One `criu swrk` process and its socket: request(), then the responses."""

    def __init__(self, binary: str, pass_fds: Iterable[int] = (), quiet: bool = True) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        try:
            null = subprocess.DEVNULL if quiet else None
            self.process = subprocess.Popen(
                [binary, "swrk", str(theirs.fileno())],
                pass_fds=(theirs.fileno(), *pass_fds),
                stdin=null,
                stdout=null,
                stderr=null,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # CRIU's end only in CRIU: its exit is our EOF

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, request: dict[str, Any]) -> None:
        self.sock.send(encode("criu_req", request))

    def receive(self) -> tuple[dict[str, Any], list[int]]:
        """The next response and any fds it carried (the caller owns them)."""
        from pyrunc.linux.fdpass import recv_fds

        data, fds, _ = recv_fds(self.sock, _RESPONSE_SIZE, 4)
        if not data:
            raise CriuFailed("criu: unexpected EOF (criu ended without an answer)")
        return decode("criu_resp", data), fds

    def close(self) -> int:
        """Close our end and wait for CRIU: its exit status."""
        self.sock.close()
        return self.process.wait()


def call(
    binary: str,
    request: dict[str, Any],
    on_notify: Callable[[str, int, list[int]], None] | None = None,
    *,
    pass_fds: Iterable[int] = (),
    started: Callable[[int], None] | None = None,
    inherit_stdio: bool = False,
) -> dict[str, Any]:
    """Send one request to a new `criu swrk`, answer its notifications (on_notify gets
    script, pid and fds), and return the final response; a refusal raises CriuFailed
    naming the request type and CRIU's errno/errmsg (on_notify's own errors pass).
    started(pid): called with CRIU's pid before the request goes out (restore puts
    CRIU in the container's cgroup there).
    inherit_stdio: CRIU gets our fds 0-2 (restore hands them to the restored tree),
    else /dev/null."""
    session = Session(binary, pass_fds, quiet=not inherit_stdio)
    answered = False
    try:
        if started is not None:
            started(session.pid)
        session.send(request)
        while True:
            resp, fds = session.receive()
            if not resp.get("success"):
                _close_fds(fds)
                raise CriuFailed(_refusal(resp))
            if resp.get("type") != NOTIFY:
                _close_fds(fds)
                answered = True
                return resp
            notify = resp.get("notify") or {}
            try:
                if on_notify is not None:
                    on_notify(notify.get("script", ""), notify.get("pid", 0), fds)
            finally:
                _close_fds(fds)
            session.send({"type": NOTIFY, "notify_success": True})
    finally:
        status = session.close()
        # A pre-dump's CRIU waits for more requests and is ended by our close: its
        # status says nothing once the answer came.
        if answered and status not in (0, None) and request.get("type") not in (PRE_DUMP,):
            raise CriuFailed(f"criu failed: exit status {status}")


_TYPE_NAMES = {DUMP: "DUMP", RESTORE: "RESTORE", PRE_DUMP: "PRE_DUMP", NOTIFY: "NOTIFY",
               FEATURE_CHECK: "FEATURE_CHECK", VERSION: "VERSION"}  # fmt: skip


def _refusal(resp: dict[str, Any]) -> str:
    kind = _TYPE_NAMES.get(resp.get("type", 0), str(resp.get("type", 0)))
    text = f"criu failed: type {kind} errno {resp.get('cr_errno', 0)}"
    if resp.get("cr_errmsg"):
        text += f": {resp['cr_errmsg']}"
    return text


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def version(binary: str) -> int:
    """CRIU's version as runc compares it: major*10000 + minor*100 + sublevel."""
    resp = call(binary, {"type": VERSION})
    v = resp.get("version") or {}
    return v.get("major_number", 0) * 10000 + v.get("minor_number", 0) * 100 + v.get("sublevel", 0)


def missing_features(binary: str, wanted: dict[str, bool]) -> list[str]:
    """Which of the wanted criu_features (mem_track, lazy_pages) CRIU says it lacks."""
    resp = call(binary, {"type": FEATURE_CHECK, "features": wanted})
    have = resp.get("features") or {}
    return [name for name, on in wanted.items() if on and not have.get(name, False)]
