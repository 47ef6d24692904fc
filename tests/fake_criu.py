"""A stand-in for `criu` in tests/test_checkpoint.py: CRIU's side of `criu swrk`.

`check` passes; over the swrk socket it answers VERSION (3.17.1), records the DUMP or
RESTORE request it got in $FAKE_CRIU_RECORD (with the paths of the image and work dir
fds it was handed), writes its log there, and then, as $FAKE_CRIU says, refuses with an
error in its log, or does its part: a dump ends the dumped init as CRIU does (SIGKILL,
unless leave_running); a restore starts a process as the restored init (in CRIU's
cgroup, where the runtime put it) and notifies setup-namespaces and post-restore.
Its messages are encoded with pyrunc's codec, which tests/unit/test_criu_rpc.py checks
against CRIU's own protobuf classes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyrunc.container import criu_rpc as rpc  # noqa: E402


def _send(sock: socket.socket, resp: dict) -> None:
    sock.send(rpc.encode("criu_resp", resp))


def _record(req: dict, **facts: object) -> tuple[dict, str]:
    """Write down the request; (its opts, the log dir)."""
    opts = req["opts"]
    images = os.readlink(f"/proc/self/fd/{opts['images_dir_fd']}")
    logs = images
    if "work_dir_fd" in opts:
        logs = os.readlink(f"/proc/self/fd/{opts['work_dir_fd']}")
    with open(os.environ["FAKE_CRIU_RECORD"], "w") as f:
        doc = {"type": req["type"], "opts": opts, "images": images, "logs": logs, **facts}
        json.dump(doc, f)
    return opts, logs


def _log(logs: str, name: str, refuse: bool) -> None:
    with open(os.path.join(logs, name), "w") as f:
        f.write("(00.000) Version: 3.17.1\n")
        if refuse:
            f.write("(00.001) Error (criu/cr-fake.c:1): fake: cannot do this\n")


def _dump(sock: socket.socket, req: dict) -> None:
    opts, logs = _record(req)
    refuse = os.environ["FAKE_CRIU"] == "refuse"
    _log(logs, opts["log_file"], refuse)
    if not refuse and not opts.get("leave_running"):
        os.kill(opts["pid"], signal.SIGKILL)
    _send(sock, {"type": req["type"], "success": not refuse, "cr_errno": 5 if refuse else 0})


def _notify(sock: socket.socket, script: str, pid: int, fds: tuple[int, ...] = ()) -> None:
    """A notification (with fds: SCM_RIGHTS), and the runtime's answer to it (it must
    say success)."""
    data = rpc.encode(
        "criu_resp", {"type": rpc.NOTIFY, "success": True, "notify": {"script": script, "pid": pid}}
    )
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)
    data = sock.recv(1 << 16)
    if not data:  # the runtime gave up (a hook failed): CRIU aborts, in its log only
        sys.exit(1)
    answer = rpc.decode("criu_req", data)
    assert answer == {"type": rpc.NOTIFY, "notify_success": True}, answer


def _restore(sock: socket.socket, req: dict) -> None:
    with open("/proc/self/cgroup") as f:
        cgroups = f.read()
    with open("/proc/self/mountinfo") as f:  # not ismount: a bind on the same fs fools it
        root_is_mount = req["opts"].get("root") in [line.split()[4] for line in f]
    opts, logs = _record(req, cgroups=cgroups, root_is_mount=root_is_mount)
    refuse = os.environ["FAKE_CRIU"] == "refuse"
    _log(logs, opts["log_file"], refuse)
    if refuse:
        _send(sock, {"type": rpc.RESTORE, "success": False, "cr_errno": 5})
        return
    # $FAKE_CRIU_INIT: what the "restored" init runs (sh -c); on a pty of its own when
    # $FAKE_CRIU_PTY is set, whose master goes to the runtime as CRIU's orphan pts master.
    master = slave = -1
    if os.environ.get("FAKE_CRIU_PTY"):
        master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:  # the "restored" init: nothing of CRIU's open in it
        if slave >= 0:
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
        os.closerange(3, 1024)
        os.execv("/bin/sh", ["sh", "-c", os.environ.get("FAKE_CRIU_INIT", "exec sleep 1000")])
    if master >= 0:
        os.close(slave)
        _notify(sock, "orphan-pts-master", 0, (master,))
        os.close(master)
    _notify(sock, "setup-namespaces", pid)
    _notify(sock, "post-restore", pid)
    _send(sock, {"type": rpc.RESTORE, "success": True, "restore": {"pid": pid}})


def main() -> int:
    if sys.argv[1] == "check":
        return 0
    sock = socket.socket(fileno=int(sys.argv[2]))
    while data := sock.recv(1 << 20):
        req = rpc.decode("criu_req", data)
        if req["type"] == rpc.VERSION:
            version = {"major_number": 3, "minor_number": 17, "sublevel": 1}
            _send(sock, {"type": rpc.VERSION, "success": True, "version": version})
            continue
        (_restore if req["type"] == rpc.RESTORE else _dump)(sock, req)
        break
    return 0


if __name__ == "__main__":
    sys.exit(main())
