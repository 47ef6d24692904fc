#!/usr/bin/env bash
# readable-runtime.sh RUNTIME USER DIR - print a pyrunc USER can run: RUNTIME itself when
# USER can, else a readable copy of the same code made under DIR (DIR/tree, removed by
# the caller with DIR). Exit 2, saying why, when neither works.
#
# For the suites that run pyrunc as an unprivileged user (rootless podman, runc's bats
# rootless) from a tree that user may not enter: CI's clone is a 0700 directory, and the
# launcher scripts/install.sh writes imports from it. The copy holds pyrunc/ and spec/ of
# the tree the installing python3 imports (asked from /, not from the cwd), run by the
# system's python3 (the lifecycle needs nothing outside the standard library).
set -euo pipefail
runtime=$1 user=$2 dir=$3

as_user() { timeout -k 5 60 runuser -u "$user" -- env -i -C / PATH=/usr/bin:/bin "$@"; }

if out=$(as_user "$runtime" --version 2>&1); then
    echo "$runtime"
    exit 0
fi
tree=$("$runtime" --version >/dev/null 2>&1 && cd / &&
    python3 -I -c 'import os, pyrunc; print(os.path.dirname(os.path.dirname(pyrunc.__file__)))' \
        2>/dev/null) || tree=
if [[ -z $tree || ! -d $tree/pyrunc ]]; then
    echo "$user cannot run $runtime: $out" >&2
    exit 2
fi
copy=$dir/tree
mkdir -p "$copy/bin"
cp -r "$tree/pyrunc" "$tree/spec" "$copy/"
find "$copy" -name __pycache__ -prune -exec rm -rf {} +
chmod -R a+rX "$dir"
printf '#!/usr/bin/python3 -IS\nimport sys\nsys.path.insert(0, %s)\nfrom pyrunc.cli.main import main\nsys.exit(main())\n' \
    "'$copy'" >"$copy/bin/pyrunc"
chmod 755 "$copy/bin/pyrunc"
if ! out=$(as_user "$copy/bin/pyrunc" --version 2>&1); then
    echo "$user cannot run a readable copy of $tree either: $out" >&2
    exit 2
fi
echo "$user cannot run $runtime; a readable copy of $tree: $copy/bin/pyrunc" >&2
echo "$copy/bin/pyrunc"
