#!/usr/bin/env bash
# Build the images of mlplan's Docker end-to-end suite into the Docker Engine at $DOCKER_HOST,
# without any registry: Debian root filesystems from debootstrap (minbase) imported with
# `docker import`, then `docker build --network host` on top of them.
#
#   mlplan-e2e/base-bookworm:K    debootstrap bookworm (python3 3.11, like the host)
#   mlplan-e2e/base-sid:K         debootstrap sid (nginx >= 1.27.3 for upstream `resolve`)
#   mlplan-e2e/inference:K        azureml-inference-server-http (images/inference/requirements.txt)
#                                 started by images/inference/start-azmlinfsrv (the image contract)
#   mlplan-e2e/inference:K-r2     the same with MLPLAN_IMAGE_REVISION=2 (a second tag to roll to)
#   mlplan-e2e/inference:K-broken never healthy: its command serves nothing
#   mlplan-e2e/custom:K           images/custom/custom-server: a custom container on its own port
#                                 and paths (inference_config routes)
#   mlplan-e2e/router:K           nginx-light + wget from sid
#
# Every tag K is a hash of what the image is made from (RECIPE below, its Dockerfile and files,
# the base's tag), so a warm run rebuilds nothing and a changed input rebuilds only what depends
# on it. Root filesystem tarballs are kept in $CACHE/rootfs. Writes the tags as JSON to the file
# given as $1 (default $CACHE/images.json), atomically.
# Needs: root (debootstrap), debootstrap, a Docker Engine at $DOCKER_HOST, python3 3.11 (wheels are
# downloaded on the host for the image's Python: builds here cannot verify the registries' TLS).
# Usual times on a quiet 2-core machine: cold about 2 minutes, warm about 1 second.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/progress.sh
source "$HERE/../lib/progress.sh"
CACHE="${MLPLAN_DOCKER_CACHE:-$HOME/.cache/mlplan-docker}"
MIRROR="${MLPLAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
OUT="${1:-$CACHE/images.json}"
IMAGES="$HERE/images"
LOGS="$CACHE/logs"

fail() { echo "build-images.sh: FAILED: $*" >&2; exit 1; }
: "${DOCKER_HOST:?build-images.sh: DOCKER_HOST must point at the Docker Engine to build into}"
command -v docker >/dev/null || fail "docker (the client) is not on PATH: apt-get install docker.io"
command -v debootstrap >/dev/null || fail "debootstrap is not on PATH: apt-get install debootstrap"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || fail "no Docker Engine answers at DOCKER_HOST=$DOCKER_HOST"
mkdir -p "$CACHE/rootfs" "$LOGS"

