"""process.scheduler, process.ioPriority and linux.memoryPolicy (runtime-spec 1.3), each
read from the kernel's side, never from pyrunc's records:

- scheduler: sched_getattr(2) on the container's pid (policy, flags, nice, priority,
  runtime/deadline/period), cross-checked with /proc/<pid>/stat fields 18, 19 and 41
  (priority, nice, policy);
- I/O priority: ioprio_get(2) on the pid (IOPRIO_WHO_PROCESS): class and level;
- memory policy: /proc/<pid>/numa_maps. For a mapping without a policy of its own (no
  mbind(2), and busybox makes none) the kernel prints the task's policy
  (show_numa_map() falls back to it), in mpol_to_str()'s words: "bind:0",
  "interleave:0", "prefer (many):0", "bind=static:0", "local", "default".

Each is checked on the created init (applied before it waits for start), on the user's
process after start (the same pid: exec keeps all three), and on an exec'd process.
Debian's runc 1.1.5 (runtime-spec 1.0.2) knows none of these fields and ignores them:
nothing here is compared with it.
"""

from __future__ import annotations

import ctypes
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests import host
from tests.helpers import Bundle, Runtime, create_fails, created, error_message

# Numbers from the kernel's uapi headers, written out rather than taken from pyrunc.
POLICY = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
          "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}  # fmt: skip
SCHED_FLAG_RESET_ON_FORK = 0x01
IOPRIO_CLASS = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
MPOL_WEIGHTED_INTERLEAVE, MPOL_PREFERRED_MANY = 6, 5
_NR = {"x86_64": {"sched_getattr": 315, "ioprio_get": 252},
       "aarch64": {"sched_getattr": 275, "ioprio_get": 31}}[os.uname().machine]  # fmt: skip
_libc = ctypes.CDLL(None, use_errno=True)

# -- the kernel's view ----------------------------------------------------------------------


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("policy", ctypes.c_uint32),
                ("flags", ctypes.c_uint64), ("nice", ctypes.c_int32),
                ("priority", ctypes.c_uint32), ("runtime", ctypes.c_uint64),
                ("deadline", ctypes.c_uint64), ("period", ctypes.c_uint64)]  # fmt: skip


def sched_getattr(pid: int) -> dict[str, int]:
    attr = _SchedAttr()
    size = ctypes.c_uint(ctypes.sizeof(attr))
    ret = _libc.syscall(ctypes.c_long(_NR["sched_getattr"]), ctypes.c_int(pid),
                        ctypes.byref(attr), size, ctypes.c_uint(0))  # fmt: skip
    assert ret == 0, os.strerror(ctypes.get_errno())
    return {name: getattr(attr, name) for name, _ in _SchedAttr._fields_ if name != "size"}


def stat_fields(pid: int) -> tuple[int, int, int]:
    """/proc/<pid>/stat's priority (18), nice (19) and policy (41)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()  # fields from 3 on
    return int(rest[15]), int(rest[16]), int(rest[38])


def ioprio_get(pid: int) -> tuple[int, int]:
    """(class, level) of pid, IOPRIO_WHO_PROCESS."""
    ret = _libc.syscall(ctypes.c_long(_NR["ioprio_get"]), ctypes.c_int(1), ctypes.c_int(pid))
    assert ret >= 0, os.strerror(ctypes.get_errno())
    return ret >> 13, ret & 0x1FFF


def numa_policies(pid: int) -> list[str]:
    """What numa_maps shows after each mapping's address: its policy, then its pages."""
    with open(f"/proc/{pid}/numa_maps") as f:
        return [line.split(" ", 1)[1] for line in f.read().splitlines()]


def has_task_policy(pid: int, shown: str) -> bool:
    """Every mapping shows `shown` (the task's policy: see the top), then its pages."""
    rows = numa_policies(pid)
    return bool(rows) and all(row == shown or row.startswith(shown + " ") for row in rows)


