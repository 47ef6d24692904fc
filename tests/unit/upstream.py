"""Where the upstream runtime-spec schema is (for differential tests; never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# config-schema.json's other platforms' sections.
NON_LINUX = ("windows", "solaris", "vm", "zos", "freebsd")


def upstream_schema_dir() -> Path | None:
    """The runtime-spec's `schema/`, from PYRUNC_OCI_SPEC_DIR or ../shared beside the repo."""
    env = os.environ.get("PYRUNC_OCI_SPEC_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "oci-runtime-spec"
    for folder in (base / "schema", base):
        if (folder / "config-schema.json").is_file():
            return folder
    return None
