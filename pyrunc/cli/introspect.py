"""Subcommands that describe the runtime: features, spec."""

from __future__ import annotations

import os
import sys

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.cli import args as argparse  # argparse's API, a fraction of its import cost
from pyrunc.cli import flagtexts as texts
from pyrunc.cli.log import Log
from pyrunc.errors import PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

HOOKS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


# Help texts: runc's (features.go, spec.go).
_FEATURES_DESCRIPTION = """Show the enabled features.
   The result is parsable as a JSON.
   See https://github.com/opencontainers/runtime-spec/blob/main/features.md for the type definition.
"""  # noqa: E501 - runc's text

_SPEC_DESCRIPTION = """The spec command creates the new specification file named "config.json" for
the bundle.

The spec generated is just a starter file. Editing of the spec is required to
achieve desired results. For example, the newly generated spec includes an args
parameter that is initially set to call the "sh" command when the container is
started. Calling "sh" may work for an ubuntu container or busybox, but will not
work for containers that do not include the "sh" program.

EXAMPLE:
  To run docker's hello-world container one needs to set the args parameter
in the spec to call hello. This can be done using the sed command or a text
editor. The following commands create a bundle for hello-world, change the
default args parameter in the spec from "sh" to "/hello", then run the hello
command in a new hello-world container named container1:

    mkdir hello
    cd hello
    docker pull hello-world
    docker export $(docker create hello-world) > hello-world.tar
    mkdir rootfs
    tar -C rootfs -xf hello-world.tar
    %(name)s spec
    sed -i 's;"sh";"/hello";' config.json
    %(name)s run container1

In the run command above, "container1" is the name for the instance of the
container that you are starting. The name you provide for the container instance
must be unique on your host.

An alternative for generating a customized spec config is to use "oci-runtime-tool", the
sub-command "oci-runtime-tool generate" has lots of options that can be used to do any
customizations as you want, see runtime-tools (https://github.com/opencontainers/runtime-tools)
to get more information.

When starting a container through %(name)s, %(name)s needs root privilege. If not
already running as root, you can use sudo to give %(name)s root privilege. For
example: "sudo %(name)s start container1" will give %(name)s root privilege to start the
container on your host.

Alternatively, you can start a rootless container, which has the ability to run
without root privileges. For this to work, the specification file needs to be
adjusted accordingly. You can pass the parameter --rootless to this command to
generate a proper rootless spec file.

Note that --rootless is not needed when you execute %(name)s as the root in a user namespace
created by an unprivileged user.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features", help="show the enabled features", description=_FEATURES_DESCRIPTION
    )
    p.set_defaults(handler=cmd_features)

    p = sub.add_parser(
        "spec", help="create a new specification file", description=_SPEC_DESCRIPTION
    )
    p.add_argument("--bundle", "-b", default=".", default_text="", help=texts.BUNDLE)
    # dest: the global --rootless flag has its own
    p.add_argument(
        "--rootless",
        dest="spec_rootless",
        action="store_true",
        help="generate a configuration for a rootless container",
    )
    p.set_defaults(handler=cmd_spec)


def cmd_spec(args: argparse.Namespace, log: Log) -> int:
    from pyrunc.spec.example import example

    path = os.path.join(args.bundle, "config.json")
    if os.path.lexists(path):
        raise PyruncError(f"--bundle: {path} exists, remove it first")  # runc refuses too
    data = json.dumps(example(args.spec_rootless), indent="\t") + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise PyruncError(f"--bundle: open {path}: {(e.strerror or str(e)).lower()}") from None
    with os.fdopen(fd, "w") as f:
        f.write(data)
    return 0


def cmd_features(args: argparse.Namespace, log: Log) -> int:
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0


def features() -> dict[str, Any]:
    """What this runtime applies (runc's meaning: its abilities, not this host's),
    except seccomp's supportedFlags: the flags this kernel takes (runc asks too).

    A field is listed as supported only when a config using it is applied (where the
    host can; create refuses it by name where not): docs/spec-coverage.md says which,
    and tests/test_cli_misc.py checks that the two agree.
    """
    from pyrunc import __version__
    from pyrunc.container.container import SPEC_VERSION

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": HOOKS,
        "mountOptions": _mount_options(),
        "linux": {
            "namespaces": _namespaces(),
            "capabilities": _capabilities(),
            # v1 (with the hybrid layout) and v2 managers; --systemd-cgroup maps
            # slice:prefix:name onto cgroupfs without talking to systemd: no driver.
            "cgroup": {
                "v1": True,
                "v2": True,
                "systemd": False,
                "systemdUser": False,
                "rdma": True,  # rdma.max, v1 and v2 (refused where not mounted)
            },
            "seccomp": _seccomp(),
            "apparmor": {"enabled": _lsm("apparmor_enabled")},
            "selinux": {"enabled": _lsm("selinux_enabled")},
            # resctrl groups (linux/intelrdt.py): schemata lines, MON groups.
            "intelRdt": {"enabled": True, "schemata": True, "monitoring": True},
            "memoryPolicy": _memory_policy(),
            # idmap/ridmap and per-mount uidMappings/gidMappings (mount_setattr).
            "mountExtensions": {"idmap": {"enabled": True}},
            # Host interfaces moved in over netlink (linux/netdevices.py).
            "netDevices": {"enabled": True},
        },
        "annotations": {"io.github.pyrunc.version": __version__},
        # Annotations of config.json that change what the runtime does.
        "potentiallyUnsafeConfigAnnotations": [PROCFS_VIEW_ANNOTATION],
    }


# pyrunc.linux.procfs_view.ANNOTATION; not imported from there, for import cost
# (tests/test_cli_misc.py checks they agree).
PROCFS_VIEW_ANNOTATION = "run.pyrunc.procfs-view"


def _memory_policy() -> dict[str, list[str]]:
    from pyrunc.linux import mempolicy

    return {"modes": sorted(mempolicy.MODES), "flags": sorted(mempolicy.FLAGS)}


def _mount_options() -> list[str]:
    from pyrunc.linux import mount_options

    # The flag table is the parser's own: every option listed is one it applies.
    names = set(mount_options.FLAG_OPTIONS) | set(mount_options.PROPAGATION_OPTIONS)
    names |= set(mount_options.RECURSIVE_OPTIONS) | {"bind", "tmpcopyup"}
    return sorted(names)


def _namespaces() -> list[str]:
    from pyrunc.linux.namespaces import NS_FLAGS, PROC_NAMES

    return [t for t in NS_FLAGS if os.path.exists(f"/proc/self/ns/{PROC_NAMES[t]}")]


def _capabilities() -> list[str]:
    from pyrunc.linux.capabilities import last_cap
    from pyrunc.spec.capnames import CAPABILITIES

    return list(CAPABILITIES[: last_cap() + 1])


def _seccomp() -> dict[str, Any]:
    from pyrunc.linux import seccomp

    return seccomp.features(_spec_archs())


def _spec_archs() -> list[str]:
    from pyrunc.spec.validate import schema_document

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            enum = node.get("enum")
            if isinstance(enum, list) and "SCMP_ARCH_X86_64" in enum:
                found.extend(enum)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema_document("linux.json"))
    return found


def _lsm(probe: str) -> bool:
    from pyrunc.linux import lsm

    return bool(getattr(lsm, probe)())
