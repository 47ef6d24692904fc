"""The README's Python API example: a bundle from a root filesystem, a container with a
64 MiB memory limit, its stats, a process exec'd into it, errors, delete; then `run`.

    python3 examples/api_demo.py [--rootfs DIR] [--root STATE_ROOT] [--workdir DIR]

Without --rootfs a busybox root filesystem is built (tools/busybox_bundle.py). As root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import pyrunc
from pyrunc.errors import InvalidState, PyruncError

MiB = 1 << 20


def demo(rootfs: str, workdir: str, root: str) -> None:
    # 1. A bundle: config.json as `pyrunc spec` writes it, with these changes.
    bundle = pyrunc.Bundle.create(
        os.path.join(workdir, "bundle"),
        rootfs=rootfs,
        args=["sleep", "60"],
        hostname="api-demo",
        env=["GREETING=hello"],
        memory_limit=64 * MiB,
    )
    print("bundle:", bundle.config_path)

    # 2. Create and start it; state() is the OCI state document.
    c = pyrunc.Container.create("api-demo", bundle.path, root=root)
    c.start()
    state = c.state()
    print("state:", state["status"], "pid", state["pid"])

    # 3. Stats: `pyrunc events --stats` data, with the limit the cgroup enforces.
    stats = c.stats()
    memory = stats["memory"]["usage"]
    print("memory limit:", memory["limit"], f"({memory['limit'] // MiB} MiB)")
    print("memory usage:", memory.get("usage", 0), "bytes; pids:", stats["pids"].get("current"))

    # 4. A process in the running container; its output through a pipe.
    read_end, write_end = os.pipe()
    status = c.exec(["sh", "-c", 'echo "$GREETING from $(hostname)"; exit 7'], stdout=write_end)
    os.close(write_end)
    with os.fdopen(read_end) as out:
        print("exec:", out.read().strip(), "-> exit status", status)

    # 5. Errors are exceptions carrying the CLI's message.
    try:
        c.delete()
    except InvalidState as e:
        print(f"error: {type(e).__name__}: {e}")

    # 6. Stop and delete: nothing left behind.
    c.kill("KILL")
    print("wait:", c.wait())
    c.delete()
    print("still listed:", any(x.id == "api-demo" for x in pyrunc.Container.list(root)))

    # 7. run = create + start + wait + delete, returning the exit status.
    bundle.config["process"]["args"] = ["sh", "-c", "exit 3"]
    bundle.save()
    print("run:", pyrunc.Container.run("api-demo-run", bundle.path, root=root))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rootfs", help="a root filesystem directory (default: busybox)")
    p.add_argument("--root", default="/run/pyrunc", help="state root")
    p.add_argument("--workdir", help="where the bundle goes (default: a new temp dir)")
    ns = p.parse_args()
    workdir = ns.workdir or tempfile.mkdtemp(prefix="pyrunc-api-demo-")
    try:
        demo(ns.rootfs or _busybox_rootfs(workdir), workdir, ns.root)
    except PyruncError as e:
        print(f"pyrunc: {e}", file=sys.stderr)
        return 1
    finally:
        if ns.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _busybox_rootfs(workdir: str) -> str:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tools.busybox_bundle import make_rootfs

    return make_rootfs(os.path.join(workdir, "rootfs"))


if __name__ == "__main__":
    sys.exit(main())
