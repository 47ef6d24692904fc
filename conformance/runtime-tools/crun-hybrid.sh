#!/bin/sh
# crun-hybrid.sh - run crun (1.8.x, as in Debian 12) on this kind of host.
#
# 1. Hybrid cgroups.  On a host with cgroup v1 controllers under
#    /sys/fs/cgroup/<name> plus a cgroup2 tree at /sys/fs/cgroup/unified that
#    has controllers of its own (here: hugetlb), crun refuses to run:
#        cgroups in hybrid mode not supported, drop all controllers from cgroupv2
#    So crun runs in a private mount namespace (propagation slave: nothing done
#    inside leaks back to the caller) in which an empty file is bind-mounted
#    over /sys/fs/cgroup/unified/cgroup.controllers; crun then sees no v2
#    controllers and uses the v1 hierarchies.  The host's own mounts are never
#    changed.  Every invocation (create, start, state, kill, delete) gets its
#    own namespace; crun's state under /run/crun is not a mount and is shared.
#
# 2. ociVersion.  crun 1.8.1 accepts configs of runtime-spec 1.0.x and 1.1.x
#    only ("unknown version specified"), while runtime-tools writes 1.3.0.  For
#    `create` and `run`, when the bundle's config.json says 1.2 or later, crun
#    is given (with its own --config option) a copy whose ociVersion is
#    $CRUN_HYBRID_OCIVERSION (default 1.1.0); the bundle is not touched.  Set
#    CRUN_HYBRID_OCIVERSION= (empty) to turn this off.
#
# Use the absolute path of this script as the runtime, e.g.
#     RUNTIME=/path/to/crun-hybrid.sh
# CRUN (default: crun from PATH) names the crun binary to run.
set -eu

if [ "${CRUN_HYBRID_INNER:-}" != 1 ]; then
    CRUN_HYBRID_INNER=1 exec unshare --mount --propagation slave -- "$0" "$@"
fi
unset CRUN_HYBRID_INNER

controllers=/sys/fs/cgroup/unified/cgroup.controllers
# (cgroupfs files report size 0, so test for existence, not with -s.)
if [ -e "$controllers" ]; then
    empty=$(mktemp "${TMPDIR:-/tmp}/crun-hybrid.XXXXXX")
    mount --bind "$empty" "$controllers"
    # The bind mount keeps the (now unlinked) inode alive.
    rm -f "$empty"
fi

crun=${CRUN:-crun}
want=${CRUN_HYBRID_OCIVERSION-1.1.0}

# Find the subcommand (the first word that is not a global option).
sub=
n=0
skip=0
for a in "$@"; do
    n=$((n + 1))
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case $a in
        --root | --log | --log-format | --cgroup-manager) skip=1 ;;
        -*) ;;
        *) sub=$a; break ;;
    esac
done

case $sub in
    create | run) ;;
    *) exec "$crun" "$@" ;;
esac
[ -n "$want" ] || exec "$crun" "$@"

# The bundle and an explicit --config, if any, from the subcommand's options.
bundle=.
config=
skip=
i=0
for a in "$@"; do
    i=$((i + 1))
    [ "$i" -gt "$n" ] || continue
    if [ -n "$skip" ]; then
        eval "$skip=\$a"
        skip=
        continue
    fi
    case $a in
        --bundle=*) bundle=${a#--bundle=} ;;
        --bundle | -b) skip=bundle ;;
        -b*) bundle=${a#-b} ;;
        --config=*) config=${a#--config=} ;;
        --config | -f) skip=config ;;
        -f*) config=${a#-f} ;;
    esac
done
[ -n "$config" ] && exec "$crun" "$@"

cfg=$bundle/config.json
if ! grep -Eq '"ociVersion"[[:space:]]*:[[:space:]]*"1\.([2-9]|[1-9][0-9])' "$cfg" 2>/dev/null; then
    exec "$crun" "$@"
fi

copy=$(mktemp "${TMPDIR:-/tmp}/crun-hybrid-config.XXXXXX")
trap 'rm -f "$copy"' EXIT
sed -E "s/(\"ociVersion\"[[:space:]]*:[[:space:]]*)\"[^\"]*\"/\\1\"$want\"/" "$cfg" >"$copy"

# Put --config=COPY right after the subcommand.
i=0
for a in "$@"; do
    i=$((i + 1))
    if [ "$i" -eq 1 ]; then set --; fi
    set -- "$@" "$a"
    if [ "$i" -eq "$n" ]; then set -- "$@" "--config=$copy"; fi
done

rc=0
"$crun" "$@" || rc=$?
exit "$rc"
