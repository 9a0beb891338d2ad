// Command images builds the product's images without Docker (`make images`): the webhook, egress-sidecar and
// egress-init as OCI image tarballs in -out, named REGISTRY/NAME:VERSION, and pushes them to REGISTRY when
// -push is given (credentials from ~/.docker/config.json, if any). See internal/images.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"egress.io/egress/internal/images"
)

func main() {
	registry := flag.String("registry", images.DefaultRegistry, "registry and path the images are named under (REGISTRY)")
	version := flag.String("version", "dev", "image tag and the version the binaries report (VERSION)")
	out := flag.String("out", "bin/images", "directory for the OCI image tarballs")
	push := flag.Bool("push", false, "push the images to -registry")
	flag.Parse()
	if err := run(*registry, *version, *out, *push); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(registry, version, out string, push bool) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	built, err := images.Build(images.Options{
		Registry: registry, Version: version, RepoRoot: root, BinDir: filepath.Join(out, "bin"),
	})
	if err != nil {
		return err
	}
	paths, err := images.WriteArchives(out, built)
	if err != nil {
		return err
	}
	for i, b := range built {
		digest, err := b.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s@%s  %s\n", b.Ref, digest, paths[i])
	}
	if push {
		if err := images.Push(built, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return err
		}
		fmt.Printf("pushed to %s\n", registry)
	}
	return nil
}
