// Package images defines the product's three container images (egress-webhook, egress-sidecar, egress-init)
// and builds them without Docker from the static binaries: the same users, entrypoints and paths as
// build/Dockerfile (a test holds the two together), as OCI image tarballs (`make images`) or pushed to a
// registry. egress-init carries Debian's iptables: both back ends (nft and legacy), every xtables module,
// ip6tables, and the shared libraries they load. Same inputs (sources, Go toolchain, Debian packages),
// same digests.
package images

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"egress.io/egress/internal/ociimage"
)

// Spec is one product image.
type Spec struct {
	// Name is the image's name (the last path element of its reference) and the Dockerfile target.
	Name string
	// Package is the Go command the image runs; BinaryPath is where its binary is in the image.
	Package, BinaryPath string
	// User is the image's USER ("" for root).
	User string
	// Base is what the image holds besides the binary.
	Base Base
}

// Base is the content an image holds besides its binary.
type Base int

const (
	// Static is what a static Go binary needs, as distroless/static-debian12:nonroot has it: /etc/passwd and
	// /etc/group with root, nobody and nonroot (65532), /tmp, /home/nonroot and Debian's CA certificates.
	Static Base = iota
	// Iptables is Debian's iptables (xtables-nft-multi and xtables-legacy-multi with every command name,
	// every xtables module, their libraries and the dynamic loader), as `apt-get install iptables` on
	// debian:12-slim leaves it, with /run and /tmp for iptables' lock.
	Iptables
)

// Product is the product's images, in the order of build/Dockerfile.
var Product = []Spec{
	{Name: "egress-webhook", Package: "egress.io/egress/cmd/webhook", BinaryPath: "/egress-webhook", User: "65532:65532", Base: Static},
	{Name: "egress-sidecar", Package: "egress.io/egress/cmd/egress-sidecar", BinaryPath: "/egress-sidecar", User: "2555:2555", Base: Static},
	{Name: "egress-init", Package: "egress.io/egress/cmd/egress-init", BinaryPath: "/usr/local/bin/egress-init", Base: Iptables},
}

// Entrypoint is the image's ENTRYPOINT: its binary.
func (s Spec) Entrypoint() []string { return []string{s.BinaryPath} }

// Image builds the image from binary, the command built for it.
func (s Spec) Image(binary, version string) (v1.Image, error) {
	bin, err := ociimage.File(s.BinaryPath, binary)
	if err != nil {
		return nil, err
	}
	bin.Mode = 0o755
	base, err := s.Base.entries()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Name, err)
	}
	cfg := ociimage.Config{
		Entrypoint: s.Entrypoint(),
		User:       s.User,
		Labels: map[string]string{
			"org.opencontainers.image.title":   s.Name,
			"org.opencontainers.image.version": version,
		},
	}
	img, err := ociimage.NewImage(cfg,
		ociimage.Layer{Entries: base, CreatedBy: "egress images: " + s.Base.String()},
		ociimage.Layer{Entries: []ociimage.Entry{bin}, CreatedBy: "egress images: " + s.BinaryPath + " from " + s.Package},
	)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Name, err)
	}
	return img, nil
}

// String names the base for the image's history.
func (b Base) String() string {
	switch b {
	case Static:
		return "static base (passwd, group, tmp, CA certificates)"
	case Iptables:
		return "Debian iptables (nft and legacy), its modules and libraries"
	}
	return fmt.Sprintf("base %d", int(b))
}

func (b Base) entries() ([]ociimage.Entry, error) {
	switch b {
	case Static:
		return StaticBase()
	case Iptables:
		return IptablesBase()
	}
	return nil, fmt.Errorf("unknown base %d", int(b))
}
