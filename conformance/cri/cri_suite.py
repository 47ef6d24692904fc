"""The CRI scenarios: pods and containers through containerd's CRI plugin, for each
runtime handler given (pyrunc and runc side by side), checked against the kernel's
view (/proc, the cgroup files) and the handler's own runtime state.

Run by run.sh, which starts the private containerd and makes the images; by hand:

    python3 cri_suite.py --socket SOCK --cache DIR --work DIR --tag TAG --image IMG \\
        --handler pyrunc=BINARY=STATE_ROOT [--handler runc=...] [--only NAME ...]

Prints `PASS handler/scenario` or `FAIL handler/scenario: reason` per scenario, the
side-by-side table, and exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cri_client import (
    Cri,
    Ctx,
    Failure,
    Handler,
    Pod,
    cgroup_dirs_under,
    cgroup_path,
    cgroup_read,
    check,
    mounts_naming,
    ns_of,
    processes_naming,
)

SCENARIO_TIMEOUT = int(os.environ.get("SCENARIO_TIMEOUT", "120"))
MiB = 1024 * 1024
# The pod IP the suite's CNI plugin reports (cni_pod_net.py).
POD_IP = "192.0.2.10"
# The sandbox's oom_score_adj containerd asks for (its pause container): -998, raised
# to containerd's own value by run.sh's restrict_oom_score_adj (containerd was started
# by the shell that started us, so it has ours).
SANDBOX_OOM_ADJ = str(max(-998, int(Path("/proc/self/oom_score_adj").read_text())))
NOTES: list[str] = []


def note(ctx: Ctx, text: str) -> None:
    NOTES.append(f"{ctx.handler.name}: {text}")


def log_text(pod: Pod, name: str) -> str:
    """The container's CRI log file (`<time> <stream> <tag> <line>` lines)."""
    path = Path(pod.config.log_directory) / f"{name}.log"
    return path.read_text() if path.exists() else ""


