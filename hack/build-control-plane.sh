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
# Marks a kube-apiserver built with the reflect2 fix below; binaries without it are rebuilt.
stamp="$assets/.kube-apiserver-reflect2-1.0.2"
built() { [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ] && [ -f "$stamp" ]; }
if built; then echo "$assets"; exit 0; fi
# One build at a time: a second caller waits, then finds the binaries.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
if built; then echo "$assets"; exit 0; fi

log() { echo "build-control-plane: $*" >&2; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  log "need root for: $*  (run as root, or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd)"; exit 1; fi; }

need_pkgs=()
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need_pkgs+=(golang-go)
[ -x /usr/bin/etcd ] || need_pkgs+=(etcd-server)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
reflect2_src=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -f "$reflect2_src/go_above_118.go" ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
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
# Kubernetes 1.20 vendors reflect2 1.0.1, whose map iteration corrupts memory when built with
# Go >= 1.18 (json-iterator/go#612): the API server segfaults encoding custom resources.
# reflect2 1.0.2 (Debian's golang-github-modern-go-reflect2-dev) is the fix, same API.
log "vendoring reflect2 1.0.2"
rm -rf vendor/github.com/modern-go/reflect2
mkdir -p vendor/github.com/modern-go/reflect2
find "$reflect2_src" -maxdepth 1 \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
  -exec cp {} vendor/github.com/modern-go/reflect2/ \;
sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' go.mod vendor/modules.txt
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
touch "$stamp"
cd "$cache"; rm -rf "$work"
echo "$assets"
