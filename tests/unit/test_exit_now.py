"""cli.main.exit_now, the entry points' exit without the interpreter's teardown: what
was written is flushed, the status is kept, a closed stdout gives CPython's 120."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code: str, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    script = f"import sys; sys.path.insert(0, {REPO!r})\n{code}"
    return subprocess.run([sys.executable, "-IS", "-c", script], timeout=60, **kw)


def test_buffered_output_is_flushed_and_the_status_kept() -> None:
    out = _python(
        "from pyrunc.cli.main import exit_now\n"
        "sys.stdout.write('out' * 1000)\n"
        "sys.stderr.write('err')\n"
        "exit_now(3)\n",
        capture_output=True,
        text=True,
    )
    assert (out.returncode, out.stdout, out.stderr) == (3, "out" * 1000, "err")


def test_a_closed_pipe_gives_120_without_a_traceback() -> None:
    r, w = os.pipe()
    os.close(r)  # the reader is gone: the flush fails with EPIPE
    try:
        out = _python(
            "import signal; signal.signal(signal.SIGPIPE, signal.SIG_IGN)\n"
            "from pyrunc.cli.main import exit_now\n"
            "sys.stdout.write('x' * 100)\n"
            "exit_now(0)\n",
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(w)
    assert out.returncode == 120 and "Traceback" not in out.stderr, out.stderr


def test_every_entry_point_exits_through_it() -> None:
    from pyrunc.launcher import launcher_text

    assert launcher_text("/usr/bin/python3", "/x").endswith("exit_now(main())\n")
    for path in ("pyrunc/__main__.py", "bin/pyrunc"):
        with open(os.path.join(REPO, path)) as f:
            assert "exit_now(main())" in f.read(), path
