"""linux.intelRdt (runtime-spec 1.3) through resctrl.

Hosts differ: most machines of this project's kind have no RDT (no resctrl mounted).
There, every config with linux.intelRdt is refused at create, in one line naming the
field, and nothing is left; where resctrl is mounted, containers join their group for
real and the kernel's files are read back (one test per field does both). The manager's
writes are also checked against a directory laid out like /sys/fs/resctrl, with a real
container's pid, and the whole create/exec/update/stats/delete flow runs over such a
directory through the API (the runtime in this process told where resctrl is).
Malformed values fail create cleanly on any host.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrunc.linux.intelrdt import IntelRdtManager, ResctrlError
from tests import host
from tests.helpers import Bundle, Runtime, create_fails, created, error_message
from tests.test_sched_mempolicy import configure, exec_detached

NOT_ENABLED = (
    "config.json: linux.intelRdt: Intel RDT is not enabled on this host "
    "(no resctrl filesystem is mounted)"
)


def resctrl_root() -> str | None:
    """Where this host has resctrl mounted (None: no RDT here)."""
    return host.mountpoint_of("resctrl")


def rdt_config(bundle: Bundle, section: dict, *args: str) -> Bundle:
    return configure(bundle, *(args or ("sleep", "100")), linux={"intelRdt": section})


def check_report(runtime: Runtime, bundle: Bundle, field: str) -> list[dict]:
    """`pyrunc check`'s errors about linux.intelRdt...: it must agree with create."""
    report = runtime("check", "--bundle", bundle.path, "--format", "json").json()
    return [f for f in report["findings"] if f["path"].startswith(field)
            and f["severity"] == "error"]  # fmt: skip


# -- each field: applied where the host has it, else refused by name -----------------------


def has(root: str | None, info: str) -> bool:
    """Whether resctrl offers `info` here (L3, MB, L3_MON): the kernel's info/ dirs."""
    return root is not None and os.path.isdir(os.path.join(root, "info", info))


def root_lines(root: str) -> list[str]:
    """The root group's schemata lines ("L3:0=7ff;1=7ff"): valid here by definition."""
    return [line.strip() for line in read(os.path.join(root, "schemata")).splitlines()]


def root_line(root: str, resource: str) -> str:
    return next(line for line in root_lines(root) if line.startswith(resource + ":"))


FIELDS = ["intelRdt", "closID", "l3CacheSchema", "memBwSchema", "schemata",
          "enableMonitoring", "closID-root"]  # fmt: skip


def section_for(field: str, root: str | None, cid: str) -> tuple[dict, str | None]:
    """linux.intelRdt using `field` (values this host takes where it has resctrl), and
    the resctrl feature it needs (None: resctrl alone)."""
    if field == "intelRdt":
        return {}, None
    if field == "closID":
        return {"closID": f"{cid}-clos"}, None
    if field == "closID-root":
        return {"closID": "/"}, None
    if field == "l3CacheSchema":
        return {"l3CacheSchema": root_line(root, "L3") if has(root, "L3") else "L3:0=f"}, "L3"
    if field == "memBwSchema":
        return {"memBwSchema": root_line(root, "MB") if has(root, "MB") else "MB:0=20"}, "MB"
    if field == "schemata":
        lines = root_lines(root) if root is not None else ["L3:0=7f0", "L2:0=f;1=f", "MB:0=20"]
        return {"schemata": lines}, None
    return {"enableMonitoring": True}, "L3_MON"


