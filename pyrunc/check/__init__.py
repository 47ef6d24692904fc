"""`pyrunc check`: everything wrong with a bundle, and with this host for it, at once.

run() reads config.json and lets every check look at it: the schema and the
semantic rules create applies (all problems, not the first), the rootfs (cwd,
args[0]) and the host (namespaces, cgroups, seccomp, LSMs, rlimits, ...), for
only what the bundle asks. Nothing is created: no state dir, cgroup or mount.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pyrunc.check.findings import ERROR, GROUPS, HOST, OK, WARNING, Finding, error
from pyrunc.options import DEFAULTS, RuntimeOptions


@dataclass
class Report:
    bundle: str
    checks: list[Finding] = field(default_factory=list)  # every verdict, passed ones too

    @property
    def findings(self) -> list[Finding]:
        return [f for f in self.checks if f.severity != OK]

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.checks)

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "bundle": self.bundle,
            "errors": self.count(ERROR),
            "warnings": self.count(WARNING),
            "findings": [f.to_json() for f in self.findings],
            "checks": [f.to_json() for f in self.checks],
        }


def run(bundle: str, options: RuntimeOptions = DEFAULTS) -> Report:
    """Every check of the bundle dir `bundle` for a runtime with these options (its
    state root, and the modes create would run the bundle in)."""
    from pyrunc.check import doc, host

    bundle = os.path.abspath(bundle)
    report = Report(bundle)
    config, unreadable = doc.read(bundle)
    if unreadable is not None:
        report.checks = [unreadable, *_guarded("state root", lambda: host.state_root(options.root))]
    else:
        assert config is not None
        report.checks = check_document(config, bundle, options.root, options)
    return report


def check_document(
    config: dict[str, Any],
    bundle: str,
    state_root: str,
    options: RuntimeOptions = DEFAULTS,
) -> list[Finding]:
    """The findings for a parsed config.json of bundle dir `bundle`, grouped: for a
    runtime whose state root is `state_root`, in the modes of `options`."""
    from pyrunc.check import bundle as bundle_checks
    from pyrunc.check import cgroups, host, rootfs, rootless

    steps: list[tuple[str, Callable[[], Iterable[Finding]]]] = [
        ("schema", lambda: bundle_checks.schema(config)),
        ("semantics", lambda: bundle_checks.semantics(config, bundle)),
        ("rootfs", lambda: rootfs.check(config, bundle)),
        ("namespaces", lambda: host.namespaces(config)),
        ("user", lambda: host.user(config)),
        ("rootless", lambda: rootless.check(config, options)),
        ("cgroups", lambda: cgroups.check(config, options.systemd_cgroup)),
        ("seccomp", lambda: host.seccomp(config)),
        ("idmapped mounts", lambda: host.idmapped_mounts(config)),
        ("LSMs", lambda: host.lsm(config)),
        ("rlimits", lambda: host.rlimits(config)),
        ("capabilities", lambda: host.capabilities(config)),
        ("mount sources", lambda: host.bind_sources(config, bundle)),
        ("hooks", lambda: host.hooks(config)),
        ("/proc view", lambda: host.procfs_view(config, options.procfs_view)),
        ("Intel RDT", lambda: host.intel_rdt(config)),
        ("state root", lambda: host.state_root(state_root)),
    ]
    found = [f for name, step in steps for f in _guarded(name, step)]
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(found, key=lambda f: order[f.group])  # stable: each group keeps its order


def _guarded(name: str, step: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """A check that breaks on an odd document is one error, not the end of the report."""
    try:
        return list(step())
    except Exception as e:  # noqa: BLE001
        return [
            error(
                HOST,
                "",
                f"the {name} check failed: {type(e).__name__}: {e}",
                "report this as a pyrunc bug, with the config.json",
            )
        ]
