"""conformance/cri/cni_pod_net.py, the CRI suite's CNI plugin: what containerd's CNI
library reads from it (VERSION, the ADD result per spec version, errors as JSON with a
non-zero exit), without a network namespace (the suite itself runs the real ADD)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CRI_DIR = Path(__file__).resolve().parents[2] / "conformance" / "cri"
sys.path.insert(0, str(CRI_DIR))

import cni_pod_net  # noqa: E402


def plugin(command: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CRI_DIR / "cni_pod_net.py")],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), "CNI_COMMAND": command, **env},
    )


def test_version_lists_the_spec_versions_containerd_uses() -> None:
    out = plugin("VERSION")
    assert out.returncode == 0
    got = json.loads(out.stdout)
    assert {"0.3.1", "0.4.0", "1.0.0"} <= set(got["supportedVersions"])


def test_del_and_check_undo_nothing_and_print_nothing() -> None:
    conf = json.dumps({"cniVersion": "0.4.0", "name": "n", "type": "pyrunc-cri-net"})
    for command in ("DEL", "CHECK"):
        out = plugin(command, conf, CNI_NETNS="/nonexistent", CNI_IFNAME="eth0")
        assert (out.returncode, out.stdout) == (0, "")


@pytest.mark.parametrize(
    "command,env",
    [("BOGUS", {}), ("ADD", {"CNI_NETNS": "/nonexistent/netns", "CNI_IFNAME": "eth0"})],
)
def test_a_failure_is_a_cni_error_document(command: str, env: dict[str, str]) -> None:
    out = plugin(command, json.dumps({"cniVersion": "0.4.0"}), **env)
    assert out.returncode == 1
    err = json.loads(out.stdout)
    assert err["cniVersion"] == "0.4.0" and err["code"] > 100 and err["details"]


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
@pytest.mark.parametrize("ifname", ["lo", "eth0"])
def test_add_result_per_version(monkeypatch: pytest.MonkeyPatch, version: str, ifname: str) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(cni_pod_net, "in_netns", lambda netns, *args: calls.append(args))
    result = cni_pod_net.add("/run/netns/cni-x", ifname, version)
    assert result["cniVersion"] == version
    assert result["interfaces"] == [{"name": ifname, "sandbox": "/run/netns/cni-x"}]
    (ip,) = result["ips"]
    want = "127.0.0.1/8" if ifname == "lo" else cni_pod_net.POD_ADDRESS
    assert ip["address"] == want and ip["interface"] == 0
    # "version" per address exists before spec 1.0.0 only.
    assert ("version" in ip) == version.startswith("0.")
    if ifname == "eth0":  # both ends of the pair stay in the pod's namespace
        assert ("link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer") in calls
    else:
        assert calls == [("link", "set", "lo", "up")]
