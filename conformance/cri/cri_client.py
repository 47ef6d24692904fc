"""A small CRI v1 client for the suite: stubs made from cri_subset.proto at run time,
every call bounded by a deadline, and the host-side views the scenarios check
(a process's cgroup files and namespaces, read from /proc and /sys/fs/cgroup).

Needs grpcio and grpcio-tools (the `cri` extra in setup.cfg), which run.sh installs
into the suite's own virtualenv; nothing here is on pyrunc's path.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
PROTO = HERE / "cri_subset.proto"
CALL_TIMEOUT = 30.0  # seconds, any single CRI call


class Failure(Exception):
    """A scenario's check that did not hold (its message is the FAIL reason)."""


def check(cond: object, message: str) -> None:
    if not cond:
        raise Failure(message)


def load_stubs(cache: Path) -> tuple[ModuleType, ModuleType]:
    """Compile the proto into CACHE/<hash of the proto>/ once, import the modules."""
    digest = hashlib.sha256(PROTO.read_bytes()).hexdigest()[:16]
    out = cache / f"stubs-{digest}"
    if not (out / "cri_subset_pb2_grpc.py").exists():
        from grpc_tools import protoc

        tmp = cache / f"stubs-{digest}.tmp{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        rc = protoc.main(
            ["protoc", f"-I{HERE}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", str(PROTO)]
        )
        if rc != 0:
            raise RuntimeError(f"protoc failed on {PROTO} (exit {rc})")
        try:
            tmp.rename(out)
        except OSError:  # another run made it first
            import shutil

            shutil.rmtree(tmp)
    sys.path.insert(0, str(out))
    return importlib.import_module("cri_subset_pb2"), importlib.import_module("cri_subset_pb2_grpc")


class Cri:
    """RuntimeService and ImageService over containerd's unix socket."""

    def __init__(self, socket: str, cache: Path) -> None:
        import grpc

        self.pb, rpc = load_stubs(cache)
        self.grpc = grpc
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.runtime = rpc.RuntimeServiceStub(self.channel)
        self.images = rpc.ImageServiceStub(self.channel)

    def call(self, method: str, deadline: float = CALL_TIMEOUT, **fields: Any) -> Any:
        """RuntimeService.METHOD(Request(**fields)), DEADLINE seconds at most (not named
        `timeout`: StopContainer and ExecSync have a field of that name)."""
        service = self.pb.DESCRIPTOR.services_by_name["RuntimeService"]
        request_type = getattr(self.pb, service.methods_by_name[method].input_type.name)
        return getattr(self.runtime, method)(request_type(**fields), timeout=deadline)

    def code_of(self, err: Exception) -> str:
        return err.code().name if isinstance(err, self.grpc.RpcError) else type(err).__name__

    def details_of(self, err: Exception) -> str:
        return err.details() if isinstance(err, self.grpc.RpcError) else str(err)


@dataclass
class Handler:
    """A CRI runtime handler: its name, the runtime binary, its runtime state root."""

    name: str
    binary: str
    state_root: Path  # the shim's Root option + "/k8s.io"


