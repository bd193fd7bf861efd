#!/usr/bin/env bash
# Version matrix: the versions we claim, tested. Cells are the oldest and the newest ansible-core
# that Python 3.11 runs within meta/runtime.yml's requires_ansible (latest patch of each series,
# from PyPI), each with the oldest and the newest kubernetes.core within galaxy.yml's dependency
# range (hack/matrix/kubernetes-core.txt says which `ansible` release on PyPI bundles each one).
#
# Each cell gets its own venv, .tmp/matrix/<cell>/venv: that ansible-core, the collection's and
# kubernetes.core's Python requirements, pytest, and that kubernetes.core unpacked into the venv's
# site-packages/ansible_collections (where the `ansible` package would put it, so nothing else
# needs to be told where it is). Then, in the venv:
#   units     pytest tests/unit
#   sanity    hack/sanity.sh with this venv (VENV_BIN) and a copy of its own (SANITY_ROOT)
#   playbook  pytest $MATRIX_PLAYBOOK (one install, re-run and verify on local clusters)
# and a table: cell | ansible-core | kubernetes.core | units | sanity | playbook | seconds.
#
#   MATRIX_CELLS="core2.16-kc5.0.0 ..."   run only these cells (names as in the table)
#   MATRIX_STEPS="units sanity playbook"  run only these steps
#   MATRIX_PLAYBOOK="<pytest arguments>"  the playbook run (default below)
#   MATRIX_CACHE=DIR                      downloads and ansible-test's sanity venvs
#                                         (default ~/.cache/gloomesh/matrix)
#   SANITY_TESTS="..."                    passed on to hack/sanity.sh: only these sanity tests
# Logs: .tmp/matrix/<cell>/<step>.log; the table also goes to .tmp/matrix/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# Cell venvs are made with Python 3.11 (hack/sanity.sh runs ansible-test --python 3.11); helper
# code runs in the project's venv (PyYAML, packaging).
PYTHON=python3.11
HELPER=$ROOT/.venv/bin/python
STEPS=${MATRIX_STEPS:-units sanity playbook}
PLAYBOOK=${MATRIX_PLAYBOOK:-tests/integration/test_playbooks.py -k lifecycle}
read -r -a playbook_args <<<"$PLAYBOOK"
CACHE=${MATRIX_CACHE:-$HOME/.cache/gloomesh/matrix}
WORK=$ROOT/.tmp/matrix
export PIP_CACHE_DIR=$CACHE/pip PIP_DISABLE_PIP_VERSION_CHECK=1
mkdir -p "$CACHE/wheels" "$CACHE/home" "$WORK"
say() { echo "matrix: $*"; }
die() { echo "matrix: FAIL: $*" >&2; exit 1; }
t_all=$(date +%s)

# -- the claims --------------------------------------------------------------------------------
read -r core_floor kc_floor kc_ceiling < <("$HELPER" - <<'EOF'
import re, yaml
core = yaml.safe_load(open("meta/runtime.yml"))["requires_ansible"]
kc = yaml.safe_load(open("galaxy.yml"))["dependencies"]["kubernetes.core"]
floor = re.fullmatch(r">=(\d+\.\d+)(\.0)?", core.strip())
lo = re.search(r">=\s*([\d.]+)", kc)
hi = re.search(r"<\s*([\d.]+)", kc)
if not (floor and lo and hi):
    raise SystemExit(f"matrix: cannot read the claims: requires_ansible {core!r}, kubernetes.core {kc!r}")
print(floor.group(1), lo.group(1), hi.group(1))
EOF
)

# ansible-core: the newest patch of the floor's series, and the newest release at all that this
# Python can install (pip skips releases whose Requires-Python excludes it: 2.20 needs 3.12).
core_wheel() {  # core_wheel <pip requirement> -> path of the downloaded wheel
  "$HELPER" -m pip download -q --no-deps --only-binary=:all: --python-version "$py_version" \
    -d "$CACHE/wheels" "$1" >/dev/null 2>&1 ||
    die "pip download $1"
  # shellcheck disable=SC2012  # wheel names hold no odd characters
  ls -t "$CACHE"/wheels/ansible_core-*.whl | while read -r w; do
    v=$(basename "$w" | cut -d- -f2)
    if "$HELPER" -c 'import sys; from packaging.specifiers import SpecifierSet as S; from packaging.requirements import Requirement as R
r = R(sys.argv[1]); sys.exit(sys.argv[2] not in r.specifier)' "$1" "$v" 2>/dev/null; then echo "$v"; fi
  done | sort -V | tail -1
}
py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
series_next=$("$HELPER" -c 'import sys; a, b = sys.argv[1].split("."); print(f"{a}.{int(b) + 1}")' "$core_floor")
core_oldest=$(core_wheel "ansible-core>=$core_floor,<$series_next")
core_newest=$(core_wheel "ansible-core>=$core_floor")
if [ -z "$core_oldest" ] || [ -z "$core_newest" ]; then die "no ansible-core release found for >=$core_floor"; fi

