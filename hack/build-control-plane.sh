#!/usr/bin/env bash
# The binaries the local test clusters run: kube-apiserver, etcd and helm, built from Go modules
# pinned (version and checksum) in hack/assets/go.mod and go.sum. Nothing is downloaded but Go
# modules through the Go module proxy.
#
# Prints the folder that holds the three binaries (envtest's convention: KUBEBUILDER_ASSETS).
#   KUBEBUILDER_ASSETS=DIR   use DIR (kube-apiserver and etcd; helm from DIR or PATH), build nothing
#   --locate                 print the folder only if it is built; exit 3 (with a hint) otherwise
# The build lands in $GLOOMESH_CACHE/assets/<key> (default ~/.cache/gloomesh), where the key names
# the pinned versions and a digest of the pins: a change of pin builds anew, nothing else does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mod="$here/assets"

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in kube-apiserver etcd; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi

pin() { awk -v m="$1" '$1 == "require" {$1 = ""; $0 = $0} $1 == m && $2 ~ /^v/ {print $2; exit}' "$mod/go.mod"; }
k8s=$(pin k8s.io/kubernetes); etcd=$(pin go.etcd.io/etcd/server/v3); helm=$(pin helm.sh/helm/v3)
# -X: the version the binaries report (discovery's /version, helm version), as upstream's builds set it.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$k8s" | cut -d. -f2)"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
digest=$( (cat "$mod/go.mod" "$mod/go.sum" "$mod/cmd/etcd/main.go"; echo "$ldflags") | sha256sum | cut -c1-12)
cache="${GLOOMESH_CACHE:-$HOME/.cache/gloomesh}"
assets="$cache/assets/k8s-$k8s-etcd-$etcd-helm-$helm-$digest"
built() { [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ] && [ -x "$assets/helm" ]; }
if built; then echo "$assets"; exit 0; fi
if [ "${1:-}" = --locate ]; then
  echo "no control-plane binaries for $k8s/$etcd/$helm in $assets: run \`make assets\`" >&2; exit 3
fi

mkdir -p "$cache"
exec 9>"$cache/.build.lock"   # one build at a time: a second caller waits, then finds the binaries
flock 9
if built; then echo "$assets"; exit 0; fi

log() { echo "build-control-plane: $*" >&2; }
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { log "no Go toolchain: install Go >= $(awk '$1 == "go" {print $2}' "$mod/go.mod")"; exit 1; }
# CGO off, as upstream's release builds of all three; hack/build-istiod.sh compiles with the same
# flags into the same GOCACHE, so istiod reuses the packages both need (Kubernetes clients, gRPC).
export GOFLAGS=-mod=readonly GOCACHE="$cache/gocache" GOPATH="${GOPATH:-$HOME/go}" CGO_ENABLED=0
tmp="$assets.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "Kubernetes $k8s (kube-apiserver), etcd $etcd, helm $helm from Go modules; a first build takes" \
    "5-15 minutes on 2 cores (modules are downloaded as the compiler needs them)"
# shellcheck source=hack/progress.sh
. "$here/progress.sh"
(cd "$mod" && run_with_progress build-control-plane "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver ./cmd/etcd helm.sh/helm/v3/cmd/helm)
rm -rf "$assets"; mv "$tmp" "$assets"
log "built in $(( $(date +%s) - start ))s: $assets"
echo "$assets"
