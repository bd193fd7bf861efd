#!/usr/bin/env bash
# Build upstream istiod (pilot-discovery) for the test harness, once per pin.
#
# The pin is the istio.io/istio version required by hack/assets/go.mod (a pseudo-version of
# istio/istio master), the module that also pins the control plane: one build list, so istiod
# compiles only Istio's own packages on top of what hack/build-control-plane.sh compiled into the
# same GOCACHE. Everything goes to $GLOOMESH_CACHE/assets/istiod-<pin>-<digest>/ (GLOOMESH_CACHE
# defaults to ~/.cache/gloomesh; the digest covers go.mod and go.sum) and is made again only when
# a pin changes:
#   pilot-discovery   built from the module with -trimpath (CGO off, as upstream's release build)
#   chart/            manifests/charts/istio-control/istio-discovery/{values.yaml,files/} of the
#                     module: the injection templates istiod's gateway deployment controller
#                     renders ("waypoint" for east-west Gateways), which a real install mounts
#                     from ConfigMap istio-sidecar-injector-<rev>
#   crds/             manifests/charts/base/files/crd-all.gen.yaml: Istio's CRDs
# Concurrent callers wait on a lock, then find the result. Progress goes to stderr; stdout is
# the folder. --locate prints the folder only when it is complete (exit 3 otherwise), building nothing.
#
# GLOOMESH_ISTIOD_BIN=/path/to/pilot-discovery: use that binary (tests/harness/istiod.py reads
# the variable); nothing is built, the folder gets chart/ and crds/ only.
set -euo pipefail

log() { echo "build-istiod: $*" >&2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/assets"
pin="$(awk '$1 == "istio.io/istio" { print $2 } $1 == "require" && $2 == "istio.io/istio" { print $3 }' "$module/go.mod" | head -n1)"
[ -n "$pin" ] || { log "no istio.io/istio requirement in $module/go.mod"; exit 1; }

if [ -n "${GLOOMESH_ISTIOD_BIN:-}" ] && [ ! -x "$GLOOMESH_ISTIOD_BIN" ]; then
  log "GLOOMESH_ISTIOD_BIN=$GLOOMESH_ISTIOD_BIN is not an executable"; exit 1
fi

cache="${GLOOMESH_CACHE:-$HOME/.cache/gloomesh}"
digest=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)
out="$cache/assets/istiod-$pin-$digest"
have_files() { [ -f "$out/chart/values.yaml" ] && [ -f "$out/chart/files/waypoint.yaml" ] && [ -f "$out/crds/crd-all.gen.yaml" ]; }
done_() { have_files && { [ -n "${GLOOMESH_ISTIOD_BIN:-}" ] || [ -x "$out/pilot-discovery" ]; }; }
if done_; then echo "$out"; exit 0; fi
if [ "${1:-}" = --locate ]; then
  log "no istiod for istio.io/istio@$pin in $out: run \`make istiod\` (once per pin), or set GLOOMESH_ISTIOD_BIN"
  exit 3
fi

mkdir -p "$cache/assets"
exec 9>"$cache/.build-istiod.lock"
if ! flock -n 9; then
  log "another build of istiod is running; waiting for it"
  flock 9
fi
if done_; then echo "$out"; exit 0; fi

# Go: the module's go directive says which (1.26 for this pin); GOTOOLCHAIN is the caller's.
go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
[ -x "$go_bin" ] || { log "no go on PATH (Go >= $(awk '$1 == "go" { print $2 }' "$module/go.mod") needed)"; exit 1; }

# The control plane's build cache and flags (GOCACHE is safe for concurrent builds).
export GOCACHE="$cache/gocache" GOFLAGS=-mod=readonly CGO_ENABLED=0
mkdir -p "$out"

if ! have_files; then
  src="$(cd "$module" && "$go_bin" mod download -json "istio.io/istio@$pin" | awk -F'"' '$2 == "Dir" { print $4 }')"
  [ -d "$src/manifests" ] || { log "go mod download istio.io/istio@$pin gave no source folder"; exit 1; }
  tmp="$out/.files.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/chart" "$tmp/crds"
  cp "$src/manifests/charts/istio-control/istio-discovery/values.yaml" "$tmp/chart/"
  cp -r "$src/manifests/charts/istio-control/istio-discovery/files" "$tmp/chart/files"
  cp "$src/manifests/charts/base/files/crd-all.gen.yaml" "$tmp/crds/"
  chmod -R u+w "$tmp"  # the module cache is read-only
  rm -rf "$out/chart" "$out/crds"
  mv "$tmp/chart" "$out/chart"; mv "$tmp/crds" "$out/crds"; rmdir "$tmp"
  log "injection templates and CRDs of istio.io/istio@$pin in $out"
fi

if [ -z "${GLOOMESH_ISTIOD_BIN:-}" ] && [ ! -x "$out/pilot-discovery" ]; then
  log "building istio.io/istio@$pin pilot-discovery with $("$go_bin" version) (once per pin; after \`make assets\` it compiles only Istio's own packages)"
  start=$(date +%s)
  # The version istiod reports (pkg/version/version.go; upstream's release build sets the same
  # variables from common/scripts/report_build_info.sh): the pin and its commit.
  pkg=istio.io/istio/pkg/version
  ldflags="-X $pkg.buildVersion=$pin -X $pkg.buildGitRevision=${pin##*-} -X $pkg.buildTag=$pin -X $pkg.buildStatus=Clean"
  # shellcheck source=hack/progress.sh
  . "$here/progress.sh"
  (cd "$module" && run_with_progress build-istiod "$go_bin" build -trimpath -ldflags "$ldflags" \
    -o "$out/pilot-discovery.tmp" istio.io/istio/pilot/cmd/pilot-discovery) >&2
  mv "$out/pilot-discovery.tmp" "$out/pilot-discovery"
  log "built in $(( $(date +%s) - start ))s"
fi
echo "$out"
