"""Write a fast `pyrunc` launcher: `python3 -m pyrunc.launcher [PATH]`.

PATH defaults to /usr/local/bin/pyrunc.

A console script starts Python with `site`, which reads every .pth file of the
environment (10-30 ms here) before pyrunc runs a line; a runtime pays that on each of
the several calls a container's life takes. The launcher runs the same interpreter
with -I -S (isolated: no site, no PYTHON* variables from the engine's environment, no
cwd on sys.path) and puts only pyrunc's own location on sys.path.
"""

from __future__ import annotations

import os
import sys

DEFAULT_PATH = "/usr/local/bin/pyrunc"


def launcher_text(python: str, package_parent: str) -> str:
    return (
        f"#!{python} -IS\n"
        "# pyrunc launcher written by `python3 -m pyrunc.launcher`: see pyrunc/launcher.py.\n"
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from pyrunc.cli.main import main\n"
        "sys.exit(main())\n"
    )


def write_launcher(path: str = DEFAULT_PATH) -> str:
    import pyrunc

    parent = os.path.dirname(os.path.dirname(os.path.abspath(pyrunc.__file__)))
    python = os.path.realpath(sys.executable)  # never a shim: it would cost its own start-up
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(python, parent))
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)
    return path


if __name__ == "__main__":
    print(write_launcher(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH))
