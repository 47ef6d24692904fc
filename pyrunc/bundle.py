"""Bundle: an OCI bundle directory (config.json and a root filesystem) built from Python.

    b = Bundle.create("/tmp/web", rootfs="/srv/busybox", args=["httpd", "-f"],
                      memory_limit=64 << 20)
    b.config["process"]["env"].append("MODE=test")   # any other change, as a dict
    b.save()

The config starts as `pyrunc spec` writes it (runc's example), with the changes asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from pyrunc.errors import ConfigError, InvalidArgument

CONFIG = "config.json"


class Bundle:
    """A bundle directory and its config, a dict in config.json's own shape."""

    def __init__(self, path: str, config: dict[str, Any]) -> None:
        self.path = os.path.abspath(path)
        self.config = config

    @classmethod
    def create(
        cls,
        path: str,
        *,
        rootfs: str | None = None,
        args: Sequence[str] = ("sh",),
        env: Sequence[str] = (),
        cwd: str = "/",
        hostname: str | None = None,
        memory_limit: int | None = None,
        pids_limit: int | None = None,
        terminal: bool = False,
        readonly: bool = True,
    ) -> Bundle:
        """Write path/config.json for the root filesystem `rootfs` (a directory; default
        path/rootfs). env is added to the default PATH and TERM; memory_limit is in bytes.
        An existing config.json is refused (as `pyrunc spec` does): remove it first."""
        from pyrunc.spec.example import example

        bundle = cls(path, example())
        root = _root_path(bundle.path, rootfs)
        if os.path.lexists(bundle.config_path):
            raise InvalidArgument(f"bundle: {bundle.config_path} exists, remove it first")
        cfg = bundle.config
        cfg["root"] = {"path": root, "readonly": readonly}
        cfg["process"].update(
            args=_strings("args", args, non_empty=True),
            env=cfg["process"]["env"] + _strings("env", env),
            cwd=_absolute("cwd", cwd),
            terminal=bool(terminal),
        )
        if hostname is not None:
            cfg["hostname"] = hostname
        resources = cfg["linux"].setdefault("resources", {})
        if memory_limit is not None:
            resources["memory"] = {"limit": _positive("memory_limit", memory_limit)}
        if pids_limit is not None:
            resources["pids"] = {"limit": _positive("pids_limit", pids_limit)}
        os.makedirs(bundle.path, exist_ok=True)
        return bundle.save()

    @classmethod
    def load(cls, path: str) -> Bundle:
        """An existing bundle; its config.json is read, not validated (create does that)."""
        config_path = os.path.join(path, CONFIG)
        try:
            with open(config_path, "rb") as f:
                config = json.load(f)
        except OSError as e:
            reason = (e.strerror or str(e)).lower()
            raise ConfigError(f"open {config_path}: {reason}") from None
        except ValueError as e:
            raise ConfigError(f"{config_path}: invalid JSON: {e}") from None
        if not isinstance(config, dict):
            raise ConfigError(f"{config_path}: expected a JSON object")
        return cls(path, config)

    @property
    def config_path(self) -> str:
        return os.path.join(self.path, CONFIG)

    @property
    def rootfs(self) -> str:
        """The root filesystem's path (root.path, relative to the bundle or absolute)."""
        return os.path.join(self.path, self.config.get("root", {}).get("path", "rootfs"))

    def save(self) -> Bundle:
        """Write config.json (whole, replacing the old one in one rename)."""
        from pyrunc.container.store import write_atomic

        data = (json.dumps(self.config, indent="\t") + "\n").encode()
        write_atomic(self.config_path, data, 0o644)
        return self

    def __repr__(self) -> str:
        return f"Bundle({self.path!r})"


def _root_path(bundle: str, rootfs: str | None) -> str:
    """root.path: relative when the rootfs is inside the bundle, as `runc spec` writes it."""
    full = os.path.abspath(rootfs) if rootfs is not None else os.path.join(bundle, "rootfs")
    if not os.path.isdir(full):
        raise InvalidArgument(f"rootfs: {full} is not a directory")
    if os.path.dirname(full) == bundle:
        return os.path.basename(full)
    return full


def _strings(name: str, value: Sequence[str], non_empty: bool = False) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{name}: expected a list of strings")
    if non_empty and not value:
        raise InvalidArgument(f"{name}: expected a non-empty list")
    return list(value)


def _absolute(name: str, path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidArgument(f"{name}: must be an absolute path, got {path!r}")
    return path


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidArgument(f"{name}: must be a positive integer, got {value!r}")
    return value
