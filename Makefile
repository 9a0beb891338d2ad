# Everything a developer or CI runs. `make test` is the whole suite; `make demo` shows the product.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
# FUZZTIME is a count of inputs, not a duration: Go 1.26's fuzz coordinator can fail a duration-bounded
# run with a bare "context deadline exceeded" when a worker is busy at the deadline (go.dev/issue/75804,
# fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 100000x
TEST_TIMEOUT ?= 30m
GO_TEST_FLAGS ?=
VERSION ?= dev
REGISTRY ?=

.PHONY: all build images test unit deps controlplane node cluster-up cluster-down generate verify-generated lint fuzz bench bench-micro demo require-root clean

all: build

## build: the three binaries into bin/
build:
	go build -o $(BIN)/ ./cmd/...

## images: the webhook, egress-sidecar and egress-init images as OCI tarballs in bin/images, built without
## Docker (VERSION=tag, default dev); with REGISTRY=host[:port]/path they are also pushed there
images:
	go run ./hack/images -out $(BIN)/images -version $(VERSION) $(if $(REGISTRY),-registry $(REGISTRY) -push)

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

## generate: deepcopy and the CRD from api/ (controller-gen pinned in hack/tools/go.mod)
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd:maxDescLen=400 paths=./api/... output:crd:artifacts:config=manifests/crd

## verify-generated: fail when a generated file differs from what `make generate` writes
verify-generated: $(CONTROLLER_GEN)
	hack/verify-generated.sh

STATICCHECK := $(BIN)/staticcheck

$(STATICCHECK): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

## lint: gofmt over every Go file, go vet and staticcheck (pinned in hack/tools/go.mod) over the main module
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [[ -n "$$out" ]]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...

## deps: Debian packages the tests use (apt-get, only what is missing)
deps:
	hack/install-deps.sh

## controlplane: kube-apiserver, kubectl and etcd built from their Go modules, cached in .cache/
controlplane:
	hack/build-controlplane.sh >/dev/null

## node: kubelet, kube-proxy, kube-controller-manager, kube-scheduler, containerd and CoreDNS built from their
## Go modules (hack/node), cached in .cache/node/
node: controlplane
	hack/build-node.sh >/dev/null

## cluster-up: a real single-node cluster with the product installed, left running (root); see its output
cluster-up: require-root deps node
	go build -o $(BIN)/egress-cluster ./hack/cluster
	EGRESS_NODE_ASSETS=$$(hack/build-node.sh) $(BIN)/egress-cluster up

## cluster-down: stops the cluster-up cluster and removes everything it made
cluster-down: require-root
	go build -o $(BIN)/egress-cluster ./hack/cluster
	$(BIN)/egress-cluster down

## unit: the tests that need neither root nor a control plane
unit:
	go test -count=1 -short ./...

## test: the whole suite, installing what it needs first
test: deps lint verify-generated controlplane node
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) EGRESS_NODE_ASSETS=$$(hack/build-node.sh) go test -count=1 -timeout $(TEST_TIMEOUT) $(GO_TEST_FLAGS) ./...
	$(MAKE) fuzz
	@echo "make test: all passed"

## fuzz: every fuzz target for FUZZTIME inputs each (seed corpus in testdata/fuzz)
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseTarget$$' -fuzztime $(FUZZTIME) ./pkg/policy
	go test -run '^$$' -fuzz '^FuzzLoadRuleSets$$' -fuzztime $(FUZZTIME) ./pkg/policy
	go test -run '^$$' -fuzz '^FuzzRoutePath$$' -fuzztime $(FUZZTIME) ./pkg/policy
	go test -run '^$$' -fuzz '^FuzzClassify$$' -fuzztime $(FUZZTIME) ./pkg/sidecar/sniff
	go test -run '^$$' -fuzz '^FuzzServeDNS$$' -fuzztime $(FUZZTIME) ./pkg/sidecar/dnsproxy

## bench: the side-by-side benchmark suite against nginx and haproxy, and an egress gateway's extra hop
## against the sidecar alone (a control plane for its TokenReview) (root; BENCH_QUICK=1 for a ~2-minute
## smoke run); results in .cache/bench/ and docs/benchmarks.md
bench: require-root controlplane
	hack/bench/install-deps.sh
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) go run ./hack/bench/cmd/benchrun

## bench-scale: the policy service against 100 ... 10,000 simulated sidecars (each a real client with its own
## connection and token) and the direct watch it replaces, on a real API server (about 6 minutes on 2 cores;
## BENCH_QUICK=1: about 2); results in .cache/bench/scale-* and docs/benchmarks.md ("Scale")
.PHONY: bench-scale
bench-scale: controlplane
	KUBEBUILDER_ASSETS=$$(hack/build-controlplane.sh) go run ./hack/bench/cmd/benchscale

## bench-micro: the Go benchmarks (policy decisions, compile)
bench-micro:
	go test -run '^$$' -bench . -benchmem ./pkg/policy

## demo: the product end to end on an embedded default (root; builds what it needs on first run)
demo: require-root deps node
	EGRESS_NODE_ASSETS=$$(hack/build-node.sh) go run ./hack/demo

require-root:
	@if [[ $$(id -u) != 0 ]]; then echo "make $(MAKECMDGOALS): needs root (network namespaces, iptables, apt-get); run it as root" >&2; exit 1; fi

clean:
	rm -rf $(BIN) .cache