@pytest.mark.parametrize("field", FIELDS)
def test_applied_where_the_host_has_it_else_refused_by_name(
    runtime: Runtime, bundle: Bundle, cid: str, field: str
) -> None:
    """With resctrl (and the feature): the container's first process is in the group's
    tasks (and its MON group's), the schemata read back, an exec'd process joins too, and
    delete removes the group it made (never a named one). Without: create refuses in one
    line naming the field, `pyrunc check` agrees, and nothing is left."""
    root = resctrl_root()
    section, feature = section_for(field, root, cid)
    rdt_config(bundle, section)
    if root is None or (feature is not None and not has(root, feature)):
        message = create_fails(runtime, bundle, cid)
        if root is None:
            assert message == NOT_ENABLED
        else:
            assert message.startswith(f"config.json: linux.intelRdt.{field}: "), message
        found = check_report(runtime, bundle, "linux.intelRdt")
        assert any(f["group"] == "bundle/semantics" for f in found), found
        if root is None:
            assert any(f["group"] == "host" for f in found), found
        return
    named = field == "closID"
    if named:
        os.mkdir(os.path.join(root, section["closID"]))  # the spec: made beforehand
    try:
        _joins_for_real(runtime, bundle, cid, root, section)
    finally:
        if named:
            os.rmdir(os.path.join(root, section["closID"]))


def _joins_for_real(runtime: Runtime, bundle: Bundle, cid: str, root: str, section: dict) -> None:
    clos = section.get("closID", "")
    group = root if clos == "/" else os.path.join(root, clos or cid)
    mon = os.path.join(group, "mon_groups", cid)
    with created(runtime, bundle, cid) as pid:
        assert str(pid) in read(os.path.join(group, "tasks")).split()
        if section.get("enableMonitoring"):
            assert str(pid) in read(os.path.join(mon, "tasks")).split()
        written = read(os.path.join(group, "schemata")).replace(" ", "")
        for line in [section.get("l3CacheSchema"), section.get("memBwSchema"),
                     *section.get("schemata", ())]:  # fmt: skip
            if line:
                assert line.replace(" ", "") in written, (line, written)
        runtime.ok("start", cid)
        tenant = exec_detached(runtime, bundle, cid)
        assert str(tenant) in read(os.path.join(group, "tasks")).split()
    assert not os.path.exists(mon)
    # Made by create (no closID): removed; named or the root: left as it was.
    assert os.path.exists(group) == bool(clos)


# -- bad values: refused on any host, before anything is made --------------------------------

BAD = {
    "closID-slash": ({"closID": "a/b"}, "linux.intelRdt.closID: must be a plain directory name"),
    "closID-dot": ({"closID": "."}, "linux.intelRdt.closID: must be a plain directory name"),
    "closID-dotdot": ({"closID": ".."}, "linux.intelRdt.closID: must be a plain directory name"),
    "closID-leading-slash": ({"closID": "/x"},
                             "linux.intelRdt.closID: must be a plain directory name"),
    "no-colon": ({"l3CacheSchema": "L3"},
                 "linux.intelRdt.l3CacheSchema: expected <resource>:<id>=<value>"),
    "no-value": ({"schemata": ["L3:"]}, "linux.intelRdt.schemata[0]: expected a value for L3"),
    "bad-domain": ({"schemata": ["L3:x=ff"]},
                   "linux.intelRdt.schemata[0]: L3: expected <domain id>=<value>"),
    "not-hex": ({"l3CacheSchema": "L3:0=fg"},
                "linux.intelRdt.l3CacheSchema: L3: domain 0: 'fg' is not a hexadecimal"),
    "not-decimal": ({"memBwSchema": "MB:0=2a"},
                    "linux.intelRdt.memBwSchema: MB: domain 0: '2a' is not a decimal"),
    "newline": ({"schemata": ["L3:0=f\nMB:0=20"]},
                "linux.intelRdt.schemata[0]: must not contain a newline"),
    "twice": ({"l3CacheSchema": "L3:0=f", "schemata": ["L3:0=3"]},
              "linux.intelRdt.schemata[0]: L3: domain 0 is also set by "
              "linux.intelRdt.l3CacheSchema"),
    "memBw-not-MB": ({"memBwSchema": "L3:0=f"}, "linux.intelRdt.memBwSchema: "),  # the schema's
}  # fmt: skip


@pytest.mark.parametrize(("section", "message"), BAD.values(), ids=BAD.keys())
def test_bad_values_fail_create_cleanly(
    runtime: Runtime, bundle: Bundle, cid: str, section: dict, message: str
) -> None:
    rdt_config(bundle, section)
    assert create_fails(runtime, bundle, cid).startswith("config.json: " + message)
    field = message.split(":")[0].split("[")[0]
    assert check_report(runtime, bundle, field)
    root = resctrl_root()
    if root is not None:  # no group was made for it
        assert not os.path.exists(os.path.join(root, cid))


