#!/usr/bin/env bash
# Build Pulumi's YAML language host for mlplan's e2e tests from the pinned Go module into the
# engine cache's bin directory (beside the pulumi CLI that loads it from PATH):
#
#   ${MLPLAN_ENGINE_CACHE:-$HOME/.cache/mlplan-engine}/v3.272.0/bin/pulumi-language-yaml
#
# from github.com/pulumi/pulumi-yaml v1.25.0 (cmd/pulumi-language-yaml, the `tool` of go.mod
# here; v1.11.1 and v1.25.0 are the only versions the module proxy serves). It needs
# pulumi pkg/sdk v3.206.0, its own requirement: it does not compile against the engine's
# v3.259.0 (plugin.NewContextWithRoot and schema.NewPluginLoader changed), hence its own go.mod.
# A v3.206 language host talks to the v3.259 engine over the same gRPC protocol.
#
# Its own script (not tests/engine/build.sh) so that adding it changes no stamp of the engine's
# binaries. Same conventions: a stamp (hash of go.mod, go.sum, this script and `go version`)
# skips an up-to-date build; the step prints its start with the usual time, a heartbeat every
# 30 s and the time it took (tests/lib/progress.sh); downloads only through the module proxy,
# checked against go.sum.
#
# Usual time, cold (empty Go build cache, modules in the module cache): about 250 s on a quiet
# 2-core machine. Measured 2026-12-01 with a separate GOCACHE: 374 s at load average 4.6 rising
# to 19 (222 s of CPU: user 201 s, sys 22 s); 161 s into a Go build cache that already held the
# engine's packages (some shared); up to date (stamp matches): well under a second.
#
# Exit codes: 0 built or up to date; 1 the build failed (compiler error, ...: the last log lines
# are printed); 2 it cannot be built here (no go, or the module proxy refused or could not be
# reached): bin/unavailable/pulumi-language-yaml.txt gets the reason.
# Options: -f  rebuild (ignore the stamp).
# Env: MLPLAN_ENGINE_CACHE (cache root), MLPLAN_GOPROXY (default https://proxy.golang.org),
#      MLPLAN_ENGINE_JOBS (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../lib/progress.sh
source "$HERE/../../lib/progress.sh"
NAME=pulumi-language-yaml
PKG=github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
USUAL_S=250
ROOT="${MLPLAN_ENGINE_CACHE:-$HOME/.cache/mlplan-engine}/v3.272.0"
BIN="$ROOT/bin"
LOG="$ROOT/logs/$NAME.log"
NOTE="$BIN/unavailable/$NAME.txt"
STAMP="$BIN/.stamp-$NAME"

FORCE=0
[[ "${1:-}" == "-f" ]] && FORCE=1

mkdir -p "$BIN/unavailable" "$ROOT/logs"
unavailable() {
  echo "yaml/build.sh: FAILED: $NAME cannot be built here: $1" >&2
  printf '%s: %s\n' "$NAME" "$1" > "$NOTE"
  exit 2
}
command -v go >/dev/null || unavailable "go: not on PATH (Go >= 1.25 is needed)"

export CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"
export GOPROXY="${MLPLAN_GOPROXY:-https://proxy.golang.org}"   # no 'direct': proxy only
export GOTOOLCHAIN=local
JOBS="${MLPLAN_ENGINE_JOBS:-2}"

KEY="$({ go version; cat "$HERE/build.sh" "$HERE/go.mod" "$HERE/go.sum"; } | sha256sum | cut -d' ' -f1)"
if [[ $FORCE == 0 && -x "$BIN/$NAME" && -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" ]]; then
  printf '%-32s up to date\n' "$NAME"
  exit 0
fi
rm -f "$STAMP"

# The module's version, read from go.mod (no module graph load, so no network before the build).
VERSION="$(awk '$1 == "github.com/pulumi/pulumi-yaml" { print $2; exit }' "$HERE/go.mod")"
build() {
  cd "$HERE" &&
    go build -p "$JOBS" -o "$BIN/$NAME.tmp" \
      -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=${VERSION#v}" "$PKG" &&
    mv -f "$BIN/$NAME.tmp" "$BIN/$NAME"
}
build_logged() { build >"$LOG" 2>&1; }
PROXY_ERRORS='403 Forbidden|404 Not Found|reading https?://[^ ]+: [45][0-9][0-9] |not available|dial tcp|no such host|i/o timeout|TLS handshake timeout|requires go >='
rm -f "$NOTE"
if ! progress_run "$NAME" "$USUAL_S" build_logged; then
  echo "yaml/build.sh: FAILED: $NAME (log: $LOG)" >&2
  echo "---- last lines of $LOG ----" >&2
  tail -n 25 "$LOG" >&2
  echo "----" >&2
  if grep -qE "$PROXY_ERRORS" "$LOG"; then
    unavailable "the Go module proxy ($GOPROXY) refused or could not be reached (see $LOG)"
  fi
  exit 1
fi
[[ -x "$BIN/$NAME" ]] || { echo "yaml/build.sh: FAILED: no executable $BIN/$NAME after the build" >&2; exit 1; }
echo "$KEY" > "$STAMP"
