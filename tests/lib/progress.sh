# Progress for long build steps of the test tooling (sourced by build scripts; bash only).
#
#   progress_run LABEL USUAL_SECONDS CMD...
#
# Prints "LABEL: started (usually about N s on a quiet 2-core machine)", then every
# ${MLPLAN_HEARTBEAT_S:-30} seconds "LABEL: still working (M s so far, usually about N s)" while
# CMD runs, and finally "LABEL: done in M s" or "LABEL: FAILED after M s (exit C)". Returns CMD's
# exit code. CMD's own output is not touched (redirect it inside CMD, e.g. into a log file).
# Example: progress_run "kube-apiserver" 344 go build -o bin/kube-apiserver ./cmd/kube-apiserver
progress_run() {
  local label="$1" usual="$2"; shift 2
  local start rc=0 beat
  start=$(date +%s)
  echo "$label: started (usually about ${usual} s on a quiet 2-core machine)"
  (
    # sleep in the background and wait for it: a TERM then ends the heartbeat at once (bash
    # runs a trap only after a foreground command, which would hold the caller up to 30 s).
    nap=""
    trap 'kill $nap 2>/dev/null; exit 0' TERM
    while :; do
      sleep "${MLPLAN_HEARTBEAT_S:-30}" & nap=$!
      wait "$nap"
      echo "$label: still working ($(( $(date +%s) - start )) s so far, usually about ${usual} s)"
    done
  ) &
  beat=$!
  "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  if [[ $rc == 0 ]]; then
    echo "$label: done in $(( $(date +%s) - start )) s"
  else
    echo "$label: FAILED after $(( $(date +%s) - start )) s (exit $rc)"
  fi
  return "$rc"
}