def wait_for(what: str, probe: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not within {seconds}s")
        time.sleep(0.1)


def gone(pid: int) -> bool:
    """PID has exited (no process, or a zombie waiting for its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- scenarios ---------------------------------------------------------------------


def t_run_pod_sandbox(ctx: Ctx) -> None:
    """RunPodSandbox: hostname, DNS config, pod cgroup parent, the handler's runtime."""
    pb = ctx.pb
    dns = pb.DNSConfig(servers=["192.0.2.53"], searches=["cri.pyrunc.test"], options=["ndots:2"])
    pod = ctx.run_pod("sandbox", hostname="pod-host", dns=dns)
    st = ctx.cri.call("PodSandboxStatus", pod_sandbox_id=pod.id).status
    check(st.state == pb.SANDBOX_READY, f"sandbox state {pb.PodSandboxState.Name(st.state)}")
    check(st.runtime_handler == ctx.handler.name, f"runtime_handler {st.runtime_handler!r}")
    check(st.network.ip == POD_IP, f"pod IP {st.network.ip!r}, want {POD_IP}")
    pause = ctx.sandbox_pid(pod)
    state = ctx.runtime_state(pod.id)
    check(state.get("status") == "running", f"runtime state of the sandbox: {state.get('status')}")
    check(state.get("pid") == pause, f"runtime state pid {state.get('pid')}, CRI says {pause}")
    parent = ctx.cgroup_parent("sandbox")
    got = cgroup_path(pause, "memory")
    check(got == f"{parent}/{pod.id}", f"sandbox cgroup {got}, want {parent}/{pod.id}")
    adj = Path(f"/proc/{pause}/oom_score_adj").read_text().strip()
    check(adj == SANDBOX_OOM_ADJ, f"sandbox oom_score_adj {adj}, want {SANDBOX_OOM_ADJ}")
    check(ns_of(pause, "uts") != ns_of(os.getpid(), "uts"), "sandbox in the host's UTS namespace")

    cid = ctx.run(pod, "app", ["sleep", "1000"])
    rc, out, err = ctx.exec_sync(cid, ["sh", "-c", "hostname; cat /etc/hostname /etc/resolv.conf"])
    check(rc == 0, f"exec: exit {rc}: {err}")
    lines = out.splitlines()
    check(lines[:2] == ["pod-host", "pod-host"], f"hostname, /etc/hostname: {lines[:2]}")
    for want in ("nameserver 192.0.2.53", "search cri.pyrunc.test", "options ndots:2"):
        check(want in lines, f"/etc/resolv.conf lacks {want!r}: {lines[2:]}")
    got = cgroup_path(ctx.container_pid(cid), "memory")
    check(got == f"{parent}/{cid}", f"container cgroup {got}, want {parent}/{cid}")


def t_shared_namespaces(ctx: Ctx) -> None:
    """Two containers of one pod: loopback between them, shared IPC, UTS, /dev/shm."""
    pod = ctx.run_pod("share", hostname="share-host")
    server = ctx.run(
        pod,
        "server",
        [
            "sh",
            "-c",
            "mkdir -p /www && echo hello-from-server >/www/index.html"
            " && echo shm-note >/dev/shm/note && exec httpd -f -p 127.0.0.1:8080 -h /www",
        ],
    )
    client = ctx.run(pod, "client", ["sleep", "1000"])
    url = "http://127.0.0.1:8080/index.html"
    result: list[Any] = []

    def fetched() -> bool:
        result[:] = ctx.exec_sync(client, ["wget", "-q", "-O", "-", url])
        return result[0] == 0

    wait_for(f"client: wget {url}", fetched)
    check(result[1] == "hello-from-server\n", f"over loopback: {result[1]!r}")
    rc, out, _ = ctx.exec_sync(client, ["sh", "-c", "cat /dev/shm/note; hostname"])
    check(out == "shm-note\nshare-host\n", f"client's /dev/shm/note and hostname: {out!r}")

    pids = {
        "pause": ctx.sandbox_pid(pod),
        "server": ctx.container_pid(server),
        "client": ctx.container_pid(client),
    }
    for ns in ("net", "ipc", "uts"):
        seen = {who: ns_of(pid, ns) for who, pid in pids.items()}
        check(len(set(seen.values())) == 1, f"{ns} namespaces differ: {seen}")
        check(seen["pause"] != ns_of(os.getpid(), ns), f"the pod is in the host's {ns} namespace")
    check(
        ns_of(pids["server"], "pid") != ns_of(pids["client"], "pid"),
        "containers share a pid namespace (CONTAINER mode asks for one each)",
    )


def t_exec_sync(ctx: Ctx) -> None:
    """ExecSync: stdout, stderr, exit code, environment; a missing command."""
    pod = ctx.run_pod("exec")
    cid = ctx.run(pod, "app", ["sleep", "1000"], envs=[("CRI_SUITE", "env-ok")])
    rc, out, err = ctx.exec_sync(
        cid, ["sh", "-c", "echo out-$CRI_SUITE; echo err-line >&2; exit 3"]
    )
    check((rc, out, err) == (3, "out-env-ok\n", "err-line\n"), f"exec: {(rc, out, err)}")
    rc, out, _ = ctx.exec_sync(cid, ["cat", "/proc/1/cmdline"])
    check(out == "sleep\x001000\x00", f"the container's PID 1 seen from exec: {out!r}")
    try:
        rc, out, err = ctx.exec_sync(cid, ["/nonexistent"])
        text = f"exit {rc}: {err.strip() or out.strip()}"
        check(rc != 0, f"exec of a missing command: {text}")
    except Exception as e:  # noqa: BLE001 - containerd may report it as an RPC error
        if isinstance(e, Failure):
            raise
        text = f"{ctx.cri.code_of(e)}: {ctx.cri.details_of(e)}"
    note(ctx, f"ExecSync of /nonexistent: {text}")
    check("no such file or directory" in text, f"exec of a missing command: {text}")


def t_status_stats(ctx: Ctx) -> None:
    """ContainerStatus and ContainerStats (CPU and memory) against the cgroup files."""
    pod = ctx.run_pod("stats")
    # Burn some CPU, keep ~20 MB in the shell's memory, then idle (`& wait`: busybox sh
    # would exec a last simple command, and the shell's memory with it).
    script = (
        "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done;"
        " x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ready; sleep 1000 & wait"
    )
    cid = ctx.run(pod, "app", ["sh", "-c", script])
    wait_for("'ready' in the container's log", lambda: "stdout F ready" in log_text(pod, "app"), 30)
    st = ctx.status(cid)
    check(st.state == ctx.pb.CONTAINER_RUNNING, f"state {st.state}")
    check(
        0 < st.created_at <= st.started_at, f"created_at {st.created_at} started_at {st.started_at}"
    )
    check(st.log_path.endswith("app.log"), f"log_path {st.log_path!r}")
    pid = ctx.container_pid(cid)
    before = int(cgroup_read(pid, "cpuacct", "cpuacct.usage"))
    stats = ctx.cri.call("ContainerStats", container_id=cid).stats
    after = int(cgroup_read(pid, "cpuacct", "cpuacct.usage"))
    cpu = stats.cpu.usage_core_nano_seconds.value
    check(stats.attributes.id == cid, f"stats for {stats.attributes.id!r}")
    check(
        before <= cpu <= after and cpu > 10_000_000,
        f"cpu {cpu} ns, cpuacct.usage {before}..{after}",
    )
    usage = int(cgroup_read(pid, "memory", "memory.usage_in_bytes"))
    mem = stats.memory
    check(mem.working_set_bytes.value >= 20_000_000, f"working set {mem.working_set_bytes.value}")
    check(
        abs(mem.usage_bytes.value - usage) <= usage // 10,
        f"memory usage {mem.usage_bytes.value}, memory.usage_in_bytes {usage}",
    )


def limits(pb: Any, **kw: Any) -> Any:
    return pb.LinuxContainerResources(**kw)


def expect_cgroup(pid: int, want: dict[tuple[str, str], str]) -> None:
    got = {k: cgroup_read(pid, *k) for k in want}
    bad = {f"{c}/{f}": (got[(c, f)], w) for (c, f), w in want.items() if got[(c, f)] != w}
    check(not bad, f"cgroup files (got, want): {bad}")


def t_resources(ctx: Ctx) -> None:
    """LinuxContainerResources at create reach the cgroup files and oom_score_adj."""
    pod = ctx.run_pod("limits")
    res = limits(
        ctx.pb,
        cpu_period=100000,
        cpu_quota=50000,
        cpu_shares=512,
        memory_limit_in_bytes=64 * MiB,
        cpuset_cpus="0",
        oom_score_adj=500,
    )
    cid = ctx.run(pod, "app", ["sleep", "1000"], resources=res)
    pid = ctx.container_pid(cid)
    expect_cgroup(
        pid,
        {
            ("cpu", "cpu.cfs_period_us"): "100000",
            ("cpu", "cpu.cfs_quota_us"): "50000",
            ("cpu", "cpu.shares"): "512",
            ("memory", "memory.limit_in_bytes"): str(64 * MiB),
            ("cpuset", "cpuset.cpus"): "0",
        },
    )
    adj = Path(f"/proc/{pid}/oom_score_adj").read_text().strip()
    check(adj == "500", f"oom_score_adj {adj}, want 500")


def t_update_resources(ctx: Ctx) -> None:
    """UpdateContainerResources on a running container rewrites its cgroup files."""
    pb = ctx.pb
    pod = ctx.run_pod("update")
    first = limits(
        pb, cpu_period=100000, cpu_quota=50000, cpu_shares=512, memory_limit_in_bytes=64 * MiB
    )
    cid = ctx.run(pod, "app", ["sleep", "1000"], resources=first)
    new = limits(
        pb, cpu_period=100000, cpu_quota=25000, cpu_shares=256, memory_limit_in_bytes=128 * MiB
    )
    ctx.cri.call("UpdateContainerResources", container_id=cid, linux=new)
    expect_cgroup(
        ctx.container_pid(cid),
        {
            ("cpu", "cpu.cfs_quota_us"): "25000",
            ("cpu", "cpu.shares"): "256",
            ("memory", "memory.limit_in_bytes"): str(128 * MiB),
        },
    )
    rc, out, _ = ctx.exec_sync(cid, ["echo", "still-running"])
    check(out == "still-running\n", f"exec after update: {rc} {out!r}")


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def t_security_context(ctx: Ctx) -> None:
    """A pod spec's securityContext: runAsUser, readOnlyRootFilesystem,
    allowPrivilegeEscalation=false, seccompProfile RuntimeDefault (containerd's)."""
    pb = ctx.pb
    pod = ctx.run_pod("secctx")
    security = {
        "run_as_user": pb.Int64Value(value=65534),
        "readonly_rootfs": True,
        "no_new_privs": True,
        "seccomp": pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
    }
    cid = ctx.run(pod, "app", ["sleep", "1000"], security=security)
    status = proc_status(ctx.container_pid(cid))
    got = (status["Uid"].split()[0], status["NoNewPrivs"], status["Seccomp"])
    check(got == ("65534", "1", "2"), f"uid, NoNewPrivs, Seccomp of the container: {got}")
    rc, out, err = ctx.exec_sync(cid, ["sh", "-c", "id -u; touch /x && echo writable || echo ro"])
    check(out == "65534\nro\n", f"exec as the container's user: {rc} {out!r} {err!r}")
    # The default profile refuses unshare(2) without CAP_SYS_ADMIN; the same container
    # unconfined shows the host lets this user make a user namespace at all.
    security["seccomp"] = pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined)
    open_cid = ctx.run(pod, "unconfined", ["sleep", "1000"], security=security)
    seccomp = proc_status(ctx.container_pid(open_cid))["Seccomp"]
    check(seccomp == "0", f"Seccomp of the unconfined container: {seccomp}")
    rc, out, err = ctx.exec_sync(open_cid, ["unshare", "-U", "true"])
    if rc != 0:
        note(ctx, f"unshare -U fails unconfined too ({err.strip()}): seccomp's refusal unseen")
        return
    rc, out, err = ctx.exec_sync(cid, ["unshare", "-U", "true"])
    check(rc != 0, f"unshare -U under RuntimeDefault seccomp: exit {rc} {out!r} {err!r}")


