#!/usr/bin/env bash
# build-controlplane.sh builds kube-apiserver, kubectl and etcd from the Go modules pinned in
# hack/controlplane/go.mod and caches them under .cache/controlplane/<key>/, where <key> is a hash of the pin
# (go.mod and go.sum). A second run with the same pin does nothing. Prints the bin directory on stdout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/controlplane"
key=$(cat "$mod/go.mod" "$mod/go.sum" "$mod/etcd/main.go" | sha256sum | cut -c1-16)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$mod/go.mod")
k8s_version=${k8s_version:?k8s.io/kubernetes is not pinned in hack/controlplane/go.mod}
bin="$root/.cache/controlplane/$k8s_version-$key/bin"

if [[ -x "$bin/kube-apiserver" && -x "$bin/kubectl" && -x "$bin/etcd" ]]; then
	echo "$bin"
	exit 0
fi

major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
commit=0000000000000000000000000000000000000000
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
done

echo "building kube-apiserver, kubectl and etcd $k8s_version into $bin (a cold build takes several minutes)" >&2
tmp="$bin.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cd "$mod"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl
CGO_ENABLED=0 go build -trimpath -o "$tmp/etcd" ./etcd
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
echo "$bin"
