#!/usr/bin/env bash
# Prepare kube-apiserver + etcd for the local test clusters (envtest convention).
# Prints the folder that holds both binaries. Honours KUBEBUILDER_ASSETS when set;
# otherwise builds Kubernetes 1.20.2 from Debian bookworm's source package into a cache
# outside the repo (GLOOMESH_CACHE, default ~/.cache/gloomesh), once.
set -euo pipefail

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in kube-apiserver etcd; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi

cache="${GLOOMESH_CACHE:-$HOME/.cache/gloomesh}"
assets="$cache/assets"
if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ]; then
  echo "$assets"; exit 0
fi

log() { echo "build-control-plane: $*" >&2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  log "need root for: $*  (run as root, or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd)"; exit 1; fi; }

need_pkgs=()
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need_pkgs+=(golang-go)
[ -x /usr/bin/etcd ] || need_pkgs+=(etcd-server)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
src_list=/etc/apt/sources.list.d/gloomesh-bookworm-src.sources
if [ ! -f "$src_list" ]; then
  log "adding a deb-src entry for bookworm main"
  sudo_if tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi
if [ ${#need_pkgs[@]} -gt 0 ] || [ -n "${need_update:-}" ]; then
  log "apt-get install ${need_pkgs[*]:-(source list only)}"
  sudo_if env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  [ ${#need_pkgs[@]} -eq 0 ] || sudo_if env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

work="$cache/src"
rm -rf "$work"; mkdir -p "$work" "$assets"
cd "$work"
log "apt-get source kubernetes (Debian bookworm: Kubernetes 1.20.2 with vendor/)"
apt-get source --download-only kubernetes >&2
dpkg-source --no-check -x kubernetes_*.dsc tree >&2
cd tree
export GOPATH="$PWD/.go" GOFLAGS=-mod=vendor GO111MODULE=on GOCACHE="$cache/gocache"
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
export PATH="$PATH:/usr/lib/go/bin"
start=$(date +%s)
log "make WHAT=cmd/kube-apiserver"
make WHAT=cmd/kube-apiserver >&2
log "built in $(( $(date +%s) - start ))s"
install -m 0755 _output/bin/kube-apiserver "$assets/kube-apiserver.tmp"
mv "$assets/kube-apiserver.tmp" "$assets/kube-apiserver"
ln -sfn /usr/bin/etcd "$assets/etcd"
cd "$cache"; rm -rf "$work"
echo "$assets"