def stop_timed(ctx: Ctx, cid: str, timeout: int) -> float:
    t0 = time.monotonic()
    ctx.cri.call("StopContainer", deadline=timeout + 20, container_id=cid, timeout=timeout)
    return time.monotonic() - t0


def t_stop_timeout(ctx: Ctx) -> None:
    """StopContainer with a timeout: SIGTERM, then SIGKILL once the timeout passes."""
    pod = ctx.run_pod("stop")
    # PID 1 of a pid namespace without a TERM handler: the kernel drops SIGTERM.
    deaf = ctx.run(pod, "deaf", ["sleep", "1000"])
    took = stop_timed(ctx, deaf, 2)
    st = ctx.wait_state(deaf, "CONTAINER_EXITED")
    check(2 <= took < 12, f"stop of a container ignoring TERM took {took:.1f}s, timeout 2s")
    check(st.exit_code == 137, f"exit code {st.exit_code}, want 137 (SIGKILL)")
    polite = ctx.run(
        pod,
        "polite",
        ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; sleep 1000 & wait"],
    )
    wait_for("'ready' in the log", lambda: "stdout F ready" in log_text(pod, "polite"))
    took = stop_timed(ctx, polite, 30)
    st = ctx.wait_state(polite, "CONTAINER_EXITED")
    check(took < 10, f"stop of a container exiting on TERM took {took:.1f}s")
    check(st.exit_code == 0, f"exit code {st.exit_code}, want 0 (its TERM trap)")
    check("stdout F got-term" in log_text(pod, "polite"), "no 'got-term' in the log")


