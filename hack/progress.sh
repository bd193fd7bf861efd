# shellcheck shell=bash
# Sourced by the build scripts: run_with_progress NAME CMD... runs CMD and says on stderr every
# 30 seconds that NAME is still compiling (a first build takes minutes); returns CMD's status.
run_with_progress() {
  local name=$1 start pid
  shift
  start=$(date +%s)
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( ($(date +%s) - start) % 30 == 0 )) && kill -0 "$pid" 2>/dev/null; then
      echo "$name: compiling... $(( $(date +%s) - start ))s" >&2
    fi
  done
  wait "$pid"
}
