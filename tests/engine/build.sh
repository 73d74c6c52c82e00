#!/usr/bin/env bash
# Build the Pulumi engine and plugins for mlplan's e2e tests from pinned Go modules into a cache
# outside the repository:  ${MLPLAN_ENGINE_CACHE:-$HOME/.cache/mlplan-engine}/v3.272.0/bin
#
#   pulumi                          CLI + engine        github.com/pulumi/pulumi/pkg/v3 (go.mod)
#   pulumi-language-python          language host       ./cmd/pulumi-language-python (ours, see there)
#   pulumi-language-python-exec     Python entry point  sdk/v3@$PY_SDK_VERSION python/cmd
#   pulumi-resource-pulumi-python   dynamic providers   sdk/v3@$PY_SDK_VERSION python/dist
#   pulumi-resource-kubernetes      provider            ./kubernetes (its own go.mod)
#   pulumi-resource-random          provider            ./random (its own go.mod)
#   pulumi-resource-docker          provider            ./docker (its own go.mod)
#
# Exit codes: 0 built (or up to date); 1 a build failed (compiler error, ...); 2 the engine cannot
# be built here at all (no go / python3, or the module proxy refused or could not be reached).
# pulumi-resource-docker is optional: when the proxy refuses (or cannot serve) its modules, the
# reason is written to bin/unavailable/pulumi-resource-docker.txt (its test is skipped with it) and
# the other binaries are still built; a compile error fails the build as for the others.
#
# Each binary has a stamp (hash of its go.mod/go.sum, sources, this script and `go version`);
# a binary whose stamp matches is not rebuilt. Each step that builds prints what it starts and
# how long it usually takes, a heartbeat every 30 s, and the time it took (tests/lib/progress.sh):
#
#   pulumi: started (usually about 244 s on a quiet 2-core machine)
#   pulumi: still working (30 s so far, usually about 244 s)
#   ...
#   pulumi: done in 251 s
#
# Usual times, cold (empty Go build cache) on a quiet 2-core machine: pulumi 244 s, kubernetes
# 413 s, random 96 s, docker 165 s, the rest a few seconds: about 16 minutes in all (under load
# it has taken 33); with stale stamps and a warm Go cache, seconds. Exits 0 when everything
# buildable is built; otherwise prints which build failed and the last lines of its log and
# exits 1. Downloads only through the Go module proxy, verified against go.sum.
#
# Options: -f  rebuild everything (ignore stamps).
# Env: MLPLAN_ENGINE_CACHE (cache root), MLPLAN_GOPROXY (default https://proxy.golang.org),
#      MLPLAN_ENGINE_JOBS (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/progress.sh
source "$HERE/../lib/progress.sh"
PY_SDK_VERSION=v3.272.0          # pulumi (Python SDK) pinned in pyproject.toml; names the cache
# h1: hash of github.com/pulumi/pulumi/sdk/v3@$PY_SDK_VERSION (the two Python scripts come from it)
PY_SDK_SUM="h1:MoJElH3Y/VwV1tfTVNCh2BJuc3HxB7OPmvvYzaDe89c="
ROOT="${MLPLAN_ENGINE_CACHE:-$HOME/.cache/mlplan-engine}/$PY_SDK_VERSION"
BIN="$ROOT/bin"
WORK="$ROOT/work"
LOGS="$ROOT/logs"

FORCE=0
[[ "${1:-}" == "-f" ]] && FORCE=1

command -v go >/dev/null || { echo "build.sh: FAILED: go: not on PATH (Go >= 1.25 is needed)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "build.sh: FAILED: python3: not on PATH" >&2; exit 2; }

export CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"
export GOPROXY="${MLPLAN_GOPROXY:-https://proxy.golang.org}"   # no 'direct': proxy only
export GOTOOLCHAIN=local
# 2 cores: one `go build` at a time, each using both cores for its compile actions.
JOBS="${MLPLAN_ENGINE_JOBS:-2}"

mkdir -p "$BIN" "$WORK" "$LOGS" "$BIN/unavailable"
echo "build.sh: Pulumi engine and providers into $BIN (cold: about 16 min on a quiet 2-core" \
     "machine; steps whose stamp matches are skipped)"
GO_VERSION="$(go version)"
TOTAL_START=$(date +%s.%N)

elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}s')" "$1" "$(date +%s.%N)"; }

