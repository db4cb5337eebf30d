# shellcheck shell=bash
# Timed stages for scripts/test.sh and .ci/run, so the CI time budget (45 min on 2 cores) is
# visible: `stage NAME CMD ARGS...` runs one external command, records how long it took, and
# `stages_report` (run on exit) prints the table and the total, also after a failure.
# Rows are appended to $SIGIL_STAGES_LOG when set, so .ci/run can print every stage of the
# scripts it calls in one table.

_STAGES_T0=$SECONDS
_STAGES_ROWS=()

stage() {
  local name=$1 t0=$SECONDS rc=0
  shift
  printf '\n== stage: %s\n' "$name" >&2
  "$@" || rc=$?
  local row
  row=$(printf '%6d s  %s' $((SECONDS - t0)) "$name")
  ((rc)) && row+="  (FAILED: exit $rc)"
  _STAGES_ROWS+=("$row")
  if [[ -n ${SIGIL_STAGES_LOG:-} ]]; then echo "$row" >>"$SIGIL_STAGES_LOG"; fi
  return "$rc"
}

stages_report() {
  local title=$1
  {
    printf '\n== %s: stage durations\n' "$title"
    if [[ -n ${SIGIL_STAGES_LOG:-} && -s ${SIGIL_STAGES_LOG:-} && $title == .ci/run ]]; then
      cat "$SIGIL_STAGES_LOG"
    else
      printf '%s\n' "${_STAGES_ROWS[@]}"
    fi
    printf '%6d s  total (%d min)\n' $((SECONDS - _STAGES_T0)) $(((SECONDS - _STAGES_T0 + 59) / 60))
  } >&2
}
