# shellcheck shell=bash
# Sourced by the gate scripts: the venv's tools first on PATH, and the working tree resolvable as
# gloomesh.multicluster (.tmp/collections/ansible_collections/gloomesh/multicluster -> repo root).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROOT
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.tmp/collections
if [ ! -e "$ROOT/.tmp/collections/ansible_collections/gloomesh/multicluster" ]; then
  mkdir -p "$ROOT/.tmp/collections/ansible_collections/gloomesh"
  ln -s ../../../.. "$ROOT/.tmp/collections/ansible_collections/gloomesh/multicluster"
fi
