# Time summary of tests/run (bash only; sourced): each phase's time, printed at exit.
#
#   phases_start          set MLPLAN_PHASE_LOG to a new file, print the summary at exit
#   phase LABEL CMD...    run CMD, log its time under LABEL; returns CMD's exit code
#
# Steps inside a phase log themselves into the same file (progress_run in progress.sh, the
# tests.lib.phases pytest plugin, the e2e fixtures); tests/lib/phases.py prints the table, also
# when the script stops on a failure. Example: phase ruff .venv/bin/ruff check components

# phases_elapsed EPOCHREALTIME: seconds since then, to 0.1 s ("12.3").
phases_elapsed() {
  local now=${EPOCHREALTIME//[!0-9]/} then=${1//[!0-9]/}
  local tenths=$(( (now - then) / 100000 ))
  echo "$(( tenths / 10 )).$(( tenths % 10 ))"
}

phases_print() {
  local rc=$?
  # Subshells (progress_run's heartbeat) inherit the EXIT trap: only the script prints.
  [[ $BASHPID == "$PHASES_PID" ]] || return "$rc"
  echo
  python3 "$PHASES_PY" "$MLPLAN_PHASE_LOG" "$(phases_elapsed "$PHASES_STARTED")" || true
  rm -f "$MLPLAN_PHASE_LOG"
  return "$rc"
}

phases_start() {
  PHASES_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/phases.py"
  PHASES_STARTED=$EPOCHREALTIME
  PHASES_PID=$BASHPID
  MLPLAN_PHASE_LOG="$(mktemp "${TMPDIR:-/tmp}/mlplan-phases.XXXXXX")"
  export MLPLAN_PHASE_LOG
  trap phases_print EXIT
}

phase() {
  local label="$1" started=$EPOCHREALTIME rc=0; shift
  "$@" || rc=$?
  local outcome="done"
  [[ $rc == 0 ]] || outcome="exit $rc"
  printf 'phase\t%s\t%s\t%s\n' "${label//$'\t'/ }" "$(phases_elapsed "$started")" "$outcome" \
    >>"$MLPLAN_PHASE_LOG" || true
  return "$rc"
}