# -- update --l3-cache-schema / --mem-bw-schema (runc's words) -------------------------------


@pytest.mark.parametrize("flag", ["--l3-cache-schema", "--mem-bw-schema"])
def test_update_of_a_container_without_intel_rdt(
    runtime: Runtime, bundle: Bundle, cid: str, flag: str
) -> None:
    configure(bundle, "sleep", "100")
    root = resctrl_root()
    value, info = ("L3:0=f", "L3") if flag == "--l3-cache-schema" else ("MB:0=20", "MB")
    with created(runtime, bundle, cid):
        r = runtime("update", flag, value, cid)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
        if root is None or not os.path.isdir(os.path.join(root, "info", info)):
            words = "CAT: l3 cache" if info == "L3" else "MBA: memory bandwidth"
            assert error_message(r.err) == f"{flag}: Intel RDT/{words} schema is not enabled"
        else:
            assert error_message(r.err) == (
                "updating a non-existent Intel RDT configuration is not supported"
            )
        assert runtime.state(cid)["status"] == "created"


# -- the manager against a directory laid out like /sys/fs/resctrl ---------------------------


@pytest.fixture
def fake_resctrl(tmp_path: Path) -> str:
    """info/ for L3, MB and monitoring, the root group's files and its mon_groups/, and
    a last_cmd_status, as the kernel lays them out."""
    root = tmp_path / "resctrl"
    files = {
        "info/L3/cbm_mask": "7ff\n", "info/L3/min_cbm_bits": "1\n",
        "info/L3/num_closids": "16\n", "info/MB/bandwidth_gran": "10\n",
        "info/MB/delay_linear": "1\n", "info/MB/min_bandwidth": "10\n",
        "info/MB/num_closids": "8\n", "info/L3_MON/mon_features": "llc_occupancy\n",
        "info/last_cmd_status": "ok\n", "schemata": "L3:0=7ff\nMB:0=100\n", "tasks": "",
    }  # fmt: skip
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "mon_groups").mkdir()
    return str(root)


def the_kernels_files_go(group: str) -> None:
    """What rmdir of a resctrl group takes with it (the kernel's files): a plain
    directory keeps them, so they go first for the manager's rmdir to be the test."""
    for dirpath, dirs, files in os.walk(group, topdown=False):
        for name in files:
            os.unlink(os.path.join(dirpath, name))
        if os.path.basename(dirpath) != "mon_groups":  # its children are groups
            for name in dirs:
                if name != "mon_groups":
                    os.rmdir(os.path.join(dirpath, name))


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.fixture
def init_pid(runtime: Runtime, bundle: Bundle, cid: str) -> Iterator[int]:
    """A real process to place: a created container's init."""
    configure(bundle, "sleep", "100")
    with created(runtime, bundle, cid) as pid:
        yield pid


def test_a_new_group_gets_the_schemata_and_the_pid_and_goes_with_delete(
    fake_resctrl: str, init_pid: int, cid: str
) -> None:
    section = {"l3CacheSchema": "L3:0=7f0", "memBwSchema": "MB:0=20",
               "schemata": ["L2:0=f", "", "MB:1=70"]}  # fmt: skip
    rdt = IntelRdtManager.for_container(cid, section, fake_resctrl)
    rdt.create()
    rdt.set()
    rdt.apply(init_pid)
    group = os.path.join(fake_resctrl, cid)
    # The spec's order, one line each, empty ones left out; the pid as runc writes it.
    assert read(os.path.join(group, "schemata")) == "L3:0=7f0\nMB:0=20\nL2:0=f\nMB:1=70\n"
    assert read(os.path.join(group, "tasks")) == str(init_pid)
    assert os.path.exists(f"/proc/{init_pid}")
    state = rdt.to_state()
    assert state["path"] == group and state["created"] and state["mon_path"] == ""
    # `delete` is another process: it knows from the state that the group is ours.
    the_kernels_files_go(group)
    IntelRdtManager.from_state(cid, state).destroy()
    assert not os.path.exists(group)


