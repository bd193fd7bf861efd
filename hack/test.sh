#!/usr/bin/env bash
# shellcheck disable=SC2317  # the lane functions are called by name, through lane()
# `make test`: every gate, in three lanes at once. The two cluster lanes spend most of their time
# waiting on local API servers, controllers and timeouts (one alone keeps the load average near 1);
# the static lane is CPU work on files. Run one after the other they took 41 min warm on 2 cores.
#   clusters   pytest tests/harness/tests, pytest tests/integration except PLAYBOOK_FILES, molecule
#   playbooks  pytest of PLAYBOOK_FILES: whole playbook runs, most on fresh clusters of their own
#   static     pytest tests/unit, lint, ansible-test units, build-check, the version matrix
#              (units, ansible-test sanity and one playbook run per cell), the benchmark at N=3
#              (its own clusters: the static lane ends minutes before the others)
# Each pytest process starts its own session clusters, so the lanes share no cluster.
# `ansible-test sanity` runs in the matrix cells: the oldest and the newest ansible-core with the
# oldest and the newest kubernetes.core we claim. The main venv's versions lie between them, so a
# third sanity run there would repeat one of theirs; `make sanity` still runs it on its own.
# Each lane's output is printed with its name in front and kept in .tmp/test/<lane>.log; the lanes
# always run to the end, and the run fails if a step of any failed. A table of the steps' times
# closes the run; --durations lists the slowest integration tests of each lane.
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

# The integration files of the playbooks lane (a new file runs in the clusters lane).
PLAYBOOK_FILES=(test_awx_job_events.py test_day2.py test_drift.py test_faults.py test_playbooks.py)
playbook_paths=("${PLAYBOOK_FILES[@]/#/tests/integration/}")

# shellcheck disable=SC2086  # PYTEST is a command line
clusters() {
  local rc=0
  step clusters harness $PYTEST tests/harness/tests -q || rc=1
  step clusters integration $PYTEST tests/integration -q --durations=10 "${playbook_paths[@]/#/--ignore=}" || rc=1
  step clusters molecule bash hack/molecule.sh || rc=1
  return "$rc"
}

# shellcheck disable=SC2086
playbooks() {
  step playbooks integration $PYTEST "${playbook_paths[@]}" -q --durations=10
}

# shellcheck disable=SC2086
static() {
  local rc=0
  step static unit $PYTEST tests/unit -q || rc=1
  step static lint bash hack/lint.sh || rc=1
  step static ansible-test-units env SKIP_SANITY=1 bash hack/sanity.sh || rc=1
  step static build-check bash hack/build-check.sh || rc=1
  step static version-matrix env MATRIX_CELLS="$MATRIX_CELLS" bash hack/version-matrix.sh || rc=1
  # The benchmark at N=3 once, as a smoke test of the script (its numbers are not judged here).
  step static bench-smoke .venv/bin/python hack/benchmark.py --only scale --sizes 3 --baseline-sizes '' \
    --automatic-sizes '' --json "$LOGS/bench-smoke.json" || rc=1
  return "$rc"
}

lane() {  # lane <name>: runs it, its output prefixed and logged
  "$1" > >(tee "$LOGS/$1.log" | sed -u "s/^/[$1] /") 2>&1
}

t0=$(date +%s)
pids=()
for name in clusters playbooks static; do
  lane "$name" & pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
sleep 1  # the last prefixed lines

echo
echo "| lane | step | result | seconds |"
echo "|---|---|---|---|"
awk -F'|' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$LOGS/steps"
verdict=FAILED; [ "$rc" -eq 0 ] && verdict=passed
echo "make test: $verdict in $(( $(date +%s) - t0 ))s (logs: $LOGS/)"
exit "$rc"