# stamp_key FILE... : sha256 over the given files, this script and the Go version.
stamp_key() {
  { printf '%s\n' "$GO_VERSION"; cat "$HERE/build.sh" "$@"; } | sha256sum | cut -d' ' -f1
}

# What a log says when the module proxy refused a download or could not be reached.
PROXY_ERRORS='403 Forbidden|404 Not Found|reading https?://[^ ]+: [45][0-9][0-9] |not available|dial tcp|no such host|i/o timeout|TLS handshake timeout|requires go >='

# fail NAME LOG REASON : report a failed build and stop.
fail() {
  local name="$1" log="$2" reason="$3"
  echo "build.sh: FAILED: $name: $reason" >&2
  if [[ -s "$log" ]]; then
    echo "---- last lines of $log ----" >&2
    tail -n 25 "$log" >&2
    echo "----" >&2
  fi
  printf '%s: %s\n' "$name" "$reason" > "$ROOT/FAILED"
  # Downloads refused by the module proxy or no network: nothing to fix in the code.
  if grep -qE "$PROXY_ERRORS" "$log" 2>/dev/null; then
    echo "build.sh: $name cannot be built here: the Go module proxy ($GOPROXY) refused or could not be reached" >&2
    exit 2
  fi
  exit 1
}

# Usual seconds per step, cold, on a quiet 2-core machine (see the header).
declare -A USUAL_S=([pulumi]=244 [pulumi-language-python]=3 [pulumi-language-python-exec]=3
                    [pulumi-resource-kubernetes]=413 [pulumi-resource-random]=96
                    [pulumi-resource-docker]=165)

# logged LOG CMD... : run CMD with its output in LOG.
logged() { local log="$1"; shift; "$@" >"$log" 2>&1; }

