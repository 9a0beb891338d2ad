package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Named is an image and the reference it is known by (e.g. localhost/egress/egress-init:dev).
type Named struct {
	Ref   name.Tag
	Image v1.Image
}

// ParseRef parses a tagged reference such as registry.example.com/egress/egress-init:v0.1.0.
func ParseRef(ref string) (name.Tag, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	return tag, nil
}

// WriteArchive writes images as one OCI image-layout tarball at path: oci-layout, index.json (one manifest
// per image, named by the io.containerd.image.name and org.opencontainers.image.ref.name annotations) and
// blobs/sha256/. The tarball is reproducible: same images, same bytes.
func WriteArchive(path string, images ...Named) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp)
	if err := writeArchive(f, images); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

type descriptor struct {
	MediaType   types.MediaType   `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func writeArchive(w io.Writer, images []Named) error {
	tw := tar.NewWriter(w)
	written := map[string]bool{}
	writeFile := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	writeBlob := func(digest v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
		name := filepath.Join("blobs", digest.Algorithm, digest.Hex)
		if written[name] {
			return nil
		}
		written[name] = true
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		n, err := io.Copy(tw, rc)
		if err == nil && n != size {
			err = fmt.Errorf("blob %s: %d bytes, want %d", digest, n, size)
		}
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	var index struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}
	index.SchemaVersion, index.MediaType = 2, string(types.OCIImageIndex)
	for _, named := range images {
		img := named.Image
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			digest, err := l.Digest()
			if err != nil {
				return err
			}
			size, err := l.Size()
			if err != nil {
				return err
			}
			if err := writeBlob(digest, size, l.Compressed); err != nil {
				return err
			}
		}
		cfgName, err := img.ConfigName()
		if err != nil {
			return err
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		if err := writeBlob(cfgName, int64(len(cfg)), bytesOpener(cfg)); err != nil {
			return err
		}
		manifest, err := img.RawManifest()
		if err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		if err := writeBlob(digest, int64(len(manifest)), bytesOpener(manifest)); err != nil {
			return err
		}
		mt, err := img.MediaType()
		if err != nil {
			return err
		}
		index.Manifests = append(index.Manifests, descriptor{
			MediaType: mt, Digest: digest.String(), Size: int64(len(manifest)),
			Annotations: map[string]string{
				"io.containerd.image.name":          named.Ref.Name(),
				"org.opencontainers.image.ref.name": named.Ref.TagStr(),
			},
		})
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := writeFile("index.json", indexJSON); err != nil {
		return err
	}
	if err := writeFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return tw.Close()
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
