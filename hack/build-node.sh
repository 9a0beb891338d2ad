#!/usr/bin/env bash
# build-node.sh builds what a real node runs besides the control plane, each from the Go module pinned under
# hack/node/, and caches each under .cache/node/<component>/<version>-<hash of its pin>/bin:
#   kubernetes  kubelet, kube-proxy, kube-controller-manager, kube-scheduler  (hack/node/kubernetes)
#   containerd  containerd, ctr, containerd-shim-runc-v2                     (hack/node/containerd)
#   coredns     coredns with the cluster-DNS plugins                          (hack/node/coredns)
# A component whose pin has not changed is not rebuilt. Then it gathers them, with the control plane's
# kube-apiserver, kubectl and etcd (hack/build-controlplane.sh), into one directory of symbolic links,
# .cache/node/assets-<hash>/, and prints that directory (EGRESS_NODE_ASSETS for the tests and the demo).
# runc and the CNI plugins are Debian's (hack/install-deps.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
controlplane=$(readlink -f "$("$root/hack/build-controlplane.sh")")
# Real paths: .cache may be a symbolic link shared between checkouts.
mkdir -p "$root/.cache"
cache="$(cd "$root/.cache" && pwd -P)/node"

# pin_key DIR: a hash of every file that decides what DIR builds.
pin_key() { cat "$1"/go.mod "$1"/go.sum "$1"/*.go | sha256sum | cut -c1-16; }
# pinned MODULE DIR: the version of MODULE that DIR's go.mod requires.
pinned() { awk -v m="$1" '$1 == m {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$2/go.mod"; }

# build COMPONENT VERSION BINARIES... -- COMMANDS: runs COMMANDS (which write into $tmp) unless the cache has
# every binary; prints the bin directory.
build() {
	local component=$1 version=$2; shift 2
	local names=()
	while [[ $1 != -- ]]; do names+=("$1"); shift; done
	shift
	local dir="$cache/$component/$version-$(pin_key "$root/hack/node/$component")/bin"
	local have=1
	for n in "${names[@]}"; do [[ -x "$dir/$n" ]] || have=0; done
	if ((have == 0)); then
		echo "building $component $version (${names[*]}) into $dir; a cold build takes minutes" >&2
		tmp="$dir.tmp.$$"
		rm -rf "$tmp"
		mkdir -p "$tmp"
		trap 'rm -rf "$tmp"' EXIT
		local start=$SECONDS
		(cd "$root/hack/node/$component" && "$@")
		rm -rf "$dir"
		mv "$tmp" "$dir"
		trap - EXIT
		echo "built $component in $((SECONDS - start))s" >&2
	fi
	echo "$dir"
}

k8s_version=$(pinned k8s.io/kubernetes "$root/hack/node/kubernetes")
major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	k8s_ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean"
	k8s_ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build_kubernetes() {
	for c in kubelet kube-proxy kube-controller-manager kube-scheduler; do
		CGO_ENABLED=0 go build -trimpath -ldflags "$k8s_ldflags" -o "$tmp/$c" "k8s.io/kubernetes/cmd/$c"
	done
}
kubernetes=$(build kubernetes "$k8s_version" kubelet kube-proxy kube-controller-manager kube-scheduler -- build_kubernetes)

containerd_version=$(pinned github.com/containerd/containerd/v2 "$root/hack/node/containerd")
containerd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version -X github.com/containerd/containerd/v2/version.Revision=gomod"
build_containerd() {
	# The tags leave out the snapshotters this node does not use (overlayfs is enough) and cgo.
	CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs" -ldflags "$containerd_ldflags" \
		-o "$tmp/containerd" github.com/containerd/containerd/v2/cmd/containerd
	CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs" -ldflags "$containerd_ldflags" \
		-o "$tmp/ctr" github.com/containerd/containerd/v2/cmd/ctr
	CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags "$containerd_ldflags" \
		-o "$tmp/containerd-shim-runc-v2" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
}
containerd=$(build containerd "$containerd_version" containerd ctr containerd-shim-runc-v2 -- build_containerd)

coredns_version=$(pinned github.com/coredns/coredns "$root/hack/node/coredns")
build_coredns() {
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$coredns_version" \
		-o "$tmp/coredns" .
}
coredns=$(build coredns "$coredns_version" coredns -- build_coredns)

# One directory with every binary, named by what it links to.
key=$(echo "$controlplane $kubernetes $containerd $coredns" | sha256sum | cut -c1-16)
assets="$cache/assets-$key"
if [[ ! -d "$assets" ]]; then
	tmp="$assets.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	for dir in "$controlplane" "$kubernetes" "$containerd" "$coredns"; do
		for bin in "$dir"/*; do ln -s "$bin" "$tmp/$(basename "$bin")"; done
	done
	printf 'kubernetes %s\ncontainerd %s\ncoredns %s\n' "$k8s_version" "$containerd_version" "$coredns_version" > "$tmp/VERSIONS"
	mv "$tmp" "$assets"
fi
echo "$assets"
