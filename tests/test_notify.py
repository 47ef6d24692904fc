"""systemd integration as runc has it: NOTIFY_SOCKET relayed after READY=1, and
socket-activation fds (LISTEN_FDS) passed on to the container."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from tests.helpers import PYRUNC, TREE_ENV, Bundle, Runtime

_SENDER_C = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || argc < 2) return 2;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    return sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&a, sizeof a) < 0;
}
"""


@pytest.fixture(scope="session")
def sd_notify_binary(workdir: str) -> str:
    """A static sd_notify sender for the busybox rootfs (busybox has none)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build a static notify sender")
    src = os.path.join(workdir, "sdnotify.c")
    out = os.path.join(workdir, "sdnotify")
    with open(src, "w") as f:
        f.write(_SENDER_C)
    r = subprocess.run(["gcc", "-static", "-O2", "-o", out, src], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"no static libc to build the sender: {r.stderr.decode()[-200:]}")
    return out


def test_notify_socket_ready_is_relayed_after_start(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str, sd_notify_binary: str
) -> None:
    shutil.copy(sd_notify_binary, os.path.join(bundle.rootfs, "bin", "sdnotify"))
    bundle.set_args("sh", "-c", "sleep 0.5; sdnotify READY=1; sleep 1000")
    host_path = os.path.join(workdir, f"{cid}.notify")
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(host_path)
    host.settimeout(10)
    env = {**TREE_ENV, "NOTIFY_SOCKET": host_path}
    base = [*PYRUNC, "--root", runtime.root]
    try:
        subprocess.run([*base, "create", "--bundle", bundle.path, cid], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        pid = runtime.state(cid)["pid"]
        t0 = time.monotonic()
        subprocess.run([*base, "start", cid], env=env, check=True, timeout=30)
        waited = time.monotonic() - t0
        # start returns only once the container said READY=1 (it sleeps 0.5 s first).
        assert waited >= 0.4
        messages = [host.recv(4096), host.recv(4096)]
        assert messages == [f"MAINPID={pid}".encode(), b"READY=1"]
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        assert b"NOTIFY_SOCKET=/run/notify/notify.sock" in environ
        mounts = open(f"/proc/{pid}/mountinfo").read()
        assert " /run/notify " in mounts
    finally:
        host.close()
        runtime("delete", "--force", cid)


def test_start_without_ready_does_not_block_delete(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    """A container that never notifies: start waits, but delete --force still works."""
    bundle.set_args("sleep", "1000")
    host_path = os.path.join(workdir, f"{cid}.notify")
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(host_path)
    env = {**TREE_ENV, "NOTIFY_SOCKET": host_path}
    base = [*PYRUNC, "--root", runtime.root]
    try:
        subprocess.run([*base, "create", "--bundle", bundle.path, cid], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        starter = subprocess.Popen([*base, "start", cid], env=env)
        result: list[int] = []
        waiter = threading.Thread(target=lambda: result.append(starter.wait()))
        waiter.start()
        time.sleep(1)
        assert not result, "start returned before READY=1"
        runtime.ok("delete", "--force", cid)
        waiter.join(10)
        assert result, "start kept waiting after the container was gone"
    finally:
        host.close()
        runtime("delete", "--force", cid)


def test_socket_activation_fds_reach_the_container(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    listening = os.path.join(workdir, f"{cid}.activation")
    with open(listening, "w") as f:
        f.write("passed-by-systemd\n")
    bundle.set_args("sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3")
    # LISTEN_PID must name the runtime itself, as systemd sets it for the unit's process.
    script = 'exec 3<"$F"; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"'
    r = subprocess.run(["sh", "-c", script, "sh", *PYRUNC, "--root", runtime.root, "run",
                        "--bundle", bundle.path, cid], env={**TREE_ENV, "F": listening},
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["1 1", "passed-by-systemd"]


def test_listen_fds_for_another_pid_are_ignored(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.set_args("sh", "-c", "echo [$LISTEN_FDS]; ls /proc/self/fd")
    r = subprocess.run([*PYRUNC, "--root", runtime.root, "run", "--bundle", bundle.path, cid],
                       env={**TREE_ENV, "LISTEN_FDS": "1", "LISTEN_PID": "1"},
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "[]"
    assert sorted(lines[1:]) == ["0", "1", "2", "3"]  # stdio + ls's own directory fd
