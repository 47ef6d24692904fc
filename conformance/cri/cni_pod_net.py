#!/usr/bin/env python3
"""A CNI plugin for the CRI suite: a pod network namespace that reaches nothing.

containerd's CRI plugin gives every pod that is not on the host network a
network namespace of its own and hands it to CNI: first the ``loopback``
plugin (always, from its bin_dir), then the first network config it finds.
It then insists on an ``eth0`` with an IP in the result. The suite needs no
network beyond the pod's loopback (its containers talk over 127.0.0.1), and
this host must not route test traffic anywhere, so this plugin, installed
under both names (``loopback`` and ``pyrunc-cri-net``), only

- ADD for ``lo``: brings ``lo`` up;
- ADD for another interface: makes a veth pair whose two ends both stay in
  the pod's namespace (no host end, no bridge, no route out) and gives the
  interface an address from TEST-NET-1 (RFC 5737, documentation only);
- DEL, CHECK: nothing to undo (the pair dies with the namespace).

Protocol: CNI spec (command in CNI_COMMAND, netns path in CNI_NETNS, config
JSON on stdin, result JSON on stdout, errors as JSON with a code).
"""

import json
import os
import subprocess
import sys

SUPPORTED = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]
# Every pod gets the same address: it is never routed and nothing sends to it.
POD_ADDRESS = "192.0.2.10/32"


def in_netns(netns: str, *args: str) -> None:
    subprocess.run(
        ["nsenter", f"--net={netns}", "ip", *args], check=True, capture_output=True, text=True
    )


def add(netns: str, ifname: str, version: str) -> dict:
    if ifname == "lo":
        in_netns(netns, "link", "set", "lo", "up")
        address = "127.0.0.1/8"
    else:
        peer = f"{ifname}peer"
        in_netns(netns, "link", "add", ifname, "type", "veth", "peer", "name", peer)
        in_netns(netns, "addr", "add", POD_ADDRESS, "dev", ifname)
        in_netns(netns, "link", "set", ifname, "up")
        in_netns(netns, "link", "set", peer, "up")
        address = POD_ADDRESS
    ip = {"address": address, "interface": 0}
    if version.startswith("0."):
        ip["version"] = "4"  # dropped in 1.0.0
    return {"cniVersion": version, "interfaces": [{"name": ifname, "sandbox": netns}], "ips": [ip]}


def main() -> int:
    command = os.environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": SUPPORTED}))
        return 0
    conf = json.loads(sys.stdin.read() or "{}")
    version = conf.get("cniVersion", "0.4.0")
    try:
        if command == "ADD":
            print(json.dumps(add(os.environ["CNI_NETNS"], os.environ["CNI_IFNAME"], version)))
        elif command not in ("DEL", "CHECK", "GC", "STATUS"):
            raise ValueError(f"unknown CNI_COMMAND {command!r}")
    except (subprocess.CalledProcessError, KeyError, ValueError) as e:
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else str(e)
        print(
            json.dumps(
                {
                    "cniVersion": version,
                    "code": 999,
                    "msg": "pyrunc-cri-net failed",
                    "details": detail,
                }
            )
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
