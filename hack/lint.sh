#!/usr/bin/env bash
# Quality gate: ansible-lint (production profile, strict, config in .ansible-lint) over the whole
# collection -- roles, playbooks, examples, extensions/molecule, galaxy.yml, meta/, changelogs --
# antsibull-changelog lint of the changelog fragments, and hack/yaml_duplicates.py (the `duplicates`
# tool reads code, not YAML: this does the same for the YAML that is our code).
# ansible-lint runs yamllint's rules on every YAML file it finds (rule `yaml`), so there is no
# separate yamllint pass.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/collection-env.sh
. hack/collection-env.sh

# ansible-lint puts $ANSIBLE_HOME/collections (default ~/.ansible/collections) before
# ANSIBLE_COLLECTIONS_PATH: an old install of this collection there would shadow the working tree.
export ANSIBLE_HOME=$ROOT/.tmp/ansible-lint-home
mkdir -p "$ANSIBLE_HOME"

t0=$(date +%s)
ansible-lint --nocolor
echo "lint: ansible-lint passed in $(( $(date +%s) - t0 ))s"

t0=$(date +%s)
antsibull-changelog lint
echo "lint: antsibull-changelog lint passed in $(( $(date +%s) - t0 ))s"

t0=$(date +%s)
python hack/yaml_duplicates.py
echo "lint: no repeated YAML runs ($(( $(date +%s) - t0 ))s)"

python hack/role_docs.py --check