# step NAME KEY CMD... : run CMD unless bin/NAME exists with stamp KEY; show progress (start line
# with the usual time, heartbeat, done line); log to logs/NAME.log.
step() {
  local name="$1" key="$2"; shift 2
  local stamp="$BIN/.stamp-$name" log="$LOGS/$name.log"
  if [[ $FORCE == 0 && -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
    printf '%-32s up to date\n' "$name"
    return 0
  fi
  rm -f "$stamp"
  if ! progress_run "$name" "${USUAL_S[$name]:-60}" logged "$log" "$@"; then
    fail "$name" "$log" "command failed: $*"
  fi
  [[ -x "$BIN/$name" ]] || fail "$name" "$log" "no executable $BIN/$name after the build"
  echo "$key" > "$stamp"
}

# optional_step NAME KEY CMD... : step, except that when NAME cannot be built here (exit 2: the
# module proxy refused or could not be reached) bin/unavailable/NAME.txt gets the reason and the
# build goes on. Other failures (exit 1) stop the build as usual.
optional_step() {
  local name="$1" note="$BIN/unavailable/$1.txt" rc=0
  ( step "$@" ) || rc=$?
  if [[ $rc == 0 ]]; then
    rm -f "$note"
  elif [[ $rc == 2 ]]; then
    { echo "$name cannot be built here: the Go module proxy ($GOPROXY) refused or could not be" \
           "reached for one of its modules (log: $LOGS/$name.log):"
      grep -m 3 -E "$PROXY_ERRORS" "$LOGS/$name.log" || true; } > "$note"
    rm -f "$ROOT/FAILED" "$BIN/$name"
    printf '%-32s unavailable (see %s)\n' "$name" "$note"
  else
    exit "$rc"
  fi
}

gobuild() {  # gobuild MODULE_DIR OUT LDFLAGS [OVERLAY] PACKAGE
  local dir="$1" out="$2" ldflags="$3" overlay="$4" pkg="$5"
  local args=(build -p "$JOBS" -ldflags "-s -w $ldflags" -o "$out")
  [[ -n "$overlay" ]] && args+=(-overlay "$overlay")
  (cd "$dir" && go "${args[@]}" "$pkg")
}

rm -f "$ROOT/FAILED"

# ---- CLI and engine -------------------------------------------------------------------------
# Read from go.mod (no module graph load, so no network before the steps below).
CLI_VERSION="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2; exit }' "$HERE/go.mod")"
step pulumi "$(stamp_key "$HERE/go.mod" "$HERE/go.sum")" \
  gobuild "$HERE" "$BIN/pulumi" \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$CLI_VERSION" "" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

# ---- Python language host (ours) --------------------------------------------------------------
step pulumi-language-python \
  "$(stamp_key "$HERE/go.mod" "$HERE/go.sum" "$HERE/cmd/pulumi-language-python/main.go")" \
  gobuild "$HERE" "$BIN/pulumi-language-python" \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$CLI_VERSION" "" \
  ./cmd/pulumi-language-python

# ---- Python scripts from the SDK module at the Python SDK's version ---------------------------
copy_python_scripts() {
  local json dir sum
  # Outside any module: a plain, proxy-only download; integrity is checked against PY_SDK_SUM.
  json="$(cd "$WORK" && GOFLAGS=-mod=mod GONOSUMDB=github.com/pulumi/pulumi/sdk/v3 \
          go mod download -json "github.com/pulumi/pulumi/sdk/v3@$PY_SDK_VERSION")"
  dir="$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir",""))' <<<"$json")"
  sum="$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Sum",""), d.get("Error",""))' <<<"$json")"
  echo "$json"
  [[ -n "$dir" && -d "$dir" ]] || { echo "download failed: $sum"; return 1; }
  [[ "${sum%% *}" == "$PY_SDK_SUM" ]] || { echo "checksum mismatch: got ${sum%% *}, want $PY_SDK_SUM"; return 1; }
  install -m 0755 "$dir/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
  install -m 0755 "$dir/python/dist/pulumi-resource-pulumi-python" "$BIN/pulumi-resource-pulumi-python"
}
[[ -x "$BIN/pulumi-resource-pulumi-python" ]] || rm -f "$BIN/.stamp-pulumi-language-python-exec"
step pulumi-language-python-exec "$(stamp_key <(echo "$PY_SDK_VERSION $PY_SDK_SUM"))" copy_python_scripts

# ---- Kubernetes provider ----------------------------------------------------------------------
build_kubernetes() {
  local mod dir ver gen="$WORK/kubernetes"
  mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  (cd "$HERE/kubernetes" && go mod download "$mod")
  dir="$(cd "$HERE/kubernetes" && go list -m -f '{{.Dir}}' "$mod")"
  ver="$(cd "$HERE/kubernetes" && go list -m -f '{{.Version}}' "$mod")"; ver="${ver#v}"
  mkdir -p "$gen"
  # What upstream's `go generate` (cmd/pulumi-resource-kubernetes/generate.go) makes: the schema
  # with its version set, and the Terraform mapping, minified.
  python3 - "$dir/cmd/pulumi-resource-kubernetes" "$gen" "$ver" <<'PY'
import json, sys
src, out, ver = sys.argv[1:4]
schema = json.load(open(f"{src}/schema.json"))
schema["version"] = ver
json.dump(schema, open(f"{out}/schema-embed.json", "w"), separators=(",", ":"))
json.dump(json.load(open(f"{src}/terraform-mapping.json")),
          open(f"{out}/terraform-mapping-embed.json", "w"), separators=(",", ":"))
PY
  python3 - "$HERE/kubernetes" "$gen" > "$gen/overlay.json" <<'PY'
import json, sys
pkg, gen = sys.argv[1:3]
print(json.dumps({"Replace": {f"{pkg}/{n}": f"{gen}/{n}"
                              for n in ("schema-embed.json", "terraform-mapping-embed.json")}}))
PY
  gobuild "$HERE/kubernetes" "$BIN/pulumi-resource-kubernetes" \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$ver" "$gen/overlay.json" .
}
step pulumi-resource-kubernetes \
  "$(stamp_key "$HERE/kubernetes/go.mod" "$HERE/kubernetes/go.sum" "$HERE/kubernetes/main.go")" \
  build_kubernetes