def test_a_named_clos_is_joined_never_removed_and_its_mon_group_is(
    fake_resctrl: str, init_pid: int, cid: str
) -> None:
    gold = os.path.join(fake_resctrl, "gold")
    os.makedirs(os.path.join(gold, "mon_groups"))
    rdt = IntelRdtManager.for_container(cid, {"closID": "gold", "enableMonitoring": True},
                                        fake_resctrl)  # fmt: skip
    rdt.create()
    rdt.set()  # no schemata given: none written
    rdt.apply(init_pid)
    mon = os.path.join(gold, "mon_groups", cid)
    assert not os.path.exists(os.path.join(gold, "schemata"))
    assert read(os.path.join(gold, "tasks")) == str(init_pid)
    assert read(os.path.join(mon, "tasks")) == str(init_pid)
    assert rdt.to_state()["mon_path"] == mon and not rdt.to_state()["created"]
    the_kernels_files_go(mon)
    IntelRdtManager.from_state(cid, rdt.to_state()).destroy()
    assert not os.path.exists(mon) and os.path.isdir(gold)


def test_the_default_clos_is_the_root_group(fake_resctrl: str, init_pid: int, cid: str) -> None:
    rdt = IntelRdtManager.for_container(cid, {"closID": "/", "enableMonitoring": True},
                                        fake_resctrl)  # fmt: skip
    rdt.create()
    rdt.apply(init_pid)
    mon = os.path.join(fake_resctrl, "mon_groups", cid)
    assert read(os.path.join(fake_resctrl, "tasks")) == str(init_pid)
    assert read(os.path.join(mon, "tasks")) == str(init_pid)
    the_kernels_files_go(mon)
    rdt.destroy()
    assert not os.path.exists(mon) and os.path.isdir(os.path.join(fake_resctrl, "info"))


def test_a_group_that_was_there_is_not_ours_to_remove(
    fake_resctrl: str, init_pid: int, cid: str
) -> None:
    group = os.path.join(fake_resctrl, cid)
    os.mkdir(group)
    rdt = IntelRdtManager.for_container(cid, {"schemata": ["L3:0=f"]}, fake_resctrl)
    rdt.create()
    rdt.set()
    rdt.apply(init_pid)
    assert read(os.path.join(group, "schemata")) == "L3:0=f\n"
    the_kernels_files_go(group)
    IntelRdtManager.from_state(cid, rdt.to_state()).destroy()
    assert os.path.isdir(group)


def test_a_closid_without_schemata_must_exist_at_create(fake_resctrl: str, cid: str) -> None:
    rdt = IntelRdtManager.for_container(cid, {"closID": "silver"}, fake_resctrl)
    with pytest.raises(ResctrlError, match="silver does not exist"):
        rdt.create()
    assert not os.path.exists(os.path.join(fake_resctrl, "silver"))


def test_a_failure_half_way_leaves_nothing(fake_resctrl: str, cid: str) -> None:
    """A MON group that cannot be made (here: the group has no mon_groups, as a kernel
    without monitoring) fails in one line with the kernel's last_cmd_status, and create's
    clean-up removes the group made just before."""
    with open(os.path.join(fake_resctrl, "info", "last_cmd_status"), "w") as f:
        f.write("Out of RMIDs\n")
    rdt = IntelRdtManager.for_container(cid, {"enableMonitoring": True}, fake_resctrl)
    with pytest.raises(ResctrlError) as failed:
        rdt.create()
    assert "\n" not in str(failed.value)
    assert str(failed.value).endswith("no such file or directory, last_cmd_status: Out of RMIDs")
    rdt.destroy()
    assert not os.path.exists(os.path.join(fake_resctrl, cid))


