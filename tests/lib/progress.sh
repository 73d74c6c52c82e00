# Progress for long build steps of the test tooling (sourced by build scripts; bash only).
#
#   progress_run LABEL USUAL_SECONDS CMD...
#
# Prints "LABEL: started (usually about N s on a quiet 2-core machine)", then every
# ${MLPLAN_HEARTBEAT_S:-30} seconds "LABEL: still working (M s so far, usually about N s)" while
# CMD runs, and finally "LABEL: done in M s" or "LABEL: FAILED after M s (exit C)". Returns CMD's
# exit code. CMD's own output is not touched (redirect it inside CMD, e.g. into a log file).
# With MLPLAN_PHASE_LOG set (tests/run does), a "step" line with the label, seconds and outcome
# is appended to that file for tests/run's time summary (tests/lib/phases.py).
# Example: progress_run "kube-apiserver" 344 go build -o bin/kube-apiserver ./cmd/kube-apiserver
progress_run() {
  local label="$1" usual="$2"; shift 2
  local start rc=0 beat
  start=$(date +%s)
  echo "$label: started (usually about ${usual} s on a quiet 2-core machine)"
  (
    # `wait` (unlike a foreground sleep) returns at once when TERM arrives, so the step ends
    # without waiting out the current heartbeat interval.
    nap=""
    trap '[[ -n "$nap" ]] && kill "$nap" 2>/dev/null; exit 0' TERM
    while true; do
      # Its own output goes nowhere: if TERM lands between `&` and `nap=$!`, the orphaned
      # sleep must not hold the caller's stdout (a captured pipe would wait it out).
      sleep "${MLPLAN_HEARTBEAT_S:-30}" >/dev/null 2>&1 & nap=$!
      wait "$nap" || exit 0
      echo "$label: still working ($(( $(date +%s) - start )) s so far, usually about ${usual} s)"
    done
  ) &
  beat=$!
  "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  local took=$(( $(date +%s) - start )) outcome="done"
  if [[ $rc == 0 ]]; then
    echo "$label: done in $took s"
  else
    echo "$label: FAILED after $took s (exit $rc)"
    outcome="FAILED (exit $rc)"
  fi
  # tests/run's time summary (tests/lib/phases.py): one tab-separated line per step.
  if [[ -n "${MLPLAN_PHASE_LOG:-}" ]]; then
    printf 'step\t%s\t%s\t%s\n' "${label//$'\t'/ }" "$took" "$outcome" >>"$MLPLAN_PHASE_LOG" || true
  fi
  return "$rc"
}
