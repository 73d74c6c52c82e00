#!/usr/bin/env bash
# Build the single-machine Kubernetes cluster of mlplan's cluster e2e suite (control plane, kwok,
# and a real node's kubelet and kube-proxy) from pinned Go modules into a cache outside the repository:
#   ${MLPLAN_KUBE_CACHE:-$HOME/.cache/mlplan-kube}/v1.34.2/{bin,share}
#
#   etcd                     go.etcd.io/etcd/server/v3 v3.6.4 (etcdmain)  ./control/etcd (ours, 5 lines)
#   kube-apiserver           k8s.io/kubernetes v1.34.2 cmd/kube-apiserver   ./control/go.mod
#   kube-controller-manager  k8s.io/kubernetes v1.34.2 cmd/...              ./control/go.mod
#   kube-scheduler           k8s.io/kubernetes v1.34.2 cmd/...              ./control/go.mod
#   kubelet, kube-proxy      k8s.io/kubernetes v1.34.2 cmd/...              ./control/go.mod
#   pause                    the real node's sandbox process                ./control/pause (ours)
#   kwok                     sigs.k8s.io/kwok v0.8.0 cmd/kwok               ./kwok/go.mod
#   share/kwok-stages/*.yaml kwok's node fast + heartbeat and pod fast stages (from its module)
#   share/gateway-api/*.yaml sigs.k8s.io/gateway-api v1.3.0 config/crd/standard
#   network-policies         sigs.k8s.io/kube-network-policies v0.7.0 (the real node's NetworkPolicy
#                            enforcement, nftables + nfqueue)        ./netpol/main.go (ours)
#   metrics-server           sigs.k8s.io/metrics-server v0.8.0 cmd/metrics-server (the resource
#                            metrics API behind the apiserver's aggregation layer; the real
#                            node's HPA reads it)                    ./metrics/go.mod
#
# Exit codes: 0 built (or up to date); 1 a build failed (compiler error, ...); 2 it cannot be built
# here at all (no go, or the module proxy refused or could not be reached).
# Each output has a stamp (sha256 of its go.mod/go.sum, sources, this script and `go version`);
# one whose stamp matches is not rebuilt. Each step prints what it does, the usual time and a
# heartbeat every 30 s (tests/lib/progress.sh). Downloads only through the Go module proxy,
# verified against the go.sum files here.
#
# Options: -f  rebuild everything (ignore stamps).
# Env: MLPLAN_KUBE_CACHE (cache root), MLPLAN_GOPROXY (default https://proxy.golang.org),
#      MLPLAN_KUBE_JOBS (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../lib/progress.sh
source "$HERE/../../lib/progress.sh"
K8S_VERSION=v1.34.2      # = the require in control/go.mod; names the cache
GATEWAY_API_VERSION=v1.3.0
# h1: hash of sigs.k8s.io/gateway-api@v1.3.0 (only its CRD YAML is used, so it is not in a go.sum)
GATEWAY_API_SUM="h1:q6okN+/UKDATola4JY7zXzx40WO4VISk7i9DIfOvr9M="
ROOT="${MLPLAN_KUBE_CACHE:-$HOME/.cache/mlplan-kube}/$K8S_VERSION"
BIN="$ROOT/bin"
SHARE="$ROOT/share"
LOGS="$ROOT/logs"

FORCE=0
[[ "${1:-}" == "-f" ]] && FORCE=1