# -- bundles and containers -----------------------------------------------------------------


def configure(bundle: Bundle, *args: str, linux: dict | None = None, **process: Any) -> Bundle:
    bundle.config["process"]["args"] = list(args)
    bundle.config["process"].update(process)
    bundle.config["linux"].update(linux or {})
    return bundle.save()


def exec_detached(runtime: Runtime, bundle: Bundle, cid: str, proc: dict | None = None) -> int:
    """An exec'd `sleep` (from --process proc, or the config's process): its host pid."""
    pid_file = os.path.join(bundle.path, "exec.pid")
    if proc is None:
        runtime.ok("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "100")
    else:
        path = os.path.join(bundle.path, "process.json")
        with open(path, "w") as f:
            json.dump({"cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"],
                       "args": ["sleep", "100"], **proc}, f)  # fmt: skip
        runtime.ok("exec", "--detach", "--pid-file", pid_file, "--process", path, cid)
    with open(pid_file) as f:
        return int(f.read())


def realtime_budget(bundle: Bundle) -> None:
    """Where the kernel groups realtime tasks, the container's cpu cgroup needs runtime
    for SCHED_FIFO/RR (runc's users set the same field)."""
    if host.rt_group_sched():
        bundle.config["linux"].setdefault("resources", {})["cpu"] = {"realtimeRuntime": 10000}


# -- process.scheduler ----------------------------------------------------------------------

