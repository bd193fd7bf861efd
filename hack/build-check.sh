#!/usr/bin/env bash
# Quality gate: the built artifact is what users install.
#  1. `ansible-galaxy collection build` into .tmp/build;
#  2. install the artifact into an empty collections path (offline, no deps: kubernetes.core comes
#     from the `ansible` package in the venv's site-packages);
#  3. from that install only: the `gloomesh` action group lists exactly the modules that take the
#     Kubernetes connection options; ansible-doc of every module, of every role's argument spec, of
#     every filter; `ansible-doc --metadata-dump` without errors; syntax check of every playbook by
#     FQCN;
#  4. the artifact holds only what a user runs (no tests, tooling, CI, scratch files), its license
#     metadata matches LICENSE and the files' SPDX headers, and meta/execution-environment.yml
#     names files inside the collection;
#  5. execution environments render with `ansible-builder create` (no container engine): ours
#     (execution-environment/), and a consumer's that lists the artifact as a collection, whose
#     introspected requirements must contain ours;
#  6. ansible-navigator.yml runs the README's `ansible-navigator run` command (without the
#     container) when ansible-navigator is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_NOCOLOR=1
BUILD=$ROOT/.tmp/build
COLL=gloomesh.multicluster
fail() { echo "build-check: FAIL: $*" >&2; exit 1; }
t_all=$(date +%s)

# 1. Build.
rm -rf "$BUILD"
mkdir -p "$BUILD"
ansible-galaxy collection build --force --output-path "$BUILD" . >/dev/null
built=("$BUILD"/gloomesh-multicluster-*.tar.gz)
artifact=${built[0]}
echo "build-check: built $(basename "$artifact") ($(du -k "$artifact" | cut -f1) KiB)"

# 4. Artifact contents: only what a user runs. Anything else (tests/, hack/, Makefile, .ci/,
#    extensions/, dev requirements, scratch files) fails with the list of offending entries.
tar -tzf "$artifact" | sort >"$BUILD/files.txt"
echo "build-check: $(wc -l <"$BUILD/files.txt") entries in the artifact (list: $BUILD/files.txt)"
shipped='^(MANIFEST\.json|FILES\.json|README\.md|LICENSE|CHANGELOG\.rst|requirements\.txt|bindep\.txt|changelogs/(changelog\.yaml)?|(plugins|roles|playbooks|meta|docs|examples)/.*)$'
extra=$(grep -vE "$shipped" "$BUILD/files.txt" || true)
[ -z "$extra" ] || fail "artifact contains files a user does not run (galaxy.yml build_ignore):"$'\n'"$extra"
for dev in tests/ hack/ Makefile .ci/ extensions/ requirements-dev.txt; do
  ! grep -qE "^${dev//./\\.}" "$BUILD/files.txt" || fail "artifact contains $dev"
done
bad=$(grep -E '(^|/)(\.venv|\.tmp|\.git|__pycache__|\.pytest_cache|tests/output)(/|$)|\.pyc$|\.tar\.gz$' "$BUILD/files.txt" || true)
[ -z "$bad" ] || fail "artifact contains scratch files:"$'\n'"$bad"
for f in MANIFEST.json FILES.json meta/runtime.yml meta/execution-environment.yml README.md LICENSE \
  requirements.txt bindep.txt changelogs/changelog.yaml; do
  grep -qxF "$f" "$BUILD/files.txt" || fail "artifact lacks $f"
done
unpacked=$BUILD/unpacked
mkdir -p "$unpacked"
tar -xzf "$artifact" -C "$unpacked"
python - "$unpacked" <<'EOF' || fail "license metadata or meta/execution-environment.yml"
import glob, json, os, re, sys, yaml
root = sys.argv[1]
info = json.load(open(os.path.join(root, "MANIFEST.json")))["collection_info"]
# galaxy.yml: license_file, not a license list that could disagree with it.
if info["license"] or info["license_file"] != "LICENSE":
    sys.exit(f"MANIFEST.json: license {info['license']}, license_file {info['license_file']}; expected license_file LICENSE only")