@dataclass
class Pod:
    id: str
    name: str
    config: Any
    containers: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    """What one scenario run for one handler needs."""

    cri: Cri
    handler: Handler
    image: str
    tag: str  # the run's marker: cgroup parents are /TAG/<pod name>
    work: Path
    pods: list[Pod] = field(default_factory=list)

    @property
    def pb(self) -> Any:
        return self.cri.pb

    # --- pods and containers ---------------------------------------------------
    def pod_config(self, name: str, hostname: str = "", dns: Any = None) -> Any:
        pb = self.pb
        logdir = self.work / "logs" / f"{self.handler.name}-{name}"
        logdir.mkdir(parents=True, exist_ok=True)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=name, uid=f"uid-{self.handler.name}-{name}", namespace="cri-suite"
            ),
            hostname=hostname or name,
            log_directory=str(logdir),
            dns_config=dns,
            labels={"suite": self.tag},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent(name),
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=self.namespaces()
                ),
            ),
        )

    def namespaces(self) -> Any:
        """What kubelet asks for a pod without shareProcessNamespace or host*: the pod's
        network and IPC namespaces, a pid namespace per container (the protocol's
        zero value, POD, would put every container in the pause's)."""
        pb = self.pb
        return pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)

    def cgroup_parent(self, pod_name: str) -> str:
        return f"/{self.tag}/{self.handler.name}-{pod_name}"

    def run_pod(self, name: str, **config: Any) -> Pod:
        cfg = self.pod_config(name, **config)
        resp = self.cri.call("RunPodSandbox", config=cfg, runtime_handler=self.handler.name)
        pod = Pod(resp.pod_sandbox_id, name, cfg)
        self.pods.append(pod)
        return pod

    def create(
        self,
        pod: Pod,
        name: str,
        command: list[str],
        resources: Any = None,
        envs: Any = (),
        security: dict[str, Any] | None = None,
    ) -> str:
        """CreateContainer; SECURITY: more LinuxContainerSecurityContext fields."""
        pb = self.pb
        cfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name),
            image=pb.ImageSpec(image=self.image),
            command=command,
            envs=[pb.KeyValue(key=k, value=v) for k, v in envs],
            log_path=f"{name}.log",
            linux=pb.LinuxContainerConfig(
                resources=resources,
                security_context=pb.LinuxContainerSecurityContext(
                    namespace_options=self.namespaces(), **(security or {})
                ),
            ),
        )
        resp = self.cri.call(
            "CreateContainer", pod_sandbox_id=pod.id, config=cfg, sandbox_config=pod.config
        )
        pod.containers.append(resp.container_id)
        return resp.container_id

    def start(self, cid: str) -> None:
        self.cri.call("StartContainer", container_id=cid)

    def run(self, pod: Pod, name: str, command: list[str], **kw: Any) -> str:
        cid = self.create(pod, name, command, **kw)
        self.start(cid)
        return cid

    def exec_sync(self, cid: str, cmd: list[str], timeout: int = 20) -> tuple[int, str, str]:
        r = self.cri.call(
            "ExecSync", deadline=timeout + 10, container_id=cid, cmd=cmd, timeout=timeout
        )
        return r.exit_code, r.stdout.decode(), r.stderr.decode()

    def status(self, cid: str) -> Any:
        return self.cri.call("ContainerStatus", container_id=cid).status

    def wait_state(self, cid: str, state: str, seconds: float = 20) -> Any:
        want = self.pb.ContainerState.Value(state)
        deadline = time.monotonic() + seconds
        while True:
            st = self.status(cid)
            if st.state == want:
                return st
            if time.monotonic() > deadline:
                name = self.pb.ContainerState.Name(st.state)
                raise Failure(f"{cid[:12]}: state {name} after {seconds}s, want {state}")
            time.sleep(0.1)

    def container_pid(self, cid: str) -> int:
        info = self.cri.call("ContainerStatus", container_id=cid, verbose=True).info
        return int(json.loads(info["info"])["pid"])

    def sandbox_pid(self, pod: Pod) -> int:
        info = self.cri.call("PodSandboxStatus", pod_sandbox_id=pod.id, verbose=True).info
        return int(json.loads(info["info"])["pid"])

    def remove_pod(self, pod: Pod) -> None:
        self.cri.call("StopPodSandbox", pod_sandbox_id=pod.id)
        self.cri.call("RemovePodSandbox", pod_sandbox_id=pod.id)
        if pod in self.pods:
            self.pods.remove(pod)

    def cleanup(self) -> list[str]:
        """Remove every pod the scenario made and left; the errors, if any."""
        errors = []
        for pod in list(self.pods):
            try:
                self.remove_pod(pod)
            except Exception as e:  # noqa: BLE001 - reported, the next pod still goes
                errors.append(f"remove pod {pod.name}: {self.cri.details_of(e)}")
        return errors

    def runtime_state(self, cid: str) -> dict[str, Any]:
        """`RUNTIME --root ROOT state ID` of the handler's own runtime: proof the
        container is that runtime's."""
        import subprocess

        out = subprocess.run(
            [self.handler.binary, "--root", str(self.handler.state_root), "state", cid],
            capture_output=True,
            text=True,
            timeout=20,
        )
        check(out.returncode == 0, f"{self.handler.binary} state {cid[:12]}: {out.stderr.strip()}")
        return json.loads(out.stdout)


# --- the host's view -------------------------------------------------------------


def cgroup_path(pid: int, controller: str) -> str:
    """PID's cgroup path in the v1 hierarchy that has CONTROLLER."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise Failure(f"pid {pid}: no {controller} hierarchy in /proc/{pid}/cgroup")


def cgroup_dir(pid: int, controller: str) -> Path:
    """The directory of PID's cgroup under /sys/fs/cgroup/<the hierarchy's mount>."""
    path = cgroup_path(pid, controller)
    for mount in Path("/sys/fs/cgroup").iterdir():
        if controller in mount.name.split(",") and (mount / path.lstrip("/")).is_dir():
            return mount / path.lstrip("/")
    raise Failure(f"pid {pid}: no mounted {controller} hierarchy holds {path}")


def cgroup_read(pid: int, controller: str, name: str) -> str:
    return (cgroup_dir(pid, controller) / name).read_text().strip()


def ns_of(pid: int, ns: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{ns}")


def cgroup_dirs_under(path: str) -> list[Path]:
    """Every directory named PATH (absolute cgroup path) or below it, any hierarchy."""
    found = []
    for mount in Path("/sys/fs/cgroup").iterdir():
        top = mount / path.lstrip("/")
        if top.is_dir():
            found.extend(p for p in top.rglob("*") if p.is_dir())
            found.append(top)
    return found


def mounts_naming(words: list[str]) -> list[str]:
    """Mount points (from /proc/self/mountinfo) that contain any of WORDS."""
    points = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if any(w in p for w in words)]


def processes_naming(words: list[str]) -> list[str]:
    """Live processes whose command line contains any of WORDS."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(w in cmd for w in words) and int(d.name) != os.getpid():
            found.append(f"{d.name} {cmd[:100]}")
    return found
