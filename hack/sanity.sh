#!/usr/bin/env bash
# Quality gate: `ansible-test sanity` (every test, empty ignore files) and `ansible-test units`,
# local mode with Python 3.11, no Docker.
#
# ansible-test only works from inside <root>/ansible_collections/<namespace>/<name>, and it
# resolves the working directory through symlinks, so the collection is copied (git-tracked and
# untracked-but-not-ignored files) into .tmp/sanity/ansible_collections/gloomesh/multicluster.
#
#   SANITY_TESTS="pep8 validate-modules"  run only these sanity tests
#   SKIP_UNITS=1                          skip `ansible-test units`
#   SKIP_SANITY=1                         skip `ansible-test sanity` (hack/test.sh: the matrix runs it)
#   VENV_BIN=DIR                          tools from this venv (another ansible-core: hack/version-matrix.sh)
#   SANITY_ROOT=DIR                       the copy goes to DIR/ansible_collections/gloomesh/multicluster
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV_BIN=${VENV_BIN:-$ROOT/.venv/bin}
# ansible-test --python 3.11 looks python3.11 up on PATH: make it the project's venv.
export PATH=$VENV_BIN:$PATH

COLL_ROOT=${SANITY_ROOT:-$ROOT/.tmp/sanity}
DEST=$COLL_ROOT/ansible_collections/gloomesh/multicluster

# 1. Offline pip bootstrap for the virtual environments ansible-test creates (see hack/get_pip.py).
pip_version=$("$VENV_BIN/python" - <<'EOF'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3.11"))["pip"])
EOF
)
get_pip_cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -e "$get_pip_cache" ]; then
  mkdir -p "$(dirname "$get_pip_cache")"
  cp hack/get_pip.py "$get_pip_cache"
  echo "sanity: installed the offline pip bootstrap at $get_pip_cache"
fi

# The shellcheck sanity test is silently skipped without the program: install it (Debian's
# package) where we can, otherwise refuse to report a partial run as clean.
if ! command -v shellcheck >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "sanity: apt-get install shellcheck"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
  else
    echo "sanity: shellcheck is required (apt-get install shellcheck)" >&2
    exit 1
  fi
fi

# 2. A copy of the collection where ansible-test wants it: what git would list (tracked files and
#    untracked ones that .gitignore does not exclude). Excluded paths on the copy's side survive
#    --delete, which keeps its tests/output (and the virtual environment ansible-test units
#    made there last time) and its own .git.
mkdir -p "$DEST"
rsync -a --delete --filter=':- .gitignore' --exclude=/.git --exclude=/.venv/ --exclude=/.tmp/ \
  "$ROOT/" "$DEST/"
# ansible-test lists content with git from the nearest .git upwards; without one of its own the
# copy would be seen through this repository's .git, where .tmp/ is ignored (no files at all).
[ -d "$DEST/.git" ] || git init -q "$DEST"

# 3. kubernetes.core (our module_utils build on it) from the venv's `ansible` package: ansible-test
#    only puts the collection root's ansible_collections on the path, not site-packages.
K8S_CORE=$("$VENV_BIN/python" -c 'import ansible_collections.kubernetes.core as m; print(list(m.__path__)[0])')
mkdir -p "$COLL_ROOT/ansible_collections/kubernetes"
ln -sfn "$K8S_CORE" "$COLL_ROOT/ansible_collections/kubernetes/core"

cd "$DEST"
echo "sanity: $(ansible-test --version) from $VENV_BIN"
if [ -z "${SKIP_SANITY:-}" ]; then
  t0=$(date +%s)
  # shellcheck disable=SC2086  # SANITY_TESTS is a list of test names
  ansible-test sanity --python 3.11 --local --color no ${SANITY_TESTS:+$(printf -- '--test %s ' $SANITY_TESTS)}
  echo "sanity: ansible-test sanity passed in $(( $(date +%s) - t0 ))s"
fi

if [ -z "${SKIP_UNITS:-}" ]; then
  t0=$(date +%s)
  ansible-test units --python 3.11 --venv --requirements --color no
  echo "sanity: ansible-test units passed in $(( $(date +%s) - t0 ))s"
fi