# How images are made here: bump when a change to this script changes what an image contains
# (tags then change and everything is rebuilt; editing comments or messages rebuilds nothing).
RECIPE=1
# key FILE... [-- WORD...]: 12 hex digits of sha256 over RECIPE, the files and the words.
key() {
  local files=() words=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do files+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && { shift; words=("$@"); }
  { echo "recipe $RECIPE"; cat "${files[@]}" /dev/null; printf '%s\n' "${words[@]}"; } \
    | sha256sum | cut -c1-12
}
# to_log LOG CMD...: run CMD with its output in LOG (progress lines stay on the terminal).
to_log() { local log="$1"; shift; "$@" >"$log" 2>&1; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
built() { printf '%-40s %s\n' "$1" "$2"; }

# base SUITE PACKAGES: a minbase root filesystem imported as mlplan-e2e/base-SUITE:K.
base() {
  local suite="$1" include="$2" k tag tar tmp
  k="$(key -- "$suite" "$MIRROR" "$include")"
  tag="mlplan-e2e/base-$suite:$k"
  if have "$tag"; then built "$tag" "up to date"; BASE_TAG="$tag"; return; fi
  tar="$CACHE/rootfs/$suite-$k.tar"
  if [[ ! -s "$tar" ]]; then
    tmp="$(mktemp -d "$CACHE/rootfs/.$suite.XXXXXX")"
    progress_run "debootstrap $suite" 30 to_log "$LOGS/debootstrap-$suite.log" \
      debootstrap --variant=minbase ${include:+--include="$include"} "$suite" "$tmp/root" "$MIRROR" \
      || { tail -n 20 "$LOGS/debootstrap-$suite.log" >&2; rm -rf "$tmp"; fail "debootstrap $suite (log: $LOGS/debootstrap-$suite.log)"; }
    rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
    tar -C "$tmp/root" --numeric-owner -cf "$tmp/root.tar" . && mv "$tmp/root.tar" "$tar"
    rm -rf "$tmp"
  fi
  progress_run "docker import $tag" 2 to_log "$LOGS/import-$suite.log" docker import "$tar" "$tag" \
    || fail "docker import $tar"
  BASE_TAG="$tag"
}

# build TAG CONTEXT [docker build args...]
build() {
  local tag="$1" context="$2" name; shift 2
  name="$(echo "$tag" | tr '/:' '__')"
  progress_run "docker build $tag" "${USUAL:-20}" to_log "$LOGS/$name.log" \
    docker build --network host -t "$tag" "$@" "$context" \
    || { tail -n 30 "$LOGS/$name.log" >&2; fail "docker build $tag (log: $LOGS/$name.log)"; }
}

# ---- inference ---------------------------------------------------------------------------------
base bookworm ""
BOOKWORM="$BASE_TAG"
k="$(key "$IMAGES/inference/Dockerfile" "$IMAGES/inference/start-azmlinfsrv" \
        "$IMAGES/inference/requirements.txt" -- "$BOOKWORM")"
INFERENCE="mlplan-e2e/inference:$k"
if have "$INFERENCE"; then built "$INFERENCE" "up to date"; else
  py="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  [[ "$py" == "3.11" ]] || fail "python3 is $py; the wheels must match bookworm's python3 3.11"
  # Wheels for the image's Python, downloaded once per requirements file (kept in the cache).
  wheels="$CACHE/wheels/$(key "$IMAGES/inference/requirements.txt")"
  if [[ ! -f "$wheels/.complete" ]]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    progress_run "pip download (inference server wheels)" 60 to_log "$LOGS/pip-download.log" \
      python3 -m pip download -q --disable-pip-version-check --only-binary=:all: \
        -d "$wheels" -r "$IMAGES/inference/requirements.txt" \
      || { tail -n 20 "$LOGS/pip-download.log" >&2; fail "pip download (log: $LOGS/pip-download.log)"; }
    touch "$wheels/.complete"
  fi
  ctx="$(mktemp -d "$CACHE/.inference.XXXXXX")"
  cp "$IMAGES/inference/Dockerfile" "$IMAGES/inference/start-azmlinfsrv" "$ctx/"
  cp -r "$wheels" "$ctx/wheels" && rm -f "$ctx/wheels/.complete"
  cp "$IMAGES/inference/requirements.txt" "$ctx/wheels/"
  USUAL=30 build "$INFERENCE" "$ctx" --build-arg "BASE=$BOOKWORM"
  rm -rf "$ctx"
fi
if have "$INFERENCE-r2"; then built "$INFERENCE-r2" "up to date"; else
  printf 'FROM %s\nENV MLPLAN_IMAGE_REVISION=2\nLABEL dev.mlplan.test.revision=2\n' "$INFERENCE" \
    | USUAL=2 build "$INFERENCE-r2" -
fi
if have "$INFERENCE-broken"; then built "$INFERENCE-broken" "up to date"; else
  printf 'FROM %s\nCMD ["sleep", "infinity"]\n' "$INFERENCE" | USUAL=2 build "$INFERENCE-broken" -
fi

# ---- custom container (its own port and paths, not Azure's server) -------------------------------
k="$(key "$IMAGES/custom/Dockerfile" "$IMAGES/custom/custom-server" -- "$INFERENCE")"
CUSTOM="mlplan-e2e/custom:$k"
if have "$CUSTOM"; then built "$CUSTOM" "up to date"; else
  USUAL=3 build "$CUSTOM" "$IMAGES/custom" --build-arg "BASE=$INFERENCE"
fi

# ---- router ------------------------------------------------------------------------------------
base sid ""
SID="$BASE_TAG"
k="$(key "$IMAGES/router/Dockerfile" -- "$SID")"
ROUTER="mlplan-e2e/router:$k"
if have "$ROUTER"; then built "$ROUTER" "up to date"; else
  USUAL=15 build "$ROUTER" "$IMAGES/router" --build-arg "BASE=$SID"
fi

# Tags of earlier recipes are garbage in the cache's data root: remove them (layers shared with
# current images stay).
current=" $BOOKWORM $SID $INFERENCE $INFERENCE-r2 $INFERENCE-broken $CUSTOM $ROUTER "
docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^mlplan-e2e/' | while read -r tag; do
  [[ "$current" == *" $tag "* ]] || docker image rm "$tag" >/dev/null 2>&1 || true
done

mkdir -p "$(dirname "$OUT")"
tmp="$(mktemp "$OUT.XXXXXX")"
python3 - "$tmp" <<PY
import json, sys
json.dump({"base_bookworm": "$BOOKWORM", "base_sid": "$SID", "inference": "$INFERENCE",
           "inference_r2": "$INFERENCE-r2", "inference_broken": "$INFERENCE-broken",
           "custom": "$CUSTOM", "router": "$ROUTER"}, open(sys.argv[1], "w"), indent=2, sort_keys=True)
PY
mv "$tmp" "$OUT"
echo "images: $OUT"