def t_exit_code(ctx: Ctx) -> None:
    """A container that exits non-zero: EXITED, its code, reason Error, its log."""
    pod = ctx.run_pod("exit")
    cid = ctx.run(pod, "fails", ["sh", "-c", "echo about-to-fail; exit 7"])
    st = ctx.wait_state(cid, "CONTAINER_EXITED")
    check(st.exit_code == 7, f"exit code {st.exit_code}, want 7")
    check(st.reason == "Error", f"reason {st.reason!r}, want 'Error'")
    # (Not finished >= started: containerd stamps started_at when the runtime's `start`
    # has returned, and a container this short may have exited before that.)
    check(st.finished_at > st.created_at > 0, f"created {st.created_at} finished {st.finished_at}")
    check("stdout F about-to-fail" in log_text(pod, "fails"), "the log lacks the output")


def t_missing_command(ctx: Ctx) -> None:
    """A command that does not exist fails StartContainer with the runtime's text."""
    pod = ctx.run_pod("missing")
    cid = ctx.create(pod, "missing", ["/nonexistent"])
    try:
        ctx.start(cid)
    except Failure:
        raise
    except Exception as e:  # noqa: BLE001 - the RPC error is what is checked
        text = ctx.cri.details_of(e)
    else:
        raise Failure("StartContainer of /nonexistent succeeded")
    note(ctx, f"StartContainer of /nonexistent: {text}")
    check("/nonexistent" in text and "no such file or directory" in text, f"error: {text}")
    st = ctx.status(cid)
    check(st.state == ctx.pb.CONTAINER_EXITED, f"state {st.state} after a failed start")
    check(st.reason == "StartError", f"reason {st.reason!r}, want StartError")
    ctx.cri.call("RemoveContainer", container_id=cid)