# kubernetes.core: the range's floor and the highest listed version below its ceiling.
read -r kc_oldest kc_oldest_from kc_newest kc_newest_from < <("$HELPER" - "$kc_floor" "$kc_ceiling" <<'EOF'
import sys
from packaging.version import Version as V
floor, ceiling = V(sys.argv[1]), V(sys.argv[2])
rows = [line.split() for line in open("hack/matrix/kubernetes-core.txt") if line.strip() and not line.startswith("#")]
inside = sorted((V(kc), kc, ansible) for kc, ansible in rows if floor <= V(kc) < ceiling)
if not inside or inside[0][0] != floor:
    raise SystemExit(f"matrix: hack/matrix/kubernetes-core.txt lists no ansible release with kubernetes.core {floor}")
print(inside[0][1], inside[0][2], inside[-1][1], inside[-1][2])
EOF
)

kc_source() {  # kc_source <kubernetes.core version> <ansible version> -> the cached ansible wheel
  local wheel=$CACHE/wheels/ansible-$2-py3-none-any.whl found
  if [ ! -f "$wheel" ]; then
    # The ansible release may need a newer Python than ours; only its files are used.
    "$HELPER" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      -d "$CACHE/wheels" "ansible==$2" >/dev/null 2>&1 || die "pip download ansible==$2"
  fi
  found=$(unzip -p "$wheel" ansible_collections/kubernetes/core/MANIFEST.json |
    "$HELPER" -c 'import json, sys; print(json.load(sys.stdin)["collection_info"]["version"])')
  [ "$found" = "$1" ] || die "ansible $2 bundles kubernetes.core $found, not $1 (hack/matrix/kubernetes-core.txt)"
  echo "$wheel"
}
kc_oldest_wheel=$(kc_source "$kc_oldest" "$kc_oldest_from")
kc_newest_wheel=$(kc_source "$kc_newest" "$kc_newest_from")
pytest_pin=$(grep -E '^pytest==' requirements-dev.txt) || die "requirements-dev.txt pins no pytest"

say "claims: ansible-core $(grep requires_ansible meta/runtime.yml | cut -d: -f2- | tr -d ' "'), kubernetes.core $kc_floor..<$kc_ceiling"
say "ansible-core $core_oldest and $core_newest (PyPI, newest for Python $py_version);" \
  "kubernetes.core $kc_oldest (ansible $kc_oldest_from) and $kc_newest (ansible $kc_newest_from)"

cells=()
for core in "$core_oldest" "$core_newest"; do
  for kc in "$kc_oldest" "$kc_newest"; do
    cells+=("core${core%.*}-kc$kc|$core|$kc")
  done
done