MS = 1_000_000  # ns
SCHEDULERS = [
    # (config, what sched_getattr must show beyond the policy, /proc stat priority & nice)
    ({"policy": "SCHED_BATCH", "nice": 7}, {"nice": 7}, (27, 7)),
    ({"policy": "SCHED_OTHER", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
     {"nice": -5, "flags": SCHED_FLAG_RESET_ON_FORK}, (15, -5)),
    ({"policy": "SCHED_IDLE"}, {}, (20, 0)),
    ({"policy": "SCHED_FIFO", "priority": 10}, {"priority": 10}, (-11, 0)),
    ({"policy": "SCHED_RR", "priority": 42}, {"priority": 42}, (-43, 0)),
    # A deadline task may not fork: the process is a plain `sleep`.
    ({"policy": "SCHED_DEADLINE", "runtime": 1 * MS, "deadline": 10 * MS, "period": 20 * MS},
     {"runtime": 1 * MS, "deadline": 10 * MS, "period": 20 * MS}, (-101, 0)),
]  # fmt: skip


def _check_sched(pid: int, config: dict, want: dict, stat: tuple[int, int]) -> None:
    got = sched_getattr(pid)
    assert got["policy"] == POLICY[config["policy"]], got
    for key, value in want.items():
        assert got[key] == value, (key, got)
    prio, nice, policy = stat_fields(pid)
    assert (prio, nice, policy) == (*stat, POLICY[config["policy"]])


@pytest.mark.parametrize("config,want,stat", SCHEDULERS, ids=lambda v: str(v)[:40])
def test_scheduler_init_and_its_process(
    runtime: Runtime, bundle: Bundle, cid: str, config: dict, want: dict, stat: tuple
) -> None:
    if config["policy"] in ("SCHED_FIFO", "SCHED_RR"):
        realtime_budget(bundle)
    configure(bundle, "sleep", "100", scheduler=config)
    with created(runtime, bundle, cid) as pid:
        _check_sched(pid, config, want, stat)  # the init, waiting for start
        runtime.ok("start", cid)
        _check_sched(pid, config, want, stat)  # the user's process (execve keeps it)


def test_scheduler_exec_process_json_and_config(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """exec --process applies the document's scheduler; exec without it, the config's
    (kept with the container, as runc keeps its config)."""
    configure(bundle, "sleep", "100", scheduler={"policy": "SCHED_BATCH", "nice": 3})
    with created(runtime, bundle, cid):
        runtime.ok("start", cid)
        pid = exec_detached(runtime, bundle, cid, {"scheduler": {"policy": "SCHED_IDLE"}})
        assert sched_getattr(pid)["policy"] == POLICY["SCHED_IDLE"]
        assert stat_fields(pid)[2] == POLICY["SCHED_IDLE"]
        pid = exec_detached(runtime, bundle, cid)
        assert (sched_getattr(pid)["policy"], sched_getattr(pid)["nice"]) == (3, 3)
        assert stat_fields(pid) == (23, 3, POLICY["SCHED_BATCH"])
        # A --process document without a scheduler takes the container's (runc's
        # initConfig starts from the config's and lets the process override it).
        pid = exec_detached(runtime, bundle, cid, {})
        assert stat_fields(pid) == (23, 3, POLICY["SCHED_BATCH"])


@pytest.mark.parametrize(
    "config",
    [
        # runtime above deadline: the kernel's admission check refuses it (EINVAL)
        {"policy": "SCHED_DEADLINE", "runtime": 20 * MS, "deadline": 10 * MS, "period": 20 * MS},
        # reserved in the uapi, implemented by no mainline kernel
        {"policy": "SCHED_ISO"},
    ],
    ids=["deadline-runtime-above-deadline", "iso"],
)
def test_scheduler_the_kernel_refuses(
    runtime: Runtime, bundle: Bundle, cid: str, config: dict
) -> None:
    configure(bundle, "sleep", "100", scheduler=config)
    msg = create_fails(runtime, bundle, cid)
    assert msg.endswith(f"process.scheduler: sched_setattr {config['policy']}: invalid argument")


def test_realtime_without_cgroup_runtime(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Where the kernel groups realtime tasks a new cgroup has no realtime runtime: EPERM,
    said with the field to set. Elsewhere (and with CAP_SYS_NICE) the policy applies."""
    configure(bundle, "sleep", "100", scheduler={"policy": "SCHED_FIFO", "priority": 1})
    if not host.rt_group_sched() and host.capable(host.CAP_SYS_NICE):
        with created(runtime, bundle, cid) as pid:
            assert sched_getattr(pid)["policy"] == POLICY["SCHED_FIFO"]
        return
    msg = create_fails(runtime, bundle, cid)
    assert "process.scheduler: sched_setattr SCHED_FIFO: operation not permitted" in msg, msg
    if host.rt_group_sched():
        assert "linux.resources.cpu.realtimeRuntime" in msg, msg


def test_scheduler_exec_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "sleep", "100")
    bad = {"policy": "SCHED_DEADLINE", "runtime": 20 * MS, "deadline": 10 * MS, "period": 20 * MS}
    path = os.path.join(bundle.path, "process.json")
    with open(path, "w") as f:
        json.dump({"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["true"],
                   "scheduler": bad}, f)  # fmt: skip
    with created(runtime, bundle, cid):
        r = runtime("exec", "--process", path, cid)
        assert r.code == 255 and len(r.err.strip().splitlines()) == 1, r.err
        assert error_message(r.err).endswith(
            "process.scheduler: sched_setattr SCHED_DEADLINE: invalid argument"
        ), r.err


# -- process.ioPriority ---------------------------------------------------------------------

IO_PRIORITIES = [("IOPRIO_CLASS_BE", 7), ("IOPRIO_CLASS_IDLE", 0), ("IOPRIO_CLASS_RT", 3)]


@pytest.mark.parametrize("cls,level", IO_PRIORITIES)
def test_io_priority_init_and_its_process(
    runtime: Runtime, bundle: Bundle, cid: str, cls: str, level: int
) -> None:
    ours = ioprio_get(os.getpid())
    configure(bundle, "sleep", "100", ioPriority={"class": cls, "priority": level})
    if cls == "IOPRIO_CLASS_RT" and not host.capable(host.CAP_SYS_NICE):
        msg = create_fails(runtime, bundle, cid)  # the RT class needs CAP_SYS_NICE/ADMIN
        assert "process.ioPriority: ioprio_set IOPRIO_CLASS_RT 3: " in msg, msg
        return
    with created(runtime, bundle, cid) as pid:
        assert ioprio_get(pid) == (IOPRIO_CLASS[cls], level)
        runtime.ok("start", cid)
        assert ioprio_get(pid) == (IOPRIO_CLASS[cls], level)
    assert ioprio_get(os.getpid()) == ours  # IOPRIO_WHO_PROCESS: the runtime's untouched


def test_io_priority_exec(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "sleep", "100", ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 6})
    with created(runtime, bundle, cid):
        runtime.ok("start", cid)
        pid = exec_detached(runtime, bundle, cid, {"ioPriority": {"class": "IOPRIO_CLASS_IDLE"}})
        assert ioprio_get(pid) == (IOPRIO_CLASS["IOPRIO_CLASS_IDLE"], 0)
        assert ioprio_get(exec_detached(runtime, bundle, cid)) == (2, 6)  # the config's
        assert ioprio_get(exec_detached(runtime, bundle, cid, {})) == (2, 6)  # --process too


# -- linux.memoryPolicy ---------------------------------------------------------------------

needs_numa = pytest.mark.skipif(not host.numa_online_nodes(), reason="no NUMA nodes online")


def _node() -> int:
    return host.numa_online_nodes()[0]


POLICIES = [
    # (memoryPolicy without nodes, how numa_maps shows it with node N, mode number or None)
    ({"mode": "MPOL_BIND"}, "bind:{n}", None),
    ({"mode": "MPOL_INTERLEAVE"}, "interleave:{n}", None),
    ({"mode": "MPOL_PREFERRED"}, "prefer:{n}", None),
    ({"mode": "MPOL_PREFERRED_MANY"}, "prefer (many):{n}", MPOL_PREFERRED_MANY),
    ({"mode": "MPOL_WEIGHTED_INTERLEAVE"}, "weighted interleave:{n}", MPOL_WEIGHTED_INTERLEAVE),
    ({"mode": "MPOL_BIND", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:{n}", None),
    ({"mode": "MPOL_BIND", "flags": ["MPOL_F_NUMA_BALANCING"]}, "bind=balancing:{n}", None),
    ({"mode": "MPOL_LOCAL"}, "local", None),
]


@needs_numa
@pytest.mark.parametrize("policy,shown,mode", POLICIES, ids=lambda v: str(v)[:40])
def test_memory_policy_init_and_its_process(
    runtime: Runtime, bundle: Bundle, cid: str, policy: dict, shown: str, mode: int | None
) -> None:
    n = _node()
    doc = {**policy, "nodes": "" if policy["mode"] == "MPOL_LOCAL" else str(n)}
    configure(bundle, "sleep", "100", linux={"memoryPolicy": doc})
    if mode is not None and not host.mempolicy_mode_known(mode, n):
        msg = create_fails(runtime, bundle, cid)  # a mode this kernel does not know
        assert f"linux.memoryPolicy: set_mempolicy {policy['mode']}: invalid argument" in msg
        return
    with created(runtime, bundle, cid) as pid:
        assert has_task_policy(pid, shown.format(n=n)), numa_policies(pid)[:2]
        runtime.ok("start", cid)
        assert has_task_policy(pid, shown.format(n=n)), numa_policies(pid)[:2]
    assert has_task_policy(os.getpid(), "default")  # ours is untouched


@needs_numa
def test_memory_policy_exec(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    n = _node()
    configure(
        bundle, "sleep", "100", linux={"memoryPolicy": {"mode": "MPOL_BIND", "nodes": str(n)}}
    )
    with created(runtime, bundle, cid):
        runtime.ok("start", cid)
        pid = exec_detached(runtime, bundle, cid)
        assert has_task_policy(pid, f"bind:{n}"), numa_policies(pid)[:2]


@needs_numa
def test_memory_policy_offline_node(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Refused at create before anything is made, and `pyrunc check` agrees."""
    offline = max(host.numa_online_nodes()) + 1
    doc = {"mode": "MPOL_BIND", "nodes": f"{_node()},{offline}"}
    configure(bundle, "sleep", "100", linux={"memoryPolicy": doc})
    msg = create_fails(runtime, bundle, cid)
    assert msg.startswith(f"config.json: linux.memoryPolicy.nodes: node {offline} is not online")
    report = runtime("check", "--bundle", bundle.path, "--format", "json").json()
    assert "linux.memoryPolicy.nodes" in [f["path"] for f in report["findings"]], report


# runc's tests/integration/memorypolicy.bats: what runc refuses, and the words of its
# refusal the bats file greps (specconv's and validate's), after the field's path.
RUNC_REFUSALS = [
    ({}, "mode", 'invalid memory policy mode ""'),  # "empty memory policy"
    ({"nodes": "0-7"}, "mode", 'invalid memory policy mode ""'),  # "with missing mode"
    ({"mode": "MPOL_DEFAULT", "nodes": "0-7"}, "nodes",
     "memory policy mode requires 0 nodes but got 8"),  # "calls syscall with invalid ..."
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "nodes",
     "memory policy mode requires 0 nodes but got 1"),
    ({"mode": "MPOL_BIND", "nodes": ""}, "nodes",
     "memory policy mode requires at least one node but got 0"),
    ({"mode": "MPOL_BIND", "nodes": "0-9876543210", "flags": []}, "nodes",
     'invalid memory policy nodes "0-9876543210": '),  # "bind way too large a node number"
    ({"mode": "MPOL_BIND", "nodes": "0-x"}, "nodes", 'invalid memory policy nodes "0-x": '),
    # the schema's refusals, worded by its titles: "with non-existing mode", "invalid flag"
    ({"mode": "INTERLEAVE", "nodes": "0"}, "mode", 'invalid memory policy mode "INTERLEAVE": '),
    ({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES", "badflag"]},
     "flags[1]", 'invalid memory policy flag "badflag": '),
]  # fmt: skip


@pytest.mark.parametrize("doc,field,runc", RUNC_REFUSALS, ids=lambda v: str(v)[:30])
def test_memory_policy_refused_in_runcs_words(
    runtime: Runtime, bundle: Bundle, cid: str, doc: dict, field: str, runc: str
) -> None:
    """One line, exit 1, before any process is made; `pyrunc check` agrees."""
    configure(bundle, "sleep", "100", linux={"memoryPolicy": doc})
    msg = create_fails(runtime, bundle, cid)
    assert msg.startswith(f"config.json: linux.memoryPolicy.{field}: {runc}"), msg
    report = runtime("check", "--bundle", bundle.path, "--format", "json").json()
    assert f"linux.memoryPolicy.{field}" in [f["path"] for f in report["findings"]], report


# What the runtime itself runs with reaches the container unless the config's policy
# replaces it: a policy of our own (inherited by the runtime we spawn) tells a policy
# the container's init really set from one it merely kept.
_MPOL_DEFAULT, _MPOL_BIND = 0, 2
_SET_MEMPOLICY = {"x86_64": 238, "aarch64": 237}[os.uname().machine]


@contextmanager
def own_policy_bound_to(node: int) -> Iterator[None]:
    """This thread (and what it spawns) under MPOL_BIND on `node`; default again after."""

    def set_policy(mode: int, mask: ctypes.c_ulong | None) -> None:
        ptr = ctypes.byref(mask) if mask is not None else None
        maxnode = ctypes.c_ulong(65 if mask is not None else 0)
        ret = _libc.syscall(ctypes.c_long(_SET_MEMPOLICY), ctypes.c_int(mode), ptr, maxnode)
        assert ret == 0, os.strerror(ctypes.get_errno())

    set_policy(_MPOL_BIND, ctypes.c_ulong(1 << node))
    try:
        yield
    finally:
        set_policy(_MPOL_DEFAULT, None)


@needs_numa
@pytest.mark.parametrize(
    "doc,shown",
    [
        ({"mode": "MPOL_DEFAULT"}, "default"),  # runc's "default with missing nodes"
        ({"mode": "MPOL_DEFAULT", "nodes": ""}, "default"),
        ({"mode": "MPOL_LOCAL"}, "local"),
        # runc takes MPOL_PREFERRED without nodes (the kernel: allocate locally)
        ({"mode": "MPOL_PREFERRED"}, "local"),
    ],
)
def test_memory_policy_without_nodes(
    runtime: Runtime, bundle: Bundle, cid: str, doc: dict, shown: str
) -> None:
    """Modes that take no nodes are set, not skipped: they replace the runtime's own."""
    n = _node()
    configure(bundle, "sleep", "100", linux={"memoryPolicy": doc})
    with own_policy_bound_to(n):
        assert has_task_policy(os.getpid(), f"bind:{n}")
        with created(runtime, bundle, cid) as pid:
            assert has_task_policy(pid, shown), numa_policies(pid)[:2]
            runtime.ok("start", cid)
            assert has_task_policy(pid, shown), numa_policies(pid)[:2]
    assert has_task_policy(os.getpid(), "default")


@needs_numa
def test_memory_policy_relative_nodes_beyond_the_online(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """MPOL_F_RELATIVE_NODES numbers nodes within those the task may use, so a node past
    the online ones is no refusal (runc's "prefer relative" names node 0 of any host):
    the kernel folds it onto an allowed node (Mems_allowed_list in status)."""
    past = max(host.numa_online_nodes()) + 1
    doc = {"mode": "MPOL_PREFERRED", "nodes": str(past), "flags": ["MPOL_F_RELATIVE_NODES"]}
    configure(bundle, "sleep", "100", linux={"memoryPolicy": doc})
    with created(runtime, bundle, cid) as pid:
        rows = numa_policies(pid)
        assert rows and all(row.startswith("prefer=relative:") for row in rows), rows[:2]
        with open(f"/proc/{pid}/status") as f:
            allowed = next(line for line in f if line.startswith("Mems_allowed_list:"))
        shown = rows[0].split()[0].split(":")[1]  # the node the kernel folded `past` onto
        assert int(shown) in _node_list(allowed.split()[1]), (rows[0], allowed)


def _node_list(text: str) -> set[int]:
    """A list as the kernel writes it ("0-1,3")."""
    nodes: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        nodes.update(range(int(low), int(high or low) + 1))
    return nodes


@needs_numa
def test_memory_policy_the_kernel_refuses(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """MPOL_F_NUMA_BALANCING goes with MPOL_BIND (and PREFERRED_MANY) only: EINVAL."""
    doc = {"mode": "MPOL_INTERLEAVE", "nodes": str(_node()), "flags": ["MPOL_F_NUMA_BALANCING"]}
    configure(bundle, "sleep", "100", linux={"memoryPolicy": doc})
    msg = create_fails(runtime, bundle, cid)
    assert msg.endswith("linux.memoryPolicy: set_mempolicy MPOL_INTERLEAVE: invalid argument")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs to limit the cpuset to one")
def test_deadline_with_a_cpuset_limit_is_refused_in_runcs_words(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's scheduler.bats: sched_setattr refuses SCHED_DEADLINE (EPERM) for a task
    whose affinity leaves out CPUs of its root domain."""
    configure(bundle, "true", scheduler={"policy": "SCHED_DEADLINE", "runtime": 42000,
                                          "deadline": 1000000, "period": 1000000})  # fmt: skip
    bundle.config["linux"]["resources"] = {"cpu": {"cpus": str(min(os.sched_getaffinity(0)))}}
    bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-test/{cid}"
    bundle.save()
    msg = create_fails(runtime, bundle, cid)
    assert "process scheduler can't be used together with AllowedCPUs" in msg, msg
