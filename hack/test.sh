#!/usr/bin/env bash
# shellcheck disable=SC2317  # the lane functions are called by name, through lane()
# `make test`: every gate, in two lanes at once. The cluster lane spends most of its time waiting
# on local API servers, controllers and timeouts; the static lane is CPU work on files. Run one
# after the other they leave a core idle for most of the run (41 min warm on 2 cores); side by
# side they share it.
#   clusters  pytest tests/harness/tests, pytest tests/integration, molecule
#   static    pytest tests/unit, lint, ansible-test units, build-check, the version matrix
#             (units, ansible-test sanity and one playbook run per cell)
# `ansible-test sanity` runs in the matrix cells: the oldest and the newest ansible-core with the
# oldest and the newest kubernetes.core we claim. The main venv's versions lie between them, so a
# third sanity run there would repeat one of theirs; `make sanity` still runs it on its own.
# Each lane's output is printed with its name in front and kept in .tmp/test/<lane>.log; both
# lanes always run to the end, and the run fails if a step of either failed. A table of the
# steps' times closes the run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
: "${PYTEST:?PYTEST, the pytest command line, is not set}"
LOGS=.tmp/test
rm -rf "$LOGS" && mkdir -p "$LOGS"

step() {  # step <lane> <name> <command...>: runs it, records "lane|name|pass/FAIL|seconds"
  local lane=$1 name=$2 t0 rc=0 verdict=pass
  shift 2
  t0=$(date +%s)
  echo "== $name"
  "$@" || rc=$?
  [ "$rc" -eq 0 ] || verdict="FAIL (rc=$rc)"
  echo "$lane|$name|$verdict|$(( $(date +%s) - t0 ))" >>"$LOGS/steps"
  return "$rc"
}

# shellcheck disable=SC2086  # PYTEST is a command line
clusters() {
  local rc=0
  step clusters harness $PYTEST tests/harness/tests -q || rc=1
  step clusters integration $PYTEST tests/integration -q || rc=1
  step clusters molecule bash hack/molecule.sh || rc=1
  return "$rc"
}

# shellcheck disable=SC2086
static() {
  local rc=0
  step static unit $PYTEST tests/unit -q || rc=1
  step static lint bash hack/lint.sh || rc=1
  step static ansible-test-units env SKIP_SANITY=1 bash hack/sanity.sh || rc=1
  step static build-check bash hack/build-check.sh || rc=1
  step static version-matrix env MATRIX_CELLS="$MATRIX_CELLS" bash hack/version-matrix.sh || rc=1
  return "$rc"
}

lane() {  # lane <name>: runs it, its output prefixed and logged
  "$1" > >(tee "$LOGS/$1.log" | sed -u "s/^/[$1] /") 2>&1
}

t0=$(date +%s)
lane clusters & clusters_pid=$!
lane static & static_pid=$!
rc=0
wait $clusters_pid || rc=1
wait $static_pid || rc=1
sleep 1  # the last prefixed lines

echo
echo "| lane | step | result | seconds |"
echo "|---|---|---|---|"
awk -F'|' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$LOGS/steps"
verdict=FAILED; [ "$rc" -eq 0 ] && verdict=passed
echo "make test: $verdict in $(( $(date +%s) - t0 ))s (logs: $LOGS/)"
exit "$rc"
