"""A stand-in for `criu` in tests/test_checkpoint.py: CRIU's side of `criu swrk`.

`check` passes; over the swrk socket it answers VERSION (3.17.1), records the DUMP
request it got in $FAKE_CRIU_RECORD (with the paths of the image and work dir fds it
was handed), writes its log there, and then, as $FAKE_CRIU says, either ends the
dumped init as CRIU does (SIGKILL, unless leave_running) or refuses with an error in
its log. Its messages are encoded with pyrunc's codec, which tests/unit/test_criu_rpc.py
checks against CRIU's own protobuf classes.
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


def _dump(sock: socket.socket, req: dict) -> None:
    opts = req["opts"]
    images = os.readlink(f"/proc/self/fd/{opts['images_dir_fd']}")
    logs = images
    if "work_dir_fd" in opts:
        logs = os.readlink(f"/proc/self/fd/{opts['work_dir_fd']}")
    with open(os.environ["FAKE_CRIU_RECORD"], "w") as f:
        json.dump({"type": req["type"], "opts": opts, "images": images, "logs": logs}, f)
    refuse = os.environ["FAKE_CRIU"] == "refuse"
    with open(os.path.join(logs, opts["log_file"]), "w") as f:
        f.write("(00.000) Version: 3.17.1\n")
        if refuse:
            f.write("(00.001) Error (criu/cr-dump.c:1): fake: cannot dump this\n")
    if not refuse and not opts.get("leave_running"):
        os.kill(opts["pid"], signal.SIGKILL)
    _send(sock, {"type": req["type"], "success": not refuse, "cr_errno": 5 if refuse else 0})


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
        _dump(sock, req)
        break
    return 0


if __name__ == "__main__":
    sys.exit(main())