stated = set(re.findall(r"SPDX: ([^;)]+)", open(os.path.join(root, "LICENSE")).read()))
for path in glob.glob(os.path.join(root, "plugins", "**", "*.py"), recursive=True):
    for spdx in re.findall(r"SPDX-License-Identifier: (.+)", open(path).read()):
        if spdx.strip() not in stated:
            sys.exit(f"{os.path.relpath(path, root)}: SPDX {spdx.strip()!r} is not stated in LICENSE {sorted(stated)}")
modules = [m for m in glob.glob(os.path.join(root, "plugins", "modules", "*.py"))
           if os.path.basename(m) != "__init__.py"]
unlabelled = [os.path.basename(m) for m in modules if "SPDX-License-Identifier" not in open(m).read()]
if unlabelled:
    sys.exit(f"modules without an SPDX header: {unlabelled}")
# What ansible-builder reads from the installed collection: relative paths that stay inside it.
deps = yaml.safe_load(open(os.path.join(root, "meta", "execution-environment.yml")))["dependencies"]
for kind in ("python", "system"):
    rel = deps[kind]
    target = os.path.normpath(os.path.join(root, rel))
    if os.path.isabs(rel) or not target.startswith(root + os.sep) or not os.path.isfile(target):
        sys.exit(f"meta/execution-environment.yml dependencies.{kind}: {rel} is not a file inside the collection")
print(f"build-check: license_file LICENSE ({' | '.join(sorted(stated))}); {len(modules)} modules labelled; "
      f"meta/execution-environment.yml -> {deps['python']}, {deps['system']}")
EOF

# 2. Install into an empty collections path; this copy is the only gloomesh.multicluster in sight.
export ANSIBLE_COLLECTIONS_PATH=$BUILD/collections
ansible-galaxy collection install --offline --no-deps -p "$ANSIBLE_COLLECTIONS_PATH" "$artifact" >/dev/null
installed=$ANSIBLE_COLLECTIONS_PATH/ansible_collections/gloomesh/multicluster
[ -f "$installed/MANIFEST.json" ] || fail "the artifact did not install into $installed"
cd "$BUILD"  # not the repository: nothing may resolve from the working tree

# 3a. Modules: the action group `gloomesh` (module_defaults) lists exactly the modules that take
#     the Kubernetes connection options, as their documentation says; the groups it extends exist;
#     and each module's documentation renders (below).
modules=()
for f in "$installed"/plugins/modules/*.py; do
  [ "$(basename "$f")" = __init__.py ] || modules+=("$(basename "$f" .py)")
done
ansible-doc -t module --json "${modules[@]/#/$COLL.}" >"$BUILD/module-docs.json" ||
  fail "ansible-doc --json of the modules"
python - "$installed/meta/runtime.yml" "$BUILD/module-docs.json" <<'EOF' || fail "meta/runtime.yml action group gloomesh"
import importlib, json, os, sys, yaml
group = yaml.safe_load(open(sys.argv[1]))["action_groups"]["gloomesh"]
members = sorted(m for m in group if isinstance(m, str))
docs = json.load(open(sys.argv[2]))
takes_k8s = sorted(name.split(".")[-1] for name, d in docs.items()
                   if {"kubeconfig", "context"} <= set(d["doc"].get("options", {})))
if members != takes_k8s:
    sys.exit(f"action group gloomesh lists {members}; the modules taking kubeconfig/context are {takes_k8s}")
for entry in group:
    for extended in entry.get("metadata", {}).get("extend_group", []) if isinstance(entry, dict) else ():
        ns, name, action_group = extended.split(".")
        path = list(importlib.import_module(f"ansible_collections.{ns}.{name}").__path__)[0]
        if action_group not in yaml.safe_load(open(os.path.join(path, "meta", "runtime.yml"))).get("action_groups", {}):
            sys.exit(f"action group gloomesh extends {extended}, which {ns}.{name} does not define")
EOF

doc_check() {  # doc_check <type> <name>: ansible-doc renders it without error or warning
  local out
  if ! out=$(ansible-doc -t "$1" "$COLL.$2" 2>&1); then
    fail "ansible-doc -t $1 $COLL.$2:"$'\n'"$out"
  fi
  if grep -qiE '\[(WARNING|ERROR)\]' <<<"$out"; then
    fail "ansible-doc -t $1 $COLL.$2 warns:"$'\n'"$(grep -iE '\[(WARNING|ERROR)\]' <<<"$out")"
  fi
}
for m in "${modules[@]}"; do doc_check module "$m"; done
listed=$(ansible-doc -t module -l "$COLL" 2>/dev/null | awk '{print $1}' | sed "s/^$COLL\.//" | sort | tr '\n' ' ')
[ "${listed% }" = "${modules[*]}" ] || fail "ansible-doc -l $COLL lists (${listed% }), expected (${modules[*]})"

# 3b. Roles: each role's argument spec renders.
roles=()
for d in "$installed"/roles/*/; do roles+=("$(basename "$d")"); done
for r in "${roles[@]}"; do
  [ -f "$installed/roles/$r/meta/argument_specs.yml" ] || fail "role $r has no meta/argument_specs.yml"
  doc_check role "$r"