# -- one cell ------------------------------------------------------------------------------------
# These functions run where `set -e` does not apply (in `||` / `if` contexts): every command that
# can fail says so itself.
setup_venv() {  # setup_venv <dir> <core> <kubernetes.core> <ansible wheel>
  local dir=$1 venv=$1/venv stamp site
  unzip -p "$4" ansible_collections/kubernetes/core/requirements.txt >"$dir/kubernetes-core-requirements.txt" ||
    return 1
  stamp="$py_version $2 $3 $pytest_pin $(cat requirements.txt "$dir/kubernetes-core-requirements.txt" | sha256sum | cut -c1-16)"
  if [ "$(cat "$venv/.matrix-stamp" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" || return 1
  "$venv/bin/python" -m pip install -q --find-links "$CACHE/wheels" "ansible-core==$2" "$pytest_pin" \
    -r requirements.txt -r "$dir/kubernetes-core-requirements.txt" || return 1
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
  unzip -q -o "$4" 'ansible_collections/kubernetes/core/*' -d "$site" || return 1
  echo "$stamp" >"$venv/.matrix-stamp"
}

check_venv() {  # check_venv <dir> <core> <kubernetes.core>: what the cell runs is what it says
  "$1/venv/bin/python" - "$2" "$3" <<'EOF' || return 1
import json, os, sys
import ansible_collections.kubernetes.core as kc
from ansible.release import __version__ as core
from packaging.specifiers import SpecifierSet
import yaml

path = list(kc.__path__)[0]
found = json.load(open(os.path.join(path, "MANIFEST.json")))["collection_info"]["version"]
requires = yaml.safe_load(open(os.path.join(path, "meta", "runtime.yml")))["requires_ansible"]
if core != sys.argv[1] or found != sys.argv[2]:
    sys.exit(f"venv has ansible-core {core} and kubernetes.core {found}, expected {sys.argv[1]} and {sys.argv[2]}")
if core not in SpecifierSet(requires):
    sys.exit(f"kubernetes.core {found} requires ansible {requires}: not for ansible-core {core}")
EOF
  # No other kubernetes.core where ansible looks first (collections paths precede site-packages).
  local other
  for other in "$HOME/.ansible/collections" /usr/share/ansible/collections; do
    if [ -d "$other/ansible_collections/kubernetes/core" ]; then
      echo "another kubernetes.core in $other would shadow the cell's"
      return 1
    fi
  done
}

results=()
run_step() {  # run_step <cell dir> <step> <command...>: "pass (Ns)" or "FAIL (Ns)" in $status
  local dir=$1 step=$2 t0 rc=0
  shift 2
  t0=$(date +%s)
  "$@" >"$dir/$step.log" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then status="pass ($(( $(date +%s) - t0 ))s)"; else
    status="FAIL ($(( $(date +%s) - t0 ))s)"
    failed=1
    say "$cell: $step failed (rc=$rc), last lines of $dir/$step.log:"
    tail -n 25 "$dir/$step.log" | sed 's/^/    /'
  fi
}

# shellcheck disable=SC2317  # called through run_step
sanity_in() {  # hack/sanity.sh with the cell's venv; proves which ansible-test ran
  local dir=$1 core=$2 rc=0
  # ansible-test keeps its sanity venvs in ~/.ansible/test, named by their requirements only: a
  # `make sanity` building the same one at the same time breaks both. The matrix keeps its own.
  HOME=$CACHE/home VENV_BIN=$dir/venv/bin SANITY_ROOT=$dir/sanity SKIP_UNITS=1 bash hack/sanity.sh || rc=$?
  if ! grep -q "ansible-test version $core" "$dir/sanity.log"; then
    echo "matrix: hack/sanity.sh did not run ansible-test $core from VENV_BIN=$dir/venv/bin"
    return 1
  fi
  return "$rc"
}

failed=0
for entry in "${cells[@]}"; do
  IFS='|' read -r cell core kc <<<"$entry"
  if [ -n "${MATRIX_CELLS:-}" ] && [[ " $MATRIX_CELLS " != *" $cell "* ]]; then continue; fi
  dir=$WORK/$cell
  wheel=$kc_oldest_wheel
  [ "$kc" = "$kc_oldest" ] || wheel=$kc_newest_wheel
  t_cell=$(date +%s)
  say "$cell: venv (ansible-core $core, kubernetes.core $kc)"
  row=("$cell" "$core" "$kc")
  mkdir -p "$dir"
  if ! setup_venv "$dir" "$core" "$kc" "$wheel" >"$dir/setup.log" 2>&1 || ! check_venv "$dir" "$core" "$kc" >>"$dir/setup.log" 2>&1; then
    say "$cell: set-up failed:"
    tail -n 25 "$dir/setup.log" | sed 's/^/    /'
    failed=1
    row+=("n/a" "n/a" "n/a")
  else
    for step in units sanity playbook; do
      if [[ " $STEPS " != *" $step "* ]]; then row+=("skipped"); continue; fi
      say "$cell: $step"
      case $step in
        units) run_step "$dir" units "$dir/venv/bin/python" -m pytest -p no:cacheprovider -q tests/unit ;;
        sanity) run_step "$dir" sanity sanity_in "$dir" "$core" ;;
        playbook) run_step "$dir" playbook "$dir/venv/bin/python" -m pytest -p no:cacheprovider -q "${playbook_args[@]}" ;;
      esac
      row+=("$status")
    done
  fi
  row+=("$(( $(date +%s) - t_cell ))")
  results+=("$(IFS='|'; echo "${row[*]}")")
done

# -- the table -----------------------------------------------------------------------------------
{
  echo "| cell | ansible-core | kubernetes.core | units | sanity | playbook | seconds |"
  echo "|---|---|---|---|---|---|---|"
  for r in "${results[@]}"; do echo "| ${r//|/ | } |"; done
} | tee "$WORK/table.md"
echo "kubernetes.core $kc_oldest from ansible $kc_oldest_from, $kc_newest from ansible $kc_newest_from (PyPI);" \
  "playbook run: pytest $PLAYBOOK" | tee -a "$WORK/table.md"
say "done in $(( $(date +%s) - t_all ))s"
exit $failed
