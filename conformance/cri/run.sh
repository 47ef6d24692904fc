#!/bin/bash
# run.sh [RUNTIME] - Kubernetes' way in: pods and containers through containerd's
# CRI plugin (the gRPC API kubelet calls), with RUNTIME as the runtime handler
# `pyrunc` and runc as the handler `runc`, side by side (CRI_HANDLERS="pyrunc" for
# pyrunc alone).
#
# RUNTIME: as for the engine suites (empty or "pyrunc": the installed pyrunc; a
# path).  A private containerd 1.6 (own config, root, state, sockets, CRI plugin on,
# cgroupfs) runs for the duration; the two images (busybox, and a pause image whose
# process is busybox's `sleep infinity`) are OCI archives built here from
# busybox-static and imported into the CRI's namespace k8s.io (no registry); pods get
# a network namespace of their own with loopback and a veth pair that stays inside it
# (cni_pod_net.py: nothing is routed off the pod).  The CRI client is
# cri_client.py/cri_suite.py over grpcio, from cri_subset.proto, in a virtualenv of
# its own (CRI_CACHE, default /var/cache/pyrunc-cri).
# Prints PASS/FAIL per handler and scenario, a side-by-side table, then the leak check
# and "N passed, N failed"; exits 1 on failure.
set -euo pipefail
ENGINE=cri
CRI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../engines/lib.sh
source "$CRI_DIR/../engines/lib.sh"
engines_lock "$@"

need_pkgs containerd busybox-static iproute2 util-linux
engines_init "$@"
BEFORE=$(snapshot)
CRI_CACHE=${CRI_CACHE:-/var/cache/pyrunc-cri}
CRI_HANDLERS=${CRI_HANDLERS:-pyrunc runc}
NS=k8s.io                     # the CRI plugin's containerd namespace
IMG=docker.io/pyrunc-cri/busybox:local
PAUSE_IMG=docker.io/pyrunc-cri/pause:local
SOCK=$WORK/containerd.sock
mkdir -p "$WORK"/{root,state,opt,cni/bin,cni/net.d,logs}

RUN_CONTAINERD_EXISTED=
[[ -e /run/containerd ]] && RUN_CONTAINERD_EXISTED=1

# --- the client's Python: grpcio and grpcio-tools (setup.cfg's `cri` extra) ----------
cri_python() {
    local venv=$CRI_CACHE/venv reqs
    if ! "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
        reqs=$(python3 - "$REPO_DIR/setup.cfg" <<'EOF'
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
print(" ".join(cfg["options.extras_require"]["cri"].split()))
EOF
)
        log "virtualenv $venv: pip install $reqs"
        # Debian's python3 needs its venv package for ensurepip; others (pyenv) have it.
        python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv"
        # shellcheck disable=SC2086 # the requirement list splits on purpose
        timeout 600 "$venv/bin/python" -m pip install -q $reqs >&2
    fi
    PY=$venv/bin/python
}
cri_python

# --- handlers: NAME=BINARY, each with a runtime state root of its own -------------------
declare -A BINARY=([pyrunc]=$RUNTIME [runc]=$(command -v runc || true))
handler_args=()
runtimes_toml=
for h in $CRI_HANDLERS; do
    [[ -x ${BINARY[$h]:-} ]] || { echo "no runtime for handler $h" >&2; exit 2; }
    mkdir -p "$WORK/runtime-root/$h"
    # The runc shim keeps the runtime's state in <Root>/<containerd namespace>.
    handler_args+=(--handler "$h=${BINARY[$h]}=$WORK/runtime-root/$h/$NS")
    runtimes_toml+="
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$h]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$h.options]
        BinaryName = \"${BINARY[$h]}\"
        Root = \"$WORK/runtime-root/$h\"
        SystemdCgroup = false"
done

# --- pod network: loopback + a veth pair kept inside the pod (see cni_pod_net.py) --------
cp "$CRI_DIR/cni_pod_net.py" "$WORK/cni/bin/pyrunc-cri-net"
sed -i "1s|.*|#!$PY|" "$WORK/cni/bin/pyrunc-cri-net"
chmod 755 "$WORK/cni/bin/pyrunc-cri-net"
ln -s pyrunc-cri-net "$WORK/cni/bin/loopback"
cat >"$WORK/cni/net.d/10-pyrunc-cri.conflist" <<'EOF'
{"cniVersion": "0.4.0", "name": "pyrunc-cri", "plugins": [{"type": "pyrunc-cri-net"}]}
EOF