command -v go >/dev/null || { echo "kube/build.sh: FAILED: go: not on PATH (Go >= 1.26 is needed)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "kube/build.sh: FAILED: python3: not on PATH" >&2; exit 2; }

export CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"
export GOPROXY="${MLPLAN_GOPROXY:-https://proxy.golang.org}"   # no 'direct': proxy only
export GOTOOLCHAIN=local
JOBS="${MLPLAN_KUBE_JOBS:-2}"

mkdir -p "$BIN" "$SHARE" "$LOGS"
GO_VERSION="$(go version)"
TOTAL_START=$(date +%s)

stamp_key() {  # stamp_key FILE... : sha256 over the files, this script and the Go version
  { printf '%s\n' "$GO_VERSION"; cat "$HERE/build.sh" "$@"; } | sha256sum | cut -d' ' -f1
}

PROXY_ERRORS='403 Forbidden|404 Not Found|reading https?://[^ ]+: [45][0-9][0-9] |not available|dial tcp|no such host|i/o timeout|TLS handshake timeout|requires go >='

fail() {  # fail NAME LOG REASON : report a failed step and stop
  local name="$1" log="$2" reason="$3"
  echo "kube/build.sh: FAILED: $name: $reason" >&2
  if [[ -s "$log" ]]; then
    echo "---- last lines of $log ----" >&2
    tail -n 25 "$log" >&2
    echo "----" >&2
  fi
  printf '%s: %s\n' "$name" "$reason" > "$ROOT/FAILED"
  if grep -qE "$PROXY_ERRORS" "$log" 2>/dev/null; then
    echo "kube/build.sh: $name cannot be built here: the Go module proxy ($GOPROXY) refused or could not be reached" >&2
    exit 2
  fi
  exit 1
}

# step NAME OUTPUT USUAL_S KEY CMD... : run CMD unless OUTPUT exists with stamp KEY; log to logs/NAME.log
step() {
  local name="$1" out="$2" usual="$3" key="$4"; shift 4
  local stamp="$ROOT/.stamp-$name" log="$LOGS/$name.log"
  if [[ $FORCE == 0 && -e "$out" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
    printf '%-26s up to date\n' "$name"
    return 0
  fi
  rm -f "$stamp"
  if ! progress_run "$name" "$usual" "$@"; then
    fail "$name" "$log" "command failed: $*"
  fi
  [[ -e "$out" ]] || fail "$name" "$log" "no $out after the build"
  echo "$key" > "$stamp"
}

# gobuild NAME MODULE_DIR LDFLAGS PACKAGE : go build into bin/NAME (atomically), output to its log
gobuild() {
  local name="$1" dir="$2" ldflags="$3" pkg="$4"
  (cd "$dir" && go build -p "$JOBS" -ldflags "-s -w $ldflags" -o "$BIN/.$name.tmp" "$pkg") \
    >"$LOGS/$name.log" 2>&1 && mv -f "$BIN/.$name.tmp" "$BIN/$name"
}

rm -f "$ROOT/FAILED"

# ---- control plane: k8s.io/kubernetes v1.34.2 ------------------------------------------------
# The version a client reads from /version (without it: v0.0.0-master, which clients reject).
KV="$K8S_VERSION"; KMAJ="${KV#v}"; KMAJ="${KMAJ%%.*}"; KMIN="${KV#v*.}"; KMIN="${KMIN%%.*}"
K8S_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=$KV -X $pkg.gitMajor=$KMAJ -X $pkg.gitMinor=$KMIN"
  K8S_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
CONTROL_KEY="$(stamp_key "$HERE/control/go.mod" "$HERE/control/go.sum" "$HERE/control/tools.go")"

# Usual seconds: cold, on a quiet 2-core machine (the later builds reuse the apiserver's packages).
step kube-apiserver "$BIN/kube-apiserver" 344 "$CONTROL_KEY" \
  gobuild kube-apiserver "$HERE/control" "$K8S_LDFLAGS" k8s.io/kubernetes/cmd/kube-apiserver
step kube-controller-manager "$BIN/kube-controller-manager" 108 "$CONTROL_KEY" \
  gobuild kube-controller-manager "$HERE/control" "$K8S_LDFLAGS" k8s.io/kubernetes/cmd/kube-controller-manager
step kube-scheduler "$BIN/kube-scheduler" 9 "$CONTROL_KEY" \
  gobuild kube-scheduler "$HERE/control" "$K8S_LDFLAGS" k8s.io/kubernetes/cmd/kube-scheduler
# The real node (same module, pins and ldflags: its /version and the apiserver's agree).
step kubelet "$BIN/kubelet" 316 "$CONTROL_KEY" \
  gobuild kubelet "$HERE/control" "$K8S_LDFLAGS" k8s.io/kubernetes/cmd/kubelet
step kube-proxy "$BIN/kube-proxy" 11 "$CONTROL_KEY" \
  gobuild kube-proxy "$HERE/control" "$K8S_LDFLAGS" k8s.io/kubernetes/cmd/kube-proxy
step pause "$BIN/pause" 5 "$(stamp_key "$HERE/control/go.mod" "$HERE/control/pause/main.go")" \
  gobuild pause "$HERE/control" "" ./pause
step etcd "$BIN/etcd" 60 "$(stamp_key "$HERE/control/go.mod" "$HERE/control/go.sum" "$HERE/control/etcd/main.go")" \
  gobuild etcd "$HERE/control" "" ./etcd

# ---- kwok (simulated nodes and pods) and its stage files --------------------------------------
KWOK_KEY="$(stamp_key "$HERE/kwok/go.mod" "$HERE/kwok/go.sum" "$HERE/kwok/tools.go")"
step kwok "$BIN/kwok" 139 "$KWOK_KEY" gobuild kwok "$HERE/kwok" "" sigs.k8s.io/kwok/cmd/kwok

copy_kwok_stages() {
  local dir
  dir="$(cd "$HERE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)" || return 1
  rm -rf "$SHARE/.kwok-stages.tmp" && mkdir -p "$SHARE/.kwok-stages.tmp" || return 1
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cp "$dir/kustomize/stage/$f" "$SHARE/.kwok-stages.tmp/${f//\//-}" || return 1
  done
  rm -rf "$SHARE/kwok-stages" && mv "$SHARE/.kwok-stages.tmp" "$SHARE/kwok-stages"
} >"$LOGS/kwok-stages.log" 2>&1
step kwok-stages "$SHARE/kwok-stages" 1 "$KWOK_KEY" copy_kwok_stages

# ---- Gateway API CRDs ------------------------------------------------------------------------
copy_gateway_crds() {
  local json dir sum tmp
  tmp="$(mktemp -d)"
  # Outside any module: a plain, proxy-only download; integrity checked against GATEWAY_API_SUM.
  json="$(cd "$tmp" && GOFLAGS=-mod=mod GONOSUMDB=sigs.k8s.io/gateway-api \
          go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")" || true
  rmdir "$tmp"
  echo "$json"
  dir="$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("Dir",""))' <<<"$json")"
  sum="$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Sum",""), d.get("Error",""))' <<<"$json")"
  [[ -n "$dir" && -d "$dir" ]] || { echo "download failed: $sum"; return 1; }
  [[ "${sum%% *}" == "$GATEWAY_API_SUM" ]] || { echo "checksum mismatch: got ${sum%% *}, want $GATEWAY_API_SUM"; return 1; }
  rm -rf "$SHARE/.gateway-api.tmp" && mkdir -p "$SHARE/.gateway-api.tmp" || return 1
  cp "$dir"/config/crd/standard/*.yaml "$SHARE/.gateway-api.tmp/" || return 1
  rm -rf "$SHARE/gateway-api" && mv "$SHARE/.gateway-api.tmp" "$SHARE/gateway-api"
} >"$LOGS/gateway-api.log" 2>&1
step gateway-api "$SHARE/gateway-api" 3 "$(stamp_key <(echo "$GATEWAY_API_VERSION $GATEWAY_API_SUM"))" \
  copy_gateway_crds

# ---- NetworkPolicy enforcement on the real node (policy_enforcer.py) --------------------------
NETPOL_KEY="$(stamp_key "$HERE/netpol/go.mod" "$HERE/netpol/go.sum" "$HERE/netpol/main.go" "$HERE/netpol/tools.go")"
# cold: 84 s at load 3.5, 260 s at load 19 (client-go v0.32 is not shared with the control plane)
step network-policies "$BIN/network-policies" 90 "$NETPOL_KEY" \
  gobuild network-policies "$HERE/netpol" "" .

# ---- resource metrics for the HPA on the real node (metrics_server.py) -------------------------
METRICS_KEY="$(stamp_key "$HERE/metrics/go.mod" "$HERE/metrics/go.sum" "$HERE/metrics/tools.go")"
# cold: 160 s at load 3-4 (its k8s.io/* v0.33 packages are not shared with the control plane)
step metrics-server "$BIN/metrics-server" 160 "$METRICS_KEY" \
  gobuild metrics-server "$HERE/metrics" "" sigs.k8s.io/metrics-server/cmd/metrics-server

echo "kube/build.sh: control plane and node in $BIN (total $(( $(date +%s) - TOTAL_START )) s)"
