"""runc's integration suite run rootless, as runc's own tests/rootless.sh runs it.

An unprivileged user named `rootless`, made for the run and removed after it, runs
`bats` with one of rootless.sh's feature sets (`ROOTLESS_FEATURES`):

- idmap: sub-id ranges for the user in /etc/subuid and /etc/subgid (the lines added
  here, removed exactly: nothing else in those files changes), the `ROOTLESS_UIDMAP_*`
  / `ROOTLESS_GIDMAP_*` variables helpers.bash's runc_rootless_idmap maps with
  (through newuidmap/newgidmap, Debian's uidmap), and cwd.bats' `ROOTLESS_AUX_DIR`
  owned by the id that container uid 1024 maps to;
- cgroup: the suite's parent cgroup (`/runc-cgroups-integration-test`) made in every
  v1 hierarchy of /proc/self/cgroup and handed to the user's group as rootless.sh's
  enable_cgroup does (the dir, cgroup.procs and tasks group-writable; cpuset.cpus and
  .mems, cpu.rt_* owned by the user), with a pinning `sleep` in it; on cgroup v2 the
  dir, its cgroup.subtree_control and cgroup.procs and the root's cgroup.procs. Every
  owner and mode changed is put back, every dir made is removed;
- no features: the user has no sub-id ranges and no cgroup. (rootless.sh also moves
  /etc/subuid and the newuidmap binaries away then; not here: the machine is shared,
  and without ranges newuidmap maps nothing for the user anyway.)

The cache's runc tree is root's alone (0700), so the suite's `tests/` and the
reference runc are copied into a world-readable dir of the session, and a runtime the
user cannot execute where it is is copied there too. The runner's Go is below /root:
get-images.sh's only question to it (`go env GOARCH`, `GOARM`) is answered by a
two-line `go` made from the runner's own answers.

Each file runs as the user (Popen user/group, no supplementary groups) with HOME and
XDG_RUNTIME_DIR of its own, its TMPDIR owned by it; after the file, the user's
containers in the XDG state roots are force-deleted and its processes (and those of
its sub-id range) killed, each one reported. Teardown runs on every way out (an
error, SIGINT/SIGTERM, a timeout) and reports what it could not undo. Python standard
library only; runs as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rci_build

USER = "rootless"
# The user's GECOS field: a `rootless` user with it is this runner's (a leftover of a
# run killed hard), one without it is someone else's and is never touched.
MARK = "pyrunc runc-integration rootless run"
FEATURES = ("idmap", "cgroup")
SUBID_LENGTH = 65536
SUBID_FLOOR = 100000
AUX_UID = 1024  # rootless.sh's ROOTLESS_AUX_UID
IDMAP_CONTAINER_UID = 1000  # helpers.bash runc_rootless_idmap's containerID
CGROUP_MOUNT = Path("/sys/fs/cgroup")
CGROUP_PATH = "runc-cgroups-integration-test"
SUBUID, SUBGID = Path("/etc/subuid"), Path("/etc/subgid")
# Variables of the caller's session that name root's (or nobody's) session.
DROP_ENV = ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "XDG_SESSION_ID", "MAIL")


def parse_features(text: str) -> tuple[str, ...]:
    """'idmap+cgroup' (or 'all') -> ('idmap', 'cgroup'); 'none' or '' -> ()."""
    text = text.strip()
    if text in ("", "none"):
        return ()
    if text == "all":
        return FEATURES
    wanted = [w for w in text.replace(",", "+").split("+") if w]
    unknown = [w for w in wanted if w not in FEATURES]
    if unknown:
        raise ValueError(
            f"unknown rootless feature {', '.join(unknown)}: "
            f"give {'+'.join(FEATURES)}, a part of it, 'all' or 'none'"
        )
    return tuple(f for f in FEATURES if f in wanted)


def features_word(features: tuple[str, ...]) -> str:
    return "+".join(features) or "none"


# --------------------------------------------------------------------------
# Sub-id files


def subid_ranges(text: str) -> list[tuple[str, int, int]]:
    """(owner, start, count) of each well-formed line of /etc/subuid or /etc/subgid."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def free_start(taken: list[tuple[int, int]], length: int = SUBID_LENGTH) -> int:
    """The first multiple of `length` at or above SUBID_FLOOR whose range overlaps none
    of `taken` (start, count): the user's container ids are then nobody else's."""
    start = -(-SUBID_FLOOR // length) * length
    while any(start < s + n and s < start + length for s, n in taken):
        start += length
    return start


def rewrite(path: Path, text: str) -> None:
    """Replace a root-owned system file atomically, keeping its mode."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    tmp = path.with_name(f".{path.name}.rci-tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def add_line(path: Path, line: str) -> None:
    text = path.read_text() if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    rewrite(path, text + line + "\n")


def remove_line(path: Path, line: str) -> bool:
    """Remove exactly `line` (its first occurrence); True if it was there."""
    if not path.exists():
        return False
    lines = path.read_text().splitlines(keepends=True)
    for i, cur in enumerate(lines):
        if cur.rstrip("\n") == line:
            del lines[i]
            rewrite(path, "".join(lines))
            return True
    return False


def lines_of(path: Path, owner: str) -> list[str]:
    if not path.exists():
        return []
    return [ln for ln in path.read_text().splitlines() if ln.split(":", 1)[0] == owner]


# --------------------------------------------------------------------------
# Processes


def uid_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def processes_of(uids: Callable[[int], bool]) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose real uid `uids` accepts: (pid, command line)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        uid = uid_of(pid)
        if uid is None or not uids(uid):
            continue
        try:
            st = Path(f"/proc/{pid}/stat").read_text()
            if st.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue
        found.append((pid, cmd.decode(errors="replace").strip()[:100]))
    return found


def kill_all(uids: Callable[[int], bool], what: str) -> list[str]:
    """SIGKILL, one by one, what processes_of(uids) finds (frozen v1 cgroups are
    thawed by rci_host.cleanup before this runs); one note each."""
    notes = []
    for _ in range(3):
        found = processes_of(uids)
        if not found:
            break
        for pid, cmd in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            notes.append(f"process {pid} ({cmd}) of {what} killed")
        time.sleep(0.3)
    return notes


# --------------------------------------------------------------------------
# The session


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    home: Path


@dataclass
class Session:
    """A rootless run of the suite: the user, the feature set, the readable copy of the
    suite. Use as a context manager (setup on enter, teardown on every exit)."""

    features: tuple[str, ...]
    cache_suite: rci_build.Suite
    base_dir: Path
    user: str = USER
    base: Path = field(init=False)
    account: Account = field(init=False)
    suite: rci_build.Suite = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what setup did, worth saying
    teardown_notes: list[str] = field(default_factory=list)  # what was left
    subid_range: tuple[int, int] | None = None  # uid start, count
    _undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    _copied: dict[str, str] = field(default_factory=dict)

    # ---- setup

    def __enter__(self) -> Session:
        try:
            self.base = Path(tempfile.mkdtemp(prefix="rci-rootless-", dir=self.base_dir))
            os.chmod(self.base, 0o755)
            self._undo.append((f"rm -r {self.base}", lambda: shutil.rmtree(self.base)))
            self._make_user()
            self._copy_suite()
            self.env = self._base_env()
            if "idmap" in self.features:
                self._enable_idmap()
            if "cgroup" in self.features:
                self._enable_cgroup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, cmd: list[str]) -> None:
        r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise SystemExit(f"rootless: {' '.join(cmd)}: {r.stderr.strip() or r.returncode}")

    def _make_user(self) -> None:
        try:
            pw = pwd.getpwnam(self.user)
        except KeyError:
            pw = None
        if pw is not None:
            if pw.pw_gecos != MARK:
                raise SystemExit(
                    f"rootless: a user {self.user!r} (uid {pw.pw_uid}) exists and is not "
                    f"this runner's: the suite needs a user of that name made for the run"
                )
            self.notes.append(
                f"removed a stale user {self.user} (uid {pw.pw_uid}) of an earlier run"
            )
            self._remove_user(pw.pw_uid)
        for path in (SUBUID, SUBGID):
            for line in lines_of(path, self.user):
                remove_line(path, line)
                self.notes.append(f"removed a stale {path} line {line!r}")
        home = self.base / "home"
        # SUB_*_COUNT=0: useradd gives the user no sub-id range of its own; the idmap
        # feature adds exactly the one it needs.
        self._run(
            ["useradd", "-M", "-U", "-d", str(home), "-s", "/bin/bash", "-c", MARK,
             "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", self.user]
        )  # fmt: skip
        pw = pwd.getpwnam(self.user)
        self.account = Account(self.user, pw.pw_uid, pw.pw_gid, home)
        self._undo.append((f"userdel {self.user}", lambda: self._remove_user(pw.pw_uid)))
        home.mkdir(mode=0o700)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        xdg = self.base / "xdg"
        xdg.mkdir(mode=0o700)
        os.chown(xdg, pw.pw_uid, pw.pw_gid)
        for path in (SUBUID, SUBGID):
            for line in lines_of(path, self.user):  # useradd's own, despite -K
                remove_line(path, line)

    def _remove_user(self, uid: int) -> None:
        kill_all(lambda u: u == uid, f"user {self.user}")
        self._run(["userdel", self.user])

    def _copy_suite(self) -> None:
        """The suite's tests/ (its links to the images kept) and the reference runc, in
        a tree the user can read; a `go` answering get-images.sh."""
        src = self.cache_suite.tree
        tree = self.base / src.name
        tree.mkdir(mode=0o755)
        shutil.copytree(src / "tests", tree / "tests", symlinks=True)
        shutil.copy2(self.cache_suite.runc, tree / "runc")
        bindir = self.base / "bin"
        bindir.mkdir(mode=0o755)
        go = bindir / "go"
        answers = {v: self._go_env(v) for v in ("GOARCH", "GOARM")}
        go.write_text(
            "#!/bin/sh\n# get-images.sh's questions, answered as the runner's go does.\n"
            f'case "$*" in\n"env GOARCH") echo {answers["GOARCH"]} ;;\n'
            f'"env GOARM") echo {answers["GOARM"]} ;;\n'
            '*) echo "go (rci_rootless): only go env GOARCH|GOARM" >&2; exit 1 ;;\nesac\n'
        )
        os.chmod(go, 0o755)
        self.suite = rci_build.Suite(
            tree=tree, runc=tree / "runc", go=str(go), info=self.cache_suite.info
        )

    def _go_env(self, var: str) -> str:
        r = subprocess.run([self.cache_suite.go, "env", var], capture_output=True, text=True)
        value = r.stdout.strip() if r.returncode == 0 else ""
        if var == "GOARCH" and not value:
            value = rci_build.goarch()
        return value or "''"

    def _base_env(self) -> dict[str, str]:
        a = self.account
        return {
            "HOME": str(a.home),
            "USER": a.name,
            "LOGNAME": a.name,
            "SHELL": "/bin/bash",
            "XDG_RUNTIME_DIR": str(self.base / "xdg"),
            "ROOTLESS_FEATURES": "+".join(self.features),
        }

    def _enable_idmap(self) -> None:
        missing = [t for t in ("newuidmap", "newgidmap") if not shutil.which(t)]
        if missing:
            raise SystemExit(
                f"rootless idmap: {' and '.join(missing)} missing: apt-get install -y uidmap"
            )
        taken = [
            (start, n)
            for path in (SUBUID, SUBGID)
            for _, start, n in subid_ranges(path.read_text() if path.exists() else "")
        ]
        ustart = free_start(taken)
        gstart = free_start(taken + [(ustart, SUBID_LENGTH)])
        self.subid_range = (ustart, SUBID_LENGTH)
        for path, start in ((SUBUID, ustart), (SUBGID, gstart)):
            line = f"{self.user}:{start}:{SUBID_LENGTH}"
            add_line(path, line)
            self._undo.append((f"{path} line {line}", self._line_remover(path, line)))
            self.notes.append(f"{path}: {line}")
        aux = Path(tempfile.mkdtemp(prefix="aux-", dir=self.base))  # 0700
        os.chown(aux, ustart - IDMAP_CONTAINER_UID + AUX_UID, -1)
        self.env.update(
            {
                "ROOTLESS_UIDMAP_START": str(ustart),
                "ROOTLESS_UIDMAP_LENGTH": str(SUBID_LENGTH),
                "ROOTLESS_GIDMAP_START": str(gstart),
                "ROOTLESS_GIDMAP_LENGTH": str(SUBID_LENGTH),
                "ROOTLESS_AUX_DIR": str(aux),
                "ROOTLESS_AUX_UID": str(AUX_UID),
            }
        )

    @staticmethod
    def _line_remover(path: Path, line: str) -> Callable[[], None]:
        def undo() -> None:
            if not remove_line(path, line):
                raise OSError(f"{path}: line {line!r} was gone already")

        return undo

    # ---- cgroup feature

    def _enable_cgroup(self) -> None:
        if (CGROUP_MOUNT / "cgroup.controllers").exists():
            self._enable_cgroup_v2()
            return
        # The pin keeps the dirs from being removed while empty (systemd hosts,
        # runc#5003); it is killed before they are removed, whatever happens here.
        pin = subprocess.Popen(["sleep", "infinity"], start_new_session=True)
        try:
            self._hand_over_v1(pin.pid)
        finally:
            self._undo.append((f"pinning sleep {pin.pid}", lambda: (pin.kill(), pin.wait())))
        self.notes.append(
            f"cgroup: /{CGROUP_PATH} in {', '.join(v1_controllers())} for group {self.user}"
        )

    def _hand_over_v1(self, pin: int) -> None:
        for cg in v1_controllers():
            d = CGROUP_MOUNT / cg / CGROUP_PATH
            if not (CGROUP_MOUNT / cg).is_dir():
                self.notes.append(f"cgroup: no {CGROUP_MOUNT / cg}, skipped")
                continue
            self._mkdir_cgroup(d)
            with contextlib.suppress(
                OSError
            ):  # cpuset: ENOSPC before cpus/mems (rootless.sh: || true)
                (d / "cgroup.procs").write_text(str(pin))
            for p in (d, d / "cgroup.procs", d / "tasks"):
                self._chown(p, 0, self.account.gid, 0o070)
            owned = []
            if cg == "cpuset":
                owned = ["cpuset.cpus", "cpuset.mems"]
            elif cg == "cpu":
                owned = [f for f in ("cpu.rt_period_us", "cpu.rt_runtime_us") if (d / f).exists()]
            for f in owned:
                self._chown(d / f, self.account.uid, self.account.gid, 0)

    def _enable_cgroup_v2(self) -> None:
        root = CGROUP_MOUNT
        wanted = (root / "cgroup.controllers").read_text().split()
        before = set((root / "cgroup.subtree_control").read_text().split())
        added = []
        for c in wanted:
            if c in before:
                continue
            try:
                (root / "cgroup.subtree_control").write_text(f"+{c}")
                added.append(c)
            except OSError as e:  # as rootless.sh: some may fail
                self.notes.append(f"cgroup v2: +{c} not enabled ({e.strerror})")

        def disable() -> None:
            for c in reversed(added):
                with contextlib.suppress(OSError):
                    (root / "cgroup.subtree_control").write_text(f"-{c}")

        self._undo.append(("cgroup.subtree_control", disable))
        d = root / CGROUP_PATH
        self._mkdir_cgroup(d)
        for p in (d, d / "cgroup.subtree_control", d / "cgroup.procs", root / "cgroup.procs"):
            self._chown(p, 0, self.account.gid, 0o060 | (0o010 if p.is_dir() else 0))
        self.notes.append(f"cgroup v2: {d} for group {self.user}")

    def _mkdir_cgroup(self, d: Path) -> None:
        if d.exists():
            self.notes.append(f"cgroup {d} existed already (kept)")
            return
        d.mkdir()
        self._undo.append((f"rmdir {d}", lambda: d.rmdir()))

    def _chown(self, p: Path, uid: int, gid: int, add_mode: int) -> None:
        """chown (and add mode bits), and put both back at teardown."""
        st = p.stat()
        old = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))

        def restore() -> None:
            if p.exists():
                os.chown(p, old[0], old[1])
                os.chmod(p, old[2])

        self._undo.append((f"owner of {p}", restore))
        os.chown(p, uid, gid)
        if add_mode:
            os.chmod(p, old[2] | add_mode)

    # ---- per file

    def reachable(self, runtimes: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        """(label, path, runc-named path) with the last one the user can execute: the
        cache's reference runc is the copy's; another runtime the user cannot reach is
        copied (as `runc`) into the session's dir, and said so."""
        out = []
        for label, path, runc_path in runtimes:
            cache_runc = str(self.cache_suite.runc)
            if os.path.realpath(runc_path) == os.path.realpath(cache_runc):
                runc_path = str(self.suite.runc)
            elif not self._user_can_exec(runc_path):
                d = self.base / "runtimes" / label
                d.mkdir(parents=True, mode=0o755)
                shutil.copy2(os.path.realpath(runc_path), d / "runc")
                self.notes.append(f"{label}: {runc_path} is not reachable by {self.user}: copied")
                runc_path = str(d / "runc")
            out.append((label, path, runc_path))
        return out

    def _user_can_exec(self, path: str) -> bool:
        r = subprocess.run(["test", "-x", path], **self.popen_user(), stdin=subprocess.DEVNULL)
        return r.returncode == 0

    def popen_user(self) -> dict:
        a = self.account
        return {"user": a.uid, "group": a.gid, "extra_groups": []}

    def enter_file(self, tmpdir: Path, env: dict[str, str]) -> dict:
        """Before a file: its TMPDIR the user's, the environment rootless.sh gives bats
        (`sudo -HE -u rootless`: the caller's, HOME the user's) in `env`; returns
        Popen's keywords that run bats as the user."""
        os.chown(tmpdir, self.account.uid, self.account.gid)
        for k in DROP_ENV:
            env.pop(k, None)
        env.update(self.env)
        return self.popen_user()

    def _session_uid(self, uid: int) -> bool:
        if uid == self.account.uid:
            return True
        if self.subid_range is not None:
            start, count = self.subid_range
            return start <= uid < start + count
        return False

    def cleanup_file(self, runtime: str) -> list[str]:
        """After a file (after rci_host.cleanup): the user's containers left in its
        XDG state roots (the runtime's default root when rootless: force-deleted by
        it) and its processes (killed)."""
        notes = []
        for root in sorted((self.base / "xdg").glob("*")):
            if not root.is_dir():
                continue
            for cid in list_ids(runtime, str(root)):
                ok = force_delete(runtime, str(root), cid)
                done = "force-deleted" if ok else "force-delete FAILED"
                notes.append(f"container {cid} in {root} ({done})")
        notes += kill_all(self._session_uid, f"user {self.user}")
        return notes

    # ---- teardown

    def close(self) -> None:
        """Undo every setup step, last first; what could not be undone is noted, and
        the user's absence and the sub-id files are checked."""
        if hasattr(self, "account"):
            self.teardown_notes += kill_all(self._session_uid, f"user {self.user}")
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except (OSError, SystemExit, subprocess.SubprocessError) as e:
                self.teardown_notes.append(f"teardown: {what}: {e} (left)")
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam(self.user)
            if pw.pw_gecos == MARK:
                self.teardown_notes.append(f"user {self.user} (uid {pw.pw_uid}) still there")
        for path in (SUBUID, SUBGID):
            for line in lines_of(path, self.user):
                self.teardown_notes.append(f"{path} still has {line!r}")

    def meta(self) -> dict:
        a = self.account
        return {
            "features": features_word(self.features),
            "user": a.name,
            "uid": a.uid,
            "gid": a.gid,
            "env": {k: v for k, v in self.env.items() if k.startswith("ROOTLESS_")},
            "setup": self.notes,
            "teardown": self.teardown_notes,
        }


def v1_controllers(proc_cgroup: str | None = None) -> list[str]:
    """rootless.sh's ALL_CGROUPS: the v1 hierarchies of /proc/self/cgroup, `name=`
    stripped, co-mounted ones split (cpu,cpuacct -> cpu, cpuacct)."""
    if proc_cgroup is None:
        proc_cgroup = Path("/proc/self/cgroup").read_text()
    out: list[str] = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 3 or not parts[1]:
            continue
        for c in parts[1].split(","):
            c = c.removeprefix("name=")
            if c and c not in out:
                out.append(c)
    return out


def list_ids(runtime: str, root: str) -> list[str]:
    import rci_host

    if not runtime:
        return []
    return [str(c.get("id")) for c in rci_host.list_containers(runtime, root) or []]


def force_delete(runtime: str, root: str, cid: str) -> bool:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        r = subprocess.run(
            [runtime, "--root", root, "delete", "--force", cid],
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        return r.returncode == 0
    return False