cat >"$WORK/config.toml" <<EOF
version = 2
root = "$WORK/root"
state = "$WORK/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMG"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Lowering an oom_score_adj needs CAP_SYS_RESOURCE, which this host's bounding set
  # lacks: without this, the sandbox's -998 fails runc and pyrunc alike at create.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "${CRI_HANDLERS%% *}"
$runtimes_toml
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$WORK/cni/bin"
    conf_dir = "$WORK/cni/net.d"
    max_conf_num = 1
EOF

containerd --config "$WORK/config.toml" >"$WORK/containerd.log" 2>&1 &
echo $! >"$WORK/containerd.pid"

c() { timeout 60 ctr --address "$SOCK" --namespace "$NS" "$@"; }

teardown() {
    [[ -n ${TORN_DOWN:-} ]] && return 0
    TORN_DOWN=1
    local id n
    # Whatever a failed scenario left (the suite removes its pods through the CRI).
    if [[ -S $SOCK ]]; then
        for id in $(c task ls -q 2>/dev/null); do
            c task kill -a -s KILL "$id" >/dev/null 2>&1 || true
        done
        sleep 0.3
        for id in $(c task ls -q 2>/dev/null); do c task rm -f "$id" >/dev/null 2>&1 || true; done
        for id in $(c containers ls -q 2>/dev/null); do c containers rm "$id" >/dev/null 2>&1 || true; done
    fi
    kill_pidfile "$WORK/containerd.pid" 20
    sleep 0.3
    kill_matching "$WORK"
    # Pod network namespaces the CRI made and did not remove (a leak the check reports
    # only if this fails).
    for n in $(comm -13 <(grep '^netns ' <<<"$BEFORE" | sort) <(ls /run/netns 2>/dev/null | sed 's/^/netns /' | sort) | cut -d' ' -f2); do
        [[ $n == cni-* ]] || continue
        umount "/run/netns/$n" 2>/dev/null || true
        rm -f "/run/netns/$n"
    done
    rm_cgroups "/$TAG"
    rm_run_containerd
    return 0
}
on_exit teardown

wait_until_up containerd "$WORK/containerd.log" 100 0.1 c version
# A CRI plugin that fails to load leaves containerd up without it: say why.
c plugins ls | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}' | grep -qx ok || {
    grep 'io.containerd.grpc.v1.cri' "$WORK/containerd.log" | grep -E 'level=(warning|error)' >&2
    echo "containerd's CRI plugin did not load" >&2
    exit 1
}

log "images: busybox and pause (busybox's sleep infinity) into namespace $NS"
make_rootfs_tar "$WORK/rootfs.tar"
make_oci_archive "$WORK/rootfs.tar" "$WORK/busybox-oci.tar" "$IMG"
make_oci_archive "$WORK/rootfs.tar" "$WORK/pause-oci.tar" "$PAUSE_IMG" '["sleep","infinity"]'
c images import "$WORK/busybox-oci.tar" >/dev/null
c images import "$WORK/pause-oci.tar" >/dev/null
setup_done

log "handlers: $CRI_HANDLERS"
rc=0
timeout -k 10 "${CRI_SUITE_TIMEOUT:-900}" "$PY" "$CRI_DIR/cri_suite.py" \
    --socket "$SOCK" --cache "$CRI_CACHE" --work "$WORK" --tag "$TAG" \
    --image "$IMG" --pause-image "$PAUSE_IMG" "${handler_args[@]}" \
    ${CRI_ONLY:+--only $CRI_ONLY} | tee "$WORK/suite.out" || rc=$?
PASSED=$(grep -c '^PASS ' "$WORK/suite.out" || true)
FAILED=$(grep -c '^FAIL ' "$WORK/suite.out" || true)
if ((rc != 0 && FAILED == 0)); then
    echo "FAIL cri-suite: the driver exited $rc$( ((rc == 124)) && echo " (timed out)")"
    FAILED=1
fi
[[ -z ${ENGINES_VERBOSE:-} ]] || tail -n 40 "$WORK/containerd.log" >&2

teardown
scenario no-leaks t_no_leaks
summary