# ---- Random provider (Terraform random provider through the Pulumi bridge) --------------------
build_random() {
  local gen="$WORK/random" ver
  ver="$(cd "$HERE/random" && go list -m -f '{{.Version}}' github.com/terraform-providers/terraform-provider-random)"
  ver="0.0.0-tf.${ver#v}"   # not a pulumi-random release: say where it comes from
  mkdir -p "$gen/schema"
  local ld="-X mlplan.dev/tests/engine/random/prov.Version=$ver"
  gobuild "$HERE/random" "$gen/pulumi-tfgen-random" "$ld" "" ./cmd/pulumi-tfgen-random
  (cd "$gen" && ./pulumi-tfgen-random schema --out "$gen/schema")
  python3 - "$HERE/random/cmd/pulumi-resource-random" "$gen/schema" > "$gen/overlay.json" <<'PY'
import json, sys
pkg, gen = sys.argv[1:3]
print(json.dumps({"Replace": {f"{pkg}/{n}": f"{gen}/{n}" for n in ("schema.json", "bridge-metadata.json")}}))
PY
  gobuild "$HERE/random" "$BIN/pulumi-resource-random" "$ld" "$gen/overlay.json" ./cmd/pulumi-resource-random
}
step pulumi-resource-random \
  "$(stamp_key "$HERE/random/go.mod" "$HERE/random/go.sum" "$HERE/random/shim/go.mod" \
     "$HERE/random/shim/shim.go" "$HERE/random/prov/info.go" \
     "$HERE/random/cmd/pulumi-tfgen-random/main.go" "$HERE/random/cmd/pulumi-resource-random/main.go")" \
  build_random

# ---- Docker provider (Terraform Docker provider through the Pulumi bridge) --------------------
# Tags: no_compose leaves out docker_compose (plugin framework, not in pulumi-docker's SDKs).
DOCKER_TAGS=no_compose
build_docker() {
  local gen="$WORK/docker" ver ld
  # The Terraform provider's version: the kreuzwerker pseudo-version its path is replaced with.
  ver="$(cd "$HERE/docker" && go list -m -f '{{.Replace.Version}}' github.com/terraform-providers/terraform-provider-docker)" || return 1
  ver="0.0.0-tf.${ver#v}"   # not a pulumi-docker release: say where it comes from
  ld="-X mlplan.dev/tests/engine/docker/prov.Version=$ver"
  rm -rf "$gen/schema" && mkdir -p "$gen/schema" || return 1
  GOFLAGS="$GOFLAGS -tags=$DOCKER_TAGS" gobuild "$HERE/docker" "$gen/pulumi-tfgen-docker" "$ld" "" \
    ./cmd/pulumi-tfgen-docker || return 1
  (cd "$gen" && ./pulumi-tfgen-docker schema --out "$gen/schema") || return 1
  python3 - "$HERE/docker/cmd/pulumi-resource-docker" "$gen/schema" > "$gen/overlay.json" <<'PY' || return 1
import json, sys
pkg, gen = sys.argv[1:3]
print(json.dumps({"Replace": {f"{pkg}/{n}": f"{gen}/{n}" for n in ("schema.json", "bridge-metadata.json")}}))
PY
  GOFLAGS="$GOFLAGS -tags=$DOCKER_TAGS" gobuild "$HERE/docker" "$BIN/pulumi-resource-docker" "$ld" \
    "$gen/overlay.json" ./cmd/pulumi-resource-docker
}
optional_step pulumi-resource-docker \
  "$(stamp_key "$HERE/docker/go.mod" "$HERE/docker/go.sum" "$HERE/docker/shim/go.mod" \
     "$HERE/docker/shim/shim.go" "$HERE/docker/prov/info.go" \
     "$HERE/docker/cmd/pulumi-tfgen-docker/main.go" "$HERE/docker/cmd/pulumi-resource-docker/main.go")" \
  build_docker

echo "engine binaries in $BIN (total $(elapsed "$TOTAL_START"))"