done

# 3c. Other plugins (filters, ...): every documented one renders. Like ansible-test's ansible-doc
#     test, filters and tests without documentation are allowed (they are listed as a note).
plugin_types=()
for d in "$installed"/plugins/*/; do
  t=$(basename "$d")
  # Not documentable with ansible-doc -t: shared code and action plugins (documented by their module).
  case $t in modules|module_utils|doc_fragments|plugin_utils|action) continue ;; esac
  plugin_types+=("$t")
done
for t in "${plugin_types[@]}"; do
  listing=$(ansible-doc -t "$t" -l --json "$COLL") || fail "ansible-doc -t $t -l $COLL"
  while read -r state name; do
    case $state in
      documented) doc_check "$t" "${name#"$COLL".}" ;;
      undocumented) echo "build-check: note: $t $name has no documentation" ;;
    esac
  done < <(python -c '
import json, sys
for name, desc in sorted(json.load(sys.stdin).items()):
    print("undocumented" if desc == "UNDOCUMENTED" else "documented", name)' <<<"$listing")
done

# 3d. The metadata dump (what documentation builders read) has no errors.
python - <<EOF || fail "ansible-doc --metadata-dump reports errors"
import json, subprocess, sys
out = subprocess.run(["ansible-doc", "--metadata-dump", "--no-fail-on-errors", "$COLL"],
                     capture_output=True, text=True, check=True).stdout
dump = json.loads(out)
# Undocumented filters and tests are allowed (as in 3c); any other error is not.
errors = [(ptype, name, data["error"]) for ptype, plugins in dump["all"].items()
          for name, data in plugins.items() if isinstance(data, dict) and data.get("error")
          and not (ptype in ("filter", "test") and data["error"].startswith("Missing documentation"))]
for e in errors:
    print("build-check: metadata-dump error:", *e, file=sys.stderr)
count = sum(len(p) for p in dump["all"].values())
print(f"build-check: metadata-dump: {count} documented objects")
sys.exit(1 if errors or not count else 0)
EOF

# 3e. Playbooks run by FQCN from the installed artifact.
for p in "$installed"/playbooks/*.yml; do
  name=$(basename "$p" .yml)
  out=$(ansible-playbook --syntax-check "$COLL.$name" 2>&1) || fail "syntax check of $COLL.$name:"$'\n'"$out"
done
cd "$ROOT"
playbooks=("$installed"/playbooks/*.yml)
echo "build-check: ${#modules[@]} modules, ${#roles[@]} roles, plugin types [${plugin_types[*]}], ${#playbooks[@]} playbooks OK from the artifact"

# 5. Execution environments. `ansible-builder create` writes the build context; what a container
#    build would then do with the collections is replayed here: the galaxy stage's
#    `ansible-galaxy collection install -r requirements.yml` (offline: only the entries that are
#    files in the context), then the builder stage's introspection command exactly as the
#    Containerfile runs it, which merges every installed collection's meta/execution-environment.yml
#    requirements with the definition's own.
containerfile_of() {  # ansible-builder names it Containerfile for podman, Dockerfile for docker
  if [ -f "$1/Containerfile" ]; then echo "$1/Containerfile"; else echo "$1/Dockerfile"; fi
}
replay_build() {  # replay_build <context> <out>: writes <out>/requirements.txt and <out>/bindep.txt
  local ctx=$1 out=$2 cf line
  cf=$(containerfile_of "$ctx")
  mkdir -p "$out/collections"
  # Beside requirements.yml: ansible-galaxy resolves file entries relative to the requirements file.
  python - "$ctx/_build/requirements.yml" "$ctx/_build/requirements-offline.yml" <<'EOF'
import sys, yaml
reqs = yaml.safe_load(open(sys.argv[1]))
yaml.safe_dump({"collections": [c for c in reqs["collections"] if c.get("type") == "file"]}, open(sys.argv[2], "w"))
EOF
  (cd "$ctx/_build" && ANSIBLE_COLLECTIONS_PATH=$out/collections ansible-galaxy collection install \
    --offline --no-deps -r requirements-offline.yml -p "$out/collections" >/dev/null)
  line=$(grep -E '^RUN .*/output/scripts/introspect\.py introspect ' "$cf") ||
    fail "$cf has no introspection step"
  read -r -a args <<<"${line#*introspect.py introspect }"
  (cd "$ctx/_build" && python scripts/introspect.py introspect "${args[@]//\/tmp\/src/$out}" \
    "$out/collections" >"$out/introspect.log") || fail "introspection of $ctx:"$'\n'"$(cat "$out/introspect.log")"
}
requirement_lines() {  # the requirement lines of a requirements.txt / bindep.txt
  grep -vE '^\s*(#|$)' "$1" | sed -e 's/\s*#.*//'
}
assert_ours() {  # assert_ours <context> <out> <what>: our requirements arrive, attributed to us
  local req name skipped
  for name in kubernetes PyYAML cryptography; do
    grep -qE "^${name}[<>=!~ ]" "$ROOT/requirements.txt" || fail "requirements.txt lacks $name"
  done
  # ansible-builder drops a few names from every collection's list (EXCLUDE_REQUIREMENTS in its
  # introspection script): those must come with ansible-core itself (PyYAML does).
  skipped=" $(python -c 'import sys; sys.path.insert(0, sys.argv[1]); import introspect
print(" ".join(introspect.EXCLUDE_REQUIREMENTS))' "$1/_build/scripts") "
  while read -r req; do
    name=$(grep -oE '^[A-Za-z0-9._-]+' <<<"$req" | tr '[:upper:]' '[:lower:]')
    if [[ $skipped == *" $name "* ]]; then
      python -c 'import re, sys; from importlib.metadata import requires
sys.exit(not any(re.match(sys.argv[1] + r"\b", r, re.I) for r in requires("ansible-core")))' "$name" ||
        fail "$3: ansible-builder leaves out $req and ansible-core does not require it"
      continue
    fi
    grep -qxF "$req  # from collection $COLL" "$2/requirements.txt" ||
      fail "$3: introspected Python requirements lack '$req' from $COLL:"$'\n'"$(cat "$2/requirements.txt")"
  done < <(requirement_lines "$ROOT/requirements.txt")
  while read -r req; do
    grep -qxF "$req  # from collection $COLL" "$2/bindep.txt" ||
      fail "$3: introspected system requirements lack '$req' from $COLL:"$'\n'"$(cat "$2/bindep.txt")"
  done < <(requirement_lines "$ROOT/bindep.txt")
}

