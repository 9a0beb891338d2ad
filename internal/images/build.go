package images

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"egress.io/egress/internal/ociimage"
)

// DefaultRegistry names images that live only on this machine (imported into a node's containerd).
const DefaultRegistry = "localhost/egress"

// Options say what to build.
type Options struct {
	// Registry and Version make each image's reference: REGISTRY/NAME:VERSION.
	Registry, Version string
	// RepoRoot is the module's root directory (where go build runs).
	RepoRoot string
	// BinDir receives the static binaries.
	BinDir string
}

// Built is one built image.
type Built struct {
	Spec  Spec
	Ref   name.Tag
	Image v1.Image
}

// Digest returns the image's manifest digest.
func (b Built) Digest() (string, error) {
	d, err := b.Image.Digest()
	return d.String(), err
}

// Build compiles the three commands as static binaries (CGO off, -trimpath, no VCS stamp, the version in
// main.version) in one `go build` and builds the product's images from them.
func Build(opts Options) ([]Built, error) {
	if opts.Registry == "" {
		opts.Registry = DefaultRegistry
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if err := BuildBinaries(opts.RepoRoot, opts.BinDir, opts.Version); err != nil {
		return nil, err
	}
	var out []Built
	for _, spec := range Product {
		ref, err := ociimage.ParseRef(strings.TrimSuffix(opts.Registry, "/") + "/" + spec.Name + ":" + opts.Version)
		if err != nil {
			return nil, fmt.Errorf("REGISTRY %q, VERSION %q: %w", opts.Registry, opts.Version, err)
		}
		img, err := spec.Image(filepath.Join(opts.BinDir, path.Base(spec.Package)), opts.Version)
		if err != nil {
			return nil, err
		}
		out = append(out, Built{Spec: spec, Ref: ref, Image: img})
	}
	return out, nil
}

// BuildBinaries compiles the product's commands into binDir as reproducible static binaries.
func BuildBinaries(repoRoot, binDir, version string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("building binaries: %w", err)
	}
	var pkgs []string
	for _, spec := range Product {
		pkgs = append(pkgs, spec.Package)
	}
	cmd := GoBuild(binDir, version, pkgs...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

// GoBuild is the `go build` of pkgs into binDir exactly as the images' binaries are built (static, CGO off,
// -trimpath, no VCS stamp, stripped, version in main.version), so that what is measured elsewhere (make
// bench) is the binary that ships.
func GoBuild(binDir, version string, pkgs ...string) *exec.Cmd {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X main.version=" + version, "-o", binDir + "/"}
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	return cmd
}

// WriteArchives writes each image as an OCI image tarball dir/NAME.tar and returns the paths.
func WriteArchives(dir string, built []Built) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, b := range built {
		p := filepath.Join(dir, b.Spec.Name+".tar")
		if err := ociimage.WriteArchive(p, ociimage.Named{Ref: b.Ref, Image: b.Image}); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// Push uploads each image to its reference's registry (anonymously, or with the credentials of
// ~/.docker/config.json).
func Push(built []Built, options ...remote.Option) error {
	for _, b := range built {
		if err := remote.Write(b.Ref, b.Image, options...); err != nil {
			return fmt.Errorf("pushing %s: %w", b.Ref, err)
		}
	}
	return nil
}
