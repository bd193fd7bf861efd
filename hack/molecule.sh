#!/usr/bin/env bash
# Quality gate: molecule.
#  - `default` scenario, full test sequence: local kube-apiservers with the controller simulators
#    (create), install_manual_link (converge), idempotence, verify, destroy.
#  - `kind` scenario: `molecule syntax` only (it needs Docker, kind and a license key; see README).
# Molecule finds the scenarios under extensions/molecule/ from the collection root (galaxy.yml).
#
#   MOLECULE_SCENARIOS="default"   full runs to do (default: default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/collection-env.sh
. hack/collection-env.sh
export ANSIBLE_NOCOLOR=1 PY_COLORS=0
# Below, MOLECULE_EPHEMERAL_DIRECTORY keeps each scenario's state (cluster state dir,
# helm recordings, PKI) inside the repository's scratch space, .tmp/molecule/<scenario>.

t0=$(date +%s)
MOLECULE_EPHEMERAL_DIRECTORY=$ROOT/.tmp/molecule/kind GLOOMESH_LICENSE_KEY=syntax-check-only \
  molecule syntax -s kind
echo "molecule: kind syntax passed in $(( $(date +%s) - t0 ))s"

# Molecule destroys after a failure too; this also covers an interrupted run (Ctrl-C, timeout).
stop_default_clusters() {
  if [ -f .tmp/molecule-clusters/default/state.json ]; then
    python -m tests.harness down --state-dir .tmp/molecule-clusters/default || true
  fi
}
trap stop_default_clusters EXIT

for scenario in ${MOLECULE_SCENARIOS:-default}; do
  t0=$(date +%s)
  MOLECULE_EPHEMERAL_DIRECTORY=$ROOT/.tmp/molecule/$scenario molecule test -s "$scenario"
  echo "molecule: $scenario test passed in $(( $(date +%s) - t0 ))s"
done