# 5a. Ours: helm checked against its published checksum, kubernetes.core from Galaxy, and this
#     very artifact copied into the context (the definition takes it from the repository root,
#     where `ansible-galaxy collection build` leaves it).
at_root=$ROOT/$(basename "$artifact")
copied=
if [ ! -e "$at_root" ]; then cp "$artifact" "$at_root"; copied=$at_root; fi
rm -rf .tmp/ee
ansible-builder create -f execution-environment/execution-environment.yml -c .tmp/ee >/dev/null
[ -z "$copied" ] || rm -f "$copied"
containerfile=$(containerfile_of .tmp/ee)
grep -q 'sha256sum -c' "$containerfile" || fail "$containerfile does not check the helm checksum"
grep -q 'install -m 0755 .*/usr/local/bin/helm' "$containerfile" || fail "$containerfile does not install helm"
grep -q 'kubernetes.core' .tmp/ee/_build/requirements.yml || fail "EE galaxy requirements lack kubernetes.core"
grep -qF "name: collections/$(basename "$artifact")" .tmp/ee/_build/requirements.yml ||
  fail "execution-environment/execution-environment.yml does not install $(basename "$artifact") (version in galaxy.yml?)"
cmp -s "$artifact" ".tmp/ee/_build/collections/$(basename "$artifact")" ||
  fail "the EE build context does not hold the artifact just built"
