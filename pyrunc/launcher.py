"""Write a fast `pyrunc` launcher: `python3 -m pyrunc.launcher [PATH]`.

PATH defaults to /usr/local/bin/pyrunc.

A console script starts Python with `site`, which reads every .pth file of the
environment (10-30 ms here) before pyrunc runs a line; a runtime pays that on each of
the several calls a container's life takes. The launcher runs the same interpreter
with -I -S (isolated: no site, no PYTHON* variables from the engine's environment, no
cwd on sys.path) and puts only pyrunc's own location on sys.path.

Nothing outside the standard library is imported on the lifecycle path, so the
launcher may use another build of the same Python version: a distribution's
`/usr/bin/python3.X` (built with PGO and LTO) starts ~1.3 ms sooner and runs pyrunc
~15% faster here than a plain source build such as pyenv's. Same major.minor means the
same bytecode cache. `--python PATH` chooses explicitly.

The few paths that do need a dependency (pyroute2 for linux.netDevices) import it
lazily: the site-packages of the installing interpreter go at the end of sys.path,
after the standard library, so they cost nothing until such an import (no .pth file is
read: that is what site would do at every start).
"""

from __future__ import annotations

import os
import sys

DEFAULT_PATH = "/usr/local/bin/pyrunc"


def launcher_text(python: str, package_parent: str, dependencies: tuple[str, ...] = ()) -> str:
    """dependencies: directories of pyrunc's installed dependencies, searched last."""
    extra = "".join(f"sys.path.append({d!r})\n" for d in dependencies if d != package_parent)
    return (
        f"#!{python} -IS\n"
        "# pyrunc launcher written by `python3 -m pyrunc.launcher`: see pyrunc/launcher.py.\n"
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        f"{extra}"
        "from pyrunc.cli.main import exit_now, main\n"
        "exit_now(main())\n"
    )


def dependency_dirs() -> tuple[str, ...]:
    """Where this interpreter's pip put pyrunc's dependencies (purelib, platlib)."""
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = dict.fromkeys(os.path.realpath(paths[k]) for k in ("purelib", "platlib"))
    return tuple(d for d in dirs if os.path.isdir(d))


def same_version_system_python() -> str | None:
    """The distribution's build of the running Python version, if there is one."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        if os.access(candidate, os.X_OK) and _reports_version(candidate, version):
            return os.path.realpath(candidate)
    return None


def _reports_version(python: str, version: str) -> bool:
    import subprocess

    probe = "import sys, ctypes, _json; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run(
            [python, "-IS", "-c", probe], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def write_launcher(path: str = DEFAULT_PATH, python: str | None = None) -> str:
    import pyrunc

    parent = os.path.dirname(os.path.dirname(os.path.abspath(pyrunc.__file__)))
    # Never a shim (pyenv's would cost its own start-up): a real interpreter binary.
    python = python or same_version_system_python() or os.path.realpath(sys.executable)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(python, parent, dependency_dirs()))
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)
    return path


def _main(argv: list[str]) -> int:
    python = None
    if argv[:1] == ["--python"] and len(argv) >= 2:
        python, argv = argv[1], argv[2:]
    print(write_launcher(argv[0] if argv else DEFAULT_PATH, python))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