def t_stop_remove_pod(ctx: Ctx) -> None:
    """StopPodSandbox stops every process of the pod; RemovePodSandbox leaves nothing."""
    pb = ctx.pb
    pod = ctx.run_pod("remove")
    cid = ctx.run(pod, "app", ["sleep", "1000"])
    pids = [ctx.sandbox_pid(pod), ctx.container_pid(cid)]
    ctx.cri.call("StopPodSandbox", pod_sandbox_id=pod.id)
    st = ctx.cri.call("PodSandboxStatus", pod_sandbox_id=pod.id).status
    check(st.state == pb.SANDBOX_NOTREADY, f"sandbox state after stop {st.state}")
    check(ctx.status(cid).state == pb.CONTAINER_EXITED, "container not EXITED after pod stop")
    wait_for(f"pod processes {pids} exit", lambda: all(gone(p) for p in pids), 10)
    ctx.cri.call("RemovePodSandbox", pod_sandbox_id=pod.id)
    ctx.pods.remove(pod)
    listed = ctx.cri.call("ListPodSandbox", filter=pb.PodSandboxFilter(id=pod.id)).items
    check(not listed, "the sandbox is still listed")
    left_over(ctx, [pod.id, cid], ctx.cgroup_parent("remove"))


def left_over(ctx: Ctx, ids: list[str], parent: str) -> None:
    """Nothing of IDS left: runtime state, mounts, processes, cgroups below PARENT."""
    state = [i[:12] for i in ids if (ctx.handler.state_root / i).exists()]
    check(not state, f"runtime state left in {ctx.handler.state_root}: {state}")
    check(not mounts_naming(ids), f"mounts left: {mounts_naming(ids)[:3]}")
    check(not processes_naming(ids), f"processes left: {processes_naming(ids)[:3]}")
    # The pod-level parents are kubelet's to make and remove (teardown does, and the
    # leak check fails if one cannot be removed); the runtime's are the ids' own.
    below = [str(p) for p in cgroup_dirs_under(parent) if p.name in ids]
    check(not below, f"container cgroups left under {parent}: {below[:3]}")


def t_pods_20(ctx: Ctx) -> None:
    """20 pods, each with a running container, created and removed: nothing left."""
    netns_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    ids: list[str] = []
    for i in range(20):
        pod = ctx.run_pod(f"loop{i}")
        ids += [pod.id, ctx.run(pod, "app", ["sleep", "1000"])]
        ctx.remove_pod(pod)
    pb = ctx.pb
    pods = ctx.cri.call(
        "ListPodSandbox", filter=pb.PodSandboxFilter(label_selector={"suite": ctx.tag})
    )
    check(not pods.items, f"{len(pods.items)} sandboxes still listed")
    containers = ctx.cri.call("ListContainers").containers
    check(not [c for c in containers if c.id in ids], "containers still listed")
    left_over(ctx, ids, f"/{ctx.tag}")
    netns_after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    check(netns_after <= netns_before, f"network namespaces left: {netns_after - netns_before}")