def test_a_refused_write_names_the_lines(fake_resctrl: str, cid: str) -> None:
    rdt = IntelRdtManager.for_container(cid, {"schemata": ["L3:0=f", "MB:0=20"]}, fake_resctrl)
    rdt.create()
    os.mkdir(os.path.join(fake_resctrl, cid, "schemata"))  # writing it fails: EISDIR
    with pytest.raises(ResctrlError) as failed:
        rdt.set()
    assert str(failed.value) == 'intelrdt: unable to write "L3:0=f\\nMB:0=20": is a directory'
    os.rmdir(os.path.join(fake_resctrl, cid, "schemata"))
    rdt.destroy()
    assert not os.path.exists(os.path.join(fake_resctrl, cid))


# -- create/exec/events/update/delete through the API, resctrl found at a fake root --------


@pytest.fixture
def resctrl_here(fake_resctrl: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The runtime, run in this process (the API), finds resctrl at the fake root: the
    whole create -> exec -> update -> delete flow runs, over files we can read back.
    (With the kernel's tasks file a task joins and its children follow; here a pid is
    only written down: the one of the stage that forks the container's process.)"""
    import pyrunc.linux.intelrdt as intelrdt

    monkeypatch.setattr(intelrdt, "find_root", lambda mounts=None: fake_resctrl)
    return fake_resctrl


def written_pid(path: str) -> int:
    text = read(os.path.join(path, "tasks"))
    assert text.isdigit(), text
    return int(text)


def test_the_whole_flow_over_a_fake_root(
    resctrl_here: str, runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    import pyrunc

    rdt_config(bundle, {"l3CacheSchema": "L3:0=7f0", "schemata": ["MB:0=20"]})
    group = os.path.join(resctrl_here, cid)
    c = pyrunc.Container.create(cid, bundle.path, root=runtime.root)
    try:
        # Joined at the cgroup join by stage 1, before init existed.
        assert written_pid(group) not in (0, c.pid)
        assert read(os.path.join(group, "schemata")) == "L3:0=7f0\nMB:0=20\n"
        c.start()
        before = written_pid(group)
        tenant = c.exec(["sleep", "100"], detach=True)
        assert written_pid(group) not in (before, tenant)  # exec's stage joined too
        os.kill(tenant, signal.SIGKILL)
        os.waitpid(tenant, 0)
        # update --l3-cache-schema: the whole schemata again, the new L3 line first.
        c.update({}, l3_cache_schema="L3:0=00f")
        assert read(os.path.join(group, "schemata")) == "L3:0=00f\nMB:0=20\n"
        counters = os.path.join(group, "mon_data", "mon_L3_00")  # the kernel's, emulated
        os.makedirs(counters)
        with open(os.path.join(counters, "llc_occupancy"), "w") as f:
            f.write("8192\n")
        rdt = c.stats()["intel_rdt"]
        assert rdt["l3_cache_schema"] == "L3:0=00f" and rdt["mem_bw_schema"] == "MB:0=20"
        assert rdt["cmt_stats"] == [{"llc_occupancy": 8192}]
    finally:
        the_kernels_files_go(group)
        c.delete(force=True)
    assert not os.path.exists(group)


def test_a_failed_create_removes_the_group_it_made(
    resctrl_here: str, runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    import pyrunc

    # The new group has no mon_groups here (the kernel would make it): the MON group
    # cannot be made after the group was, and create undoes everything.
    rdt_config(bundle, {"enableMonitoring": True, "schemata": ["L3:0=f"]})
    with pytest.raises(pyrunc.errors.PyruncError, match="mon_groups"):
        pyrunc.Container.create(cid, bundle.path, root=runtime.root)
    assert not os.path.exists(os.path.join(resctrl_here, cid))
    assert not os.path.exists(os.path.join(runtime.root, cid))


# -- where the host has resctrl: the real thing -----------------------------------------------


def test_a_write_the_kernel_refuses_leaves_nothing_for_real(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    root = resctrl_root()
    if root is None or not os.path.isdir(os.path.join(root, "info", "L3")):
        pytest.skip("no resctrl L3 allocation on this host (no Intel RDT CAT)")
    rdt_config(bundle, {"l3CacheSchema": "L3:4095=1"})  # no such cache domain
    message = create_fails(runtime, bundle, cid)
    assert "intelrdt: unable to write" in message, message
    assert not os.path.exists(os.path.join(root, cid))