replay_build .tmp/ee "$BUILD/ee-ours"
assert_ours .tmp/ee "$BUILD/ee-ours" "our EE"
grep -qx 'tar \[platform:rpm platform:dpkg\]  # from collection user' "$BUILD/ee-ours/bindep.txt" ||
  fail "our EE lacks tar for the helm step:"$'\n'"$(cat "$BUILD/ee-ours/bindep.txt")"
echo "build-check: our execution environment renders ($containerfile) and takes our requirements"

# 5b. A consumer's EE definition (theirs, written here) that lists the artifact as a collection:
#     the image gets our Python and system requirements without naming them.
consumer=$BUILD/consumer
mkdir -p "$consumer"
cat >"$consumer/execution-environment.yml" <<EOF
---
version: 3
images:
  base_image:
    name: quay.io/centos/centos:stream10
dependencies:
  python_interpreter:
    package_system: python3
    python_path: /usr/bin/python3
  ansible_core:
    package_pip: ansible-core
  ansible_runner:
    package_pip: ansible-runner
  python:
    - requests
  system:
    - git [platform:rpm]
  galaxy:
    collections:
      - name: collections/$(basename "$artifact")
        type: file
additional_build_files:
  - src: $artifact
    dest: collections
options:
  package_manager_path: /usr/bin/dnf
EOF
ansible-builder create -f "$consumer/execution-environment.yml" -c "$consumer/context" >/dev/null
replay_build "$consumer/context" "$consumer/out"
assert_ours "$consumer/context" "$consumer/out" "consumer EE"
grep -qx 'requests  # from collection user' "$consumer/out/requirements.txt" ||
  fail "consumer EE lost its own Python requirements:"$'\n'"$(cat "$consumer/out/requirements.txt")"
echo "build-check: a consumer EE listing the artifact gets our requirements:" \
  "$(grep -c "from collection $COLL" "$consumer/out/requirements.txt") Python," \
  "$(grep -c "from collection $COLL" "$consumer/out/bindep.txt") system"

# 6. ansible-navigator.yml: the README's command, resolved from the installed artifact. --ee false
#    runs it without a container engine; the settings file is read and validated all the same.
if command -v ansible-navigator >/dev/null; then
  project=$BUILD/navigator-project
  mkdir -p "$project/inventory"
  cp ansible-navigator.yml "$project/"
  printf 'all:\n  children:\n    workload_clusters:\n      hosts:\n        cluster1:\n' >"$project/inventory/hosts.yml"
  out=$(cd "$project" && ANSIBLE_COLLECTIONS_PATH=$BUILD/collections \
    ansible-navigator run "$COLL.install_manual_link" -i inventory --ee false --syntax-check 2>&1) ||
    fail "ansible-navigator run $COLL.install_manual_link:"$'\n'"$out"
  python - ansible-navigator.yml "$installed/MANIFEST.json" <<'EOF' || fail "ansible-navigator.yml"
import json, sys, yaml
nav = yaml.safe_load(open(sys.argv[1]))["ansible-navigator"]
version = json.load(open(sys.argv[2]))["collection_info"]["version"]
ee = nav["execution-environment"]
found = (ee["enabled"], ee["image"], ee["pull"]["policy"], nav["mode"], nav["playbook-artifact"]["enable"])
wanted = (True, f"gloomesh-ee:{version}", "missing", "stdout", False)
if found != wanted:
    sys.exit(f"ansible-navigator.yml: (enabled, image, pull policy, mode, playbook artifact) = {found}, expected {wanted}")
EOF
  echo "build-check: ansible-navigator run $COLL.install_manual_link (settings from ansible-navigator.yml) OK"
else
  echo "build-check: SKIPPED ansible-navigator.yml check: ansible-navigator is not installed"
fi

echo "build-check: passed in $(( $(date +%s) - t_all ))s"