SCENARIOS: list[tuple[str, Callable[[Ctx], None]]] = [
    ("run-pod-sandbox", t_run_pod_sandbox),
    ("shared-namespaces-loopback", t_shared_namespaces),
    ("exec-sync", t_exec_sync),
    ("status-stats", t_status_stats),
    ("resources-in-cgroup", t_resources),
    ("update-resources", t_update_resources),
    ("security-context", t_security_context),
    ("stop-timeout-term-kill", t_stop_timeout),
    ("nonzero-exit-code", t_exit_code),
    ("missing-command-start-error", t_missing_command),
    ("stop-remove-pod", t_stop_remove_pod),
    ("pods-20-loop", t_pods_20),
]


# --- running ---------------------------------------------------------------------


class ScenarioTimeout(Failure):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise ScenarioTimeout(f"timed out after {SCENARIO_TIMEOUT}s")


def run_one(ctx: Ctx, fn: Callable[[Ctx], None]) -> str | None:
    """Run FN bounded by SCENARIO_TIMEOUT; remove what it left; the failure or None."""
    reason = None
    signal.alarm(SCENARIO_TIMEOUT)
    try:
        fn(ctx)
    except Failure as e:
        reason = str(e)
    except Exception as e:  # noqa: BLE001 - an RPC error is the scenario's failure
        reason = f"{ctx.cri.code_of(e)}: {ctx.cri.details_of(e)}"
    finally:
        signal.alarm(0)
    errors = ctx.cleanup()
    if errors and reason is None:
        reason = "; ".join(errors)
    return reason


def wait_ready(cri: Cri, images: list[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            cri.call("Version", deadline=5, version="v1")
            break
        except Exception as e:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise SystemExit(f"CRI not answering on its socket: {cri.details_of(e)}") from e
            time.sleep(0.5)
    for image in images:
        got = cri.images.ImageStatus(
            cri.pb.ImageStatusRequest(image=cri.pb.ImageSpec(image=image)), timeout=30
        ).image
        if not got.id:
            raise SystemExit(f"image {image} not known to the CRI (import into k8s.io failed?)")


def print_table(names: list[str], handlers: list[str], results: dict[tuple[str, str], str]) -> None:
    width = max(len(n) for n in names) + 2
    print("\n" + "scenario".ljust(width) + "".join(h.rjust(10) for h in handlers))
    for n in names:
        cells = [results.get((h, n), "-") for h in handlers]
        mark = "  *" if len(set(cells)) > 1 else ""
        print(n.ljust(width) + "".join(c.rjust(10) for c in cells) + mark)
    for line in NOTES:
        print(f"note {line}")


def parse_handler(spec: str) -> Handler:
    name, binary, root = spec.split("=", 2)
    return Handler(name, binary, Path(root))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--cache", required=True, type=Path, help="where the stubs are generated")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--tag", required=True, help="the run's marker (cgroup parent prefix)")
    ap.add_argument("--image", required=True)
    ap.add_argument("--pause-image", required=True)
    ap.add_argument(
        "--handler",
        action="append",
        required=True,
        type=parse_handler,
        help="NAME=BINARY=STATE_ROOT (repeatable)",
    )
    ap.add_argument("--only", nargs="*", help="scenario names")
    args = ap.parse_args()

    signal.signal(signal.SIGALRM, _on_alarm)
    cri = Cri(args.socket, args.cache)
    wait_ready(cri, [args.image, args.pause_image])
    version = cri.call("Version", version="v1")
    print(f"CRI: {version.runtime_name} {version.runtime_version} ({version.runtime_api_version})")
    chosen = [(n, f) for n, f in SCENARIOS if not args.only or n in args.only]
    results: dict[tuple[str, str], str] = {}
    failed = 0
    for handler in args.handler:
        ctx = Ctx(cri, handler, args.image, args.tag, args.work)
        for name, fn in chosen:
            t0 = time.monotonic()
            reason = run_one(ctx, fn)
            took = time.monotonic() - t0
            results[(handler.name, name)] = "FAIL" if reason else "PASS"
            if reason:
                failed += 1
                print(f"FAIL {handler.name}/{name}: {reason}  ({took:.1f}s)", flush=True)
            else:
                print(f"PASS {handler.name}/{name}  ({took:.1f}s)", flush=True)
    print_table([n for n, _ in chosen], [h.name for h in args.handler], results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
